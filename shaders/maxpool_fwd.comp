#version 450
#extension GL_EXT_control_flow_attributes : require
// Max-pool forward, one invocation per output texel (4 channels of one output pixel).
// Grid: x = texel within an output row (ox*Q + q), y = output row, z = image.
// x: (N, H, W, Q) texels, y: (N, OH, OW, Q) vec4, idx: (N, OH, OW, Q) ivec4 (Q = C4/4).
// idx = iy*W + ix of the first maximum in window order (strict >, NaN wins: PyTorch's rule);
// padding lanes (channel >= C) get y = 0 and idx = -1. WRITE_IDX = 0: no idx (a backward
// that recomputes the argmax from x needs none).
// x through a texel buffer and (ox, q) from one float division: on CPU drivers an SSBO load
// and a vector integer division are each several times a texel fetch.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int WRITE_IDX = 1;
layout(constant_id = 1) const int KHC = 0;  // > 0: the window's size, loops unrolled (no padding,
layout(constant_id = 2) const int KWC = 0;  //      window inside the input: floor mode)
layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
layout(std430, binding = 2) writeonly buffer I { ivec4 idx[]; };
#include "push/pool.h"
EV_PUSH_BLOCK(pool)
void main() {
  int oy = int(gl_GlobalInvocationID.y), n = int(gl_GlobalInvocationID.z), row = OW * Q;
  int y0 = oy * sh - ph, y1 = min(y0 + kh, H);
  y0 = max(y0, 0);
  float rq = 1.0 / float(Q);
  for (int i = int(gl_GlobalInvocationID.x); i < row; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int ox = int((float(i) + 0.5) * rq), q = i - ox * Q; // exact: i < 2^21
    int x0 = ox * sw - pw, x1 = min(x0 + kw, W);
    x0 = max(x0, 0);
    vec4 m = vec4(uintBitsToFloat(0xff800000u));  // -inf
    ivec4 a = ivec4(y0 * W + x0);
    if (KHC > 0) { // loop overhead is most of a small window's cost on CPU drivers
      [[unroll]] for (int dy = 0; dy < KHC; dy++)
        [[unroll]] for (int dx = 0; dx < KWC; dx++) {
          int iy = y0 + dy, ix = x0 + dx;
          vec4 v = texelFetch(X, ((n * H + iy) * W + ix) * Q + q);
          bvec4 take = bvec4(uvec4(greaterThan(v, m)) | uvec4(isnan(v)));
          m = mix(m, v, take);
          a = mix(a, ivec4(iy * W + ix), take);
        }
    } else {
      for (int iy = y0; iy < y1; iy++)
        for (int ix = x0; ix < x1; ix++) {
          vec4 v = texelFetch(X, ((n * H + iy) * W + ix) * Q + q);
          bvec4 take = bvec4(uvec4(greaterThan(v, m)) | uvec4(isnan(v)));
          m = mix(m, v, take);
          a = mix(a, ivec4(iy * W + ix), take);
        }
    }
    bvec4 pad = greaterThanEqual(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(C));
    int o = (n * OH + oy) * row + i;
    y[o] = mix(m, vec4(0.0), pad);
    if (WRITE_IDX != 0) idx[o] = mix(a, ivec4(-1), pad);
  }
}
