/* Classification metrics and their JSON (definitions in include/evonet/class_metrics.h; the
 * figure is in figure_confusion.c). */
#include "evonet/class_metrics.h"

#include <assert.h>
#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ev_status ev_class_metrics_init(ev_class_metrics *m, int classes) {
  memset(m, 0, sizeof *m);
  if (classes < 2 || classes > EV_CLASS_MAX)
    return ev_fail(EV_ERR_ARG, "classification metrics: %d classes (need 2..%d)", classes,
                   EV_CLASS_MAX);
  m->confusion = calloc((size_t)classes * (size_t)classes, sizeof *m->confusion);
  if (!m->confusion)
    return ev_fail(EV_ERR_OOM, "out of memory for a %d x %d confusion matrix", classes, classes);
  m->classes = classes;
  return EV_OK;
}

void ev_class_metrics_free(ev_class_metrics *m) {
  free(m->confusion);
  memset(m, 0, sizeof *m);
}

/* Whether class j (logit a) comes before class i (logit b) in rank; j != i. NaN is above
 * every number and equal to NaN, so the order stays total and matches torch. */
static inline int before(float a, int j, float b, int i) {
  int na = isnan(a), nb = isnan(b);
  if (na || nb) return na && (!nb || j < i);
  return a > b || (a == b && j < i);
}

void ev_class_metrics_add(ev_class_metrics *m, const float *logits, int32_t label) {
  const int C = m->classes;
  assert(label >= 0 && label < C);
  if (label < 0 || label >= C) return; /* never index out of bounds */
  int pred = 0, ahead = 0; /* ahead: classes that come before the label */
  float mx = logits[0];
  for (int c = 0; c < C; c++) {
    if (c > 0 && before(logits[c], c, logits[pred], pred)) pred = c;
    if (c != label && before(logits[c], c, logits[label], label)) ahead++;
    if (logits[c] > mx) mx = logits[c];
  }
  int k = C < EV_CLASS_TOPK ? C : EV_CLASS_TOPK;
  m->n++;
  m->top1 += pred == label;
  m->top5 += ahead < k;
  m->confusion[(size_t)label * C + pred]++;
  /* log-sum-exp around the largest logit: exp never overflows and the largest term is 1;
   * the loss as log(sum) + (max - x[y]) so that large logits cancel exactly (a difference
   * of two floats is exact in double) instead of rounding at their magnitude */
  double sum = 0;
  for (int c = 0; c < C; c++) sum += exp((double)logits[c] - (double)mx);
  m->loss_sum += log(sum) + ((double)mx - (double)logits[label]);
}

void ev_class_metrics_merge(ev_class_metrics *into, const ev_class_metrics *from) {
  assert(into->classes == from->classes);
  if (into->classes != from->classes) return;
  size_t cc = (size_t)into->classes * into->classes;
  for (size_t i = 0; i < cc; i++) into->confusion[i] += from->confusion[i];
  into->n += from->n;
  into->top1 += from->top1;
  into->top5 += from->top5;
  into->loss_sum += from->loss_sum;
}

/* Images of class c (its row of the confusion matrix). */
static uint64_t row_total(const ev_class_metrics *m, int c) {
  const uint64_t *row = m->confusion + (size_t)c * m->classes;
  uint64_t t = 0;
  for (int j = 0; j < m->classes; j++) t += row[j];
  return t;
}

double ev_class_metrics_class_acc(const ev_class_metrics *m, int c) {
  if (c < 0 || c >= m->classes) return NAN;
  uint64_t t = row_total(m, c);
  return t ? (double)m->confusion[(size_t)c * m->classes + c] / (double)t : NAN;
}

void ev_class_metrics_result(const ev_class_metrics *m, ev_class_summary *out) {
  out->n = m->n;
  double n = (double)m->n;
  out->top1 = m->n ? (double)m->top1 / n : NAN;
  out->top5 = m->n ? (double)m->top5 / n : NAN;
  out->loss = m->n ? m->loss_sum / n : NAN;
  double acc = 0;
  int with = 0;
  for (int c = 0; c < m->classes; c++) {
    double a = ev_class_metrics_class_acc(m, c);
    if (!isnan(a)) acc += a, with++;
  }
  out->mean_class_acc = with ? acc / with : NAN;
}

/* ---------------- JSON ---------------- */
/* Raw number text: the shortest of 15..17 significant digits that reads back as exactly v,
 * "null" for NaN and infinities (as report.json writes them). */
static cJSON *num(double v) {
  char buf[40] = "null";
  for (int digits = 15; isfinite(v) && digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  return cJSON_CreateRaw(buf);
}

/* Counts as exact decimal integers (cJSON's doubles would round past 2^53). */
static cJSON *count(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "%" PRIu64, v);
  return cJSON_CreateRaw(buf);
}

/* cJSON_AddItemToObject/Array that also fails (and frees nothing twice) on a NULL item. */
static int put(cJSON *o, const char *k, cJSON *item) {
  if (!item) return 0;
  if (!(k ? cJSON_AddItemToObject(o, k, item) : cJSON_AddItemToArray(o, item))) {
    cJSON_Delete(item);
    return 0;
  }
  return 1;
}

cJSON *ev_class_metrics_json(const ev_class_metrics *m, const char *const *names) {
  ev_class_summary s;
  ev_class_metrics_result(m, &s);
  const int C = m->classes;
  cJSON *o = cJSON_CreateObject();
  int ok = o && put(o, "images", count(m->n)) && put(o, "top1", num(s.top1)) &&
           put(o, "top5", num(s.top5)) &&
           put(o, "top5_k", count(C < EV_CLASS_TOPK ? C : EV_CLASS_TOPK)) &&
           put(o, "loss", num(s.loss)) && put(o, "mean_class_accuracy", num(s.mean_class_acc));
  cJSON *classes = ok ? cJSON_CreateArray() : NULL;
  ok = ok && put(o, "classes", classes);
  for (int c = 0; ok && c < C; c++) {
    char idx[16];
    snprintf(idx, sizeof idx, "%d", c);
    cJSON *e = cJSON_CreateObject();
    ok = put(classes, NULL, e) &&
         put(e, "name", cJSON_CreateString(names && names[c] ? names[c] : idx)) &&
         put(e, "images", count(row_total(m, c))) &&
         put(e, "accuracy", num(ev_class_metrics_class_acc(m, c)));
  }
  cJSON *conf = ok ? cJSON_CreateArray() : NULL;
  ok = ok && put(o, "confusion", conf);
  for (int t = 0; ok && t < C; t++) {
    cJSON *row = cJSON_CreateArray();
    ok = put(conf, NULL, row);
    for (int p = 0; ok && p < C; p++) ok = put(row, NULL, count(m->confusion[(size_t)t * C + p]));
  }
  if (!ok) {
    cJSON_Delete(o);
    return NULL;
  }
  return o;
}
