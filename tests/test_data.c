/* Data layer: layouts, samples, augmentation, batches, the prefetching loader, PNG writing
 * and every bad input, on small fixture datasets written at test time into a temp folder.
 * No GPU. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#include "evonet/data.h"
#include "evonet/io.h"
#include "testutil.h"

static const float k_mean[3] = {0.485f, 0.456f, 0.406f};
static const float k_std[3] = {0.229f, 0.224f, 0.225f};

/* ---------------- fixtures ---------------- */
static uint64_t g_rng;
static char g_tmp[256]; /* this program's temp folder; each test makes a subfolder */


static int group_setup(void **state) {
  g_rng = tu_seed() ^ 0xda7a;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/evonet-test-data-XXXXXX");
  return mkdtemp(g_tmp) ? 0 : -1;
}

static int group_teardown(void **state) {
  tu_rm_rf(g_tmp);
  return 0;
}

/* A fresh folder under the temp folder: out = g_tmp/name. */
static char *fresh_dir(char *out, const char *name) { return tu_fresh_dir(g_tmp, name, out); }

/* Random pixels, never all zero: values 1..255. */
static uint8_t *random_pixels(int w, int h, int c) {
  uint8_t *p = malloc((size_t)w * h * c);
  for (size_t i = 0; i < (size_t)w * h * c; i++) p[i] = (uint8_t)(1 + tu_next(&g_rng) % 255);
  return p;
}

/* Writes dir/name (extension decides the format) with random content of w×h×c. */
static void write_image(const char *dir, const char *name, int w, int h, int c) {
  char path[4096];
  ev_path_join(path, sizeof path, dir, name);
  uint8_t *p = random_pixels(w, h, c);
  const char *ext = strrchr(name, '.');
  int ok = 1;
  if (strcmp(ext, ".png") == 0) TU_OK(ev_png_write(path, p, w, h, c));
  else if (strcmp(ext, ".bmp") == 0) ok = stbi_write_bmp(path, w, h, c, p);
  else ok = stbi_write_jpg(path, w, h, c, p, 95);
  free(p);
  assert_true(ok);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[4096];
  TU_OK(ev_write_file_atomic(ev_path_join(path, sizeof path, dir, name), text, strlen(text)));
}

/* n pairs <stem_prefix><k>.<ext> in img_dir + <stem_prefix><k>.png in mask_dir. */
static void write_pairs(const char *img_dir, const char *mask_dir, const char *prefix, int n,
                        const char *ext, int w, int h) {
  TU_OK(ev_mkdirs(img_dir));
  TU_OK(ev_mkdirs(mask_dir));
  char name[256];
  for (int k = 0; k < n; k++) {
    snprintf(name, sizeof name, "%s%d.%s", prefix, k, ext);
    write_image(img_dir, name, w, h, 3);
    snprintf(name, sizeof name, "%s%d.png", prefix, k);
    write_image(mask_dir, name, w, h, 1);
  }
}

static void sub(char *out, const char *a, const char *b) { ev_path_join(out, 4096, a, b); }

/* Expects a failure `code` whose message contains `needle` (and a second needle if set). */
static void expect_fail(ev_status s, ev_status code, const char *needle, const char *needle2) {
  if (s != code)
    fail_msg("expected %s, got %s: %s", ev_status_name(code), ev_status_name(s),
             ev_last_error());
  if (!strstr(ev_last_error(), needle) || (needle2 && !strstr(ev_last_error(), needle2)))
    fail_msg("message \"%s\" should name \"%s\"%s%s", ev_last_error(), needle,
             needle2 ? " and " : "", needle2 ? needle2 : "");
  ev_clear_error();
}

/* ---------------- layouts ---------------- */
static void test_layout_names(void **state) {
  ev_layout l;
  const struct { const char *name; ev_layout want; } cases[] = {
      {"auto", EV_LAYOUT_AUTO},    {"generic", EV_LAYOUT_GENERIC}, {"MSRA-B", EV_LAYOUT_MSRAB},
      {"msra_b", EV_LAYOUT_MSRAB}, {"hku-is", EV_LAYOUT_HKUIS},    {"HKUIS", EV_LAYOUT_HKUIS},
      {"duts", EV_LAYOUT_DUTS},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    TU_OK(ev_layout_from_name(cases[i].name, &l));
    assert_int_equal(l, cases[i].want);
  }
  assert_string_equal(ev_layout_name(EV_LAYOUT_MSRAB), "msra-b");
  ev_clear_error();
  expect_fail(ev_layout_from_name("pascal-s", &l), EV_ERR_ARG, "pascal-s", NULL);
}

static void assert_pairs(const ev_dataset *ds, size_t n, const char *first_stem) {
  assert_int_equal(ds->n, n);
  assert_string_equal(ds->pairs[0].stem, first_stem);
  for (size_t i = 0; i < ds->n; i++) {
    if (i) assert_true(strcmp(ds->pairs[i - 1].stem, ds->pairs[i].stem) < 0);
    assert_non_null(strstr(ds->pairs[i].image, ds->pairs[i].stem));
    char want[512];
    snprintf(want, sizeof want, "/%s.png", ds->pairs[i].stem);
    const char *m = ds->pairs[i].mask;
    assert_string_equal(m + strlen(m) - strlen(want), want);
  }
}

static void test_generic_split_folders(void **state) {
  char root[4096], a[4096], b[4096];
  fresh_dir(root, "generic");
  sub(a, root, "train/images"), sub(b, root, "train/masks");
  write_pairs(a, b, "t", 4, "jpg", 12, 9);
  write_image(a, "t9.bmp", 12, 9, 3); /* other extensions count too */
  write_image(b, "t9.png", 12, 9, 1);
  write_image(a, "t0.png", 12, 9, 3); /* same stem as t0.jpg: .jpg is preferred, once */
  write_text(a, "notes.txt", "not an image");
  sub(a, root, "val/images"), sub(b, root, "val/masks");
  write_pairs(a, b, "v", 3, "png", 10, 10);

  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_GENERIC);
  assert_pairs(&ds, 5, "t0");
  assert_non_null(strstr(ds.pairs[0].image, "train/images/t0.jpg"));
  assert_non_null(strstr(ds.pairs[4].image, "t9.bmp"));
  TU_OK(ev_dataset_check(&ds));
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "val", EV_LAYOUT_GENERIC, &ds));
  assert_pairs(&ds, 3, "v0");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds)); /* all: every split folder */
  assert_pairs(&ds, 8, "t0");
  ev_dataset_free(&ds);
  /* no test/ folder and no flat images/: a missing folder, named */
  ev_clear_error();
  expect_fail(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds), EV_ERR_IO, root, "test");
  expect_fail(ev_dataset_open(root, "trian", EV_LAYOUT_AUTO, &ds), EV_ERR_ARG, "trian", NULL);
}

static void test_generic_flat_with_list(void **state) {
  char root[4096], a[4096], b[4096];
  fresh_dir(root, "flat");
  sub(a, root, "images"), sub(b, root, "masks");
  write_pairs(a, b, "p", 5, "jpeg", 8, 6);
  write_image(b, "orphan_mask.png", 8, 6, 1); /* a mask without image is ignored */
  write_text(root, "train.txt", "p3.jpeg\r\n\r\n  p1  \r# comment\rp3\n");
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_GENERIC);
  assert_pairs(&ds, 2, "p1");
  assert_string_equal(ds.pairs[1].stem, "p3");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds)); /* no list: the whole folder */
  assert_pairs(&ds, 5, "p0");
  ev_dataset_free(&ds);
}

static void test_msrab(void **state) {
  char root[4096];
  fresh_dir(root, "MSRA-B");
  write_pairs(root, root, "", 6, "jpg", 9, 7); /* 0.jpg 0.png ... side by side */
  write_text(root, "train_cvpr2013.txt", "0.jpg\n2.jpg\n4.jpg\n");
  write_text(root, "valid_cvpr2013.txt", "1.jpg\n");
  write_text(root, "test_cvpr2013.txt", "3\n5\n");
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_MSRAB);
  assert_pairs(&ds, 3, "0");
  assert_string_equal(ds.pairs[2].stem, "4");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "valid", EV_LAYOUT_AUTO, &ds));
  assert_pairs(&ds, 1, "1");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_MSRAB, &ds));
  assert_pairs(&ds, 2, "3");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "all", EV_LAYOUT_AUTO, &ds)); /* masks are not images here */
  assert_pairs(&ds, 6, "0");
  ev_dataset_free(&ds);
  /* a listed stem without an image */
  write_text(root, "test_cvpr2013.txt", "3\n77\n");
  ev_clear_error();
  expect_fail(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "'77'",
              "test_cvpr2013.txt");
}

static void test_hkuis(void **state) {
  char root[4096], a[4096], b[4096];
  fresh_dir(root, "HKU-IS");
  sub(a, root, "imgs"), sub(b, root, "gt");
  write_pairs(a, b, "h", 4, "png", 11, 8);
  write_text(root, "testImgSet.txt", "h2\nh3\n");
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_HKUIS);
  assert_pairs(&ds, 2, "h2");
  assert_non_null(strstr(ds.pairs[0].mask, "/gt/h2.png"));
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_HKUIS, &ds));
  assert_pairs(&ds, 4, "h0");
  ev_dataset_free(&ds);
}

static void test_duts(void **state) {
  char root[4096], a[4096], b[4096];
  fresh_dir(root, "DUTS");
  sub(a, root, "DUTS-TR/DUTS-TR-Image"), sub(b, root, "DUTS-TR/DUTS-TR-Mask");
  write_pairs(a, b, "tr_", 3, "jpg", 10, 12);
  sub(a, root, "DUTS-TE-Image"), sub(b, root, "DUTS-TE-Mask");
  write_pairs(a, b, "te_", 2, "jpg", 10, 12);
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_DUTS);
  assert_pairs(&ds, 3, "tr_0");
  assert_non_null(strstr(ds.pairs[0].mask, "DUTS-TR/DUTS-TR-Mask/tr_0.png"));
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds));
  assert_pairs(&ds, 2, "te_0");
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "all", EV_LAYOUT_DUTS, &ds));
  assert_pairs(&ds, 5, "te_0");
  ev_dataset_free(&ds);
  ev_clear_error();
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds), EV_ERR_ARG, "val", root);
}

/* ---------------- samples and augmentation ---------------- */
/* A one-pair generic dataset with lossless images (PNG) of w×h; returns it open. */
static void one_pair(const char *name, int w, int h, ev_dataset *ds) {
  char root[4096], a[4096], b[4096];
  fresh_dir(root, name);
  sub(a, root, "images"), sub(b, root, "masks");
  write_pairs(a, b, "x", 1, "png", w, h);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, ds));
}

static void test_normalisation_exact_size(void **state) {
  enum { S = 13 };
  ev_dataset ds;
  one_pair("norm", S, S, &ds);
  ev_image img, mask;
  TU_OK(ev_image_load(ds.pairs[0].image, 3, &img));
  TU_OK(ev_image_load(ds.pairs[0].mask, 1, &mask));
  float *x = malloc(S * S * 4 * sizeof *x), *m = malloc(S * S * sizeof *m);
  TU_OK(ev_sample_load(&ds.pairs[0], S, NULL, x, m)); /* S = image size: no resampling */
  for (int i = 0; i < S * S; i++) {
    for (int c = 0; c < 3; c++) {
      float want = (img.pix[i * 3 + c] / 255.0f - k_mean[c]) / k_std[c];
      assert_true(fabsf(x[i * 4 + c] - want) < 1e-6f);
    }
    assert_true(x[i * 4 + 3] == 0.0f);
    assert_true(fabsf(m[i] - mask.pix[i] / 255.0f) < 1e-7f);
  }
  uint8_t rgb[S * S * 3];
  TU_OK(ev_sample_load_rgb8(&ds.pairs[0], S, rgb, m));
  assert_memory_equal(rgb, img.pix, sizeof rgb);
  free(x), free(m);
  ev_image_free(&img), ev_image_free(&mask);
  ev_dataset_free(&ds);
}

static void test_crop_is_exact_subimage(void **state) {
  /* 40×40, scale 0.75 → a 30×30 box at x0 = 1·(40-30) = 10, y0 = 0; at S = 30 the box is
   * copied pixel for pixel */
  enum { W = 40, S = 30 };
  ev_dataset ds;
  one_pair("crop", W, W, &ds);
  ev_image img;
  TU_OK(ev_image_load(ds.pairs[0].image, 3, &img));
  ev_aug aug = EV_AUG_NONE;
  aug.scale = 0.75f, aug.ox = 1.0f, aug.oy = 0.0f;
  float *x = malloc(S * S * 4 * sizeof *x);
  TU_OK(ev_sample_load(&ds.pairs[0], S, &aug, x, NULL));
  for (int y = 0; y < S; y++)
    for (int xx = 0; xx < S; xx++)
      for (int c = 0; c < 3; c++) {
        float v = img.pix[(y * W + xx + 10) * 3 + c];
        assert_true(fabsf(x[(y * S + xx) * 4 + c] - (v / 255.0f - k_mean[c]) / k_std[c]) <
                    1e-6f);
      }
  free(x);
  ev_image_free(&img);
  ev_dataset_free(&ds);
}

/* The colour change against its formula in double (data.h): chroma turned about the grey
 * axis by hue (Rodrigues: c cos + (u x c) sin, u = (1,1,1)/sqrt3), scaled by sat, then
 * contrast about 128, brightness, clamp. */
static void test_colour_change(void **state) {
  enum { S = 13 };
  ev_dataset ds;
  one_pair("colour", S, S, &ds);
  ev_image img;
  TU_OK(ev_image_load(ds.pairs[0].image, 3, &img));
  float *x = malloc(S * S * 4 * sizeof *x);
  uint64_t seed = tu_seed();
  for (int k = 0; k < 6; k++) {
    ev_aug a = EV_AUG_NONE, d = ev_aug_draw(seed, 5, (size_t)k);
    a.hue = d.hue, a.sat = d.sat, a.contrast = d.contrast, a.bright = d.bright;
    if (k == 0) a.contrast = 2.5f, a.bright = 1.3f; /* clamps at both ends */
    TU_OK(ev_sample_load(&ds.pairs[0], S, &a, x, NULL));
    double c = cos(a.hue), sn = sin(a.hue), u = 1.0 / sqrt(3.0);
    for (int i = 0; i < S * S; i++) {
      double v[3], grey = 0;
      for (int j = 0; j < 3; j++) grey += img.pix[i * 3 + j] / 3.0;
      for (int j = 0; j < 3; j++) {
        double cj = img.pix[i * 3 + j] - grey;
        double cross = (img.pix[i * 3 + (j + 2) % 3] - grey) - (img.pix[i * 3 + (j + 1) % 3] - grey); /* (u x c)_j * sqrt3 */
        double t = ((grey + a.sat * (cj * c + u * cross * sn) - 128.0) * a.contrast + 128.0) * a.bright;
        v[j] = t < 0 ? 0 : t > 255 ? 255 : t;
        double want = (v[j] / 255.0 - k_mean[j]) / k_std[j];
        if (!(fabs(x[i * 4 + j] - want) < 1e-4))
          fail_msg("pixel %d channel %d: %.6f, want %.6f (hue %.3f sat %.3f contrast %.3f bright %.3f)", i, j,
                   x[i * 4 + j], want, a.hue, a.sat, a.contrast, a.bright);
      }
    }
  }
  free(x);
  ev_image_free(&img);
  ev_dataset_free(&ds);
}

static void test_flip_mirrors(void **state) {
  enum { S = 17 };
  ev_dataset ds;
  one_pair("flip", 23, 19, &ds); /* non-square, resampled: the mirror must still be exact */
  size_t px = S * S;
  float *x0 = malloc(px * 4 * sizeof(float)), *x1 = malloc(px * 4 * sizeof(float));
  float *m0 = malloc(px * sizeof(float)), *m1 = malloc(px * sizeof(float));
  for (int k = 0; k < 4; k++) {
    ev_aug a = ev_aug_draw(tu_seed(), 3, (size_t)k), b = a;
    a.flip = 0, b.flip = 1;
    TU_OK(ev_sample_load(&ds.pairs[0], S, &a, x0, m0));
    TU_OK(ev_sample_load(&ds.pairs[0], S, &b, x1, m1));
    int differs = 0;
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        size_t i = (size_t)y * S + x, j = (size_t)y * S + (S - 1 - x);
        assert_memory_equal(&x1[i * 4], &x0[j * 4], 4 * sizeof(float));
        assert_true(m1[i] == m0[j]);
        differs |= x1[i * 4] != x0[i * 4];
      }
    assert_true(differs); /* random content: the flip really moved pixels */
  }
  free(x0), free(x1), free(m0), free(m1);
  ev_dataset_free(&ds);
}

static void test_aug_draw(void **state) {
  int flips = 0, changed = 0;
  for (size_t i = 0; i < 200; i++) {
    ev_aug a = ev_aug_draw(42, 7, i), b = ev_aug_draw(42, 7, i), c = ev_aug_draw(42, 8, i);
    assert_memory_equal(&a, &b, sizeof a); /* a pure function of (seed, epoch, index) */
    assert_true(a.scale >= 0.75f && a.scale <= 1.0f);
    assert_true(a.ox >= 0 && a.ox < 1 && a.oy >= 0 && a.oy < 1);
    assert_true(fabsf(a.hue) <= 0.5236f && a.sat >= 0.6f && a.sat <= 1.4f);
    assert_true(a.contrast >= 0.75f && a.contrast <= 1.25f && a.bright >= 0.75f && a.bright <= 1.25f);
    flips += a.flip;
    changed += a.scale != c.scale;
  }
  assert_true(flips > 60 && flips < 140);
  assert_true(changed > 190);
}

static void test_epoch_order(void **state) {
  enum { N = 50 };
  size_t a[N], b[N], c[N];
  ev_epoch_order(N, 9, 2, 1, a);
  ev_epoch_order(N, 9, 2, 1, b);
  ev_epoch_order(N, 9, 3, 1, c);
  assert_memory_equal(a, b, sizeof a);
  assert_memory_not_equal(a, c, sizeof a);
  int seen[N] = {0};
  for (int i = 0; i < N; i++) seen[a[i]]++;
  for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1);
  ev_epoch_order(N, 9, 2, 0, a);
  for (int i = 0; i < N; i++) assert_int_equal(a[i], i);
}

/* ---------------- batches and the loader ---------------- */
static void open_varied(const char *name, int n, ev_dataset *ds) {
  char root[4096], a[4096], b[4096], stem[32];
  fresh_dir(root, name);
  sub(a, root, "images"), sub(b, root, "masks");
  TU_OK(ev_mkdirs(a));
  TU_OK(ev_mkdirs(b));
  for (int k = 0; k < n; k++) { /* sizes and formats vary per pair */
    int w = 9 + (int)(tu_next(&g_rng) % 20), h = 9 + (int)(tu_next(&g_rng) % 20);
    snprintf(stem, sizeof stem, "s%02d.%s", k, k % 2 ? "jpg" : "png");
    write_image(a, stem, w, h, 3);
    snprintf(stem, sizeof stem, "s%02d.png", k);
    write_image(b, stem, w, h, 1);
  }
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, ds));
}

static void test_batch_shapes(void **state) {
  ev_dataset ds;
  open_varied("batches", 7, &ds);
  ev_loader_options o = {.batch = 3, .size = 16, .drop_last = 0};
  assert_int_equal(ev_batches_per_epoch(&ds, &o), 3);
  ev_batch b;
  TU_OK(ev_batch_alloc(&b, 3, 16));
  TU_OK(ev_batch_load(&ds, &o, 0, 2, &b)); /* the kept last batch: 1 real sample */
  assert_int_equal(b.n, 1);
  assert_int_equal(b.index[0], 6);
  float *x = malloc(16 * 16 * 4 * sizeof *x), *m = malloc(16 * 16 * sizeof *m);
  TU_OK(ev_sample_load(&ds.pairs[6], 16, NULL, x, m));
  assert_memory_equal(b.images, x, 16 * 16 * 4 * sizeof *x);
  assert_memory_equal(b.masks, m, 16 * 16 * sizeof *m);
  for (size_t i = 16 * 16 * 4; i < 3 * 16 * 16 * 4; i++) assert_true(b.images[i] == 0);
  for (size_t i = 0; i < 16 * 16; i++) assert_true(b.masks[i] >= 0 && b.masks[i] <= 1);
  for (size_t i = 0; i < 16 * 16; i++) assert_true(b.images[i * 4 + 3] == 0);
  o.drop_last = 1;
  assert_int_equal(ev_batches_per_epoch(&ds, &o), 2);
  ev_clear_error();
  expect_fail(ev_batch_load(&ds, &o, 0, 2, &b), EV_ERR_ARG, "past the end", NULL);
  free(x), free(m);
  ev_batch_free(&b);
  ev_dataset_free(&ds);
}

/* Runs a loader for `epochs` epochs and checks every batch against ev_batch_load. */
static void loader_matches_direct(const ev_dataset *ds, const ev_loader_options *o,
                                  int epochs, int want_last_n) {
  ev_loader *ld;
  TU_OK(ev_loader_open(ds, o, &ld));
  ev_batch want;
  TU_OK(ev_batch_alloc(&want, o->batch, o->size));
  size_t per = ev_batches_per_epoch(ds, o), S = (size_t)o->size;
  for (int e = 0; e < epochs; e++) {
    for (size_t k = 0; k <= per; k++) {
      const ev_batch *b;
      TU_OK(ev_loader_next(ld, &b));
      if (k == per) { /* the end-of-epoch marker */
        assert_null(b);
        break;
      }
      assert_non_null(b);
      TU_OK(ev_batch_load(ds, o, o->first_epoch + e, k, &want));
      assert_int_equal(b->epoch, o->first_epoch + e);
      assert_int_equal(b->step, k);
      assert_int_equal(b->n, want.n);
      if (k == per - 1) assert_int_equal(b->n, want_last_n);
      assert_memory_equal(b->index, want.index, o->batch * sizeof(size_t));
      assert_memory_equal(b->images, want.images, o->batch * S * S * 4 * sizeof(float));
      assert_memory_equal(b->masks, want.masks, o->batch * S * S * sizeof(float));
    }
  }
  ev_batch_free(&want);
  ev_loader_close(ld);
}

static void test_loader_matches_direct(void **state) {
  ev_dataset ds;
  open_varied("loader", 11, &ds);
  ev_loader_options train = {.batch = 3, .size = 14, .augment = 1, .shuffle = 1,
                             .drop_last = 1, .seed = tu_seed(), .first_epoch = 5,
                             .threads = 3, .depth = 2};
  loader_matches_direct(&ds, &train, 3, 3);
  ev_loader_options eval = {.batch = 4, .size = 12, .threads = 1, .depth = 1};
  loader_matches_direct(&ds, &eval, 2, 3); /* 11 = 4 + 4 + 3, kept */
  /* an epoch order really is shuffled and augmented */
  ev_batch a, b;
  TU_OK(ev_batch_alloc(&a, 3, 14));
  TU_OK(ev_batch_alloc(&b, 3, 14));
  TU_OK(ev_batch_load(&ds, &train, 5, 0, &a));
  TU_OK(ev_batch_load(&ds, &train, 6, 0, &b));
  assert_memory_not_equal(a.images, b.images, 3 * 14 * 14 * 4 * sizeof(float));
  ev_batch_free(&a), ev_batch_free(&b);

  /* closing mid-epoch, with threads busy or waiting, returns */
  ev_loader *ld;
  const ev_batch *bb;
  TU_OK(ev_loader_open(&ds, &train, &ld));
  TU_OK(ev_loader_next(ld, &bb));
  ev_loader_close(ld);
  TU_OK(ev_loader_open(&ds, &train, &ld));
  ev_loader_close(ld);
  /* a dataset smaller than one dropped batch */
  ev_loader_options big = train;
  big.batch = 12;
  ev_clear_error();
  expect_fail(ev_loader_open(&ds, &big, &ld), EV_ERR_ARG, "11 pairs", NULL);
  ev_dataset_free(&ds);
}

/* ---------------- PNG writing ---------------- */
static void test_png_roundtrip(void **state) {
  char dir[4096], path[4096];
  fresh_dir(dir, "png");
  for (int c = 1; c <= 3; c += 2) {
    uint8_t *p = random_pixels(21, 10, c);
    sub(path, dir, c == 1 ? "gray.png" : "rgb.png");
    TU_OK(ev_png_write(path, p, 21, 10, c));
    ev_image im;
    TU_OK(ev_image_load(path, c, &im));
    assert_int_equal(im.w, 21);
    assert_int_equal(im.h, 10);
    assert_memory_equal(im.pix, p, 21 * 10 * c);
    ev_image_free(&im);
    free(p);
  }
  ev_clear_error();
  expect_fail(ev_png_write(path, (uint8_t[4]){1, 2, 3, 4}, 2, 1, 2), EV_ERR_ARG, path, NULL);
  sub(path, dir, "no/such/folder/x.png");
  expect_fail(ev_png_write(path, (uint8_t[4]){1, 2, 3, 4}, 2, 2, 1), EV_ERR_IO, path, NULL);
}

/* ---------------- bad input ---------------- */

/* Files that Debian's stb_image 2.27 would mishandle (JPEGs now go to libjpeg-turbo), that
 * end early, or that would decode to gigabytes: one clear error each. */
static void test_hostile_images(void **state) {
  char dir[4096], path[4096];
  fresh_dir(dir, "hostile");
  /* a valid JPEG whose first Huffman table is made to claim 16 x 32 codes */
  write_image(dir, "big_table.jpg", 9, 7, 3);
  sub(path, dir, "big_table.jpg");
  ev_image im;
  TU_OK(ev_image_load(path, 3, &im));
  ev_image_free(&im);
  uint8_t *d;
  size_t n;
  TU_OK(ev_read_file(path, (void **)&d, &n));
  size_t i = 2;
  while (i + 1 < n && !(d[i] == 0xFF && d[i + 1] == 0xC4)) i++;
  assert_true(i + 21 < n);
  memset(d + i + 5, 32, 16);
  TU_OK(ev_write_file_atomic(path, d, n));
  free(d);
  expect_fail(ev_image_load(path, 3, &im), EV_ERR_FORMAT, "big_table.jpg", "Huffman");
  /* a JPEG cut in the middle of its data: refused, not padded with grey */
  write_image(dir, "cut.jpg", 40, 30, 3);
  sub(path, dir, "cut.jpg");
  TU_OK(ev_read_file(path, (void **)&d, &n));
  TU_OK(ev_write_file_atomic(path, d, n / 2));
  free(d);
  int w, h;
  /* the header is whole, but no end-of-image marker follows: the header check sees it */
  expect_fail(ev_image_info(path, &w, &h), EV_ERR_FORMAT, "cut.jpg", "truncated");
  expect_fail(ev_image_load(path, 1, &im), EV_ERR_FORMAT, "cut.jpg", "truncated");
  /* PNG and BMP cut short: refused (stb would zero-fill a BMP's missing rows) */
  const char *cut_names[] = {"cut.png", "cut.bmp"};
  for (int k = 0; k < 2; k++) {
    write_image(dir, cut_names[k], 40, 30, 3);
    sub(path, dir, cut_names[k]);
    TU_OK(ev_image_load(path, 3, &im)); /* whole, it loads */
    ev_image_free(&im);
    TU_OK(ev_read_file(path, (void **)&d, &n));
    TU_OK(ev_write_file_atomic(path, d, n - 7));
    free(d);
    expect_fail(ev_image_load(path, 3, &im), EV_ERR_FORMAT, cut_names[k], "truncated");
    expect_fail(ev_image_info(path, &w, &h), EV_ERR_FORMAT, cut_names[k], "truncated");
  }
  /* a BMP 0 rows high (stb_image decodes it to an empty image) */
  write_image(dir, "flat.bmp", 3, 2, 3);
  sub(path, dir, "flat.bmp");
  TU_OK(ev_read_file(path, (void **)&d, &n));
  memset(d + 22, 0, 4);
  TU_OK(ev_write_file_atomic(path, d, n));
  free(d);
  expect_fail(ev_image_info(path, &w, &h), EV_ERR_FORMAT, "flat.bmp", "no pixels");
  expect_fail(ev_image_load(path, 3, &im), EV_ERR_FORMAT, "flat.bmp", "no pixels");
  /* a PNG whose one data chunk claims 1 GiB: refused before anything is allocated */
  write_image(dir, "bomb.png", 7, 5, 3);
  sub(path, dir, "bomb.png");
  TU_OK(ev_read_file(path, (void **)&d, &n));
  i = 8;
  while (i + 8 < n && memcmp(d + i + 4, "IDAT", 4) != 0) i += 12 + ((size_t)d[i] << 24 | d[i + 1] << 16 | d[i + 2] << 8 | d[i + 3]);
  assert_true(i + 8 < n);
  d[i] = 0x40, d[i + 1] = d[i + 2] = d[i + 3] = 0;
  TU_OK(ev_write_file_atomic(path, d, n));
  free(d);
  expect_fail(ev_image_load(path, 3, &im), EV_ERR_FORMAT, "bomb.png", "truncated");
  /* a 54-byte BMP header claiming 20000 x 20000 pixels (1.2 GB decoded) */
  uint8_t bmp[64] = {'B', 'M'};
  const uint32_t fields[][2] = {{2, 64}, {10, 54}, {14, 40}, {18, 20000}, {22, 20000}, {26, 1 | 24u << 16}};
  for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
    for (int b = 0; b < 4; b++) bmp[fields[k][0] + b] = (uint8_t)(fields[k][1] >> (8 * b));
  sub(path, dir, "huge.bmp");
  TU_OK(ev_write_file_atomic(path, bmp, sizeof bmp));
  expect_fail(ev_image_load(path, 3, &im), EV_ERR_FORMAT, "huge.bmp", "20000x20000");
}
static void test_bad_folders(void **state) {
  char root[4096], a[4096], b[4096];
  ev_dataset ds;
  ev_clear_error();
  sub(root, g_tmp, "does-not-exist");
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_IO, root, NULL);
  expect_fail(ev_dataset_open(root, "train", (ev_layout)99, &ds), EV_ERR_ARG, "99", NULL);

  fresh_dir(root, "nothing"); /* no recognisable layout */
  write_text(root, "readme.txt", "hello");
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, root, NULL);

  fresh_dir(root, "empty"); /* a layout, but no pairs */
  sub(a, root, "images"), sub(b, root, "masks");
  TU_OK(ev_mkdirs(a));
  TU_OK(ev_mkdirs(b));
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, root,
              "no image/mask pairs");

  fresh_dir(root, "nomasks"); /* images/ without masks/ */
  sub(a, root, "images");
  TU_OK(ev_mkdirs(a));
  write_image(a, "q.jpg", 5, 5, 3);
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds), EV_ERR_IO, "masks", NULL);

  fresh_dir(root, "orphan"); /* an image without its mask */
  sub(a, root, "images"), sub(b, root, "masks");
  write_pairs(a, b, "o", 2, "jpg", 6, 6);
  write_image(a, "lonely.jpg", 6, 6, 3);
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "images/lonely.jpg", "masks/lonely.png");
  fresh_dir(root, "msrab-orphan"); /* the same in MSRA-B */
  write_pairs(root, root, "m", 2, "jpg", 6, 6);
  write_image(root, "m7.jpg", 6, 6, 3);
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_MSRAB, &ds), EV_ERR_FORMAT, "m7.jpg",
              NULL);
  /* an explicit layout whose folders are missing */
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_HKUIS, &ds), EV_ERR_IO, "imgs", NULL);
}

static void test_bad_files(void **state) {
  char root[4096], a[4096], b[4096], path[4096];
  fresh_dir(root, "badfiles");
  sub(a, root, "images"), sub(b, root, "masks");
  write_pairs(a, b, "f", 6, "jpg", 10, 8);
  write_image(a, "f6.jpg", 10, 8, 3); /* f6: mask of another size */
  write_image(b, "f6.png", 12, 7, 1);
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds));
  float x[16 * 16 * 4], m[16 * 16];
  ev_clear_error();
  expect_fail(ev_dataset_check(&ds), EV_ERR_FORMAT, "12x7", "10x8");
  expect_fail(ev_sample_load(&ds.pairs[6], 16, NULL, x, m), EV_ERR_FORMAT, "f6.png", "12x7");
  ev_dataset_free(&ds);
  sub(path, b, "f6.png");
  unlink(path);
  sub(path, a, "f6.jpg");
  unlink(path);

  /* f3.jpg corrupt: named by the check, by direct loading and through the loader */
  write_text(a, "f3.jpg", "\xff\xd8\xff this is not a jpeg at all");
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds));
  expect_fail(ev_dataset_check(&ds), EV_ERR_FORMAT, "f3.jpg", NULL);
  expect_fail(ev_sample_load(&ds.pairs[3], 16, NULL, x, m), EV_ERR_FORMAT, "f3.jpg", NULL);
  ev_loader_options o = {.batch = 2, .size = 16, .threads = 2, .depth = 3};
  ev_loader *ld;
  const ev_batch *bt;
  TU_OK(ev_loader_open(&ds, &o, &ld));
  TU_OK(ev_loader_next(ld, &bt)); /* f0 f1 */
  assert_non_null(bt);
  expect_fail(ev_loader_next(ld, &bt), EV_ERR_FORMAT, "f3.jpg", NULL); /* f2 f3 */
  assert_null(bt);
  expect_fail(ev_loader_next(ld, &bt), EV_ERR_FORMAT, "f3.jpg", NULL); /* and it stays */
  ev_loader_close(ld);

  /* unreadable: a folder where the image should be */
  sub(path, a, "f3.jpg");
  unlink(path);
  TU_OK(ev_mkdirs(path));
  expect_fail(ev_sample_load(&ds.pairs[3], 16, NULL, x, m), EV_ERR_IO, "f3.jpg", NULL);
  ev_dataset_free(&ds);
}

/* Cuts `path` to its first `keep` bytes. */
static void cut_file(const char *path, size_t keep) {
  void *data;
  size_t n;
  TU_OK(ev_read_file(path, &data, &n));
  assert_true(keep < n);
  TU_OK(ev_write_file_atomic(path, data, keep));
  free(data);
}

static size_t file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (size_t)st.st_size;
}

/* The check opens every file before training: files cut short (their headers intact, so
 * only the end is missing), broken links and a dataset path that is a file are each named
 * in one sentence. A 1-epoch run could miss them (a dropped last batch); a long one would
 * stop in a later epoch. */
static void test_check_finds_every_bad_file(void **state) {
  char root[4096], a[4096], b[4096], path[4096], path2[4096];
  ev_dataset ds;
  fresh_dir(root, "check");
  sub(a, root, "images"), sub(b, root, "masks");
  int n = 4 + (int)(tu_next(&g_rng) % 5);
  int w = 24 + (int)(tu_next(&g_rng) % 16);
  write_pairs(a, b, "c", n, "jpg", w, 20);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds));
  TU_OK(ev_dataset_check(&ds));
  /* a JPEG missing its last 2..17 bytes: the header still reads, the end-of-image is gone */
  int k = (int)(tu_next(&g_rng) % (uint64_t)n);
  snprintf(path, sizeof path, "%s", ds.pairs[k].image);
  cut_file(path, file_size(path) - 2 - tu_next(&g_rng) % 16);
  expect_fail(ev_dataset_check(&ds), EV_ERR_FORMAT, path, "truncated");
  write_image(a, strrchr(path, '/') + 1, w, 20, 3);
  /* a mask PNG cut inside its data */
  k = (int)(tu_next(&g_rng) % (uint64_t)n);
  snprintf(path, sizeof path, "%s", ds.pairs[k].mask);
  size_t sz = file_size(path);
  cut_file(path, sz / 2 + tu_next(&g_rng) % (sz / 4));
  expect_fail(ev_dataset_check(&ds), EV_ERR_FORMAT, path, "truncated");
  unlink(path);
  /* ... replaced by a link to nothing: refused when the dataset is listed */
  assert_int_equal(symlink("/nonexistent/evonet-mask.png", path), 0);
  ev_dataset_free(&ds);
  expect_fail(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, path, "broken symbolic link");
  unlink(path);
  /* an image that is a link to nothing: listed (its name is an image's), refused by the check */
  char name[32];
  snprintf(name, sizeof name, "c%d.jpg", k);
  sub(path2, a, name);
  unlink(path2);
  assert_int_equal(symlink("gone.jpg", path2), 0);
  write_image(b, strrchr(path, '/') + 1, w, 20, 1);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds));
  expect_fail(ev_dataset_check(&ds), EV_ERR_IO, path2, "broken symbolic link (to gone.jpg)");
  ev_dataset_free(&ds);
  /* a dataset path that is a regular file, not a folder */
  sub(path, root, "data.txt");
  write_text(root, "data.txt", "not a dataset");
  expect_fail(ev_dataset_open(path, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_IO, path, "is a regular file, not a folder");
}

/* The built-in dataset passes the check, and quickly (the time is printed). */
static void test_check_builtin_dataset(void **state) {
  char root[4096];
  snprintf(root, sizeof root, "%s/assets/data/default", getenv("EVONET_SOURCE_DIR"));
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds));
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  TU_OK(ev_dataset_check(&ds));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  print_message("  checked %zu pairs in %.3f s\n", ds.n, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
  ev_dataset_free(&ds);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_layout_names),
      cmocka_unit_test(test_generic_split_folders),
      cmocka_unit_test(test_generic_flat_with_list),
      cmocka_unit_test(test_msrab),
      cmocka_unit_test(test_hkuis),
      cmocka_unit_test(test_duts),
      cmocka_unit_test(test_normalisation_exact_size),
      cmocka_unit_test(test_crop_is_exact_subimage),
      cmocka_unit_test(test_flip_mirrors),
      cmocka_unit_test(test_aug_draw),
      cmocka_unit_test(test_colour_change),
      cmocka_unit_test(test_epoch_order),
      cmocka_unit_test(test_batch_shapes),
      cmocka_unit_test(test_loader_matches_direct),
      cmocka_unit_test(test_png_roundtrip),
      cmocka_unit_test(test_bad_folders),
      cmocka_unit_test(test_bad_files),
      cmocka_unit_test(test_hostile_images),
      cmocka_unit_test(test_check_finds_every_bad_file),
      cmocka_unit_test(test_check_builtin_dataset),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
