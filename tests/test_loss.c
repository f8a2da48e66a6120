/* Softmax cross-entropy: GPU vs the double reference (loss: a reduction, tol 1e-5; logit
 * gradient and probabilities tol 1e-5) for mask, index and soft targets, class weights,
 * ignored pixels, many chunks; values from PyTorch; finite differences of the reference
 * gradients; a soft target of 0/1 is the mask loss; the distillation target against its
 * reference; clear errors for bad input. */
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

/* Soft targets: t uniform in [0, 1] with some exact 0s and 1s. */
static void run_soft(int n, int h, int w, int weights) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(n * 31 + h * 1009 + w * 7 + weights + 555);
  uint64_t P = (uint64_t)n * h * w, nf = ev_tensor_floats(n, h, w, 2);
  float *z = to_rand_act(&seed, n, h, w, 2, -3, 3), *tgt = malloc(P * 4), wt[2];
  double *td = malloc(P * 8), wd[2];
  for (uint64_t p = 0; p < P; p++) tgt[p] = p % 5 == 1 ? (float)(p % 2) : tu_uniform(&seed, 0, 1), td[p] = tgt[p];
  for (int k = 0; k < 2; k++) wt[k] = tu_uniform(&seed, 0.2f, 2.0f), wd[k] = wt[k];
  ev_tensor tz = to_tensor(z, n, h, w, 2), tdz = to_tensor(NULL, n, h, w, 2);
  ev_buf bt = tu_upload(tgt, P), bw = tu_upload(wt, 2), scratch, loss, prob;
  TU_OK(ev_buf_alloc(g, ev_softmax_ce_scratch_floats(n, h, w) * 4, &scratch));
  TU_OK(ev_buf_alloc(g, 4, &loss));
  TU_OK(ev_buf_alloc(g, P * 4, &prob));
  tu_poison(&scratch), tu_poison(&loss), tu_poison(&prob), tu_poison(&tdz.buf);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_softmax_ce(s, &tz, &bt, EV_TARGET_SOFT, weights ? &bw : NULL, &scratch, &loss, &tdz, &prob));
  TU_OK(ev_stream_submit(s));
  double *zd = to_double(z, nf), *dzr = malloc(nf * 8), *pr = malloc(P * 8);
  double lr = ev_softmax_ce_soft_ref(zd, n, h, w, td, weights ? wd : NULL, dzr, pr);
  float lg, *dz = to_download(&tdz), *pg = malloc(P * 4);
  tu_download(&loss, &lg, 1);
  tu_download(&prob, pg, P);
  char what[96];
  snprintf(what, sizeof what, "ce (%d,2,%d,%d) soft%s loss", n, h, w, weights ? " weighted" : "");
  to_check(what, &lg, &lr, 1, 1e-5);
  to_check("  logit gradient", dz, dzr, nf, 1e-5);
  to_check_padding("logit gradient", dz, P, 2);
  to_check("  foreground probability", pg, pr, P, 1e-5);
  free(z), free(tgt), free(td), free(zd), free(dzr), free(pr), free(dz), free(pg);
  ev_tensor_free(g, &tz), ev_tensor_free(g, &tdz);
  ev_buf_free(g, &bt), ev_buf_free(g, &bw), ev_buf_free(g, &scratch), ev_buf_free(g, &loss), ev_buf_free(g, &prob);
  tu_gpu_assert_clean();
}

static void test_soft_targets(void **state) {
  run_soft(3, 7, 5, 0);
  run_soft(3, 7, 5, 1);
  run_soft(2, 64, 48, 1); /* many chunks */
}

/* t in {0, 1}: the soft loss is the mask loss (reference: exactly in double; GPU within 1e-6). */
static void test_soft_binary_is_mask(void **state) {
  uint64_t seed = tu_seed() ^ 77;
  enum { n = 2, h = 5, w = 3 };
  uint64_t P = n * h * w, nf = ev_tensor_floats(n, h, w, 2);
  double *z = malloc(nf * 8), t[P], dzs[nf], dzm[nf], wt[2] = {0.7, 1.9};
  int32_t cls[P];
  for (uint64_t i = 0; i < nf; i++) z[i] = i % 4 < 2 ? tu_uniform(&seed, -3, 3) : 0;
  for (uint64_t p = 0; p < P; p++) cls[p] = (int32_t)(tu_next(&seed) % 2), t[p] = cls[p];
  double ls = ev_softmax_ce_soft_ref(z, n, h, w, t, wt, dzs, NULL), lm = ev_softmax_ce_ref(z, n, h, w, 2, cls, wt, dzm, NULL);
  assert_true(fabs(ls - lm) < 1e-12);
  for (uint64_t i = 0; i < nf; i++) assert_true(fabs(dzs[i] - dzm[i]) < 1e-12);
  free(z);
}

/* F.cross_entropy in PyTorch 1.13 (float64) with probability targets: z (1, 2, 1, 3), class-1
 * probabilities [0.2, 0.9, 0.5]. */
static void test_soft_matches_pytorch(void **state) {
  const double zc[2][3] = {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}};
  double z[12] = {0}, t[3] = {0.2, 0.9, 0.5};
  for (int x = 0; x < 3; x++) z[x * 4] = zc[0][x], z[x * 4 + 1] = zc[1][x];
  assert_true(fabs(ev_softmax_ce_soft_ref(z, 1, 1, 3, t, NULL, NULL, NULL) - 0.9757194526222648) < 1e-12);
  /* weights [0.3, 1.7]: PyTorch divides by the 3 pixels, evonet by the summed weights 3.14 */
  double wt[2] = {0.3, 1.7};
  assert_true(fabs(ev_softmax_ce_soft_ref(z, 1, 1, 3, t, wt, NULL, NULL) * 3.14 / 3 - 1.08388957822085) < 1e-12);
}

typedef struct { int n, h, w; const double *t, *wt; } fd_soft_ctx;
static double fd_soft_loss(const double *z, void *v) {
  fd_soft_ctx *f = v;
  return ev_softmax_ce_soft_ref(z, f->n, f->h, f->w, f->t, f->wt, NULL, NULL);
}

static void test_soft_gradient_fd(void **state) {
  uint64_t seed = tu_seed() ^ 31;
  uint64_t P = 12, nf = ev_tensor_floats(2, 2, 3, 2);
  double t[12], wt[2] = {0.4, 1.6}, *z = malloc(nf * 8), *dz = malloc(nf * 8);
  unsigned char *use = malloc(nf);
  for (uint64_t p = 0; p < P; p++) t[p] = tu_uniform(&seed, 0, 1);
  for (uint64_t i = 0; i < nf; i++) use[i] = (i % 4) < 2, z[i] = use[i] ? tu_uniform(&seed, -3, 3) : 0;
  fd_soft_ctx f = {2, 2, 3, t, wt};
  ev_softmax_ce_soft_ref(z, 2, 2, 3, t, wt, dz, NULL);
  to_fd_check("soft softmax_ce gradient (weighted)", fd_soft_loss, &f, z, dz, nf, use, 1e-6, 1e-7);
  f.wt = NULL;
  ev_softmax_ce_soft_ref(z, 2, 2, 3, t, NULL, dz, NULL);
  to_fd_check("soft softmax_ce gradient", fd_soft_loss, &f, z, dz, nf, use, 1e-6, 1e-7);
  free(z), free(dz), free(use);
}

/* The distillation target against its reference, out of place and in place (y = mask). */
static void test_distill_target(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ 99;
  const uint32_t n = 3001;
  float *m = malloc(n * 4), *t = malloc(n * 4), *want = malloc(n * 4), *got = malloc(n * 4);
  for (uint32_t i = 0; i < n; i++) m[i] = i % 7 == 0 ? 0.5f : tu_uniform(&seed, 0, 1), t[i] = tu_uniform(&seed, 0, 1);
  const float lambdas[] = {0.0f, 0.3f, 1.0f};
  for (int k = 0; k < 3; k++) {
    ev_buf bm = tu_upload(m, n), bt = tu_upload(t, n), by;
    TU_OK(ev_buf_alloc(g, n * 4, &by));
    tu_poison(&by);
    ev_stream *s;
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_distill_target(s, &bm, &bt, lambdas[k], &by, n));
    TU_OK(ev_distill_target(s, &bm, &bt, lambdas[k], &bm, n)); /* in place */
    TU_OK(ev_stream_submit(s));
    ev_distill_target_ref(m, t, lambdas[k], want, n);
    tu_download(&by, got, n); /* within an ulp: a device may fuse the multiply-add */
    assert_true(tu_max_abs_err(got, want, n) <= 1e-6);
    tu_download(&bm, got, n);
    assert_true(tu_max_abs_err(got, want, n) <= 1e-6);
    ev_buf_free(g, &bm), ev_buf_free(g, &bt), ev_buf_free(g, &by);
  }
  for (uint32_t i = 0; i < n; i++) /* 0.5 is background, as in the mask rule */
    if (m[i] == 0.5f) assert_true(want[i] == lambdas[2] * t[i]);
  free(m), free(t), free(want), free(got);
  tu_gpu_assert_clean();
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
  ev_tensor z3 = to_tensor(NULL, 2, 3, 4, 3);
  TU_EXPECT_ARG(ev_softmax_ce(s, &z3, &t, EV_TARGET_SOFT, NULL, &sc, &l, NULL, NULL)); /* soft needs 2 classes */
  TU_EXPECT_ARG(ev_distill_target(s, &t, &t, 1.5f, &t, 24));                        /* lambda outside [0, 1] */
  TU_EXPECT_ARG(ev_distill_target(s, &t, &tiny, 0.5f, &t, 24));                     /* teacher short */
  ev_tensor_free(g, &z3);
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
      cmocka_unit_test(test_soft_targets),    cmocka_unit_test(test_soft_binary_is_mask),
      cmocka_unit_test(test_soft_matches_pytorch), cmocka_unit_test(test_soft_gradient_fd),
      cmocka_unit_test(test_distill_target),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
