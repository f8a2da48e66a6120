#version 450
// Distillation target: y[i] = (1 - lambda) * [mask[i] > 0.5] + lambda * teacher[i], the
// class-1 probability of a soft target (softmax_ce's TARGET_KIND 2). y may alias mask.
// mask, teacher, y: (n,) float
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer M { float mask[]; };
layout(std430, binding = 1) readonly buffer T { float teacher[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
#include "push/loss.h"
EV_PUSH_BLOCK(distill_target)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += stride)
    y[i] = (1.0 - lambda) * (mask[i] > 0.5 ? 1.0 : 0.0) + lambda * teacher[i];
}
