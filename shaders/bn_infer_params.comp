#version 450
// Batch-norm inference coefficients from the running statistics:
// save = [rmean | 1/sqrt(rvar + eps) | gamma/sqrt(rvar + eps) | beta], zero in padding lanes.
// gamma, beta, rmean, rvar: (Q,) vec4; save: (4, Q) vec4.
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer G { vec4 gamma[]; };
layout(std430, binding = 1) readonly buffer B { vec4 beta[]; };
layout(std430, binding = 2) readonly buffer RM { vec4 rmean[]; };
layout(std430, binding = 3) readonly buffer RV { vec4 rvar[]; };
layout(std430, binding = 4) writeonly buffer S { vec4 save[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_infer_params)
void main() {
  uint q = gl_GlobalInvocationID.x;
  if (q >= Q) return;
  bvec4 real = lessThan(uvec4(4 * q) + uvec4(0, 1, 2, 3), uvec4(C));
  vec4 invstd = 1.0 / sqrt(rvar[q] + eps);
  save[q] = mix(vec4(0.0), rmean[q], real);
  save[Q + q] = mix(vec4(0.0), invstd, real);
  save[2 * Q + q] = mix(vec4(0.0), gamma[q] * invstd, real);
  save[3 * Q + q] = mix(vec4(0.0), beta[q], real);
}
