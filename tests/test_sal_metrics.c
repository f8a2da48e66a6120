/* GPU per-image metric statistics: the exact division equals IEEE float division; the GPU's
 * records equal the C reference word for word (histograms, adaptive counts, min/max, the
 * double-float sums) on 7x5 and 33x17 images, dense and C4-strided, with ties, constant and
 * binary maps; and they equal the CPU accumulator's ev_metrics_image_stats (metrics.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/metrics.h"
#include "evonet/ops/sal_metrics.h"
#include "testutil.h"

/* ev_salmet_div is a / b rounded to nearest even, for 0 < a <= b (quotients below 2^-126: 0). */
static void test_exact_division(void **state) {
  uint64_t rng = tu_seed() ^ 0xd1d1;
  for (int k = 0; k < 2000000; k++) {
    float a, b;
    uint32_t ua = (uint32_t)tu_next(&rng) & 0x7fffffffu, ub = (uint32_t)tu_next(&rng) & 0x7fffffffu;
    if (k % 4 == 1) ub = ua + (uint32_t)(tu_next(&rng) % 5); /* a and b ulps apart */
    if (k % 4 == 2) ua &= 0x807fffffu | (uint32_t)(tu_next(&rng) % 40) << 23; /* tiny, denormal a */
    memcpy(&a, &ua, 4), memcpy(&b, &ub, 4);
    if (!(a > 0) || !(b > 0) || isinf(b) || isnan(b)) continue;
    if (a > b) { float t = a; a = b; b = t; }
    float want = a / b, got = ev_salmet_div(a, b);
    if (want < 0x1p-126f) want = 0.0f;
    if (memcmp(&want, &got, 4)) fail_msg("%a / %a: %a, want %a", (double)a, (double)b, (double)got, (double)want);
  }
  assert_true(ev_salmet_div(1.0f, 3.0f) == 1.0f / 3.0f && ev_salmet_div(0.5f, 0.5f) == 1.0f);
  /* S: the CPU's norm1 (metrics.c): (p - mn) / range, clamped p for a constant map */
  assert_true(ev_salmet_norm(0.3f, 0.1f, 0.7f) == (0.3f - 0.1f) / 0.7f);
  assert_true(ev_salmet_norm(-2.0f, 0, 0) == 0.0f && ev_salmet_norm(5.0f, 0, 0) == 1.0f);
  assert_true(ev_salmet_norm(0.25f, 0, 0) == 0.25f);
}

/* A prediction on an arbitrary scale with ties (a quarter of the pixels on 5 levels), a soft
 * ground truth; kind 1: a constant map, 2: a binary map, 3: all foreground, 4: all background. */
static void random_image(float *p, float *g, uint32_t n, uint64_t *rng, int kind) {
  float lo = tu_uniform(rng, -3, 0), hi = tu_uniform(rng, 0.5f, 4);
  for (uint32_t i = 0; i < n; i++) {
    p[i] = tu_uniform(rng, lo, hi);
    if (tu_next(rng) % 4 == 0) p[i] = lo + (hi - lo) * (float)(tu_next(rng) % 5) / 4;
    g[i] = tu_uniform(rng, 0, 1);
    if (tu_next(rng) % 8 == 0) g[i] = 0.5f; /* exactly 0.5 is background */
    if (kind == 1) p[i] = 0.375f;
    if (kind == 2) p[i] = (float)(tu_next(rng) & 1);
    if (kind == 3) g[i] = 1.0f;
    if (kind == 4) g[i] = 0.0f;
  }
}

/* Spread (n_images, npix) dense images into a strided layout, other lanes random garbage. */
static float *strided(const float *x, size_t n, uint32_t stride, uint64_t *rng) {
  float *y = malloc(n * stride * sizeof *y);
  for (size_t i = 0; i < n * stride; i++) y[i] = tu_uniform(rng, -9, 9);
  for (size_t i = 0; i < n; i++) y[i * stride] = x[i];
  return y;
}

static void check_case(uint32_t n_images, uint32_t w, uint32_t h, uint32_t ps, uint32_t gs,
                       int kind0, uint64_t *rng) {
  ev_gpu *g = tu_gpu();
  uint32_t npix = w * h;
  size_t tot = (size_t)n_images * npix;
  float *p = malloc(tot * 4), *gt = malloc(tot * 4);
  for (uint32_t k = 0; k < n_images; k++)
    random_image(p + (size_t)k * npix, gt + (size_t)k * npix, npix, rng, k == 0 ? kind0 : 0);
  float *ps_p = strided(p, tot, ps, rng), *gs_g = strided(gt, tot, gs, rng);
  ev_buf pb = tu_upload(ps_p, tot * ps), gb = tu_upload(gs_g, tot * gs), out;
  TU_OK(ev_buf_alloc(g, (uint64_t)n_images * EV_SALMET_WORDS * 4, &out));
  tu_poison(&out);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_salmet_stats(s, &pb, ps, &gb, gs, n_images, npix, &out));
  TU_OK(ev_stream_submit(s));
  uint32_t *got = malloc((size_t)n_images * EV_SALMET_WORDS * 4), *want = malloc((size_t)n_images * EV_SALMET_WORDS * 4);
  TU_OK(ev_buf_download(g, &out, 0, got, (size_t)n_images * EV_SALMET_WORDS * 4));
  ev_salmet_stats_ref(ps_p, ps, gs_g, gs, n_images, npix, want);
  for (size_t k = 0; k < (size_t)n_images * EV_SALMET_WORDS; k++)
    if (got[k] != want[k])
      fail_msg("%ux%ux%u (strides %u, %u): record %zu word %zu: GPU 0x%08x, C 0x%08x", n_images, h,
               w, ps, gs, k / EV_SALMET_WORDS, k % EV_SALMET_WORDS, got[k], want[k]);
  ev_salmet_image *img = malloc(n_images * sizeof *img);
  TU_OK(ev_salmet_read(g, &out, n_images, npix, img));
  /* the CPU accumulator (metrics.c) on the same images: identical histograms and counts */
  ev_metrics cpu, gpu;
  ev_metrics_init(&cpu), ev_metrics_init(&gpu);
  for (uint32_t k = 0; k < n_images; k++) {
    ev_image_stats st;
    const float *pk = p + (size_t)k * npix, *gk = gt + (size_t)k * npix;
    ev_metrics_image_stats(pk, gk, npix, &st);
    assert_memory_equal(st.fg, img[k].st.fg, sizeof st.fg);
    assert_memory_equal(st.bg, img[k].st.bg, sizeof st.bg);
    assert_int_equal(st.adp_tp, img[k].st.adp_tp);
    assert_int_equal(st.adp_fp, img[k].st.adp_fp);
    assert_true(fabs(img[k].st.abs_err - st.abs_err) <= 1e-9 * st.abs_err + 1e-30);
    float mn = pk[0], mx = pk[0];
    double sum = 0;
    uint32_t n_fg = 0;
    float *sm = malloc(npix * 4);
    ev_metrics_normalize(pk, npix, sm);
    for (uint32_t i = 0; i < npix; i++) {
      mn = fminf(mn, pk[i]), mx = fmaxf(mx, pk[i]);
      sum += sm[i], n_fg += gk[i] > 0.5f;
    }
    free(sm);
    assert_true(img[k].min == mn && img[k].max == mx);
    assert_int_equal(img[k].n_fg, n_fg);
    assert_int_equal(img[k].adp_fn, n_fg - st.adp_tp);
    assert_true(fabs(img[k].mean - sum / npix) <= 1e-6 * (sum / npix) + 1e-30);
    assert_true(fabs(img[k].mae - st.abs_err / npix) <= 1e-6 * (st.abs_err / npix) + 1e-30);
    ev_metrics_add_stats(&cpu, &st);
    ev_metrics_add_stats(&gpu, &img[k].st);
  }
  ev_metrics_summary a, b;
  ev_metrics_result(&cpu, &a), ev_metrics_result(&gpu, &b);
  assert_true(a.max_f == b.max_f && a.mean_f == b.mean_f && a.adaptive_f == b.adaptive_f);
  assert_true(fabs(a.mae - b.mae) <= 1e-9 * a.mae);
  free(img), free(got), free(want), free(p), free(gt), free(ps_p), free(gs_g);
  ev_buf_free(g, &pb), ev_buf_free(g, &gb), ev_buf_free(g, &out);
}

static void test_gpu_equals_c(void **state) {
  uint64_t rng = tu_seed() ^ 0x5a5a;
  check_case(3, 7, 5, 1, 1, 0, &rng);
  check_case(3, 33, 17, 1, 1, 1, &rng);  /* first image constant */
  check_case(3, 33, 17, 4, 1, 2, &rng);  /* binary map; prediction from a C4 tensor */
  check_case(3, 7, 5, 4, 4, 3, &rng);
  check_case(2, 33, 17, 1, 3, 4, &rng);
  check_case(1, 1, 1, 1, 1, 0, &rng);    /* one pixel */
  check_case(5, 61, 47, 1, 1, 0, &rng);  /* more pixels than threads many times over */
  tu_gpu_assert_clean();
}

static void gpu_one(const float *p, const float *gt, uint32_t npix, ev_salmet_image *img) {
  ev_gpu *g = tu_gpu();
  ev_buf pb = tu_upload(p, npix), gb = tu_upload(gt, npix), out;
  TU_OK(ev_buf_alloc(g, EV_SALMET_WORDS * 4, &out));
  tu_poison(&out);
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  TU_OK(ev_salmet_stats(s, &pb, 1, &gb, 1, 1, npix, &out));
  TU_OK(ev_stream_submit(s));
  TU_OK(ev_salmet_read(g, &out, 1, npix, img));
  ev_buf_free(g, &pb), ev_buf_free(g, &gb), ev_buf_free(g, &out);
}

/* The adaptive threshold landing exactly on a pixel's S (S >= t counts), and clamped to 1. */
static void test_adaptive_ties(void **state) {
  float gt[8] = {1, 1, 0, 0, 1, 0, 0, 1};
  float p1[8] = {0, 1, 0.5f, 0, 0, 0, 0.5f, 0};       /* mean 1/4: threshold 0.5 exactly */
  float p2[8] = {-1, 1, 1, 1, 1, -1, 1, -1};          /* mean 5/8: threshold 1 */
  float p3[8] = {-3, -1, -2.25f, -2.75f, -3, -3, -3, -3}; /* S sum 1.5: threshold 0.375 */
  const float *ps[3] = {p1, p2, p3};
  const uint32_t tp[3] = {1, 2, 1}, fp[3] = {2, 3, 1};
  for (int k = 0; k < 3; k++) {
    ev_salmet_image img;
    ev_image_stats st;
    gpu_one(ps[k], gt, 8, &img);
    ev_metrics_image_stats(ps[k], gt, 8, &st);
    assert_int_equal(img.st.adp_tp, tp[k]);
    assert_int_equal(img.st.adp_fp, fp[k]);
    assert_int_equal(st.adp_tp, tp[k]);
    assert_int_equal(st.adp_fp, fp[k]);
  }
  tu_gpu_assert_clean();
}

static void test_errors(void **state) {
  ev_gpu *g = tu_gpu();
  ev_buf a, out;
  TU_OK(ev_buf_alloc(g, 35 * 4, &a));
  TU_OK(ev_buf_alloc(g, EV_SALMET_WORDS * 4, &out));
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  assert_int_equal(ev_salmet_stats(s, &a, 1, &a, 1, 1, 0, &out), EV_ERR_ARG);
  assert_int_equal(ev_salmet_stats(s, &a, 1, &a, 1, 2, 35, &out), EV_ERR_ARG); /* out small */
  assert_int_equal(ev_salmet_stats(s, &a, 4, &a, 1, 1, 35, &out), EV_ERR_ARG); /* pred small */
  assert_int_equal(ev_salmet_stats(s, &a, 1, &a, 1, 1, 35, &a), EV_ERR_ARG);   /* overlap */
  assert_int_equal(ev_salmet_stats(s, &a, 1, &a, 1, 1, (1u << 24) + 1, &out), EV_ERR_ARG);
  ev_clear_error();
  ev_stream_abort(s);
  ev_buf_free(g, &a), ev_buf_free(g, &out);
  tu_gpu_assert_clean();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_division),
      cmocka_unit_test(test_gpu_equals_c),
      cmocka_unit_test(test_adaptive_ties),
      cmocka_unit_test(test_errors),
  };
  return tu_gpu_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
