/* Evaluation: metrics of a network on a dataset, and timed inference. */
#include <stdlib.h>
#include <string.h>

#include "evonet/model.h"
#include "evonet/train.h"
#include "train_internal.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double ev_median(double *v, int n) {
  if (n <= 0) return 0;
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

ev_status ev_eval_with_model(ev_model *m, const ev_dataset *ds, int size, ev_metrics *acc) {
  int N = ev_model_batch(m);
  ev_loader_options lo = {.batch = N, .size = size, .augment = 0, .shuffle = 0, .drop_last = 0, .seed = 1};
  ev_batch b;
  EV_TRY(ev_batch_alloc(&b, N, size));
  uint64_t pix = (uint64_t)size * size;
  float *prob = malloc((size_t)(N * pix) * sizeof *prob);
  ev_status s = prob ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  size_t steps = ev_batches_per_epoch(ds, &lo);
  for (size_t k = 0; k < steps && s == EV_OK; k++) {
    s = ev_batch_load(ds, &lo, 0, k, &b);
    if (s == EV_OK) s = ev_model_feed(m, b.images, b.masks, b.n);
    ev_stream *st = NULL;
    if (s == EV_OK) s = ev_stream_begin(ev_model_gpu(m), &st);
    if (s == EV_OK) s = ev_model_forward(m, st, false);
    if (s == EV_OK) s = ev_model_predict(m, st);
    if (s == EV_OK) s = ev_stream_submit(st);
    else if (st) ev_stream_abort(st);
    if (s == EV_OK) s = ev_buf_download(ev_model_gpu(m), ev_model_prob(m), 0, prob, (uint64_t)b.n * pix * 4);
    for (int i = 0; s == EV_OK && i < b.n; i++) ev_metrics_add_image(acc, prob + i * pix, b.masks + i * pix, pix);
  }
  free(prob);
  ev_batch_free(&b);
  return s;
}

ev_status ev_time_forward(ev_model *m, int reps, double *ms_per_image) {
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_status s = EV_OK;
  for (int r = -1; r < reps && s == EV_OK; r++) { /* r = -1: warm-up (pipeline creation) */
    ev_stream *st;
    s = ev_stream_begin(ev_model_gpu(m), &st);
    double t0 = ev_now();
    if (s == EV_OK) s = ev_model_forward(m, st, false);
    if (s == EV_OK) s = ev_model_predict(m, st);
    if (s == EV_OK) s = ev_stream_submit(st);
    else ev_stream_abort(st);
    if (r >= 0) t[r] = (ev_now() - t0) * 1e3 / ev_model_batch(m);
  }
  if (s == EV_OK) *ms_per_image = ev_median(t, reps);
  free(t);
  return s;
}

ev_status ev_evaluate(ev_gpu *g, const ev_net_weights *w, const ev_dataset *ds, int size, int batch, ev_eval_result *out) {
  memset(out, 0, sizeof *out);
  ev_net_spec spec;
  EV_TRY(ev_net_copy(&w->spec, &spec));
  ev_model *m = NULL;
  ev_metrics acc;
  ev_metrics_init(&acc);
  ev_status s = ev_net_infer(&spec, size, size);
  if (s == EV_OK) s = ev_model_create(g, &spec, batch, size, size, false, &m);
  if (s == EV_OK) s = ev_model_upload(m, w);
  if (s == EV_OK) s = ev_eval_with_model(m, ds, size, &acc);
  if (s == EV_OK) ev_metrics_result(&acc, &out->m);
  if (s == EV_OK) s = ev_time_forward(m, 5, &out->infer_ms_per_image);
  out->synapses = ev_weights_live_synapses(w);
  out->params = ev_net_params(&spec);
  out->flops = ev_net_flops(&spec);
  ev_model_destroy(m);
  ev_net_free(&spec);
  return s;
}
