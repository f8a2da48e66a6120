/* Per-image salient-object statistics: host dispatch of shader salmet_stats, unpacking into
 * ev_image_stats, and the C reference (same operations, same order: see ops/sal_metrics.h). */
#include "evonet/ops/sal_metrics.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "push/sal_metrics.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__) && defined(__FP_FAST_FMAF)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD > 0
#error "sal_metrics.c needs float arithmetic evaluated in float (FLT_EVAL_METHOD 0), e.g. SSE2"
#endif

enum { WG = 64 }; /* the shader's workgroup: the summation order is part of the definition */

static inline float from_bits(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static inline uint32_t to_bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* ---------------- exact division (the same code as salmet_stats.comp) ---------------- */
static int msb(uint32_t x) { int n = -1; while (x) x >>= 1, n++; return n; }

float ev_salmet_div(float a, float b) {
  uint32_t ab = to_bits(a), bb = to_bits(b);
  int ea = (int)(ab >> 23), eb = (int)(bb >> 23);
  uint32_t ma = ab & 0x7fffffu, mb = bb & 0x7fffffu;
  if (ea == 0) { int sh = 23 - msb(ma); ma <<= sh; ea = 1 - sh; } else ma |= 0x800000u;
  if (eb == 0) { int sh = 23 - msb(mb); mb <<= sh; eb = 1 - sh; } else mb |= 0x800000u;
  /* a/b = Q * 2^(e - 150) with Q = ma * 2^sh / mb in [2^23, 2^24) */
  int sh = ma < mb ? 24 : 23, e = ea - eb + 127 - (sh - 23);
  float est = (float)ma / (float)mb * (sh == 24 ? 16777216.0f : 8388608.0f);
  uint32_t q = (uint32_t)est;
  /* the true remainder ma*2^sh - q*mb is small, so 32-bit wrap-around arithmetic is exact */
  int32_t rem = (int32_t)((ma << sh) - q * mb);
  while (rem < 0) q--, rem += (int32_t)mb;
  while (rem >= (int32_t)mb) q++, rem -= (int32_t)mb;
  uint32_t twice = 2u * (uint32_t)rem; /* round to nearest, ties to even */
  if (twice > mb || (twice == mb && (q & 1u))) q++;
  if (q == 0x1000000u) q = 0x800000u, e++;
  if (e <= 0) return 0.0f; /* below FLT_MIN: 0 (documented) */
  return from_bits((uint32_t)e << 23 | (q & 0x7fffffu));
}

float ev_salmet_norm(float p, float mn, float range) {
  if (range > 0.0f) {
    if (to_bits(range) == 0x7f800000u) return 0.0f; /* the CPU: x/inf = 0, inf/inf = NaN -> 0 */
    float d = p - mn;
    if (!(d > 0.0f)) return 0.0f;
    return ev_salmet_div(d, range);
  }
  float s = p;
  if (!(s >= 0.0f)) s = 0.0f;
  if (s > 1.0f) s = 1.0f;
  return s;
}

/* ---------------- double-float arithmetic (Dekker, Knuth; Joldes-Muller-Popescu 2017) ---------------- */
typedef struct { float h, l; } dfl;

static dfl two_sum(float a, float b) {
  float s = a + b, bb = s - a, t = s - bb;
  float e1 = a - t, e2 = b - bb;
  return (dfl){s, e1 + e2};
}
static dfl fast_two_sum(float a, float b) {
  float s = a + b, t = s - a;
  return (dfl){s, b - t};
}
static dfl df_add_f(dfl a, float x) {
  dfl s = two_sum(a.h, x);
  float e = s.l + a.l;
  return fast_two_sum(s.h, e);
}
static dfl df_add(dfl a, dfl b) { /* AccurateDWPlusDW: relative error <= 3*2^-48 */
  dfl s = two_sum(a.h, b.h), t = two_sum(a.l, b.l);
  float c = s.l + t.h;
  dfl v = fast_two_sum(s.h, c);
  float w = t.l + v.l;
  return fast_two_sum(v.h, w);
}
static void split(float a, float *hi, float *lo) {
  float c = 4097.0f * a, t = c - a;
  *hi = c - t;
  *lo = a - *hi;
}
static dfl two_prod(float a, float b) {
  float p = a * b, ah, al, bh, bl;
  split(a, &ah, &al);
  split(b, &bh, &bl);
  float e = ah * bh;
  e = e - p;
  float t = ah * bl;
  e = e + t;
  t = al * bh;
  e = e + t;
  t = al * bl;
  e = e + t;
  return (dfl){p, e};
}
/* S >= min(2*sum/npix, 1), decided by the sign of S*npix - 2*sum */
static int adaptive(float s, float npix, dfl sum) {
  if (s >= 1.0f) return 1;
  dfl d = df_add(two_prod(s, npix), (dfl){-2.0f * sum.h, -2.0f * sum.l});
  return d.h >= 0.0f;
}

/* ---------------- C reference ---------------- */
void ev_salmet_stats_ref(const float *pred, uint32_t p_stride, const float *gt, uint32_t g_stride,
                         uint32_t n_images, uint32_t npix, uint32_t *out) {
  for (uint32_t n = 0; n < n_images; n++) {
    const float *P = pred + (size_t)n * npix * p_stride, *G = gt + (size_t)n * npix * g_stride;
    uint32_t *rec = out + (size_t)n * EV_SALMET_WORDS;
    memset(rec, 0, EV_SALMET_WORDS * 4);
    float lo[WG], hi[WG];
    dfl fg[WG], bg[WG];
    for (uint32_t t = 0; t < WG; t++) { /* min and max: per thread, then a tree */
      lo[t] = from_bits(0x7f800000u), hi[t] = -lo[t];
      for (uint32_t p = t; p < npix; p += WG) {
        float v = P[(size_t)p * p_stride];
        if (v < lo[t]) lo[t] = v;
        if (v > hi[t]) hi[t] = v;
      }
    }
    for (uint32_t h = WG / 2; h > 0; h /= 2)
      for (uint32_t t = 0; t < h; t++) {
        if (lo[t + h] < lo[t]) lo[t] = lo[t + h];
        if (hi[t + h] > hi[t]) hi[t] = hi[t + h];
      }
    float mn = lo[0], mx = hi[0], range = mx > mn ? mx - mn : 0.0f;
    for (uint32_t t = 0; t < WG; t++) { /* histograms and the two sums of S */
      fg[t] = bg[t] = (dfl){0.0f, 0.0f};
      for (uint32_t p = t; p < npix; p += WG) {
        float s = ev_salmet_norm(P[(size_t)p * p_stride], mn, range);
        int q = (int)(s * 255.0f);
        if (q > 255) q = 255;
        if (G[(size_t)p * g_stride] > 0.5f) rec[q]++, fg[t] = df_add_f(fg[t], s);
        else rec[256 + q]++, bg[t] = df_add_f(bg[t], s);
      }
    }
    for (uint32_t h = WG / 2; h > 0; h /= 2)
      for (uint32_t t = 0; t < h; t++) fg[t] = df_add(fg[t], fg[t + h]), bg[t] = df_add(bg[t], bg[t + h]);
    dfl sum = df_add(fg[0], bg[0]);
    for (uint32_t p = 0; p < npix; p++) { /* adaptive threshold */
      float s = ev_salmet_norm(P[(size_t)p * p_stride], mn, range);
      if (!adaptive(s, (float)npix, sum)) continue;
      if (G[(size_t)p * g_stride] > 0.5f) rec[512]++;
      else rec[513]++;
    }
    rec[514] = to_bits(mn), rec[515] = to_bits(mx);
    rec[516] = to_bits(fg[0].h), rec[517] = to_bits(fg[0].l);
    rec[518] = to_bits(bg[0].h), rec[519] = to_bits(bg[0].l);
  }
}

/* ---------------- GPU ---------------- */
ev_status ev_salmet_stats(ev_stream *s, ev_buf *pred, uint32_t p_stride, ev_buf *gt,
                          uint32_t g_stride, uint32_t n_images, uint32_t npix, ev_buf *out) {
  ev_gpu *g = ev_stream_gpu(s);
  if (n_images == 0 || npix == 0 || p_stride == 0 || g_stride == 0)
    return ev_fail(EV_ERR_ARG, "metric statistics of %u images of %u pixels (strides %u, %u): "
                   "every size must be positive", n_images, npix, p_stride, g_stride);
  if (npix > EV_SALMET_MAX_PIXELS)
    return ev_fail(EV_ERR_ARG, "metric statistics: %u pixels per image; at most 2^24", npix);
  uint64_t pix = (uint64_t)n_images * npix;
  const struct { const ev_buf *b; uint64_t bytes; const char *what; } need[3] = {
      {pred, ((pix - 1) * p_stride + 1) * 4, "prediction"},
      {gt, ((pix - 1) * g_stride + 1) * 4, "ground truth"},
      {out, (uint64_t)n_images * EV_SALMET_WORDS * 4, "output"}};
  for (int k = 0; k < 3; k++) {
    if (!need[k].b || !need[k].b->block)
      return ev_fail(EV_ERR_ARG, "metric statistics: no %s buffer", need[k].what);
    if (need[k].b->size < need[k].bytes)
      return ev_fail(EV_ERR_ARG, "metric statistics: the %s needs %llu bytes; its buffer has %llu",
                     need[k].what, (unsigned long long)need[k].bytes,
                     (unsigned long long)need[k].b->size);
  }
  if ((pix - 1) * (p_stride > g_stride ? p_stride : g_stride) >= (1ull << 32))
    return ev_fail(EV_ERR_ARG, "metric statistics: more than 2^32 elements; split the batch");
  if (ev_buf_overlap(out, pred) || ev_buf_overlap(out, gt))
    return ev_fail(EV_ERR_ARG, "metric statistics: the output overlaps an input");
  uint32_t groups = n_images, cap = ev_gpu_caps(g)->max_workgroup_count[0];
  if (groups > cap) groups = cap; /* the shader loops over the rest */
  ev_push_salmet_stats pc = {n_images, npix, p_stride, g_stride};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "salmet_stats", .bindings = "rrw",
                                                .push_size = sizeof pc}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){groups, 1, 1}, (ev_buf *[]){pred, gt, out}, &pc);
}

void ev_salmet_unpack(const uint32_t *w, uint32_t npix, ev_salmet_image *img) {
  memset(img, 0, sizeof *img);
  memcpy(img->st.fg, w, sizeof img->st.fg);
  memcpy(img->st.bg, w + 256, sizeof img->st.bg);
  img->st.adp_tp = w[512], img->st.adp_fp = w[513];
  img->min = from_bits(w[514]), img->max = from_bits(w[515]);
  for (int t = 0; t < EV_METRICS_BINS; t++) img->n_fg += img->st.fg[t];
  double sfg = (double)from_bits(w[516]) + from_bits(w[517]);
  double sbg = (double)from_bits(w[518]) + from_bits(w[519]);
  img->st.abs_err = ((double)img->n_fg - sfg) + sbg; /* sum over G of 1 - S, outside of S */
  img->adp_fn = img->n_fg - img->st.adp_tp;
  img->mean = (sfg + sbg) / npix;
  img->mae = img->st.abs_err / npix;
  img->adp_threshold = fmin(2.0 * img->mean, 1.0);
}

ev_status ev_salmet_read(ev_gpu *g, const ev_buf *out, uint32_t n_images, uint32_t npix,
                         ev_salmet_image *img) {
  size_t words = (size_t)n_images * EV_SALMET_WORDS;
  uint32_t *w = malloc(words * 4);
  if (!w) return ev_fail(EV_ERR_OOM, "out of host memory for %u metric records", n_images);
  ev_status st = ev_buf_download(g, out, 0, w, words * 4);
  if (st == EV_OK)
    for (uint32_t n = 0; n < n_images; n++) ev_salmet_unpack(w + (size_t)n * EV_SALMET_WORDS, npix, img + n);
  free(w);
  return st;
}
