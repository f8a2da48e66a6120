/* The per-image statistics of the salient-object metrics (include/evonet/metrics.h): what
 * the GPU reduction (ops/sal_metrics.h) writes and the CPU metrics (report/metrics.c) read.
 * A plain record with no code, in the core layer so that both can include it without the
 * GPU ops depending on the report layer. */
#ifndef EVONET_IMAGE_STATS_H
#define EVONET_IMAGE_STATS_H
#include <stdint.h>

#define EV_METRICS_BINS 256

/* What one image contributes. The layout a GPU kernel writes: uint32 fg[256], bg[256],
 * then adp_tp, adp_fp, then abs_err (converted to double on the host). */
typedef struct {
  uint32_t fg[EV_METRICS_BINS]; /* pixels with G = 1, by q */
  uint32_t bg[EV_METRICS_BINS]; /* pixels with G = 0, by q */
  uint32_t adp_tp, adp_fp;      /* S >= adaptive threshold, inside / outside G */
  double abs_err;               /* sum over pixels of |S - G| */
} ev_image_stats;
#endif
