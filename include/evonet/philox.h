/* Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random
 * numbers: as easy as 1, 2, 3", SC'11), the generator of Random123 and curand.
 *
 * The same function exists in GLSL (shaders/include/philox.glsl), written with 32-bit uint
 * arithmetic only (umulExtended for the high halves), so a (counter, key) pair gives the same
 * four words on every device and here. tests/test_synth.c checks the published known-answer
 * vectors and GPU == C for many counters.
 *
 * One call: 10 rounds of
 *     (hi0, lo0) = 0xD2511F53 * c0,  (hi1, lo1) = 0xCD9E8D57 * c2       (32x32 -> 64 bits)
 *     c = {hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0}
 * with the key bumped by the Weyl constants (k0 += 0x9E3779B9, k1 += 0xBB67AE85) between
 * rounds (9 bumps).
 *
 * Uniform floats: r = (u >> 8) * 2^-24, in [0, 1): the top 24 bits, exactly representable,
 * hence identical on every device (no rounding happens anywhere).
 *
 * Synthesis random numbers (DESIGN.md, Eq. 4) — the exact mapping:
 *     key     = {seed & 0xffffffff, seed >> 32}
 *     counter = {index >> 2, layer | stream << 24, generation, offspring}
 *     r       = unit(word[index & 3])
 * index is layout-free: for stream EV_RNG_SYNAPSE the PyTorch OIHW synapse index
 * ((o*I + i)*kh + ky)*kw + kx (tensor.h), so four consecutive synapses share one Philox call
 * and a mask never depends on the memory layout; for EV_RNG_FILTER the output channel
 * (the filter: o of a conv, i of a deconvolution, see synth.h). layer < 2^24, stream < 256;
 * distinct (stream, layer, generation, offspring) tuples give independent sequences. */
#ifndef EVONET_PHILOX_H
#define EVONET_PHILOX_H
#include <stdint.h>

#include "evonet/gpu.h"

#define EV_PHILOX_M0 0xD2511F53u
#define EV_PHILOX_M1 0xCD9E8D57u
#define EV_PHILOX_W0 0x9E3779B9u
#define EV_PHILOX_W1 0xBB67AE85u

enum { EV_RNG_SYNAPSE = 0, EV_RNG_FILTER = 1 }; /* streams; 2..255 free for other users */

/* out = Philox4x32-10(ctr, key). */
static inline void ev_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r > 0) k0 += EV_PHILOX_W0, k1 += EV_PHILOX_W1;
    uint64_t p0 = (uint64_t)EV_PHILOX_M0 * c0, p1 = (uint64_t)EV_PHILOX_M1 * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* [0, 1) from the top 24 bits: exact. */
static inline float ev_philox_unit(uint32_t u) { return (float)(u >> 8) * 0x1p-24f; }

/* The synthesis random number r in [0, 1) of (seed, generation, offspring, layer, stream,
 * index), exactly as above (and as synth_uniform() in philox.glsl). */
float ev_synth_uniform(uint64_t seed, uint32_t generation, uint32_t offspring, uint32_t layer,
                       uint32_t stream, uint32_t index);

/* GPU fill (tests, and anyone who wants raw bits): out[4j + l] = Philox(ctr + j, key)[l] for
 * j < n, where ctr + j adds j to ctr[0] modulo 2^32 (no carry into ctr[1]). out: 4n uint32. */
ev_status ev_philox_fill(ev_stream *s, const uint32_t key[2], const uint32_t ctr[4], uint32_t n,
                         ev_buf *out);
void ev_philox_fill_ref(const uint32_t key[2], const uint32_t ctr[4], uint32_t n, uint32_t *out);
#endif
