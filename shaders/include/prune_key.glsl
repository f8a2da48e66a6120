// The pruning baselines' key of synapse e (OIHW number), as ops/prune.h defines it; false when
// the synapse is not alive. Needs the push constants O, I, kh, kw, I4, layer, generation,
// seed_lo, seed_hi, flags (bit 0: anc given, bit 1: random) and the buffers w, anc.
#ifndef EV_PRUNE_KEY_GLSL
#define EV_PRUNE_KEY_GLSL
const uint RNG_PRUNE = 2u;
uint prune_addr(uint e) {  // OIHW number -> OHWI4 address
  uint kx = e % kw, t = e / kw, ky = t % kh;
  t /= kh;
  uint i = t % I, o = t / I;
  return ((o * kh + ky) * kw + kx) * I4 + i;
}
bool prune_key(uint e, out uint key) {
  uint a = prune_addr(e);
  key = 0u;
  if ((flags & 1u) != 0u && !(anc[a] > 0.5)) return false;
  if ((flags & 2u) != 0u) {
    uvec4 r = philox4x32_10(uvec4(e >> 2, layer | (RNG_PRUNE << 24), generation, 0u), uvec2(seed_lo, seed_hi));
    key = r[e & 3u];
  } else {
    key = synth_abs_bits(w[a]);
  }
  return true;
}
#endif
