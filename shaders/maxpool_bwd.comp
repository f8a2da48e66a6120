#version 450
// Max-pool backward as a gather: one invocation per input texel (n, iy, ix, quad) sums dy
// over the outputs whose window contains (iy, ix) and whose argmax is (iy, ix), in output
// row-major order (the reference's scatter order), so no atomics and a fixed result.
// dy: (N, OH, OW, Q) vec4, idx: (N, OH, OW, Q) ivec4, dx: (N, H, W, Q) vec4.
// Grid: x = texel within an input row (ix*Q + q), y = input row, z = image.
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer DY { vec4 dy[]; };
layout(std430, binding = 1) readonly buffer I { ivec4 idx[]; };
layout(std430, binding = 2) writeonly buffer DX { vec4 dx[]; };
#include "push/pool.h"
EV_PUSH_BLOCK(pool)
// first output index o with o*s - p + k - 1 >= i (its window reaches i), clamped at 0
int first_out(int i, int k, int s, int p) {
  int num = i + p - k + 1;
  return num <= 0 ? 0 : (num + s - 1) / s;
}
void main() {
  int iy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = W * Q;
  int oy0 = first_out(iy, kh, sh, ph), oy1 = min(OH - 1, (iy + ph) / sh);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ix = i / Q, q = i - ix * Q;
    int ox0 = first_out(ix, kw, sw, pw), ox1 = min(OW - 1, (ix + pw) / sw);
    ivec4 pos = ivec4(iy * W + ix);
    vec4 acc = vec4(0.0);
    for (int oy = oy0; oy <= oy1; oy++)
      for (int ox = ox0; ox <= ox1; ox++) {
        int o = ((n * OH + oy) * OW + ox) * Q + q;
        acc += mix(vec4(0.0), dy[o], equal(idx[o], pos));
      }
    dx[(n * H + iy) * row + i] = acc;  // padding lanes: idx = -1 never matches, so 0
  }
}
