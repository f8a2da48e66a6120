// Philox4x32-10, bit for bit the C version in include/evonet/philox.h (read the mapping of
// the synthesis streams there). 32-bit uint arithmetic only: umulExtended gives the exact
// 64-bit product, so every device computes the same words.
#ifndef EV_PHILOX_GLSL
#define EV_PHILOX_GLSL

const uint PHILOX_M0 = 0xD2511F53u, PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u, PHILOX_W1 = 0xBB67AE85u;
const uint RNG_SYNAPSE = 0u, RNG_FILTER = 1u;

uvec4 philox4x32_10(uvec4 c, uvec2 k) {
  for (int r = 0; r < 10; r++) {
    if (r > 0) k += uvec2(PHILOX_W0, PHILOX_W1);
    uint hi0, lo0, hi1, lo1;
    umulExtended(PHILOX_M0, c.x, hi0, lo0);
    umulExtended(PHILOX_M1, c.z, hi1, lo1);
    c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// [0, 1) from the top 24 bits: an exact conversion times a power of two, so no rounding.
float philox_unit(uint u) { return float(u >> 8) * (1.0 / 16777216.0); }

// key = (seed_lo, seed_hi); counter = (index >> 2, layer | stream << 24, generation, offspring);
// the word of lane index & 3.
float synth_uniform(uvec2 key, uint generation, uint offspring, uint layer, uint stream, uint index) {
  uvec4 w = philox4x32_10(uvec4(index >> 2, layer | (stream << 24), generation, offspring), key);
  return philox_unit(w[index & 3u]);
}
#endif
