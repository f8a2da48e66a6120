/* Masked SGD and Adam: several GPU steps (lr and step changing every call) vs the float
 * reference loop (tol 1e-6 SGD, 1e-5 Adam), odd lengths (partial last quad), removed
 * synapses exactly +0.0 after every step even with Inf/NaN gradients there, the reference
 * against torch.optim, and clear errors for bad input. */
#include "evonet/ops/optim.h"
#include "trainops_util.h"

static int bits_zero(float x) {
  uint32_t b;
  memcpy(&b, &x, 4);
  return b == 0;
}

/* A buffer of exactly n floats (not rounded to a quad: the kernels' partial last quad). */
static ev_buf upload_exact(const float *x, uint64_t n) {
  ev_buf b;
  TU_OK(ev_buf_alloc(tu_gpu(), n * 4, &b));
  tu_poison(&b);
  TU_OK(ev_buf_upload(tu_gpu(), &b, 0, x, n * 4));
  return b;
}

/* adam: 0 = SGD, 1 = Adam; masked: use a mask with ~30% removed synapses */
static void run_opt(uint64_t n, int adam, int masked) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (n * 3 + (uint64_t)adam * 7 + (uint64_t)masked);
  enum { STEPS = 5 };
  float *w = malloc(n * 4), *gr = malloc(n * 4), *s1 = calloc(n, 4), *s2 = calloc(n, 4), *mask = malloc(n * 4);
  tu_fill_uniform(w, n, &seed, -1, 1); /* removed synapses start nonzero: the step must zero them */
  for (uint64_t i = 0; i < n; i++) mask[i] = tu_uniform(&seed, 0, 1) < 0.3f ? 0.0f : 1.0f;
  ev_buf bw = upload_exact(w, n), bg = upload_exact(w, n), b1 = upload_exact(s1, n), b2 = upload_exact(s2, n);
  ev_buf bm = upload_exact(mask, n);
  for (int t = 1; t <= STEPS; t++) {
    tu_fill_uniform(gr, n, &seed, -1, 1);
    if (masked) /* Inf and NaN gradients on removed synapses must not leak */
      for (uint64_t i = 0; i < n; i++)
        if (mask[i] == 0.0f && i % 3 == 0) gr[i] = i % 2 ? INFINITY : NAN;
    TU_OK(ev_buf_upload(g, &bg, 0, gr, n * 4));
    float lr = (adam ? 1e-2f : 0.1f) / (float)t; /* a schedule: new lr every step */
    ev_stream *s;
    TU_OK(ev_stream_begin(g, &s));
    if (adam) {
      ev_adam_params p = {lr, 0.9f, 0.999f, 1e-8f, 1e-4f, t};
      TU_OK(ev_adam_step(s, &p, &bw, &bg, &b1, &b2, masked ? &bm : NULL, n));
      ev_adam_step_ref(&p, w, gr, s1, s2, masked ? mask : NULL, n);
    } else {
      ev_sgd_params p = {lr, 0.9f, 5e-4f};
      TU_OK(ev_sgd_step(s, &p, &bw, &bg, &b1, masked ? &bm : NULL, n));
      ev_sgd_step_ref(&p, w, gr, s1, masked ? mask : NULL, n);
    }
    TU_OK(ev_stream_submit(s));
    float *wg = malloc(n * 4), *sg = malloc(n * 4);
    tu_download(&bw, wg, n);
    tu_download(&b1, sg, n);
    if (masked)
      for (uint64_t i = 0; i < n; i++)
        if (mask[i] == 0.0f && !(bits_zero(wg[i]) && bits_zero(sg[i])))
          fail_msg("step %d: removed synapse %llu has w = %g, state = %g", t, (unsigned long long)i, wg[i], sg[i]);
    if (t == STEPS) {
      char what[80];
      snprintf(what, sizeof what, "%s n=%llu%s, %d steps: w", adam ? "adam" : "sgd", (unsigned long long)n,
               masked ? " masked" : "", STEPS);
      double *wr = to_double(w, n), *sr = to_double(s1, n);
      to_check(what, wg, wr, n, adam ? 1e-5 : 1e-6);
      to_check(adam ? "  first moment" : "  momentum", sg, sr, n, adam ? 1e-5 : 1e-6);
      if (adam) {
        float *vg = malloc(n * 4);
        double *vr = to_double(s2, n);
        tu_download(&b2, vg, n);
        to_check("  second moment", vg, vr, n, 1e-5);
        free(vg), free(vr);
      }
      free(wr), free(sr);
    }
    free(wg), free(sg);
  }
  free(w), free(gr), free(s1), free(s2), free(mask);
  ev_buf_free(g, &bw), ev_buf_free(g, &bg), ev_buf_free(g, &b1), ev_buf_free(g, &b2), ev_buf_free(g, &bm);
  tu_gpu_assert_clean();
}

/* n % 4 == 0 (every array whole texels) takes the texel-read kernels (sgd_q, adam_q), the
 * rest the storage-buffer ones with the partial last quad */
static void test_sgd(void **state) {
  const uint64_t ns[] = {1, 3, 4, 13, 4099, 100003, 40000, 1024};
  for (int i = 0; i < 8; i++) run_opt(ns[i], 0, 1);
  run_opt(1001, 0, 0);
  run_opt(4096, 0, 0);
}

static void test_adam(void **state) {
  const uint64_t ns[] = {1, 3, 4, 13, 4099, 100003, 40000, 1024};
  for (int i = 0; i < 8; i++) run_opt(ns[i], 1, 1);
  run_opt(1001, 1, 0);
  run_opt(4096, 1, 0);
}

/* the reference loops against torch.optim (PyTorch 1.13, float32): 3 steps of fixed gradients */
static void test_matches_pytorch(void **state) {
  const float g3[3][5] = {{0.1f, -0.2f, 0.3f, 0.05f, -0.4f}, {0.2f, 0.1f, -0.1f, 0.3f, 0.25f}, {-0.3f, 0.15f, 0.2f, -0.05f, 0.1f}};
  const float w_sgd[5] = {0.46215537190437317f, -0.22846466302871704f, 0.9121987819671631f, 0.6802951097488403f, -1.9380165338516235f};
  const float w_adam[5] = {0.48076149821281433f, -0.2388947606086731f, 0.979337215423584f, 0.7257729768753052f, -1.987003207206726f};
  float w[5] = {0.5f, -0.25f, 1.0f, 0.75f, -2.0f}, b[5] = {0};
  for (int t = 0; t < 3; t++) ev_sgd_step_ref(&(ev_sgd_params){0.1f, 0.9f, 0.01f}, w, g3[t], b, NULL, 5);
  for (int i = 0; i < 5; i++) assert_true(fabsf(w[i] - w_sgd[i]) <= 1e-6f * fabsf(w_sgd[i]));
  float w2[5] = {0.5f, -0.25f, 1.0f, 0.75f, -2.0f}, m[5] = {0}, v[5] = {0};
  for (int t = 0; t < 3; t++)
    ev_adam_step_ref(&(ev_adam_params){0.01f, 0.9f, 0.999f, 1e-8f, 0.01f, t + 1}, w2, g3[t], m, v, NULL, 5);
  for (int i = 0; i < 5; i++) assert_true(fabsf(w2[i] - w_adam[i]) <= 1e-6f * fabsf(w_adam[i]));
}

static void test_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_buf a, b, c, d, small;
  TU_OK(ev_buf_alloc(g, 64, &a));
  TU_OK(ev_buf_alloc(g, 64, &b));
  TU_OK(ev_buf_alloc(g, 64, &c));
  TU_OK(ev_buf_alloc(g, 64, &d));
  TU_OK(ev_buf_alloc(g, 8, &small));
  ev_sgd_params sp = {0.1f, 0.9f, 0};
  ev_adam_params ap = {0.1f, 0.9f, 0.999f, 1e-8f, 0, 1};
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_EXPECT_ARG(ev_sgd_step(s, &sp, &a, &b, &c, NULL, 0));       /* empty */
  TU_EXPECT_ARG(ev_sgd_step(s, &sp, &a, &b, &c, NULL, 17));      /* beyond the buffers */
  TU_EXPECT_ARG(ev_sgd_step(s, &sp, &a, &b, &c, &small, 16));    /* mask too short */
  TU_EXPECT_ARG(ev_sgd_step(s, &sp, &a, &b, &a, NULL, 16));      /* weight = momentum */
  TU_EXPECT_ARG(ev_sgd_step(s, &sp, &a, NULL, &c, NULL, 16));    /* no gradient */
  TU_EXPECT_ARG(ev_sgd_step(s, NULL, &a, &b, &c, NULL, 16));
  TU_EXPECT_ARG(ev_adam_step(s, &ap, &a, &b, &c, &c, NULL, 16)); /* m = v */
  ev_adam_params bad = ap;
  bad.step = 0;
  TU_EXPECT_ARG(ev_adam_step(s, &bad, &a, &b, &c, &d, NULL, 16));
  bad = ap, bad.beta2 = 1.0f;
  TU_EXPECT_ARG(ev_adam_step(s, &bad, &a, &b, &c, &d, NULL, 16));
  TU_OK(ev_adam_step(s, &ap, &a, &b, &c, &d, NULL, 16));
  ev_stream_abort(s);
  ev_buf_free(g, &a), ev_buf_free(g, &b), ev_buf_free(g, &c), ev_buf_free(g, &d), ev_buf_free(g, &small);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sgd), cmocka_unit_test(test_adam),
      cmocka_unit_test(test_matches_pytorch), cmocka_unit_test(test_bad_input),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
