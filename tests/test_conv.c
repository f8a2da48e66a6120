/* conv2d / transposed conv2d forward and input-gradient passes: GPU (both kernel variants,
 * forced with EVONET_CONV_VARIANT) against the C references on odd shapes with fresh random
 * data and poisoned outputs; the references checked by the adjoint identity and by finite
 * differences; bad arguments rejected with a message. The fused passes (forwards with an
 * activation, input gradients with an activation's backward from its output; relu,
 * leaky_relu and tanh in turn over the cases) are checked against the references followed
 * by the activation's reference (evonet/ops/act.h), on the same cases and variants.
 * Tolerances: GPU vs reference ||gpu-ref||/||ref|| < 1e-5 (fp32 sums of <= 13*49 terms vs
 * double); padding channels exactly 0; adjoint identity 1e-5 of sum |terms| (the references
 * round their outputs to float); finite differences 1e-3 relative (a linear map: only the
 * float rounding of the outputs, divided by the step, remains). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/ops/conv.h"
#include "testutil.h"

#define TOL_GPU 1e-5

typedef struct {
  const char *name;
  int n, h, w; /* the pass's x */
  ev_conv_desc d;
} conv_case;

/* {cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, oph, opw} */
static const conv_case k_conv[] = {
    {"3x3 s1 p1 13->7", 3, 7, 5, {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"3x3 s2 p1 13->13", 3, 7, 5, {13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0}},
    {"5x5 s1 p2 d2 13->11", 3, 7, 5, {13, 11, 5, 5, 1, 1, 2, 2, 2, 2, 0, 0}},
    {"1x1 s2 p0 13->13", 3, 7, 5, {13, 13, 1, 1, 2, 2, 0, 0, 1, 1, 0, 0}},
    {"7x7 s(2,1) p3 13->7", 3, 7, 5, {13, 7, 7, 7, 2, 1, 3, 3, 1, 1, 0, 0}},
    {"3x3 s(1,2) p(0,2) d(2,1) 13->13", 3, 7, 5, {13, 13, 3, 3, 1, 2, 0, 2, 2, 1, 0, 0}},
    {"3x3 s1 p1 36->40 (full tiles)", 2, 9, 8, {36, 40, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"4x4 s2 p1 64->20 (aliasing rows)", 2, 10, 9, {64, 20, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0}},
    {"3x3 s1 p1 3->1 (narrow)", 3, 7, 5, {3, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"3x3 s1 p1 8->20 (unrolled taps)", 2, 9, 7, {8, 20, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"3x3 s1 p1 24->48 (several tiles)", 2, 12, 11, {24, 48, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"3x3 s2 p2 d2 13->7 (adjoint gcd 2)", 2, 9, 8, {13, 7, 3, 3, 2, 2, 2, 2, 2, 2, 0, 0}},
    {"5x5 s3 p(2,3) d2 6->9 (adjoint inverse)", 2, 11, 10, {6, 9, 5, 5, 3, 3, 2, 3, 2, 2, 0, 0}},
    {"3x3 s(4,2) p1 d2 5->6", 2, 13, 9, {5, 6, 3, 3, 4, 2, 1, 1, 2, 2, 0, 0}},
};

static const conv_case k_deconv[] = {
    {"4x4 s2 p1 13->7", 3, 7, 5, {13, 7, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0}},
    {"3x3 s2 p1 op1 13->13", 3, 7, 5, {13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}},
    {"3x3 s(2,3) p(0,1) d(2,1) op(1,2) 13->7", 3, 7, 5, {13, 7, 3, 3, 2, 3, 0, 1, 2, 1, 1, 2}},
    {"1x1 s1 13->13", 3, 7, 5, {13, 13, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0}},
    {"5x5 s1 p2 13->7", 3, 7, 5, {13, 7, 5, 5, 1, 1, 2, 2, 1, 1, 0, 0}},
    {"7x7 s3 p2 d1 13->7", 3, 7, 5, {13, 7, 7, 7, 3, 3, 2, 2, 1, 1, 2, 0}},
    {"3x3 s2 p1 d2 op1 5->6 (gcd 2)", 2, 4, 5, {5, 6, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1}},
    {"5x5 s3 p2 d2 6->9 (inverse)", 2, 4, 3, {6, 9, 5, 5, 3, 3, 2, 2, 2, 2, 1, 0}},
    {"4x4 s2 p1 8->24 (unrolled)", 2, 5, 6, {8, 24, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0}},
};

/* kernel variants: EVONET_CONV_VARIANT, and the test hooks EVONET_CONV_CN (per-lane rows),
 * EVONET_CONV_SWAP (orientation), EVONET_CONV_HA (shuffled blocks of 8 rows) and
 * EVONET_CONV_UNROLL (0: keep the tap and texel loops of narrow layers) of the shuffle kernel
 * and EVONET_CONV_GRIDX (x workgroups cap), EVONET_CONV_GPU_TILE (the shared kernel's
 * TM,TN,LX,LY); two rows use the variants' old names (cpu = shuffle, gpu = shared);
 * "" leaves the choice to the host */
typedef struct { const char *name, *variant, *cn, *swap, *gridx, *ha, *unroll, *tile; } variant;
static const variant k_variants[] = {
    {"shuffle", "shuffle", "", "", "", "", "", ""},
    {"shuffle2", "shuffle", "2", "0", "1", "", "", ""}, /* gridx 1: every m-tile wraps from x into y */
    {"shuffle4s", "shuffle", "4", "1", "", "1", "0", ""},
    {"shuffle h2", "shuffle", "4", "0", "", "2", "0", ""},
    {"shuffle h3s", "shuffle", "4", "1", "2", "3", "", ""},
    {"shuffle h4", "cpu", "4", "0", "", "4", "", ""}, /* "cpu": the old name of shuffle */
    {"shared", "shared", "", "", "1", "", "", ""},
    {"shared 8x4 on 16x8", "gpu", "", "", "", "", "", "8,4,16,8"}, /* tall blocks, flat workgroup; "gpu": the old name */
};
#define N_VARIANTS (sizeof k_variants / sizeof k_variants[0])

/* EVONET_TEST_CONV_VARIANTS=shared runs only the variants whose name starts so: on a GPU the
 * shuffle kernel's many specialisations take minutes to compile the first time. */
static int variant_skipped(const variant *v) {
  const char *only = getenv("EVONET_TEST_CONV_VARIANTS");
  return only && *only && strncmp(v->name, only, strlen(only)) != 0;
}

static void set_variant(const variant *v) {
  tu_tune("EVONET_CONV_VARIANT", v->variant);
  tu_tune("EVONET_CONV_CN", v->cn);
  tu_tune("EVONET_CONV_SWAP", v->swap);
  tu_tune("EVONET_CONV_GRIDX", v->gridx);
  tu_tune("EVONET_CONV_HA", v->ha);
  tu_tune("EVONET_CONV_UNROLL", v->unroll);
  tu_tune("EVONET_CONV_GPU_TILE", v->tile);
}

static void clear_variant(void) {
  tu_tune("EVONET_CONV_VARIANT", NULL);
  tu_tune("EVONET_CONV_CN", NULL);
  tu_tune("EVONET_CONV_SWAP", NULL);
  tu_tune("EVONET_CONV_GRIDX", NULL);
  tu_tune("EVONET_CONV_HA", NULL);
  tu_tune("EVONET_CONV_UNROLL", NULL);
  tu_tune("EVONET_CONV_GPU_TILE", NULL);
}

/* ---------------- host data ---------------- */
/* Random NHWC-C4 activations (padding channels zero, as the layout contract says). */
static float *rand_act(uint64_t *st, int n, int h, int w, int c) {
  size_t dense = (size_t)n * c * h * w;
  float *nchw = malloc(dense * sizeof *nchw), *x = malloc(ev_tensor_floats(n, h, w, c) * sizeof *x);
  tu_fill_uniform(nchw, dense, st, -1.0f, 1.0f);
  ev_nchw_to_nhwc4(nchw, x, n, c, h, w);
  free(nchw);
  return x;
}

/* Random OHWI4 weights (padded entries zero). */
static float *rand_w(uint64_t *st, int o, int i, int kh, int kw) {
  size_t dense = (size_t)o * i * kh * kw;
  float *oihw = malloc(dense * sizeof *oihw), *w = malloc((size_t)o * kh * kw * ev_c4(i) * sizeof *w);
  tu_fill_uniform(oihw, dense, st, -0.5f, 0.5f);
  ev_oihw_to_ohwi4(oihw, w, o, i, kh, kw);
  free(oihw);
  return w;
}

static float *rand_bias(uint64_t *st, int c) {
  float *b = calloc(ev_c4(c), sizeof *b);
  tu_fill_uniform(b, c, st, -0.5f, 0.5f);
  return b;
}

static ev_tensor dev_act(const float *x, int n, int h, int w, int c) {
  ev_tensor t;
  TU_OK(ev_tensor_alloc(tu_gpu(), n, h, w, c, &t));
  if (x) TU_OK(ev_buf_upload(tu_gpu(), &t.buf, 0, x, ev_tensor_floats(n, h, w, c) * 4));
  else tu_poison(&t.buf);
  return t;
}

/* The output must match the reference and hold exact zeros in its padding channels. */
static void compare(const char *what, const char *variant, const conv_case *cc, ev_tensor *t,
                    const float *ref) {
  size_t nf = ev_tensor_floats(t->n, t->h, t->w, t->c);
  float *got = malloc(nf * sizeof *got);
  tu_download(&t->buf, got, nf);
  double e = tu_rel_err(got, ref, nf);
  int c4 = ev_c4(t->c), pad_bad = 0;
  for (size_t i = 0; i < nf; i++)
    if ((int)(i % c4) >= t->c && got[i] != 0.0f) pad_bad = 1;
  print_message("  %-4s %-13s %-40s rel err %.2e\n", variant, what, cc->name, e);
  free(got);
  if (!(e < TOL_GPU)) fail_msg("%s %s (%s): relative error %.3e >= %.0e", what, cc->name, variant, e, TOL_GPU);
  if (pad_bad) fail_msg("%s %s (%s): padding channels not zero", what, cc->name, variant);
}

/* The activations the fused passes are checked with, in turn over the cases (a slope other
 * than the default: alpha must reach the kernel). */
static const ev_act k_acts[3] = {{EV_ACT_RELU, 0.0f}, {EV_ACT_LEAKY_RELU, 0.2f}, {EV_ACT_TANH, 0.0f}};

/* An activation's output for the fused backward passes: its forward of uniform values, with
 * some exact zeros (which must count as "not positive"), padding channels zero. */
static float *rand_act_out(uint64_t *st, const ev_act *a, int n, int h, int w, int c) {
  float *y = rand_act(st, n, h, w, c);
  size_t nf = ev_tensor_floats(n, h, w, c);
  for (size_t i = 0; i < nf; i++) y[i] = fabsf(y[i]) < 0.1f ? 0.0f : (float)ev_act_fwd_ref(a, y[i]);
  return y;
}

/* ref := the activation's backward of ref from its output y (what the fused passes apply) */
static float *act_bwd_of(const ev_act *a, const float *ref, const float *y, size_t nf) {
  float *r = malloc(nf * sizeof *r);
  for (size_t i = 0; i < nf; i++) r[i] = (float)ev_act_bwd_ref(a, y[i], ref[i]);
  return r;
}

static float *act_fwd_of(const ev_act *a, const float *v, size_t nf) {
  float *r = malloc(nf * sizeof *r);
  for (size_t i = 0; i < nf; i++) r[i] = (float)ev_act_fwd_ref(a, v[i]);
  return r;
}

/* ---------------- GPU vs reference ---------------- */
/* fwd: the forward's activation (NULL: none); bwd: the fused input gradient's */
static void run_conv_case(const conv_case *cc, const char *variant, uint64_t *st, int use_bias, const ev_act *fwd,
                          const ev_act *bwd) {
  ev_gpu *g = tu_gpu();
  const ev_conv_desc *d = &cc->d;
  int ho = ev_conv_out_size(cc->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(cc->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  float *x = rand_act(st, cc->n, cc->h, cc->w, d->cin), *dy = rand_act(st, cc->n, ho, wo, d->cout);
  float *w = rand_w(st, d->cout, d->cin, d->kh, d->kw), *b = rand_bias(st, d->cout);
  float *y_ref = malloc(ev_tensor_floats(cc->n, ho, wo, d->cout) * 4);
  float *dx_ref = malloc(ev_tensor_floats(cc->n, cc->h, cc->w, d->cin) * 4);
  ev_conv2d_forward_ref(d, cc->n, cc->h, cc->w, x, w, use_bias ? b : NULL, fwd, y_ref);
  ev_conv2d_backward_data_ref(d, cc->n, cc->h, cc->w, dy, w, dx_ref);

  ev_tensor tx = dev_act(x, cc->n, cc->h, cc->w, d->cin), tdy = dev_act(dy, cc->n, ho, wo, d->cout);
  ev_tensor ty = dev_act(NULL, cc->n, ho, wo, d->cout), tdx = dev_act(NULL, cc->n, cc->h, cc->w, d->cin);
  ev_buf bw = tu_upload(w, (size_t)d->cout * d->kh * d->kw * ev_c4(d->cin));
  ev_buf bb = tu_upload(b, ev_c4(d->cout));
  ev_buf ws;
  TU_OK(ev_buf_alloc(g, ev_conv_workspace_bytes(d), &ws));
  tu_poison(&ws);
  size_t nfx = ev_tensor_floats(cc->n, cc->h, cc->w, d->cin);
  float *ym = rand_act_out(st, bwd, cc->n, cc->h, cc->w, d->cin), *dxm_ref = act_bwd_of(bwd, dx_ref, ym, nfx);
  ev_tensor tym = dev_act(ym, cc->n, cc->h, cc->w, d->cin), tdxm = dev_act(NULL, cc->n, cc->h, cc->w, d->cin);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_conv2d_forward(s, d, &tx, &bw, use_bias ? &bb : NULL, fwd, &ty));
  TU_OK(ev_conv2d_backward_data(s, d, &tdy, &bw, &tdx, &ws));
  TU_OK(ev_conv2d_backward_data_act(s, d, &tdy, &bw, &tdxm, &ws, bwd, &tym));
  TU_OK(ev_stream_submit(s));
  char what[40];
  snprintf(what, sizeof what, "fwd%s+%s", use_bias ? "+bias" : "", ev_act_name(fwd ? fwd->kind : EV_ACT_NONE));
  compare(what, variant, cc, &ty, y_ref);
  compare("bwd-data", variant, cc, &tdx, dx_ref);
  snprintf(what, sizeof what, "bwd-data+%s", ev_act_name(bwd->kind));
  compare(what, variant, cc, &tdxm, dxm_ref);

  ev_tensor_free(g, &tx), ev_tensor_free(g, &tdy), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdx);
  ev_tensor_free(g, &tym), ev_tensor_free(g, &tdxm);
  ev_buf_free(g, &bw), ev_buf_free(g, &bb), ev_buf_free(g, &ws);
  free(x), free(dy), free(w), free(b), free(y_ref), free(dx_ref), free(ym), free(dxm_ref);
}

static void run_deconv_case(const conv_case *cc, const char *variant, uint64_t *st, int use_bias, const ev_act *act) {
  ev_gpu *g = tu_gpu();
  const ev_conv_desc *d = &cc->d;
  int ho = ev_deconv_out_size(cc->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(cc->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  float *x = rand_act(st, cc->n, cc->h, cc->w, d->cin), *dy = rand_act(st, cc->n, ho, wo, d->cout);
  float *w = rand_w(st, d->cin, d->cout, d->kh, d->kw), *b = rand_bias(st, d->cout);
  float *y_ref = malloc(ev_tensor_floats(cc->n, ho, wo, d->cout) * 4);
  float *dx_ref = malloc(ev_tensor_floats(cc->n, cc->h, cc->w, d->cin) * 4);
  ev_deconv2d_forward_ref(d, cc->n, cc->h, cc->w, x, w, use_bias ? b : NULL, y_ref);
  ev_deconv2d_backward_data_ref(d, cc->n, cc->h, cc->w, dy, w, dx_ref);

  ev_tensor tx = dev_act(x, cc->n, cc->h, cc->w, d->cin), tdy = dev_act(dy, cc->n, ho, wo, d->cout);
  ev_tensor ty = dev_act(NULL, cc->n, ho, wo, d->cout), tdx = dev_act(NULL, cc->n, cc->h, cc->w, d->cin);
  ev_buf bw = tu_upload(w, (size_t)d->cin * d->kh * d->kw * ev_c4(d->cout));
  ev_buf bb = tu_upload(b, ev_c4(d->cout));
  ev_buf ws;
  TU_OK(ev_buf_alloc(g, ev_conv_workspace_bytes(d), &ws));
  tu_poison(&ws);
  size_t nfx = ev_tensor_floats(cc->n, cc->h, cc->w, d->cin), nfy = ev_tensor_floats(cc->n, ho, wo, d->cout);
  float *ym = rand_act_out(st, act, cc->n, cc->h, cc->w, d->cin), *dxm_ref = act_bwd_of(act, dx_ref, ym, nfx);
  float *yr_ref = act_fwd_of(act, y_ref, nfy);
  ev_tensor tym = dev_act(ym, cc->n, cc->h, cc->w, d->cin), tdxm = dev_act(NULL, cc->n, cc->h, cc->w, d->cin);
  ev_tensor tyr = dev_act(NULL, cc->n, ho, wo, d->cout);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_deconv2d_forward(s, d, &tx, &bw, use_bias ? &bb : NULL, &ty, &ws));
  TU_OK(ev_deconv2d_backward_data(s, d, &tdy, &bw, &tdx));
  TU_OK(ev_deconv2d_forward_act(s, d, &tx, &bw, use_bias ? &bb : NULL, act, &tyr, &ws));
  TU_OK(ev_deconv2d_backward_data_act(s, d, &tdy, &bw, &tdxm, act, &tym));
  TU_OK(ev_stream_submit(s));
  compare(use_bias ? "deconv fwd+b" : "deconv fwd", variant, cc, &ty, y_ref);
  compare("deconv bwd", variant, cc, &tdx, dx_ref);
  char what[40];
  snprintf(what, sizeof what, "deconv fwd+%s", ev_act_name(act->kind));
  compare(what, variant, cc, &tyr, yr_ref);
  snprintf(what, sizeof what, "deconv bwd+%s", ev_act_name(act->kind));
  compare(what, variant, cc, &tdxm, dxm_ref);

  ev_tensor_free(g, &tx), ev_tensor_free(g, &tdy), ev_tensor_free(g, &ty), ev_tensor_free(g, &tdx);
  ev_tensor_free(g, &tym), ev_tensor_free(g, &tdxm), ev_tensor_free(g, &tyr);
  ev_buf_free(g, &bw), ev_buf_free(g, &bb), ev_buf_free(g, &ws);
  free(x), free(dy), free(w), free(b), free(y_ref), free(dx_ref), free(ym), free(dxm_ref), free(yr_ref);
}

static void test_conv_gpu_vs_ref(void **state) {
  uint64_t st = tu_seed() ^ 0xc0471;
  for (size_t v = 0; v < N_VARIANTS; v++) {
    if (variant_skipped(&k_variants[v])) continue;
    set_variant(&k_variants[v]);
    for (size_t i = 0; i < sizeof k_conv / sizeof k_conv[0]; i++)
      /* the forward: relu on every third case (as before the other kinds), leaky_relu and
       * tanh on others; the fused backward: each kind in turn */
      run_conv_case(&k_conv[i], k_variants[v].name, &st, i % 3 != 2,
                    i % 3 == 0 ? &k_acts[0] : i % 3 == 1 ? &k_acts[1 + i % 2] : NULL, &k_acts[i % 3]);
  }
  clear_variant();
  tu_gpu_assert_clean();
}

static void test_deconv_gpu_vs_ref(void **state) {
  uint64_t st = tu_seed() ^ 0xdec0;
  for (size_t v = 0; v < N_VARIANTS; v++) {
    if (variant_skipped(&k_variants[v])) continue;
    set_variant(&k_variants[v]);
    for (size_t i = 0; i < sizeof k_deconv / sizeof k_deconv[0]; i++)
      run_deconv_case(&k_deconv[i], k_variants[v].name, &st, i % 2 == 0, &k_acts[i % 3]);
  }
  clear_variant();
  tu_gpu_assert_clean();
}

/* ---------------- the references' own checks ---------------- */
static double dot(const float *a, const float *b, size_t n, double *mag) {
  double s = 0, m = 0;
  for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i], m += fabs((double)a[i] * b[i]);
  *mag = m;
  return s;
}

/* <A x, y> == <x, A^T y> for conv and deconv on every case (no bias: a linear map). */
static void test_adjoint_identity(void **state) {
  uint64_t st = tu_seed() ^ 0xad701;
  for (int t = 0; t < 2; t++) {
    const conv_case *cases = t ? k_deconv : k_conv;
    size_t nc = t ? sizeof k_deconv / sizeof *k_deconv : sizeof k_conv / sizeof *k_conv;
    for (size_t i = 0; i < nc; i++) {
      const conv_case *cc = &cases[i];
      const ev_conv_desc *d = &cc->d;
      int ho = t ? ev_deconv_out_size(cc->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h)
                 : ev_conv_out_size(cc->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
      int wo = t ? ev_deconv_out_size(cc->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w)
                 : ev_conv_out_size(cc->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
      size_t nx = ev_tensor_floats(cc->n, cc->h, cc->w, d->cin), ny = ev_tensor_floats(cc->n, ho, wo, d->cout);
      float *x = rand_act(&st, cc->n, cc->h, cc->w, d->cin), *y = rand_act(&st, cc->n, ho, wo, d->cout);
      float *w = t ? rand_w(&st, d->cin, d->cout, d->kh, d->kw) : rand_w(&st, d->cout, d->cin, d->kh, d->kw);
      float *ax = malloc(ny * 4), *aty = malloc(nx * 4);
      if (t) {
        ev_deconv2d_forward_ref(d, cc->n, cc->h, cc->w, x, w, NULL, ax);
        ev_deconv2d_backward_data_ref(d, cc->n, cc->h, cc->w, y, w, aty);
      } else {
        ev_conv2d_forward_ref(d, cc->n, cc->h, cc->w, x, w, NULL, NULL, ax);
        ev_conv2d_backward_data_ref(d, cc->n, cc->h, cc->w, y, w, aty);
      }
      double m1, m2, l = dot(ax, y, ny, &m1), r = dot(x, aty, nx, &m2);
      if (!(fabs(l - r) < 1e-5 * fmax(m1, m2)))
        fail_msg("adjoint identity %s %s: <Ax,y> = %.9g, <x,A'y> = %.9g", t ? "deconv" : "conv", cc->name, l, r);
      free(x), free(y), free(w), free(ax), free(aty);
    }
  }
}

/* d/dx <f(x), g> = f'(x)^T g: the backward-data references against central differences. */
static void fd_check(int transposed, uint64_t *st) {
  const ev_conv_desc d = {3, 2, 3, 3, 2, 2, 1, 1, 1, 1, transposed, transposed};
  int n = 1, h = 4, w = 3;
  int ho = transposed ? ev_deconv_out_size(h, 3, 2, 1, 1, 1) : ev_conv_out_size(h, 3, 2, 1, 1);
  int wo = transposed ? ev_deconv_out_size(w, 3, 2, 1, 1, 1) : ev_conv_out_size(w, 3, 2, 1, 1);
  size_t nx = ev_tensor_floats(n, h, w, d.cin), ny = ev_tensor_floats(n, ho, wo, d.cout);
  float *x = rand_act(st, n, h, w, d.cin), *gy = rand_act(st, n, ho, wo, d.cout);
  float *wt = transposed ? rand_w(st, d.cin, d.cout, 3, 3) : rand_w(st, d.cout, d.cin, 3, 3);
  float *b = rand_bias(st, d.cout), *y = malloc(ny * 4), *gx = malloc(nx * 4);
  if (transposed) ev_deconv2d_backward_data_ref(&d, n, h, w, gy, wt, gx);
  else ev_conv2d_backward_data_ref(&d, n, h, w, gy, wt, gx);
  const float eps = 1e-2f;
  for (size_t i = 0; i < nx; i++) {
    if ((int)(i % ev_c4(d.cin)) >= d.cin) continue;
    double l[2], mag;
    float x0 = x[i];
    for (int sgn = 0; sgn < 2; sgn++) {
      x[i] = x0 + (sgn ? -eps : eps);
      if (transposed) ev_deconv2d_forward_ref(&d, n, h, w, x, wt, b, y);
      else ev_conv2d_forward_ref(&d, n, h, w, x, wt, b, NULL, y);
      l[sgn] = dot(y, gy, ny, &mag);
    }
    x[i] = x0;
    double fd = (l[0] - l[1]) / (2.0 * eps);
    if (!(fabs(fd - gx[i]) < 1e-3 * fmax(1.0, fabs(fd))))
      fail_msg("%s backward-data ref: element %zu: finite difference %.6g, analytic %.6g",
               transposed ? "deconv" : "conv", i, fd, gx[i]);
  }
  free(x), free(gy), free(wt), free(b), free(y), free(gx);
}

static void test_backward_data_ref_fd(void **state) {
  uint64_t st = tu_seed() ^ 0xfd;
  fd_check(0, &st);
  fd_check(1, &st);
}

/* ---------------- bad arguments ---------------- */
static void test_bad_arguments(void **state) {
  ev_gpu *g = tu_gpu();
  ev_conv_desc d = {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0};
  ev_tensor x, y, y_bad, x_bad;
  TU_OK(ev_tensor_alloc(g, 2, 7, 5, 13, &x));
  TU_OK(ev_tensor_alloc(g, 2, 7, 5, 7, &y));
  TU_OK(ev_tensor_alloc(g, 2, 6, 5, 7, &y_bad));  /* wrong output height */
  TU_OK(ev_tensor_alloc(g, 2, 7, 5, 12, &x_bad)); /* channel mismatch */
  ev_buf w, ws_small;
  TU_OK(ev_buf_alloc(g, 7 * 9 * 16 * 4, &w));
  TU_OK(ev_buf_alloc(g, 16, &ws_small));
  ev_tensor zero = x;
  zero.h = 0;
  ev_conv_desc d_bad = d;
  d_bad.stride_h = 0;
  ev_conv_desc d_op = d;
  d_op.out_pad_h = 1; /* >= stride 1 and dilation 1 */
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x_bad, &w, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x, &w, NULL, NULL, &y_bad));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &zero, &w, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d_bad, &x, &w, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x, &ws_small, NULL, NULL, &y)); /* weights too small */
  TU_EXPECT_ARG(ev_conv2d_backward_data(s, &d, &y, &w, &x, NULL));      /* no workspace */
  TU_EXPECT_ARG(ev_conv2d_backward_data(s, &d, &y, &w, &x, &ws_small)); /* workspace too small */
  TU_EXPECT_ARG(ev_conv2d_backward_data(s, &d, &y_bad, &w, &x, NULL));
  ev_conv_desc dt = {7, 13, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}; /* deconv 7 -> 13 */
  TU_EXPECT_ARG(ev_deconv2d_forward(s, &dt, &x, &w, NULL, &y, &ws_small)); /* x has 13 channels */
  TU_EXPECT_ARG(ev_deconv2d_backward_data(s, &dt, &x_bad, &w, &y));
  TU_EXPECT_ARG(ev_deconv2d_forward(s, &d_op, &x, &w, NULL, &y, &ws_small));
  /* activations: an unknown kind, leaky slopes that are not > 0 (the backward reads the
   * sign from the output), a mask of the wrong shape */
  ev_act bad_kind = {(ev_act_kind)7, 0.0f}, alpha0 = {EV_ACT_LEAKY_RELU, 0.0f}, alpha_nan = {EV_ACT_LEAKY_RELU, NAN};
  ev_act relu = ev_act_make(EV_ACT_RELU);
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x, &w, NULL, &bad_kind, &y));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x, &w, NULL, &alpha0, &y));
  TU_EXPECT_ARG(ev_conv2d_forward(s, &d, &x, &w, NULL, &alpha_nan, &y));
  TU_EXPECT_ARG(ev_deconv2d_backward_data_act(s, &dt, &x, &w, &y, &alpha0, &y_bad));
  ev_buf ws;
  TU_OK(ev_buf_alloc(g, ev_conv_workspace_bytes(&d), &ws));
  TU_EXPECT_ARG(ev_conv2d_backward_data_act(s, &d, &y, &w, &x, &ws, &relu, &x_bad)); /* act_y's shape */
  ev_stream_abort(s);
  ev_buf_free(g, &ws);
  ev_tensor_free(g, &x), ev_tensor_free(g, &y), ev_tensor_free(g, &y_bad), ev_tensor_free(g, &x_bad);
  ev_buf_free(g, &w), ev_buf_free(g, &ws_small);
  ev_clear_error();
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backward_data_ref_fd),
      cmocka_unit_test(test_adjoint_identity),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_conv_gpu_vs_ref),
      cmocka_unit_test(test_deconv_gpu_vs_ref),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
