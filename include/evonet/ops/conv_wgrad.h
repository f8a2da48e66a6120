/* Weight and bias gradients of conv2d and of transposed conv2d (deconvolution).
 *
 * Layouts (evonet/tensor.h): activations NHWC-C4, weights OHWI4, bias float[c4].
 *   conv2d:      x (N, H, W, cin), dy (N, Ho, Wo, cout), Ho = ev_conv_out_size(H, ...);
 *                dw (cout, kh, kw, c4(cin)),  dbias (c4(cout))
 *                dw[o][ky][kx][i] = sum_{n,oy,ox} dy[n][oy][ox][o] * x[n][oy*sh-ph+ky*dh][ox*sw-pw+kx*dw][i]
 *   transposed:  x (N, H, W, cin) is the deconv's input, dy (N, Ho, Wo, cout) the gradient
 *                of its output, Ho = ev_deconv_out_size(H, ...);
 *                dw (cin, kh, kw, c4(cout)) (PyTorch ConvTranspose2d order), dbias (c4(cout))
 *                dw[o][ky][kx][i] = sum_{n,iy,ix} x[n][iy][ix][o] * dy[n][iy*sh-ph+ky*dh][ix*sw-pw+kx*dw][i]
 *                (the conv2d formula with x and dy exchanged: the same kernels serve both).
 *   dbias[c] = sum over n, y, x of dy[n][y][x][c].
 *   accumulate: 0 overwrites dw/dbias, 1 adds into them. Padded entries of dw (i >= I) and
 *   of dbias (c >= C) are written as zero either way. dbias may be NULL.
 *
 * workspace: split-K partial sums (pixel slices reduced in a fixed order: deterministic,
 *   no float atomics). Pass a buffer of at least ev_conv_wgrad_workspace_bytes() bytes;
 *   NULL (or a smaller one) is allowed and runs without split-K: correct, but slower where
 *   the device needs more parallelism than the tiles of dw give (discrete GPUs).
 *   EVONET_WGRAD_SLICE=p (tests, tuning) forces p pixels per slice; keep it unchanged
 *   between ev_conv_wgrad_workspace_bytes() and the passes that use the workspace (the same
 *   holds for the shuffle kernel's test hooks EVONET_WGRAD_MODE=0|1|2, lane mapping, and
 *   EVONET_WGRAD_NS=1..8, shuffled quads per tile, which change its tile count).
 *
 * Kernel variant: CPU devices (caps->is_cpu, e.g. lavapipe) use a register-tiled
 *   kernel fed by texel fetches and subgroup shuffles (conv_wgrad_shuffle), others a
 *   shared-memory tiled one (conv_wgrad_shared); EVONET_CONV_VARIANT=shuffle|shared (or the
 *   old names cpu|gpu) forces one (shuffle falls back to shared where the device lacks
 *   subgroup shuffles).
 *
 * Errors: EV_ERR_ARG for shape mismatches, zero or negative sizes, bad geometry, or buffers
 *   smaller than their tensors; EV_ERR_LIMIT beyond device limits. Nothing is recorded then.
 */
#ifndef EVONET_OPS_CONV_WGRAD_H
#define EVONET_OPS_CONV_WGRAD_H
#include "evonet/ops/conv_desc.h"
#include "evonet/tensor.h"

/* Bytes of workspace that make both passes below run at full speed for a layer `d` whose
 * x (the tensor passed as x, conv or transposed) is (n, h, w, .). 0 if none is needed or
 * the geometry is invalid. The figure covers the conv and the transposed reading of d.
 * tu: the device's tuning (ev_gpu_tuning: its split-K test hooks change the figure); NULL:
 * the defaults. */
uint64_t ev_conv_wgrad_workspace_bytes(const ev_tuning *tu, const ev_conv_desc *d, int n, int h, int w);

ev_status ev_conv2d_backward_weight(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_tensor *dy,
                                    ev_buf *dw, ev_buf *dbias, int accumulate, ev_buf *workspace);
ev_status ev_deconv2d_backward_weight(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_tensor *dy,
                                      ev_buf *dw, ev_buf *dbias, int accumulate, ev_buf *workspace);

/* Plain C references on host arrays (same layouts, accumulation in double). x is
 * (n, h, w, c4(x channels)); dy's size follows from d. dbias may be NULL. */
void ev_conv2d_backward_weight_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                                   const float *dy, float *dw, float *dbias, int accumulate);
void ev_deconv2d_backward_weight_ref(const ev_conv_desc *d, int n, int h, int w, const float *x,
                                     const float *dy, float *dw, float *dbias, int accumulate);
#endif
