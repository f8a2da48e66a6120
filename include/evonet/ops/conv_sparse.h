/* Sparse conv2d forward: reads only the live synapses (mask != 0) of a layer.
 *
 * Evolved offspring keep a few hundred live synapses of a layer's thousands; the dense
 * implicit GEMM (evonet/ops/conv.h) spends its time on their masked zeros. This pass walks
 * a packed list of the live taps instead. Semantics are conv2d's (PyTorch, groups = 1):
 *   y[n][oy][ox][o] = bias[o] + sum over o's live taps (ky, kx, i) of
 *                     x[n][oy*sh-ph+ky*dh][ox*sw-pw+kx*dw][i] * w[o][i][ky][kx]
 *   (x outside the image is 0); act (evonet/ops/act.h; NULL: none) is applied after the
 *   bias; y's padding channels are written as 0. x (N, H, W, cin) and y (N, Ho, Wo, cout)
 *   are NHWC-C4 (evonet/tensor.h), bias float[c4(cout)] or NULL.
 *
 * Taps ("packed", RGBA32F texels, built on the host):
 *   texel o < cout:        (start, count, 0, 0): o's taps are texels [start, start+count)
 *   texels cout and on:    (ky*dil_h, kx*dil_w, i, weight), one per live synapse, grouped by
 *                          output channel, each group in (i, ky, kx) order (deterministic sums).
 *   Integers are stored as floats, exact below 2^24; packing refuses anything larger.
 *   The buffer must come from ev_conv_sparse_pack with the same descriptor.
 *
 * Test hooks: EVONET_CONV_GRIDX=n caps the workgroups along x at n (pixel blocks wrap into
 *   y, as they do beyond the device's x limit), as for the dense passes; EVONET_SPARSE_PP=n
 *   sets the output pixels per invocation (1..16); EVONET_SPARSE_CHUNK=8 walks taps 8 per
 *   loop iteration (what quads of more than ~65k taps need on lavapipe).
 *
 * Errors: EV_ERR_ARG (with a message) for bad geometry, shape mismatches, missing or small
 *   buffers, overlapping input/output; EV_ERR_LIMIT beyond device limits. Nothing is
 *   recorded into the stream then.
 */
#ifndef EVONET_OPS_CONV_SPARSE_H
#define EVONET_OPS_CONV_SPARSE_H
#include "evonet/ops/act.h"
#include "evonet/ops/conv_desc.h"
#include "evonet/tensor.h"

/* Live synapses (mask != 0) of a PyTorch-layout mask (cout, cin, kh, kw). */
uint64_t ev_conv_sparse_live(const ev_conv_desc *d, const float *mask);
/* Texels of the packed taps: cout headers + live synapses (0 for an invalid d). */
uint64_t ev_conv_sparse_texels(const ev_conv_desc *d, const float *mask);
/* Packs PyTorch-layout weights w and mask (cout, cin, kh, kw) into `texels`
 * (4 * ev_conv_sparse_texels() floats). EV_ERR_ARG for an invalid d or values that a
 * float cannot hold exactly (2^24 texels or more, dilated kernels of 2^24 or more). */
ev_status ev_conv_sparse_pack(const ev_conv_desc *d, const float *w, const float *mask, float *texels);

/* taps: a device buffer holding the packed texels (at least cout of them). */
ev_status ev_conv2d_sparse_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *taps,
                                   ev_buf *bias, const ev_act *act, ev_tensor *y);
#endif
