/* `evonet bench train`: training and inference images/s of a network on the device
 * (random data, no loading; median over timed steps after warm-up). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "evonet/model.h"
#include "evonet/train.h"

static ev_status timed_steps(ev_model *m, bool train, int steps, double *img_s) {
  ev_gpu *g = ev_model_gpu(m);
  double *t = malloc((size_t)steps * sizeof *t);
  if (!t) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_status s = EV_OK;
  ev_step_params sp = {.optimizer = 1, .lr = 1e-4f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
  for (int k = -2; k < steps && s == EV_OK; k++) { /* two warm-up steps: pipeline creation, caches */
    ev_stream *st;
    double t0 = ev_now();
    s = ev_stream_begin(g, &st);
    if (s == EV_OK) s = ev_model_forward(m, st, train);
    if (s == EV_OK) s = train ? ev_model_loss(m, st, 1.0f) : ev_model_predict(m, st);
    if (s == EV_OK && train) s = ev_model_backward(m, st);
    sp.step = k + 3;
    if (s == EV_OK && train) s = ev_model_step(m, st, &sp);
    if (s == EV_OK) s = ev_stream_submit(st);
    else ev_stream_abort(st);
    if (k >= 0) t[k] = ev_model_batch(m) / (ev_now() - t0);
  }
  *img_s = ev_median(t, steps);
  free(t);
  return s;
}

int cli_bench_train(int argc, char **argv) {
  static const struct option opts[] = {{"width", 1, 0, 'w'}, {"bn", 0, 0, 'b'},     {"weights", 1, 0, 'W'}, {"arch", 1, 0, 'a'},
                                       {"size", 1, 0, 's'},  {"batch", 1, 0, 'B'},  {"steps", 1, 0, 'n'},
                                       {"json", 0, 0, 'j'},  {"device", 1, 0, 'D'}, {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
  double width = 0.125;
  int bn = 0, size = 0, batch = 8, steps = 10, json = 0, c;
  const char *weights = NULL, *device = NULL, *arch = NULL;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'w': if (cli_parse_float("bench train", "--width", optarg, 1e-3, 4, &width)) return 2; break;
    case 'b': bn = 1; break;
    case 'W': weights = optarg; break;
    case 's':
      if (cli_parse_int("bench train", "--size", optarg, 8, 4096, &size)) return 2;
      break;
    case 'a': arch = optarg; break;
    case 'B': if (cli_parse_int("bench train", "--batch", optarg, 1, 4096, &batch)) return 2; break;
    case 'n': if (cli_parse_int("bench train", "--steps", optarg, 1, 100000, &steps)) return 2; break;
    case 'j': json = 1; break;
    case 'D': device = optarg; break;
    case 'h':
      printf("usage: evonet bench train [--width 0.125] [--bn] [--arch SPEC | --weights FILE] [--size S]\n"
             "                          [--batch 8] [--steps 10] [--json] [--device N|NAME]\n\n"
             "Median training (forward, loss, backward, Adam step) and inference images/s of the\n"
             "saliency network (or a network description, or a saved network) on random data.\n");
      return 0;
    default: return cli_usage_error("bench train", "unknown option '%s'", cli_bad_option(argc, argv));
    }
  }
  if (weights && arch) return cli_usage_error("bench train", "give --weights or --arch, not both");
  ev_net_weights w = {0};
  int made = cli_make_network("bench train", arch, weights, width, bn, &size, 1, &w, NULL, 0);
  if (made) return made == 2 ? 2 : cli_error();
  ev_status s = ev_net_infer(&w.spec, size, size);
  ev_gpu *g = NULL;
  ev_model *mt = NULL, *mi = NULL;
  double train_ips = 0, infer_ips = 0;
  if (s == EV_OK) s = cli_open_gpu(device, &g);
  if (s == EV_OK) s = ev_model_create(g, &w.spec, batch, size, size, true, &mt);
  if (s == EV_OK) s = ev_model_upload(mt, &w);
  if (s == EV_OK) s = ev_model_opt_zero(mt);
  if (s == EV_OK) s = ev_fill_random_input(mt, 7);
  if (s == EV_OK) s = timed_steps(mt, true, steps, &train_ips);
  ev_model_destroy(mt);
  if (s == EV_OK) s = ev_model_create(g, &w.spec, batch, size, size, false, &mi);
  if (s == EV_OK) s = ev_model_upload(mi, &w);
  if (s == EV_OK) s = ev_fill_random_input(mi, 7);
  if (s == EV_OK) s = timed_steps(mi, false, steps, &infer_ips);
  ev_model_destroy(mi);
  int rc = 0;
  if (s != EV_OK) rc = cli_error();
  else if (json)
    printf("{\"device\": \"%s\", \"synapses\": %llu, \"size\": %d, \"batch\": %d, \"train_img_s\": %.3f, \"infer_img_s\": %.3f}\n",
           ev_gpu_caps(g)->name, (unsigned long long)ev_weights_live_synapses(&w), size, batch, train_ips, infer_ips);
  else
    printf("%s: %llu synapses at %dx%d, batch %d: training %.2f img/s, inference %.2f img/s (median of %d steps)\n",
           ev_gpu_caps(g)->name, (unsigned long long)ev_weights_live_synapses(&w), size, size, batch, train_ips,
           infer_ips, steps);
  ev_weights_free(&w);
  ev_gpu_close(g);
  return rc;
}
