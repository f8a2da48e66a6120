#version 450
// y[i] = x[i] for i < n4 (vec4 elements): the bandwidth probe of `evonet selftest`.
// x, y: (n4,) vec4
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n4) y[i] = x[i];
}
