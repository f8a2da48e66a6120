#version 450
// C[m][n] = sum_k A[m][k] * Bt[n][k]  (both operands k-contiguous, read as RGBA32F texels).
// A: (M, K/4) texels, Bt: (N, K/4) texels, C: (M, N) float; K % 4 == 0.
// One invocation computes a TM x TN block; a plain, portable kernel for the selftest.
layout(local_size_x_id = 100, local_size_y_id = 101) in;
layout(constant_id = 0) const int TM = 4;
layout(constant_id = 1) const int TN = 4;
layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer Bt;
layout(std430, binding = 2) writeonly buffer CB { float C[]; };
#include "push/basic.h"
EV_PUSH_BLOCK(gemm_small)
void main() {
  int n0 = int(gl_GlobalInvocationID.x) * TN, m0 = int(gl_GlobalInvocationID.y) * TM;
  if (m0 >= M || n0 >= N) return;
  float acc[TM][TN];
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++) acc[i][j] = 0.0;
  int K4 = K / 4;
  for (int k = 0; k < K4; k++) {
    vec4 b[TN];
    for (int j = 0; j < TN; j++) b[j] = texelFetch(Bt, min(n0 + j, N - 1) * K4 + k);
    for (int i = 0; i < TM; i++) {
      vec4 a = texelFetch(A, min(m0 + i, M - 1) * K4 + k);
      for (int j = 0; j < TN; j++) acc[i][j] += dot(a, b[j]);
    }
  }
  for (int i = 0; i < TM; i++)
    for (int j = 0; j < TN; j++)
      if (m0 + i < M && n0 + j < N) C[(m0 + i) * N + n0 + j] = acc[i][j];
}
