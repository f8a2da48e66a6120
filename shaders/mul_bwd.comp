#version 450
// The gradient of out = a * b: da = dy * b, db = dy * a over n4 vec4s (NHWC-C4 tensors of
// one shape; da and db distinct from the inputs and each other).
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer A { vec4 a[]; };
layout(std430, binding = 1) readonly buffer B { vec4 b[]; };
layout(std430, binding = 2) readonly buffer DY { vec4 dy[]; };
layout(std430, binding = 3) writeonly buffer DA { vec4 da[]; };
layout(std430, binding = 4) writeonly buffer DB { vec4 db[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) {
    vec4 g = dy[i];
    da[i] = g * b[i];
    db[i] = g * a[i];
  }
}
