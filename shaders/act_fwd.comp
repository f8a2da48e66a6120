#version 450
// y = f(x), the activation ACT (act.glsl), over an NHWC-C4 tensor seen as n4 vec4s (f(0) = 0
// for every kind: zero padding stays zero).
// x, y: (n4,) vec4; the same buffer may be bound to both (in place: each element is read
// and then written by the same invocation).
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACT = 1;
layout(constant_id = 1) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(std430, binding = 0) readonly buffer X { vec4 x[]; };
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;  // grid-stride: any n4
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) y[i] = act_fwd(ACT, ACT_ALPHA, x[i]);
}
