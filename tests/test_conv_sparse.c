/* Sparse conv2d forward: the packed tap list on a hand-checked example; the GPU pass
 * against ev_conv2d_forward_ref on dense weights with the masked entries zeroed, on odd
 * shapes, random weights and random masks (densities 1% .. 50%, a dead output channel, a
 * layer with no live synapse, over 2^21 pixels, a channel quad of more taps than lavapipe's
 * loop guard allows), with poisoned outputs, 1 to 8 pixels per invocation, taps walked 1 or
 * 8 at a time and the grid's wrap into y forced; bad arguments rejected with a message.
 * Tolerances: ||gpu-ref||/||ref|| < 1e-5 (fp32 sums in tap order vs double: ~1e-7 for the
 * small layers, ~2e-6 for the 18432-term sums); padding channels exactly 0. */
#include <stdlib.h>
#include <string.h>

#include "evonet/ops/conv.h"
#include "evonet/ops/conv_sparse.h"
#include "testutil.h"

#define TOL_GPU 1e-5

typedef struct {
  const char *name;
  int n, h, w;
  ev_conv_desc d;
  double density;   /* live fraction of the random mask */
  int dead;         /* >= 0: this output channel keeps no synapse */
  int bias, act;     /* act: k_acts[act] after the bias (0: none) */
} sparse_case;

/* the activations (a leaky slope other than the default: alpha must reach the kernel) */
static const ev_act k_acts[4] = {{EV_ACT_NONE, 0.0f}, {EV_ACT_RELU, 0.0f}, {EV_ACT_LEAKY_RELU, 0.2f}, {EV_ACT_TANH, 0.0f}};

/* {cin, cout, kh, kw, sh, sw, ph, pw, dh, dw, oph, opw} */
static const sparse_case k_cases[] = {
    {"3x3 s1 p1 13->7 50%", 3, 7, 5, {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.5, -1, 1, 1},
    {"3x3 s2 p1 13->7 10%", 3, 7, 5, {13, 7, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0}, 0.1, -1, 1, 0},
    {"1x1 s1 p0 13->7 50%", 3, 7, 5, {13, 7, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0}, 0.5, -1, 0, 0},
    {"1x1 s2 p0 13->1 50%", 3, 7, 5, {13, 1, 1, 1, 2, 2, 0, 0, 1, 1, 0, 0}, 0.5, -1, 1, 2},
    {"7x7 s1 p3 13->7 10%", 3, 7, 5, {13, 7, 7, 7, 1, 1, 3, 3, 1, 1, 0, 0}, 0.1, -1, 1, 0},
    {"7x7 s2 p2 13->7 1%", 3, 7, 5, {13, 7, 7, 7, 2, 2, 2, 2, 1, 1, 0, 0}, 0.01, -1, 0, 0},
    {"3x3 s1 p2 d2 13->1 10%", 3, 7, 5, {13, 1, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0}, 0.1, -1, 1, 3},
    {"3x3 s(2,1) p(1,2) d(2,1) 13->7 10%", 3, 7, 5, {13, 7, 3, 3, 2, 1, 1, 2, 2, 1, 0, 0}, 0.1, -1, 1, 0},
    {"3x3 s1 p1 13->7 50%, channel 3 dead", 3, 7, 5, {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.5, 3, 1, 0},
    {"3x3 s1 p1 13->7 no live synapse", 3, 7, 5, {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.0, -1, 1, 3},
    {"3x3 s1 p1 13->7 no synapse, no bias", 3, 7, 5, {13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.0, -1, 0, 0},
    {"3x3 s1 p1 36->40 10% (10 quads)", 2, 9, 8, {36, 40, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.1, -1, 1, 1},
    {"3x3 s1 p1 5->6 10% (23x19: several passes)", 2, 23, 19, {5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.1, -1, 1, 1},
    {"5x5 s2 p2 5->6 50% (23x19)", 2, 23, 19, {5, 6, 5, 5, 2, 2, 2, 2, 1, 1, 0, 0}, 0.5, 2, 1, 2},
    /* pixels just below and above 2^21, where the kernel stops splitting pixel indices
     * with float reciprocals and divides */
    {"3x3 s1 p1 1->1 50% (2 x 1024x1023)", 2, 1024, 1023, {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.5, -1, 1, 0},
    {"3x3 s1 p1 1->1 50% (3 x 837x837)", 3, 837, 837, {1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 0.5, -1, 1, 0},
    /* 73728 taps in one channel quad: beyond lavapipe's 65535 loop iterations unless chunked */
    {"3x3 s1 p1 2048->4 100% (chunked taps)", 1, 3, 2, {2048, 4, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}, 1.0, -1, 1, 0},
};

/* kernel variants: pixels per invocation (EVONET_SPARSE_PP), a cap on the workgroups along
 * x (EVONET_CONV_GRIDX: pixel blocks wrap into y) and taps per loop iteration
 * (EVONET_SPARSE_CHUNK); "": the host's choice */
typedef struct { const char *pp, *gridx, *chunk; } variant;
static const variant k_variants[] = {{"", "", ""},  {"1", "1", ""},  {"2", "", "8"}, {"2", "1", ""},
                                     {"4", "", ""}, {"4", "1", "8"}, {"8", "", ""},  {"8", "1", "8"}};

/* ---------------- packing ---------------- */
static void test_pack_example(void **state) {
  /* 2 outputs, 2 inputs, 2x2 kernel dilated (2, 3); o0 keeps 3 synapses (one with w = 0,
   * still live), o1 none; taps come out in (i, ky, kx) order, offsets multiplied by dilation */
  const ev_conv_desc d = {2, 2, 2, 2, 1, 1, 0, 0, 2, 3, 0, 0};
  float w[16] = {0}, mask[16] = {0};
  /* index ((o*2 + i)*2 + ky)*2 + kx */
  mask[2] = 1, w[2] = 0.25f;  /* o0 i0 ky1 kx0 */
  mask[5] = 1, w[5] = -1.5f;  /* o0 i1 ky0 kx1 */
  mask[7] = 1, w[7] = 0.0f;   /* o0 i1 ky1 kx1 */
  w[1] = 9.0f;                /* masked: never packed */
  assert_int_equal(ev_conv_sparse_live(&d, mask), 3);
  assert_int_equal(ev_conv_sparse_texels(&d, mask), 5);
  float t[20];
  memset(t, 0xff, sizeof t);
  TU_OK(ev_conv_sparse_pack(&d, w, mask, t));
  const float want[20] = {2, 3, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0.25f, 0, 3, 1, -1.5f, 2, 3, 1, 0.0f};
  for (int i = 0; i < 20; i++)
    if (t[i] != want[i]) fail_msg("packed float %d is %g, expected %g", i, t[i], want[i]);
  /* a dilated kernel beyond float-exact integers is refused */
  ev_conv_desc big = d;
  big.dil_h = 1 << 24;
  ev_clear_error();
  assert_int_equal(ev_conv_sparse_pack(&big, w, mask, t), EV_ERR_ARG);
  assert_true(*ev_last_error());
  ev_clear_error();
}

/* ---------------- GPU vs reference ---------------- */
static float *rand_act(uint64_t *st, int n, int h, int w, int c) {
  size_t dense = (size_t)n * c * h * w;
  float *nchw = malloc(dense * 4), *x = malloc(ev_tensor_floats(n, h, w, c) * 4);
  tu_fill_uniform(nchw, dense, st, -1.0f, 1.0f);
  ev_nchw_to_nhwc4(nchw, x, n, c, h, w);
  free(nchw);
  return x;
}

static void run_case(const sparse_case *sc, uint64_t *st, const variant *v) {
  ev_gpu *g = tu_gpu();
  const ev_conv_desc *d = &sc->d;
  int ho = ev_conv_out_size(sc->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(sc->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  size_t nw = (size_t)d->cout * d->cin * d->kh * d->kw, per_o = nw / d->cout;
  float *w = malloc(nw * 4), *mask = malloc(nw * 4), *wm = malloc(nw * 4);
  tu_fill_uniform(w, nw, st, -0.5f, 0.5f); /* nonzero under the mask too: must be skipped */
  for (size_t k = 0; k < nw; k++) {
    mask[k] = tu_uniform(st, 0.0f, 1.0f) < sc->density && (int)(k / per_o) != sc->dead ? 1.0f : 0.0f;
    wm[k] = mask[k] != 0.0f ? w[k] : 0.0f;
  }
  float *w4 = malloc((size_t)d->cout * d->kh * d->kw * ev_c4(d->cin) * 4);
  ev_oihw_to_ohwi4(wm, w4, d->cout, d->cin, d->kh, d->kw);
  float *b = calloc(ev_c4(d->cout), 4);
  tu_fill_uniform(b, d->cout, st, -0.5f, 0.5f);
  float *x = rand_act(st, sc->n, sc->h, sc->w, d->cin);
  size_t ny = ev_tensor_floats(sc->n, ho, wo, d->cout);
  float *ref = malloc(ny * 4), *got = malloc(ny * 4);
  ev_conv2d_forward_ref(d, sc->n, sc->h, sc->w, x, w4, sc->bias ? b : NULL, &k_acts[sc->act], ref);

  uint64_t nt = ev_conv_sparse_texels(d, mask);
  float *taps = malloc(nt * 16);
  TU_OK(ev_conv_sparse_pack(d, w, mask, taps));
  ev_buf bt = tu_upload(taps, nt * 4), bb = tu_upload(b, ev_c4(d->cout));
  ev_tensor tx, ty;
  TU_OK(ev_tensor_alloc(g, sc->n, sc->h, sc->w, d->cin, &tx));
  TU_OK(ev_buf_upload(g, &tx.buf, 0, x, ev_tensor_floats(sc->n, sc->h, sc->w, d->cin) * 4));
  TU_OK(ev_tensor_alloc(g, sc->n, ho, wo, d->cout, &ty));
  tu_poison(&ty.buf);
  tu_tune("EVONET_SPARSE_PP", v->pp);
  tu_tune("EVONET_CONV_GRIDX", v->gridx);
  tu_tune("EVONET_SPARSE_CHUNK", v->chunk);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_conv2d_sparse_forward(s, d, &tx, &bt, sc->bias ? &bb : NULL, &k_acts[sc->act], &ty));
  TU_OK(ev_stream_submit(s));
  tu_tune("EVONET_SPARSE_PP", NULL);
  tu_tune("EVONET_CONV_GRIDX", NULL);
  tu_tune("EVONET_SPARSE_CHUNK", NULL);
  tu_download(&ty.buf, got, ny);
  double e = tu_rel_err(got, ref, ny);
  int c4 = ev_c4(d->cout), pad_bad = 0;
  for (size_t i = 0; i < ny; i++)
    if ((int)(i % c4) >= d->cout && got[i] != 0.0f) pad_bad = 1;
  print_message("  %-44s pp %-1s grid %-1s chunk %-1s live %5llu of %5zu  rel err %.2e\n", sc->name,
                *v->pp ? v->pp : "-", *v->gridx ? v->gridx : "-", *v->chunk ? v->chunk : "-",
                (unsigned long long)(nt - d->cout), nw, e);
  if (!(e < TOL_GPU))
    fail_msg("%s (pp %s, grid %s, chunk %s): relative error %.3e >= %.0e", sc->name, v->pp, v->gridx, v->chunk, e, TOL_GPU);
  if (pad_bad) fail_msg("%s: padding channels not zero", sc->name);
  if (sc->dead >= 0) /* the dead channel is exactly its bias (after relu or leaky_relu: exact too) */
    for (size_t p = 0; p < ny / c4; p++) {
      float want = (float)ev_act_fwd_ref(&k_acts[sc->act], sc->bias ? b[sc->dead] : 0.0f);
      if (got[p * c4 + sc->dead] != want) fail_msg("%s: dead channel is %g, not %g", sc->name, got[p * c4 + sc->dead], want);
    }
  ev_tensor_free(g, &tx), ev_tensor_free(g, &ty);
  ev_buf_free(g, &bt), ev_buf_free(g, &bb);
  free(w), free(mask), free(wm), free(w4), free(b), free(x), free(ref), free(got), free(taps);
}

static void test_sparse_gpu_vs_ref(void **state) {
  uint64_t st = tu_seed() ^ 0x5ba75e;
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++)
    for (size_t v = 0; v < sizeof k_variants / sizeof k_variants[0]; v++) run_case(&k_cases[i], &st, &k_variants[v]);
  tu_gpu_assert_clean();
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
  ev_buf taps, small, bias_small;
  TU_OK(ev_buf_alloc(g, 7 * 16 * 4, &taps));
  TU_OK(ev_buf_alloc(g, 6 * 16, &small)); /* fewer than cout headers */
  TU_OK(ev_buf_alloc(g, 4, &bias_small));
  ev_tensor zero = x, alias = y;
  zero.h = 0;
  alias.buf = x.buf, alias.c = 7; /* output in the input's memory */
  ev_conv_desc d_bad = d, d_big = d;
  d_bad.dil_w = 0;
  d_big.kh = 11; /* output height (7 + 2 - 11) / 1 + 1 = -1 */
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x_bad, &taps, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &taps, NULL, NULL, &y_bad));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &zero, &taps, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &taps, NULL, NULL, NULL));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, NULL, &x, &taps, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d_bad, &x, &taps, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d_big, &x, &taps, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, NULL, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &small, NULL, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &taps, &bias_small, NULL, &y));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &taps, NULL, NULL, &alias));
  TU_EXPECT_ARG(ev_conv2d_sparse_forward(s, &d, &x, &taps, NULL, &(ev_act){EV_ACT_LEAKY_RELU, -1.0f}, &y)); /* slope */
  TU_OK(ev_stream_submit(s)); /* nothing was recorded: an empty submission */
  ev_tensor_free(g, &x), ev_tensor_free(g, &y), ev_tensor_free(g, &y_bad), ev_tensor_free(g, &x_bad);
  ev_buf_free(g, &taps), ev_buf_free(g, &small), ev_buf_free(g, &bias_small);
  ev_clear_error();
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pack_example),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_sparse_gpu_vs_ref),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
