#version 450
// Gradient split of a concatenation for one input whose offset is a multiple of 4:
//   dx[p][q] = dy[p][off/4 + q], lanes past cin zero; ACC = 1: dx += that;
//   ACT (act.glsl, not none): the input was that activation's output ym; the split part goes
//   through its backward before the sum, dx (+)= act_bwd(ym, part) (the fused backward; with
//   ACC the earlier contents are gradients already taken through it, and by linearity the
//   sum of the parts' backwards is the backward of the sum).
// dy: (npix, qout) texels, dx: (npix, qin) vec4, ym: dx's shape (texels); DXT: dx read as
// texels (ACC). One invocation per (pixel, quad) in memory order, (p, q) from a float
// division (exact: the host keeps npix*qin < 2^21 here); no SSBO loads.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACC = 0;
layout(constant_id = 1) const int ACT = 0;
layout(constant_id = 2) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(binding = 0) uniform samplerBuffer DY;
layout(binding = 1) uniform samplerBuffer YM;
layout(binding = 2) uniform samplerBuffer DXT;
layout(std430, binding = 3) writeonly buffer DX { vec4 dx[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(concat_bwd_q)
void main() {
  float rq = 1.0 / float(qin);
  for (int i = int(gl_GlobalInvocationID.x); i < npix * qin; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int p = int((float(i) + 0.5) * rq), q = i - p * qin;
    bvec4 pad = greaterThanEqual(ivec4(q * 4) + ivec4(0, 1, 2, 3), ivec4(cin));
    vec4 v = mix(texelFetch(DY, p * qout + off4 + q), vec4(0.0), pad);
    if (ACT != ACT_NONE) v = act_bwd(ACT, ACT_ALPHA, texelFetch(YM, i), v);
    if (ACC != 0) v += texelFetch(DXT, i);
    dx[i] = v;
  }
}
