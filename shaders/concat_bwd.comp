#version 450
// Gradient split of a concatenation for one input: dx[p][c] = dy[p][off + c] for c < cin,
// zero in dx's padding lanes; ACC = 1 adds to dx instead of overwriting it. ACT (act.glsl,
// not none): the input was that activation's output ym; the split part goes through its
// backward before the sum, as in concat_bwd_q.
// dy: (npix, c4out) float, dx and ym: (npix, qin) vec4 with qin*4 = C4(cin).
// ALIGNED (off % 4 == 0, a specialization constant: no per-quad branch): whole vec4 loads of
// dy, the lanes past cin (the next input's channels) masked to zero.
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const int ACC = 0;
layout(constant_id = 1) const int ALIGNED = 0;
layout(constant_id = 2) const int ACT = 0;
layout(constant_id = 3) const float ACT_ALPHA = 0.0;
#include "act.glsl"
layout(std430, binding = 0) readonly buffer DY { float dy[]; };
layout(std430, binding = 0) readonly buffer DY4 { vec4 dy4[]; };  // the same buffer as vec4
layout(std430, binding = 1) buffer DX { vec4 dx[]; };
layout(std430, binding = 2) readonly buffer YMB { vec4 ym[]; };   // ACT none: unread
#include "push/eltwise.h"
EV_PUSH_BLOCK(concat_bwd)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x, total = npix * qin;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
    uint p = i / qin, q = i - p * qin;
    vec4 v = vec4(0.0);
    if (ALIGNED != 0) {
      v = dy4[(p * c4out + off) / 4 + q];
      v = mix(v, vec4(0.0), greaterThanEqual(uvec4(q * 4) + uvec4(0, 1, 2, 3), uvec4(cin)));
    } else {
      for (uint j = 0; j < 4; j++) {
        uint c = q * 4 + j;
        if (c < cin) v[j] = dy[p * c4out + off + c];
      }
    }
    if (ACT != ACT_NONE) v = act_bwd(ACT, ACT_ALPHA, ym[i], v);
    if (ACC != 0) v += dx[i];
    dx[i] = v;
  }
}
