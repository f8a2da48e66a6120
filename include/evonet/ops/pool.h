/* Max-pooling over NHWC-C4 tensors with PyTorch's MaxPool2d semantics (dilation 1):
 * windows of kh x kw at stride (sh, sw) over the input padded by (ph, pw) with -inf,
 * floor or ceil mode for the output size; each output also records its argmax, the
 * flattened input position iy*W + ix of the first maximum in window order (row-major),
 * NaN winning like PyTorch. The backward routes dy to the argmax as a gather over the
 * windows containing each input position (deterministic, no atomics; overlapping windows
 * such as k3 s2 p1 are fine). */
#ifndef EVONET_OPS_POOL_H
#define EVONET_OPS_POOL_H
#include "evonet/ops/act.h"
#include "evonet/tensor.h"

typedef struct {
  int kh, kw;             /* >= 1 */
  int stride_h, stride_w; /* >= 1 */
  int pad_h, pad_w;       /* 0 <= pad <= k/2 (PyTorch's rule) */
  int ceil_mode;          /* 0: floor (default), 1: ceil */
} ev_pool_desc;

/* PyTorch's output size: (in + 2*pad - k) / stride + 1 rounded down (or up in ceil mode,
 * where the last window must start inside the input or its left padding). <= 0: invalid. */
int ev_pool_out_size(int in, int k, int stride, int pad, int ceil_mode);

/* x: (N, H, W, C); y: (N, OH, OW, C); idx: int32 with y's NHWC-C4 layout
 * (N*OH*OW*C4(C) entries; -1 in padding channels). */
ev_status ev_maxpool_forward(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y, ev_buf *idx);
/* The same without storing the argmax (for ev_maxpool_backward_x, or inference). */
ev_status ev_maxpool_forward_values(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y);
/* dx[n, iy, ix, c] = sum of dy[n, oy, ox, c] over outputs whose argmax is (iy, ix).
 * dy: (N, OH, OW, C), idx from the forward, dx: (N, H, W, C) (overwritten). */
ev_status ev_maxpool_backward(ev_stream *s, const ev_pool_desc *d, ev_tensor *dy, ev_buf *idx, ev_tensor *dx);
/* The same for non-overlapping windows (kernel = stride, no padding: ev_maxpool_backward_x_ok),
 * the argmax recomputed from the forward's input x (no idx needed), optionally fused with
 * the backward of the activation act of the layer that produced x (x is its output: dx :=
 * act's backward from x, ev_act_backward's; NULL or none: plain). */
int ev_maxpool_backward_x_ok(const ev_pool_desc *d);
ev_status ev_maxpool_backward_x(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *dy,
                                ev_tensor *dx, const ev_act *act);

/* Average pooling, PyTorch's AvgPool2d(k, stride, pad, ceil_mode=False, count_include_pad=True):
 * y = sum of the window's inputs (zero padding included) / (kh*kw). Global average pooling is
 * the window of the whole input (k = H = W, stride 1, pad 0). Padding channels of y are 0.
 * x: (N, H, W, C); y: (N, OH, OW, C). The backward is a gather over the windows containing
 * each input position (deterministic, no atomics): dx[n,iy,ix,c] = sum dy[n,oy,ox,c]/(kh*kw).
 * act (not NULL or none) fuses the backward of the activation of the layer that produced x
 * (x its output): dx := act's backward from x, ev_act_backward's (x must then be given;
 * otherwise it may be NULL and is not read). dx is overwritten.
 * Floor mode only: ceil_mode != 0 is EV_ERR_ARG (PyTorch's ceil-mode divisor for cut windows
 * differs); the references read floor mode whatever ceil_mode says. */
ev_status ev_avgpool_forward(ev_stream *s, const ev_pool_desc *d, ev_tensor *x, ev_tensor *y);
ev_status ev_avgpool_backward(ev_stream *s, const ev_pool_desc *d, ev_tensor *dy, ev_tensor *x,
                              const ev_act *act, ev_tensor *dx);
void ev_avgpool_forward_ref(const ev_pool_desc *d, const double *x, int n, int h, int w, int c, double *y);
void ev_avgpool_backward_ref(const ev_pool_desc *d, const double *dy, const double *x, const ev_act *act, int n,
                             int h, int w, int c, double *dx);

/* References on NHWC-C4 double arrays; x: (n, h, w, c); y, idx: (n, oh, ow, c). */
void ev_maxpool_forward_ref(const ev_pool_desc *d, const double *x, int n, int h, int w, int c,
                            double *y, int32_t *idx);
void ev_maxpool_backward_ref(const ev_pool_desc *d, const double *dy, const int32_t *idx, int n, int h,
                             int w, int c, double *dx);
#endif
