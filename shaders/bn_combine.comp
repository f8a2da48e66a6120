#version 450
// Batch-norm statistics, pass 2: one workgroup per channel quad q combines the chunks'
// (count, mean, M2) with Chan's rule, each invocation a contiguous run of chunks, then
// invocation 0 the invocations' results in order (fixed order: deterministic). It writes
// save = [mean | invstd | gamma*invstd | beta] and updates the running statistics.
// part: (chunks, 2, Q) vec4; gamma, beta, rmean, rvar: (Q,) vec4; save: (4, Q) vec4.
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer Part { vec4 part[]; };
layout(std430, binding = 1) readonly buffer G { vec4 gamma[]; };
layout(std430, binding = 2) readonly buffer B { vec4 beta[]; };
layout(std430, binding = 3) buffer RM { vec4 rmean[]; };
layout(std430, binding = 4) buffer RV { vec4 rvar[]; };
layout(std430, binding = 5) writeonly buffer S { vec4 save[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_combine)
shared float s_n[gl_WorkGroupSize.x];
shared vec4 s_mean[gl_WorkGroupSize.x], s_m2[gl_WorkGroupSize.x];

void chan(inout float n, inout vec4 mean, inout vec4 m2, float nb, vec4 meanb, vec4 m2b) {
  if (nb == 0.0) return;
  float nab = n + nb;
  vec4 delta = meanb - mean;
  mean += delta * (nb / nab);
  m2 += m2b + delta * delta * (n * nb / nab);
  n = nab;
}

void main() {
  uint q = gl_WorkGroupID.x, t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  uint per = (chunks + wg - 1) / wg, k0 = min(chunks, t * per), k1 = min(chunks, k0 + per);
  float n = 0.0;
  vec4 mean = vec4(0.0), m2 = vec4(0.0);
  for (uint k = k0; k < k1; k++)
    chan(n, mean, m2, float(min(P, k * L + L) - k * L), part[(2 * k) * Q + q], part[(2 * k + 1) * Q + q]);
  s_n[t] = n, s_mean[t] = mean, s_m2[t] = m2;
  barrier();
  if (t != 0) return;
  for (uint j = 1; j < wg; j++) chan(n, mean, m2, s_n[j], s_mean[j], s_m2[j]);
  bvec4 real = lessThan(uvec4(4 * q) + uvec4(0, 1, 2, 3), uvec4(C));
  vec4 invstd = 1.0 / sqrt(m2 / float(P) + eps);
  save[q] = mix(vec4(0.0), mean, real);
  save[Q + q] = mix(vec4(0.0), invstd, real);
  save[2 * Q + q] = mix(vec4(0.0), gamma[q] * invstd, real);
  save[3 * Q + q] = mix(vec4(0.0), beta[q], real);
  rmean[q] = mix(rmean[q], (1.0 - momentum) * rmean[q] + momentum * mean, real);
  rvar[q] = mix(rvar[q], (1.0 - momentum) * rvar[q] + momentum * (m2 / float(P - 1)), real);
}
