#version 450
// out = a + b over n4 vec4s (NHWC-C4 tensors of one shape; out may alias a or b).
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, binding = 1) readonly buffer B { vec4 b[]; };
layout(std430, binding = 2) writeonly buffer O { vec4 o[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) o[i] = a[i] + b[i];
}
