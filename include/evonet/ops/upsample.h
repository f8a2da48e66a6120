/* Bilinear resize of NHWC-C4 tensors to a given spatial size, PyTorch's
 * F.interpolate(mode='bilinear', align_corners=False) with an explicit size:
 *   scale = (float)in / out, src = max(scale * (dst + 0.5) - 0.5, 0), i0 = floor(src),
 *   i1 = min(i0 + 1, in - 1), l1 = src - i0, l0 = 1 - l1 (per axis, in fp32).
 * Works for up- and down-sampling. The backward is a gather (each input pixel sums the
 * outputs that read it, in a fixed order): deterministic, no atomics. */
#ifndef EVONET_OPS_UPSAMPLE_H
#define EVONET_OPS_UPSAMPLE_H
#include "evonet/tensor.h"

/* x: (N, H, W, C) -> y: (N, OH, OW, C); the output size is y's shape. */
ev_status ev_upsample_forward(ev_stream *s, ev_tensor *x, ev_tensor *y);
/* dx = adjoint of the resize applied to dy.  dy: (N, OH, OW, C), dx: (N, H, W, C) (overwritten). */
ev_status ev_upsample_backward(ev_stream *s, ev_tensor *dy, ev_tensor *dx);

/* References on NHWC-C4 double arrays (the interpolation weights computed in fp32 exactly
 * as the kernel and PyTorch do). x/dx: (n, h, w, c), y/dy: (n, oh, ow, c). */
void ev_upsample_forward_ref(const double *x, int n, int h, int w, int c, int oh, int ow, double *y);
void ev_upsample_backward_ref(const double *dy, int n, int h, int w, int c, int oh, int ow, double *dx);
#endif
