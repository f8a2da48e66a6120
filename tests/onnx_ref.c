/* evonet's own answer for the ONNX export test (tests/test_export.sh): a network's
 * probabilities on inputs that the test also feeds to OpenCV's dnn module.
 *   onnx_ref WEIGHTS SIZE OUT random N SEED     uniform [-2, 2] inputs
 *   onnx_ref WEIGHTS SIZE OUT data DIR SPLIT N  the split's first N images, as evonet loads them
 * Writes OUT.input.f32 (N, C, S, S) (C: the network's input channels) and OUT.prob.f32: the
 * class-1 probability (N, S, S) of a saliency network, the softmax over the classes (N, classes)
 * of a classification network; both raw little-endian float32. Runs on the default device, inference as `evonet eval`
 * does it (batch norm folded, sparse layers where they pay). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/data.h"
#include "evonet/gpu.h"
#include "evonet/model.h"
#include "evonet/weights.h"

static int die(void) {
  fprintf(stderr, "onnx_ref: %s\n", ev_last_error());
  return 1;
}

static int write_f32(const char *prefix, const char *what, const float *v, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s.%s.f32", prefix, what);
  FILE *f = fopen(path, "wb");
  int ok = f && fwrite(v, 4, n, f) == n;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok) fprintf(stderr, "onnx_ref: cannot write %s\n", path);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc < 7 || (strcmp(argv[4], "random") && (strcmp(argv[4], "data") || argc < 8))) {
    fprintf(stderr, "usage: onnx_ref WEIGHTS SIZE OUT random N SEED | data DIR SPLIT N\n");
    return 2;
  }
  int S = atoi(argv[2]), random = !strcmp(argv[4], "random"), N = atoi(argv[random ? 5 : 7]);
  size_t pix = (size_t)S * S;
  ev_net_weights w;
  if (ev_weights_load(argv[1], NULL, &w, NULL) != EV_OK || ev_net_infer(&w.spec, S, S) != EV_OK) return die();
  const int C = w.spec.in_channels, K = w.spec.classes, classify = w.spec.task == EV_TASK_CLASSIFY;
  size_t per = classify ? (size_t)K : pix; /* probabilities per image */
  float *x4 = calloc((size_t)N * pix * 4, 4), *x3 = malloc((size_t)N * pix * C * 4), *prob = malloc((size_t)N * per * 4);
  float *lg = malloc((size_t)N * ev_c4(K) * 4);
  if (!x4 || !x3 || !prob || !lg || N < 1 || S < 8 || C > 4) return fprintf(stderr, "onnx_ref: bad sizes\n"), 1;
  if (random) {
    uint64_t z = strtoull(argv[6], NULL, 10) * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < (size_t)N * pix; i++)
      for (int c = 0; c < C; c++) {
        z ^= z << 13, z ^= z >> 7, z ^= z << 17;
        x4[i * 4 + c] = -2.0f + 4.0f * (float)((z >> 11) * (1.0 / 9007199254740992.0));
      }
  } else {
    ev_dataset ds;
    ev_batch b;
    ev_loader_options lo = {.batch = N, .size = S};
    if (ev_dataset_open(argv[5], argv[6], EV_LAYOUT_AUTO, &ds) != EV_OK) return die();
    if (ev_batch_alloc(&b, N, S) != EV_OK || ev_batch_load(&ds, &lo, 0, 0, &b) != EV_OK) return die();
    memcpy(x4, b.images, (size_t)N * pix * 16);
    ev_batch_free(&b);
    ev_dataset_free(&ds);
  }
  for (int n = 0; n < N; n++) /* NHWC-4 -> NCHW-C */
    for (int c = 0; c < C; c++)
      for (size_t p = 0; p < pix; p++) x3[((size_t)n * C + c) * pix + p] = x4[((size_t)n * pix + p) * 4 + c];
  ev_gpu *g;
  ev_model *m;
  if (ev_gpu_open(&(ev_gpu_options){0}, &g) != EV_OK) return die();
  if (ev_model_create(g, &w.spec, N, S, S, false, &m) != EV_OK || ev_model_upload(m, &w) != EV_OK) return die();
  if ((classify ? ev_model_feed_labels(m, x4, NULL, N) : ev_model_feed(m, x4, NULL, N)) != EV_OK) return die();
  ev_stream *s;
  if (ev_stream_begin(g, &s) != EV_OK || ev_model_forward(m, s, false) != EV_OK || ev_model_predict(m, s) != EV_OK ||
      ev_stream_submit(s) != EV_OK)
    return die();
  if (classify) { /* softmax of the logits, in double */
    if (ev_buf_download(g, &ev_model_logits(m)->buf, 0, lg, (uint64_t)N * ev_c4(K) * 4) != EV_OK) return die();
    for (int n = 0; n < N; n++) {
      const float *z = lg + (size_t)n * ev_c4(K);
      double mx = z[0], sum = 0;
      for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
      for (int k = 0; k < K; k++) sum += exp(z[k] - mx);
      for (int k = 0; k < K; k++) prob[(size_t)n * K + k] = (float)(exp(z[k] - mx) / sum);
    }
  } else if (ev_buf_download(g, ev_model_prob(m), 0, prob, (uint64_t)N * pix * 4) != EV_OK) return die();
  int rc = write_f32(argv[3], "input", x3, (size_t)N * pix * C) | write_f32(argv[3], "prob", prob, (size_t)N * per);
  ev_model_destroy(m);
  ev_gpu_close(g);
  ev_weights_free(&w);
  free(x4), free(x3), free(prob), free(lg);
  return rc;
}
