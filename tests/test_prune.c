/* Pruning baselines (ops/prune.h, evolve.h ev_prune_like): the GPU's radix selection gives
 * the C reference's mask bit for bit on odd layers (I = 13 padded to 16, 5x5, a
 * deconvolution, I = 1), with many tied keys, with and without an ancestor mask, at counts
 * from 0 to beyond the live synapses; magnitude keeps the largest |w|; random is fixed by its
 * seed and differs with another; whole networks keep exactly the per-layer counts given. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/evolve.h"
#include "evonet/ops/prune.h"
#include "evonet/tensor.h"
#include "testutil.h"

static const ev_synth_layer LAYERS[] = {
    {.o = 7, .i = 13, .kh = 3, .kw = 3, .layer = 3},
    {.o = 6, .i = 5, .kh = 5, .kw = 5, .layer = 0},
    {.o = 9, .i = 3, .kh = 4, .kw = 4, .transposed = 1, .layer = 11},
    {.o = 70, .i = 37, .kh = 3, .kw = 3, .layer = 5},
    {.o = 130, .i = 1, .kh = 1, .kw = 1, .layer = 1u << 23},
};

static size_t nfloats(const ev_synth_layer *L) { return (size_t)L->o * L->kh * L->kw * ev_c4(L->i); }

static void run_gpu(const ev_synth_layer *L, const ev_prune_params *P, const float *w, const float *anc, float *out) {
  ev_gpu *g = tu_gpu();
  size_t n = nfloats(L);
  ev_buf wb = tu_upload(w, n), ab = {0}, child;
  if (anc) ab = tu_upload(anc, n);
  TU_OK(ev_buf_alloc(g, n * 4, &child));
  tu_poison(&child);
  TU_OK(ev_prune_layer(g, L, P, &wb, anc ? &ab : NULL, &child));
  TU_OK(ev_buf_download(g, &child, 0, out, n * 4));
  ev_buf_free(g, &wb), ev_buf_free(g, &ab), ev_buf_free(g, &child);
}

static void test_layers_gpu_equals_c(void **state) {
  uint64_t rng = tu_seed() ^ 0x9a9a;
  for (size_t l = 0; l < sizeof LAYERS / sizeof LAYERS[0]; l++) {
    const ev_synth_layer *L = &LAYERS[l];
    size_t n = nfloats(L);
    float *w = malloc(n * 4), *anc = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4);
    uint64_t live = 0, syn = (uint64_t)L->o * L->i * L->kh * L->kw;
    for (size_t e = 0; e < n; e++) {
      /* few distinct magnitudes: many ties, broken by the index; some zeros and denormals */
      w[e] = (float)((int)(tu_next(&rng) % 9) - 4) * 0.125f;
      if (tu_next(&rng) % 40 == 0) w[e] = 1e-40f;
      anc[e] = tu_next(&rng) % 10 < 7 ? 1.0f : 0.0f;
      if (e % ev_c4(L->i) < (size_t)L->i && anc[e] > 0.5f) live++;
    }
    uint64_t counts[] = {0, 1, live / 3, live - 1, live, live + 5, syn};
    for (int m = 0; m < 2; m++)
      for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        const float *mask = c == 6 ? NULL : anc; /* the last: no ancestor mask, all alive */
        ev_prune_params P = {.method = m ? EV_PRUNE_RANDOM : EV_PRUNE_MAGNITUDE, .seed = tu_next(&rng),
                             .generation = 2 + (uint32_t)c, .count = counts[c] == syn ? syn / 2 : counts[c]};
        run_gpu(L, &P, w, mask, a);
        ev_prune_layer_ref(L, &P, w, mask, b);
        uint64_t kept = 0, alive = mask ? live : syn;
        float min_kept = INFINITY, max_dropped = 0;
        for (size_t e = 0; e < n; e++) {
          if (memcmp(&a[e], &b[e], 4))
            fail_msg("layer %dx%dx%dx%d method %d count %llu: entry %zu GPU %g C %g", L->o, L->i, L->kh, L->kw, m,
                     (unsigned long long)P.count, e, (double)a[e], (double)b[e]);
          int real = e % ev_c4(L->i) < (size_t)L->i, alive_e = real && (!mask || mask[e] > 0.5f);
          if (!alive_e) assert_true(b[e] == 0.0f);
          kept += b[e] == 1.0f;
          float aw = fabsf(w[e]) < 1e-30f ? 0.0f : fabsf(w[e]);
          if (alive_e && b[e] == 1.0f) min_kept = fminf(min_kept, aw);
          if (alive_e && b[e] == 0.0f) max_dropped = fmaxf(max_dropped, aw);
        }
        assert_int_equal(kept, P.count < alive ? P.count : alive);
        if (m == 0 && kept > 0 && kept < alive) assert_true(min_kept >= max_dropped);
      }
    free(w), free(anc), free(a), free(b);
  }
  tu_gpu_assert_clean();
}

static void test_random_seeds(void **state) {
  ev_synth_layer L = LAYERS[3];
  size_t n = nfloats(&L);
  uint64_t rng = tu_seed() ^ 0x3131;
  float *w = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4);
  for (size_t e = 0; e < n; e++) w[e] = tu_uniform(&rng, -1, 1);
  ev_prune_params P = {.method = EV_PRUNE_RANDOM, .seed = tu_next(&rng), .generation = 3, .count = 7000};
  run_gpu(&L, &P, w, NULL, a);
  run_gpu(&L, &P, w, NULL, b);
  assert_memory_equal(a, b, n * 4);
  P.seed ^= 1;
  run_gpu(&L, &P, w, NULL, b);
  size_t diff = 0;
  for (size_t e = 0; e < n; e++) diff += a[e] != b[e];
  assert_true(diff > 7000 / 2); /* two independent draws of 7000 of 23310 */
  /* uniform: the kept share of the large-|w| half is near a half (no magnitude preference) */
  size_t big = 0;
  for (size_t e = 0; e < n; e++) big += a[e] == 1.0f && fabsf(w[e]) > 0.5f;
  assert_true(fabs((double)big / 7000 - 0.5) < 0.05);
  free(w), free(a), free(b);
  tu_gpu_assert_clean();
}

/* Whole networks: counts copied from an offspring of the budget rule, GPU == C. */
static void test_network_counts(void **state) {
  ev_gpu *g = tu_gpu();
  ev_net_spec s;
  TU_OK(ev_net_saliency_vgg(0.125, false, &s));
  TU_OK(ev_net_infer(&s, 32, 32));
  ev_net_weights anc, like;
  TU_OK(ev_weights_alloc(&s, &anc));
  ev_weights_init_he(&anc, tu_seed());
  ev_net_free(&s);
  ev_synthesis_options o = {.alpha = 0.3, .seed = tu_seed(), .generation = 2, .offspring = 1,
                            .rule = EV_RULE_BUDGET, .temperature = 0.1, .z_network = true};
  TU_OK(ev_synthesize(g, &anc, &o, &like));
  for (int m = 0; m < 2; m++) {
    ev_net_weights a, b;
    TU_OK(ev_prune_like(g, &anc, &like, m ? EV_PRUNE_RANDOM : EV_PRUNE_MAGNITUDE, 9, 2, &a));
    TU_OK(ev_prune_like_ref(&anc, &like, m ? EV_PRUNE_RANDOM : EV_PRUNE_MAGNITUDE, 9, 2, &b));
    for (int i = 0; i < anc.spec.n; i++) {
      uint64_t n = ev_layer_weight_count(&anc.spec.layers[i]);
      if (!n) continue;
      assert_memory_equal(a.l[i].mask, b.l[i].mask, n * 4);
      assert_int_equal(ev_layer_live_synapses(&a, i), ev_layer_live_synapses(&like, i));
      for (uint64_t k = 0; k < n; k++)
        if (a.l[i].mask[k] == 0) assert_true(a.l[i].w[k] == 0);
    }
    ev_weights_free(&a), ev_weights_free(&b);
  }
  /* more than the ancestor has: all of it */
  ev_net_weights a;
  TU_OK(ev_prune_like_ref(&like, &anc, EV_PRUNE_MAGNITUDE, 1, 2, &a));
  assert_int_equal(ev_weights_live_synapses(&a), ev_weights_live_synapses(&like));
  ev_weights_free(&a);
  /* a layer the other network lacks: a clear error naming it */
  ev_net_spec s1;
  TU_OK(ev_net_saliency_vgg(0.125, false, &s1));
  snprintf(s1.layers[0].name, sizeof s1.layers[0].name, "other");
  TU_OK(ev_net_infer(&s1, 32, 32));
  ev_net_weights odd;
  TU_OK(ev_weights_alloc(&s1, &odd));
  ev_net_free(&s1);
  assert_int_equal(ev_prune_like_ref(&anc, &odd, EV_PRUNE_MAGNITUDE, 1, 2, &a), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "'c1_1'"));
  ev_clear_error();
  ev_weights_free(&odd);
  ev_weights_free(&anc), ev_weights_free(&like);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_layers_gpu_equals_c), cmocka_unit_test(test_random_seeds),
                                     cmocka_unit_test(test_network_counts)};
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
