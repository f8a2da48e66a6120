/* Philox4x32-10 (known answers, GPU == C) and evolutionary synthesis: the GPU's normaliser,
 * offspring mask and counts equal the C reference bit for bit on odd layers (I = 13 padded
 * to 16, 5x5, a deconvolution, I = 1), both granularities, with and without an ancestor mask;
 * seeds reproduce, offspring differ, and the kept fraction follows E[alpha exp(|w|/Z - 1)]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/ops/synth.h"
#include "evonet/philox.h"
#include "evonet/tensor.h"
#include "testutil.h"

/* ---------------- Philox ---------------- */
static void test_philox_known_answers(void **state) {
  /* Random123 kat_vectors, philox4x32_10 */
  static const uint32_t kat[3][10] = {
      {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
      {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
       0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
      {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
       0x94fdcceb, 0x5001e420, 0x24126ea1}};
  ev_gpu *g = tu_gpu();
  ev_buf out;
  TU_OK(ev_buf_alloc(g, 16, &out));
  for (int k = 0; k < 3; k++) {
    uint32_t c[4];
    ev_philox4x32_10(kat[k], kat[k] + 4, c);
    assert_memory_equal(c, kat[k] + 6, 16);
    tu_poison(&out);
    ev_stream *s;
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_philox_fill(s, kat[k] + 4, kat[k], 1, &out));
    TU_OK(ev_stream_submit(s));
    TU_OK(ev_buf_download(g, &out, 0, c, 16));
    assert_memory_equal(c, kat[k] + 6, 16);
  }
  ev_buf_free(g, &out);
  /* the synthesis mapping, as philox.h spells it */
  uint32_t key[2] = {0x89abcdefu, 0x01234567u}, ctr[4] = {1000 >> 2, 5 | 1u << 24, 3, 2}, w[4];
  ev_philox4x32_10(ctr, key, w);
  assert_true(ev_synth_uniform(0x0123456789abcdefull, 3, 2, 5, EV_RNG_FILTER, 1000 + 2) ==
              (float)(w[2] >> 8) / 16777216.0f);
  tu_gpu_assert_clean();
}

static void test_philox_gpu_equals_c(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t rng = tu_seed() ^ 0x9111;
  enum { N = 100003 };
  uint32_t key[2] = {(uint32_t)tu_next(&rng), (uint32_t)tu_next(&rng)};
  uint32_t ctr[4] = {0xffffffffu - 5000u, (uint32_t)tu_next(&rng), (uint32_t)tu_next(&rng), 7};
  uint32_t *a = malloc(N * 16), *b = malloc(N * 16);
  ev_buf out;
  TU_OK(ev_buf_alloc(g, N * 16ull, &out));
  tu_poison(&out);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_philox_fill(s, key, ctr, N, &out));
  TU_OK(ev_stream_submit(s));
  TU_OK(ev_buf_download(g, &out, 0, a, N * 16ull));
  ev_philox_fill_ref(key, ctr, N, b);
  assert_memory_equal(a, b, N * 16ull);
  /* the words look uniform: mean of the unit floats within 5 sigma of 1/2 */
  double m = 0;
  for (size_t j = 0; j < 4ull * N; j++) m += ev_philox_unit(a[j]);
  m /= 4.0 * N;
  assert_true(fabs(m - 0.5) < 5 * sqrt(1.0 / 12 / (4.0 * N)));
  ev_buf_free(g, &out);
  free(a), free(b);
  tu_gpu_assert_clean();
}

/* ---------------- the arithmetic ---------------- */
static void test_arithmetic(void **state) {
  for (int k = -1000; k <= 1000; k++) { /* the polynomial is exp to a few float ulps */
    float t = 0.5f * (float)k / 1000;
    assert_true(fabs(ev_synth_exp_poly(t) / exp((double)t) - 1) < 3e-7);
  }
  uint64_t rng = tu_seed() ^ 0x4242;
  for (int k = 0; k < 100000; k++) {
    float z = ldexpf(tu_uniform(&rng, 1, 2), (int)(tu_next(&rng) % 200) - 100);
    assert_true(fabs((double)ev_synth_recip(z) * z - 1) < 2.5e-7);
  }
  assert_true(ev_synth_recip(0.0f) == 0.0f && ev_synth_recip(0x1p-101f) == 0.0f);
  assert_true(ev_synth_recip(0x1p101f) == 0.0f && ev_synth_recip(NAN) == 0.0f);
  assert_true(ev_synth_recip(-1.0f) == 0.0f && ev_synth_recip(INFINITY) == 0.0f);
  /* the decision: P' = alpha exp(|w|/Z - 1) against r, with the ends of the range */
  float k = ev_synth_keep_scale(0.4f);
  assert_true(ev_synth_keep(1.0f, 1.0f, k, 0.3999f) && !ev_synth_keep(1.0f, 1.0f, k, 0.4001f));
  assert_true(ev_synth_keep(0.0f, 1.0f, k, 0.147f) && !ev_synth_keep(0.0f, 1.0f, k, 0.1475f));
  assert_true(ev_synth_keep(1e-40f, 1.0f, k, 0.0f)); /* a denormal is |w| = 0, and r = 0 keeps */
}

/* ---------------- synthesis: GPU vs C reference ---------------- */
static const ev_synth_layer LAYERS[] = {
    {.o = 7, .i = 13, .kh = 3, .kw = 3, .layer = 3},                    /* I = 13 -> 16 */
    {.o = 6, .i = 5, .kh = 5, .kw = 5, .layer = 0},                     /* 5x5 */
    {.o = 9, .i = 3, .kh = 4, .kw = 4, .transposed = 1, .layer = 11},   /* deconv 9 -> 3 */
    {.o = 70, .i = 37, .kh = 3, .kw = 3, .layer = 5},                   /* many partials */
    {.o = 130, .i = 1, .kh = 1, .kw = 1, .layer = 1u << 23},            /* I = 1 */
};

static size_t nfloats(const ev_synth_layer *L) { return (size_t)L->o * L->kh * L->kw * ev_c4(L->i); }

/* Random weights on a random scale (some exact zeros and denormals), padding included: the
 * kernels must ignore padding whatever it holds. anc: ~70% alive (or NULL). */
static void random_layer(const ev_synth_layer *L, uint64_t *rng, float *w, float *anc) {
  float scale = ldexpf(1.0f, (int)(tu_next(rng) % 12) - 8);
  for (size_t e = 0; e < nfloats(L); e++) {
    w[e] = tu_uniform(rng, -scale, scale);
    if (tu_next(rng) % 50 == 0) w[e] = 0.0f;
    if (tu_next(rng) % 50 == 0) w[e] = 1e-40f;
    if (anc) anc[e] = tu_next(rng) % 10 < 7 ? 1.0f : 0.0f;
  }
}

typedef struct {
  float pair[2];
  float *sums, *child;
  uint32_t *counts;
} result;

static void result_alloc(const ev_synth_layer *L, result *r) {
  r->sums = malloc(sizeof(float) * ev_synth_filters(L));
  r->child = malloc(sizeof(float) * nfloats(L));
  r->counts = malloc(sizeof(uint32_t) * ev_synth_count_words(L));
}
static void result_free(result *r) { free(r->sums), free(r->child), free(r->counts); }

/* GPU: normaliser into slot 1 (or the given pair, uploaded into slot 2), sample, count. */
static void run_gpu(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                    const float *anc, const float *given, result *r) {
  ev_gpu *g = tu_gpu();
  size_t n = nfloats(L);
  ev_buf wb = tu_upload(w, n), ab = {0}, scratch, z, child, counts;
  if (anc) ab = tu_upload(anc, n);
  TU_OK(ev_buf_alloc(g, ev_synth_scratch_bytes(L), &scratch));
  TU_OK(ev_buf_alloc(g, 64, &z));
  TU_OK(ev_buf_alloc(g, n * 4, &child));
  TU_OK(ev_buf_alloc(g, ev_synth_count_words(L) * 4, &counts));
  tu_poison(&scratch), tu_poison(&z), tu_poison(&child), tu_poison(&counts);
  uint32_t slot = 1;
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_synth_normalizer(s, L, P, &wb, anc ? &ab : NULL, &scratch, &z, slot));
  if (given) {
    TU_OK(ev_stream_submit(s));
    slot = 2;
    TU_OK(ev_buf_upload(g, &z, 8 * slot, given, 8));
    TU_OK(ev_stream_begin(g, &s));
  }
  TU_OK(ev_synth_sample(s, L, P, &wb, anc ? &ab : NULL, &scratch, &z, slot, &child));
  TU_OK(ev_synth_count(s, L, &child, &counts));
  TU_OK(ev_stream_submit(s));
  TU_OK(ev_buf_download(g, &z, 8 * slot, r->pair, 8));
  if (P->granularity == EV_SYNTH_FILTER)
    TU_OK(ev_buf_download(g, &scratch, 1024, r->sums, 4ull * ev_synth_filters(L)));
  TU_OK(ev_buf_download(g, &child, 0, r->child, n * 4));
  TU_OK(ev_buf_download(g, &counts, 0, r->counts, ev_synth_count_words(L) * 4));
  ev_buf_free(g, &wb), ev_buf_free(g, &ab), ev_buf_free(g, &scratch), ev_buf_free(g, &z);
  ev_buf_free(g, &child), ev_buf_free(g, &counts);
}

static void run_ref(const ev_synth_layer *L, const ev_synth_params *P, const float *w,
                    const float *anc, const float *given, result *r) {
  ev_synth_normalizer_ref(L, P, w, anc, r->sums, r->pair);
  if (given) memcpy(r->pair, given, 8);
  ev_synth_sample_ref(L, P, w, anc, r->sums, r->pair, r->child);
  ev_synth_count_ref(L, r->child, r->counts);
}

static void assert_same(const ev_synth_layer *L, const ev_synth_params *P, const float *anc,
                        const result *gpu, const result *ref) {
  assert_memory_equal(gpu->pair, ref->pair, 8);
  if (P->granularity == EV_SYNTH_FILTER)
    assert_memory_equal(gpu->sums, ref->sums, 4ull * ev_synth_filters(L));
  for (size_t e = 0; e < nfloats(L); e++) {
    if (memcmp(&gpu->child[e], &ref->child[e], 4))
      fail_msg("layer %dx%dx%dx%d: mask entry %zu: GPU %g, C %g", L->o, L->i, L->kh, L->kw, e,
               (double)gpu->child[e], (double)ref->child[e]);
    assert_true(ref->child[e] == 0.0f || ref->child[e] == 1.0f);
    if (e % ev_c4(L->i) >= (size_t)L->i || (anc && anc[e] == 0.0f)) assert_true(ref->child[e] == 0.0f);
  }
  assert_memory_equal(gpu->counts, ref->counts, ev_synth_count_words(L) * 4);
  uint64_t rows = 0, cols = 0;
  for (int o = 0; o < L->o; o++) rows += ref->counts[1 + o];
  for (int i = 0; i < L->i; i++) cols += ref->counts[1 + L->o + i];
  assert_true(rows == ref->counts[0] && cols == ref->counts[0]);
}

static void test_synth_gpu_equals_c(void **state) {
  uint64_t rng = tu_seed() ^ 0x5151;
  for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++) {
    const ev_synth_layer *L = &LAYERS[l];
    size_t n = nfloats(L);
    float *w = malloc(n * 4), *anc = malloc(n * 4);
    random_layer(L, &rng, w, anc);
    for (int c = 0; c < 5; c++) {
      ev_synth_params P = {.seed = tu_next(&rng), .generation = 1 + c, .offspring = c,
                           .alpha = c == 3 ? 0.9f : 0.4f,
                           .granularity = c >= 3 ? EV_SYNTH_FILTER : EV_SYNTH_SYNAPSE,
                           .z_alive_only = c == 2};
      const float *m = c == 0 || c == 4 ? NULL : anc;
      result gpu, ref;
      result_alloc(L, &gpu), result_alloc(L, &ref);
      run_gpu(L, &P, w, m, NULL, &gpu);
      run_ref(L, &P, w, m, NULL, &ref);
      assert_same(L, &P, m, &gpu, &ref);
      assert_true(ref.counts[0] > 0 || ev_synth_filters(L) < 10);
      result_free(&gpu), result_free(&ref);
    }
    free(w), free(anc);
  }
  tu_gpu_assert_clean();
}

/* Network-wide Z: the max over the layers' pairs, given to one layer's sampling. */
static void test_network_z(void **state) {
  uint64_t rng = tu_seed() ^ 0x7272;
  const ev_synth_layer *A = &LAYERS[0], *B = &LAYERS[3];
  float *wa = malloc(nfloats(A) * 4), *wb = malloc(nfloats(B) * 4);
  random_layer(A, &rng, wa, NULL);
  random_layer(B, &rng, wb, NULL);
  ev_synth_params P = {.seed = tu_next(&rng), .generation = 2, .alpha = 0.4f};
  result ra, rb, gpu;
  result_alloc(A, &ra), result_alloc(B, &rb), result_alloc(A, &gpu);
  run_ref(A, &P, wa, NULL, NULL, &ra);
  run_ref(B, &P, wb, NULL, NULL, &rb);
  float net[2];
  ev_synth_pair(fmaxf(ra.pair[0], rb.pair[0]), net);
  run_ref(A, &P, wa, NULL, net, &ra);
  run_gpu(A, &P, wa, NULL, net, &gpu);
  assert_same(A, &P, NULL, &gpu, &ra);
  result_free(&ra), result_free(&rb), result_free(&gpu);
  free(wa), free(wb);
  tu_gpu_assert_clean();
}

/* A decision of a weight against its r: Eq. 3 ({R, K}) or the budget rule ({1/T, shift}). */
typedef struct {
  int budget;
  float x, y;
} rule;
static int keeps(const rule *q, float w, float r) {
  return q->budget ? ev_synth_keep_budget(w, q->x, q->y, r) : ev_synth_keep(w, q->x, q->y, r);
}

/* A weight on the edge of its own decision (keep(0) false and keep(top) true): the largest
 * |w| bit pattern not kept or the smallest kept, either sign, by bisection over the bits. */
static float edge_weight(const rule *q, float r, uint32_t top, uint64_t *rng) {
  uint32_t lo = 0, hi = top;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    float f;
    memcpy(&f, &mid, 4);
    if (keeps(q, f, r)) hi = mid;
    else lo = mid;
  }
  uint32_t b = (tu_next(rng) & 1 ? hi : lo) | (tu_next(rng) & 1 ? 0x80000000u : 0);
  float w;
  memcpy(&w, &b, 4);
  return w;
}

/* Every weight set on the edge of its own decision (the largest |w| not kept or the smallest
 * kept, from a bisection over float bit patterns with the C arithmetic): one rounding
 * different anywhere on the GPU (an fma, another exp) would flip about half of them. */
static void test_near_threshold(void **state) {
  uint64_t rng = tu_seed() ^ 0x8888;
  ev_synth_layer L = {.o = 16, .i = 16, .kh = 3, .kw = 3, .layer = 9};
  ev_synth_params P = {.seed = tu_next(&rng), .generation = 3, .offspring = 5, .alpha = 0.9f};
  size_t n = nfloats(&L), edge = 0;
  float *w = malloc(n * 4), k = ev_synth_keep_scale(P.alpha), R = ev_synth_recip(1.0f);
  for (int o = 0; o < L.o; o++)
    for (int i = 0; i < L.i; i++)
      for (int ky = 0; ky < L.kh; ky++)
        for (int kx = 0; kx < L.kw; kx++) {
          uint32_t idx = (uint32_t)(((o * L.i + i) * L.kh + ky) * L.kw + kx);
          size_t a = (((size_t)o * L.kh + ky) * L.kw + kx) * ev_c4(L.i) + i;
          float r = ev_synth_uniform(P.seed, P.generation, P.offspring, L.layer, EV_RNG_SYNAPSE, idx);
          w[a] = tu_uniform(&rng, -1, 1);
          if (idx == 0) w[a] = 1.0f; /* Z = 1 */
          else if (!ev_synth_keep(0.0f, R, k, r) && ev_synth_keep(1.0f, R, k, r)) {
            w[a] = edge_weight(&(rule){0, R, k}, r, 0x3f800000u, &rng);
            edge++;
          }
        }
  assert_true(edge > n / 3);
  result gpu, ref;
  result_alloc(&L, &gpu), result_alloc(&L, &ref);
  run_gpu(&L, &P, w, NULL, NULL, &gpu);
  run_ref(&L, &P, w, NULL, NULL, &ref);
  assert_true(ref.pair[0] == 1.0f && ref.pair[1] == R);
  assert_same(&L, &P, NULL, &gpu, &ref);
  result_free(&gpu), result_free(&ref);
  free(w);
  tu_gpu_assert_clean();
}

/* Same seed: same mask; another offspring, generation or layer: another mask. */
static void test_seeds(void **state) {
  uint64_t rng = tu_seed() ^ 0x3333;
  ev_synth_layer L = LAYERS[3];
  size_t n = nfloats(&L);
  float *w = malloc(n * 4);
  random_layer(&L, &rng, w, NULL);
  ev_synth_params P = {.seed = tu_next(&rng), .generation = 4, .offspring = 1, .alpha = 0.4f};
  result a, b;
  result_alloc(&L, &a), result_alloc(&L, &b);
  run_gpu(&L, &P, w, NULL, NULL, &a);
  run_gpu(&L, &P, w, NULL, NULL, &b);
  assert_memory_equal(a.child, b.child, n * 4);
  for (int k = 0; k < 4; k++) {
    ev_synth_params Q = P;
    ev_synth_layer M = L;
    if (k == 0) Q.offspring++;
    if (k == 1) Q.generation++;
    if (k == 2) Q.seed ^= 1ull << 40;
    if (k == 3) M.layer++;
    run_gpu(&M, &Q, w, NULL, NULL, &b);
    size_t diff = 0;
    for (size_t e = 0; e < n; e++) diff += a.child[e] != b.child[e];
    /* independent masks with ~25% kept differ in ~38% of the synapses */
    assert_true(diff > n / 5);
  }
  result_free(&a), result_free(&b);
  free(w);
  tu_gpu_assert_clean();
}

/* The kept fraction is near E[alpha exp(|w|/Z - 1)] (a loose, 6-sigma check). */
static void test_kept_fraction(void **state) {
  uint64_t rng = tu_seed() ^ 0x6464;
  ev_synth_layer L = {.o = 64, .i = 64, .kh = 3, .kw = 3, .layer = 2};
  size_t n = nfloats(&L), syn = (size_t)L.o * L.i * L.kh * L.kw;
  float *w = malloc(n * 4);
  for (size_t e = 0; e < n; e++) w[e] = tu_uniform(&rng, -0.05f, 0.05f);
  ev_synth_params P = {.seed = tu_next(&rng), .generation = 1, .alpha = 0.4f};
  result r;
  result_alloc(&L, &r);
  run_gpu(&L, &P, w, NULL, NULL, &r);
  double z = 0, mean = 0, var = 0;
  for (size_t e = 0; e < n; e++) z = fmax(z, fabs(w[e]));
  for (size_t e = 0; e < n; e++) {
    double p = 0.4 * exp(fabs(w[e]) / z - 1);
    mean += p, var += p * (1 - p);
  }
  double kept = (double)r.counts[0] / syn, want = mean / syn, sd = sqrt(var) / syn;
  fprintf(stderr, "[ kept %.4f, expected %.4f +- %.4f ]\n", kept, want, sd);
  assert_true(fabs(kept - want) < 6 * sd);
  assert_true(fabs(want - 0.4 * (1 - exp(-1.0))) < 0.01); /* |w|/Z uniform: 0.4 (1 - 1/e) */
  result_free(&r);
  free(w);
  tu_gpu_assert_clean();
}

/* ---------------- the budget rule (a named variant: evolve.h) ---------------- */
static void test_budget_arithmetic(void **state) {
  for (int k = 1; k <= 200000; k++) { /* exp to a few float ulps over [-86, 0) */
    float y = -86.0f * (float)k / 200000;
    double e = ev_synth_exp_neg(y) / exp((double)y) - 1;
    if (fabs(e) > 1e-6) fail_msg("exp_neg(%g): relative error %g", (double)y, e);
  }
  assert_true(ev_synth_exp_neg(-86.5f) == 0.0f && ev_synth_exp_neg(NAN) == 0.0f);
  /* keep iff min(1, exp(|w|/T - shift)) >= r */
  assert_true(ev_synth_keep_budget(2.0f, 1.0f, 2.0f, 0.99999994f)); /* y = 0: always */
  assert_true(ev_synth_keep_budget(-0.5f, 1.0f, 1.0f, 0.6064f) && !ev_synth_keep_budget(0.5f, 1.0f, 1.0f, 0.6066f));
  assert_true(ev_synth_keep_budget(1e-40f, 4.0f, 100.0f, 0.0f) && !ev_synth_keep_budget(1e-40f, 4.0f, 100.0f, 0x1p-24f));
}

/* GPU == C on the odd layers, both granularities, with and without an ancestor mask, with
 * 1/T and shift set so that about a third is kept; then with every weight on the edge of its
 * own decision (as test_near_threshold does for Eq. 3). */
static void test_budget_gpu_equals_c(void **state) {
  uint64_t rng = tu_seed() ^ 0xb0d9;
  for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++) {
    const ev_synth_layer *L = &LAYERS[l];
    size_t n = nfloats(L);
    float *w = malloc(n * 4), *anc = malloc(n * 4);
    random_layer(L, &rng, w, anc);
    double mean = 0;
    for (size_t e = 0; e < n; e++) mean += fabs(w[e]) / n;
    for (int c = 0; c < 4; c++) {
      int filter = c >= 2;
      ev_synth_params P = {.seed = tu_next(&rng), .generation = 2 + c, .offspring = c, .alpha = 0.4f,
                           .granularity = filter ? EV_SYNTH_FILTER : EV_SYNTH_SYNAPSE, .budget = 1};
      double unit = filter ? mean * L->kh * L->kw * (L->transposed ? L->o : L->i) : mean;
      P.inv_t = (float)(1.0 / (tu_uniform(&rng, 0.3f, 2.0f) * unit));
      P.shift = tu_uniform(&rng, 1.0f, 2.5f);
      const float *m = c % 2 ? anc : NULL;
      result gpu, ref;
      result_alloc(L, &gpu), result_alloc(L, &ref);
      run_gpu(L, &P, w, m, NULL, &gpu);
      run_ref(L, &P, w, m, NULL, &ref);
      assert_same(L, &P, m, &gpu, &ref);
      result_free(&gpu), result_free(&ref);
    }
    free(w), free(anc);
  }
  ev_synth_layer L = {.o = 16, .i = 16, .kh = 3, .kw = 3, .layer = 4};
  ev_synth_params P = {.seed = tu_next(&rng), .generation = 2, .offspring = 1, .alpha = 0.4f, .budget = 1,
                       .inv_t = 37.5f, .shift = 40.0f};
  size_t n = nfloats(&L), edge = 0;
  float *w = malloc(n * 4);
  for (int o = 0; o < L.o; o++)
    for (int i = 0; i < L.i; i++)
      for (int ky = 0; ky < L.kh; ky++)
        for (int kx = 0; kx < L.kw; kx++) {
          uint32_t idx = (uint32_t)(((o * L.i + i) * L.kh + ky) * L.kw + kx);
          size_t a = (((size_t)o * L.kh + ky) * L.kw + kx) * ev_c4(L.i) + i;
          float r = ev_synth_uniform(P.seed, P.generation, P.offspring, L.layer, EV_RNG_SYNAPSE, idx);
          w[a] = tu_uniform(&rng, -1, 1);
          if (ev_synth_keep_budget(0.0f, P.inv_t, P.shift, r) || !ev_synth_keep_budget(2.0f, P.inv_t, P.shift, r)) continue;
          w[a] = edge_weight(&(rule){1, P.inv_t, P.shift}, r, 0x40000000u, &rng);
          edge++;
        }
  assert_true(edge > n / 3);
  result gpu, ref;
  result_alloc(&L, &gpu), result_alloc(&L, &ref);
  run_gpu(&L, &P, w, NULL, NULL, &gpu);
  run_ref(&L, &P, w, NULL, NULL, &ref);
  assert_same(&L, &P, NULL, &gpu, &ref);
  result_free(&gpu), result_free(&ref);
  free(w);
  tu_gpu_assert_clean();
}

/* Shapes and buffers that don't fit are clear errors, never a dispatch. */
static void test_errors(void **state) {
  ev_gpu *g = tu_gpu();
  ev_synth_layer L = LAYERS[0];
  ev_synth_params P = {.seed = 1, .alpha = 0.4f};
  ev_buf w, small, scratch, z, child;
  TU_OK(ev_buf_alloc(g, nfloats(&L) * 4, &w));
  TU_OK(ev_buf_alloc(g, nfloats(&L) * 4 - 4, &small));
  TU_OK(ev_buf_alloc(g, ev_synth_scratch_bytes(&L), &scratch));
  TU_OK(ev_buf_alloc(g, 16, &z));
  TU_OK(ev_buf_alloc(g, nfloats(&L) * 4, &child));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  assert_int_equal(ev_synth_normalizer(s, &L, &P, &small, NULL, &scratch, &z, 0), EV_ERR_ARG);
  assert_int_equal(ev_synth_normalizer(s, &L, &P, &w, &small, &scratch, &z, 0), EV_ERR_ARG);
  assert_int_equal(ev_synth_normalizer(s, &L, &P, &w, NULL, &scratch, &z, 2), EV_ERR_ARG);
  assert_int_equal(ev_synth_sample(s, &L, &P, &w, NULL, &scratch, &z, 0, &small), EV_ERR_ARG);
  assert_int_equal(ev_synth_sample(s, &L, &P, &w, NULL, &scratch, &z, 0, &w), EV_ERR_ARG);
  assert_int_equal(ev_synth_count(s, &L, &w, &z), EV_ERR_ARG); /* counts too small */
  ev_synth_layer bad = L;
  bad.i = 0;
  assert_int_equal(ev_synth_count(s, &bad, &w, &child), EV_ERR_ARG);
  bad = L, bad.layer = 1u << 24;
  assert_int_equal(ev_synth_normalizer(s, &bad, &P, &w, NULL, &scratch, &z, 0), EV_ERR_ARG);
  ev_synth_params Q = P;
  Q.alpha = 0.0f;
  assert_int_equal(ev_synth_sample(s, &L, &Q, &w, NULL, &scratch, &z, 0, &child), EV_ERR_ARG);
  assert_true(strstr(ev_last_error(), "layer") || strstr(ev_last_error(), "weight"));
  ev_clear_error();
  ev_stream_abort(s);
  ev_buf_free(g, &w), ev_buf_free(g, &small), ev_buf_free(g, &scratch), ev_buf_free(g, &z);
  ev_buf_free(g, &child);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_philox_known_answers), cmocka_unit_test(test_philox_gpu_equals_c),
      cmocka_unit_test(test_arithmetic),           cmocka_unit_test(test_synth_gpu_equals_c),
      cmocka_unit_test(test_network_z),            cmocka_unit_test(test_near_threshold),
      cmocka_unit_test(test_seeds),
      cmocka_unit_test(test_kept_fraction),        cmocka_unit_test(test_errors),
      cmocka_unit_test(test_budget_arithmetic),    cmocka_unit_test(test_budget_gpu_equals_c),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
