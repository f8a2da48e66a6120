/* `evonet eval`: metrics, size and speed of a saved network on a dataset split. */
#include <getopt.h>
#include <stdio.h>

#include <cJSON.h>
#include <stdlib.h>

#include "cli.h"
#include "evonet/train.h"

/* Classification: accuracy, per-class accuracy and (optionally) the confusion matrix PNG. */
static ev_status print_classes(const ev_eval_result *r, const ev_dataset *ds, const char *weights, const char *split,
                               int json, const char *confusion, const char *device, int size) {
  const char *const *names = (const char *const *)ds->cls->class_names;
  if (json) {
    cJSON *o = ev_class_metrics_json(&r->cls, names);
    if (!o) return ev_fail(EV_ERR_OOM, "out of memory");
    cJSON_AddStringToObject(o, "weights", weights);
    cJSON_AddStringToObject(o, "split", split);
    cJSON_AddNumberToObject(o, "synapses", (double)r->synapses);
    cJSON_AddNumberToObject(o, "params", (double)r->params);
    cJSON_AddNumberToObject(o, "flops", (double)r->flops);
    cJSON_AddNumberToObject(o, "infer_ms_per_image", r->infer_ms_per_image);
    cJSON_AddStringToObject(o, "device", device);
    cJSON_AddNumberToObject(o, "size", size);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!txt) return ev_fail(EV_ERR_OOM, "out of memory");
    printf("%s\n", txt);
    free(txt);
  } else {
    printf("%s on %s (%zu images, %dx%d)\n", weights, split, r->m.n_images, size, size);
    printf("  top-1        %.2f %%\n  top-5        %.2f %%\n  loss         %.4f\n  mean class   %.2f %%\n",
           100 * r->m.top1, 100 * r->m.top5, r->m.loss, 100 * r->m.mean_class_acc);
    for (int c = 0; c < r->cls.classes; c++)
      printf("    %-14s %6.2f %%\n", names ? names[c] : "?", 100 * ev_class_metrics_class_acc(&r->cls, c));
    printf("  synapses     %llu\n  parameters   %llu\n  FLOPs/image  %.4f G\n  inference    %.4f ms/image on %s\n",
           (unsigned long long)r->synapses, (unsigned long long)r->params, r->flops / 1e9, r->infer_ms_per_image,
           device);
  }
  if (!confusion) return EV_OK;
  char title[160];
  snprintf(title, sizeof title, "%s: top-1 %.2f %%", split, 100 * r->m.top1);
  return ev_class_confusion_png(confusion, &r->cls, names, title);
}

int cmd_eval(int argc, char **argv) {
  static const struct option opts[] = {{"weights", 1, 0, 'w'}, {"data", 1, 0, 'd'},  {"layout", 1, 0, 'l'},
                                       {"split", 1, 0, 'p'},   {"size", 1, 0, 's'},  {"batch", 1, 0, 'b'},
                                       {"json", 0, 0, 'j'},    {"device", 1, 0, 'D'}, {"help", 0, 0, 'h'},
                                       {"arch", 1, 0, 'a'},    {"confusion", 1, 0, 'c'},
                                       {0, 0, 0, 0}};
  const char *weights = NULL, *data = NULL, *layout_name = "auto", *split = "test", *device = NULL;
  const char *arch = NULL, *confusion = NULL;
  int size = 0, batch = 8, json = 0, c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': weights = optarg; break;
    case 'd': data = optarg; break;
    case 'l': layout_name = optarg; break;
    case 'p': split = optarg; break;
    case 's':
      if (cli_parse_int("eval", "--size", optarg, 8, 4096, &size)) return 2;
      break;
    case 'a': arch = optarg; break;
    case 'c': confusion = optarg; break;
    case 'b': if (cli_parse_int("eval", "--batch", optarg, 1, 4096, &batch)) return 2; break;
    case 'j': json = 1; break;
    case 'D': device = optarg; break;
    case 'h':
      printf("usage: evonet eval --weights FILE [--arch SPEC] [--data DIR] [--layout NAME] [--split test]\n"
             "                   [--size S] [--batch 8] [--json] [--confusion PNG] [--device N|NAME]\n\n"
             "Evaluates a network file (any generation's) on a dataset split: saliency networks MAE,\n"
             "adaptive, max and mean F-beta (beta^2 = 0.3); classification networks top-1, top-5, loss,\n"
             "per-class accuracy (--confusion: the confusion matrix as a PNG); synapses, parameters,\n"
             "FLOPs per image and inference time. --size: default the network's own input size, else 128.\n"
             "--arch: the file must hold that architecture (an offspring's compacted channels differ).\n");
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
  ev_net_spec expect = {0};
  if (arch && cli_load_arch(arch, &expect, NULL, 0) != EV_OK) return cli_error();
  ev_status ls = ev_weights_load(weights, arch ? &expect : NULL, &w, NULL);
  ev_net_free(&expect);
  if (ls != EV_OK) return cli_error();
  int rc0 = cli_settle_size("eval", &w.spec, &size);
  if (rc0) {
    ev_weights_free(&w);
    return rc0;
  }
  ev_dataset ds = {0};
  ev_gpu *g = NULL;
  ev_eval_result r;
  ev_status s = ev_dataset_open(data, split, layout, &ds);
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) s = ev_evaluate(g, &w, &ds, size, batch, &r);
  int rc = 0;
  if (s == EV_OK && r.m.classify) {
    s = print_classes(&r, &ds, weights, split, json, confusion, ev_gpu_caps(g)->name, size);
    rc = s == EV_OK ? 0 : cli_error();
  } else if (s == EV_OK && confusion) {
    rc = cli_usage_error("eval", "--confusion needs a classification network");
  } else if (s != EV_OK) rc = cli_error();
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
  if (s == EV_OK) ev_eval_result_free(&r);
  ev_dataset_free(&ds);
  ev_weights_free(&w);
  ev_gpu_close(g);
  return rc;
}
