/* Basic kernels: copies, an affine map, a sum reduction and a small GEMM. The selftest
 * and the runtime tests use them; each has a plain C reference (`_ref`). */
#ifndef EVONET_OPS_BASIC_H
#define EVONET_OPS_BASIC_H
#include "evonet/gpu.h"

/* y[0:n] = x[0:n]; n % 4 == 0. Storage-buffer path, or texel-buffer read when `texel`. */
ev_status ev_copy(ev_stream *s, ev_buf *x, ev_buf *y, uint64_t n, int texel);
/* y[i] = a*x[i] + b, i < n; a is baked into the pipeline as a specialization constant. */
ev_status ev_axpb(ev_stream *s, float a, float b, ev_buf *x, ev_buf *y, uint32_t n);
void ev_axpb_ref(float a, float b, const float *x, float *y, uint32_t n);
/* out[0] = sum x[0:n]. scratch: ev_reduce_sum_scratch(n) floats. */
uint64_t ev_reduce_sum_scratch(uint32_t n);
ev_status ev_reduce_sum(ev_stream *s, ev_buf *x, uint32_t n, ev_buf *scratch, ev_buf *out);
double ev_reduce_sum_ref(const float *x, uint32_t n);
/* C (M,N) = A (M,K) * Bt (N,K)^T, K % 4 == 0. */
ev_status ev_gemm_small(ev_stream *s, ev_buf *A, ev_buf *Bt, ev_buf *C, int M, int N, int K);
void ev_gemm_ref(const float *A, const float *Bt, float *C, int M, int N, int K);
#endif
