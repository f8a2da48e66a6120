#version 450
// S_f = sum of |w| (0 below FLT_MIN) over the alive synapses of filter f (o of a conv, i of a
// deconvolution): 64 partial sums (partial t adds the filter's synapses t, t+64, ... in OIHW
// order), then a fixed binary tree. The order is part of the definition (ev_synth_normalizer_ref
// does the same), and every addition is precise, so S_f is bitwise reproducible.
// w, m: (O, kh, kw, I4) float; sums: (nf,) float, nf = transposed ? I : O
#include "synth_math.glsl"
layout(local_size_x = 64) in;  // fixed: the tree is part of the definition
layout(std430, binding = 0) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer M { float m[]; };
layout(std430, binding = 2) writeonly buffer S { float sums[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_filter_sum)
shared float part[64];
void main() {
  uint t = gl_LocalInvocationID.x, khw = kh * kw;
  uint nf = transposed != 0u ? I : O, other = transposed != 0u ? O : I;
  for (uint f = gl_WorkGroupID.x; f < nf; f += gl_NumWorkGroups.x) {  // uniform in the group
    precise float acc = 0.0;
    for (uint j = t; j < other * khw; j += 64u) {
      uint u = j / khw, ky = j % khw / kw, kx = j % kw;
      uint o = transposed != 0u ? u : f, i = transposed != 0u ? f : u;
      uint a = ((o * kh + ky) * kw + kx) * I4 + i;
      if (has_mask == 0u || m[a] > 0.5) acc = acc + synth_abs(w[a]);
    }
    part[t] = acc;
    barrier();
    for (uint h = 32u; h > 0u; h >>= 1) {
      if (t < h) {
        precise float s = part[t] + part[t + h];
        part[t] = s;
      }
      barrier();
    }
    if (t == 0u) sums[f] = part[0];
    barrier();  // part is reused by the next filter
  }
}
