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

ev_status ev_check_task(const ev_net_spec *spec, const ev_dataset *ds) {
  bool classify = spec->task == EV_TASK_CLASSIFY;
  if (classify != (ds->cls != NULL))
    return ev_fail(EV_ERR_ARG, "a %s network needs %s, and this dataset holds %s",
                   classify ? "classification" : "saliency", classify ? "labelled images" : "images with masks",
                   ds->cls ? "labelled images" : "images with masks");
  if (classify && ds->cls->classes != spec->classes)
    return ev_fail(EV_ERR_ARG, "the network has %d classes and the dataset %d", spec->classes, ds->cls->classes);
  if (classify && ds->cls->channels != spec->in_channels)
    return ev_fail(EV_ERR_ARG, "the network takes %d input channels and the dataset's images have %d",
                   spec->in_channels, ds->cls->channels);
  return EV_OK;
}

ev_status ev_model_feed_batch(ev_model *m, const ev_batch *b) {
  return ev_model_spec(m)->task == EV_TASK_CLASSIFY ? ev_model_feed_labels(m, b->images, b->labels, b->n)
                                                    : ev_model_feed(m, b->images, b->masks, b->n);
}

ev_status ev_eval_acc_init(ev_eval_acc *a, const ev_net_spec *spec) {
  memset(a, 0, sizeof *a);
  a->classify = spec->task == EV_TASK_CLASSIFY;
  ev_metrics_init(&a->sal);
  return a->classify ? ev_class_metrics_init(&a->cls, spec->classes) : EV_OK;
}

void ev_eval_acc_free(ev_eval_acc *a) {
  if (a->classify) ev_class_metrics_free(&a->cls);
}

void ev_eval_acc_result(const ev_eval_acc *a, ev_metrics_summary *out) {
  if (!a->classify) {
    ev_metrics_result(&a->sal, out);
    return;
  }
  ev_class_summary c;
  ev_class_metrics_result(&a->cls, &c);
  memset(out, 0, sizeof *out);
  out->classify = 1;
  out->n_images = (size_t)c.n;
  out->top1 = c.top1, out->top5 = c.top5, out->loss = c.loss, out->mean_class_acc = c.mean_class_acc;
}

/* Classification: the logits of the batch's n images (N, 1, 1, C4 floats) into the counts. */
static ev_status add_logits(ev_model *m, const ev_batch *b, float *buf, ev_class_metrics *cm) {
  ev_tensor *y = ev_model_logits(m);
  int c4 = ev_c4(y->c);
  EV_TRY(ev_buf_download(ev_model_gpu(m), &y->buf, 0, buf, (uint64_t)b->n * c4 * 4));
  for (int i = 0; i < b->n; i++) ev_class_metrics_add(cm, buf + (size_t)i * c4, b->labels[i]);
  return EV_OK;
}

ev_status ev_eval_with_model(ev_model *m, const ev_dataset *ds, int size, ev_eval_acc *acc) {
  int N = ev_model_batch(m);
  ev_loader_options lo = {.batch = N, .size = size, .augment = 0, .shuffle = 0, .drop_last = 0, .seed = 1};
  ev_batch b;
  EV_TRY(ev_batch_alloc(&b, N, size));
  uint64_t pix = (uint64_t)size * size, per = acc->classify ? (uint64_t)ev_c4(ev_model_logits(m)->c) : pix;
  float *prob = malloc((size_t)(N * per) * sizeof *prob);
  ev_status s = prob ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  size_t steps = ev_batches_per_epoch(ds, &lo);
  for (size_t k = 0; k < steps && s == EV_OK; k++) {
    s = ev_batch_load(ds, &lo, 0, k, &b);
    if (s == EV_OK) s = ev_model_feed_batch(m, &b);
    ev_stream *st = NULL;
    if (s == EV_OK) s = ev_stream_begin(ev_model_gpu(m), &st);
    if (s == EV_OK) s = ev_model_forward(m, st, false);
    if (s == EV_OK) s = ev_model_predict(m, st);
    if (s == EV_OK) s = ev_stream_submit(st);
    else if (st) ev_stream_abort(st);
    if (s == EV_OK && acc->classify) {
      s = add_logits(m, &b, prob, &acc->cls);
      continue;
    }
    if (s == EV_OK) s = ev_buf_download(ev_model_gpu(m), ev_model_prob(m), 0, prob, (uint64_t)b.n * pix * 4);
    for (int i = 0; s == EV_OK && i < b.n; i++) ev_metrics_add_image(&acc->sal, prob + i * pix, b.masks + i * pix, pix);
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

void ev_eval_result_free(ev_eval_result *r) {
  if (r->cls.confusion) ev_class_metrics_free(&r->cls);
  memset(&r->cls, 0, sizeof r->cls);
}

ev_status ev_evaluate(ev_gpu *g, const ev_net_weights *w, const ev_dataset *ds, int size, int batch, ev_eval_result *out) {
  memset(out, 0, sizeof *out);
  ev_net_spec spec;
  EV_TRY(ev_net_copy(&w->spec, &spec));
  ev_model *m = NULL;
  ev_eval_acc acc;
  ev_status s = ev_check_task(&spec, ds);
  if (s == EV_OK) s = ev_eval_acc_init(&acc, &spec);
  else memset(&acc, 0, sizeof acc);
  if (s == EV_OK) s = ev_net_infer(&spec, size, size);
  if (s == EV_OK) s = ev_model_create(g, &spec, batch, size, size, false, &m);
  if (s == EV_OK) s = ev_model_upload(m, w);
  if (s == EV_OK) s = ev_eval_with_model(m, ds, size, &acc);
  if (s == EV_OK) ev_eval_acc_result(&acc, &out->m);
  if (s == EV_OK && acc.classify) out->cls = acc.cls; /* the caller's now (ev_eval_result_free) */
  else ev_eval_acc_free(&acc);
  if (s == EV_OK) s = ev_time_forward(m, 5, &out->infer_ms_per_image);
  out->synapses = ev_weights_live_synapses(w);
  out->params = ev_net_params(&spec);
  out->flops = ev_net_flops(&spec);
  ev_model_destroy(m);
  ev_net_free(&spec);
  return s;
}
