#version 450
// SGD step of sgd.comp for whole quads (n % 4 == 0), every array read through a texel
// buffer (on CPU drivers an SSBO load costs several texel fetches); w and buf are written
// through storage-buffer views of the same memory. Same arithmetic as sgd.comp:
//   g' = g + wd*w; buf = momentum*buf + g'; w = w - lr*buf; masked lanes: g', buf, w := 0.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int HAS_MASK = 0;
layout(binding = 0) uniform samplerBuffer WT;
layout(binding = 1) uniform samplerBuffer GT;
layout(binding = 2) uniform samplerBuffer BT;
layout(binding = 3) uniform samplerBuffer KT;
layout(std430, binding = 4) writeonly buffer Wb { vec4 w[]; };
layout(std430, binding = 5) writeonly buffer B { vec4 buf[]; };
#include "push/optim.h"
EV_PUSH_BLOCK(sgd)
void main() {
  int nq = int(n / 4);
  for (int q = int(gl_GlobalInvocationID.x); q < nq; q += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    vec4 wv = texelFetch(WT, q), gv = texelFetch(GT, q), bv = texelFetch(BT, q);
    bvec4 keep = HAS_MASK != 0 ? greaterThan(texelFetch(KT, q), vec4(0.5)) : bvec4(true);
    gv = mix(vec4(0.0), gv + wd * wv, keep);
    bv = mix(vec4(0.0), momentum * bv + gv, keep);
    wv = mix(vec4(0.0), wv - lr * bv, keep);
    w[q] = wv, buf[q] = bv;
  }
}
