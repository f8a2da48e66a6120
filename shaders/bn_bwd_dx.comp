#version 450
// Batch-norm backward, pass 3: dx = gamma*invstd * (dy - (dbeta + xhat * dgamma) / P),
// xhat = (x - mean) * invstd (zero in padding lanes, where gamma*invstd is zero).
// x, dy: (P, Q) texels, dx: (P, Q) vec4 (dx may be dy: each texel is read, then written); save: (4, Q) vec4; dgamma, dbeta: (Q,) vec4.
// Grid: x = channel quad, y = pixel (grid-stride): no integer division per element.
layout(local_size_x_id = 100, local_size_y_id = 101) in;
layout(binding = 0) uniform samplerBuffer X;  // texel reads: an SSBO load costs several
layout(binding = 1) uniform samplerBuffer DY; // on CPU drivers
layout(std430, binding = 2) readonly buffer S { vec4 save[]; };
layout(std430, binding = 3) readonly buffer DG { vec4 dgamma[]; };
layout(std430, binding = 4) readonly buffer DB { vec4 dbeta[]; };
layout(std430, binding = 5) writeonly buffer DX { vec4 dx[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_bwd_dx)
void main() {
  uint q = gl_GlobalInvocationID.x;
  if (q >= Q) return;
  vec4 mean = save[q], invstd = save[Q + q], a = save[2 * Q + q];
  vec4 db = dbeta[q] * inv_p, dg = dgamma[q] * inv_p;
  uint stride = gl_NumWorkGroups.y * gl_WorkGroupSize.y;
  for (uint p = gl_GlobalInvocationID.y; p < P; p += stride) {
    uint i = p * Q + q;
    vec4 xhat = (texelFetch(X, int(i)) - mean) * invstd;
    dx[i] = a * (texelFetch(DY, int(i)) - (db + xhat * dg));
  }
}
