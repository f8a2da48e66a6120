/* Element-wise training ops on NHWC-C4 tensors (see evonet/tensor.h): activation forward and
 * backward (evonet/ops/act.h), add and add-into (gradient accumulation), channel concatenation and its
 * gradient split. Every output keeps its padding channels at zero.
 *
 * Each GPU op records into a stream; each has a plain C reference (`_ref`, in double,
 * on the same NHWC-C4 layout, padding included) that the tests compare against. */
#ifndef EVONET_OPS_ELTWISE_H
#define EVONET_OPS_ELTWISE_H
#include "evonet/ops/act.h"
#include "evonet/tensor.h"

#define EV_CONCAT_MAX 4

/* y = f(x), the activation act (NULL: none, a copy).  x, y: (N, H, W, C) NHWC-C4, same shape;
 * y == x allowed (in place). References: ev_act_forward_ref / ev_act_backward_ref (act.h). */
ev_status ev_act_forward(ev_stream *s, const ev_act *act, ev_tensor *x, ev_tensor *y);
/* dx = f'(.) dy from y, the forward's OUTPUT (act.h).  y, dy, dx: same shape; dx == dy allowed. */
ev_status ev_act_backward(ev_stream *s, const ev_act *act, ev_tensor *y, ev_tensor *dy, ev_tensor *dx);

/* out = a + b.  a, b, out: same shape; out may be a or b. */
ev_status ev_add(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *out);
/* dst += src (gradient accumulation).  dst, src: same shape, distinct buffers. */
ev_status ev_add_into(ev_stream *s, ev_tensor *dst, ev_tensor *src);

/* out = a * b element by element (a gate, a mask).  a, b, out: same shape; out may be a or b. */
ev_status ev_mul(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *out);
/* Its gradient: da = dy * b, db = dy * a.  All of a's shape; da and db distinct from the
 * others. */
ev_status ev_mul_backward(ev_stream *s, ev_tensor *a, ev_tensor *b, ev_tensor *dy, ev_tensor *da, ev_tensor *db);

/* y = concat(xs[0..k-1]) along channels, packed densely: y channel off_i + c = xs[i] channel c,
 * off_i = sum of the channel counts before i (the inputs' C4 padding is NOT copied).
 * xs[i]: (N, H, W, C_i), 1 <= k <= EV_CONCAT_MAX; y: (N, H, W, sum C_i); y distinct from xs. */
ev_status ev_concat_forward(ev_stream *s, ev_tensor *const *xs, int k, ev_tensor *y);
/* Gradient split: dxs[i] = dy[..., off_i : off_i + C_i] (accumulate: dxs[i] += that).
 * Shapes as in ev_concat_forward. */
ev_status ev_concat_backward(ev_stream *s, ev_tensor *dy, ev_tensor *const *dxs, int k, int accumulate);
/* The same fused with the activation backward of the inputs: ys[i] (dxs[i]'s shape, or NULL)
 * is the output of the activation acts[i] that produced input i: its part of dy goes through
 * that backward (ev_act_backward's, from ys[i]) before it is stored or, with accumulate, added
 * (the earlier dxs[i] is then taken as a gradient already through it: by linearity the sum of
 * the parts' backwards is the backward of the sum). ys or acts NULL, ys[i] NULL or acts[i]
 * none: input i plain. */
ev_status ev_concat_backward_act(ev_stream *s, ev_tensor *dy, ev_tensor *const *dxs, ev_tensor *const *ys,
                                 const ev_act *acts, int k, int accumulate);

/* References: arrays of n_floats = N*H*W*C4 doubles (NHWC-C4). */
void ev_add_ref(const double *a, const double *b, double *out, uint64_t n_floats);
void ev_mul_ref(const double *a, const double *b, double *out, uint64_t n_floats);
void ev_mul_backward_ref(const double *a, const double *b, const double *dy, double *da, double *db,
                         uint64_t n_floats);
/* xs[i]: (npix, C4(c[i])), y: (npix, C4(sum c)); npix = N*H*W. */
void ev_concat_forward_ref(const double *const *xs, const int *c, int k, uint64_t npix, double *y);
void ev_concat_backward_ref(const double *dy, const int *c, int k, uint64_t npix, double *const *dxs,
                            int accumulate);
#endif
