/* Host side of the basic kernels (shaders copy, texel_copy, axpb, reduce_sum, gemm_small). */
#include <string.h>

#include "evonet/ops/basic.h"
#include "push/basic.h"
#include "push/eltwise.h"

ev_status ev_copy(ev_stream *s, ev_buf *x, ev_buf *y, uint64_t n, int texel) {
  ev_gpu *g = ev_stream_gpu(s);
  if (n == 0 || n % 4) return ev_fail(EV_ERR_ARG, "copy of %llu floats: need a positive multiple of 4", (unsigned long long)n);
  if (x->size < n * 4 || y->size < n * 4) return ev_fail(EV_ERR_ARG, "copy of %llu floats exceeds a buffer", (unsigned long long)n);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_flat pc = {(uint32_t)(n / 4)};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = texel ? "texel_copy" : "copy",
                                                .bindings = texel ? "tw" : "rw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_div_up(pc.n4, wg), 1, 1}, (ev_buf *[]){x, y}, &pc);
}

ev_status ev_axpb(ev_stream *s, float a, float b, ev_buf *x, ev_buf *y, uint32_t n) {
  ev_gpu *g = ev_stream_gpu(s);
  if (n == 0 || x->size < n * 4ull || y->size < n * 4ull)
    return ev_fail(EV_ERR_ARG, "axpb over %u floats does not fit its buffers", n);
  uint32_t wg = ev_gpu_elementwise_wg(g), abits;
  memcpy(&abits, &a, 4);
  ev_push_axpb pc = {n, b};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "axpb", .bindings = "rw", .push_size = sizeof pc,
                                                .n_spec = 1, .spec = {abits}, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_div_up(n, wg), 1, 1}, (ev_buf *[]){x, y}, &pc);
}

void ev_axpb_ref(float a, float b, const float *x, float *y, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) y[i] = a * x[i] + b;
}

enum { RED_WG = 64, RED_ITEMS = 8, RED_SPAN = RED_WG * RED_ITEMS };

uint64_t ev_reduce_sum_scratch(uint32_t n) {
  uint64_t total = 0;
  /* + 256 floats per pass: each pass's slice starts at a storage-offset-aligned position */
  for (uint64_t m = ev_div_up(n, RED_SPAN); m > 1; m = ev_div_up(m, RED_SPAN)) total += m + 256;
  return total ? total : 1;
}

ev_status ev_reduce_sum(ev_stream *s, ev_buf *x, uint32_t n, ev_buf *scratch, ev_buf *out) {
  ev_gpu *g = ev_stream_gpu(s);
  if (n == 0 || x->size < n * 4ull) return ev_fail(EV_ERR_ARG, "sum over %u floats does not fit its buffer", n);
  if (scratch->size < ev_reduce_sum_scratch(n) * 4) return ev_fail(EV_ERR_ARG, "reduction scratch too small");
  uint32_t wg = RED_WG; /* a power of two: the tree in the shader halves it */
  if (wg > ev_gpu_caps(g)->max_workgroup_invocations) return ev_fail(EV_ERR_LIMIT, "device workgroups too small");
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "reduce_sum", .bindings = "rw",
                                                .push_size = sizeof(ev_push_reduce_sum),
                                                .n_spec = 1, .spec = {RED_ITEMS}, .local_size_x = wg}, &p));
  /* passes ping through disjoint ranges of scratch so no pass reads what it writes */
  ev_buf *src = x;
  ev_buf parts[8];
  uint64_t off = 0;
  for (int pass = 0;; pass++) {
    uint32_t groups = ev_div_up(n, RED_SPAN);
    ev_buf *dst = out;
    if (groups > 1) {
      if (pass == 8) return ev_fail(EV_ERR_LIMIT, "reduction too deep");
      uint64_t al = ev_gpu_caps(g)->min_storage_offset_align / 4 ? ev_gpu_caps(g)->min_storage_offset_align / 4 : 1;
      if (al > 256) return ev_fail(EV_ERR_LIMIT, "storage offset alignment too large");
      off = (off + al - 1) / al * al;
      parts[pass] = *scratch;
      parts[pass].offset += off * 4;
      parts[pass].size = (uint64_t)groups * 4;
      parts[pass].texel_view = VK_NULL_HANDLE; /* a storage-only slice */
      off += groups;
      dst = &parts[pass];
    }
    ev_push_reduce_sum pc = {n};
    EV_TRY(ev_dispatch(s, p, (uint32_t[3]){groups, 1, 1}, (ev_buf *[]){src, dst}, &pc));
    if (groups == 1) return EV_OK;
    src = dst;
    n = groups;
  }
}

double ev_reduce_sum_ref(const float *x, uint32_t n) {
  double s = 0;
  for (uint32_t i = 0; i < n; i++) s += x[i];
  return s;
}

ev_status ev_gemm_small(ev_stream *s, ev_buf *A, ev_buf *Bt, ev_buf *C, int M, int N, int K) {
  ev_gpu *g = ev_stream_gpu(s);
  if (M <= 0 || N <= 0 || K <= 0 || K % 4)
    return ev_fail(EV_ERR_ARG, "gemm %dx%dx%d: sizes must be positive and K a multiple of 4", M, N, K);
  if (A->size < (uint64_t)M * K * 4 || Bt->size < (uint64_t)N * K * 4 || C->size < (uint64_t)M * N * 4)
    return ev_fail(EV_ERR_ARG, "gemm %dx%dx%d does not fit its buffers", M, N, K);
  enum { TM = 4, TN = 4, LX = 8, LY = 8 };
  ev_pipeline *p;
  ev_push_gemm_small pc = {M, N, K};
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "gemm_small", .bindings = "ttw", .push_size = sizeof pc,
                                                .n_spec = 2, .spec = {TM, TN},
                                                .local_size_x = LX, .local_size_y = LY}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_div_up(ev_div_up(N, TN), LX), ev_div_up(ev_div_up(M, TM), LY), 1},
                     (ev_buf *[]){A, Bt, C}, &pc);
}

void ev_gemm_ref(const float *A, const float *Bt, float *C, int M, int N, int K) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double acc = 0;
      for (int k = 0; k < K; k++) acc += (double)A[m * K + k] * Bt[n * K + k];
      C[m * N + n] = (float)acc;
    }
}
