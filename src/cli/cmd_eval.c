/* `evonet eval`: metrics, size and speed of a saved network on a dataset split. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "evonet/train.h"

int cmd_eval(int argc, char **argv) {
  static const struct option opts[] = {{"weights", 1, 0, 'w'}, {"data", 1, 0, 'd'},  {"layout", 1, 0, 'l'},
                                       {"split", 1, 0, 'p'},   {"size", 1, 0, 's'},  {"batch", 1, 0, 'b'},
                                       {"json", 0, 0, 'j'},    {"device", 1, 0, 'D'}, {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *weights = NULL, *data = NULL, *layout_name = "auto", *split = "test", *device = NULL;
  int size = 128, batch = 8, json = 0, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': weights = optarg; break;
    case 'd': data = optarg; break;
    case 'l': layout_name = optarg; break;
    case 'p': split = optarg; break;
    case 's':
      if (cli_parse_int("eval", "--size", optarg, 16, 4096, &size)) return 2;
      if (size % 16) return cli_usage_error("eval", "--size must be a multiple of 16, got %d", size);
      break;
    case 'b': if (cli_parse_int("eval", "--batch", optarg, 1, 4096, &batch)) return 2; break;
    case 'j': json = 1; break;
    case 'D': device = optarg; break;
    case 'h':
      printf("usage: evonet eval --weights FILE [--data DIR] [--layout NAME] [--split test] [--size 128]\n"
             "                   [--batch 8] [--json] [--device N|NAME]\n\n"
             "Evaluates a network file (any generation's) on a dataset split: MAE, adaptive, max and\n"
             "mean F-beta (beta^2 = 0.3), synapses, parameters, FLOPs per image and inference time.\n");
      return 0;
    default: return cli_usage_error("eval", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (optind < argc) return cli_usage_error("eval", "unexpected argument '%s'", argv[optind]);
  if (!weights) return cli_usage_error("eval", "--weights FILE is required");
  ev_layout layout;
  if (ev_layout_from_name(layout_name, &layout) != EV_OK) return cli_usage_error("eval", "%s", ev_last_error());
  if (!data) data = cli_default_data();
  ev_net_weights w;
  if (ev_weights_load(weights, NULL, &w, NULL) != EV_OK) return cli_error();
  ev_dataset ds = {0};
  ev_gpu *g = NULL;
  ev_eval_result r;
  ev_status s = ev_dataset_open(data, split, layout, &ds);
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) s = ev_evaluate(g, &w, &ds, size, batch, &r);
  int rc = 0;
  if (s != EV_OK) rc = cli_error();
  else if (json) {
    printf("{\"weights\": \"%s\", \"split\": \"%s\", \"images\": %zu, \"mae\": %.6f, \"adaptive_f\": %.6f, "
           "\"max_f\": %.6f, \"mean_f\": %.6f, \"synapses\": %llu, \"params\": %llu, \"flops\": %llu, "
           "\"infer_ms_per_image\": %.4f, \"device\": \"%s\", \"size\": %d}\n",
           weights, split, r.m.n_images, r.m.mae, r.m.adaptive_f, r.m.max_f, r.m.mean_f,
           (unsigned long long)r.synapses, (unsigned long long)r.params, (unsigned long long)r.flops,
           r.infer_ms_per_image, ev_gpu_caps(g)->name, size);
  } else {
    printf("%s on %s/%s (%zu images, %dx%d)\n", weights, data, split, r.m.n_images, size, size);
    printf("  MAE          %.4f\n  adaptive F   %.4f\n  max F        %.4f\n  mean F       %.4f\n", r.m.mae,
           r.m.adaptive_f, r.m.max_f, r.m.mean_f);
    printf("  synapses     %llu\n  parameters   %llu\n  FLOPs/image  %.3f G\n  inference    %.3f ms/image on %s\n",
           (unsigned long long)r.synapses, (unsigned long long)r.params, r.flops / 1e9, r.infer_ms_per_image,
           ev_gpu_caps(g)->name);
  }
  ev_dataset_free(&ds);
  ev_weights_free(&w);
  ev_gpu_close(g);
  return rc;
}
