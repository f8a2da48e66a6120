/* Per-pixel softmax cross-entropy over C classes, PyTorch's F.cross_entropy on (N, C, H, W)
 * logits with reduction='mean' and optional class weights:
 *   loss = sum_i w[t_i] * (logsumexp(z_i) - z_i[t_i]) / sum_i w[t_i]   (w = 1 without weights)
 *   dz_i[c] = w[t_i] / sum_j w[t_j] * (softmax(z_i)[c] - [c == t_i])
 * over the pixels i whose class t_i is in [0, C) (others are ignored, like ignore_index).
 * Targets are either a float mask in [0, 1] (class 1 where mask > 0.5, else 0), int32 class
 * indices, or (2 classes) a soft target: the class-1 probability t, with a = (w0 (1 - t), w1 t)
 *   loss = sum_i [a0 (logsumexp(z_i) - z_i0) + a1 (logsumexp(z_i) - z_i1)] / sum_i (a0 + a1),
 *   dz_i = ((a0 + a1) softmax(z_i) - a) / sum_j (a0 + a1)
 * (knowledge distillation: a teacher's probabilities blended with the ground truth). For t in
 * {0, 1} it is the mask loss; PyTorch's probability-target cross_entropy has the same terms
 * but divides by the pixel count instead of the summed weights.  The loss is reduced on the GPU in a fixed order (pixel chunks summed serially,
 * then one workgroup over the chunks): deterministic. */
#ifndef EVONET_OPS_LOSS_H
#define EVONET_OPS_LOSS_H
#include "evonet/tensor.h"

typedef enum {
  EV_TARGET_MASK = 0,  /* float (N, H, W) in [0, 1]; class = mask > 0.5 */
  EV_TARGET_INDEX = 1, /* int32 (N, H, W) class indices */
  EV_TARGET_SOFT = 2,  /* float (N, H, W) in [0, 1]: probability of class 1; C == 2 */
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
/* The same for a soft target: t (n*h*w) the class-1 probability, c == 2. */
double ev_softmax_ce_soft_ref(const double *logits, int n, int h, int w, const double *t, const double *class_weights,
                              double *dlogits, double *prob);

/* Distillation target: y[i] := (1 - lambda) * [mask[i] > 0.5] + lambda * teacher[i], i < n, the
 * EV_TARGET_SOFT target that mixes the ground truth with a teacher's class-1 probability.
 * y may be mask (in place). lambda in [0, 1]. */
ev_status ev_distill_target(ev_stream *s, ev_buf *mask, ev_buf *teacher, float lambda, ev_buf *y, uint32_t n);
void ev_distill_target_ref(const float *mask, const float *teacher, float lambda, float *y, uint32_t n);

/* The mask -> class rule of EV_TARGET_MASK, on the host. */
void ev_mask_to_class(const float *mask, int32_t *cls, uint64_t n);
#endif
