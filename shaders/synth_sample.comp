#version 450
// The offspring mask (paper Eq. 4): child = 1 where the synapse is alive in the ancestor and
// K * exp_poly(a*R - 0.5) >= r (or, budget rule, min(1, exp(a/T - shift)) >= r: synth_math.glsl),
// else 0; 0 on padding entries (i >= I).
// Work items: q < nquads is the OIHW quad 4q..4q+3 (one Philox call gives its 4 numbers),
// then npad padding entries. FILTER: a = S_f, r = r(f) from stream RNG_FILTER.
// w, anc, child: (O, kh, kw, I4) float; z: pairs {Z, R} (slot); sums: (nf,) float (FILTER)
#include "philox.glsl"
#include "synth_math.glsl"
layout(local_size_x_id = 100) in;
layout(std430, binding = 0) readonly buffer W { float w[]; };
layout(std430, binding = 1) readonly buffer A { float anc[]; };
layout(std430, binding = 2) readonly buffer Z { float z[]; };
layout(std430, binding = 3) readonly buffer S { float sums[]; };
layout(std430, binding = 4) writeonly buffer C { float child[]; };
#include "push/synth.h"
EV_PUSH_BLOCK(synth_sample)
void main() {
  bool has_mask = (flags & 1u) != 0u, by_filter = (flags & 2u) != 0u, transposed = (flags & 4u) != 0u;
  bool budget = (flags & 8u) != 0u;  // the budget rule: kbits = 1/T, sbits = shift (synth.h)
  float R = budget ? 0.0 : z[2 * slot + 1], K = uintBitsToFloat(kbits), S = uintBitsToFloat(sbits);
  uvec2 key = uvec2(seed_lo, seed_hi);
  uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
  for (uint q = gl_GlobalInvocationID.x; q < nquads + npad; q += stride) {
    if (q >= nquads) {  // a padding entry: never a synapse
      uint p = q - nquads, pads = I4 - I;
      child[(p / pads) * I4 + I + p % pads] = 0.0;
      continue;
    }
    uvec4 rw = by_filter ? uvec4(0u)
                         : philox4x32_10(uvec4(q, layer | (RNG_SYNAPSE << 24), generation, offspring), key);
    uint fprev = 0xffffffffu;  // FILTER: the quad's lanes mostly share one filter: one draw
    float rf = 0.0;
    uint idx = 4u * q, kx = idx % kw, t = idx / kw, ky = t % kh;  // decode once, then step
    t /= kh;
    uint i = t % I, o = t / I;
    for (uint l = 0u; l < 4u; l++, idx++) {
      if (idx >= total) break;
      if (l > 0u && ++kx == kw) {
        kx = 0u;
        if (++ky == kh) {
          ky = 0u;
          if (++i == I) { i = 0u; o++; }
        }
      }
      uint a = ((o * kh + ky) * kw + kx) * I4 + i;
      bool keep = false;
      if (!has_mask || anc[a] > 0.5) {
        if (by_filter) {
          uint f = transposed ? i : o;
          if (f != fprev) rf = synth_uniform(key, generation, offspring, layer, RNG_FILTER, f);
          fprev = f;
          keep = budget ? synth_keep_budget(sums[f], K, S, rf) : synth_keep(sums[f], R, K, rf);
        } else {
          float r = philox_unit(rw[l]), aw = synth_abs(w[a]);
          keep = budget ? synth_keep_budget(aw, K, S, r) : synth_keep(aw, R, K, r);
        }
      }
      child[a] = keep ? 1.0 : 0.0;
    }
  }
}
