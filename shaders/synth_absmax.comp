#version 450
// First pass of a layer's Z: part[g] = max over this group's share of e < n, e % i4 < ireal
// (real synapses), alive(e) when has_mask, of |x[e]| as float bits (0 below FLT_MIN).
// A max is exact in any order, so the result is deterministic.
// x, m: (n,) float (OHWI4 weights and mask: i4 = I4, ireal = I; the S_f array: 1, 1)
// part: (gl_NumWorkGroups.x,) uint
#include "synth_math.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer M { float m[]; };
layout(std430, binding = 2) writeonly buffer Part { uint part[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_absmax)
shared uint best;
void main() {
  if (gl_LocalInvocationID.x == 0) best = 0u;
  barrier();
  uint acc = 0u, stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint e = gl_GlobalInvocationID.x; e < n; e += stride)
    if (e % i4 < ireal && (has_mask == 0u || m[e] > 0.5)) acc = max(acc, synth_abs_bits(x[e]));
  atomicMax(best, acc);
  barrier();
  if (gl_LocalInvocationID.x == 0) part[gl_WorkGroupID.x] = best;
}
