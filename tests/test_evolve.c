/* Evolutionary synthesis of whole networks: GPU masks == C reference, determinism, and
 * neuron removal + compaction that leaves the network's function unchanged. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/evolve.h"
#include "evonet/model.h"
#include "testutil.h"

static void make_net(double width, ev_net_weights *w, uint64_t seed) {
  ev_net_spec s;
  TU_OK(ev_net_saliency_vgg(width, false, &s));
  TU_OK(ev_net_infer(&s, 32, 32));
  TU_OK(ev_weights_alloc(&s, w));
  ev_weights_init_he(w, seed);
  ev_net_free(&s);
}

static void assert_masks_equal(const ev_net_weights *a, const ev_net_weights *b) {
  assert_int_equal(a->spec.n, b->spec.n);
  for (int i = 0; i < a->spec.n; i++) {
    uint64_t n = ev_layer_weight_count(&a->spec.layers[i]);
    if (n) assert_memory_equal(a->l[i].mask, b->l[i].mask, n * 4);
  }
}

/* Synthesis variant v (0: synapses, layer Z; 1: synapses, network Z; 2: filters) of anc on the
 * GPU into a and by the C reference into b; their masks must be equal. */
static void synth_both(ev_gpu *g, const ev_net_weights *anc, ev_synthesis_options *o, int v, ev_net_weights *a,
                       ev_net_weights *b) {
  o->granularity = v == 2 ? EV_SYNTH_FILTER : EV_SYNTH_SYNAPSE;
  o->z_network = v == 1;
  TU_OK(ev_synthesize(g, anc, o, a));
  TU_OK(ev_synthesize_ref(anc, o, b));
  assert_masks_equal(a, b);
}

static void test_gpu_equals_reference(void **state) {
  ev_gpu *g = tu_gpu();
  ev_net_weights anc;
  make_net(0.125, &anc, tu_seed());
  ev_synthesis_options o = {.alpha = 0.4, .seed = tu_seed(), .generation = 2, .offspring = 1};
  for (int variant = 0; variant < 3; variant++) {
    ev_net_weights a, b;
    synth_both(g, &anc, &o, variant, &a, &b);
    uint64_t live = ev_weights_live_synapses(&a), total = ev_net_synapses(&anc.spec);
    /* E[alpha * exp(|w|/Z - 1)] lies in [alpha/e, alpha]: the kept fraction must too */
    if (variant == 0) assert_true(live > total * 0.4 / 2.72 * 0.9 && live < total * 0.4 * 1.05);
    for (int i = 0; i < a.spec.n; i++) { /* weights are masked */
      uint64_t n = ev_layer_weight_count(&a.spec.layers[i]);
      for (uint64_t k = 0; k < n; k++)
        if (a.l[i].mask[k] == 0) assert_true(a.l[i].w[k] == 0);
    }
    ev_weights_free(&a), ev_weights_free(&b);
  }
  /* a second generation only removes: synapses dead in the ancestor stay dead */
  ev_net_weights g2, g3;
  o.granularity = EV_SYNTH_SYNAPSE, o.z_network = false;
  TU_OK(ev_synthesize(g, &anc, &o, &g2));
  o.generation = 3;
  TU_OK(ev_synthesize(g, &g2, &o, &g3));
  for (int i = 0; i < g2.spec.n; i++) {
    uint64_t n = ev_layer_weight_count(&g2.spec.layers[i]);
    for (uint64_t k = 0; k < n; k++) assert_true(g3.l[i].mask[k] <= g2.l[i].mask[k]);
  }
  ev_weights_free(&g2), ev_weights_free(&g3), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

static void test_same_seed_same_masks(void **state) {
  ev_gpu *g = tu_gpu();
  ev_net_weights anc, a, b, c;
  make_net(0.125, &anc, 77);
  ev_synthesis_options o = {.alpha = 0.4, .seed = 5, .generation = 2, .offspring = 1};
  TU_OK(ev_synthesize(g, &anc, &o, &a));
  TU_OK(ev_synthesize(g, &anc, &o, &b));
  assert_masks_equal(&a, &b);
  o.offspring = 2;
  TU_OK(ev_synthesize(g, &anc, &o, &c));
  int i = ev_net_find(&anc.spec, "c3_2");
  assert_true(memcmp(a.l[i].mask, c.l[i].mask, ev_layer_weight_count(&anc.spec.layers[i]) * 4) != 0);
  ev_weights_free(&a), ev_weights_free(&b), ev_weights_free(&c), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

/* --protect: a listed layer passes its mask whole (generation 3 keeps generation 2's, so a
 * mask with holes is checked), GPU == C reference, and every other layer draws exactly what
 * it draws without the list (its random stream is keyed by its own index). */
static void test_protected_layers(void **state) {
  ev_gpu *g = tu_gpu();
  ev_net_weights anc, g2, a, b, plain;
  make_net(0.125, &anc, tu_seed());
  ev_synthesis_options o = {.alpha = 0.4, .seed = tu_seed(), .generation = 2, .offspring = 1};
  TU_OK(ev_synthesize(g, &anc, &o, &g2));
  o.generation = 3;
  TU_OK(ev_synthesize(g, &g2, &o, &plain));
  for (int variant = 0; variant < 2; variant++) {
    o.granularity = variant ? EV_SYNTH_FILTER : EV_SYNTH_SYNAPSE;
    if (variant) {
      ev_weights_free(&plain);
      o.protect = NULL;
      TU_OK(ev_synthesize(g, &g2, &o, &plain));
    }
    o.protect = "c1_1,s9,c10_1";
    TU_OK(ev_synthesize(g, &g2, &o, &a));
    TU_OK(ev_synthesize_ref(&g2, &o, &b));
    assert_masks_equal(&a, &b);
    int changed = 0;
    for (int i = 0; i < g2.spec.n; i++) {
      const ev_layer *l = &g2.spec.layers[i];
      uint64_t n = ev_layer_weight_count(l);
      if (!n) continue;
      bool prot = !strcmp(l->name, "c1_1") || !strcmp(l->name, "s9") || !strcmp(l->name, "c10_1");
      const float *want = prot ? g2.l[i].mask : plain.l[i].mask;
      assert_memory_equal(a.l[i].mask, want, n * 4);
      if (prot) assert_memory_equal(a.l[i].w, g2.l[i].w, n * 4);
      changed += prot && memcmp(plain.l[i].mask, g2.l[i].mask, n * 4) != 0;
    }
    /* without the list those layers would have lost synapses (at filter level s9's two
     * filters may both survive by chance) */
    assert_true(variant ? changed >= 2 : changed == 3);
    ev_weights_free(&a), ev_weights_free(&b);
  }
  /* a name that is not a convolution layer: a clear error naming it, from both paths */
  const char *bad[] = {"c1_1,nosuch", "pool1", "c1", ","};
  for (int k = 0; k < 4; k++) {
    o.protect = bad[k];
    TU_EXPECT_ARG(ev_synthesize(g, &g2, &o, &a));
    TU_EXPECT_ARG(ev_synthesize_ref(&g2, &o, &b));
  }
  assert_int_equal(ev_synth_check_protect(&g2.spec, "c1_1,nosuch"), EV_ERR_ARG);
  assert_non_null(strstr(ev_last_error(), "--protect: 'nosuch'"));
  ev_clear_error();
  TU_OK(ev_synth_check_protect(&g2.spec, ""));
  TU_OK(ev_synth_check_protect(&g2.spec, NULL));
  ev_weights_free(&plain), ev_weights_free(&g2), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

/* The budget rule (evolve.h): GPU == C reference; the expected kept share is alpha of the
 * live sampled synapses, network-wide (z_network) or in every layer; a lower temperature
 * keeps larger weights; protected layers pass whole and are outside the budget. */
static void test_budget_rule(void **state) {
  ev_gpu *g = tu_gpu();
  ev_net_weights anc;
  make_net(0.125, &anc, tu_seed());
  ev_synthesis_options o = {.alpha = 0.3, .seed = tu_seed(), .generation = 2, .offspring = 1,
                            .rule = EV_RULE_BUDGET, .temperature = 1, .z_network = true};
  uint64_t total = ev_net_synapses(&anc.spec);
  double mean_abs[2] = {0, 0};
  for (int variant = 0; variant < 4; variant++) {
    o.z_network = variant != 1;
    o.temperature = variant == 2 ? 0.25 : 1;
    o.granularity = variant == 3 ? EV_SYNTH_FILTER : EV_SYNTH_SYNAPSE;
    ev_net_weights a, b;
    TU_OK(ev_synthesize(g, &anc, &o, &a));
    TU_OK(ev_synthesize_ref(&anc, &o, &b));
    assert_masks_equal(&a, &b);
    double kept = (double)ev_weights_live_synapses(&a) / (double)total;
    fprintf(stderr, "[ budget variant %d: kept %.4f of %llu ]\n", variant, kept, (unsigned long long)total);
    if (variant < 3) assert_true(fabs(kept - 0.3) < 0.01); /* many independent draws */
    else assert_true(fabs(kept - 0.3) < 0.1);            /* whole filters: fewer draws */
    if (variant == 1) /* per layer: each of the large layers keeps ~30 % */
      for (int i = 0; i < a.spec.n; i++) {
        uint64_t n = ev_layer_weight_count(&a.spec.layers[i]);
        if (n >= 10000) assert_true(fabs((double)ev_layer_live_synapses(&a, i) / (double)n - 0.3) < 0.02);
      }
    if (variant == 0 || variant == 2) { /* mean |w| of the kept synapses of c10_1 (weights near the mean) */
      int i = ev_net_find(&a.spec, "c10_1");
      double s = 0, c = 0;
      for (uint64_t k = 0; k < ev_layer_weight_count(&a.spec.layers[i]); k++)
        if (a.l[i].mask[k] > 0.5f) s += fabs(a.l[i].w[k]), c++;
      mean_abs[variant == 2] = s / c;
    }
    ev_weights_free(&a), ev_weights_free(&b);
  }
  fprintf(stderr, "[ c10_1 kept mean |w|: T 1 %.4g, T 0.25 %.4g ]\n", mean_abs[0], mean_abs[1]);
  assert_true(mean_abs[1] > 1.2 * mean_abs[0]);
  /* a layer floor: the network-wide budget with T = 0.1 cuts the widest layers far below 0.2;
   * with --layer-floor 0.2 none keeps less (within sampling noise), and the total stays 0.3 */
  o.temperature = 0.1, o.granularity = EV_SYNTH_SYNAPSE, o.z_network = true;
  for (int floor = 0; floor < 2; floor++) {
    o.layer_floor = floor ? 0.2 : 0;
    ev_net_weights a, b;
    TU_OK(ev_synthesize(g, &anc, &o, &a));
    TU_OK(ev_synthesize_ref(&anc, &o, &b));
    assert_masks_equal(&a, &b);
    double low = 1;
    for (int i = 0; i < a.spec.n; i++) {
      uint64_t n = ev_layer_weight_count(&a.spec.layers[i]);
      if (n >= 2000) low = fmin(low, (double)ev_layer_live_synapses(&a, i) / (double)n);
    }
    fprintf(stderr, "[ floor %.1f: lowest kept share of a layer %.3f, total %.4f ]\n", o.layer_floor, low,
            (double)ev_weights_live_synapses(&a) / (double)total);
    assert_true(floor ? low > 0.18 : low < 0.15);
    assert_true(fabs((double)ev_weights_live_synapses(&a) / (double)total - 0.3) < 0.01);
    ev_weights_free(&a), ev_weights_free(&b);
  }
  o.layer_floor = 0.3;
  ev_net_weights bad;
  TU_EXPECT_ARG(ev_synthesize_ref(&anc, &o, &bad));
  o.layer_floor = 0;
  o.temperature = 1, o.granularity = EV_SYNTH_SYNAPSE, o.protect = "c1_1,c10_1";
  ev_net_weights a, b;
  TU_OK(ev_synthesize(g, &anc, &o, &a));
  TU_OK(ev_synthesize_ref(&anc, &o, &b));
  assert_masks_equal(&a, &b);
  int p1 = ev_net_find(&a.spec, "c1_1"), p2 = ev_net_find(&a.spec, "c10_1");
  uint64_t prot = ev_layer_live_synapses(&a, p1) + ev_layer_live_synapses(&a, p2);
  assert_true(prot == ev_layer_weight_count(&a.spec.layers[p1]) + ev_layer_weight_count(&a.spec.layers[p2]));
  double kept = (double)(ev_weights_live_synapses(&a) - prot) / (double)(total - prot);
  assert_true(fabs(kept - 0.3) < 0.01);
  ev_weights_free(&a), ev_weights_free(&b), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

/* A network's output on a fixed random batch of n images at size x size: the saliency
 * probabilities (n, size, size), or a classifier's logits (n, C4 of the classes). */
static void forward_out(const ev_net_weights *w, int n, int size, uint64_t seed, float *out) {
  ev_gpu *g = tu_gpu();
  ev_net_spec s;
  TU_OK(ev_net_copy(&w->spec, &s));
  TU_OK(ev_net_infer(&s, size, size));
  ev_model *m;
  TU_OK(ev_model_create(g, &s, n, size, size, false, &m));
  TU_OK(ev_model_upload(m, w));
  TU_OK(ev_fill_random_input(m, seed));
  ev_stream *st;
  TU_OK(ev_stream_begin(g, &st));
  TU_OK(ev_model_forward(m, st, false));
  TU_OK(ev_model_predict(m, st));
  TU_OK(ev_stream_submit(st));
  if (s.task == EV_TASK_CLASSIFY)
    TU_OK(ev_buf_download(g, &ev_model_logits(m)->buf, 0, out, (uint64_t)n * ev_c4(s.classes) * 4));
  else
    TU_OK(ev_buf_download(g, ev_model_prob(m), 0, out, (uint64_t)n * size * size * 4));
  ev_model_destroy(m);
  ev_net_free(&s);
}

static void test_compaction_keeps_function(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  ev_net_weights anc, child, small;
  make_net(0.25, &anc, seed);
  /* zero biases: a dead neuron then outputs exactly 0, so removing it changes nothing */
  for (int i = 0; i < anc.spec.n; i++)
    if (anc.l[i].b) memset(anc.l[i].b, 0, (size_t)anc.spec.layers[i].out * 4);
  /* a harsh environment kills whole neurons; also kill some by hand, upstream of a concat,
   * a deconvolution and a layer with several consumers */
  ev_synthesis_options o = {.alpha = 0.08, .seed = seed, .generation = 2, .offspring = 1};
  TU_OK(ev_synthesize(g, &anc, &o, &child));
  const char *kill[] = {"c3_3", "d1", "c5_3", "c6"};
  for (int k = 0; k < 4; k++) {
    int i = ev_net_find(&child.spec, kill[k]);
    const ev_layer *l = &child.spec.layers[i];
    int kk = l->k * l->k;
    for (int ci = 0; ci < l->cin; ci++) /* output channel 1 loses every synapse */
      for (int t = 0; t < kk; t++) {
        size_t at = l->op == EV_OP_CONV ? ((size_t)1 * l->cin + ci) * kk + t : ((size_t)ci * l->out + 1) * kk + t;
        child.l[i].mask[at] = 0, child.l[i].w[at] = 0;
      }
  }
  /* c3_3 feeds pool3 and c6: its channel 2 stays read by c6 only (c4_1, behind pool3, loses
   * every synapse from it), so pool3 must still carry it; and c7 loses every synapse, so it
   * keeps one forced channel that d1 (then the concat) must carry */
  {
    int i = ev_net_find(&child.spec, "c4_1");
    const ev_layer *l = &child.spec.layers[i];
    for (int o = 0; o < l->out; o++)
      for (int t = 0; t < 9; t++) child.l[i].mask[((size_t)o * l->cin + 2) * 9 + t] = 0, child.l[i].w[((size_t)o * l->cin + 2) * 9 + t] = 0;
    i = ev_net_find(&child.spec, "c6");
    l = &child.spec.layers[i];
    for (int o = 0; o < l->out; o++) /* make sure c6 reads c3_3's channel 2 (its channel 1 stays dead) */
      if (o != 1) child.l[i].mask[((size_t)o * l->cin + 2) * 9 + 4] = 1;
    i = ev_net_find(&child.spec, "c7");
    memset(child.l[i].mask, 0, ev_layer_weight_count(&child.spec.layers[i]) * 4);
    memset(child.l[i].w, 0, ev_layer_weight_count(&child.spec.layers[i]) * 4);
  }
  ev_compact_stats st;
  TU_OK(ev_compact(&child, &small, &st));
  assert_int_equal(small.spec.layers[ev_net_find(&small.spec, "c7")].out, 1);
  assert_true(st.channels_after < st.channels_before);
  assert_true(st.synapses_after <= st.synapses_before);
  for (int k = 0; k < 4; k++) {
    int i = ev_net_find(&small.spec, kill[k]);
    if (!(small.spec.layers[i].out < child.spec.layers[i].out))
      fail_msg("%s: %d channels after compaction, %d before", kill[k], small.spec.layers[i].out, child.spec.layers[i].out);
  }
  assert_int_equal(small.spec.layers[small.spec.output].c, 2); /* the classes stay */
  TU_OK(ev_net_infer(&small.spec, 32, 32));                     /* a valid, smaller network */
  float *p0 = malloc(2 * 32 * 32 * 4), *p1 = malloc(2 * 32 * 32 * 4);
  forward_out(&child, 2, 32, 4242, p0);
  forward_out(&small, 2, 32, 4242, p1);
  assert_true(tu_max_abs_err(p1, p0, 2 * 32 * 32) < 1e-5);
  /* compacting again finds nothing more to remove */
  ev_net_weights again;
  ev_compact_stats st2;
  TU_OK(ev_compact(&small, &again, &st2));
  assert_int_equal(st2.channels_after, st2.channels_before);
  free(p0), free(p1);
  ev_weights_free(&again), ev_weights_free(&small), ev_weights_free(&child), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

/* A small classifier through every new layer kind: conv, avgpool, maxpool, fc over a 4x4x8
 * input (k 4), fc, and a gap branch added in. */
static const char *k_classifier =
    "{\"input\":{\"channels\":3,\"size\":16},\"classes\":5,\"task\":\"classification\",\"layers\":["
    "{\"name\":\"c1\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":6,\"k\":3,\"pad\":1,\"act\":\"relu\"},"
    "{\"name\":\"a1\",\"op\":\"avgpool\",\"in\":[\"c1\"],\"k\":2,\"stride\":2},"
    "{\"name\":\"c2\",\"op\":\"conv\",\"in\":[\"a1\"],\"out\":8,\"k\":3,\"pad\":1,\"act\":\"relu\"},"
    "{\"name\":\"m2\",\"op\":\"maxpool\",\"in\":[\"c2\"],\"k\":2,\"stride\":2},"
    "{\"name\":\"f3\",\"op\":\"fc\",\"in\":[\"m2\"],\"out\":12,\"act\":\"relu\"},"
    "{\"name\":\"f4\",\"op\":\"fc\",\"in\":[\"f3\"],\"out\":5},"
    "{\"name\":\"g\",\"op\":\"gap\",\"in\":[\"c2\"]},"
    "{\"name\":\"f5\",\"op\":\"fc\",\"in\":[\"g\"],\"out\":5},"
    "{\"name\":\"sum\",\"op\":\"add\",\"in\":[\"f4\",\"f5\"]}],\"output\":\"sum\"}";

static void make_classifier(ev_net_weights *w, uint64_t seed) {
  ev_net_spec s;
  TU_OK(ev_net_from_json(k_classifier, &s));
  TU_OK(ev_net_infer(&s, 16, 16));
  TU_OK(ev_weights_alloc(&s, w));
  ev_weights_init_he(w, seed);
  ev_net_free(&s);
}

/* Synthesis, dead-neuron removal and compaction through fc, avgpool and gap layers: GPU masks
 * equal the C reference at synapse and filter granularity, and a compacted offspring computes
 * the same logits as its masked parent. */
static void test_classifier_evolution(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed();
  ev_net_weights anc;
  make_classifier(&anc, seed);
  ev_synthesis_options o = {.alpha = 0.5, .seed = seed, .generation = 2, .offspring = 1};
  for (int variant = 0; variant < 3; variant++) {
    ev_net_weights a, b;
    synth_both(g, &anc, &o, variant, &a, &b);
    assert_true(ev_weights_live_synapses(&a) < ev_net_synapses(&anc.spec));
    ev_weights_free(&a), ev_weights_free(&b);
  }
  ev_net_weights child, small;
  for (int i = 0; i < anc.spec.n; i++) /* zero biases: a dead neuron outputs exactly 0 */
    if (anc.l[i].b) memset(anc.l[i].b, 0, (size_t)anc.spec.layers[i].out * 4);
  o.granularity = EV_SYNTH_SYNAPSE, o.z_network = false, o.alpha = 0.6;
  TU_OK(ev_synthesize(g, &anc, &o, &child));
  /* kill c2's channel 3 (read by f3 at its 4x4 = 16 positions behind m2, and by the gap branch)
   * and f3's neuron 5 (f4 loses its input 5) */
  int c2 = ev_net_find(&child.spec, "c2"), f3 = ev_net_find(&child.spec, "f3");
  const ev_layer *l2 = &child.spec.layers[c2], *l3 = &child.spec.layers[f3];
  for (size_t k = 0; k < (size_t)l2->cin * 9; k++) child.l[c2].mask[3 * (size_t)l2->cin * 9 + k] = 0,
                                                    child.l[c2].w[3 * (size_t)l2->cin * 9 + k] = 0;
  size_t per = (size_t)l3->cin * l3->k * l3->k;
  for (size_t k = 0; k < per; k++) child.l[f3].mask[5 * per + k] = 0, child.l[f3].w[5 * per + k] = 0;
  ev_compact_stats st;
  TU_OK(ev_compact(&child, &small, &st));
  assert_true(small.spec.layers[c2].out < 8);
  assert_true(small.spec.layers[f3].out < 12);
  assert_int_equal(small.spec.layers[f3].k, 4); /* the fc still spans its 4x4 input */
  assert_int_equal(small.spec.layers[f3].cin, small.spec.layers[c2].out);
  assert_int_equal(small.spec.layers[small.spec.output].c, 5);
  float p0[24], p1[24];
  forward_out(&child, 3, 16, 777, p0); /* 3 images x C4(5) = 8 logits */
  forward_out(&small, 3, 16, 777, p1);
  for (int n = 0; n < 3; n++)
    for (int c = 0; c < 5; c++)
      if (fabsf(p0[n * 8 + c] - p1[n * 8 + c]) > 1e-4f * (1 + fabsf(p0[n * 8 + c])))
        fail_msg("logit (%d, %d): %g before compaction, %g after", n, c, p0[n * 8 + c], p1[n * 8 + c]);
  ev_weights_free(&small), ev_weights_free(&child), ev_weights_free(&anc);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpu_equals_reference), cmocka_unit_test(test_same_seed_same_masks),
                                     cmocka_unit_test(test_protected_layers), cmocka_unit_test(test_budget_rule),
                                     cmocka_unit_test(test_compaction_keeps_function),
                                     cmocka_unit_test(test_classifier_evolution)};
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
