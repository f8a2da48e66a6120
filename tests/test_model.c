/* The model executor: inference with batch norm folded into the convolutions equals the
 * training model's unfolded inference path (BN with running statistics, separate ReLU);
 * sparse inference convolutions (EVONET_SPARSE) give the dense path's logits; knowledge
 * distillation blends the teacher's probabilities on the student's input into its target,
 * and the soft loss on it matches the reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/model.h"
#include "evonet/ops/loss.h"
#include "nn/model_internal.h"
#include "testutil.h"

enum { N = 3, S = 32 };

static void probs(const ev_net_weights *w, bool training_model, float *out) {
  ev_gpu *g = tu_gpu();
  ev_model *m;
  TU_OK(ev_model_create(g, &w->spec, N, S, S, training_model, &m));
  TU_OK(ev_model_upload(m, w));
  TU_OK(ev_fill_random_input(m, 99));
  tu_poison(ev_model_prob(m));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_model_forward(m, s, false));
  TU_OK(ev_model_predict(m, s));
  TU_OK(ev_stream_submit(s));
  TU_OK(ev_buf_download(g, ev_model_prob(m), 0, out, (uint64_t)N * S * S * 4));
  ev_model_destroy(m);
}

static void test_folded_bn_inference(void **state) {
  uint64_t seed = tu_seed();
  ev_net_spec spec;
  TU_OK(ev_net_saliency_vgg(0.125, true, &spec));
  TU_OK(ev_net_infer(&spec, S, S));
  ev_net_weights w;
  TU_OK(ev_weights_alloc(&spec, &w));
  ev_weights_init_he(&w, seed);
  for (int i = 0; i < spec.n; i++) {
    const ev_layer *l = &w.spec.layers[i];
    if (!ev_layer_weight_count(l)) continue;
    uint64_t n = ev_layer_weight_count(l);
    for (uint64_t k = 0; k < n; k++) /* some synapses removed */
      if (tu_next(&seed) % 4 == 0) w.l[i].mask[k] = 0, w.l[i].w[k] = 0;
    tu_fill_uniform(w.l[i].b, (size_t)l->out, &seed, -0.2f, 0.2f);
    if (!l->bn) continue;
    tu_fill_uniform(w.l[i].gamma, (size_t)l->out, &seed, 0.5f, 1.5f);
    tu_fill_uniform(w.l[i].beta, (size_t)l->out, &seed, -0.3f, 0.3f);
    tu_fill_uniform(w.l[i].rmean, (size_t)l->out, &seed, -0.5f, 0.5f);
    tu_fill_uniform(w.l[i].rvar, (size_t)l->out, &seed, 0.2f, 2.0f);
  }
  float *a = malloc(N * S * S * 4), *b = malloc(N * S * S * 4);
  probs(&w, false, a); /* folded */
  probs(&w, true, b);  /* BN pass with running statistics */
  double e = tu_max_abs_err(a, b, N * S * S);
  if (!(e < 1e-5)) fail_msg("folded and unfolded inference differ by %.3g", e);
  /* an inference model holds folded parameters: downloading them is refused */
  ev_model *m;
  TU_OK(ev_model_create(tu_gpu(), &w.spec, 1, S, S, false, &m));
  TU_OK(ev_model_upload(m, &w));
  assert_int_equal(ev_model_download(m, &w), EV_ERR_ARG);
  ev_clear_error();
  ev_model_destroy(m);
  free(a), free(b);
  ev_weights_free(&w);
  ev_net_free(&spec);
  tu_gpu_assert_clean();
}

/* Logits of one inference model, re-uploaded under each EVONET_SPARSE mode (the re-upload
 * must repack or drop the taps), against the dense path; the auto mode's choice follows
 * the live density. Layers alternate 5% and 60% live synapses. */
static void sparse_vs_dense(bool bn, uint64_t *seed) {
  ev_gpu *g = tu_gpu();
  ev_mem_stats before, after;
  ev_gpu_mem_stats(g, &before);
  ev_net_spec spec;
  TU_OK(ev_net_saliency_vgg(0.125, bn, &spec));
  TU_OK(ev_net_infer(&spec, S, S));
  ev_net_weights w;
  TU_OK(ev_weights_alloc(&spec, &w));
  for (int i = 0; i < spec.n; i++) {
    uint64_t n = ev_layer_weight_count(&w.spec.layers[i]);
    double live = i % 2 ? 0.6 : 0.05;
    for (uint64_t k = 0; k < n; k++) w.l[i].mask[k] = tu_uniform(seed, 0.0f, 1.0f) < live;
  }
  ev_weights_init_he(&w, *seed); /* masked synapses 0, live ones scaled up */
  for (int i = 0; i < spec.n; i++) {
    const ev_layer *l = &w.spec.layers[i];
    if (!ev_layer_weight_count(l)) continue;
    tu_fill_uniform(w.l[i].b, (size_t)l->out, seed, -0.2f, 0.2f);
    if (!l->bn) continue;
    tu_fill_uniform(w.l[i].gamma, (size_t)l->out, seed, 0.5f, 1.5f);
    tu_fill_uniform(w.l[i].beta, (size_t)l->out, seed, -0.3f, 0.3f);
    tu_fill_uniform(w.l[i].rmean, (size_t)l->out, seed, -0.5f, 0.5f);
    tu_fill_uniform(w.l[i].rvar, (size_t)l->out, seed, 0.2f, 2.0f);
  }
  ev_model *m;
  TU_OK(ev_model_create(g, &w.spec, N, S, S, false, &m));
  ev_tensor *out = &m->nodes[m->spec.output].y;
  size_t nf = ev_tensor_floats(out->n, out->h, out->w, out->c);
  float *y[3];
  const char *mode[3] = {"0", "1", NULL}; /* dense, all sparse, auto */
  for (int k = 0; k < 3; k++) {
    if (mode[k]) tu_tune("EVONET_SPARSE", mode[k]);
    else tu_tune("EVONET_SPARSE", NULL);
    TU_OK(ev_model_upload(m, &w));
    int n_sparse = 0, n_conv = 0;
    for (int i = 0; i < spec.n; i++) {
      const ev_layer *l = &m->spec.layers[i];
      n_conv += l->op == EV_OP_CONV, n_sparse += m->nodes[i].sparse;
      bool want = l->op == EV_OP_CONV &&
                  (k == 1 || (k == 2 && ev_layer_live_synapses(&w, i) * 20 <= (uint64_t)l->k * l->k * ev_c4(l->cin) * ev_c4(l->out)));
      if (m->nodes[i].sparse != want || (m->nodes[i].taps.block != NULL) != want)
        fail_msg("mode %s: layer %s sparse = %d, expected %d", mode[k] ? mode[k] : "auto", l->name,
                 m->nodes[i].sparse, want);
    }
    print_message("  bn %d, EVONET_SPARSE=%s: %d of %d convolutions sparse\n", bn, mode[k] ? mode[k] : "(unset)",
                  n_sparse, n_conv);
    TU_OK(ev_fill_random_input(m, 7));
    tu_poison(&out->buf);
    ev_stream *s;
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_model_forward(m, s, false));
    TU_OK(ev_stream_submit(s));
    y[k] = malloc(nf * 4);
    tu_download(&out->buf, y[k], nf);
  }
  tu_tune("EVONET_SPARSE", NULL);
  double scale = 0;
  for (size_t i = 0; i < nf; i++) scale = fmax(scale, fabs(y[0][i]));
  for (int k = 1; k < 3; k++) {
    double e = tu_max_abs_err(y[k], y[0], nf);
    print_message("  bn %d: logits within %.3g, sparse (%s) vs dense differ by %.3g\n", bn, scale,
                  mode[k] ? "all" : "auto", e);
    if (!(scale > 0 && e < 1e-4 * scale)) fail_msg("sparse and dense inference differ by %.3g (scale %.3g)", e, scale);
  }
  ev_model_destroy(m);
  ev_gpu_mem_stats(g, &after);
  assert_int_equal(after.live_allocs, before.live_allocs); /* taps freed, also after re-uploads */
  for (int k = 0; k < 3; k++) free(y[k]);
  ev_weights_free(&w);
  ev_net_free(&spec);
}

static void test_sparse_inference(void **state) {
  uint64_t seed = tu_seed() ^ 0x59a55e;
  sparse_vs_dense(true, &seed);
  sparse_vs_dense(false, &seed);
  tu_gpu_assert_clean();
}

static void he_net(uint64_t seed, ev_net_weights *w) {
  ev_net_spec spec;
  TU_OK(ev_net_saliency_vgg(0.125, true, &spec));
  TU_OK(ev_net_infer(&spec, S, S));
  TU_OK(ev_weights_alloc(&spec, w));
  ev_weights_init_he(w, seed);
  for (int i = 0; i < spec.n; i++)
    if (w->l[i].b) tu_fill_uniform(w->l[i].b, (size_t)spec.layers[i].out, &seed, -0.5f, 0.5f);
  ev_net_free(&spec);
}

static void test_distillation(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ 4242;
  ev_net_weights tw, sw;
  he_net(seed + 1, &sw);
  enum { P = N * S * S };
  float *img = malloc((size_t)P * 4 * 4), *mask = malloc(P * 4), *tp = malloc(P * 4), *got = malloc(P * 4),
        *want = malloc(P * 4);
  tu_fill_uniform(img, (size_t)P * 4, &seed, -2, 2);
  for (int i = 0; i < P; i++) mask[i] = tu_uniform(&seed, 0, 1);
  /* the teacher's probabilities on these images, from a model of its own; a random teacher
   * can be sure of class 0 everywhere (then it would not move the target): drawn again */
  ev_model *t = NULL, *m;
  ev_stream *s;
  double tmax = 0;
  for (int draw = 0; draw < 8 && tmax < 0.5; draw++) {
    if (draw) ev_weights_free(&tw), ev_model_destroy(t);
    he_net(seed + 100 * (uint64_t)draw, &tw);
    TU_OK(ev_model_create(g, &tw.spec, N, S, S, false, &t));
    TU_OK(ev_model_upload(t, &tw));
    TU_OK(ev_model_feed(t, img, mask, N));
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_model_forward(t, s, false));
    TU_OK(ev_model_predict(t, s));
    TU_OK(ev_stream_submit(s));
    TU_OK(ev_buf_download(g, ev_model_prob(t), 0, tp, P * 4));
    tmax = 0;
    for (int i = 0; i < P; i++) tmax = fmax(tmax, tp[i]);
  }
  /* the student: a training model; the teacher sees its input after the copy */
  TU_OK(ev_model_create(g, &sw.spec, N, S, S, true, &m));
  TU_OK(ev_model_upload(m, &sw));
  TU_OK(ev_model_feed(m, img, mask, N));
  TU_OK(ev_fill_random_input(t, 5)); /* the teacher's own input must not matter */
  tu_poison(ev_model_prob(t));
  tu_poison(ev_model_loss_buf(m));
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_model_distill_target(m, t, s, 0.3f));
  TU_OK(ev_model_forward(m, s, true));
  TU_OK(ev_model_loss_soft(m, s, 1.7f));
  TU_OK(ev_stream_submit(s));
  TU_OK(ev_buf_download(g, ev_model_target(m), 0, got, P * 4));
  ev_distill_target_ref(mask, tp, 0.3f, want, P);
  double e = tu_max_abs_err(got, want, P);
  if (!(e < 1e-5)) fail_msg("distillation target differs from the reference by %.3g", e);
  double spread = 0;
  for (int i = 0; i < P; i++) spread = fmax(spread, fabs(want[i] - (mask[i] > 0.5f ? 0.7 : 0.0)));
  assert_true(spread > 0.05); /* the teacher moved the target: not a copy of the mask */
  ev_tensor *out = &m->nodes[m->spec.output].y;
  uint64_t nf = ev_tensor_floats(out->n, out->h, out->w, out->c);
  float *z = malloc(nf * 4), loss;
  tu_download(&out->buf, z, nf);
  TU_OK(ev_buf_download(g, ev_model_loss_buf(m), 0, &loss, 4));
  double *zd = malloc(nf * 8), *td = malloc(P * 8), wt[2] = {1.0, 1.7};
  for (uint64_t i = 0; i < nf; i++) zd[i] = z[i];
  for (int i = 0; i < P; i++) td[i] = got[i];
  double ref = ev_softmax_ce_soft_ref(zd, N, S, S, td, wt, NULL, NULL);
  if (!(fabs(loss - ref) < 1e-5 * fmax(1, fabs(ref)))) fail_msg("soft loss %.7g, reference %.7g", loss, ref);
  /* a teacher for another input size is refused */
  ev_model *t2;
  TU_OK(ev_model_create(g, &tw.spec, N, 2 * S, 2 * S, false, &t2));
  TU_OK(ev_stream_begin(g, &s));
  assert_int_equal(ev_model_distill_target(m, t2, s, 0.5f), EV_ERR_ARG);
  ev_clear_error();
  ev_stream_abort(s);
  ev_model_destroy(t2);
  ev_model_destroy(t), ev_model_destroy(m);
  free(img), free(mask), free(tp), free(got), free(want), free(z), free(zd), free(td);
  ev_weights_free(&tw), ev_weights_free(&sw);
  tu_gpu_assert_clean();
}

/* The backward of a network whose activations are fused into their consumers' backward
 * passes (max-pool from x, concat split, conv and fc input gradients, global average pool;
 * batch norm before one), for each kind: the weight gradients of the first layer (every
 * fused pass lies between it and the loss) and of later ones against central differences of
 * the loss (float32 on the device: a loose tolerance; the kinks of relu and leaky_relu are
 * rarely crossed by the small steps). */
static void act_gradients(const char *act, uint64_t *seed) {
  ev_gpu *g = tu_gpu();
  enum { B = 2, R = 8 };
  char json[2048];
  snprintf(json, sizeof json,
           "{\"input\":{\"channels\":3,\"size\":%d},\"classes\":3,\"task\":\"classification\",\"layers\":["
           "{\"name\":\"c1\",\"op\":\"conv\",\"in\":[\"input\"],\"out\":5,\"k\":3,\"pad\":1,\"bn\":true,%s},"
           "{\"name\":\"p1\",\"op\":\"maxpool\",\"in\":[\"c1\"],\"k\":2,\"stride\":2},"
           "{\"name\":\"c2\",\"op\":\"conv\",\"in\":[\"p1\"],\"out\":6,\"k\":3,\"pad\":1,%s},"
           "{\"name\":\"c3\",\"op\":\"conv\",\"in\":[\"p1\"],\"out\":3,\"k\":1,%s},"
           "{\"name\":\"cat\",\"op\":\"concat\",\"in\":[\"c2\",\"c3\"]},"
           "{\"name\":\"d\",\"op\":\"conv\",\"in\":[\"cat\"],\"out\":4,\"k\":1,%s},"
           "{\"name\":\"gap\",\"op\":\"gap\",\"in\":[\"d\"]},"
           "{\"name\":\"fc\",\"op\":\"fc\",\"in\":[\"gap\"],\"out\":3}],\"output\":\"fc\"}",
           R, act, act, act, act);
  ev_net_spec spec;
  TU_OK(ev_net_from_json(json, &spec));
  TU_OK(ev_net_infer(&spec, R, R));
  ev_net_weights w, gw;
  TU_OK(ev_weights_alloc(&spec, &w));
  TU_OK(ev_weights_alloc(&spec, &gw));
  ev_weights_init_he(&w, *seed);
  for (int i = 0; i < spec.n; i++)
    if (w.l[i].b) tu_fill_uniform(w.l[i].b, (size_t)spec.layers[i].out, seed, -0.3f, 0.3f);
  float *img = malloc((size_t)B * R * R * 4 * 4);
  tu_fill_uniform(img, (size_t)B * R * R * 4, seed, -2, 2);
  int32_t labels[B] = {1, 2};
  ev_model *m;
  TU_OK(ev_model_create(g, &spec, B, R, R, true, &m));
  TU_OK(ev_model_feed_labels(m, img, labels, B));
  float loss = 0;
#define RUN_LOSS(with_backward)                                               \
  do {                                                                        \
    ev_stream *s;                                                             \
    TU_OK(ev_model_upload(m, &w));                                            \
    TU_OK(ev_stream_begin(g, &s));                                            \
    TU_OK(ev_model_forward(m, s, true));                                      \
    TU_OK(ev_model_loss(m, s, 1.0f));                                         \
    if (with_backward) TU_OK(ev_model_backward(m, s));                        \
    TU_OK(ev_stream_submit(s));                                               \
    TU_OK(ev_buf_download(g, ev_model_loss_buf(m), 0, &loss, 4));             \
  } while (0)
  RUN_LOSS(1);
  TU_OK(ev_model_download_grads(m, &gw));
  const char *layers[] = {"c1", "c2", "c3", "d"};
  for (int li = 0; li < 4; li++) {
    int i = ev_net_find(&spec, layers[li]);
    uint64_t n = ev_layer_weight_count(&spec.layers[i]);
    double gmax = 0, emax = 0;
    for (uint64_t k = 0; k < n; k++) gmax = fmax(gmax, fabs(gw.l[i].w[k]));
    /* one-sided differences on both sides: where they disagree, [w - h, w + h] holds a kink (a
     * ReLU at 0, a max-pool's runner-up overtaking), where the loss is not smooth: that weight
     * is skipped; elsewhere the central difference is checked */
    RUN_LOSS(0);
    const float l0 = loss;
    int valid = 0;
    for (int t = 0; t < 16 && valid < 6; t++) {
      uint64_t k = tu_next(seed) % n;
      float w0 = w.l[i].w[k], h = 3e-3f, lp, lm;
      w.l[i].w[k] = w0 + h;
      RUN_LOSS(0);
      lp = loss;
      w.l[i].w[k] = w0 - h;
      RUN_LOSS(0);
      lm = loss;
      w.l[i].w[k] = w0;
      double up = ((double)lp - l0) / h, down = ((double)l0 - lm) / h;
      if (fabs(up - down) > 0.01 * gmax + 2e-4) continue;
      valid++;
      emax = fmax(emax, fabs(0.5 * (up + down) - gw.l[i].w[k]));
    }
    print_message("  %s: layer %s, |dL/dw| up to %.3g, finite differences within %.3g (%d weights)\n", act,
                  layers[li], gmax, emax, valid);
    if (valid < 3) fail_msg("%s: layer %s: only %d weights with a smooth loss around them", act, layers[li], valid);
    if (!(gmax > 0 && emax <= 0.05 * gmax + 1e-4))
      fail_msg("%s: layer %s weight gradients differ from finite differences by %.3g (largest %.3g)", act, layers[li],
               emax, gmax);
  }
#undef RUN_LOSS
  ev_model_destroy(m);
  free(img);
  ev_weights_free(&w), ev_weights_free(&gw);
  ev_net_free(&spec);
}

static void test_activation_gradients(void **state) {
  uint64_t seed = tu_seed() ^ 0xac7;
  act_gradients("\"act\":\"relu\"", &seed);
  act_gradients("\"act\":\"leaky_relu\",\"alpha\":0.1", &seed);
  act_gradients("\"act\":\"tanh\"", &seed);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_folded_bn_inference),
                                     cmocka_unit_test(test_sparse_inference), cmocka_unit_test(test_distillation),
                                     cmocka_unit_test(test_activation_gradients)};
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
