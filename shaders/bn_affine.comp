#version 450
// Batch-norm normalisation: y = (x - mean) * a + b per channel, save = [mean | invstd | a | b].
// x: (P, Q) texels, y: (P, Q) vec4 (NHWC-C4; y may be x); ACT: y = act_fwd(y) (act.glsl); save: (4, Q) vec4 (zero in padding lanes, so
// y's padding lanes are zero).
layout(local_size_x_id = 100, local_size_y_id = 101) in;
layout(constant_id = 0) const int ACT = 0; // the fused activation (ev_act_kind; f(0) = 0 keeps padding zero)
layout(constant_id = 1) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(binding = 0) uniform samplerBuffer X; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) readonly buffer S { vec4 save[]; };
layout(std430, binding = 2) writeonly buffer Y { vec4 y[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_affine)
void main() {
  uint q = gl_GlobalInvocationID.x;
  if (q >= Q) return;
  vec4 m = save[q], a = save[2 * Q + q], b = save[3 * Q + q];
  uint stride = gl_NumWorkGroups.y * gl_WorkGroupSize.y;
  for (uint p = gl_GlobalInvocationID.y; p < P; p += stride) {
    vec4 v = (texelFetch(X, int(p * Q + q)) - m) * a + b;
    y[p * Q + q] = act_fwd(ACT, ACT_ALPHA, v);
  }
}
