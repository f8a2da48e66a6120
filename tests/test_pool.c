/* Max-pooling: GPU vs the double reference (values and argmax exactly; gradients to 1e-6)
 * for non-overlapping and overlapping windows, floor and ceil mode, odd shapes, many ties
 * (first maximum in window order wins), NaN propagation; finite differences of the
 * backward; clear errors for bad geometry. The argmax-free pair (ev_maxpool_forward_values,
 * ev_maxpool_backward_x, with and without the fused ReLU backward) against the same
 * references, on shapes whose windows tile the input exactly and on ones that leave rows
 * and columns uncovered or cut the last window. */
#include "evonet/ops/pool.h"
#include "trainops_util.h"

enum { N = 3, H = 7, W = 5, C = 13 };

/* ties: values from a 3-level set, so most windows hold several equal maxima */
static void run_pool(const ev_pool_desc *d, int ties, int nans) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(d->kh * 131 + d->stride_h * 17 + d->pad_h * 7 + d->ceil_mode + ties * 1000);
  int oh = ev_pool_out_size(H, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  int ow = ev_pool_out_size(W, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
  uint64_t nfi = ev_tensor_floats(N, H, W, C), nfo = ev_tensor_floats(N, oh, ow, C);
  float *x = to_rand_act(&seed, N, H, W, C, -1, 1);
  if (ties)
    for (uint64_t i = 0; i < nfi; i++) x[i] = (i % ev_c4(C)) < C ? (float)(int)(x[i] * 1.5f) : 0.0f;
  if (nans)
    for (int k = 0; k < nans; k++) x[(tu_next(&seed) % (nfi / 16)) * 16 + 1] = NAN;
  float *dy = to_rand_act(&seed, N, oh, ow, C, -1, 1);
  ev_tensor tx = to_tensor(x, N, H, W, C), ty = to_tensor(NULL, N, oh, ow, C);
  ev_tensor tdy = to_tensor(dy, N, oh, ow, C), tdx = to_tensor(NULL, N, H, W, C);
  ev_buf idx;
  TU_OK(ev_buf_alloc(g, nfo * 4, &idx));
  tu_poison(&idx);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_maxpool_forward(s, d, &tx, &ty, &idx));
  TU_OK(ev_maxpool_backward(s, d, &tdy, &idx, &tdx));
  TU_OK(ev_stream_submit(s));

  double *xd = to_double(x, nfi), *dyd = to_double(dy, nfo), *yr = malloc(nfo * 8), *dxr = malloc(nfi * 8);
  int32_t *ir = malloc(nfo * 4), *ig = malloc(nfo * 4);
  ev_maxpool_forward_ref(d, xd, N, H, W, C, yr, ir);
  ev_maxpool_backward_ref(d, dyd, ir, N, H, W, C, dxr);
  float *y = to_download(&ty), *dx = to_download(&tdx);
  TU_OK(ev_buf_download(g, &idx, 0, ig, nfo * 4));
  for (uint64_t i = 0; i < nfo; i++) {
    if (ig[i] != ir[i]) fail_msg("argmax %llu: gpu %d, reference %d", (unsigned long long)i, ig[i], ir[i]);
    if (!(y[i] == (float)yr[i] || (isnan(y[i]) && isnan(yr[i]))))
      fail_msg("max %llu: gpu %g, reference %g", (unsigned long long)i, y[i], yr[i]);
  }
  char what[96];
  snprintf(what, sizeof what, "maxpool k%dx%d s%dx%d p%dx%d%s%s -> %dx%d", d->kh, d->kw, d->stride_h,
           d->stride_w, d->pad_h, d->pad_w, d->ceil_mode ? " ceil" : "", ties ? " ties" : "", oh, ow);
  fprintf(stderr, "  %-44s values and argmax exact\n", what);
  to_check_padding(what, y, (uint64_t)N * oh * ow, C);
  to_check(what, dx, dxr, nfi, 1e-6);
  to_check_padding(what, dx, (uint64_t)N * H * W, C);
  free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(ir), free(ig), free(y), free(dx);
  ev_tensor_free(g, &tx), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdy), ev_tensor_free(g, &tdx);
  ev_buf_free(g, &idx);
  tu_gpu_assert_clean();
}

/* ev_maxpool_forward_values + ev_maxpool_backward_x (relu: the input is a ReLU's output) vs
 * the references: the same values, and the reference gradient masked by x > 0. */
static void run_pool_x(const ev_pool_desc *d, int n, int h, int w, int c, int ties, int nans, int relu) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(d->kh * 131 + d->stride_w * 17 + h * 7 + w + ties * 1000 + relu * 77);
  int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
  uint64_t nfi = ev_tensor_floats(n, h, w, c), nfo = ev_tensor_floats(n, oh, ow, c);
  float *x = to_rand_act(&seed, n, h, w, c, -1, 1);
  if (ties)
    for (uint64_t i = 0; i < nfi; i++) x[i] = (i % ev_c4(c)) < (uint64_t)c ? (float)(int)(x[i] * 1.5f) : 0.0f;
  if (relu) /* a ReLU's output: no negatives, many exact zeros */
    for (uint64_t i = 0; i < nfi; i++) x[i] = x[i] > 0 ? x[i] : 0.0f;
  if (nans)
    for (int k = 0; k < nans; k++) x[(tu_next(&seed) % (nfi / 16)) * 16 + 1] = NAN;
  float *dy = to_rand_act(&seed, n, oh, ow, c, -1, 1);
  ev_tensor tx = to_tensor(x, n, h, w, c), ty = to_tensor(NULL, n, oh, ow, c);
  ev_tensor tdy = to_tensor(dy, n, oh, ow, c), tdx = to_tensor(NULL, n, h, w, c);
  assert_true(ev_maxpool_backward_x_ok(d));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_maxpool_forward_values(s, d, &tx, &ty));
  TU_OK(ev_maxpool_backward_x(s, d, &tx, &tdy, &tdx, relu));
  TU_OK(ev_stream_submit(s));
  double *xd = to_double(x, nfi), *dyd = to_double(dy, nfo), *yr = malloc(nfo * 8), *dxr = malloc(nfi * 8);
  int32_t *ir = malloc(nfo * 4);
  ev_maxpool_forward_ref(d, xd, n, h, w, c, yr, ir);
  ev_maxpool_backward_ref(d, dyd, ir, n, h, w, c, dxr);
  if (relu)
    for (uint64_t i = 0; i < nfi; i++) dxr[i] = xd[i] > 0 ? dxr[i] : 0.0;
  float *y = to_download(&ty), *dx = to_download(&tdx);
  for (uint64_t i = 0; i < nfo; i++)
    if (!(y[i] == (float)yr[i] || (isnan(y[i]) && isnan(yr[i]))))
      fail_msg("max %llu: gpu %g, reference %g", (unsigned long long)i, y[i], yr[i]);
  char what[96];
  snprintf(what, sizeof what, "maxpool-x k%dx%d s%dx%d%s %dx%d%s%s", d->kh, d->kw, d->stride_h, d->stride_w,
           d->ceil_mode ? " ceil" : "", h, w, ties ? " ties" : "", relu ? " +relu" : "");
  to_check_padding(what, y, (uint64_t)n * oh * ow, c);
  to_check(what, dx, dxr, nfi, 1e-6);
  for (uint64_t i = 0; i < nfi; i++) /* every gradient is one dy or exactly zero */
    if (dxr[i] == 0.0 && dx[i] != 0.0f) fail_msg("%s: dx %llu = %g, expected 0", what, (unsigned long long)i, dx[i]);
  to_check_padding(what, dx, (uint64_t)n * h * w, c);
  free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(ir), free(y), free(dx);
  ev_tensor_free(g, &tx), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdy), ev_tensor_free(g, &tdx);
  tu_gpu_assert_clean();
}

static void test_from_x(void **state) {
  for (int relu = 0; relu < 2; relu++) {
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 2, 8, 6, 13, 0, 0, relu); /* exact tiling */
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 3, 7, 5, 13, 0, 0, relu); /* uncovered row, column */
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 1}, 3, 7, 5, 6, 0, 0, relu);  /* ceil: cut windows */
    run_pool_x(&(ev_pool_desc){3, 2, 3, 2, 0, 0, 0}, 2, 10, 7, 9, 0, 0, relu);
    run_pool_x(&(ev_pool_desc){3, 3, 3, 3, 0, 0, 0}, 2, 9, 9, 4, 1, 0, relu);  /* ties, exact */
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 2, 8, 6, 13, 1, 3, relu); /* ties and NaN */
  }
  TU_EXPECT_ARG(ev_maxpool_backward_x(NULL, &(ev_pool_desc){3, 3, 2, 2, 1, 1, 0}, NULL, NULL, NULL, 0));
  assert_false(ev_maxpool_backward_x_ok(&(ev_pool_desc){3, 3, 2, 2, 0, 0, 0}));
  assert_false(ev_maxpool_backward_x_ok(&(ev_pool_desc){2, 2, 2, 2, 1, 0, 0}));
}

static void test_nonoverlapping(void **state) {
  run_pool(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 0, 0);
  run_pool(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 1}, 0, 0); /* ceil: 7x5 -> 4x3, partial windows */
  run_pool(&(ev_pool_desc){2, 2, 2, 2, 1, 1, 0}, 0, 0);
}

static void test_overlapping(void **state) {
  run_pool(&(ev_pool_desc){3, 3, 2, 2, 1, 1, 0}, 0, 0);
  run_pool(&(ev_pool_desc){3, 3, 2, 2, 1, 1, 1}, 0, 0);
  run_pool(&(ev_pool_desc){3, 3, 1, 1, 1, 1, 0}, 0, 0);
  run_pool(&(ev_pool_desc){3, 2, 2, 1, 0, 1, 1}, 0, 0);
  run_pool(&(ev_pool_desc){5, 4, 3, 2, 2, 1, 1}, 0, 0);
}

static void test_ties_and_nan(void **state) {
  run_pool(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 1, 0);
  run_pool(&(ev_pool_desc){3, 3, 2, 2, 1, 1, 1}, 1, 0);
  run_pool(&(ev_pool_desc){3, 3, 1, 1, 1, 1, 0}, 1, 3);
}

/* the sizes PyTorch gives (checked by hand against torch.nn.MaxPool2d) */
static void test_out_size(void **state) {
  assert_int_equal(ev_pool_out_size(7, 2, 2, 0, 0), 3);
  assert_int_equal(ev_pool_out_size(7, 2, 2, 0, 1), 4);
  assert_int_equal(ev_pool_out_size(5, 3, 2, 1, 0), 3);
  assert_int_equal(ev_pool_out_size(6, 3, 2, 1, 1), 4); /* last window would start in the pad: 4 not 4+ */
  assert_int_equal(ev_pool_out_size(5, 2, 2, 1, 1), 3);
  assert_int_equal(ev_pool_out_size(4, 3, 3, 0, 1), 2);
  assert_int_equal(ev_pool_out_size(1, 2, 2, 0, 0), 0);
}

typedef struct { const ev_pool_desc *d; int n, h, w, c; const double *r; uint64_t nfo; } fd_ctx;
static double fd_loss(const double *x, void *v) {
  fd_ctx *f = v;
  double *y = malloc(f->nfo * 8), L = 0;
  int32_t *idx = malloc(f->nfo * 4);
  ev_maxpool_forward_ref(f->d, x, f->n, f->h, f->w, f->c, y, idx);
  for (uint64_t i = 0; i < f->nfo; i++) L += f->r[i] * y[i];
  free(y), free(idx);
  return L;
}

static void test_gradients_fd(void **state) {
  uint64_t seed = tu_seed() ^ 5;
  const ev_pool_desc ds[] = {{3, 3, 2, 2, 1, 1, 1}, {2, 2, 2, 2, 0, 0, 0}, {3, 2, 1, 2, 1, 0, 0}};
  for (int t = 0; t < 3; t++) {
    const ev_pool_desc *d = &ds[t];
    int n = 2, h = 5, w = 4, c = 3;
    int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
    int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
    uint64_t nfi = ev_tensor_floats(n, h, w, c), nfo = ev_tensor_floats(n, oh, ow, c);
    double *x = malloc(nfi * 8), *r = malloc(nfo * 8), *y = malloc(nfo * 8), *gx = malloc(nfi * 8);
    int32_t *idx = malloc(nfo * 4);
    unsigned char *use = malloc(nfi);
    for (uint64_t i = 0; i < nfi; i++) {
      use[i] = (int)(i % 4) < c;
      x[i] = use[i] ? tu_uniform(&seed, -1, 1) : 0;
    }
    for (uint64_t i = 0; i < nfo; i++) r[i] = tu_uniform(&seed, -1, 1);
    ev_maxpool_forward_ref(d, x, n, h, w, c, y, idx);
    ev_maxpool_backward_ref(d, r, idx, n, h, w, c, gx);
    fd_ctx f = {d, n, h, w, c, r, nfo};
    to_fd_check("maxpool backward", fd_loss, &f, x, gx, nfi, use, 1e-7, 1e-6);
    free(x), free(r), free(y), free(gx), free(idx), free(use);
  }
}

static void test_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_tensor x = to_tensor(NULL, 2, 7, 5, 6), y = to_tensor(NULL, 2, 3, 2, 6), y2 = to_tensor(NULL, 2, 4, 3, 6);
  ev_buf idx, small;
  TU_OK(ev_buf_alloc(g, ev_tensor_floats(2, 4, 3, 6) * 4, &idx));
  TU_OK(ev_buf_alloc(g, 16, &small));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  ev_pool_desc d = {2, 2, 2, 2, 0, 0, 0};
  TU_OK(ev_maxpool_forward(s, &d, &x, &y, &idx));
  TU_EXPECT_ARG(ev_maxpool_forward(s, &d, &x, &y2, &idx));   /* floor mode gives 3x2 */
  TU_EXPECT_ARG(ev_maxpool_forward(s, &d, &x, &y, &small)); /* argmax buffer too small */
  TU_EXPECT_ARG(ev_maxpool_forward(s, &d, &x, &y, NULL));
  TU_EXPECT_ARG(ev_maxpool_forward(s, &(ev_pool_desc){2, 2, 2, 2, 2, 0, 0}, &x, &y, &idx)); /* pad > k/2 */
  TU_EXPECT_ARG(ev_maxpool_forward(s, &(ev_pool_desc){2, 2, 0, 2, 0, 0, 0}, &x, &y, &idx)); /* stride 0 */
  TU_EXPECT_ARG(ev_maxpool_forward(s, &(ev_pool_desc){9, 2, 2, 2, 0, 0, 0}, &x, &y, &idx)); /* window > input */
  ev_tensor z = x;
  z.n = 0;
  TU_EXPECT_ARG(ev_maxpool_forward(s, &d, &z, &y, &idx));
  TU_EXPECT_ARG(ev_maxpool_backward(s, &d, &y2, &idx, &x));
  TU_OK(ev_stream_submit(s));
  ev_tensor_free(g, &x), ev_tensor_free(g, &y), ev_tensor_free(g, &y2);
  ev_buf_free(g, &idx), ev_buf_free(g, &small);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nonoverlapping), cmocka_unit_test(test_overlapping),
      cmocka_unit_test(test_ties_and_nan),   cmocka_unit_test(test_out_size),
      cmocka_unit_test(test_gradients_fd),   cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_from_x),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
