#version 450
// partial[g] = sum of x[g*WG*ITEMS ...] : one pass of a two-pass sum (fp32, tree order).
// x: (n,) float, partial: (ceil(n / (WG*ITEMS)),) float
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const uint ITEMS = 4;  // elements each invocation adds serially
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float partial[]; };
#include "push/basic.h"
EV_PUSH_BLOCK(reduce_sum)
shared float s[gl_WorkGroupSize.x];
void main() {
  uint wg = gl_WorkGroupSize.x, t = gl_LocalInvocationID.x;
  uint base = gl_WorkGroupID.x * wg * ITEMS + t;
  float acc = 0.0;
  for (uint k = 0; k < ITEMS; k++) {
    uint i = base + k * wg;
    if (i < n) acc += x[i];
  }
  s[t] = acc;
  barrier();
  for (uint h = wg / 2; h > 0; h >>= 1) {  // wg is a power of two (host checks)
    if (t < h) s[t] += s[t + h];
    barrier();
  }
  if (t == 0) partial[gl_WorkGroupID.x] = s[0];
}
