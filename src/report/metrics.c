/* MAE and F-beta over images, from per-image histograms (see include/evonet/metrics.h for
 * the exact definitions; this file should read like them). */
#include "evonet/metrics.h"

#include <assert.h>
#include <math.h>
#include <string.h>

void ev_metrics_init(ev_metrics *m) { memset(m, 0, sizeof *m); }

/* min and max of pred, ignoring NaN. */
static void min_max(const float *pred, size_t npix, float *mn, float *mx) {
  float lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < npix; i++) {
    if (pred[i] < lo) lo = pred[i];
    if (pred[i] > hi) hi = pred[i];
  }
  *mn = lo;
  *mx = hi;
}

/* S of one pixel: one expression shared by every path so they agree bit for bit. */
static inline float norm1(float p, float mn, float range) {
  float s = range > 0.0f ? (p - mn) / range : p;
  if (!(s >= 0.0f)) s = 0.0f; /* also NaN */
  if (s > 1.0f) s = 1.0f;
  return s;
}

static inline int quant(float s) {
  int q = (int)(s * 255.0f);
  return q > 255 ? 255 : q;
}

void ev_metrics_normalize(const float *pred, size_t npix, float *s) {
  float mn, mx;
  min_max(pred, npix, &mn, &mx);
  float range = mx > mn ? mx - mn : 0.0f;
  for (size_t i = 0; i < npix; i++) s[i] = norm1(pred[i], mn, range);
}

void ev_metrics_image_stats(const float *pred, const float *gt, size_t npix,
                            ev_image_stats *st) {
  assert(npix > 0);
  memset(st, 0, sizeof *st);
  float mn, mx;
  min_max(pred, npix, &mn, &mx);
  float range = mx > mn ? mx - mn : 0.0f;
  double sum = 0;
  for (size_t i = 0; i < npix; i++) {
    float s = norm1(pred[i], mn, range);
    int g = gt[i] > 0.5f;
    sum += s;
    st->abs_err += fabs((double)s - g);
    if (g) st->fg[quant(s)]++;
    else st->bg[quant(s)]++;
  }
  double thr = fmin(2.0 * sum / (double)npix, 1.0);
  for (size_t i = 0; i < npix; i++) {
    if ((double)norm1(pred[i], mn, range) < thr) continue;
    if (gt[i] > 0.5f) st->adp_tp++;
    else st->adp_fp++;
  }
}

/* F-beta from counts; 0 when nothing is true-positive. */
static double fbeta(double tp, double fp, double n_fg) {
  if (tp <= 0) return 0.0;
  double p = tp / (tp + fp), r = tp / n_fg;
  return (1.0 + EV_METRICS_BETA2) * p * r / (EV_METRICS_BETA2 * p + r);
}

/* The 256 thresholds of one image: TP(t), FP(t) are suffix sums of the histograms.
 * P_t = 0 when nothing is predicted, R_t = 0 when the mask is empty. */
static void curve(const ev_image_stats *st, double *f, double *p, double *r) {
  double n_fg = 0, tp = 0, fp = 0;
  for (int t = 0; t < EV_METRICS_BINS; t++) n_fg += st->fg[t];
  for (int t = EV_METRICS_BINS - 1; t >= 0; t--) {
    tp += st->fg[t];
    fp += st->bg[t];
    f[t] = fbeta(tp, fp, n_fg);
    p[t] = tp + fp > 0 ? tp / (tp + fp) : 0.0;
    r[t] = n_fg > 0 ? tp / n_fg : 0.0;
  }
}

static double n_pixels(const ev_image_stats *st, double *n_fg) {
  double fg = 0, bg = 0;
  for (int t = 0; t < EV_METRICS_BINS; t++) fg += st->fg[t], bg += st->bg[t];
  *n_fg = fg;
  return fg + bg;
}

void ev_metrics_add_stats(ev_metrics *m, const ev_image_stats *st) {
  double n_fg, npix = n_pixels(st, &n_fg);
  assert(npix > 0);
  double f[EV_METRICS_BINS], p[EV_METRICS_BINS], r[EV_METRICS_BINS];
  curve(st, f, p, r);
  for (int t = 0; t < EV_METRICS_BINS; t++) {
    m->f_sum[t] += f[t];
    m->p_sum[t] += p[t];
    m->r_sum[t] += r[t];
  }
  m->mae_sum += st->abs_err / npix;
  m->adp_f_sum += fbeta(st->adp_tp, st->adp_fp, n_fg);
  m->n++;
}

void ev_metrics_add_image(ev_metrics *m, const float *pred, const float *gt, size_t npix) {
  ev_image_stats st;
  ev_metrics_image_stats(pred, gt, npix, &st);
  ev_metrics_add_stats(m, &st);
}

void ev_metrics_merge(ev_metrics *into, const ev_metrics *from) {
  for (int t = 0; t < EV_METRICS_BINS; t++) {
    into->f_sum[t] += from->f_sum[t];
    into->p_sum[t] += from->p_sum[t];
    into->r_sum[t] += from->r_sum[t];
  }
  into->mae_sum += from->mae_sum;
  into->adp_f_sum += from->adp_f_sum;
  into->n += from->n;
}

void ev_metrics_result(const ev_metrics *m, ev_metrics_summary *out) {
  memset(out, 0, sizeof *out);
  out->n_images = m->n;
  if (m->n == 0) return;
  double n = (double)m->n, f_total = 0;
  out->max_f = -1;
  for (int t = 0; t < EV_METRICS_BINS; t++) {
    out->f[t] = m->f_sum[t] / n;
    out->precision[t] = m->p_sum[t] / n;
    out->recall[t] = m->r_sum[t] / n;
    f_total += out->f[t];
    if (out->f[t] > out->max_f) {
      out->max_f = out->f[t];
      out->max_f_threshold = t;
    }
  }
  out->mean_f = f_total / EV_METRICS_BINS;
  out->mae = m->mae_sum / n;
  out->adaptive_f = m->adp_f_sum / n;
}

void ev_metrics_image_scores(const ev_image_stats *st, ev_image_scores *out) {
  double n_fg, npix = n_pixels(st, &n_fg);
  double f[EV_METRICS_BINS], p[EV_METRICS_BINS], r[EV_METRICS_BINS];
  curve(st, f, p, r);
  out->max_f = 0;
  for (int t = 0; t < EV_METRICS_BINS; t++)
    if (f[t] > out->max_f) out->max_f = f[t];
  out->mae = npix > 0 ? st->abs_err / npix : 0.0;
  out->adaptive_f = fbeta(st->adp_tp, st->adp_fp, n_fg);
}
