/* Per-image statistics of the salient-object metrics on the GPU (shader salmet_stats), with
 * the definitions of include/evonet/metrics.h, ready for ev_metrics_add_stats:
 *   S = (P - min P) / (max P - min P) in float (a constant map: P clamped to [0,1]),
 *   G = gt > 0.5, q = (int)(S * 255) (truncation, <= 255),
 *   fg[q] / bg[q]: 256-bin histograms of q inside / outside G,
 *   abs_err = sum |S - G|, mean = sum S / npix,
 *   adaptive: M = S >= min(2 mean, 1), adp_tp / adp_fp = M inside / outside G.
 *
 * Exact agreement, and with which code:
 *   - S is the correctly rounded IEEE quotient, computed with integer arithmetic (the mantissa
 *     division is checked and corrected with an exact 32-bit remainder), because a GPU's
 *     float division is only 2.5 ulp: so S, q and the histograms equal the CPU's
 *     ev_metrics_image_stats bit for bit (one documented difference: a quotient below 2^-126
 *     becomes 0 instead of a denormal; no bin or count can change by it).
 *   - sum S and the abs-error sums are double-floats (hi + lo pairs of floats, ~44 bits)
 *     accumulated in a fixed order (64 per-thread partials in pixel order t, t+64, ..., then
 *     a fixed tree), all operations `precise`: the C reference ev_salmet_stats_ref does the
 *     same and matches bit for bit.
 *   - the adaptive test S >= 2*sum/npix is evaluated without dividing: the sign of
 *     S*npix - 2*sum from an exact product (Dekker) and an accurate double-float subtraction
 *     (relative error < 3*2^-48, so the sign is exact for the double-float sum). It differs
 *     from the CPU's double arithmetic only if a pixel's S lies within ~2^-44 (relative) of
 *     the threshold without equalling it: never seen on random data.
 *   Inputs are assumed finite (Vulkan does not promise NaN/Inf handling), and devices that
 *   flush denormals may differ for S below ~2^-100.
 *
 * Layouts: image n's pixel p is pred[(n*npix + p) * p_stride] (p_stride 1: dense (N, H, W);
 * 4: channel 0 of an NHWC-C4 tensor with C = 1), gt[(n*npix + p) * g_stride] likewise.
 * out: EV_SALMET_WORDS uint32 per image:
 *   [0, 256) fg, [256, 512) bg, 512 adp_tp, 513 adp_fp, 514 min P, 515 max P (float bits),
 *   516/517 sum of S over G (hi, lo), 518/519 sum of S outside G (hi, lo), 520..527 zero. */
#ifndef EVONET_OPS_SAL_METRICS_H
#define EVONET_OPS_SAL_METRICS_H
#include <stdint.h>

#include "evonet/gpu.h"
#include "evonet/image_stats.h"

#define EV_SALMET_WORDS 528u
#define EV_SALMET_MAX_PIXELS (1u << 24) /* per image: npix is exact in float */

typedef struct {
  ev_image_stats st;    /* for ev_metrics_add_stats: histograms, adp_tp/fp, abs_err */
  float min, max;       /* of the prediction */
  uint32_t n_fg;        /* pixels with G = 1 */
  uint32_t adp_fn;      /* G pixels below the adaptive threshold */
  double mean, mae;     /* mean S, abs_err / npix */
  double adp_threshold; /* min(2 mean, 1) */
} ev_salmet_image;

/* Records the statistics of n_images images of npix pixels into out
 * (n_images * EV_SALMET_WORDS uint32). */
ev_status ev_salmet_stats(ev_stream *s, ev_buf *pred, uint32_t p_stride, ev_buf *gt,
                          uint32_t g_stride, uint32_t n_images, uint32_t npix, ev_buf *out);
/* After the stream ran: downloads out and unpacks each record into img[n_images]. */
ev_status ev_salmet_read(ev_gpu *g, const ev_buf *out, uint32_t n_images, uint32_t npix,
                         ev_salmet_image *img);
void ev_salmet_unpack(const uint32_t *words, uint32_t npix, ev_salmet_image *img);

/* The same records computed in C with the same operations in the same order. */
void ev_salmet_stats_ref(const float *pred, uint32_t p_stride, const float *gt, uint32_t g_stride,
                         uint32_t n_images, uint32_t npix, uint32_t *out);
/* S of one pixel (exposed for tests): the correctly rounded (p - mn) / range, or the clamped p
 * when range == 0. ev_salmet_div is IEEE a / b for 0 < a <= b, finite (below 2^-126: 0). */
float ev_salmet_norm(float p, float mn, float range);
float ev_salmet_div(float a, float b);
#endif
