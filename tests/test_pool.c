/* Max-pooling: GPU vs the double reference (values and argmax exactly; gradients to 1e-6)
 * for non-overlapping and overlapping windows, floor and ceil mode, odd shapes, many ties
 * (first maximum in window order wins), NaN propagation; finite differences of the
 * backward; clear errors for bad geometry. The argmax-free pair (ev_maxpool_forward_values,
 * ev_maxpool_backward_x, with and without the fused ReLU backward) against the same
 * references, on shapes whose windows tile the input exactly and on ones that leave rows
 * and columns uncovered or cut the last window (through the op-test harness, tests/optest.h).
 * Average pooling (through the harness too): GPU vs the double reference (1e-5 relative) on odd shapes (every kernel,
 * stride and padding combination of a grid; non-square windows), global pooling (7x7 up to
 * 32x32 windows, 512 channels), the backward with and without the fused ReLU mask; outputs
 * poisoned before the kernels run, padding channels 0; finite differences of the reference
 * (plain and through a ReLU); ceil mode and bad arguments refused; the time of global
 * pooling forward + backward printed (nothing asserted about it). */
#include <time.h>

#include "evonet/ops/pool.h"
#include "optest.h"

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

/* The activations whose backward the pool backwards fuse: k_acts[a], a = 0 (none) to 3 (a
 * leaky slope other than the default: alpha must reach the kernel). */
static const ev_act k_acts[4] = {{EV_ACT_NONE, 0.0f}, {EV_ACT_RELU, 0.0f}, {EV_ACT_LEAKY_RELU, 0.2f}, {EV_ACT_TANH, 0.0f}};

/* x := the activation's output for x (relu: no negatives, many exact zeros); padding stays 0 */
static void act_out(const ev_act *a, float *x, uint64_t n) {
  for (uint64_t i = 0; i < n; i++) x[i] = (float)ev_act_fwd_ref(a, x[i]);
}

/* Rows of the op-test harness (tests/optest.h) for the argmax-free and average pools: the
 * window, k_acts[a] (a > 0: the input is that activation's output and the backward fuses its
 * backward from x), and for max pooling ties (values from a 3-level set, so most windows hold
 * several equal maxima) and a count of NaNs in x. */
typedef struct { ev_pool_desc d; int ties, nans, a; } pool_arg;

static void pool_label(const pool_arg *p, char *buf, size_t n) {
  const ev_pool_desc *d = &p->d;
  snprintf(buf, n, "k%dx%d s%dx%d p%dx%d%s%s%s%s", d->kh, d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w,
           d->ceil_mode ? " ceil" : "", p->ties ? " ties" : "", p->a ? " +" : "", p->a ? ev_act_name(k_acts[p->a].kind) : "");
}
/* input 0: x (N, H, W, C), input 1: dy and output 0 (forward: y) of the pooled size */
static void pool_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  const ev_pool_desc *d = &((const pool_arg *)v)->d;
  in[1].h = out[0].h = ev_pool_out_size(s.h, d->kh, d->stride_h, d->pad_h, d->ceil_mode);
  in[1].w = out[0].w = ev_pool_out_size(s.w, d->kw, d->stride_w, d->pad_w, d->ceil_mode);
}
static void pool_bwd_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  pool_shapes(v, s, in, out);
  out[0] = s; /* dx: x's shape */
}
static void pool_prepare(ot_run *r) {
  const pool_arg *p = r->arg;
  uint64_t nfi = ot_floats(r->in_shape[0]);
  float *x = r->in_host[0];
  if (p->ties)
    for (uint64_t i = 0; i < nfi; i++) x[i] = (i % ev_c4(r->shape.c)) < (uint64_t)r->shape.c ? (float)(int)(x[i] * 1.5f) : 0.0f;
  act_out(&k_acts[p->a], x, nfi);
  for (int k = 0; k < p->nans; k++) x[(tu_next(&r->seed) % (nfi / 16)) * 16 + 1] = NAN;
}
static void dx_zeros(ot_run *r, float *const *got, const char *what) { /* each dx is one dy or exactly 0 */
  ot_check_zeros(what, got[0], r->ref[0], ot_floats(r->out_shape[0]));
}

/* ev_maxpool_forward_values: the values exactly */
static ev_status maxv_gpu(ev_stream *s, ot_run *r) {
  return ev_maxpool_forward_values(s, &((const pool_arg *)r->arg)->d, &r->in[0], &r->out[0]);
}
static void maxv_ref(ot_run *r) {
  ot_shape x = r->in_shape[0];
  int32_t *idx = to_xmalloc(ot_floats(r->out_shape[0]) * 4);
  ev_maxpool_forward_ref(&((const pool_arg *)r->arg)->d, r->in_d[0], x.n, x.h, x.w, x.c, r->ref[0], idx);
  free(idx);
}
/* ev_maxpool_backward_x: inputs (x, dy) */
static ev_status maxx_gpu(ev_stream *s, ot_run *r) {
  const pool_arg *p = r->arg;
  return ev_maxpool_backward_x(s, &p->d, &r->in[0], &r->in[1], &r->out[0], &k_acts[p->a]);
}
static void maxx_ref(ot_run *r) {
  const pool_arg *p = r->arg;
  ot_shape x = r->in_shape[0];
  uint64_t nfo = ot_floats(r->in_shape[1]), nfi = ot_floats(x);
  double *y = to_xmalloc(nfo * 8);
  int32_t *idx = to_xmalloc(nfo * 4);
  ev_maxpool_forward_ref(&p->d, r->in_d[0], x.n, x.h, x.w, x.c, y, idx);
  ev_maxpool_backward_ref(&p->d, r->in_d[1], idx, x.n, x.h, x.w, x.c, r->ref[0]);
  for (uint64_t i = 0; i < nfi; i++) r->ref[0][i] = ev_act_bwd_ref(&k_acts[p->a], r->in_d[0][i], r->ref[0][i]);
  free(y), free(idx);
}
static const ot_op k_maxpool_values = {"maxpool values", 1, 1, pool_shapes, pool_prepare, .gpu = maxv_gpu,
                                       .ref = maxv_ref, .tol = 0};
static const ot_op k_maxpool_x = {"maxpool backward from x", 2, 1, pool_bwd_shapes, pool_prepare, .gpu = maxx_gpu,
                                  .ref = maxx_ref, .tol = 1e-6, .extra = dx_zeros};

static void run_pool_x(const ev_pool_desc *d, int n, int h, int w, int c, int ties, int nans, int a) {
  assert_true(ev_maxpool_backward_x_ok(d));
  pool_arg p = {*d, ties, nans, a};
  char label[64];
  pool_label(&p, label, sizeof label);
  const ot_row rows[] = {{&k_maxpool_values, &p, {n, h, w, c}, label}, {&k_maxpool_x, &p, {n, h, w, c}, label}};
  OT_CHECK_TABLE(rows);
}

static void test_from_x(void **state) {
  for (int a = 0; a < 4; a++) {
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 2, 8, 6, 13, 0, 0, a); /* exact tiling */
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 3, 7, 5, 13, 0, 0, a); /* uncovered row, column */
    run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 1}, 3, 7, 5, 6, 0, 0, a);  /* ceil: cut windows */
    run_pool_x(&(ev_pool_desc){3, 2, 3, 2, 0, 0, 0}, 2, 10, 7, 9, 0, 0, a);
    run_pool_x(&(ev_pool_desc){3, 3, 3, 3, 0, 0, 0}, 2, 9, 9, 4, 1, 0, a);  /* ties, exact */
    /* ties and NaN (a NaN maximum: relu and leaky_relu select "not > 0"; tanh's gradient
     * there is NaN, rightly, which the relative error cannot compare) */
    if (k_acts[a].kind != EV_ACT_TANH) run_pool_x(&(ev_pool_desc){2, 2, 2, 2, 0, 0, 0}, 2, 8, 6, 13, 1, 3, a);
  }
  TU_EXPECT_ARG(ev_maxpool_backward_x(NULL, &(ev_pool_desc){3, 3, 2, 2, 1, 1, 0}, NULL, NULL, NULL, NULL));
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

/* ---------------- average pooling ---------------- */

/* ev_avgpool_forward; ev_avgpool_backward, inputs (x, dy) (act k_acts[a], a > 0: x is its
 * output, the backward fuses its backward from x; a = 0: x is not given) */
static ev_status avg_gpu(ev_stream *s, ot_run *r) {
  return ev_avgpool_forward(s, &((const pool_arg *)r->arg)->d, &r->in[0], &r->out[0]);
}
static void avg_ref(ot_run *r) {
  ot_shape x = r->in_shape[0];
  ev_avgpool_forward_ref(&((const pool_arg *)r->arg)->d, r->in_d[0], x.n, x.h, x.w, x.c, r->ref[0]);
}
static ev_status avg_bwd_gpu(ev_stream *s, ot_run *r) {
  const pool_arg *p = r->arg;
  const ev_act *act = p->a ? &k_acts[p->a] : NULL;
  return ev_avgpool_backward(s, &p->d, &r->in[1], act ? &r->in[0] : NULL, act, &r->out[0]);
}
static void avg_bwd_ref(ot_run *r) {
  const pool_arg *p = r->arg;
  const ev_act *act = p->a ? &k_acts[p->a] : NULL;
  ot_shape x = r->in_shape[0];
  ev_avgpool_backward_ref(&p->d, r->in_d[1], act ? r->in_d[0] : NULL, act, x.n, x.h, x.w, x.c, r->ref[0]);
}
static const ot_op k_avgpool = {"avgpool", 1, 1, pool_shapes, pool_prepare, .gpu = avg_gpu, .ref = avg_ref,
                                .tol = 1e-5};
static const ot_op k_avgpool_bwd = {"avgpool backward", 2, 1, pool_bwd_shapes, pool_prepare, .gpu = avg_bwd_gpu,
                                    .ref = avg_bwd_ref, .tol = 1e-5, .extra = dx_zeros};

/* forward and backward rows (uncovered positions and relu's zeros: exactly 0) */
static void run_avg(const ev_pool_desc *d, int n, int h, int w, int c, int a) {
  pool_arg p = {*d, 0, 0, a};
  char label[64];
  pool_label(&p, label, sizeof label);
  const ot_row rows[] = {{&k_avgpool, &p, {n, h, w, c}, label}, {&k_avgpool_bwd, &p, {n, h, w, c}, label}};
  OT_CHECK_TABLE(rows);
}

/* every kernel 2/3, stride 1/2/3, padding 0/1 over an odd 11x9 input, C = 5, 7, 13 in turn
 * (padding lanes 3, 1, 3); each activation fused in turn; then non-square windows */
static void test_avg_odd(void **state) {
  int t = 0;
  for (int k = 2; k <= 3; k++)
    for (int st = 1; st <= 3; st++)
      for (int p = 0; p <= 1; p++, t++) {
        const int cs[] = {5, 7, 13};
        run_avg(&(ev_pool_desc){k, k, st, st, p, p, 0}, 3, 11, 9, cs[t % 3], t % 4);
        run_avg(&(ev_pool_desc){k, k, st, st, p, p, 0}, 3, 11, 9, cs[(t + 1) % 3], (t + 2) % 4);
      }
  for (int a = 0; a < 4; a++) {
    run_avg(&(ev_pool_desc){3, 2, 2, 1, 1, 0, 0}, 3, 11, 9, 7, a);
    run_avg(&(ev_pool_desc){2, 5, 1, 3, 0, 2, 0}, 2, 11, 9, 13, a);
    run_avg(&(ev_pool_desc){4, 4, 4, 4, 0, 0, 0}, 2, 11, 9, 5, a); /* 16 taps unrolled, cut rows */
    run_avg(&(ev_pool_desc){1, 1, 1, 1, 0, 0, 0}, 2, 5, 3, 6, a);  /* identity */
    /* on CPU devices the backward takes bands of 16 rows here: 3 bands, the last cut */
    run_avg(&(ev_pool_desc){3, 3, 2, 2, 1, 1, 0}, 2, 37, 64, 3, a);
  }
}

/* global average pooling: the window is the whole input, one output per image */
static void test_avg_global(void **state) {
  for (int a = 0; a < 4; a++) {
    run_avg(&(ev_pool_desc){7, 7, 1, 1, 0, 0, 0}, 3, 7, 7, 13, a);
    run_avg(&(ev_pool_desc){28, 28, 1, 1, 0, 0, 0}, 2, 28, 28, 3, a);
    run_avg(&(ev_pool_desc){32, 32, 1, 1, 0, 0, 0}, 2, 32, 32, 5, a);
    run_avg(&(ev_pool_desc){7, 7, 1, 1, 0, 0, 0}, 2, 7, 7, 512, a);
    run_avg(&(ev_pool_desc){9, 11, 1, 1, 0, 0, 0}, 3, 9, 11, 6, a); /* not square */
    run_avg(&(ev_pool_desc){9, 11, 2, 3, 0, 0, 0}, 2, 9, 11, 6, a); /* any stride: one window */
    run_avg(&(ev_pool_desc){7, 7, 1, 1, 1, 3, 0}, 2, 7, 7, 5, a);   /* k = H, W padded: 3x7, not global */
    run_avg(&(ev_pool_desc){7, 7, 2, 2, 3, 1, 0}, 2, 7, 7, 5, a);
    run_avg(&(ev_pool_desc){40, 40, 1, 1, 0, 0, 0}, 2, 40, 40, 4, a); /* CPU: bands of 26 and 14 rows */
  }
}

typedef struct { const ev_pool_desc *d; int n, h, w, c; const ev_act *act; const double *r; uint64_t nfo; } avg_fd_ctx;
/* sum(r * avgpool(act(z))) (act NULL: none) */
static double avg_fd_loss(const double *z, void *v) {
  avg_fd_ctx *f = v;
  uint64_t nfi = ev_tensor_floats(f->n, f->h, f->w, f->c);
  double *x = to_xmalloc(nfi * 8), *y = to_xmalloc(f->nfo * 8), L = 0;
  for (uint64_t i = 0; i < nfi; i++) x[i] = ev_act_fwd_ref(f->act, z[i]);
  ev_avgpool_forward_ref(f->d, x, f->n, f->h, f->w, f->c, y);
  for (uint64_t i = 0; i < f->nfo; i++) L += f->r[i] * y[i];
  free(x), free(y);
  return L;
}

static void test_avg_gradients_fd(void **state) {
  uint64_t seed = tu_seed() ^ 11;
  const ev_pool_desc ds[] = {{3, 3, 2, 2, 1, 1, 0}, {2, 2, 2, 2, 0, 0, 0}, {3, 2, 1, 2, 1, 0, 0}, {5, 4, 1, 1, 0, 0, 0}};
  for (int t = 0; t < 16; t++) {
    const ev_pool_desc *d = &ds[t / 4];
    const ev_act *act = t % 4 ? &k_acts[t % 4] : NULL;
    int n = 2, h = 5, w = 4, c = 3;
    int oh = ev_pool_out_size(h, d->kh, d->stride_h, d->pad_h, 0);
    int ow = ev_pool_out_size(w, d->kw, d->stride_w, d->pad_w, 0);
    uint64_t nfi = ev_tensor_floats(n, h, w, c), nfo = ev_tensor_floats(n, oh, ow, c);
    double *z = to_xmalloc(nfi * 8), *x = to_xmalloc(nfi * 8), *r = to_xmalloc(nfo * 8), *gz = to_xmalloc(nfi * 8);
    unsigned char *use = to_xmalloc(nfi);
    for (uint64_t i = 0; i < nfi; i++) {
      use[i] = (int)(i % 4) < c;
      double u = tu_uniform(&seed, 0.05f, 1); /* away from the (leaky) ReLU's kink at 0 */
      z[i] = use[i] ? (tu_next(&seed) & 1 ? u : -u) : 0;
      x[i] = ev_act_fwd_ref(act, z[i]);
    }
    for (uint64_t i = 0; i < nfo; i++) r[i] = tu_uniform(&seed, -1, 1);
    ev_avgpool_backward_ref(d, r, x, act, n, h, w, c, gz);
    avg_fd_ctx f = {d, n, h, w, c, act, r, nfo};
    char what[64];
    snprintf(what, sizeof what, "avgpool backward +%s", ev_act_name(act ? act->kind : EV_ACT_NONE));
    to_fd_check(what, avg_fd_loss, &f, z, gz, nfi, use, 1e-6, 1e-7);
    free(z), free(x), free(r), free(gz), free(use);
  }
}

static void test_avg_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_tensor x = to_tensor(NULL, 2, 7, 5, 6), y = to_tensor(NULL, 2, 3, 2, 6), y2 = to_tensor(NULL, 2, 4, 3, 6);
  ev_tensor dx = to_tensor(NULL, 2, 7, 5, 6), x3 = to_tensor(NULL, 2, 7, 5, 3);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  ev_pool_desc d = {2, 2, 2, 2, 0, 0, 0};
  TU_OK(ev_avgpool_forward(s, &d, &x, &y));
  TU_OK(ev_avgpool_backward(s, &d, &y, NULL, NULL, &dx));
  TU_OK(ev_avgpool_backward(s, &d, &y, &x, &k_acts[1], &dx));
  TU_EXPECT_ARG(ev_avgpool_forward(s, &(ev_pool_desc){2, 2, 2, 2, 0, 0, 1}, &x, &y2)); /* ceil mode */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &(ev_pool_desc){2, 2, 2, 2, 0, 0, 1}, &y2, NULL, NULL, &dx));
  TU_EXPECT_ARG(ev_avgpool_forward(s, &d, &x, &y2));                                   /* floor gives 3x2 */
  TU_EXPECT_ARG(ev_avgpool_forward(s, NULL, &x, &y));
  TU_EXPECT_ARG(ev_avgpool_forward(s, &d, &x, NULL));
  TU_EXPECT_ARG(ev_avgpool_forward(s, &(ev_pool_desc){2, 2, 2, 2, 2, 0, 0}, &x, &y)); /* pad > k/2 */
  TU_EXPECT_ARG(ev_avgpool_forward(s, &(ev_pool_desc){2, 2, 0, 2, 0, 0, 0}, &x, &y)); /* stride 0 */
  TU_EXPECT_ARG(ev_avgpool_forward(s, &(ev_pool_desc){9, 2, 2, 2, 0, 0, 0}, &x, &y)); /* window > input */
  TU_EXPECT_ARG(ev_avgpool_forward(s, &(ev_pool_desc){0, 2, 2, 2, 0, 0, 0}, &x, &y)); /* empty window */
  TU_EXPECT_ARG(ev_avgpool_forward(s, &d, &x, &x));                                    /* wrong shape, overlap */
  ev_tensor z = x;
  z.n = 0;
  TU_EXPECT_ARG(ev_avgpool_forward(s, &d, &z, &y));
  ev_tensor short_y = y;
  short_y.buf.size = 16; /* buffer smaller than the shape */
  TU_EXPECT_ARG(ev_avgpool_forward(s, &d, &x, &short_y));
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y, NULL, &k_acts[1], &dx));  /* fused ReLU without x */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y, &x3, &k_acts[1], &dx));   /* x's channels differ */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y, &dx, &k_acts[1], &dx));   /* x is dx */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y, &x, &(ev_act){EV_ACT_LEAKY_RELU, 0.0f}, &dx)); /* slope 0 */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y2, NULL, NULL, &dx)); /* dy's shape */
  TU_EXPECT_ARG(ev_avgpool_backward(s, &d, &y, NULL, NULL, &y2));  /* dx's shape */
  TU_OK(ev_stream_submit(s));
  ev_tensor_free(g, &x), ev_tensor_free(g, &y), ev_tensor_free(g, &y2), ev_tensor_free(g, &dx), ev_tensor_free(g, &x3);
  tu_gpu_assert_clean();
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
static int cmp_double(const void *a, const void *b) {
  double u = *(const double *)a, v = *(const double *)b;
  return (u > v) - (u < v);
}

/* Global average pooling at a classifier head's sizes: forward + backward (with the fused
 * ReLU) in one stream, wall time of the submit, median of 7 after a warm-up (pipelines
 * built); printed only, the device and the machine's load decide it. Results checked once. */
static void time_gap(int n, int hw, int c) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(hw * 31 + c);
  ev_pool_desc d = {hw, hw, 1, 1, 0, 0, 0};
  uint64_t nfi = ev_tensor_floats(n, hw, hw, c), nfo = ev_tensor_floats(n, 1, 1, c);
  float *x = to_rand_act(&seed, n, hw, hw, c, 0, 1), *dy = to_rand_act(&seed, n, 1, 1, c, -1, 1);
  ev_tensor tx = to_tensor(x, n, hw, hw, c), ty = to_tensor(NULL, n, 1, 1, c);
  ev_tensor tdy = to_tensor(dy, n, 1, 1, c), tdx = to_tensor(NULL, n, hw, hw, c);
  enum { REPS = 7 };
  double t[REPS + 1];
  for (int r = 0; r <= REPS; r++) {
    ev_stream *s;
    double t0 = now_s();
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_avgpool_forward(s, &d, &tx, &ty));
    TU_OK(ev_avgpool_backward(s, &d, &tdy, &tx, &k_acts[1], &tdx));
    TU_OK(ev_stream_submit(s));
    t[r] = now_s() - t0;
  }
  qsort(t + 1, REPS, sizeof *t, cmp_double);
  fprintf(stderr, "  avgpool global N=%d %dx%dx%d fwd+bwd(+relu): median %.3f ms (min %.3f, max %.3f, first %.1f) of %d\n",
          n, hw, hw, c, t[1 + REPS / 2] * 1e3, t[1] * 1e3, t[REPS] * 1e3, t[0] * 1e3, REPS);
  double *xd = to_double(x, nfi), *dyd = to_double(dy, nfo), *yr = to_xmalloc(nfo * 8), *dxr = to_xmalloc(nfi * 8);
  ev_avgpool_forward_ref(&d, xd, n, hw, hw, c, yr);
  ev_avgpool_backward_ref(&d, dyd, xd, &k_acts[1], n, hw, hw, c, dxr);
  float *y = to_download(&ty), *dx = to_download(&tdx);
  to_check("avgpool global (timed)", y, yr, nfo, 1e-5);
  to_check("avgpool global (timed) backward", dx, dxr, nfi, 1e-5);
  free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(y), free(dx);
  ev_tensor_free(g, &tx), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdy), ev_tensor_free(g, &tdx);
  tu_gpu_assert_clean();
}

static void test_avg_global_timing(void **state) {
  time_gap(128, 7, 64);
  time_gap(128, 28, 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nonoverlapping), cmocka_unit_test(test_overlapping),
      cmocka_unit_test(test_ties_and_nan),   cmocka_unit_test(test_out_size),
      cmocka_unit_test(test_gradients_fd),   cmocka_unit_test(test_bad_input),
      cmocka_unit_test(test_from_x),         cmocka_unit_test(test_avg_odd),
      cmocka_unit_test(test_avg_global),     cmocka_unit_test(test_avg_gradients_fd),
      cmocka_unit_test(test_avg_bad_input),  cmocka_unit_test(test_avg_global_timing),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
