/* The model executor: inference with batch norm folded into the convolutions equals the
 * training model's unfolded inference path (BN with running statistics, separate ReLU). */
#include <stdlib.h>
#include <string.h>

#include "evonet/model.h"
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

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_folded_bn_inference)};
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
