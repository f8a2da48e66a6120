#version 450
#extension GL_EXT_control_flow_attributes : require
// Average-pool forward (PyTorch's AvgPool2d, count_include_pad=True, floor mode), one
// invocation per output texel (4 channels of one output pixel):
//   y[n, oy, ox, c] = (sum of x over the window's part inside the input) / (kh*kw)
// (the zero padding counts in the divisor). Padding lanes (channel >= C) get 0.
// Grid: x = texel within an output row (ox*Q + q), y = output row, z = image.
// x: (N, H, W, Q) texels, y: (N, OH, OW, Q) vec4 (Q = C4/4).
// Global average pooling (k = H = W) is one output per image and quad with the whole
// image as its window: a loop of H*W fetches, which reads x once in all (the pass is as
// small as its input); adjacent invocations read adjacent texels.
// x through a texel buffer and (ox, q) from one float division, as in maxpool_fwd: on CPU
// drivers an SSBO load and a vector integer division are each several times a texel fetch.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int KHC = 0;  // > 0: the window's size, loops unrolled (no padding,
layout(constant_id = 1) const int KWC = 0;  //      every window inside the input)
layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/pool.h"
EV_PUSH_BLOCK(pool)
void main() {
  int oy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = OW * Q;
  int y0 = oy * sh - ph, y1 = min(y0 + kh, H);
  y0 = max(y0, 0);
  float rq = 1.0 / float(Q), rk = 1.0 / float(kh * kw);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ox = int((float(i) + 0.5) * rq), q = i - ox * Q; // exact: i < 2^21
    int x0 = ox * sw - pw, x1 = min(x0 + kw, W);
    x0 = max(x0, 0);
    vec4 acc = vec4(0.0);
    if (KHC > 0) { // loop overhead is most of a small window's cost on CPU drivers
      [[unroll]] for (int dy = 0; dy < KHC; dy++)
        [[unroll]] for (int dx = 0; dx < KWC; dx++)
          acc += texelFetch(X, ((n * H + y0 + dy) * W + x0 + dx) * Q + q);
    } else {
      for (int iy = y0; iy < y1; iy++) {
        int base = ((n * H + iy) * W) * Q + q;
        for (int ix = x0; ix < x1; ix++) acc += texelFetch(X, base + ix * Q);
      }
    }
    bvec4 pad = greaterThanEqual(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(C));
    y[(n * OH + oy) * row + i] = mix(acc * rk, vec4(0.0), pad);
  }
}
