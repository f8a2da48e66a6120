/* Classification metrics: against a plain reference written here (rank by sorting, counts,
 * per-class accuracy, the loss as log(sum exp) in long double) on fresh random logits with
 * ties; hand-checked ties, NaN and loss values; merge; JSON; the confusion figure. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <stb/stb_image.h>

#include "evonet/class_metrics.h"
#include "evonet/io.h"
#include "testutil.h"

static char g_dir[256];

/* ---------------- the reference ---------------- */
static const float *g_key; /* logits being sorted */
static int by_rank(const void *a, const void *b) {
  int i = *(const int *)a, j = *(const int *)b;
  if (g_key[i] != g_key[j]) return g_key[i] > g_key[j] ? -1 : 1;
  return i - j; /* equal logits: the lower index first */
}

typedef struct {
  int C;
  uint64_t n, top1, top5, *conf;
  double loss;
} ref_metrics;

static void ref_init(ref_metrics *r, int C) {
  memset(r, 0, sizeof *r);
  r->C = C;
  r->conf = calloc((size_t)C * C, sizeof *r->conf);
}

static void ref_add(ref_metrics *r, const float *x, int y) {
  int C = r->C, order[64];
  for (int c = 0; c < C; c++) order[c] = c;
  g_key = x;
  qsort(order, C, sizeof *order, by_rank);
  int k = C < 5 ? C : 5, in_k = 0;
  for (int i = 0; i < k; i++) in_k |= order[i] == y;
  long double s = 0; /* logits here are small: no shift needed in long double */
  for (int c = 0; c < C; c++) s += expl((long double)x[c]);
  r->n++;
  r->top1 += order[0] == y;
  r->top5 += in_k;
  r->conf[(size_t)y * C + order[0]]++;
  r->loss += (double)(logl(s) - (long double)x[y]);
}

static double ref_class_acc(const ref_metrics *r, int c) {
  uint64_t t = 0;
  for (int p = 0; p < r->C; p++) t += r->conf[(size_t)c * r->C + p];
  return t ? (double)r->conf[(size_t)c * r->C + c] / t : NAN;
}

/* Random logits with ties: about one in six copies another class's value. */
static void random_logits(float *x, int C, uint64_t *rng) {
  float scale = tu_uniform(rng, 0.5f, 6);
  for (int c = 0; c < C; c++) {
    x[c] = tu_uniform(rng, -scale, scale);
    if (c > 0 && tu_next(rng) % 6 == 0) x[c] = x[tu_next(rng) % c];
  }
}

static void assert_close(double a, double b, double tol) {
  if (!(fabs(a - b) <= tol * fmax(1, fabs(b)))) fail_msg("%.17g vs reference %.17g", a, b);
}

static void check_against_ref(const ev_class_metrics *m, const ref_metrics *r) {
  assert_int_equal(m->n, r->n);
  assert_int_equal(m->top1, r->top1);
  assert_int_equal(m->top5, r->top5);
  assert_memory_equal(m->confusion, r->conf, (size_t)r->C * r->C * sizeof *r->conf);
  assert_close(m->loss_sum, r->loss, 1e-12);
  ev_class_summary s;
  ev_class_metrics_result(m, &s);
  assert_int_equal(s.n, r->n);
  assert_close(s.top1, (double)r->top1 / r->n, 0);
  assert_close(s.top5, (double)r->top5 / r->n, 0);
  assert_close(s.loss, r->loss / r->n, 1e-12);
  double acc = 0;
  int with = 0;
  for (int c = 0; c < r->C; c++) {
    double a = ref_class_acc(r, c), b = ev_class_metrics_class_acc(m, c);
    if (isnan(a)) {
      assert_true(isnan(b));
      continue;
    }
    assert_close(b, a, 1e-15);
    acc += a, with++;
  }
  assert_close(s.mean_class_acc, acc / with, 1e-14);
}

/* n images of C classes, labels in [0, label_classes); logits (n, C), labels (n). */
static void random_set(int n, int C, int label_classes, uint64_t *rng, float **x, int32_t **y) {
  *x = malloc((size_t)n * C * sizeof **x);
  *y = malloc((size_t)n * sizeof **y);
  for (int i = 0; i < n; i++) {
    random_logits(*x + (size_t)i * C, C, rng);
    (*y)[i] = (int32_t)(tu_next(rng) % label_classes);
    /* a network that learnt something: the label's logit is often raised */
    if (tu_next(rng) % 2) (*x)[(size_t)i * C + (*y)[i]] += tu_uniform(rng, 0, 4);
  }
}

static void test_against_reference(void **state) {
  uint64_t rng = tu_seed() ^ 0xc1a55;
  static const int shapes[][2] = {{1000, 10}, {37, 3}, {500, 2}, {300, 5}, {200, 6}, {100, 50}};
  for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
    int n = shapes[k][0], C = shapes[k][1];
    float *x;
    int32_t *y;
    random_set(n, C, C, &rng, &x, &y);
    ev_class_metrics m;
    ref_metrics r;
    TU_OK(ev_class_metrics_init(&m, C));
    ref_init(&r, C);
    for (int i = 0; i < n; i++) {
      ev_class_metrics_add(&m, x + (size_t)i * C, y[i]);
      ref_add(&r, x + (size_t)i * C, y[i]);
    }
    check_against_ref(&m, &r);
    if (C <= 5) assert_int_equal(m.top5, m.n); /* top-min(5, C) is every class */
    else assert_true(m.top5 < m.n);             /* random logits: some miss */
    assert_true(m.top1 > 0 && m.top1 < m.n);
    ev_class_metrics_free(&m);
    free(r.conf);
    free(x);
    free(y);
  }
}

static void test_ties_and_values(void **state) {
  ev_class_metrics m;
  TU_OK(ev_class_metrics_init(&m, 8));
  /* all equal: the rank is the index order, so class 0 is predicted and 0..4 are the top 5 */
  float eq[8] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
  ev_class_metrics_add(&m, eq, 0); /* top-1 and top-5 */
  ev_class_metrics_add(&m, eq, 4); /* top-5 only */
  ev_class_metrics_add(&m, eq, 5); /* neither */
  assert_int_equal(m.top1, 1);
  assert_int_equal(m.top5, 2);
  assert_int_equal(m.confusion[0 * 8 + 0], 1);
  assert_int_equal(m.confusion[4 * 8 + 0], 1);
  assert_int_equal(m.confusion[5 * 8 + 0], 1);
  assert_close(m.loss_sum, 3 * log(8.0), 1e-15);
  /* order 7, then the tied 0..5 by index, then 6: top 5 = {7, 0, 1, 2, 3} */
  float mixed[8] = {2, 2, 2, 2, 2, 2, 1, 5};
  ev_class_metrics_add(&m, mixed, 3); /* top-5 */
  ev_class_metrics_add(&m, mixed, 4); /* not: four classes tie ahead of it plus class 7 */
  ev_class_metrics_add(&m, mixed, 7); /* top-1 */
  assert_int_equal(m.top1, 2);
  assert_int_equal(m.top5, 4);
  assert_int_equal(m.confusion[3 * 8 + 7], 1);
  assert_int_equal(m.confusion[7 * 8 + 7], 1);
  ev_class_metrics_free(&m);

  /* F.cross_entropy(tensor([[1., 2., 3.]]), tensor([0])) = 2.4076059644443806 */
  TU_OK(ev_class_metrics_init(&m, 3));
  float x3[3] = {1, 2, 3};
  ev_class_metrics_add(&m, x3, 0);
  assert_close(m.loss_sum, 2.4076059644443806, 1e-15);
  assert_int_equal(m.top5, 1); /* C = 3: top-3 holds everything */
  /* the first of two maxima is predicted; a tie with the label's logit ahead of it misses */
  float t3[3] = {3, 7, 7};
  ev_class_metrics_add(&m, t3, 2);
  assert_int_equal(m.top1, 0);
  assert_int_equal(m.confusion[2 * 3 + 1], 1);
  ev_class_metrics_add(&m, t3, 1);
  assert_int_equal(m.top1, 1);
  ev_class_metrics_free(&m);

  /* large logits: log-sum-exp keeps the loss finite and shift-invariant (65536 + k/64 and
   * k/64 are exact in float, so both images see the same differences) */
  uint64_t rng = tu_seed() ^ 0x1a26e;
  TU_OK(ev_class_metrics_init(&m, 10));
  ev_class_metrics big;
  TU_OK(ev_class_metrics_init(&big, 10));
  for (int i = 0; i < 20; i++) {
    float small[10], large[10];
    for (int c = 0; c < 10; c++) {
      small[c] = (float)((int)(tu_next(&rng) % 1025) - 512) / 64.0f;
      large[c] = 65536.0f + small[c];
    }
    int32_t y = (int32_t)(tu_next(&rng) % 10);
    ev_class_metrics_add(&m, small, y);
    ev_class_metrics_add(&big, large, y);
  }
  assert_true(isfinite(big.loss_sum));
  assert_close(big.loss_sum, m.loss_sum, 1e-12);
  assert_int_equal(big.top1, m.top1);
  assert_int_equal(big.top5, m.top5);
  ev_class_metrics_free(&big);
  ev_class_metrics_free(&m);

  /* NaN ranks first (torch.argmax picks the NaN) and makes the loss NaN */
  TU_OK(ev_class_metrics_init(&m, 6));
  float xn[6] = {1, NAN, 3, NAN, 0, 2};
  ev_class_metrics_add(&m, xn, 3); /* order 1, 3, 2, 5, 0, 4: top-5, not top-1 */
  assert_int_equal(m.top1, 0);
  assert_int_equal(m.top5, 1);
  assert_int_equal(m.confusion[3 * 6 + 1], 1);
  ev_class_metrics_add(&m, xn, 4); /* last */
  assert_int_equal(m.top5, 1);
  assert_true(isnan(m.loss_sum));
  ev_class_metrics_free(&m);

  /* nothing added: NaN summaries */
  TU_OK(ev_class_metrics_init(&m, 2));
  ev_class_summary s;
  ev_class_metrics_result(&m, &s);
  assert_int_equal(s.n, 0);
  assert_true(isnan(s.top1) && isnan(s.top5) && isnan(s.loss) && isnan(s.mean_class_acc));
  assert_true(isnan(ev_class_metrics_class_acc(&m, 0)));
  assert_true(isnan(ev_class_metrics_class_acc(&m, 2)));
  ev_class_metrics_free(&m);

  TU_EXPECT_ARG(ev_class_metrics_init(&m, 1));
  TU_EXPECT_ARG(ev_class_metrics_init(&m, -3));
  TU_EXPECT_ARG(ev_class_metrics_init(&m, EV_CLASS_MAX + 1));
  ev_class_metrics_free(&m); /* safe after a failed init */
}

static void test_merge(void **state) {
  uint64_t rng = tu_seed() ^ 0x3e263;
  enum { N = 1000, C = 10, PARTS = 4 };
  float *x;
  int32_t *y;
  random_set(N, C, C, &rng, &x, &y);
  ev_class_metrics all, part[PARTS], merged;
  TU_OK(ev_class_metrics_init(&all, C));
  TU_OK(ev_class_metrics_init(&merged, C));
  for (int p = 0; p < PARTS; p++) TU_OK(ev_class_metrics_init(&part[p], C));
  for (int i = 0; i < N; i++) {
    ev_class_metrics_add(&all, x + (size_t)i * C, y[i]);
    ev_class_metrics_add(&part[tu_next(&rng) % PARTS], x + (size_t)i * C, y[i]);
  }
  for (int p = PARTS - 1; p >= 0; p--) ev_class_metrics_merge(&merged, &part[p]);
  assert_int_equal(merged.n, all.n);
  assert_int_equal(merged.top1, all.top1);
  assert_int_equal(merged.top5, all.top5);
  assert_memory_equal(merged.confusion, all.confusion, C * C * sizeof *all.confusion);
  assert_close(merged.loss_sum, all.loss_sum, 1e-12);
  ev_class_summary a, b;
  ev_class_metrics_result(&all, &a);
  ev_class_metrics_result(&merged, &b);
  assert_true(a.top1 == b.top1 && a.top5 == b.top5 && a.mean_class_acc == b.mean_class_acc);
  for (int p = 0; p < PARTS; p++) ev_class_metrics_free(&part[p]);
  ev_class_metrics_free(&all);
  ev_class_metrics_free(&merged);
  free(x);
  free(y);
}

static double jnum(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!cJSON_IsNumber(v)) fail_msg("JSON field %s is not a number", k);
  return v->valuedouble;
}

static void test_json(void **state) {
  uint64_t rng = tu_seed() ^ 0x750;
  enum { N = 400, C = 10 };
  float *x;
  int32_t *y;
  random_set(N, C, C - 1, &rng, &x, &y); /* class 9 has no images */
  ev_class_metrics m;
  TU_OK(ev_class_metrics_init(&m, C));
  for (int i = 0; i < N; i++) ev_class_metrics_add(&m, x + (size_t)i * C, y[i]);
  const char *names[C] = {"T-shirt/top", "Trouser", NULL, "Dress", "Coat",
                          "Sandal",      "Shirt",   "Sneaker", "Bag", "Ankle boot"};
  cJSON *o = ev_class_metrics_json(&m, names);
  assert_non_null(o);
  char *text = cJSON_PrintUnformatted(o); /* through text, as a reader gets it */
  cJSON_Delete(o);
  o = cJSON_Parse(text);
  assert_non_null(o);
  ev_class_summary s;
  ev_class_metrics_result(&m, &s);
  assert_true(jnum(o, "images") == N);
  assert_true(jnum(o, "top1") == s.top1); /* doubles read back exactly */
  assert_true(jnum(o, "top5") == s.top5);
  assert_true(jnum(o, "top5_k") == 5);
  assert_true(jnum(o, "loss") == s.loss);
  assert_true(jnum(o, "mean_class_accuracy") == s.mean_class_acc);
  const cJSON *classes = cJSON_GetObjectItemCaseSensitive(o, "classes");
  const cJSON *conf = cJSON_GetObjectItemCaseSensitive(o, "confusion");
  assert_int_equal(cJSON_GetArraySize(classes), C);
  assert_int_equal(cJSON_GetArraySize(conf), C);
  double acc_sum = 0;
  for (int c = 0; c < C; c++) {
    const cJSON *e = cJSON_GetArrayItem(classes, c), *row = cJSON_GetArrayItem(conf, c);
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
    assert_non_null(name);
    assert_string_equal(name, c == 2 ? "2" : names[c]);
    assert_int_equal(cJSON_GetArraySize(row), C);
    uint64_t total = 0;
    for (int p = 0; p < C; p++) {
      const cJSON *v = cJSON_GetArrayItem(row, p);
      assert_true(cJSON_IsNumber(v));
      assert_true(v->valuedouble == (double)m.confusion[c * C + p]);
      total += m.confusion[c * C + p];
    }
    assert_true(jnum(e, "images") == (double)total);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(e, "accuracy");
    if (c == C - 1) {
      assert_int_equal(total, 0);
      assert_true(cJSON_IsNull(acc)); /* NaN: no images */
    } else {
      assert_true(total > 0);
      assert_true(jnum(e, "accuracy") == ev_class_metrics_class_acc(&m, c));
      acc_sum += jnum(e, "accuracy");
    }
  }
  assert_close(s.mean_class_acc, acc_sum / (C - 1), 1e-15); /* classes with images only */
  cJSON_Delete(o);
  free(text);

  /* no names, no images: index names and nulls */
  ev_class_metrics e;
  TU_OK(ev_class_metrics_init(&e, 3));
  o = ev_class_metrics_json(&e, NULL);
  assert_non_null(o);
  text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  o = cJSON_Parse(text);
  assert_non_null(o);
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "top1")));
  assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, "loss")));
  assert_true(jnum(o, "top5_k") == 3);
  const cJSON *c1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "classes"), 1);
  assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c1, "name")), "1");
  print_message("  %s\n", text);
  cJSON_Delete(o);
  free(text);
  ev_class_metrics_free(&e);
  ev_class_metrics_free(&m);
  free(x);
  free(y);
}

/* ---------------- the figure ---------------- */
/* Fails if `dir` holds anything but the names listed (NULL-terminated). */
static void assert_only_files(const char *dir, const char *const *want) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    int known = 0;
    for (const char *const *w = want; *w; w++) known |= !strcmp(*w, e->d_name);
    if (!known) fail_msg("unexpected file %s in %s (a temporary left behind?)", e->d_name, dir);
  }
  closedir(d);
}

/* Draws m, decodes the PNG back and checks its size (each side at least min_side); returns
 * the share of pixels that aren't white, and in *dark the pixels of nearly the darkest blue
 * (a cell holding all of its row). */
static double draw_and_check(const ev_class_metrics *m, const char *const *names,
                             const char *title, const char *file, int min_side, size_t *dark) {
  char path[512];
  ev_path_join(path, sizeof path, g_dir, file);
  TU_OK(ev_class_confusion_png(path, m, names, title));
  int w, h, c;
  uint8_t *png = stbi_load(path, &w, &h, &c, 3);
  assert_non_null(png);
  print_message("  %s: %d x %d for %d classes\n", file, w, h, m->classes);
  assert_true(w >= min_side && h >= min_side && w <= 8000 && h <= 8000);
  size_t ink = 0;
  *dark = 0;
  for (size_t i = 0; i < (size_t)w * h; i++) {
    const uint8_t *p = png + 3 * i;
    ink += p[0] != 255 || p[1] != 255 || p[2] != 255;
    *dark += p[0] < 40 && p[1] < 80 && p[2] > 90 && p[2] < 140;
  }
  stbi_image_free(png);
  return (double)ink / ((double)w * h);
}

static void test_confusion_png(void **state) {
  uint64_t rng = tu_seed() ^ 0xf16;
  const char *names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                           "Shirt", "Sneaker", "Bag", "Ankle boot with a very long name"};
  static const int sizes[] = {10, 2, 3, 20, 21, 200, 1000};
  char file[64];
  size_t dark;
  for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
    int C = sizes[k], n = C <= 50 ? C * 30 : 3000;
    float *x;
    int32_t *y;
    random_set(n, C, C, &rng, &x, &y);
    ev_class_metrics m;
    TU_OK(ev_class_metrics_init(&m, C));
    for (int i = 0; i < n; i++) ev_class_metrics_add(&m, x + (size_t)i * C, y[i]);
    snprintf(file, sizeof file, "confusion_%d.png", C);
    int cell = 720 / C > 64 ? 64 : 720 / C > 0 ? 720 / C : 1;
    double ink = draw_and_check(&m, C == 10 ? names : NULL, k ? NULL : "test: top-1 91.23 %",
                                file, C * cell, &dark);
    print_message("  %.1f %% of the pixels drawn\n", 100 * ink);
    assert_true(ink > 0.01 && ink < 0.99); /* not blank, not a flood */
    ev_class_metrics_free(&m);
    free(x);
    free(y);
  }
  /* every image of class t predicted as t + 1 (mod 4): four cells of the darkest blue, 64 px
   * each less the grid line and the count printed in white */
  ev_class_metrics e;
  TU_OK(ev_class_metrics_init(&e, 4));
  for (int t = 0; t < 4; t++)
    for (int i = 0; i < 7 + t; i++) {
      float x[4] = {0, 0, 0, 0};
      x[(t + 1) % 4] = 1;
      ev_class_metrics_add(&e, x, t);
    }
  draw_and_check(&e, NULL, "shifted", "shifted.png", 4 * 64, &dark);
  print_message("  %zu dark pixels\n", dark);
  assert_true(dark >= 4 * 63 * 63 * 8 / 10 && dark <= 4 * 64 * 64 + 16 * 256);
  ev_class_metrics_free(&e);

  /* no images: a white grid with its labels, still written */
  TU_OK(ev_class_metrics_init(&e, 4));
  char path[512];
  ev_path_join(path, sizeof path, g_dir, "empty.png");
  TU_OK(ev_class_confusion_png(path, &e, NULL, NULL));
  /* atomic: nothing but the figures is left in the folder */
  const char *want[] = {"confusion_10.png", "confusion_2.png", "confusion_3.png",
                        "confusion_20.png", "confusion_21.png", "confusion_200.png",
                        "confusion_1000.png", "shifted.png", "empty.png", NULL};
  assert_only_files(g_dir, want);

  /* an unwritable path: EV_ERR_IO, one line naming it */
  char plain[512], bad[600];
  ev_path_join(plain, sizeof plain, g_dir, "plain_file");
  TU_OK(ev_write_file_atomic(plain, "x", 1));
  ev_path_join(bad, sizeof bad, plain, "confusion.png");
  ev_clear_error();
  assert_int_equal(ev_class_confusion_png(bad, &e, NULL, "t"), EV_ERR_IO);
  print_message("  rejected: %s\n", ev_last_error());
  assert_non_null(strstr(ev_last_error(), "plain_file"));
  assert_null(strchr(ev_last_error(), '\n'));
  ev_clear_error();
  TU_EXPECT_ARG(ev_class_confusion_png(NULL, &e, NULL, "t"));
  TU_EXPECT_ARG(ev_class_confusion_png(path, NULL, NULL, "t"));
  uint64_t unread = 0; /* too many classes is refused before the counts are read */
  ev_class_metrics huge = {.classes = 7001, .confusion = &unread};
  TU_EXPECT_ARG(ev_class_confusion_png(path, &huge, NULL, "t"));
  ev_class_metrics_free(&e);
}

static int setup(void **state) {
  snprintf(g_dir, sizeof g_dir, "/tmp/evonet_test_class_metrics.XXXXXX");
  return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_against_reference), cmocka_unit_test(test_ties_and_values),
      cmocka_unit_test(test_merge),             cmocka_unit_test(test_json),
      cmocka_unit_test(test_confusion_png),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
