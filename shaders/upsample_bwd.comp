#version 450
// Bilinear resize backward as a gather: one invocation per input texel (n, iy, ix, quad)
// sums w_y(oy) * w_x(ox) * dy over the outputs that read it, oy then ox ascending. An output
// reads row iy iff its source row lies in [iy - 1, iy + 1), so the candidate rows are
// ((iy - 0.5) / scale - 0.5, (iy + 1.5) / scale - 0.5) widened by one; each candidate's
// taps are recomputed exactly as in the forward and only matching taps contribute.
// dy: (N, OH, OW, Q) texels, dx: (N, H, W, Q) vec4.
// Grid: x = texel within an input row (ix*Q + q), y = input row, z = image. (Caching the
// column weights in a private array was slower on lavapipe: recomputing is cheaper.)
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer DY; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) writeonly buffer DX { vec4 dx[]; };
#include "push/upsample.h"
EV_PUSH_BLOCK(upsample)
// weight with which output o reads input i along one axis (0 if it does not)
float weight(int o, int i, float scale, int size) {
  precise float src = max(scale * (float(o) + 0.5) - 0.5, 0.0);
  int i0 = int(src);
  int i1 = i0 + (i0 < size - 1 ? 1 : 0);
  float l1 = src - float(i0);
  return (i0 == i ? 1.0 - l1 : 0.0) + (i1 == i ? l1 : 0.0);
}
void main() {
  int iy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = W * Q;
  int oy0 = max(0, int(floor((float(iy) - 0.5) / scale_h - 0.5)) - 1);
  int oy1 = min(OH - 1, int(ceil((float(iy) + 1.5) / scale_h - 0.5)) + 1);
  float inv_q = 1.0 / float(Q);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ix = int((float(i) + 0.5) * inv_q), q = i - ix * Q; // exact: i < 2^21
    int ox0 = max(0, int(floor((float(ix) - 0.5) / scale_w - 0.5)) - 1);
    int ox1 = min(OW - 1, int(ceil((float(ix) + 1.5) / scale_w - 0.5)) + 1);
    vec4 acc = vec4(0.0);
    for (int oy = oy0; oy <= oy1; oy++) {
      float wy = weight(oy, iy, scale_h, H);
      if (wy == 0.0) continue;
      vec4 r = vec4(0.0);
      int base = ((n * OH + oy) * OW) * Q + q;
      for (int ox = ox0; ox <= ox1; ox++) {
        float wx = weight(ox, ix, scale_w, W);
        if (wx != 0.0) r += wx * texelFetch(DY, base + ox * Q);
      }
      acc += wy * r;
    }
    dx[(n * H + iy) * row + i] = acc;
  }
}
