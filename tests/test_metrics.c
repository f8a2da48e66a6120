/* Metrics: against a brute-force loop over the 256 thresholds written plainly here, on
 * fresh random maps; hand-checked tiny cases; the histogram path equals the direct one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/metrics.h"
#include "testutil.h"

#define B2 0.3

/* ---------------- the brute-force reference ---------------- */
static double ref_f(double tp, double fp, double fn) {
  if (tp == 0) return 0;
  double p = tp / (tp + fp), r = tp / (tp + fn);
  return (1 + B2) * p * r / (B2 * p + r);
}

typedef struct {
  double mae, adp, f[256];
} ref_image;

/* Per image, exactly the words of DESIGN.md: min-max normalise, G = gt > 0.5, MAE, the
 * adaptive threshold, then each threshold t on uint8(S*255) separately. */
static void ref_one(const float *pred, const float *gt, size_t n, ref_image *out) {
  float mn = pred[0], mx = pred[0];
  for (size_t i = 0; i < n; i++) mn = fminf(mn, pred[i]), mx = fmaxf(mx, pred[i]);
  float *s = malloc(n * sizeof *s);
  for (size_t i = 0; i < n; i++) {
    s[i] = mx > mn ? (pred[i] - mn) / (mx - mn) : fminf(fmaxf(pred[i], 0), 1);
  }
  double mae = 0, mean = 0;
  for (size_t i = 0; i < n; i++) {
    mae += fabs(s[i] - (gt[i] > 0.5f ? 1.0 : 0.0));
    mean += s[i];
  }
  out->mae = mae / n;
  double thr = fmin(2 * mean / n, 1);
  double tp = 0, fp = 0, fn = 0;
  for (size_t i = 0; i < n; i++) {
    int m = s[i] >= thr, g = gt[i] > 0.5f;
    tp += m && g, fp += m && !g, fn += !m && g;
  }
  out->adp = ref_f(tp, fp, fn);
  for (int t = 0; t < 256; t++) {
    tp = fp = fn = 0;
    for (size_t i = 0; i < n; i++) {
      int m = (uint8_t)(s[i] * 255.0f) >= t, g = gt[i] > 0.5f;
      tp += m && g, fp += m && !g, fn += !m && g;
    }
    out->f[t] = ref_f(tp, fp, fn);
  }
  free(s);
}

/* A random prediction on an arbitrary scale (so normalisation matters), with ties: a
 * quarter of the pixels take one of a few values, so thresholds fall on equal values. */
static void random_map(float *pred, float *gt, size_t n, uint64_t *rng) {
  float lo = tu_uniform(rng, -3, 0), hi = tu_uniform(rng, 0.5f, 4);
  for (size_t i = 0; i < n; i++) {
    pred[i] = tu_uniform(rng, lo, hi);
    if (tu_next(rng) % 4 == 0) pred[i] = lo + (hi - lo) * (float)(tu_next(rng) % 5) / 4;
    gt[i] = tu_uniform(rng, 0, 1); /* soft mask: > 0.5 decides, about half foreground */
    if (tu_next(rng) % 8 == 0) gt[i] = 0.5f; /* exactly 0.5 is background */
  }
}

static void test_against_brute_force(void **state) {
  uint64_t rng = tu_seed() ^ 0x1001;
  enum { IMAGES = 6 };
  ev_metrics m;
  ev_metrics_init(&m);
  double mae = 0, adp = 0, f[256] = {0};
  for (int k = 0; k < IMAGES; k++) {
    int w = 5 + (int)(tu_next(&rng) % 40), h = 3 + (int)(tu_next(&rng) % 30);
    size_t n = (size_t)w * h;
    float *pred = malloc(n * sizeof *pred), *gt = malloc(n * sizeof *gt);
    random_map(pred, gt, n, &rng);
    ref_image r;
    ref_one(pred, gt, n, &r);
    mae += r.mae, adp += r.adp;
    for (int t = 0; t < 256; t++) f[t] += r.f[t];
    ev_metrics_add_image(&m, pred, gt, n);
    free(pred), free(gt);
  }
  ev_metrics_summary out;
  ev_metrics_result(&m, &out);
  assert_int_equal(out.n_images, IMAGES);
  double max_f = 0, mean_f = 0;
  for (int t = 0; t < 256; t++) {
    assert_true(fabs(out.f[t] - f[t] / IMAGES) < 1e-12);
    max_f = fmax(max_f, f[t] / IMAGES);
    mean_f += f[t] / IMAGES / 256;
  }
  assert_true(fabs(out.mae - mae / IMAGES) < 1e-12);
  assert_true(fabs(out.adaptive_f - adp / IMAGES) < 1e-12);
  assert_true(fabs(out.max_f - max_f) < 1e-12);
  assert_true(fabs(out.mean_f - mean_f) < 1e-12);
  assert_true(out.max_f > 0.3 && out.max_f <= 1); /* random maps: F near the fg fraction */
  assert_true(out.f[out.max_f_threshold] == out.max_f);
}

/* ---------------- hand-checked cases ---------------- */
/* F of "everything is salient" with a fraction `fg` of foreground: P = fg, R = 1. */
static double f_all(double fg) { return (1 + B2) * fg / (B2 * fg + 1); }

static void test_perfect_prediction(void **state) {
  enum { W = 7, H = 5, N = W * H };
  float pred[N], gt[N];
  int n_fg = 0;
  for (int i = 0; i < N; i++) {
    gt[i] = (i % 3 == 0) ? 1.0f : 0.0f;
    n_fg += i % 3 == 0;
    pred[i] = gt[i] * 0.8f + 0.1f; /* a perfect map on another scale: 0.1 / 0.9 */
  }
  ev_metrics m;
  ev_metrics_init(&m);
  ev_metrics_add_image(&m, pred, gt, N);
  ev_metrics_summary out;
  ev_metrics_result(&m, &out);
  assert_true(out.mae == 0.0);
  assert_true(out.max_f == 1.0);
  assert_true(out.adaptive_f == 1.0); /* threshold 2·fg/N < 1 separates exactly */
  /* t = 0 predicts everything; t = 1..255 predict exactly G */
  assert_true(fabs(out.f[0] - f_all((double)n_fg / N)) < 1e-15);
  assert_true(fabs(out.mean_f - (255.0 + f_all((double)n_fg / N)) / 256) < 1e-15);
  assert_true(out.precision[200] == 1.0 && out.recall[200] == 1.0);
}

static void test_all_zero_prediction(void **state) {
  enum { N = 30 };
  float pred[N] = {0}, gt[N];
  for (int i = 0; i < N; i++) gt[i] = i < 10 ? 1.0f : 0.0f;
  ev_metrics m;
  ev_metrics_init(&m);
  ev_metrics_add_image(&m, pred, gt, N);
  ev_metrics_summary out;
  ev_metrics_result(&m, &out);
  assert_true(fabs(out.mae - 10.0 / 30) < 1e-15);
  /* t >= 1 predicts nothing: F = 0. t = 0 (S >= 0) and the adaptive threshold
   * min(2·0, 1) = 0 predict everything, as in the toolboxes: F = F(all salient). */
  for (int t = 1; t < 256; t++) assert_true(out.f[t] == 0.0);
  assert_true(fabs(out.f[0] - f_all(1.0 / 3)) < 1e-15);
  assert_true(fabs(out.adaptive_f - f_all(1.0 / 3)) < 1e-15);
  assert_true(fabs(out.max_f - f_all(1.0 / 3)) < 1e-15);
  assert_true(fabs(out.mean_f - f_all(1.0 / 3) / 256) < 1e-15);

  /* with an empty mask nothing can be a true positive: every F is 0 */
  float empty[N] = {0};
  ev_metrics_init(&m);
  ev_metrics_add_image(&m, pred, empty, N);
  ev_metrics_result(&m, &out);
  assert_true(out.max_f == 0.0 && out.adaptive_f == 0.0 && out.mae == 0.0);
}

static void test_normalize(void **state) {
  float p[5] = {2, 4, 3, 6, 2}, s[5];
  ev_metrics_normalize(p, 5, s);
  const float want[5] = {0, 0.5f, 0.25f, 1, 0};
  for (int i = 0; i < 5; i++) assert_true(s[i] == want[i]);
  float c[3] = {0.7f, 0.7f, 0.7f}, big[2] = {3, 3};
  ev_metrics_normalize(c, 3, s); /* constant: kept */
  for (int i = 0; i < 3; i++) assert_true(s[i] == 0.7f);
  ev_metrics_normalize(big, 2, s); /* constant outside [0,1]: clamped */
  assert_true(s[0] == 1.0f && s[1] == 1.0f);
}

/* ---------------- histogram path == direct path ---------------- */
/* Per-image statistics as a GPU reduction would make them, built plainly here from the
 * library's S (so both paths see the same floats). */
static void plain_stats(const float *pred, const float *gt, size_t n, ev_image_stats *st) {
  float *s = malloc(n * sizeof *s);
  ev_metrics_normalize(pred, n, s);
  memset(st, 0, sizeof *st);
  double mean = 0;
  for (size_t i = 0; i < n; i++) {
    int g = gt[i] > 0.5f;
    mean += s[i];
    st->abs_err += fabs((double)s[i] - g);
    if (g) st->fg[(uint8_t)(s[i] * 255.0f)]++;
    else st->bg[(uint8_t)(s[i] * 255.0f)]++;
  }
  double thr = fmin(2 * mean / n, 1);
  for (size_t i = 0; i < n; i++)
    if (s[i] >= thr) *(gt[i] > 0.5f ? &st->adp_tp : &st->adp_fp) += 1;
  free(s);
}

static void test_histograms_equal_direct(void **state) {
  uint64_t rng = tu_seed() ^ 0x2002;
  ev_metrics direct, hist, half_a, half_b;
  ev_metrics_init(&direct), ev_metrics_init(&hist);
  ev_metrics_init(&half_a), ev_metrics_init(&half_b);
  for (int k = 0; k < 9; k++) {
    size_t n = 1 + tu_next(&rng) % 700;
    float *pred = malloc(n * sizeof *pred), *gt = malloc(n * sizeof *gt);
    random_map(pred, gt, n, &rng);
    ev_image_stats a, b;
    ev_metrics_image_stats(pred, gt, n, &a);
    plain_stats(pred, gt, n, &b);
    assert_memory_equal(&a, &b, sizeof a);
    ev_metrics_add_image(&direct, pred, gt, n);
    ev_metrics_add_stats(&hist, &b);
    ev_metrics_add_stats(k % 2 ? &half_a : &half_b, &b);

    /* per-image scores agree with a one-image accumulator */
    ev_metrics one;
    ev_metrics_summary so;
    ev_image_scores sc;
    ev_metrics_init(&one);
    ev_metrics_add_stats(&one, &b);
    ev_metrics_result(&one, &so);
    ev_metrics_image_scores(&b, &sc);
    assert_true(sc.mae == so.mae && sc.adaptive_f == so.adaptive_f && sc.max_f == so.max_f);
    free(pred), free(gt);
  }
  ev_metrics_summary d, h, mg;
  ev_metrics_result(&direct, &d);
  ev_metrics_result(&hist, &h);
  assert_memory_equal(&d, &h, sizeof d); /* identical, bit for bit */
  ev_metrics_merge(&half_a, &half_b);    /* other order of sums: last bits only */
  ev_metrics_result(&half_a, &mg);
  assert_int_equal(mg.n_images, 9);
  assert_true(fabs(mg.max_f - d.max_f) < 1e-12 && fabs(mg.mean_f - d.mean_f) < 1e-12);
  assert_true(fabs(mg.mae - d.mae) < 1e-12 && fabs(mg.adaptive_f - d.adaptive_f) < 1e-12);
}

static void test_empty_accumulator(void **state) {
  ev_metrics m;
  ev_metrics_init(&m);
  ev_metrics_summary out;
  ev_metrics_result(&m, &out);
  assert_int_equal(out.n_images, 0);
  assert_true(out.mae == 0 && out.max_f == 0 && out.mean_f == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_brute_force),
      cmocka_unit_test(test_perfect_prediction),
      cmocka_unit_test(test_all_zero_prediction),
      cmocka_unit_test(test_normalize),
      cmocka_unit_test(test_histograms_equal_direct),
      cmocka_unit_test(test_empty_accumulator),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
