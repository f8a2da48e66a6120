#version 450
// Bilinear resize (align_corners=False), one invocation per output texel.
// x: (N, H, W, Q) texels, y: (N, OH, OW, Q) vec4, Q = C4/4; padding lanes stay zero because
// the input's are. scale_* = (float)in / out, computed on the host like PyTorch.
// Grid: x = texel within an output row (ox*Q + q), y = output row, z = image, so only one
// integer division per texel (CPU drivers scalarise vector divisions).
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer X; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/upsample.h"
EV_PUSH_BLOCK(upsample)
// source index and weight of the second tap; `precise` keeps the rounding PyTorch has (no fma)
void taps(int o, float scale, int size, out int i0, out int i1, out float l1) {
  precise float src = max(scale * (float(o) + 0.5) - 0.5, 0.0);
  i0 = int(src);
  i1 = i0 + (i0 < size - 1 ? 1 : 0);
  l1 = src - float(i0);
}
void main() {
  int oy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = OW * Q;
  float inv_q = 1.0 / float(Q);
  int y0, y1, x0, x1;
  float ly, lx;
  taps(oy, scale_h, H, y0, y1, ly);
  int r0 = (n * H + y0) * W * Q, r1 = (n * H + y1) * W * Q, o = (n * OH + oy) * row;
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ox = int((float(i) + 0.5) * inv_q), q = i - ox * Q;
    taps(ox, scale_w, W, x0, x1, lx);
    vec4 top = (1.0 - lx) * texelFetch(X, r0 + x0 * Q + q) + lx * texelFetch(X, r0 + x1 * Q + q);
    vec4 bot = (1.0 - lx) * texelFetch(X, r1 + x0 * Q + q) + lx * texelFetch(X, r1 + x1 * Q + q);
    y[o + i] = (1.0 - ly) * top + ly * bot;
  }
}
