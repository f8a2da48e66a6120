/* Per-pixel softmax cross-entropy over C classes, PyTorch's F.cross_entropy on (N, C, H, W)
 * logits with reduction='mean' and optional class weights:
 *   loss = sum_i w[t_i] * (logsumexp(z_i) - z_i[t_i]) / sum_i w[t_i]   (w = 1 without weights)
 *   dz_i[c] = w[t_i] / sum_j w[t_j] * (softmax(z_i)[c] - [c == t_i])
 * over the pixels i whose class t_i is in [0, C) (others are ignored, like ignore_index).
 * Targets are either a float mask in [0, 1] (class 1 where mask > 0.5, else 0) or int32 class
 * indices. The loss is reduced on the GPU in a fixed order (pixel chunks summed serially,
 * then one workgroup over the chunks): deterministic. */
#ifndef EVONET_OPS_LOSS_H
#define EVONET_OPS_LOSS_H
#include "evonet/tensor.h"

typedef enum {
  EV_TARGET_MASK = 0,  /* float (N, H, W) in [0, 1]; class = mask > 0.5 */
  EV_TARGET_INDEX = 1, /* int32 (N, H, W) class indices */
} ev_target_kind;

/* Scratch floats for ev_softmax_ce on an (n, h, w) batch (independent of C). */
uint64_t ev_softmax_ce_scratch_floats(int n, int h, int w);

/* logits: (N, H, W, C) NHWC-C4, C >= 2.
 * target: (N, H, W) float mask or int32 indices (kind).
 * class_weights: float[C] or NULL.
 * loss: float[1] := the weighted mean loss.
 * dlogits: (N, H, W, C) := d loss / d logits (padding zero), or NULL to skip the gradient.
 * prob: (N, H, W) float := softmax channel 1 (the foreground probability), or NULL.
 * scratch: ev_softmax_ce_scratch_floats(N, H, W) floats; scratch[0] = sum of weights after. */
ev_status ev_softmax_ce(ev_stream *s, ev_tensor *logits, ev_buf *target, ev_target_kind kind,
                        ev_buf *class_weights, ev_buf *scratch, ev_buf *loss, ev_tensor *dlogits, ev_buf *prob);

/* Reference (double): logits NHWC-C4 (n, h, w, c); cls: class index per pixel;
 * class_weights: double[c] or NULL; dlogits (NHWC-C4) and prob (n*h*w) may be NULL.
 * Returns the loss. */
double ev_softmax_ce_ref(const double *logits, int n, int h, int w, int c, const int32_t *cls,
                         const double *class_weights, double *dlogits, double *prob);
/* The mask -> class rule of EV_TARGET_MASK, on the host. */
void ev_mask_to_class(const float *mask, int32_t *cls, uint64_t n);
#endif
