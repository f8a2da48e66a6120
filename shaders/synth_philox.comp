#version 450
// out[4j + l] = Philox4x32-10(ctr + j, key)[l], j < n (ctr + j: j added to ctr.x mod 2^32).
// out: (4n,) uint. Raw bits for the tests (GPU == C) and for any kernel-free use.
#include "philox.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) writeonly buffer Out { uvec4 words[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_philox)
void main() {
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint j = gl_GlobalInvocationID.x; j < n; j += stride)
    words[j] = philox4x32_10(uvec4(ctr.x + j, ctr.yzw), key);
}
