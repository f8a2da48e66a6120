/* Tensors on the device, and the memory layouts every kernel agrees on.
 *
 * Activations: NHWC with the channel count padded to a multiple of 4 ("C4"):
 *   element (n, y, x, c) is at ((n*H + y)*W + x)*C4 + c, C4 = ev_c4(C).
 *   One RGBA32F texel holds 4 channels of one pixel, so texel-buffer kernels fetch
 *   (pixel, channel-quad) pairs. Padding channels c in [C, C4) are always zero: every
 *   kernel that writes a tensor writes zeros there, and kernels may rely on reading zeros.
 *
 * Convolution weights ("OHWI4"): W[o][ky][kx][i4], i4 < ev_c4(I), padded entries zero.
 *   conv2d:            O = out channels, I = in channels (PyTorch weight is (O, I, kh, kw)).
 *   transposed conv:   O = the deconvolution's INPUT channels, I = its OUTPUT channels
 *                      (PyTorch's ConvTranspose2d weight is (Cin, Cout, kh, kw): the same
 *                      order), so a deconvolution is conv2d's adjoint over the same array.
 * Bias: float[ev_c4(C)], padded entries zero.
 * Synapse masks share the weight layout (1.0 keep / 0.0 removed). The synapse *index* used
 * for random numbers and counts is the layout-free PyTorch index ((o*I + i)*kh + ky)*kw + kx.
 */
#ifndef EVONET_TENSOR_H
#define EVONET_TENSOR_H
#include "evonet/gpu.h"

static inline int ev_c4(int c) { return (c + 3) & ~3; }

typedef struct {
  ev_buf buf;
  int n, h, w, c; /* logical shape; storage is n*h*w*ev_c4(c) floats */
} ev_tensor;

static inline uint64_t ev_tensor_floats(int n, int h, int w, int c) {
  return (uint64_t)n * h * w * ev_c4(c);
}
/* Allocates an NHWC-C4 tensor (contents undefined). Errors on non-positive sizes. */
ev_status ev_tensor_alloc(ev_gpu *g, int n, int h, int w, int c, ev_tensor *t);
void ev_tensor_free(ev_gpu *g, ev_tensor *t);
/* The host-side argument checks the ops share (their one home: src/ops/tensor.c; an op keeps
 * only the checks of its own). Each fails with EV_ERR_ARG (EV_ERR_LIMIT beyond 32-bit texel
 * indexing) and a message that starts with `op` and names the argument by `what`.
 * ev_tensor_check: present, positive shape, a buffer large enough, within 32-bit texel
 * indexing. */
ev_status ev_tensor_check(const char *op, const char *what, const ev_tensor *t);
/* ev_tensor_check, and t is (n, c, h, w); an expected size <= 0 (an empty result) fails. */
ev_status ev_tensor_check_shape(const char *op, const char *what, const ev_tensor *t, int n, int h, int w, int c);
/* ev_tensor_check of a and b, and the same shape. */
ev_status ev_tensor_check_same(const char *op, const ev_tensor *a, const char *an, const ev_tensor *b,
                               const char *bn);
/* A buffer argument: present and at least `bytes` long. */
ev_status ev_buf_check(const char *op, const char *what, const ev_buf *b, uint64_t bytes);
/* Host (N, C, H, W) dense floats <-> device NHWC-C4 (padding written as zero). */
ev_status ev_tensor_upload_nchw(ev_gpu *g, ev_tensor *t, const float *nchw);
ev_status ev_tensor_download_nchw(ev_gpu *g, const ev_tensor *t, float *nchw);
/* Host-side layout conversions (no device): NCHW <-> NHWC-C4, OIHW <-> OHWI4. */
void ev_nchw_to_nhwc4(const float *src, float *dst, int n, int c, int h, int w);
void ev_nhwc4_to_nchw(const float *src, float *dst, int n, int c, int h, int w);
void ev_oihw_to_ohwi4(const float *src, float *dst, int o, int i, int kh, int kw);
void ev_ohwi4_to_oihw(const float *src, float *dst, int o, int i, int kh, int kw);
#endif
