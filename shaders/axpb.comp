#version 450
// y[i] = A * x[i] + b: A is a specialization constant (float bits), b a push constant.
// x, y: (n,) float
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const float A = 1.0;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#include "push/basic.h"
EV_PUSH_BLOCK(axpb)
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < n) y[i] = A * x[i] + b;
}
