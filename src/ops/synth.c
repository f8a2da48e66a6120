/* Evolutionary synthesis: host dispatch of shaders synth_absmax, synth_absmax_final,
 * synth_filter_sum, synth_sample, synth_count, and the C references (see ops/synth.h for the
 * definitions and for why GPU and C agree bit for bit). */
#include "evonet/ops/synth.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "evonet/philox.h"
#include "evonet/tensor.h"
#include "push/synth.h"

/* The decision must be evaluated exactly as written: no fma contraction, no excess precision.
 * Each operation below is its own statement; x86-64 without FMA flags cannot fuse anyway. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && defined(__FP_FAST_FMAF)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD > 0
#error "synth.c needs float arithmetic evaluated in float (FLT_EVAL_METHOD 0), e.g. SSE2"
#endif

enum {
  PART_MAX = 256,     /* partial maxima of the first max pass */
  SUMS_OFFSET = 1024, /* bytes: the S_f after the partials (a multiple of any storage alignment) */
  TREE = 64,          /* the filter-sum tree width: part of the definition of S_f */
};

/* ---------------- the arithmetic, shared with shaders/include/synth_math.glsl ---------------- */
static inline float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

static inline uint32_t abs_bits(float w) {
  uint32_t b = to_bits(w) & 0x7fffffffu;
  return b < 0x00800000u ? 0u : b;
}
static inline float abs_flushed(float w) { return from_bits(abs_bits(w)); }

float ev_synth_recip(float z) {
  uint32_t b = to_bits(z);
  if (b < 0x0d800000u || b > 0x71800000u) return 0.0f; /* outside [2^-100, 2^100], NaN */
  float y = from_bits(0x7EF311C3u - b);
  for (int k = 0; k < 4; k++) {
    float e = z * y;
    e = 2.0f - e;
    y = y * e;
  }
  return y;
}

void ev_synth_pair(float z, float pair[2]) {
  pair[0] = z;
  pair[1] = ev_synth_recip(z);
}

float ev_synth_exp_poly(float t) {
  static const uint32_t c[9] = {0x3f800000u, 0x3f800000u, 0x3f000000u, 0x3e2aaaabu, 0x3d2aaaabu,
                                0x3c088889u, 0x3ab60b61u, 0x39500d01u, 0x37d00d01u};
  float p = from_bits(c[8]);
  for (int n = 7; n >= 0; n--) {
    p = p * t;
    p = p + from_bits(c[n]);
  }
  return p;
}

float ev_synth_keep_scale(float alpha) { return alpha * from_bits(0x3f1b4598u); /* e^-0.5 */ }

static int keep_abs(float a, float recip, float k, float r) {
  float t = a * recip;
  t = t - 0.5f;
  float e = ev_synth_exp_poly(t);
  float p = k * e;
  return p >= r;
}

int ev_synth_keep(float w, float recip, float k, float r) { return keep_abs(abs_flushed(w), recip, k, r); }

float ev_synth_exp_neg(float y) {
  if (!(y >= -86.0f)) return 0.0f; /* and NaN */
  float k = y * from_bits(0x3fb8aa3bu); /* log2(e) */
  k = k + 0.5f;
  k = floorf(k);                        /* exact; k in [-124, 0] */
  float h = k * from_bits(0x3f317200u); /* ln2_hi: 16 bits, so k*ln2_hi is exact */
  float l = k * from_bits(0x35bfbe8eu); /* ln2_lo */
  float f = y - h;
  f = f - l;                            /* |f| <= ~0.35 */
  float p = ev_synth_exp_poly(f);
  return p * from_bits((uint32_t)((int)k + 127) << 23); /* times 2^k: exact (normal result) */
}

static int keep_budget_abs(float a, float inv_t, float shift, float r) {
  float y = a * inv_t;
  y = y - shift;
  if (y >= 0.0f) return 1;
  return ev_synth_exp_neg(y) >= r;
}

int ev_synth_keep_budget(float w, float inv_t, float shift, float r) {
  return keep_budget_abs(abs_flushed(w), inv_t, shift, r);
}

/* ---------------- checks ---------------- */
static uint64_t weight_floats(const ev_synth_layer *L) {
  return (uint64_t)L->o * L->kh * L->kw * ev_c4(L->i);
}

static ev_status check_layer(const ev_synth_layer *L) {
  if (L->o <= 0 || L->i <= 0 || L->kh <= 0 || L->kw <= 0)
    return ev_fail(EV_ERR_ARG, "synthesis of a %dx%dx%dx%d layer: every size must be positive",
                   L->o, L->i, L->kh, L->kw);
  if (weight_floats(L) >= (1ull << 32))
    return ev_fail(EV_ERR_ARG, "synthesis of a %dx%dx%dx%d layer: more than 2^32 weights", L->o,
                   L->i, L->kh, L->kw);
  if (L->layer >= (1u << 24))
    return ev_fail(EV_ERR_ARG, "synthesis: layer number %u is not below 2^24", L->layer);
  return EV_OK;
}

static ev_status check_params(const ev_synth_params *P) {
  if (!(P->alpha >= 1e-30f && P->alpha <= 1e30f))
    return ev_fail(EV_ERR_ARG, "synthesis: alpha %g is not in [1e-30, 1e30]", (double)P->alpha);
  if (P->granularity != EV_SYNTH_SYNAPSE && P->granularity != EV_SYNTH_FILTER)
    return ev_fail(EV_ERR_ARG, "synthesis: unknown granularity %d", (int)P->granularity);
  if (P->budget && !(P->inv_t >= 0.0f && P->inv_t < 1e30f && P->shift > -1e30f && P->shift < 1e30f))
    return ev_fail(EV_ERR_ARG, "synthesis: budget rule with 1/T %g and shift %g", (double)P->inv_t, (double)P->shift);
  return EV_OK;
}

/* A storage-only view of [off, off+size) of b (off a multiple of 256: any device's alignment). */
static ev_buf slice(const ev_buf *b, uint64_t off, uint64_t size) {
  ev_buf s = *b;
  s.offset += off;
  s.size = size;
  s.texel_view = VK_NULL_HANDLE;
  return s;
}

uint64_t ev_synth_scratch_bytes(const ev_synth_layer *L) {
  return SUMS_OFFSET + 4ull * (uint64_t)(ev_synth_filters(L) > 0 ? ev_synth_filters(L) : 1);
}

static uint32_t capped_groups(ev_gpu *g, uint64_t items, uint32_t wg, uint32_t cap) {
  uint64_t n = (items + wg - 1) / wg;
  uint32_t dev = ev_gpu_caps(g)->max_workgroup_count[0];
  if (cap > dev) cap = dev;
  return n < 1 ? 1 : n > cap ? cap : (uint32_t)n; /* kernels loop over what is left */
}

/* ---------------- GPU ---------------- */
/* {max |x[e]| over e < n with e % i4 < ireal and alive(e)} -> z[2*slot], recip -> z[2*slot+1]. */
static ev_status absmax(ev_stream *s, ev_buf *x, ev_buf *mask, uint32_t n, uint32_t i4,
                        uint32_t ireal, ev_buf *scratch, ev_buf *z, uint32_t slot) {
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g), groups = capped_groups(g, n / 8 + 1, wg, PART_MAX);
  ev_push_synth_absmax pc1 = {n, i4, ireal, mask != NULL};
  ev_push_synth_absmax_final pc2 = {groups, slot};
  ev_pipeline *p1, *p2;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_absmax", .bindings = "rrw",
                                                .push_size = sizeof pc1, .local_size_x = wg}, &p1));
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_absmax_final", .bindings = "rw",
                                                .push_size = sizeof pc2, .local_size_x = 64}, &p2));
  ev_buf part = slice(scratch, 0, PART_MAX * 4);
  EV_TRY(ev_dispatch(s, p1, (uint32_t[3]){groups, 1, 1}, (ev_buf *[]){x, mask ? mask : x, &part}, &pc1));
  return ev_dispatch(s, p2, (uint32_t[3]){1, 1, 1}, (ev_buf *[]){&part, z}, &pc2);
}

static ev_status check_common(const ev_synth_layer *L, const ev_synth_params *P, ev_buf *w,
                              ev_buf *anc, ev_buf *scratch, ev_buf *z, uint32_t slot) {
  EV_TRY(check_layer(L));
  EV_TRY(check_params(P));
  uint64_t bytes = weight_floats(L) * 4;
  EV_TRY(ev_buf_check("synthesis", "the weight", w, bytes));
  if (anc) EV_TRY(ev_buf_check("synthesis", "the ancestor mask", anc, bytes));
  EV_TRY(ev_buf_check("synthesis", "the scratch", scratch, ev_synth_scratch_bytes(L)));
  EV_TRY(ev_buf_check("synthesis", "the normaliser (z) slot", z, 8ull * slot + 8));
  if (ev_buf_overlap(scratch, w) || ev_buf_overlap(scratch, anc) || ev_buf_overlap(scratch, z))
    return ev_fail(EV_ERR_ARG, "synthesis: the scratch overlaps an input");
  return EV_OK;
}

ev_status ev_synth_normalizer(ev_stream *s, const ev_synth_layer *L, const ev_synth_params *P,
                              ev_buf *w, ev_buf *anc, ev_buf *scratch, ev_buf *z, uint32_t slot) {
  EV_TRY(check_common(L, P, w, anc, scratch, z, slot));
  uint32_t i4 = (uint32_t)ev_c4(L->i), n = (uint32_t)weight_floats(L);
  if (P->granularity == EV_SYNTH_SYNAPSE)
    return absmax(s, w, P->z_alive_only ? anc : NULL, n, i4, (uint32_t)L->i, scratch, z, slot);
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t nf = (uint32_t)ev_synth_filters(L);
  ev_buf sums = slice(scratch, SUMS_OFFSET, 4ull * nf);
  ev_push_synth_filter_sum pc = {(uint32_t)L->o, (uint32_t)L->i, (uint32_t)L->kh, (uint32_t)L->kw, i4,
                                 (uint32_t)(L->transposed != 0), anc != NULL};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_filter_sum", .bindings = "rrw",
                                                .push_size = sizeof pc}, &p));
  EV_TRY(ev_dispatch(s, p, (uint32_t[3]){capped_groups(g, nf, 1, 65535), 1, 1},
                     (ev_buf *[]){w, anc ? anc : w, &sums}, &pc));
  return absmax(s, &sums, NULL, nf, 1, 1, scratch, z, slot);
}

ev_status ev_synth_sample(ev_stream *s, const ev_synth_layer *L, const ev_synth_params *P,
                          ev_buf *w, ev_buf *anc, ev_buf *scratch, ev_buf *z, uint32_t slot,
                          ev_buf *child) {
  EV_TRY(check_common(L, P, w, anc, scratch, z, slot));
  EV_TRY(ev_buf_check("synthesis", "the offspring mask", child, weight_floats(L) * 4));
  if (ev_buf_overlap(child, w) || ev_buf_overlap(child, anc) || ev_buf_overlap(child, z) || ev_buf_overlap(child, scratch))
    return ev_fail(EV_ERR_ARG, "synthesis: the offspring mask overlaps an input");
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t i4 = (uint32_t)ev_c4(L->i);
  uint64_t total = (uint64_t)L->o * L->i * L->kh * L->kw;
  uint32_t nquads = (uint32_t)((total + 3) / 4);
  uint32_t npad = (uint32_t)((uint64_t)L->o * L->kh * L->kw * (i4 - (uint32_t)L->i));
  uint32_t wg = ev_gpu_elementwise_wg(g);
  int filter = P->granularity == EV_SYNTH_FILTER, budget = P->budget != 0;
  ev_buf sums = slice(scratch, SUMS_OFFSET, 4ull * ev_synth_filters(L));
  /* kbits: K (Eq. 3) or, budget rule, 1/T; sbits: the budget rule's shift */
  ev_push_synth_sample pc = {(uint32_t)L->o, (uint32_t)L->i, (uint32_t)L->kh, (uint32_t)L->kw, i4,
                     L->layer, P->generation, P->offspring, (uint32_t)P->seed,
                     (uint32_t)(P->seed >> 32), to_bits(budget ? P->inv_t : ev_synth_keep_scale(P->alpha)),
                     (anc != NULL) | filter << 1 | (L->transposed != 0) << 2 | budget << 3, slot, nquads, npad,
                     (uint32_t)total, to_bits(budget ? P->shift : 0.0f)};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_sample", .bindings = "rrrrw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){capped_groups(g, (uint64_t)nquads + npad, wg, 65535), 1, 1},
                     (ev_buf *[]){w, anc ? anc : w, z, filter ? &sums : z, child}, &pc);
}

ev_status ev_synth_count(ev_stream *s, const ev_synth_layer *L, ev_buf *mask, ev_buf *counts) {
  EV_TRY(check_layer(L));
  EV_TRY(ev_buf_check("synthesis", "the mask", mask, weight_floats(L) * 4));
  EV_TRY(ev_buf_check("synthesis", "the counts", counts, ev_synth_count_words(L) * 4));
  if (ev_buf_overlap(mask, counts)) return ev_fail(EV_ERR_ARG, "synthesis: counts overlap the mask");
  ev_gpu *g = ev_stream_gpu(s);
  ev_push_synth_count pc = {(uint32_t)L->o, (uint32_t)L->i, (uint32_t)L->kh, (uint32_t)L->kw,
                            (uint32_t)ev_c4(L->i)};
  /* rows (per o), columns (per i), then the total from the rows */
  const uint32_t items[3] = {(uint32_t)L->o, (uint32_t)L->i, 1};
  for (uint32_t mode = 0; mode < 3; mode++) {
    ev_pipeline *p;
    EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "synth_count", .bindings = "rx",
                                                  .push_size = sizeof pc, .n_spec = 1, .spec = {mode},
                                                  .local_size_x = 64}, &p));
    EV_TRY(ev_dispatch(s, p, (uint32_t[3]){capped_groups(g, items[mode], 1, 65535), 1, 1},
                       (ev_buf *[]){mask, counts}, &pc));
  }
  return EV_OK;
}

/* ---------------- C references ---------------- */
static size_t addr(const ev_synth_layer *L, int o, int i, int ky, int kx) {
  return (((size_t)o * L->kh + ky) * L->kw + kx) * ev_c4(L->i) + i;
}
static int alive(const float *anc, size_t a) { return !anc || anc[a] > 0.5f; }

void ev_synth_normalizer_ref(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                             const float *anc, float *sums, float pair_out[2]) {
  uint32_t best = 0; /* max of |w| bits: positive floats order like their bits */
  if (P->granularity == EV_SYNTH_SYNAPSE) {
    const float *m = P->z_alive_only ? anc : NULL;
    for (int o = 0; o < L->o; o++)
      for (int ky = 0; ky < L->kh; ky++)
        for (int kx = 0; kx < L->kw; kx++)
          for (int i = 0; i < L->i; i++) {
            size_t a = addr(L, o, i, ky, kx);
            if (alive(m, a) && abs_bits(w[a]) > best) best = abs_bits(w[a]);
          }
  } else {
    int nf = ev_synth_filters(L), other = L->transposed ? L->o : L->i, khw = L->kh * L->kw;
    for (int f = 0; f < nf; f++) {
      float part[TREE]; /* partial t: the filter's synapses t, t+64, ... in OIHW order */
      for (int t = 0; t < TREE; t++) {
        float acc = 0.0f;
        for (int j = t; j < other * khw; j += TREE) {
          int u = j / khw, ky = j % khw / L->kw, kx = j % L->kw;
          size_t a = L->transposed ? addr(L, u, f, ky, kx) : addr(L, f, u, ky, kx);
          if (alive(anc, a)) acc = acc + abs_flushed(w[a]);
        }
        part[t] = acc;
      }
      for (int h = TREE / 2; h > 0; h /= 2)
        for (int t = 0; t < h; t++) part[t] = part[t] + part[t + h];
      sums[f] = part[0];
      if (abs_bits(part[0]) > best) best = abs_bits(part[0]);
    }
  }
  ev_synth_pair(from_bits(best), pair_out);
}

void ev_synth_sample_ref(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                         const float *anc, const float *sums, const float pair[2], float *child) {
  float k = ev_synth_keep_scale(P->alpha);
  for (int o = 0; o < L->o; o++)
    for (int ky = 0; ky < L->kh; ky++)
      for (int kx = 0; kx < L->kw; kx++)
        for (int i = 0; i < ev_c4(L->i); i++) {
          size_t a = addr(L, o, i, ky, kx);
          int keep = 0;
          if (i < L->i && alive(anc, a)) {
            if (P->granularity == EV_SYNTH_SYNAPSE) {
              uint32_t index = (uint32_t)((((uint64_t)o * L->i + i) * L->kh + ky) * L->kw + kx);
              float r = ev_synth_uniform(P->seed, P->generation, P->offspring, L->layer,
                                         EV_RNG_SYNAPSE, index);
              keep = P->budget ? ev_synth_keep_budget(w[a], P->inv_t, P->shift, r)
                               : ev_synth_keep(w[a], pair[1], k, r);
            } else {
              int f = L->transposed ? i : o;
              float r = ev_synth_uniform(P->seed, P->generation, P->offspring, L->layer,
                                         EV_RNG_FILTER, (uint32_t)f);
              keep = P->budget ? keep_budget_abs(sums[f], P->inv_t, P->shift, r)
                               : keep_abs(sums[f], pair[1], k, r);
            }
          }
          child[a] = keep ? 1.0f : 0.0f;
        }
}

void ev_synth_count_ref(const ev_synth_layer *L, const float *mask, uint32_t *counts) {
  memset(counts, 0, ev_synth_count_words(L) * sizeof *counts);
  for (int o = 0; o < L->o; o++)
    for (int ky = 0; ky < L->kh; ky++)
      for (int kx = 0; kx < L->kw; kx++)
        for (int i = 0; i < L->i; i++)
          if (mask[addr(L, o, i, ky, kx)] > 0.5f) counts[0]++, counts[1 + o]++, counts[1 + L->o + i]++;
}
