#version 450
// Kept synapses (mask > 0.5 on real entries) of an OHWI4 mask, as uint counts (exact in any
// order): MODE 0: counts[1 + o] per row o; MODE 1: counts[1 + O + i] per column i;
// MODE 2 (one group): counts[0] = sum of the rows.
// mask: (O, kh, kw, I4) float; counts: (1 + O + I,) uint
layout(local_size_x_id = 100) in;
layout(constant_id = 0) const uint MODE = 0;
layout(std430, binding = 0) readonly buffer M { float mask[]; };
layout(std430, binding = 1) buffer Cnt { uint counts[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_count)
shared uint total;
void main() {
  uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x, khw = kh * kw;
  uint items = MODE == 0u ? O : MODE == 1u ? I : 1u;
  for (uint it = gl_WorkGroupID.x; it < items; it += gl_NumWorkGroups.x) {  // uniform
    if (t == 0u) total = 0u;
    barrier();
    uint c = 0u;
    if (MODE == 0u) {        // row o = it: entries (ky, kx, i), i < I
      for (uint e = t; e < khw * I; e += wg)
        c += mask[(it * khw + e / I) * I4 + e % I] > 0.5 ? 1u : 0u;
    } else if (MODE == 1u) { // column i = it: entries (o, ky, kx)
      for (uint r = t; r < O * khw; r += wg) c += mask[r * I4 + it] > 0.5 ? 1u : 0u;
    } else {
      for (uint o = t; o < O; o += wg) c += counts[1u + o];
    }
    atomicAdd(total, c);
    barrier();
    if (t == 0u) counts[MODE == 0u ? 1u + it : MODE == 1u ? 1u + O + it : 0u] = total;
    barrier();
  }
}
