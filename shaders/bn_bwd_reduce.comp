#version 450
// Batch-norm backward, pass 1: per (pixel chunk, channel quad) the serial sums
// sum(dy) and sum(dy * (x - mean)) over the chunk.
// x, dy: (P, Q) texels; save: (4, Q) vec4; part: (chunks, 2, Q) vec4.
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer X;  // texel reads: an SSBO load costs several
layout(binding = 1) uniform samplerBuffer DY; // on CPU drivers
layout(std430, binding = 2) readonly buffer S { vec4 save[]; };
layout(std430, binding = 3) writeonly buffer Part { vec4 part[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_reduce)
void main() {
  uint total = chunks * Q, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
    uint k = i / Q, q = i - k * Q;
    uint p0 = k * L, p1 = min(P, p0 + L);
    vec4 mean = save[q], sdy = vec4(0.0), sdyx = vec4(0.0);
    for (uint p = p0; p < p1; p++) {
      vec4 g = texelFetch(DY, int(p * Q + q));
      sdy += g;
      sdyx += g * (texelFetch(X, int(p * Q + q)) - mean);
    }
    part[(2 * k) * Q + q] = sdy;
    part[(2 * k + 1) * Q + q] = sdyx;
  }
}
