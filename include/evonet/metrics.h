/* Salient-object metrics: MAE, adaptive F-beta, max-F and mean-F (DESIGN.md "Metrics").
 *
 * Per image, with P the prediction (any real values) and GT the mask (floats in [0,1]):
 *   S = (P - min P) / (max P - min P)     computed in float, exactly this expression;
 *       a constant P (max == min) is kept as it is, clamped to [0,1] (what the common
 *       toolboxes do: a constant 0 map stays 0, a constant 1 map stays 1);
 *   G = GT > 0.5                          (the same as > 128 on a uint8 mask);
 *   q = (int)(S * 255.0f)                 truncation, as uint8(S*255) in the toolboxes;
 *   MAE = mean |S - G|;
 *   F = (1+β²)·P·R / (β²·P + R), β² = 0.3, F = 0 when there is no true positive;
 *   adaptive F: M = S >= min(2·mean(S), 1), mean and comparison in double;
 *   F_t for t = 0..255: M_t = q >= t. max-F / mean-F: F_t averaged over images for each
 *   t, then the max / the mean over the 256 thresholds.
 *
 * Two ways in, same numbers: ev_metrics_add_image (a CPU pass over one map) or
 * ev_metrics_add_stats with per-image statistics a GPU reduction produced. The statistics
 * are two 256-bin histograms of q (pixels inside / outside G): TP(t) and FP(t) are their
 * suffix sums from t up, so all 256 thresholds cost 256 additions. */
#ifndef EVONET_METRICS_H
#define EVONET_METRICS_H
#include <stddef.h>
#include <stdint.h>

#include "evonet/image_stats.h" /* ev_image_stats, EV_METRICS_BINS */

#define EV_METRICS_BETA2 0.3

/* Sums over images; add and merge in any order (sums of doubles: the order of images
 * can change the last bits, nothing more). */
typedef struct {
  size_t n;
  double mae_sum, adp_f_sum;
  double f_sum[EV_METRICS_BINS], p_sum[EV_METRICS_BINS], r_sum[EV_METRICS_BINS];
} ev_metrics;

typedef struct {
  size_t n_images;
  double mae, adaptive_f, max_f, mean_f;
  int max_f_threshold;           /* the t (0..255) where max-F is reached */
  double f[EV_METRICS_BINS];     /* mean F_t over images, for each t */
  double precision[EV_METRICS_BINS], recall[EV_METRICS_BINS]; /* mean P_t, R_t (PR curve) */
  /* classification networks (evonet/class_metrics.h): classify = 1, n_images and these hold,
   * the saliency fields above are 0 */
  int classify;
  double top1, top5, loss, mean_class_acc;
} ev_metrics_summary;

/* The figure of merit that selection and reports rank networks by: max-F (saliency) or top-1
 * accuracy (classification); higher is better for both. */
static inline double ev_metrics_score(const ev_metrics_summary *m) { return m->classify ? m->top1 : m->max_f; }
static inline const char *ev_metrics_score_name(const ev_metrics_summary *m) { return m->classify ? "top-1" : "max-F"; }

/* Per-image scores (for picking best and worst examples in figures). */
typedef struct {
  double mae, adaptive_f, max_f;
} ev_image_scores;

void ev_metrics_init(ev_metrics *m);
/* S of one prediction (see above): s (npix) may alias pred. */
void ev_metrics_normalize(const float *pred, size_t npix, float *s);
/* The statistics of one image: pred and gt (npix), npix >= 1. */
void ev_metrics_image_stats(const float *pred, const float *gt, size_t npix,
                            ev_image_stats *st);
void ev_metrics_add_stats(ev_metrics *m, const ev_image_stats *st);
void ev_metrics_add_image(ev_metrics *m, const float *pred, const float *gt, size_t npix);
void ev_metrics_merge(ev_metrics *into, const ev_metrics *from);
void ev_metrics_result(const ev_metrics *m, ev_metrics_summary *out);
void ev_metrics_image_scores(const ev_image_stats *st, ev_image_scores *out);
#endif
