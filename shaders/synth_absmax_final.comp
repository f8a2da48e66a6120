#version 450
// Second pass: Z = max part[0:groups) (float bits), then z[2*slot] = Z, z[2*slot+1] = ~1/Z
// (synth_recip: the same operations as ev_synth_recip in C).
// part: (groups,) uint; z: pairs of floats
#include "synth_math.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer Part { uint part[]; };
layout(std430, binding = 1) writeonly buffer Z { float z[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_absmax_final)
shared uint best;
void main() {
  uint t = gl_LocalInvocationID.x, acc = 0u;
  if (t == 0) best = 0u;
  barrier();
  for (uint g = t; g < groups; g += gl_WorkGroupSize.x) acc = max(acc, part[g]);
  atomicMax(best, acc);
  barrier();
  if (t == 0) {
    float zmax = uintBitsToFloat(best);
    z[2 * slot] = zmax;
    z[2 * slot + 1] = synth_recip(zmax);
  }
}
