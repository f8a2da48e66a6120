/* Weight and bias gradients of conv2d and transposed conv2d (evonet/ops/conv_wgrad.h):
 *  - the C reference against finite differences (in double) of a forward loss computed by
 *    forward loops written here, independently of the gradient's formula;
 *  - both GPU kernel variants (EVONET_CONV_VARIANT=shuffle|shared; the shuffle one also forced into
 *    each of its lane mappings, EVONET_WGRAD_MODE, with 1 to 8 shuffled quads,
 *    EVONET_WGRAD_NS), with and without split-K,
 *    accumulate 0/1, with and without dbias, against the C reference on odd shapes:
 *    error ||gpu - ref|| / ||ref_abs|| < 1e-5, where ref_abs is the reference taken on |x|,
 *    |dy| and |initial values| -- the scale of an fp32 sum's rounding. A plain ||ref|| fails
 *    by chance when a channel's gradient sum cancels to near zero (cout 1: one dbias value);
 *    the reference sums in double;
 *  - bad arguments give EV_ERR_ARG and record nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/ops/conv_wgrad.h"
#include "testutil.h"

#define TOL 1e-5

/* ---------------- forward references (double, host NHWC-C4 / OHWI4) ---------------- */
/* conv2d: y[b][oy][ox][o] = bias[o] + sum_{ky,kx,i} x[b][oy*sh-ph+ky*dh][ox*sw-pw+kx*dw][i] * W[o][ky][kx][i] */
static void conv_fwd(const ev_conv_desc *d, int n, int h, int w, const double *x, const double *W,
                     const double *bias, double *y) {
  int ho = ev_conv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  int i4 = ev_c4(d->cin), o4 = ev_c4(d->cout);
  for (int b = 0; b < n; b++)
    for (int oy = 0; oy < ho; oy++)
      for (int ox = 0; ox < wo; ox++)
        for (int o = 0; o < o4; o++) {
          double acc = o < d->cout ? bias[o] : 0;
          for (int ky = 0; ky < d->kh && o < d->cout; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
              int iy = oy * d->stride_h - d->pad_h + ky * d->dil_h;
              int ix = ox * d->stride_w - d->pad_w + kx * d->dil_w;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              for (int i = 0; i < d->cin; i++)
                acc += x[((b * h + iy) * w + ix) * i4 + i] * W[((o * d->kh + ky) * d->kw + kx) * i4 + i];
            }
          y[((b * ho + oy) * wo + ox) * o4 + o] = acc;
        }
}

/* PyTorch ConvTranspose2d, scatter form: every input pixel adds x * W[ci][ky][kx][:] at
 * output (iy*sh-ph+ky*dh, ix*sw-pw+kx*dw); W is (cin, kh, kw, c4(cout)). */
static void deconv_fwd(const ev_conv_desc *d, int n, int h, int w, const double *x, const double *W,
                       const double *bias, double *y) {
  int ho = ev_deconv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  int i4 = ev_c4(d->cin), o4 = ev_c4(d->cout);
  for (int p = 0; p < n * ho * wo; p++)
    for (int c = 0; c < o4; c++) y[p * o4 + c] = c < d->cout ? bias[c] : 0;
  for (int b = 0; b < n; b++)
    for (int iy = 0; iy < h; iy++)
      for (int ix = 0; ix < w; ix++)
        for (int ci = 0; ci < d->cin; ci++)
          for (int ky = 0; ky < d->kh; ky++)
            for (int kx = 0; kx < d->kw; kx++) {
              int oy = iy * d->stride_h - d->pad_h + ky * d->dil_h;
              int ox = ix * d->stride_w - d->pad_w + kx * d->dil_w;
              if (oy < 0 || oy >= ho || ox < 0 || ox >= wo) continue;
              for (int co = 0; co < d->cout; co++)
                y[((b * ho + oy) * wo + ox) * o4 + co] +=
                    x[((b * h + iy) * w + ix) * i4 + ci] * W[((ci * d->kh + ky) * d->kw + kx) * o4 + co];
            }
}

/* ---------------- helpers ---------------- */
typedef struct {
  int transposed;
  ev_conv_desc d;
  int n, h, w; /* x's shape */
} wcase;

static void out_hw(const wcase *c, int *ho, int *wo) {
  const ev_conv_desc *d = &c->d;
  *ho = c->transposed ? ev_deconv_out_size(c->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h)
                      : ev_conv_out_size(c->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  *wo = c->transposed ? ev_deconv_out_size(c->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w)
                      : ev_conv_out_size(c->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
}
static int dw_rows(const wcase *c) { return c->transposed ? c->d.cin : c->d.cout; }
static int dw_cols(const wcase *c) { return c->transposed ? c->d.cout : c->d.cin; }
static size_t dw_n(const wcase *c) { return (size_t)dw_rows(c) * c->d.kh * c->d.kw * ev_c4(dw_cols(c)); }

/* random NHWC-C4 activations, padding channels zero (the layout contract) */
static float *rand_act(int n, int h, int w, int ch, uint64_t *seed) {
  int c4 = ev_c4(ch);
  size_t m = (size_t)n * h * w * c4;
  float *a = malloc(m * sizeof *a);
  tu_fill_uniform(a, m, seed, -1, 1);
  for (size_t i = 0; i < m; i++)
    if ((int)(i % c4) >= ch) a[i] = 0;
  return a;
}

static void upload_tensor(const float *host, int n, int h, int w, int ch, ev_tensor *t) {
  TU_OK(ev_tensor_alloc(tu_gpu(), n, h, w, ch, t));
  TU_OK(ev_buf_upload(tu_gpu(), &t->buf, 0, host, ev_tensor_floats(n, h, w, ch) * 4));
}

static void ref(const wcase *c, const float *x, const float *dy, float *dw, float *db, int acc) {
  if (c->transposed) ev_deconv2d_backward_weight_ref(&c->d, c->n, c->h, c->w, x, dy, dw, db, acc);
  else ev_conv2d_backward_weight_ref(&c->d, c->n, c->h, c->w, x, dy, dw, db, acc);
}

static ev_status run(ev_stream *s, const wcase *c, ev_tensor *x, ev_tensor *dy, ev_buf *dw,
                     ev_buf *db, int acc, ev_buf *ws) {
  return c->transposed ? ev_deconv2d_backward_weight(s, &c->d, x, dy, dw, db, acc, ws)
                       : ev_conv2d_backward_weight(s, &c->d, x, dy, dw, db, acc, ws);
}

/* ---------------- finite differences of the reference ---------------- */
/* L(W, b) = sum_out G * fwd(x; W, b) is linear, so central differences in double are exact
 * up to rounding: dL/dW must equal the reference weight gradient taken with dy = G. */
static void fd_check(const wcase *c, uint64_t *seed) {
  int ho, wo;
  out_hw(c, &ho, &wo);
  int xc = c->d.cin, yc = c->d.cout;
  size_t nx = ev_tensor_floats(c->n, c->h, c->w, xc), ny = ev_tensor_floats(c->n, ho, wo, yc);
  size_t nw = dw_n(c);
  float *xf = rand_act(c->n, c->h, c->w, xc, seed), *gf = rand_act(c->n, ho, wo, yc, seed);
  float *dwf = malloc(nw * sizeof *dwf), *dbf = malloc(ev_c4(yc) * sizeof *dbf);
  ref(c, xf, gf, dwf, dbf, 0);
  double *x = malloc(nx * sizeof *x), *W = calloc(nw, sizeof *W), *bias = calloc(ev_c4(yc), sizeof *bias);
  double *y = malloc(ny * sizeof *y);
  for (size_t i = 0; i < nx; i++) x[i] = xf[i];
  for (size_t i = 0; i < nw; i++) W[i] = tu_uniform(seed, -1, 1);
  const double hstep = 1e-3;
  double num = 0, den = 0;
  for (size_t k = 0; k < nw + ev_c4(yc); k++) {
    int is_b = k >= nw;
    size_t j = is_b ? k - nw : k;
    if ((int)(j % ev_c4(is_b ? yc : dw_cols(c))) >= (is_b ? yc : dw_cols(c))) continue; /* padding */
    double *p = is_b ? &bias[j] : &W[j], save = *p, l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
      *p = save + (sgn ? -hstep : hstep);
      if (c->transposed) deconv_fwd(&c->d, c->n, c->h, c->w, x, W, bias, y);
      else conv_fwd(&c->d, c->n, c->h, c->w, x, W, bias, y);
      l[sgn] = 0;
      for (size_t i = 0; i < ny; i++) l[sgn] += (double)gf[i] * y[i];
    }
    *p = save;
    double fd = (l[0] - l[1]) / (2 * hstep), an = is_b ? dbf[j] : dwf[j];
    num += (fd - an) * (fd - an);
    den += fd * fd;
  }
  double err = sqrt(num / den);
  if (!(err < 1e-6)) fail_msg("finite differences vs reference (%s): rel err %.3g", c->transposed ? "deconv" : "conv", err);
  free(xf), free(gf), free(dwf), free(dbf), free(x), free(W), free(bias), free(y);
}

static void test_reference_finite_differences(void **state) {
  uint64_t seed = tu_seed() ^ 0x51;
  const wcase cases[] = {
      {0, {.cin = 3, .cout = 2, .kh = 3, .kw = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0, .dil_h = 1, .dil_w = 2}, 2, 5, 4},
      {0, {.cin = 5, .cout = 3, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1, .pad_h = 2, .pad_w = 1, .dil_h = 2, .dil_w = 1}, 1, 4, 4},
      {1, {.cin = 3, .cout = 2, .kh = 3, .kw = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1, .out_pad_h = 1, .out_pad_w = 0}, 2, 3, 4},
      {1, {.cin = 2, .cout = 5, .kh = 2, .kw = 3, .stride_h = 1, .stride_w = 2, .pad_h = 0, .pad_w = 1, .dil_h = 2, .dil_w = 1, .out_pad_h = 1, .out_pad_w = 1}, 1, 3, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fd_check(&cases[i], &seed);
}

/* ---------------- GPU vs reference ---------------- */
/* kernel configurations: EVONET_CONV_VARIANT, EVONET_WGRAD_MODE (shuffle lane mapping: 0 per-tap
 * C quads, 1 per-tap R quads, 2 flattened (tap, C quad) list), EVONET_WGRAD_NS ("" = host) */
typedef struct { const char *name, *variant, *mode, *ns; } wvariant;
static const wvariant k_wvariants[] = {
    /* two rows use the old names of the variants (cpu = shuffle, gpu = shared), still accepted */
    {"shuffle", "shuffle", "", ""},           {"shared", "gpu", "", ""},
    {"shuffle flat ns4", "shuffle", "2", "4"}, {"shuffle R ns3", "shuffle", "1", "3"},
    {"shuffle C ns8", "shuffle", "0", "8"},    {"shuffle flat ns1", "cpu", "2", "1"},
};
#define N_WVARIANTS (int)(sizeof k_wvariants / sizeof k_wvariants[0])

static void set_wvariant(const wvariant *v) {
  tu_tune("EVONET_CONV_VARIANT", v->variant);
  tu_tune("EVONET_WGRAD_MODE", v->mode);
  tu_tune("EVONET_WGRAD_NS", v->ns);
}

static void clear_wvariant(void) {
  tu_tune("EVONET_CONV_VARIANT", NULL);
  tu_tune("EVONET_WGRAD_MODE", NULL);
  tu_tune("EVONET_WGRAD_NS", NULL);
}

/* ||a - b|| / ||scale||: scale = the same sums over magnitudes, so a cancelling sum is judged
 * by the rounding it can carry, not by its near-zero value. */
static double err_vs_scale(const float *a, const float *b, const float *scale, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d, den += (double)scale[i] * scale[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* One case under every path: variant cpu/gpu x (split-K via small slices | no workspace)
 * x accumulate 0/1 x dbias or not. */
static void check_case(const wcase *c, uint64_t *seed) {
  ev_gpu *g = tu_gpu();
  int ho, wo;
  out_hw(c, &ho, &wo);
  int yc = c->d.cout;
  float *hx = rand_act(c->n, c->h, c->w, c->d.cin, seed), *hy = rand_act(c->n, ho, wo, yc, seed);
  ev_tensor x, dy;
  upload_tensor(hx, c->n, c->h, c->w, c->d.cin, &x);
  upload_tensor(hy, c->n, ho, wo, yc, &dy);
  size_t nw = dw_n(c), nb = ev_c4(yc);
  float *init_w = malloc(nw * 4), *init_b = malloc(nb * 4), *rw = malloc(nw * 4), *rb = malloc(nb * 4);
  float *gw = malloc(nw * 4), *gb = malloc(nb * 4);
  float *ax = malloc((size_t)c->n * c->h * c->w * ev_c4(c->d.cin) * 4), *ay = malloc((size_t)c->n * ho * wo * ev_c4(yc) * 4);
  float *aw = malloc(nw * 4), *ab = malloc(nb * 4);
  for (size_t i = 0; i < (size_t)c->n * c->h * c->w * ev_c4(c->d.cin); i++) ax[i] = fabsf(hx[i]);
  for (size_t i = 0; i < (size_t)c->n * ho * wo * ev_c4(yc); i++) ay[i] = fabsf(hy[i]);
  ev_buf dw, db;
  TU_OK(ev_buf_alloc(g, nw * 4, &dw));
  TU_OK(ev_buf_alloc(g, nb * 4, &db));
  for (int variant = 0; variant < N_WVARIANTS; variant++)
    for (int split = 0; split < 2; split++)
      for (int acc = 0; acc < 2; acc++)
        for (int with_b = 0; with_b < 2; with_b++) {
          set_wvariant(&k_wvariants[variant]);
          if (split) tu_tune("EVONET_WGRAD_SLICE", "16");
          else tu_tune("EVONET_WGRAD_SLICE", NULL);
          ev_buf ws = {0};
          uint64_t wsb = split ? ev_conv_wgrad_workspace_bytes(ev_gpu_tuning(g), &c->d, c->n, c->h, c->w) : 0;
          if (split) {
            assert_true(wsb > 0);
            TU_OK(ev_buf_alloc(g, wsb, &ws));
            tu_poison(&ws);
          }
          if (acc) { /* known random starting values, padded entries included */
            tu_fill_uniform(init_w, nw, seed, -1, 1);
            tu_fill_uniform(init_b, nb, seed, -1, 1);
            TU_OK(ev_buf_upload(g, &dw, 0, init_w, nw * 4));
            TU_OK(ev_buf_upload(g, &db, 0, init_b, nb * 4));
          } else {
            tu_poison(&dw);
            tu_poison(&db);
          }
          memcpy(rw, init_w, nw * 4);
          memcpy(rb, init_b, nb * 4);
          ref(c, hx, hy, rw, with_b ? rb : NULL, acc);
          for (size_t i = 0; i < nw; i++) aw[i] = fabsf(init_w[i]);
          for (size_t i = 0; i < nb; i++) ab[i] = fabsf(init_b[i]);
          ref(c, ax, ay, aw, ab, acc); /* magnitude scale of each sum */
          ev_stream *s;
          TU_OK(ev_stream_begin(g, &s));
          TU_OK(run(s, c, &x, &dy, &dw, with_b ? &db : NULL, acc, split ? &ws : NULL));
          TU_OK(ev_stream_submit(s));
          tu_download(&dw, gw, nw);
          tu_download(&db, gb, nb);
          double ew = err_vs_scale(gw, rw, aw, nw);
          for (size_t i = 0; i < nw; i++)
            if ((int)(i % ev_c4(dw_cols(c))) >= dw_cols(c) && gw[i] != 0.0f) ew = INFINITY; /* exact zeros */
          double eb = with_b ? err_vs_scale(gb, rb, ab, nb) : 0;
          if (!with_b && !acc) { /* dbias untouched: still poison */
            uint32_t w0;
            memcpy(&w0, gb, 4);
            if (w0 != TU_POISON_WORD) eb = INFINITY;
          }
          if (!with_b && acc && memcmp(gb, init_b, nb * 4)) eb = INFINITY;
          if (!(ew < TOL) || !(eb < TOL))
            fail_msg("%s cin %d cout %d k %dx%d s %d/%d p %d/%d d %d/%d op %d/%d x (%d,%d,%d), "
                     "variant %s, %s, accumulate %d, dbias %d: rel err dw %.3g, dbias %.3g",
                     c->transposed ? "deconv" : "conv", c->d.cin, c->d.cout, c->d.kh, c->d.kw,
                     c->d.stride_h, c->d.stride_w, c->d.pad_h, c->d.pad_w, c->d.dil_h, c->d.dil_w,
                     c->d.out_pad_h, c->d.out_pad_w, c->n, c->h, c->w, k_wvariants[variant].name,
                     split ? "split-K" : "direct", acc, with_b, ew, eb);
          ev_buf_free(g, &ws);
        }
  clear_wvariant();
  tu_tune("EVONET_WGRAD_SLICE", NULL);
  ev_buf_free(g, &dw), ev_buf_free(g, &db);
  ev_tensor_free(g, &x), ev_tensor_free(g, &dy);
  free(ax), free(ay), free(aw), free(ab);
  free(hx), free(hy), free(init_w), free(init_b), free(rw), free(rb), free(gw), free(gb);
  tu_gpu_assert_clean();
}

#define CONV(ci, co, kh_, kw_, sh_, sw_, ph_, pw_, dh_, dw_, n_, h_, w_)                                      \
  {0, {.cin = ci, .cout = co, .kh = kh_, .kw = kw_, .stride_h = sh_, .stride_w = sw_, .pad_h = ph_,          \
       .pad_w = pw_, .dil_h = dh_, .dil_w = dw_}, n_, h_, w_}
#define DECONV(ci, co, kh_, kw_, sh_, sw_, ph_, pw_, dh_, dw_, oph, opw, n_, h_, w_)                          \
  {1, {.cin = ci, .cout = co, .kh = kh_, .kw = kw_, .stride_h = sh_, .stride_w = sw_, .pad_h = ph_,          \
       .pad_w = pw_, .dil_h = dh_, .dil_w = dw_, .out_pad_h = oph, .out_pad_w = opw}, n_, h_, w_}

static void test_conv_vs_reference(void **state) {
  uint64_t seed = tu_seed() ^ 0xc0;
  const wcase cases[] = {
      CONV(13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 3, 7, 5),
      CONV(13, 7, 3, 3, 2, 2, 1, 1, 1, 1, 3, 7, 5),
      CONV(13, 7, 1, 1, 1, 1, 0, 0, 1, 1, 3, 7, 5),
      CONV(13, 7, 5, 5, 1, 1, 2, 2, 1, 1, 3, 7, 5),
      CONV(13, 7, 3, 3, 1, 1, 2, 2, 2, 2, 3, 7, 5),
      CONV(13, 7, 3, 3, 1, 1, 0, 0, 1, 1, 3, 7, 5),
      CONV(13, 7, 3, 5, 2, 1, 0, 2, 1, 2, 3, 7, 5),    /* asymmetric everything */
      CONV(37, 36, 3, 3, 1, 1, 1, 1, 1, 1, 2, 6, 5),   /* several lane blocks and row quads */
      CONV(3, 36, 3, 3, 2, 2, 1, 1, 1, 1, 3, 7, 5),    /* RGB input: lanes take dy's quads */
      CONV(13, 1, 3, 3, 1, 1, 1, 1, 1, 1, 3, 7, 5),    /* one output channel */
      CONV(5, 3, 1, 1, 1, 1, 2, 2, 1, 1, 1, 1, 1),     /* 1x1 input, padding-only taps */
      CONV(8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 9, 11),    /* narrow: the flattened (tap, quad) list */
      CONV(3, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 13, 10),   /* RGB input, narrow output */
      CONV(16, 48, 3, 3, 1, 1, 1, 1, 1, 1, 2, 6, 7),   /* 12 dy quads: groups of 4 */
      CONV(8, 20, 7, 7, 1, 1, 6, 6, 2, 2, 1, 8, 8),    /* dilated 7x7 on 8x8: taps mostly outside */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], &seed);
}

static void test_deconv_vs_reference(void **state) {
  uint64_t seed = tu_seed() ^ 0xdc;
  const wcase cases[] = {
      DECONV(7, 13, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 3, 4, 3),
      DECONV(7, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 4, 3),  /* output padding */
      DECONV(7, 13, 3, 3, 1, 1, 1, 1, 2, 2, 1, 0, 3, 4, 3),  /* dilation, out_pad < dil */
      DECONV(7, 13, 2, 3, 2, 3, 0, 1, 1, 1, 1, 2, 3, 4, 3),  /* asymmetric */
      DECONV(7, 13, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 3, 7, 5),
      DECONV(36, 37, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 3, 3), /* several lane blocks */
      DECONV(16, 8, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 2, 5, 4),  /* narrow output: flattened list */
      DECONV(20, 12, 8, 8, 4, 4, 2, 2, 1, 1, 0, 0, 2, 3, 5), /* the d2 shape, small */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i], &seed);
}

/* A larger reduction with the default split-K rule (several slices of >= 1024 pixels),
 * run twice: the result must repeat bit for bit. */
static void test_default_split(void **state) {
  uint64_t seed = tu_seed() ^ 0x5f;
  const wcase c = CONV(13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 2, 40, 41);
  ev_gpu *g = tu_gpu();
  int ho, wo;
  out_hw(&c, &ho, &wo);
  float *hx = rand_act(c.n, c.h, c.w, c.d.cin, &seed), *hy = rand_act(c.n, ho, wo, c.d.cout, &seed);
  ev_tensor x, dy;
  upload_tensor(hx, c.n, c.h, c.w, c.d.cin, &x);
  upload_tensor(hy, c.n, ho, wo, c.d.cout, &dy);
  size_t nw = dw_n(&c), nb = ev_c4(c.d.cout);
  float *rw = malloc(nw * 4), *rb = malloc(nb * 4), *gw = malloc(nw * 4), *gb = malloc(nb * 4);
  float *gw2 = malloc(nw * 4);
  ref(&c, hx, hy, rw, rb, 0);
  uint64_t wsb = ev_conv_wgrad_workspace_bytes(ev_gpu_tuning(g), &c.d, c.n, c.h, c.w);
  assert_true(wsb > 0);
  for (int variant = 0; variant < 2; variant++) {
    tu_tune("EVONET_CONV_VARIANT", variant ? "shared" : "shuffle");
    ev_buf dw, db, ws;
    TU_OK(ev_buf_alloc(g, nw * 4, &dw));
    TU_OK(ev_buf_alloc(g, nb * 4, &db));
    TU_OK(ev_buf_alloc(g, wsb, &ws));
    tu_poison(&dw), tu_poison(&db), tu_poison(&ws);
    for (int rep = 0; rep < 2; rep++) {
      ev_stream *s;
      TU_OK(ev_stream_begin(g, &s));
      TU_OK(ev_conv2d_backward_weight(s, &c.d, &x, &dy, &dw, &db, 0, &ws));
      TU_OK(ev_stream_submit(s));
      tu_download(&dw, rep ? gw2 : gw, nw);
    }
    tu_download(&db, gb, nb);
    double ew = tu_rel_err(gw, rw, nw), eb = tu_rel_err(gb, rb, nb);
    if (!(ew < TOL) || !(eb < TOL)) fail_msg("variant %d: rel err dw %.3g dbias %.3g", variant, ew, eb);
    assert_memory_equal(gw, gw2, nw * 4); /* fixed reduction order: bitwise repeatable */
    ev_buf_free(g, &dw), ev_buf_free(g, &db), ev_buf_free(g, &ws);
  }
  tu_tune("EVONET_CONV_VARIANT", NULL);
  ev_tensor_free(g, &x), ev_tensor_free(g, &dy);
  free(hx), free(hy), free(rw), free(rb), free(gw), free(gw2), free(gb);
  tu_gpu_assert_clean();
}

/* ---------------- bad arguments ---------------- */
static void test_bad_arguments(void **state) {
  ev_gpu *g = tu_gpu();
  const ev_conv_desc d = {.cin = 5, .cout = 6, .kh = 3, .kw = 3, .stride_h = 1, .stride_w = 1,
                          .pad_h = 1, .pad_w = 1, .dil_h = 1, .dil_w = 1};
  ev_tensor x, dy, dy_bad, x6;
  TU_OK(ev_tensor_alloc(g, 2, 6, 5, 5, &x));
  TU_OK(ev_tensor_alloc(g, 2, 6, 5, 6, &dy));
  TU_OK(ev_tensor_alloc(g, 2, 5, 5, 6, &dy_bad)); /* wrong height */
  TU_OK(ev_tensor_alloc(g, 2, 6, 5, 6, &x6));     /* wrong channel count for x */
  ev_buf dw, dw_small, db, db_small;
  TU_OK(ev_buf_alloc(g, 6 * 9 * 8 * 4, &dw));
  TU_OK(ev_buf_alloc(g, 6 * 9 * 8 * 4 - 16, &dw_small));
  TU_OK(ev_buf_alloc(g, 8 * 4, &db));
  TU_OK(ev_buf_alloc(g, 4 * 4, &db_small));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_conv2d_backward_weight(s, &d, &x, &dy, &dw, &db, 0, NULL)); /* the good call */
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &x, &dy_bad, &dw, &db, 0, NULL));
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &x6, &dy, &dw, &db, 0, NULL));
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &x, &dy, &dw_small, &db, 0, NULL));
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &x, &dy, &dw, &db_small, 0, NULL));
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &x, &dy, NULL, &db, 0, NULL));
  ev_conv_desc z = d;
  z.cin = 0;
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &z, &x, &dy, &dw, &db, 0, NULL));
  z = d, z.kw = 0;
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &z, &x, &dy, &dw, &db, 0, NULL));
  z = d, z.stride_h = 0;
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &z, &x, &dy, &dw, &db, 0, NULL));
  z = d, z.kh = 9, z.pad_h = 0; /* kernel larger than the padded input: empty output */
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &z, &x, &dy, &dw, &db, 0, NULL));
  z = d, z.out_pad_h = 1; /* output padding on a plain conv */
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &z, &x, &dy, &dw, &db, 0, NULL));
  ev_tensor empty = x;
  empty.n = 0;
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &empty, &dy, &dw, &db, 0, NULL));
  ev_tensor shrunk = x; /* a tensor that claims more than its buffer holds */
  shrunk.buf.size -= 16;
  TU_EXPECT_ARG(ev_conv2d_backward_weight(s, &d, &shrunk, &dy, &dw, &db, 0, NULL));

  /* transposed: x (2, 6, 5, 5) is the deconv's input (cin 5), dy its output gradient (cout 6) */
  ev_conv_desc t = d;
  ev_tensor tdy, tdy_bad;
  TU_OK(ev_tensor_alloc(g, 2, 6, 5, 6, &tdy)); /* stride 1, pad 1, k 3: same size */
  TU_OK(ev_tensor_alloc(g, 2, 6, 6, 6, &tdy_bad));
  ev_buf tdw_small;
  TU_OK(ev_buf_alloc(g, 5 * 9 * 8 * 4 - 4, &tdw_small));
  TU_OK(ev_deconv2d_backward_weight(s, &t, &x, &tdy, &dw, &db, 1, NULL));
  TU_EXPECT_ARG(ev_deconv2d_backward_weight(s, &t, &x, &tdy_bad, &dw, &db, 0, NULL));
  TU_EXPECT_ARG(ev_deconv2d_backward_weight(s, &t, &x, &tdy, &tdw_small, &db, 0, NULL));
  t.out_pad_h = 1; /* out_pad must be < max(stride, dilation) = 1 */
  TU_EXPECT_ARG(ev_deconv2d_backward_weight(s, &t, &x, &tdy, &dw, &db, 0, NULL));
  TU_OK(ev_stream_submit(s));
  z = d, z.cin = 0;
  assert_int_equal(ev_conv_wgrad_workspace_bytes(NULL, &z, 2, 6, 5), 0);

  ev_tensor_free(g, &x), ev_tensor_free(g, &dy), ev_tensor_free(g, &dy_bad), ev_tensor_free(g, &x6);
  ev_tensor_free(g, &tdy), ev_tensor_free(g, &tdy_bad);
  ev_buf_free(g, &dw), ev_buf_free(g, &dw_small), ev_buf_free(g, &db), ev_buf_free(g, &db_small);
  ev_buf_free(g, &tdw_small);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reference_finite_differences),
      cmocka_unit_test(test_conv_vs_reference),
      cmocka_unit_test(test_deconv_vs_reference),
      cmocka_unit_test(test_default_split),
      cmocka_unit_test(test_bad_arguments),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
