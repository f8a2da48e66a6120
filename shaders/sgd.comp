#version 450
// SGD step with momentum and L2 weight decay, fused with an optional synapse mask.
// w, g, buf, mask: (n,) float viewed as vec4 quads; the last, partial quad is done lane by
// lane by one invocation, so any n works without reading past the arrays (a divergent
// branch in every quad's path costs 5x on CPU drivers).
//   g' = g + wd*w; buf = momentum*buf + g'; w = w - lr*buf; masked lanes: g', buf, w := 0.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int HAS_MASK = 0;
layout(std430, binding = 0) buffer Wb { vec4 w[]; };
layout(std430, binding = 1) readonly buffer G { vec4 g[]; };
layout(std430, binding = 2) buffer B { vec4 buf[]; };
layout(std430, binding = 3) readonly buffer M { vec4 mask[]; };
#include "push/optim.h"
EV_PUSH_BLOCK(sgd)

void update(inout vec4 wv, vec4 gv, inout vec4 bv, bvec4 keep) {
  gv = mix(vec4(0.0), gv + wd * wv, keep);  // select: Inf/NaN gradients cannot leak into a removed synapse
  bv = mix(vec4(0.0), momentum * bv + gv, keep);
  wv = mix(vec4(0.0), wv - lr * bv, keep);
}

void main() {
  uint nq = n / 4, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint q = gl_GlobalInvocationID.x; q < nq; q += stride) {  // whole quads
    vec4 wv = w[q], bv = buf[q];
    update(wv, g[q], bv, HAS_MASK != 0 ? greaterThan(mask[q], vec4(0.5)) : bvec4(true));
    w[q] = wv, buf[q] = bv;
  }
  uint r = n - 4 * nq;  // the partial last quad, lane by lane, by the first invocation
  if (r != 0 && gl_GlobalInvocationID.x == 0) {
    vec4 wv = vec4(0.0), gv = vec4(0.0), bv = vec4(0.0), mv = vec4(1.0);
    for (uint j = 0; j < r; j++) {
      wv[j] = w[nq][j], gv[j] = g[nq][j], bv[j] = buf[nq][j];
      if (HAS_MASK != 0) mv[j] = mask[nq][j];
    }
    update(wv, gv, bv, greaterThan(mv, vec4(0.5)));
    for (uint j = 0; j < r; j++) w[nq][j] = wv[j], buf[nq][j] = bv[j];
  }
}
