#version 450
// dx = f'(.) dy of the activation ACT (act.glsl) from y, the forward's output (so no need to
// keep its input). y, dy, dx: (n4,) vec4 (an NHWC-C4 tensor); dx may be dy's buffer (in place).
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACT = 1;
layout(constant_id = 1) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(std430, binding = 0) readonly buffer Yb { vec4 y[]; };
layout(std430, binding = 1) readonly buffer DY { vec4 dy[]; };
layout(std430, binding = 2) writeonly buffer DX { vec4 dx[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(flat)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n4; i += stride) dx[i] = act_bwd(ACT, ACT_ALPHA, y[i], dy[i]);
}
