/* conv2d and transposed conv2d (deconvolution): forward and input-gradient passes.
 *
 * Semantics are exactly PyTorch's conv2d / conv_transpose2d (stride, padding, dilation,
 * output padding, groups = 1). Layouts (evonet/tensor.h): activations NHWC-C4, weights
 * OHWI4, bias float[c4]; every pass writes zeros into its output's padding channels.
 *
 *   conv2d (d->cin -> d->cout):
 *     x (N, H, W, cin), w (cout, kh, kw, c4(cin)), bias (c4(cout)) or NULL,
 *     y (N, Ho, Wo, cout), Ho = ev_conv_out_size(H, kh, stride_h, pad_h, dil_h) (same for W)
 *     y[n][oy][ox][o] = bias[o] + sum_{ky,kx,i} x[n][oy*sh-ph+ky*dh][ox*sw-pw+kx*dw][i] * w[o][ky][kx][i]
 *     (x outside the image is 0); act (evonet/ops/act.h; NULL: none) is applied after the bias.
 *     backward_data: dx (N, H, W, cin) = the adjoint of the map x -> y above (no bias),
 *     given dy (N, Ho, Wo, cout). Rows of x that no output reads get 0.
 *
 *   transposed conv2d (d->cin -> d->cout; the weight array's O = d->cin, I = d->cout):
 *     x (N, H, W, cin), w (cin, kh, kw, c4(cout)), bias (c4(cout)) or NULL,
 *     y (N, Ho, Wo, cout), Ho = ev_deconv_out_size(H, kh, stride_h, pad_h, dil_h, out_pad_h)
 *     deconv forward       == conv2d backward_data over the same array (plus bias),
 *     deconv backward_data == conv2d forward over the same array (no bias):
 *     dx (N, H, W, cin) from dy (N, Ho, Wo, cout).
 *
 * Workspace: conv2d backward_data and deconv forward read the weights transposed
 *   (I rows of kh*kw*c4(O) floats, rows padded by 16 floats where their stride would alias
 *   in a CPU's L1); they write that copy into `workspace` first (one small dispatch, ~2% of
 *   the pass). Pass a buffer of at least ev_conv_workspace_bytes(d) bytes; its contents
 *   need not survive between calls. The other two passes need none.
 *
 * Kernels: every pass is one implicit GEMM (no im2col buffer): M = output pixels, N = output
 *   channels, K = taps * input channels. Strided input gradients are split by output phase
 *   (one z-slice of the dispatch per (y mod stride, x mod stride)), so only the taps that
 *   really touch a pixel are visited. CPU devices (caps->is_cpu: lavapipe) use a register-tiled
 *   kernel fed by texel fetches and subgroup shuffles (conv_gemm_shuffle), others a
 *   shared-memory tiled one (conv_gemm_shared); EVONET_CONV_VARIANT=shuffle|shared forces one
 *   (the old names cpu|gpu too; shuffle falls back to shared where the device lacks subgroup
 *   shuffles or has fewer than 8 lanes). Test hooks of the shuffle kernel (tests/test_conv.c): EVONET_CONV_CN=2|4
 *   (accumulator columns per lane), EVONET_CONV_SWAP=0|1 (operand orientation),
 *   EVONET_CONV_HA=1..4 (blocks of 8 shuffled rows) and EVONET_CONV_UNROLL=0 (keep the tap
 *   and texel loops that narrow layers otherwise unroll); of both
 *   variants EVONET_CONV_GRIDX=n (at most n workgroups along x: m-tiles wrap into y, as they
 *   do beyond the device's x limit).
 *
 * Errors: EV_ERR_ARG (with a message) for shape mismatches, zero or negative sizes, bad
 *   geometry, buffers smaller than their tensors or a missing/small workspace; EV_ERR_LIMIT
 *   beyond device limits. Nothing is recorded into the stream then.
 */
#ifndef EVONET_OPS_CONV_H
#define EVONET_OPS_CONV_H
#include "evonet/ops/act.h"
#include "evonet/ops/conv_desc.h"
#include "evonet/tensor.h"

/* Bytes of workspace for ev_conv2d_backward_data and ev_deconv2d_forward with this d
 * (covers both readings of d). 0 if the geometry is invalid. */
uint64_t ev_conv_workspace_bytes(const ev_conv_desc *d);

ev_status ev_conv2d_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                            ev_buf *bias, const ev_act *act, ev_tensor *y);
ev_status ev_conv2d_backward_data(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy, ev_buf *w,
                                  ev_tensor *dx, ev_buf *workspace);
ev_status ev_deconv2d_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                              ev_buf *bias, ev_tensor *y, ev_buf *workspace);
ev_status ev_deconv2d_backward_data(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy,
                                    ev_buf *w, ev_tensor *dx);
/* The same passes fused with the neighbouring activation (one pass over memory instead of two):
 *   *_backward_data_act: act_y (dx's shape) is the output of the activation act whose input
 *     was this pass's x; dx := act's backward from act_y (ev_act_backward's). act_y NULL or
 *     act NULL / none: plain.
 *   ev_deconv2d_forward_act: act (NULL: none) is applied after the bias. */
ev_status ev_conv2d_backward_data_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy, ev_buf *w,
                                      ev_tensor *dx, ev_buf *workspace, const ev_act *act, ev_tensor *act_y);
ev_status ev_deconv2d_backward_data_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy,
                                        ev_buf *w, ev_tensor *dx, const ev_act *act, ev_tensor *act_y);
ev_status ev_deconv2d_forward_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                                  ev_buf *bias, const ev_act *act, ev_tensor *y, ev_buf *workspace);

/* Plain C references on host arrays in the same layouts (sums in double). (n, h, w) is the
 * spatial size of the pass's *x* (the conv's or the deconv's input); the other tensor's
 * size follows from d. bias may be NULL. Outputs' padding channels are written as zero. */
void ev_conv2d_forward_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                           const float *wt, const float *bias, const ev_act *act, float *y);
void ev_conv2d_backward_data_ref(const ev_conv_desc *d, int n, int h, int w, const float *dy,
                                 const float *wt, float *dx);
void ev_deconv2d_forward_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                             const float *wt, const float *bias, float *y);
void ev_deconv2d_backward_data_ref(const ev_conv_desc *d, int n, int h, int w, const float *dy,
                                   const float *wt, float *dx);
#endif
