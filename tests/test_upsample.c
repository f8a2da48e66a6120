/* Bilinear resize: GPU vs the double reference through the op-test harness (tests/optest.h;
 * forward tol 1e-6, backward gather vs the reference's scatter tol 1e-5) for up- and down-sampling by odd and large factors,
 * finite differences of the backward, and clear errors for bad shapes. */
#include "evonet/ops/upsample.h"
#include "optest.h"

enum { N = 3, C = 13 };

/* inputs x (N, h, w, C), dy (N, oh, ow, C); outputs y = upsample(x), dx = its backward of dy
 * (the GPU gathers, the reference scatters) */
typedef struct { int oh, ow; } up_arg;
static void up_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  const up_arg *a = v;
  in[1].h = out[0].h = a->oh, in[1].w = out[0].w = a->ow;
}
static ev_status up_fwd_gpu(ev_stream *s, ot_run *r) { return ev_upsample_forward(s, &r->in[0], &r->out[0]); }
static void up_fwd_ref(ot_run *r) {
  ot_shape x = r->in_shape[0], y = r->out_shape[0];
  ev_upsample_forward_ref(r->in_d[0], x.n, x.h, x.w, x.c, y.h, y.w, r->ref[0]);
}
static ev_status up_bwd_gpu(ev_stream *s, ot_run *r) { return ev_upsample_backward(s, &r->in[1], &r->out[0]); }
static void up_bwd_ref(ot_run *r) {
  ot_shape x = r->in_shape[0], y = r->in_shape[1];
  ev_upsample_backward_ref(r->in_d[1], x.n, x.h, x.w, x.c, y.h, y.w, r->ref[0]);
}
static void up_bwd_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  const up_arg *a = v;
  in[1].h = a->oh, in[1].w = a->ow; /* out[0]: dx, x's shape */
}
static const ot_op k_up_fwd = {"upsample", 1, 1, up_shapes, .gpu = up_fwd_gpu, .ref = up_fwd_ref, .tol = 1e-6};
static const ot_op k_up_bwd = {"upsample backward", 2, 1, up_bwd_shapes, .gpu = up_bwd_gpu, .ref = up_bwd_ref,
                               .tol = 1e-5};

static void run_up(int h, int w, int oh, int ow) {
  up_arg a = {oh, ow};
  char label[32];
  snprintf(label, sizeof label, "-> %dx%d", oh, ow);
  const ot_row rows[] = {{&k_up_fwd, &a, {N, h, w, C}, label}, {&k_up_bwd, &a, {N, h, w, C}, label}};
  OT_CHECK_TABLE(rows);
}

static void test_upsample(void **state) {
  run_up(7, 5, 11, 13);  /* odd factors */
  run_up(7, 5, 14, 10);  /* x2 */
  run_up(7, 5, 7, 5);    /* identity */
  run_up(2, 3, 32, 48);  /* x16, as a saliency head upsamples */
  run_up(1, 1, 5, 7);    /* a single pixel spread */
}

static void test_downsample(void **state) {
  run_up(7, 5, 3, 2);
  run_up(13, 11, 5, 4);
  run_up(5, 7, 1, 1);
}

/* the interpolation itself against values computed by torch.nn.functional.interpolate
 * (PyTorch 1.13, mode='bilinear', align_corners=False) for x[i, j] = 10 i + j, 2x3 -> 3x5 */
static void test_matches_pytorch(void **state) {
  const double want[15] = {0.0, 0.40000003576278687, 1.0, 1.6000001430511475, 2.0,
                           5.0, 5.400000095367432, 6.0, 6.599999904632568, 7.0,
                           10.0, 10.399999618530273, 11.0, 11.59999942779541, 12.0};
  double x[6 * 4] = {0}, y[15 * 4];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) x[(i * 3 + j) * 4] = 10 * i + j;
  ev_upsample_forward_ref(x, 1, 2, 3, 1, 3, 5, y);
  for (int i = 0; i < 15; i++)
    if (fabs(y[i * 4] - want[i]) > 1e-6) fail_msg("pixel %d: %g, PyTorch %g", i, y[i * 4], want[i]);
}

typedef struct { int n, h, w, c, oh, ow; const double *r; uint64_t nfo; } fd_ctx;
static double fd_loss(const double *x, void *v) {
  fd_ctx *f = v;
  double *y = malloc(f->nfo * 8), L = 0;
  ev_upsample_forward_ref(x, f->n, f->h, f->w, f->c, f->oh, f->ow, y);
  for (uint64_t i = 0; i < f->nfo; i++) L += f->r[i] * y[i];
  free(y);
  return L;
}

static void test_gradients_fd(void **state) {
  uint64_t seed = tu_seed() ^ 7;
  const int sz[3][4] = {{3, 2, 7, 5}, {5, 4, 2, 3}, {2, 3, 2, 3}};
  for (int t = 0; t < 3; t++) {
    fd_ctx f = {2, sz[t][0], sz[t][1], 3, sz[t][2], sz[t][3], NULL, 0};
    uint64_t nfi = ev_tensor_floats(f.n, f.h, f.w, f.c);
    f.nfo = ev_tensor_floats(f.n, f.oh, f.ow, f.c);
    double *x = malloc(nfi * 8), *r = malloc(f.nfo * 8), *gx = malloc(nfi * 8);
    unsigned char *use = malloc(nfi);
    for (uint64_t i = 0; i < nfi; i++) use[i] = (int)(i % 4) < f.c, x[i] = use[i] ? tu_uniform(&seed, -1, 1) : 0;
    for (uint64_t i = 0; i < f.nfo; i++) r[i] = (int)(i % 4) < f.c ? tu_uniform(&seed, -1, 1) : 0;
    f.r = r;
    ev_upsample_backward_ref(r, f.n, f.h, f.w, f.c, f.oh, f.ow, gx);
    to_fd_check("upsample backward", fd_loss, &f, x, gx, nfi, use, 1e-6, 1e-7);
    free(x), free(r), free(gx), free(use);
  }
}

static void test_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_tensor a = to_tensor(NULL, 2, 3, 4, 5), b = to_tensor(NULL, 2, 6, 8, 6), c = to_tensor(NULL, 1, 6, 8, 5);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_EXPECT_ARG(ev_upsample_forward(s, &a, &b)); /* channels differ */
  TU_EXPECT_ARG(ev_upsample_forward(s, &a, &c)); /* batch differs */
  TU_EXPECT_ARG(ev_upsample_forward(s, &a, &a)); /* in place */
  TU_EXPECT_ARG(ev_upsample_backward(s, &b, &a));
  ev_tensor z = b;
  z.w = 0;
  TU_EXPECT_ARG(ev_upsample_forward(s, &a, &z));
  ev_stream_abort(s);
  ev_tensor_free(g, &a), ev_tensor_free(g, &b), ev_tensor_free(g, &c);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_upsample),     cmocka_unit_test(test_downsample),
      cmocka_unit_test(test_matches_pytorch), cmocka_unit_test(test_gradients_fd),
      cmocka_unit_test(test_bad_input),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
