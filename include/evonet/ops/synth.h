/* Evolutionary synthesis on the GPU: the offspring's synapse mask from the ancestor's weights
 * (DESIGN.md "Evolutionary synthesis"; the paper's Eq. 1-4), and the counts that neuron
 * removal needs.
 *
 * A layer's weights w and masks are OHWI4 arrays (tensor.h): (O, kh, kw, I4) floats, I4 =
 * ev_c4(I); for a deconvolution O is its input and I its output channel count. A synapse is
 * an entry with i < I; entries i >= I are padding, never synapses, and every mask this file
 * writes holds 0 there. alive(s): the ancestor mask is > 0.5 at s (no mask: all alive).
 *
 * Granularity EV_SYNTH_SYNAPSE (the paper):
 *   Z = max |w(s)| over the layer's synapses (alive ones only with .z_alive_only), or a
 *       normaliser given by the caller (e.g. the whole network's: the max over layers);
 *   keep(s) = alive(s) and alpha * exp(|w(s)|/Z - 1) >= r(s),
 *   r(s) = ev_synth_uniform(seed, generation, offspring, layer, EV_RNG_SYNAPSE, index(s)).
 * Granularity EV_SYNTH_FILTER (whole output channels): filter f is o for a conv, i for a
 *   deconvolution (.transposed);
 *   S_f = sum of |w| over f's alive synapses, S_max = max_f S_f (or given);
 *   keep(s) = alive(s) and alpha * exp(S_f/S_max - 1) >= r(f), r(f) from stream
 *   EV_RNG_FILTER with index f (so it never correlates with a synapse's number).
 *
 * The budget rule (.budget = 1, a named variant, not the paper's; evolve.h says why): the
 *   normaliser pair is not read; the caller gives inv_t = 1/T and shift per layer, and
 *   keep(s) = alive(s) and min(1, exp(a*inv_t - shift)) >= r(s), with a = |w(s)| (SYNAPSE) or
 *   S_f (FILTER, whose sums ev_synth_normalizer still computes) and r as above. That is Eq. 1
 *   with Z = T and Eq. 3's factor alpha replaced by c = e^(1 - shift): the caller picks T (a
 *   temperature times the mean |w|) and shift (so that the expected kept count is a budget).
 *   The decision: y = a*inv_t - shift; keep if y >= 0, else keep iff ev_synth_exp_neg(y) >= r,
 *   an exp built from the same exact operations (Cody-Waite range reduction: k =
 *   floor(y*log2(e) + 0.5), f = y - k*ln2_hi - k*ln2_lo, the degree-8 polynomial at f, times
 *   2^k made from bits; 0 below y = -86).
 *
 * Bit-exact: the GPU (any Vulkan device) and the C reference give the same mask. The decision
 * is made of IEEE fp32 +, -, * only (Vulkan's SPIR-V precision table: correctly rounded;
 * exp, log are a few ulp and / is 2.5 ulp, so none of them is used), each a separate
 * `precise` (NoContraction: never fused into an fma) operation in GLSL and a separate
 * statement in C (no contraction, FLT_EVAL_METHOD 0), constants given as bit patterns, and no
 * denormal that could change a result (Vulkan lets devices flush them):
 *   a      = |w|, read as 0 when below 2^-126 (FLT_MIN) by integer ops on its bits;
 *   R      = ev_synth_recip(Z): 4 Newton steps y *= 2 - Z*y from a bit-trick seed, 0 when Z
 *            is outside [2^-100, 2^100] (an all-zero layer: every P = 1/e);
 *   t      = a*R - 0.5                       (exp(a/Z - 1) = e^-0.5 * exp(t); a*R can
 *            only be denormal when below 2^-126, and then t = -0.5 either way)
 *   E      = Horner(t) of exp's degree-8 Taylor polynomial (|t| <= 0.5: error < 2e-8,
 *            plus a few roundings: P' is within ~3e-7 of the true value);
 *   K      = alpha * 0.60653066f (e^-0.5 rounded to float), one float multiplication;
 *   keep   = K*E >= r                        (r exact: (u >> 8) * 2^-24).
 * S_f is a sum, so its order is part of the definition: 64 partial sums (partial t adds
 * f's synapses number t, t+64, ... in OIHW order within the filter), then a fixed binary
 * tree over the 64 (s[t] += s[t+h], h = 32, 16, ..., 1). Z and S_max are maxima: exact.
 * What this relies on: round-to-nearest-even fp32 add/mul (every GPU we know; Vulkan 1.0
 * calls the rounding mode implementation-defined, VK_KHR_shader_float_controls can demand
 * RTE) and drivers honouring NoContraction. tests/test_synth.c sets most weights on the edge
 * of its own decision, so one different rounding anywhere flips masks and fails the test.
 *
 * Typical use for one layer (per-layer Z):
 *   ev_synth_normalizer(s, &L, &P, w, anc, scratch, z, 0);   // Z (or S_f, S_max) into z[0..1]
 *   ev_synth_sample(s, &L, &P, w, anc, scratch, z, 0, child); // the offspring mask
 *   ev_synth_count(s, &L, child, counts);                     // kept synapses per o, per i
 * Network-wide Z: run ev_synth_normalizer for every layer into its own slot, submit,
 * download z, take the max of the z[2*slot] (host), write ev_synth_pair(max) into a free
 * slot (ev_buf_upload) and pass that slot to every ev_synth_sample. */
#ifndef EVONET_OPS_SYNTH_H
#define EVONET_OPS_SYNTH_H
#include <stdint.h>

#include "evonet/gpu.h"

typedef struct {
  int o, i, kh, kw; /* the weight in PyTorch order (O, I, kh, kw), > 0; O*I*kh*kw < 2^32 */
  int transposed;   /* 1: a deconvolution, whose output channels (filters) are the I axis */
  uint32_t layer;   /* the layer's number in the net: its random stream, < 2^24 */
} ev_synth_layer;

typedef enum { EV_SYNTH_SYNAPSE = 0, EV_SYNTH_FILTER = 1 } ev_synth_granularity;

typedef struct {
  uint64_t seed;
  uint32_t generation, offspring;
  float alpha;                      /* environmental factor (paper: 0.4), in [1e-30, 1e30] */
  ev_synth_granularity granularity;
  int z_alive_only;                 /* SYNAPSE: Z over the alive synapses only (default all) */
  int budget;                       /* the budget rule (see above) instead of Eq. 3 */
  float inv_t, shift;               /* budget rule: 1/T >= 0 and the shift, finite */
} ev_synth_params;

/* Filters of a layer (filter granularity, counts): O, or I when transposed. */
static inline int ev_synth_filters(const ev_synth_layer *L) { return L->transposed ? L->i : L->o; }
/* Bytes of the per-layer scratch (partial maxima, then the filter sums S_f, which must stay
 * there from ev_synth_normalizer to ev_synth_sample). */
uint64_t ev_synth_scratch_bytes(const ev_synth_layer *L);
/* Words of the counts buffer: [0] kept synapses of the layer, [1 + o] of row o (o < O),
 * [1 + O + i] of column i (i < I). For a conv row o is output channel o; for a deconv column
 * i is output channel i: a channel whose count is 0 is a dead neuron. */
static inline uint64_t ev_synth_count_words(const ev_synth_layer *L) { return 1ull + L->o + L->i; }

/* The normaliser pair {Z, ev_synth_recip(Z)} of the layer into z[2*slot], z[2*slot + 1]
 * (floats): SYNAPSE: Z = max |w| (alive only with .z_alive_only); FILTER: S_f into scratch,
 * then {S_max, recip}. anc may be NULL (all synapses alive). */
ev_status ev_synth_normalizer(ev_stream *s, const ev_synth_layer *L, const ev_synth_params *P,
                              ev_buf *w, ev_buf *anc, ev_buf *scratch, ev_buf *z, uint32_t slot);
/* The offspring mask child (OHWI4, padding 0) from w, anc (NULL: all alive) and the pair in
 * z[2*slot..]. FILTER granularity reads the S_f that ev_synth_normalizer left in scratch.
 * child must not overlap w, anc or z. */
ev_status ev_synth_sample(ev_stream *s, const ev_synth_layer *L, const ev_synth_params *P,
                          ev_buf *w, ev_buf *anc, ev_buf *scratch, ev_buf *z, uint32_t slot,
                          ev_buf *child);
/* counts (ev_synth_count_words uint32, see there) of the entries > 0.5 of an OHWI4 mask. */
ev_status ev_synth_count(ev_stream *s, const ev_synth_layer *L, ev_buf *mask, ev_buf *counts);

/* Host side of the arithmetic (the same code as shaders/include/synth_math.glsl). */
float ev_synth_recip(float z);                     /* ~1/z (deterministic; 0 out of range) */
void ev_synth_pair(float z, float pair[2]);        /* {z, ev_synth_recip(z)} */
float ev_synth_exp_poly(float t);                  /* ~exp(t), |t| <= 0.5 */
float ev_synth_keep_scale(float alpha);            /* K = alpha * e^-0.5 (float) */
/* keep iff K * exp_poly(a*R - 0.5) >= r, a = |w| flushed below FLT_MIN. */
int ev_synth_keep(float w, float recip, float k, float r);
float ev_synth_exp_neg(float y);                   /* ~exp(y), y < 0 (0 below -86) */
/* The budget rule: keep iff min(1, exp(a*inv_t - shift)) >= r, a = |w| flushed. */
int ev_synth_keep_budget(float w, float inv_t, float shift, float r);

/* C references (llm.c style loops) of the three GPU steps, arrays in the same layouts (anc
 * may be NULL). normalizer_ref: the pair (and, FILTER, sums: ev_synth_filters floats);
 * sample_ref: the offspring mask from that pair (or any other, e.g. the network's). */
void ev_synth_normalizer_ref(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                             const float *anc, float *sums, float pair_out[2]);
void ev_synth_sample_ref(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                         const float *anc, const float *sums, const float pair[2], float *child);
void ev_synth_count_ref(const ev_synth_layer *L, const float *mask, uint32_t *counts);
#endif
