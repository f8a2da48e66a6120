#version 450
// Bias gradient: db[c] = (accumulate ? db[c] : 0) + sum over all pixels of g[pixel][c].
//   g: (pixels, cq) RGBA32F texels (an NHWC-C4 tensor); db: (cq,) vec4, c >= chans := 0
// One workgroup per channel quad: each invocation sums a strided set of pixels, then a
// shared-memory tree in a fixed order (deterministic). WG is a power of two.
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer g;
layout(std430, binding = 1) buffer DB { vec4 db[]; };
#include "push/conv.h"
EV_PUSH_BLOCK(wgrad_bias)
shared vec4 red[gl_WorkGroupSize.x];
void main() {
  int t = int(gl_LocalInvocationID.x), n = int(gl_WorkGroupSize.x), q = int(gl_WorkGroupID.x);
  // compensated (Kahan) sum: the chains are long (pixels / WG terms); `precise` keeps the
  // compiler from folding the correction away
  precise vec4 s = vec4(0.0), comp = vec4(0.0);
  for (int p = t; p < pixels; p += n) {
    precise vec4 y = texelFetch(g, p * cq + q) - comp;
    precise vec4 u = s + y;
    comp = (u - s) - y;
    s = u;
  }
  red[t] = s;
  barrier();
  for (int h = n / 2; h > 0; h >>= 1) {
    if (t < h) red[t] += red[t + h];
    barrier();
  }
  if (t == 0) {
    bvec4 keep = (lessThan(ivec4(4 * q) + ivec4(0, 1, 2, 3), ivec4(chans)));
    vec4 v = red[0];
    if (accumulate != 0) v += db[q];
    db[q] = mix(vec4(0.0), v, keep);
  }
}
