/* Activations (none, relu, leaky_relu, tanh), add, add-into, concat and its gradient split
 * (also fused with each activation's backward): GPU vs the double reference on odd shapes
 * through the op-test harness (tests/optest.h: fresh random inputs, poisoned outputs,
 * tolerance 1e-6: exact ops, or tanh's few ulps), padding channels zero, finite-difference
 * checks of every backward on tiny shapes, and clear errors for bad shapes or activations. */
#include "evonet/ops/eltwise.h"
#include "optest.h"

enum { N = 3, H = 7, W = 5, C = 13 };

/* The activations every test here runs (a slope other than the default: alpha must reach
 * the kernel). */
static const ev_act k_acts[4] = {{EV_ACT_RELU, 0.0f}, {EV_ACT_LEAKY_RELU, 0.2f}, {EV_ACT_TANH, 0.0f}, {EV_ACT_NONE, 0.0f}};

/* An activation's output: its forward of uniform values in [-1, 1), about a tenth of them
 * exact zeros (which must count as "not positive"), padding channels zero. */
static void act_out(const ev_act *a, float *y, uint64_t nf) {
  for (uint64_t i = 0; i < nf; i++) y[i] = fabsf(y[i]) < 0.1f ? 0.0f : (float)ev_act_fwd_ref(a, y[i]);
}

/* ---- activations: y = f(x) (also in place), dx = f'(.) dy from y (also over dy) ---- */
static ev_status act_fwd_gpu(ev_stream *s, ot_run *r) { return ev_act_forward(s, r->arg, &r->in[0], &r->out[0]); }
static void act_fwd_ref(ot_run *r) { ev_act_forward_ref(r->arg, r->in_d[0], r->ref[0], ot_floats(r->shape)); }
static const ot_op k_act_fwd = {"act forward", 1, 1, .gpu = act_fwd_gpu, .ref = act_fwd_ref, .tol = 1e-6};
static const ot_op k_act_fwd_inplace = {"act forward in place", 1, 1, .inplace = 1, .gpu = act_fwd_gpu,
                                        .ref = act_fwd_ref, .tol = 1e-6};

/* inputs (dy, y): y an output of the activation; dx may be dy (in place) */
static void act_bwd_prepare(ot_run *r) { act_out(r->arg, r->in_host[1], ot_floats(r->shape)); }
static ev_status act_bwd_gpu(ev_stream *s, ot_run *r) {
  return ev_act_backward(s, r->arg, &r->in[1], &r->in[0], &r->out[0]);
}
static void act_bwd_ref(ot_run *r) {
  ev_act_backward_ref(r->arg, r->in_d[1], r->in_d[0], r->ref[0], ot_floats(r->shape));
}
static const ot_op k_act_bwd = {"act backward", 2, 1, .prepare = act_bwd_prepare, .gpu = act_bwd_gpu,
                                .ref = act_bwd_ref, .tol = 1e-6};
static const ot_op k_act_bwd_inplace = {"act backward in place", 2, 1, .prepare = act_bwd_prepare, .inplace = 1,
                                        .gpu = act_bwd_gpu, .ref = act_bwd_ref, .tol = 1e-6};

static void test_act(void **state) {
  static const ev_act leaky3 = {EV_ACT_LEAKY_RELU, 3.0f}; /* a slope > 1 keeps the sign too */
  const ot_op *ops[4] = {&k_act_fwd, &k_act_fwd_inplace, &k_act_bwd, &k_act_bwd_inplace};
  for (int a = 0; a < 5; a++)
    for (int o = 0; o < 4; o++) {
      const ev_act *act = a < 4 ? &k_acts[a] : &leaky3;
      ot_check_row(&(ot_row){ops[o], act, {N, H, W, C}, a < 4 ? ev_act_name(act->kind) : "leaky_relu 3"});
    }
}

/* ---- add and add-into: inputs (b, a); out 0 = a + b, then a += b twice in the same stream
 * (the add-into after the add read a: a barrier) ---- */
static ev_status add_gpu(ev_stream *s, ot_run *r) {
  EV_TRY(ev_add(s, &r->in[1], &r->in[0], &r->out[0]));
  EV_TRY(ev_add_into(s, &r->in[1], &r->in[0]));
  return ev_add_into(s, &r->in[1], &r->in[0]);
}
static void add_ref(ot_run *r) {
  uint64_t nf = ot_floats(r->shape);
  ev_add_ref(r->in_d[1], r->in_d[0], r->ref[0], nf);
  ev_add_ref(r->ref[0], r->in_d[0], r->ref[1], nf);
}
static const ot_op k_add = {"add, add_into twice", 2, 2, .inplace = 2, .gpu = add_gpu, .ref = add_ref, .tol = 1e-6};

static void test_add(void **state) { ot_check_row(&(ot_row){&k_add, NULL, {N, H, W, C}, NULL}); }

/* ---- mul: out = a * b (also over a); its gradient da = dy * b, db = dy * a ---- */
static ev_status mul_gpu(ev_stream *s, ot_run *r) { return ev_mul(s, &r->in[0], &r->in[1], &r->out[0]); }
static void mul_ref(ot_run *r) { ev_mul_ref(r->in_d[0], r->in_d[1], r->ref[0], ot_floats(r->shape)); }
static ev_status mul_bwd_gpu(ev_stream *s, ot_run *r) {
  return ev_mul_backward(s, &r->in[0], &r->in[1], &r->in[2], &r->out[0], &r->out[1]);
}
static void mul_bwd_ref(ot_run *r) {
  ev_mul_backward_ref(r->in_d[0], r->in_d[1], r->in_d[2], r->ref[0], r->ref[1], ot_floats(r->shape));
}
static const ot_op k_mul = {"mul", 2, 1, .gpu = mul_gpu, .ref = mul_ref, .tol = 1e-6};
static const ot_op k_mul_inplace = {"mul in place", 2, 1, .inplace = 1, .gpu = mul_gpu, .ref = mul_ref, .tol = 1e-6};
static const ot_op k_mul_bwd = {"mul backward", 3, 2, .gpu = mul_bwd_gpu, .ref = mul_bwd_ref, .tol = 1e-6};

static void test_mul(void **state) {
  const ot_row rows[] = {{&k_mul, NULL, {N, H, W, C}, NULL},         {&k_mul_inplace, NULL, {N, H, W, C}, NULL},
                         {&k_mul_bwd, NULL, {N, H, W, C}, NULL},     {&k_mul, NULL, {1, 1, 1, 1}, NULL},
                         {&k_mul_bwd, NULL, {2, 9, 4, 6}, NULL}};
  OT_CHECK_TABLE(rows);
}

/* ---- concat of k inputs with channel counts c[]: forward, the split (overwrite and
 * accumulate) and the split fused with the activation backward of the inputs (input i an
 * output of k_acts[(i + k + acc) % 4], input 1 plain by a NULL y) ---- */
typedef struct { int k, c[4], acc; } concat_arg;

static void concat_label(const concat_arg *a, char *buf, size_t n) {
  int o = snprintf(buf, n, "k=%d C=", a->k);
  for (int i = 0; i < a->k; i++) o += snprintf(buf + o, n - o, i ? "+%d" : "%d", a->c[i]);
}
static int concat_cout(const concat_arg *a) {
  int cout = 0;
  for (int i = 0; i < a->k; i++) cout += a->c[i];
  return cout;
}
static uint64_t npix_of(ot_shape s) { return (uint64_t)s.n * s.h * s.w; }

/* forward: inputs x_i, output y */
static void concat_fwd_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  const concat_arg *a = v;
  for (int i = 0; i < a->k; i++) in[i].c = a->c[i];
  out[0].c = concat_cout(a);
}
static ev_status concat_fwd_gpu(ev_stream *s, ot_run *r) {
  const concat_arg *a = r->arg;
  ev_tensor *xs[4] = {&r->in[0], &r->in[1], &r->in[2], &r->in[3]};
  return ev_concat_forward(s, xs, a->k, &r->out[0]);
}
static void concat_fwd_ref(ot_run *r) {
  const concat_arg *a = r->arg;
  ev_concat_forward_ref((const double *const *)r->in_d, a->c, a->k, npix_of(r->shape), r->ref[0]);
}

/* split: input dy (then, fused, the activation outputs y_i), outputs dx_i */
static void concat_bwd_shapes(const void *v, ot_shape s, ot_shape *in, ot_shape *out) {
  const concat_arg *a = v;
  in[0].c = concat_cout(a);
  for (int i = 0; i < a->k; i++) out[i].c = in[1 + i].c = a->c[i];
}
static ev_status concat_bwd_gpu(ev_stream *s, ot_run *r) {
  const concat_arg *a = r->arg;
  ev_tensor *dxs[4] = {&r->out[0], &r->out[1], &r->out[2], &r->out[3]};
  return ev_concat_backward(s, &r->in[0], dxs, a->k, a->acc);
}
static void concat_bwd_ref(ot_run *r) { /* accumulate: ref starts as the outputs' initial data */
  const concat_arg *a = r->arg;
  ev_concat_backward_ref(r->in_d[0], a->c, a->k, npix_of(r->shape), r->ref, a->acc);
}
static const ev_act *concat_act(const concat_arg *a, int i) { return &k_acts[(i + a->k + a->acc) % 4]; }
static void concat_act_prepare(ot_run *r) {
  const concat_arg *a = r->arg;
  for (int i = 0; i < a->k; i++) act_out(concat_act(a, i), r->in_host[1 + i], ot_floats(r->in_shape[1 + i]));
}
static ev_status concat_act_gpu(ev_stream *s, ot_run *r) {
  const concat_arg *a = r->arg;
  ev_tensor *dxs[4] = {&r->out[0], &r->out[1], &r->out[2], &r->out[3]}, *ys[4];
  ev_act acts[4];
  for (int i = 0; i < a->k; i++) ys[i] = i == 1 ? NULL : &r->in[1 + i], acts[i] = *concat_act(a, i);
  return ev_concat_backward_act(s, &r->in[0], dxs, ys, acts, a->k, a->acc);
}
static void concat_act_ref(ot_run *r) {
  const concat_arg *a = r->arg;
  double *part[4];
  for (int i = 0; i < a->k; i++) part[i] = to_xmalloc(ot_floats(r->out_shape[i]) * sizeof(double));
  ev_concat_backward_ref(r->in_d[0], a->c, a->k, npix_of(r->shape), part, 0);
  for (int i = 0; i < a->k; i++) {
    for (uint64_t j = 0; j < ot_floats(r->out_shape[i]); j++) {
      double v = i == 1 ? part[i][j] : ev_act_bwd_ref(concat_act(a, i), r->in_d[1 + i][j], part[i][j]);
      r->ref[i][j] = a->acc ? (double)((float)v + r->out_init[i][j]) : v;
    }
    free(part[i]);
  }
}
static const ot_op k_concat_fwd = {"concat forward", 4, 1, concat_fwd_shapes, .gpu = concat_fwd_gpu,
                                   .ref = concat_fwd_ref, .tol = 1e-6};
static const ot_op k_concat_bwd = {"concat backward", 1, 4, concat_bwd_shapes, .gpu = concat_bwd_gpu,
                                   .ref = concat_bwd_ref, .tol = 1e-6};
static const ot_op k_concat_bwd_acc = {"concat backward accumulate", 1, 4, concat_bwd_shapes, .accumulate = 15,
                                       .gpu = concat_bwd_gpu, .ref = concat_bwd_ref, .tol = 1e-6};
static const ot_op k_concat_act = {"concat backward+act", 5, 4, concat_bwd_shapes, concat_act_prepare,
                                   .gpu = concat_act_gpu, .ref = concat_act_ref, .tol = 1e-6};
static const ot_op k_concat_act_acc = {"concat backward+act accumulate", 5, 4, concat_bwd_shapes, concat_act_prepare,
                                       .accumulate = 15, .gpu = concat_act_gpu, .ref = concat_act_ref, .tol = 1e-6};

static void test_concat(void **state) {
  static const concat_arg cases[5] = {
      {3, {13, 7, 5}, 0}, {4, {1, 2, 3, 9}, 0}, {2, {4, 8}, 0},
      {3, {8, 4, 5}, 0}, /* aligned offsets, the last input padded */
      {1, {6}, 0},
  };
  for (int t = 0; t < 5; t++) {
    concat_arg a = cases[t], acc = cases[t];
    acc.acc = 1;
    /* the ops take k tensors: a row's op copy says how many */
    ot_op fwd = k_concat_fwd, bwd = k_concat_bwd, bwd_acc = k_concat_bwd_acc, act = k_concat_act,
          act_acc = k_concat_act_acc;
    fwd.n_in = a.k, bwd.n_out = bwd_acc.n_out = act.n_out = act_acc.n_out = a.k;
    act.n_in = act_acc.n_in = 1 + a.k;
    char label[48];
    concat_label(&a, label, sizeof label);
    const ot_row rows[] = {{&fwd, &a, {N, H, W, 0}, label},     {&bwd_acc, &acc, {N, H, W, 0}, label},
                           {&bwd, &a, {N, H, W, 0}, label},     {&act_acc, &acc, {N, H, W, 0}, label},
                           {&act, &a, {N, H, W, 0}, label}};
    OT_CHECK_TABLE(rows);
  }
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
      cmocka_unit_test(test_act),          cmocka_unit_test(test_add),          cmocka_unit_test(test_mul),
      cmocka_unit_test(test_concat),       cmocka_unit_test(test_gradients_fd),
      cmocka_unit_test(test_bad_input),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
