#version 450
// Adam step (PyTorch semantics, L2 weight decay, bias correction from the host), fused with
// an optional synapse mask. w, g, m, v, mask: (n,) float as vec4 quads; the last partial quad
// is done lane by lane by one invocation (a divergent branch per quad costs 5x on CPU drivers).
// step_size = lr / (1 - beta1^step), bc2_sqrt = sqrt(1 - beta2^step).
//   g' = g + wd*w; m = beta1*m + (1-beta1)*g'; v = beta2*v + (1-beta2)*g'*g';
//   w = w - step_size * m / (sqrt(v) / bc2_sqrt + eps); masked lanes: g', m, v, w := 0.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int HAS_MASK = 0;
layout(std430, binding = 0) buffer Wb { vec4 w[]; };
layout(std430, binding = 1) readonly buffer G { vec4 g[]; };
layout(std430, binding = 2) buffer Mb { vec4 m[]; };
layout(std430, binding = 3) buffer Vb { vec4 v[]; };
layout(std430, binding = 4) readonly buffer K { vec4 mask[]; };
#include "push/optim.h"
EV_PUSH_BLOCK(adam)

void update(inout vec4 wv, vec4 gv, inout vec4 mv, inout vec4 vv, bvec4 keep) {
  gv = mix(vec4(0.0), gv + wd * wv, keep);
  mv = mix(vec4(0.0), beta1 * mv + one_minus_beta1 * gv, keep);
  vv = mix(vec4(0.0), beta2 * vv + one_minus_beta2 * gv * gv, keep);
  vec4 denom = sqrt(vv) / bc2_sqrt + eps;
  wv = mix(vec4(0.0), wv - step_size * (mv / denom), keep);
}

void main() {
  uint nq = n / 4, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint q = gl_GlobalInvocationID.x; q < nq; q += stride) {  // whole quads
    vec4 wv = w[q], mv = m[q], vv = v[q];
    update(wv, g[q], mv, vv, HAS_MASK != 0 ? greaterThan(mask[q], vec4(0.5)) : bvec4(true));
    w[q] = wv, m[q] = mv, v[q] = vv;
  }
  uint r = n - 4 * nq;  // the partial last quad, lane by lane, by the first invocation
  if (r != 0 && gl_GlobalInvocationID.x == 0) {
    vec4 wv = vec4(0.0), gv = vec4(0.0), mv = vec4(0.0), vv = vec4(0.0), kv = vec4(1.0);
    for (uint j = 0; j < r; j++) {
      wv[j] = w[nq][j], gv[j] = g[nq][j], mv[j] = m[nq][j], vv[j] = v[nq][j];
      if (HAS_MASK != 0) kv[j] = mask[nq][j];
    }
    update(wv, gv, mv, vv, greaterThan(kv, vec4(0.5)));
    for (uint j = 0; j < r; j++) w[nq][j] = wv[j], m[nq][j] = mv[j], v[nq][j] = vv[j];
  }
}
