#version 450
// One input of a channel concatenation whose offsets are all multiples of 4 (the ALIGNED
// case of concat_fwd): y[p][off/4 + q] = x[p][q] for the input's quads q < qin. Only the last
// input can have padding lanes (the others have channel counts divisible by 4); its zeros
// land in y's padding.
// x: (npix, qin) texels, y: (npix, qout) vec4. One invocation per (pixel, quad) in memory
// order; (p, q) from a float division (exact: the host keeps npix*qin < 2^21 here).
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer X;
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
#include "push/eltwise.h"
EV_PUSH_BLOCK(concat_fwd_q)
void main() {
  float rq = 1.0 / float(qin);
  for (int i = int(gl_GlobalInvocationID.x); i < npix * qin; i += int(gl_NumWorkGroups.x * gl_WorkGroupSize.x)) {
    int p = int((float(i) + 0.5) * rq), q = i - p * qin;
    y[p * qout + off4 + q] = texelFetch(X, i);
  }
}
