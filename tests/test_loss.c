/* Softmax cross-entropy: GPU vs the double reference (loss: a reduction, tol 1e-5; logit
 * gradient and probabilities tol 1e-5) for mask and index targets, class weights, ignored
 * pixels, many chunks; values from PyTorch; finite differences of the reference gradient;
 * clear errors for bad input. */
#include "evonet/ops/loss.h"
#include "trainops_util.h"

/* kind: mask or index (with some ignored pixels); weights: use class weights */
static void run_ce(int n, int h, int w, int c, ev_target_kind kind, int weights, int want_grad, int want_prob) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(n * 31 + h * 1009 + w * 7 + c * 100003 + kind * 17 + weights);
  uint64_t P = (uint64_t)n * h * w, nf = ev_tensor_floats(n, h, w, c);
  float *z = to_rand_act(&seed, n, h, w, c, -3, 3), wt[64];
  int32_t *cls = malloc(P * 4);
  float *tgt = malloc(P * 4);
  for (uint64_t p = 0; p < P; p++) {
    if (kind == EV_TARGET_MASK) {
      tgt[p] = tu_uniform(&seed, 0, 1);
    } else {
      cls[p] = (int32_t)(tu_next(&seed) % (uint64_t)(c + 1)) - (p % 7 == 3 ? 1 : 0) * (c + 1); /* some -1.. */
      if (cls[p] >= c) cls[p] = -1;                                                             /* ignored */
      memcpy(&tgt[p], &cls[p], 4);
    }
  }
  if (kind == EV_TARGET_MASK) ev_mask_to_class(tgt, cls, P);
  double wd[64];
  for (int k = 0; k < c; k++) wt[k] = tu_uniform(&seed, 0.2f, 2.0f), wd[k] = wt[k];
  ev_tensor tz = to_tensor(z, n, h, w, c), tdz = to_tensor(NULL, n, h, w, c);
  ev_buf bt = tu_upload(tgt, P), bw = tu_upload(wt, (size_t)c), scratch, loss, prob;
  TU_OK(ev_buf_alloc(g, ev_softmax_ce_scratch_floats(n, h, w) * 4, &scratch));
  TU_OK(ev_buf_alloc(g, 4, &loss));
  TU_OK(ev_buf_alloc(g, P * 4, &prob));
  tu_poison(&scratch), tu_poison(&loss), tu_poison(&prob);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_softmax_ce(s, &tz, &bt, kind, weights ? &bw : NULL, &scratch, &loss, want_grad ? &tdz : NULL,
                      want_prob ? &prob : NULL));
  TU_OK(ev_stream_submit(s));
  double *zd = to_double(z, nf), *dzr = malloc(nf * 8), *pr = malloc(P * 8);
  double lr = ev_softmax_ce_ref(zd, n, h, w, c, cls, weights ? wd : NULL, dzr, pr);
  float lg;
  tu_download(&loss, &lg, 1);
  char what[96];
  snprintf(what, sizeof what, "ce (%d,%d,%d,%d) %s%s loss", n, c, h, w, kind == EV_TARGET_MASK ? "mask" : "index",
           weights ? " weighted" : "");
  to_check(what, &lg, &lr, 1, 1e-5);
  if (want_grad) {
    float *dz = to_download(&tdz);
    to_check("  logit gradient", dz, dzr, nf, 1e-5);
    to_check_padding("logit gradient", dz, P, c);
    free(dz);
  }
  if (want_prob) {
    float *pg = malloc(P * 4);
    tu_download(&prob, pg, P);
    to_check("  foreground probability", pg, pr, P, 1e-5);
    free(pg);
  }
  free(z), free(cls), free(tgt), free(zd), free(dzr), free(pr);
  ev_tensor_free(g, &tz), ev_tensor_free(g, &tdz);
  ev_buf_free(g, &bt), ev_buf_free(g, &bw), ev_buf_free(g, &scratch), ev_buf_free(g, &loss), ev_buf_free(g, &prob);
  tu_gpu_assert_clean();
}

static void test_mask_targets(void **state) {
  run_ce(3, 7, 5, 2, EV_TARGET_MASK, 0, 1, 1);
  run_ce(3, 7, 5, 2, EV_TARGET_MASK, 1, 1, 1);
  run_ce(3, 7, 5, 2, EV_TARGET_MASK, 0, 0, 0); /* loss only */
}

static void test_index_targets(void **state) {
  run_ce(3, 7, 5, 13, EV_TARGET_INDEX, 1, 1, 1);
  run_ce(3, 7, 5, 5, EV_TARGET_INDEX, 0, 1, 0);
  run_ce(2, 3, 1, 3, EV_TARGET_INDEX, 1, 1, 1);
}

static void test_many_chunks(void **state) {
  run_ce(2, 128, 96, 2, EV_TARGET_MASK, 1, 1, 1); /* 24576 pixels: 768 chunks */
}

/* F.cross_entropy in PyTorch 1.13 (float64) on z (1, 2, 1, 3), t = [1, 0, 1], w = [0.3, 1.7] */
static void test_matches_pytorch(void **state) {
  const double zc[2][3] = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}};
  const double want_grad[2][3] = {{0.12356768008891665, -0.0630243130682182, 0.43185207964978023},
                                  {-0.12356768008891665, 0.0630243130682182, -0.43185207964978023}};
  double z[12] = {0}, dz[12], wt[2] = {0.3, 1.7};
  for (int x = 0; x < 3; x++) z[x * 4] = zc[0][x], z[x * 4 + 1] = zc[1][x];
  int32_t t[3] = {1, 0, 1};
  double l = ev_softmax_ce_ref(z, 1, 1, 3, 2, t, wt, dz, NULL);
  assert_true(fabs(l - 1.5576941877000077) < 1e-12);
  for (int x = 0; x < 3; x++)
    for (int k = 0; k < 2; k++) assert_true(fabs(dz[x * 4 + k] - want_grad[k][x]) < 1e-12);
  assert_true(fabs(ev_softmax_ce_ref(z, 1, 1, 3, 2, t, NULL, NULL, NULL) - 1.5423861192889314) < 1e-12);
}

typedef struct { int n, h, w, c; const int32_t *cls; const double *wt; } fd_ctx;
static double fd_loss(const double *z, void *v) {
  fd_ctx *f = v;
  return ev_softmax_ce_ref(z, f->n, f->h, f->w, f->c, f->cls, f->wt, NULL, NULL);
}

static void test_gradients_fd(void **state) {
  uint64_t seed = tu_seed() ^ 13;
  fd_ctx f = {2, 2, 3, 5, NULL, NULL};
  uint64_t P = 12, nf = ev_tensor_floats(2, 2, 3, 5);
  int32_t cls[12];
  double wt[5], *z = malloc(nf * 8), *dz = malloc(nf * 8);
  unsigned char *use = malloc(nf);
  for (uint64_t p = 0; p < P; p++) cls[p] = (int32_t)(tu_next(&seed) % 6) - 1; /* -1: ignored */
  for (int k = 0; k < 5; k++) wt[k] = tu_uniform(&seed, 0.2f, 2);
  for (uint64_t i = 0; i < nf; i++) use[i] = (i % 8) < 5, z[i] = use[i] ? tu_uniform(&seed, -3, 3) : 0;
  f.cls = cls, f.wt = wt;
  ev_softmax_ce_ref(z, 2, 2, 3, 5, cls, wt, dz, NULL);
  to_fd_check("softmax_ce gradient (weighted, ignored)", fd_loss, &f, z, dz, nf, use, 1e-6, 1e-7);
  f.wt = NULL;
  ev_softmax_ce_ref(z, 2, 2, 3, 5, cls, NULL, dz, NULL);
  to_fd_check("softmax_ce gradient", fd_loss, &f, z, dz, nf, use, 1e-6, 1e-7);
  free(z), free(dz), free(use);
}

static void test_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_tensor z = to_tensor(NULL, 2, 3, 4, 2), z1 = to_tensor(NULL, 2, 3, 4, 1), dz = to_tensor(NULL, 2, 3, 4, 3);
  ev_buf t, sc, l, tiny;
  TU_OK(ev_buf_alloc(g, 24 * 4, &t));
  TU_OK(ev_buf_alloc(g, ev_softmax_ce_scratch_floats(2, 3, 4) * 4, &sc));
  TU_OK(ev_buf_alloc(g, 4, &l));
  TU_OK(ev_buf_alloc(g, 4, &tiny));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_EXPECT_ARG(ev_softmax_ce(s, &z1, &t, EV_TARGET_MASK, NULL, &sc, &l, NULL, NULL));  /* one class */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &tiny, EV_TARGET_MASK, NULL, &sc, &l, NULL, NULL)); /* target short */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, EV_TARGET_MASK, NULL, &tiny, &l, NULL, NULL));  /* scratch short */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, EV_TARGET_MASK, &tiny, &sc, &l, NULL, NULL));   /* 1 weight for 2 */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, EV_TARGET_MASK, NULL, &sc, &l, &dz, NULL));     /* gradient shape */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, EV_TARGET_MASK, NULL, &sc, &l, NULL, &tiny));   /* prob short */
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, (ev_target_kind)7, NULL, &sc, &l, NULL, NULL));
  TU_EXPECT_ARG(ev_softmax_ce(s, &z, &t, EV_TARGET_MASK, NULL, &sc, NULL, NULL, NULL));
  ev_stream_abort(s);
  ev_tensor_free(g, &z), ev_tensor_free(g, &z1), ev_tensor_free(g, &dz);
  ev_buf_free(g, &t), ev_buf_free(g, &sc), ev_buf_free(g, &l), ev_buf_free(g, &tiny);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mask_targets),    cmocka_unit_test(test_index_targets),
      cmocka_unit_test(test_many_chunks),     cmocka_unit_test(test_matches_pytorch),
      cmocka_unit_test(test_gradients_fd),    cmocka_unit_test(test_bad_input),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
