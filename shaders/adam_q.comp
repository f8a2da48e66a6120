#version 450
// Adam step of adam.comp for whole quads (n % 4 == 0), every array read through a texel
// buffer (on CPU drivers an SSBO load costs several texel fetches); w, m, v are written
// through storage-buffer views of the same memory (each invocation reads its quad, then
// writes it). Same arithmetic, in the same order, as adam.comp:
//   g' = g + wd*w; m = beta1*m + (1-beta1)*g'; v = beta2*v + (1-beta2)*g'*g';
//   w = w - step_size * m / (sqrt(v) / bc2_sqrt + eps); masked lanes: g', m, v, w := 0.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int HAS_MASK = 0;
layout(binding = 0) uniform samplerBuffer WT;
layout(binding = 1) uniform samplerBuffer GT;
layout(binding = 2) uniform samplerBuffer MT;
layout(binding = 3) uniform samplerBuffer VT;
layout(binding = 4) uniform samplerBuffer KT;
layout(std430, binding = 5) writeonly buffer Wb { vec4 w[]; };
layout(std430, binding = 6) writeonly buffer Mb { vec4 m[]; };
layout(std430, binding = 7) writeonly buffer Vb { vec4 v[]; };
#include "push/optim.h"
EV_PUSH_BLOCK(adam)
void main() {
  int nq = int(n / 4);
  for (int q = int(gl_GlobalInvocationID.x); q < nq; q += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    vec4 wv = texelFetch(WT, q), gv = texelFetch(GT, q), mv = texelFetch(MT, q), vv = texelFetch(VT, q);
    bvec4 keep = HAS_MASK != 0 ? greaterThan(texelFetch(KT, q), vec4(0.5)) : bvec4(true);
    gv = mix(vec4(0.0), gv + wd * wv, keep);
    mv = mix(vec4(0.0), beta1 * mv + one_minus_beta1 * gv, keep);
    vv = mix(vec4(0.0), beta2 * vv + one_minus_beta2 * gv * gv, keep);
    vec4 denom = sqrt(vv) / bc2_sqrt + eps;
    wv = mix(vec4(0.0), wv - step_size * (mv / denom), keep);
    w[q] = wv, m[q] = mv, v[q] = vv;
  }
}
