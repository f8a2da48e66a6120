#version 450
// Batch-norm statistics, pass 1: per (pixel chunk, channel quad) the chunk's mean and sum
// of squared deviations M2, two serial sweeps over the chunk (the second one hits cache).
// x: (P, Q) texels (an NHWC-C4 tensor, P = N*H*W pixels, Q = C4/4);
// part: (chunks, 2, Q) vec4 = [mean, M2] per chunk; chunk k holds pixels [k*L, min(P, k*L+L)).
layout(local_size_x_id = 100) in;
layout(binding = 0) uniform samplerBuffer X; // texel reads: an SSBO load costs several on CPU drivers
layout(std430, binding = 1) writeonly buffer Part { vec4 part[]; };
#include "push/batchnorm.h"
EV_PUSH_BLOCK(bn_reduce)
void main() {
  uint total = chunks * Q, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
    uint k = i / Q, q = i - k * Q;  // neighbours read neighbouring texels of one pixel
    uint p0 = k * L, p1 = min(P, p0 + L);
    vec4 s = vec4(0.0);
    for (uint p = p0; p < p1; p++) s += texelFetch(X, int(p * Q + q));
    vec4 mean = s / float(p1 - p0), m2 = vec4(0.0);
    for (uint p = p0; p < p1; p++) {
      vec4 d = texelFetch(X, int(p * Q + q)) - mean;
      m2 += d * d;
    }
    part[(2 * k) * Q + q] = mean;
    part[(2 * k + 1) * Q + q] = m2;
  }
}
