#version 450
// Batch-norm backward, pass 2: one workgroup per channel quad sums the chunks' partials in
// a fixed order (each invocation a contiguous run, then invocation 0 over the invocations):
// dbeta = sum dy, dgamma = invstd * sum dy * (x - mean); zero in padding lanes.
// part: (chunks, 2, Q) vec4; save: (4, Q) vec4; dgamma, dbeta: (Q,) vec4.
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer Part { vec4 part[]; };
layout(std430, binding = 1) readonly buffer S { vec4 save[]; };
layout(std430, binding = 2) writeonly buffer DG { vec4 dgamma[]; };
layout(std430, binding = 3) writeonly buffer DB { vec4 dbeta[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_bwd_combine)
shared vec4 s_dy[gl_WorkGroupSize.x], s_dyx[gl_WorkGroupSize.x];
void main() {
  uint q = gl_WorkGroupID.x, t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  uint per = (chunks + wg - 1) / wg, k0 = min(chunks, t * per), k1 = min(chunks, k0 + per);
  vec4 a = vec4(0.0), b = vec4(0.0);
  for (uint k = k0; k < k1; k++) {
    a += part[(2 * k) * Q + q];
    b += part[(2 * k + 1) * Q + q];
  }
  s_dy[t] = a, s_dyx[t] = b;
  barrier();
  if (t != 0) return;
  for (uint j = 1; j < wg; j++) a += s_dy[j], b += s_dyx[j];
  bvec4 real = lessThan(uvec4(4 * q) + uvec4(0, 1, 2, 3), uvec4(C));
  dbeta[q] = mix(vec4(0.0), a, real);
  dgamma[q] = mix(vec4(0.0), b * save[Q + q], real);
}
