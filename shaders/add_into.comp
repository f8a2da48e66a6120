#version 450
// dst += src over n4 vec4s (gradient accumulation; NHWC-C4 tensors of one shape).
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer S { vec4 src[]; };
layout(std430, binding = 1) buffer D { vec4 dst[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) dst[i] += src[i];
}
