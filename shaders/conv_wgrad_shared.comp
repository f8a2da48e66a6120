#version 450
// Weight gradient of conv2d (and of transposed conv, roles exchanged), shared-memory tiled
// (the kernel for discrete and integrated GPUs).
//   rows tensor R: (N, Hr, Wr, 4*Rq) NHWC-C4 texels   (conv: dy;  deconv: the deconv's x)
//   cols tensor C: (N, Hc, Wc, 4*Cq) NHWC-C4 texels   (conv: x;   deconv: the deconv's dy)
//   out: (O, kh*kw*4*Cq) floats = OHWI4 read as a row-major GEMM result, one per split
//   out[o][n], n = (ky*kw + kx)*4*Cq + i: sum over pixels (b, oy, ox) of
//     R[b][oy][ox][o] * C[b][oy*sh - ph + ky*dh][ox*sw - pw + kx*dw][i] (zero outside C).
// Classic shared-memory tiling: a workgroup of (BM/4) x (BN/4) threads owns a BM x BN
// tile, stages BK pixels of both operands in shared memory (im2col on the fly for C),
// and each thread accumulates a 4 x 4 block. Split-K slices (workgroup z) take disjoint
// pixel chunks. No subgroup operations, so it runs wherever compute shaders do.
layout(local_size_x_id = 100, local_size_y_id = 101) in;
layout(constant_id = 0) const int BM = 64;
layout(constant_id = 1) const int BN = 64;
layout(constant_id = 2) const int BK = 16;
layout(constant_id = 3) const int DIRECT = 0; // 1: out is dw itself (no split-K)
layout(binding = 0) uniform samplerBuffer R;
layout(binding = 1) uniform samplerBuffer C;
layout(std430, binding = 2) buffer OUT { vec4 o_[]; };
#include "push/conv.h"
EV_PUSH_BLOCK(wgrad_shared)
shared vec4 As[BK][BM / 4];
shared vec4 Bs[BK][BN / 4];

void main() {
  int tx = int(gl_LocalInvocationID.x), ty = int(gl_LocalInvocationID.y);
  int tid = ty * (BN / 4) + tx, nthreads = (BM / 4) * (BN / 4);
  int m0 = int(gl_WorkGroupID.y) * BM, n0 = int(gl_WorkGroupID.x) * BN;
  int taps = kh * kw, ncols = taps * 4 * Cq; // GEMM columns
  int npix = N * Hr * Wr;
  int k0 = int(gl_WorkGroupID.z) * chunk, k1 = min(npix, k0 + chunk);
  vec4 acc[4];
  for (int a = 0; a < 4; a++) acc[a] = vec4(0.0);

  for (int kb = k0; kb < k1; kb += BK) {
    // stage BK pixels x BM rows of R and BK pixels x BN columns of C (texel = 4 channels)
    for (int e = tid; e < BK * (BM / 4); e += nthreads) {
      int k = e / (BM / 4), mq = e % (BM / 4);
      int p = kb + k, oq = (m0 >> 2) + mq;
      vec4 v = vec4(0.0);
      if (p < k1 && oq < Rq) v = texelFetch(R, p * Rq + oq);
      As[k][mq] = v;
    }
    for (int e = tid; e < BK * (BN / 4); e += nthreads) {
      int k = e / (BN / 4), nq = e % (BN / 4);
      int p = kb + k, col = (n0 >> 2) + nq; // column quad: (tap, input quad)
      vec4 v = vec4(0.0);
      if (p < k1 && col < taps * Cq) {
        int tap = col / Cq, iq = col % Cq;
        int ox = p % Wr, t = p / Wr, oy = t % Hr, b = t / Hr;
        int iy = oy * sh - ph + (tap / kw) * dh, ix = ox * sw - pw + (tap % kw) * dw;
        if (iy >= 0 && iy < Hc && ix >= 0 && ix < Wc)
          v = texelFetch(C, ((b * Hc + iy) * Wc + ix) * Cq + iq);
      }
      Bs[k][nq] = v;
    }
    barrier();
    for (int k = 0; k < BK; k++) {
      vec4 a = As[k][ty], bq = Bs[k][tx];
      acc[0] = fma(vec4(a.x), bq, acc[0]);
      acc[1] = fma(vec4(a.y), bq, acc[1]);
      acc[2] = fma(vec4(a.z), bq, acc[2]);
      acc[3] = fma(vec4(a.w), bq, acc[3]);
    }
    barrier();
  }

  int ncq = ncols / 4, nq = (n0 >> 2) + tx;
  if (nq >= ncq) return;
  int ilo = (nq % Cq) * 4; // first input channel of this column quad
  bvec4 keep = (lessThan(ivec4(ilo) + ivec4(0, 1, 2, 3), ivec4(cols)));
  int base = DIRECT == 1 ? 0 : int(gl_WorkGroupID.z) * rows * ncq;
  for (int a = 0; a < 4; a++) {
    int o = m0 + ty * 4 + a;
    if (o >= rows) break;
    int e = base + o * ncq + nq;
    vec4 v = acc[a];
    if (DIRECT == 1 && accumulate != 0) v += o_[e];
    o_[e] = mix(vec4(0.0), v, keep); // a select, so padded entries are exact zeros
  }
}
