#version 450
// y[i] = x[i] for i < n4, reading x through an RGBA32F uniform texel buffer.
// x: (n4,) texels, y: (n4,) vec4
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer x;
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n4) y[i] = texelFetch(x, int(i));
}
