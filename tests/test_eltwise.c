/* Activations (none, relu, leaky_relu, tanh), add, add-into, concat and its gradient split
 * (also fused with each activation's backward): GPU vs the double reference on odd shapes
 * (tolerance 1e-6: exact ops, or tanh's few ulps), padding channels zero, finite-difference
 * checks of every backward on tiny shapes, and clear errors for bad shapes or activations. */
#include "evonet/ops/eltwise.h"
#include "trainops_util.h"

enum { N = 3, H = 7, W = 5, C = 13 };

/* The activations every test here runs (a slope other than the default: alpha must reach
 * the kernel). */
static const ev_act k_acts[4] = {{EV_ACT_RELU, 0.0f}, {EV_ACT_LEAKY_RELU, 0.2f}, {EV_ACT_TANH, 0.0f}, {EV_ACT_NONE, 0.0f}};

/* An activation's output: its forward of uniform values in [-1, 1), about a tenth of them
 * exact zeros (which must count as "not positive"), padding channels zero. */
static float *rand_act_out(uint64_t *seed, const ev_act *a, int n, int h, int w, int c) {
  float *y = to_rand_act(seed, n, h, w, c, -1, 1);
  uint64_t nf = ev_tensor_floats(n, h, w, c);
  for (uint64_t i = 0; i < nf; i++) y[i] = fabsf(y[i]) < 0.1f ? 0.0f : (float)ev_act_fwd_ref(a, y[i]);
  return y;
}

static void run_act(const ev_act *act) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (1 + 77 * (uint64_t)act->kind);
  uint64_t nf = ev_tensor_floats(N, H, W, C), npix = (uint64_t)N * H * W;
  float *x = to_rand_act(&seed, N, H, W, C, -1, 1), *dy = to_rand_act(&seed, N, H, W, C, -1, 1);
  ev_tensor tx = to_tensor(x, N, H, W, C), ty = to_tensor(NULL, N, H, W, C);
  ev_tensor tdy = to_tensor(dy, N, H, W, C), tdx = to_tensor(NULL, N, H, W, C);
  ev_tensor tin = to_tensor(x, N, H, W, C); /* in-place copy */
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_act_forward(s, act, &tx, &ty));
  TU_OK(ev_act_backward(s, act, &ty, &tdy, &tdx));
  TU_OK(ev_act_forward(s, act, &tin, &tin));
  TU_OK(ev_stream_submit(s));
  /* the backward's reference from the GPU's y (tanh: its y differs from the double one by
   * a few ulps, which would show in 1 - y*y) */
  float *y = to_download(&ty), *dx = to_download(&tdx), *yin = to_download(&tin);
  double *xd = to_double(x, nf), *dyd = to_double(dy, nf), *yr = malloc(nf * 8), *dxr = malloc(nf * 8);
  double *yg = to_double(y, nf);
  ev_act_forward_ref(act, xd, yr, nf);
  ev_act_backward_ref(act, yg, dyd, dxr, nf);
  char what[64];
  const char *name = ev_act_name(act->kind);
  snprintf(what, sizeof what, "%s forward", name);
  to_check(what, y, yr, nf, 1e-6);
  to_check_padding(what, y, npix, C);
  snprintf(what, sizeof what, "%s forward in place", name);
  to_check(what, yin, yr, nf, 1e-6);
  snprintf(what, sizeof what, "%s backward", name);
  to_check(what, dx, dxr, nf, 1e-6);
  to_check_padding(what, dx, npix, C);
  /* dx in place over dy */
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_act_backward(s, act, &ty, &tdy, &tdy));
  TU_OK(ev_stream_submit(s));
  float *dx2 = to_download(&tdy);
  snprintf(what, sizeof what, "%s backward in place", name);
  to_check(what, dx2, dxr, nf, 1e-6);
  free(yg);
  free(x), free(dy), free(xd), free(dyd), free(yr), free(dxr), free(y), free(dx), free(yin), free(dx2);
  ev_tensor_free(g, &tx), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdy), ev_tensor_free(g, &tdx);
  ev_tensor_free(g, &tin);
  tu_gpu_assert_clean();
}

static void test_act(void **state) {
  for (int a = 0; a < 4; a++) run_act(&k_acts[a]);
  run_act(&(ev_act){EV_ACT_LEAKY_RELU, 3.0f}); /* a slope > 1 keeps the sign too */
}

static void test_add(void **state) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ 2;
  uint64_t nf = ev_tensor_floats(N, H, W, C);
  float *a = to_rand_act(&seed, N, H, W, C, -1, 1), *b = to_rand_act(&seed, N, H, W, C, -1, 1);
  ev_tensor ta = to_tensor(a, N, H, W, C), tb = to_tensor(b, N, H, W, C), to = to_tensor(NULL, N, H, W, C);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_add(s, &ta, &tb, &to));
  TU_OK(ev_add_into(s, &ta, &tb)); /* a := a + b, after the add read a (a barrier) */
  TU_OK(ev_add_into(s, &ta, &tb)); /* a := a + 2b */
  TU_OK(ev_stream_submit(s));
  double *ad = to_double(a, nf), *bd = to_double(b, nf), *r = malloc(nf * 8), *r2 = malloc(nf * 8);
  ev_add_ref(ad, bd, r, nf);
  ev_add_ref(r, bd, r2, nf);
  float *o = to_download(&to), *a2 = to_download(&ta);
  to_check("add", o, r, nf, 1e-6);
  to_check("add_into twice", a2, r2, nf, 1e-6);
  to_check_padding("add", o, (uint64_t)N * H * W, C);
  free(a), free(b), free(ad), free(bd), free(r), free(r2), free(o), free(a2);
  ev_tensor_free(g, &ta), ev_tensor_free(g, &tb), ev_tensor_free(g, &to);
  tu_gpu_assert_clean();
}

/* Concatenation of k inputs with channel counts c[]: forward, overwrite and accumulate split,
 * and the split fused with the ReLU backward of some inputs. */
static void run_concat(const int *c, int k) {
  ev_gpu *g = tu_gpu();
  uint64_t seed = tu_seed() ^ (uint64_t)(k * 977 + c[0]);
  uint64_t npix = (uint64_t)N * H * W;
  int cout = 0;
  for (int i = 0; i < k; i++) cout += c[i];
  float *x[4], *d0[4];
  double *xd[4], *dxr[4];
  ev_tensor tx[4], tdx[4];
  ev_tensor *px[4], *pdx[4];
  for (int i = 0; i < k; i++) {
    uint64_t nf = ev_tensor_floats(N, H, W, c[i]);
    x[i] = to_rand_act(&seed, N, H, W, c[i], -1, 1);
    d0[i] = to_rand_act(&seed, N, H, W, c[i], -1, 1); /* existing gradient for accumulate */
    xd[i] = to_double(x[i], nf);
    dxr[i] = to_double(d0[i], nf);
    tx[i] = to_tensor(x[i], N, H, W, c[i]);
    tdx[i] = to_tensor(d0[i], N, H, W, c[i]);
    px[i] = &tx[i], pdx[i] = &tdx[i];
  }
  uint64_t nfo = ev_tensor_floats(N, H, W, cout);
  float *dy = to_rand_act(&seed, N, H, W, cout, -1, 1);
  ev_tensor ty = to_tensor(NULL, N, H, W, cout), tdy = to_tensor(dy, N, H, W, cout);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_concat_forward(s, px, k, &ty));
  TU_OK(ev_concat_backward(s, &tdy, pdx, k, 1));
  TU_OK(ev_stream_submit(s));
  double *yr = malloc(nfo * 8), *dyd = to_double(dy, nfo);
  ev_concat_forward_ref((const double *const *)xd, c, k, npix, yr);
  ev_concat_backward_ref(dyd, c, k, npix, dxr, 1);
  float *y = to_download(&ty);
  char what[64];
  snprintf(what, sizeof what, "concat forward (k=%d, C=%d)", k, cout);
  to_check(what, y, yr, nfo, 1e-6);
  to_check_padding(what, y, npix, cout);
  for (int i = 0; i < k; i++) {
    float *dx = to_download(&tdx[i]);
    snprintf(what, sizeof what, "concat backward accumulate, input %d", i);
    to_check(what, dx, dxr[i], ev_tensor_floats(N, H, W, c[i]), 1e-6);
    to_check_padding(what, dx, npix, c[i]);
    free(dx);
    tu_poison(&tdx[i].buf); /* overwrite mode must write every element */
  }
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_concat_backward(s, &tdy, pdx, k, 0));
  TU_OK(ev_stream_submit(s));
  ev_concat_backward_ref(dyd, c, k, npix, dxr, 0);
  for (int i = 0; i < k; i++) {
    float *dx = to_download(&tdx[i]);
    snprintf(what, sizeof what, "concat backward, input %d", i);
    to_check(what, dx, dxr[i], ev_tensor_floats(N, H, W, c[i]), 1e-6);
    to_check_padding(what, dx, npix, c[i]);
    free(dx);
  }
  /* fused activation backward: inputs are outputs of relu, leaky_relu, tanh or none in turn
   * (starting from a different kind per call), one more input plain by a NULL y; accumulate
   * onto d0 (the backward applies to the new part only), then overwrite */
  float *ym[4];
  ev_tensor tym[4], *pym[4];
  ev_act acts[4];
  for (int acc = 1; acc >= 0; acc--) {
    for (int i = 0; i < k; i++) {
      uint64_t nf = ev_tensor_floats(N, H, W, c[i]);
      acts[i] = k_acts[(i + k + acc) % 4];
      pym[i] = NULL;
      if (i != 1) {
        ym[i] = rand_act_out(&seed, &acts[i], N, H, W, c[i]);
        tym[i] = to_tensor(ym[i], N, H, W, c[i]);
        pym[i] = &tym[i];
      }
      if (acc) TU_OK(ev_buf_upload(g, &tdx[i].buf, 0, d0[i], nf * 4));
      else tu_poison(&tdx[i].buf);
    }
    TU_OK(ev_stream_begin(g, &s));
    TU_OK(ev_concat_backward_act(s, &tdy, pdx, pym, acts, k, acc));
    TU_OK(ev_stream_submit(s));
    ev_concat_backward_ref(dyd, c, k, npix, dxr, 0);
    for (int i = 0; i < k; i++) {
      uint64_t nf = ev_tensor_floats(N, H, W, c[i]);
      for (uint64_t j = 0; j < nf; j++) {
        double v = pym[i] ? ev_act_bwd_ref(&acts[i], ym[i][j], dxr[i][j]) : dxr[i][j];
        dxr[i][j] = acc ? (double)((float)v + d0[i][j]) : v;
      }
      float *dx = to_download(&tdx[i]);
      snprintf(what, sizeof what, "concat backward+%s%s, input %d", pym[i] ? ev_act_name(acts[i].kind) : "plain",
               acc ? " accumulate" : "", i);
      to_check(what, dx, dxr[i], nf, 1e-6);
      to_check_padding(what, dx, npix, c[i]);
      free(dx);
      if (pym[i]) free(ym[i]), ev_tensor_free(g, &tym[i]);
    }
  }
  for (int i = 0; i < k; i++) {
    free(x[i]), free(d0[i]), free(xd[i]), free(dxr[i]);
    ev_tensor_free(g, &tx[i]), ev_tensor_free(g, &tdx[i]);
  }
  free(dy), free(yr), free(dyd), free(y);
  ev_tensor_free(g, &ty), ev_tensor_free(g, &tdy);
  tu_gpu_assert_clean();
}

static void test_concat(void **state) {
  run_concat((int[]){13, 7, 5}, 3);
  run_concat((int[]){1, 2, 3, 9}, 4);
  run_concat((int[]){4, 8}, 2);
  run_concat((int[]){8, 4, 5}, 3); /* aligned offsets, the last input padded */
  run_concat((int[]){6}, 1);
}

/* ---- finite differences on tiny shapes: L = sum(r * op(x)) ---- */
typedef struct { uint64_t nf; const double *r; int which; const int *c; int k; uint64_t npix; const ev_act *act; } fd_ctx;

static double fd_loss(const double *x, void *vctx) {
  fd_ctx *ctx = vctx;
  double *y = malloc(ctx->nf * 8), L = 0;
  if (ctx->which == 0) ev_act_forward_ref(ctx->act, x, y, ctx->nf);
  else if (ctx->which == 1) ev_add_ref(x, x + ctx->nf, y, ctx->nf); /* x holds a then b */
  else {
    const double *xs[4];
    uint64_t o = 0;
    for (int i = 0; i < ctx->k; i++) xs[i] = x + o, o += ctx->npix * ev_c4(ctx->c[i]);
    ev_concat_forward_ref(xs, ctx->c, ctx->k, ctx->npix, y);
  }
  for (uint64_t i = 0; i < ctx->nf; i++) L += ctx->r[i] * y[i];
  free(y);
  return L;
}

static void test_gradients_fd(void **state) {
  uint64_t seed = tu_seed() ^ 3;
  enum { n = 1, h = 2, w = 3, c = 5 };
  uint64_t nf = ev_tensor_floats(n, h, w, c), npix = n * h * w;
  unsigned char *use = malloc(3 * nf);
  for (uint64_t i = 0; i < 3 * nf; i++) use[i] = (i % ev_c4(c)) < (uint64_t)c;
  /* activations (their backward from y): inputs kept away from relu's and leaky_relu's kink at 0 */
  double *x = malloc(2 * nf * 8), *r = malloc(nf * 8), *y = malloc(nf * 8), *gx = malloc(2 * nf * 8);
  for (uint64_t i = 0; i < nf; i++) {
    double v = tu_uniform(&seed, 0.1f, 1.0f);
    x[i] = (i % ev_c4(c)) < c ? (tu_next(&seed) & 1 ? v : -v) : 0.0;
    x[nf + i] = (i % ev_c4(c)) < c ? tu_uniform(&seed, -1, 1) : 0.0;
    r[i] = (i % ev_c4(c)) < c ? tu_uniform(&seed, -1, 1) : 0.0;
  }
  fd_ctx ctx = {nf, r, 0, NULL, 0, npix, NULL};
  for (int a = 0; a < 4; a++) {
    char what[64];
    ctx.act = &k_acts[a];
    ev_act_forward_ref(&k_acts[a], x, y, nf);
    ev_act_backward_ref(&k_acts[a], y, r, gx, nf);
    snprintf(what, sizeof what, "%s backward", ev_act_name(k_acts[a].kind));
    to_fd_check(what, fd_loss, &ctx, x, gx, nf, use, 1e-6, 1e-7);
  }
  /* add: d/da = d/db = r */
  ctx.which = 1;
  memcpy(gx, r, nf * 8);
  memcpy(gx + nf, r, nf * 8);
  to_fd_check("add backward", fd_loss, &ctx, x, gx, 2 * nf, use, 1e-6, 1e-7);
  /* concat of 1 + 5 + 2 channels: the split of r */
  int cs[3] = {1, 5, 2};
  uint64_t nin = npix * (4 + 8 + 4), nout = ev_tensor_floats(n, h, w, 8);
  double *xc = malloc(nin * 8), *rc = malloc(nout * 8), *gc = malloc(nin * 8);
  unsigned char *usec = malloc(nin);
  double *dxs[3] = {gc, gc + npix * 4, gc + npix * 12};
  for (uint64_t i = 0; i < nin; i++) xc[i] = tu_uniform(&seed, -1, 1);
  for (uint64_t i = 0; i < nout; i++) rc[i] = tu_uniform(&seed, -1, 1);
  for (int i = 0, o = 0; i < 3; i++)
    for (uint64_t j = 0; j < npix * ev_c4(cs[i]); j++, o++) usec[o] = (int)(j % ev_c4(cs[i])) < cs[i];
  ev_concat_backward_ref(rc, cs, 3, npix, dxs, 0);
  fd_ctx cc = {nout, rc, 2, cs, 3, npix, NULL};
  to_fd_check("concat backward", fd_loss, &cc, xc, gc, nin, usec, 1e-6, 1e-7);
  free(use), free(x), free(r), free(y), free(gx), free(xc), free(rc), free(gc), free(usec);
}

static void test_bad_input(void **state) {
  ev_gpu *g = tu_gpu();
  ev_tensor a = to_tensor(NULL, 2, 3, 4, 5), b = to_tensor(NULL, 2, 3, 4, 6), c = to_tensor(NULL, 2, 3, 4, 11);
  ev_tensor d = to_tensor(NULL, 2, 3, 5, 6);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  const ev_act *relu = &k_acts[0];
  TU_EXPECT_ARG(ev_act_forward(s, relu, &a, &b));
  TU_EXPECT_ARG(ev_act_backward(s, relu, &a, &a, &b));
  /* an unknown kind; leaky slopes that are not finite and > 0 */
  TU_EXPECT_ARG(ev_act_forward(s, &(ev_act){(ev_act_kind)4, 0.0f}, &a, &a));
  TU_EXPECT_ARG(ev_act_backward(s, &(ev_act){EV_ACT_LEAKY_RELU, 0.0f}, &a, &a, &a));
  TU_EXPECT_ARG(ev_act_backward(s, &(ev_act){EV_ACT_LEAKY_RELU, -0.1f}, &a, &a, &a));
  TU_EXPECT_ARG(ev_act_forward(s, &(ev_act){EV_ACT_LEAKY_RELU, INFINITY}, &a, &a));
  TU_EXPECT_ARG(ev_concat_backward_act(s, &c, (ev_tensor *[]){&a, &b}, (ev_tensor *[]){&a, &a}, k_acts, 2, 0)); /* y 1's shape */
  TU_EXPECT_ARG(ev_add(s, &a, &b, &a));
  TU_EXPECT_ARG(ev_add_into(s, &a, &a));
  ev_tensor z = a;
  z.h = 0;
  TU_EXPECT_ARG(ev_act_forward(s, relu, &z, &z));
  ev_tensor big = a;
  big.c = 64; /* more channels than the buffer holds */
  TU_EXPECT_ARG(ev_act_forward(s, relu, &big, &big));
  TU_EXPECT_ARG(ev_concat_forward(s, (ev_tensor *[]){&a, &b}, 2, &b));          /* overlap */
  TU_EXPECT_ARG(ev_concat_forward(s, (ev_tensor *[]){&a, &a}, 2, &c));          /* 10 != 11 */
  TU_EXPECT_ARG(ev_concat_forward(s, (ev_tensor *[]){&a, &d}, 2, &c));          /* W differs */
  TU_EXPECT_ARG(ev_concat_forward(s, (ev_tensor *[]){&a, &b, &a, &b, &a}, 5, &c)); /* k = 5 */
  TU_EXPECT_ARG(ev_concat_forward(s, (ev_tensor *[]){&a}, 0, &c));
  TU_EXPECT_ARG(ev_concat_backward(s, &c, (ev_tensor *[]){&a, &a}, 2, 0));      /* 10 != 11 */
  ev_stream_abort(s);
  ev_tensor_free(g, &a), ev_tensor_free(g, &b), ev_tensor_free(g, &c), ev_tensor_free(g, &d);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_act),          cmocka_unit_test(test_add),
      cmocka_unit_test(test_concat),       cmocka_unit_test(test_gradients_fd),
      cmocka_unit_test(test_bad_input),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
