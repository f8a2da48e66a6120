/* Classification sets: IDX (raw and gzip), CIFAR-10 and ImageFolder readers, splits,
 * normalisation, the shift/flip augmentation, batches with labels (direct and through the
 * loader), detection, ev_dataset_resolve and every bad file, on files of random content
 * written at test time into a temp folder. No GPU. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <stb/stb_image_write.h>

#include "data/dataset_internal.h"
#include "evonet/data.h"
#include "evonet/io.h"
#include "testutil.h"

static const float k_mean[3] = {0.485f, 0.456f, 0.406f};
static const float k_std[3] = {0.229f, 0.224f, 0.225f};

/* ---------------- fixtures ---------------- */
static uint64_t g_rng;
static char g_tmp[256];


static int group_setup(void **state) {
  g_rng = tu_seed() ^ 0xc1a55e5;
  snprintf(g_tmp, sizeof g_tmp, "/tmp/evonet-test-classes-XXXXXX");
  return mkdtemp(g_tmp) ? 0 : -1;
}

static int group_teardown(void **state) {
  tu_rm_rf(g_tmp);
  return 0;
}

static char *fresh_dir(char *out, const char *name) { return tu_fresh_dir(g_tmp, name, out); }

static void sub(char *out, const char *a, const char *b) { ev_path_join(out, 4096, a, b); }

/* Random bytes 1..255: never zero, so a pixel read from the wrong place or left out shows. */
static uint8_t *random_bytes(size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  assert_non_null(p);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(1 + tu_next(&g_rng) % 255);
  return p;
}

/* Writes data to dir/name, gzip-compressed when the name ends in .gz. */
static void write_bytes(const char *dir, const char *name, const void *data, size_t size) {
  char path[4096];
  sub(path, dir, name);
  size_t len = strlen(name);
  if (len > 3 && strcmp(name + len - 3, ".gz") == 0) {
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzwrite(f, data, (unsigned)size), (int)size);
    assert_int_equal(gzclose(f), Z_OK);
  } else {
    TU_OK(ev_write_file_atomic(path, data, size));
  }
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Tampering with an IDX file as it is written. */
typedef struct {
  uint32_t img_magic, lab_magic; /* 0: the right one */
  int64_t img_count, lab_count;  /* header counts; -1: the true one */
  int extra_img, extra_lab;      /* bytes past the end (negative: cut) */
  int bad_label_at;              /* sample whose label is 10; -1: none */
} idx_tamper;
#define IDX_OK ((idx_tamper){0, 0, -1, -1, 0, 0, -1})

/* One IDX pair ROOT/<prefix>-{images-idx3,labels-idx1}-ubyte<ext> of n random h×w images.
 * pix (n*h*w) and lab (n) receive the content when not NULL. */
static void write_idx(const char *root, const char *prefix, const char *ext, int n, int h, int w,
                      idx_tamper t, uint8_t **pix, int32_t **lab) {
  size_t px = (size_t)n * h * w;
  size_t isize = 16 + px + (t.extra_img > 0 ? t.extra_img : 0);
  uint8_t *img = calloc(isize, 1), *lb = calloc(8 + (size_t)n + 8, 1);
  assert_true(img && lb);
  put_be32(img, t.img_magic ? t.img_magic : 0x803);
  put_be32(img + 4, t.img_count >= 0 ? (uint32_t)t.img_count : (uint32_t)n);
  put_be32(img + 8, (uint32_t)h);
  put_be32(img + 12, (uint32_t)w);
  uint8_t *p = random_bytes(px);
  memcpy(img + 16, p, px);
  for (size_t i = 16 + px; i < isize; i++) img[i] = 7;
  put_be32(lb, t.lab_magic ? t.lab_magic : 0x801);
  put_be32(lb + 4, t.lab_count >= 0 ? (uint32_t)t.lab_count : (uint32_t)n);
  int32_t *l = malloc(((size_t)n + 1) * sizeof *l);
  for (int i = 0; i < n; i++) {
    l[i] = (int32_t)(tu_next(&g_rng) % 10);
    if (i == t.bad_label_at) l[i] = 10;
    lb[8 + i] = (uint8_t)l[i];
  }
  size_t lsize = 8 + (size_t)n + t.extra_lab;
  char name[256];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, ext);
  write_bytes(root, name, img, t.extra_img < 0 ? isize + t.extra_img : isize);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, ext);
  write_bytes(root, name, lb, lsize);
  if (pix) *pix = p;
  else free(p);
  if (lab) *lab = l;
  else free(l);
  free(img), free(lb);
}

/* Expects a failure `code` whose message contains `needle` (and needle2 when set). */
static void expect_fail(ev_status s, ev_status code, const char *needle, const char *needle2) {
  if (s != code)
    fail_msg("expected %s, got %s: %s", ev_status_name(code), ev_status_name(s), ev_last_error());
  if (!strstr(ev_last_error(), needle) || (needle2 && !strstr(ev_last_error(), needle2)))
    fail_msg("message \"%s\" should name \"%s\"%s%s", ev_last_error(), needle,
             needle2 ? " and " : "", needle2 ? needle2 : "");
  if (strchr(ev_last_error(), '\n')) fail_msg("message \"%s\" is not one line", ev_last_error());
  print_message("  rejected: %s\n", ev_last_error());
  ev_clear_error();
}

/* Expected normalised value of v in channel k of cs. */
static float norm(const ev_class_set *cs, int k, float v) { return (v / 255.0f - cs->mean[k]) / cs->std[k]; }

/* Reference of ev_class_sample for an image already S×S, c channels (HWC uint8). */
static void ref_sample(const ev_class_set *cs, const uint8_t *img, int S, int c, ev_class_aug a, float *x) {
  for (int y = 0; y < S; y++)
    for (int xo = 0; xo < S; xo++) {
      int sx = (a.flip ? S - 1 - xo : xo) + a.dx, sy = y + a.dy;
      int in = sx >= 0 && sx < S && sy >= 0 && sy < S;
      for (int k = 0; k < 4; k++)
        x[((size_t)y * S + xo) * 4 + k] =
            k < c ? norm(cs, k, in ? (float)img[((size_t)sy * S + sx) * c + k] : 0.0f) : 0.0f;
    }
}

static void assert_floats_near(const float *a, const float *b, size_t n, float tol) {
  for (size_t i = 0; i < n; i++)
    if (!(fabsf(a[i] - b[i]) <= tol)) fail_msg("element %zu: %.8g, expected %.8g", i, a[i], b[i]);
}

/* Mean and std of v/255 over n bytes at stride c, offset k. */
static void ref_stats(const uint8_t *p, size_t n, int c, int k, double *mean, double *std_) {
  double s1 = 0, s2 = 0;
  for (size_t i = 0; i < n; i++) {
    double v = p[i * c + k] / 255.0;
    s1 += v, s2 += v * v;
  }
  *mean = s1 / n;
  *std_ = sqrt(s2 / n - *mean * *mean);
}

/* ---------------- IDX ---------------- */
enum { IDX_TR = 25, IDX_TE = 7, IDX_S = 8 };

static void check_idx_set(const char *root, const uint8_t *tr_pix, const int32_t *tr_lab,
                          const uint8_t *te_pix, const int32_t *te_lab) {
  const size_t px = IDX_S * IDX_S, n_val = IDX_TR / 12;
  const struct { const char *split; size_t n, first_tr, n_tr; } cases[] = {
      {"train", IDX_TR - n_val, 0, IDX_TR - n_val},
      {"val", n_val, IDX_TR - n_val, n_val},
      {"valid", n_val, IDX_TR - n_val, n_val},
      {"test", IDX_TE, 0, 0},
      {"all", IDX_TR + IDX_TE, 0, IDX_TR},
  };
  double mean, sd;
  ref_stats(tr_pix, IDX_TR * px, 1, 0, &mean, &sd);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    ev_dataset ds;
    TU_OK(ev_dataset_open(root, cases[c].split, EV_LAYOUT_AUTO, &ds));
    assert_int_equal(ds.layout, EV_LAYOUT_IDX);
    assert_true(ev_dataset_is_classes(&ds));
    assert_null(ds.pairs);
    assert_int_equal(ds.n, cases[c].n);
    const ev_class_set *cs = ds.cls;
    assert_int_equal(cs->classes, 10);
    assert_int_equal(cs->h, IDX_S), assert_int_equal(cs->w, IDX_S);
    assert_int_equal(cs->channels, 1);
    assert_int_equal(cs->crop_pad, 2), assert_int_equal(cs->flip, 0); /* digits do not mirror */
    assert_null(cs->paths);
    assert_string_equal(cs->class_names[3], "3");
    assert_string_equal(cs->source, "idx");
    /* statistics of the whole training file, whatever the split */
    assert_true(fabs(cs->mean[0] - mean) < 1e-6 && fabs(cs->std[0] - sd) < 1e-6);
    for (size_t i = 0; i < ds.n; i++) {
      bool from_tr = i < cases[c].n_tr;
      const uint8_t *want = from_tr ? tr_pix + (cases[c].first_tr + i) * px
                                    : te_pix + (i - cases[c].n_tr) * px;
      int32_t want_lab = from_tr ? tr_lab[cases[c].first_tr + i] : te_lab[i - cases[c].n_tr];
      assert_memory_equal(cs->pixels + i * px, want, px);
      assert_int_equal(cs->labels[i], want_lab);
    }
    TU_OK(ev_dataset_check(&ds));
    ev_dataset_free(&ds);
    assert_null(ds.cls);
  }
}

static void test_idx_raw_and_gzip(void **state) {
  char raw[4096], gz[4096];
  fresh_dir(raw, "idx-raw");
  uint8_t *tr_pix, *te_pix;
  int32_t *tr_lab, *te_lab;
  write_idx(raw, "train", "", IDX_TR, IDX_S, IDX_S, IDX_OK, &tr_pix, &tr_lab);
  write_idx(raw, "t10k", "", IDX_TE, IDX_S, IDX_S, IDX_OK, &te_pix, &te_lab);
  check_idx_set(raw, tr_pix, tr_lab, te_pix, te_lab);

  /* the same content gzipped reads the same */
  fresh_dir(gz, "idx-gz");
  char src[4096], dst[4096];
  const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  for (int i = 0; i < 4; i++) {
    void *data;
    size_t size;
    TU_OK(ev_read_file(ev_path_join(src, sizeof src, raw, names[i]), &data, &size));
    snprintf(dst, sizeof dst, "%s.gz", names[i]);
    write_bytes(gz, dst, data, size);
    free(data);
  }
  check_idx_set(gz, tr_pix, tr_lab, te_pix, te_lab);
  free(tr_pix), free(tr_lab), free(te_pix), free(te_lab);
}

static void test_idx_names_and_sources(void **state) {
  char root[4096];
  ev_dataset ds;
  fresh_dir(root, "my-Fashion-MNIST-copy");
  write_idx(root, "train", ".gz", 13, 4, 4, IDX_OK, NULL, NULL);
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_IDX, &ds));
  assert_string_equal(ds.cls->source, "fashion-mnist");
  assert_string_equal(ds.cls->class_names[0], "T-shirt/top");
  assert_string_equal(ds.cls->class_names[9], "Ankle boot");
  assert_int_equal(ds.cls->flip, 1); /* clothes mirror */
  assert_int_equal(ds.n, 12);
  ev_dataset_free(&ds);
  fresh_dir(root, "mnist-digits");
  write_idx(root, "train", "", 13, 4, 4, IDX_OK, NULL, NULL);
  TU_OK(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds));
  assert_string_equal(ds.cls->source, "mnist");
  assert_string_equal(ds.cls->class_names[9], "9");
  assert_int_equal(ds.n, 1);
  ev_dataset_free(&ds);
  /* without t10k files train and val open; test says what is missing */
  expect_fail(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds), EV_ERR_IO,
              "t10k-images-idx3-ubyte", NULL);
  /* too few for a val split: no images, said as such */
  fresh_dir(root, "idx-tiny");
  write_idx(root, "train", "", 5, 4, 4, IDX_OK, NULL, NULL);
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, root, "no images");
}

/* ---------------- samples and augmentation ---------------- */
static void test_idx_samples(void **state) {
  char root[4096];
  fresh_dir(root, "idx-samples");
  uint8_t *pix;
  write_idx(root, "train", "", IDX_TR, IDX_S, IDX_S, IDX_OK, &pix, NULL);
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  const ev_class_set *cs = ds.cls;
  const int S = IDX_S;
  float x[IDX_S * IDX_S * 4], want[IDX_S * IDX_S * 4];
  int32_t label = -1;
  for (size_t i = 0; i < ds.n; i += 3) {
    ev_class_aug augs[] = {EV_CLASS_AUG_NONE, {1, 0, 0}, {-2, 1, 0}, {0, 0, 1}, {2, -2, 1},
                           ev_class_aug_draw(cs, 5, 1, i)};
    for (size_t a = 0; a < sizeof augs / sizeof *augs; a++) {
      TU_OK(ev_class_sample(cs, i, S, &augs[a], x, &label));
      ref_sample(cs, pix + i * S * S, S, 1, augs[a], want);
      assert_floats_near(x, want, (size_t)S * S * 4, 1e-6f);
      assert_int_equal(label, cs->labels[i]);
    }
    TU_OK(ev_class_sample(cs, i, S, NULL, x, NULL)); /* NULL aug: none */
    ref_sample(cs, pix + i * S * S, S, 1, EV_CLASS_AUG_NONE, want);
    assert_floats_near(x, want, (size_t)S * S * 4, 1e-6f);
  }
  /* a zero-padded pixel is -mean/std: shifted by a whole side, everything is padding */
  ev_class_aug away = {S, 0, 0};
  TU_OK(ev_class_sample(cs, 0, S, &away, x, NULL));
  for (int p = 0; p < S * S; p++) assert_true(fabsf(x[4 * p] + cs->mean[0] / cs->std[0]) < 1e-6f);

  /* another size: the image resized with ev_resample_u8, then normalised */
  const int S2 = 13;
  float big[13 * 13 * 4], tmp[13 * 13];
  ev_resample_u8(pix + 4 * S * S, S, S, 1, 0, 0, (float)S, (float)S, S2, S2, tmp);
  TU_OK(ev_class_sample(cs, 4, S2, NULL, big, NULL));
  for (int p = 0; p < S2 * S2; p++) {
    assert_true(fabsf(big[4 * p] - norm(cs, 0, tmp[p])) < 1e-5f);
    assert_true(big[4 * p + 1] == 0.0f && big[4 * p + 2] == 0.0f && big[4 * p + 3] == 0.0f);
  }
  /* figures: grey repeated, un-normalised */
  uint8_t rgb[IDX_S * IDX_S * 3];
  TU_OK(ev_class_sample_rgb8(cs, 2, S, rgb));
  for (int p = 0; p < S * S; p++)
    for (int k = 0; k < 3; k++) assert_int_equal(rgb[3 * p + k], pix[2 * S * S + p]);
  ev_dataset_free(&ds);
  free(pix);
}

static void test_aug_draw(void **state) {
  ev_class_set cs = {.crop_pad = 3, .flip = 1};
  int seen_dx[7] = {0}, seen_dy[7] = {0}, flips[2] = {0};
  for (size_t i = 0; i < 2000; i++) {
    ev_class_aug a = ev_class_aug_draw(&cs, 42, 3, i), b = ev_class_aug_draw(&cs, 42, 3, i);
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(a.dx >= -3 && a.dx <= 3 && a.dy >= -3 && a.dy <= 3);
    assert_true(a.flip == 0 || a.flip == 1);
    seen_dx[a.dx + 3]++, seen_dy[a.dy + 3]++, flips[a.flip]++;
    /* the documented formula */
    uint64_t h = ds_mix(ds_mix(ds_mix(42) ^ 3u) ^ (uint64_t)i);
    assert_int_equal(a.dx, (int)(ds_mix(h ^ 11) % 7) - 3);
    assert_int_equal(a.dy, (int)(ds_mix(h ^ 12) % 7) - 3);
    assert_int_equal(a.flip, (int)(ds_mix(h ^ 13) >> 63));
  }
  for (int k = 0; k < 7; k++) assert_true(seen_dx[k] > 150 && seen_dy[k] > 150);
  assert_true(flips[0] > 800 && flips[1] > 800);
  /* other epochs and seeds draw otherwise */
  int differ = 0;
  for (size_t i = 0; i < 50; i++) {
    ev_class_aug a = ev_class_aug_draw(&cs, 42, 3, i), b = ev_class_aug_draw(&cs, 42, 4, i),
                 c = ev_class_aug_draw(&cs, 43, 3, i);
    differ += memcmp(&a, &b, sizeof a) != 0 && memcmp(&a, &c, sizeof a) != 0;
  }
  assert_true(differ > 40);
  cs.flip = 0, cs.crop_pad = 0;
  for (size_t i = 0; i < 200; i++) {
    ev_class_aug a = ev_class_aug_draw(&cs, 1, 0, i);
    assert_true(a.dx == 0 && a.dy == 0 && a.flip == 0);
  }
}

/* ---------------- batches ---------------- */
/* Every batch of two epochs: ev_batch_load against per-sample ev_class_sample, and the
 * threaded loader against ev_batch_load. */
static void check_batches(const ev_dataset *ds, ev_loader_options o) {
  const int S = o.size;
  const size_t px = (size_t)S * S;
  size_t per = ev_batches_per_epoch(ds, &o);
  ev_batch b, c;
  TU_OK(ev_batch_alloc(&b, o.batch, S));
  assert_non_null(b.labels);
  float *x = malloc(px * 4 * sizeof *x);
  size_t *order = malloc(ds->n * sizeof *order);
  ev_class_set pad = *ds->cls;
  pad.crop_pad = ds->cls->pixels ? ds->cls->crop_pad : S / 8;
  for (int64_t e = o.first_epoch; e < o.first_epoch + 2; e++) {
    ev_epoch_order(ds->n, o.seed, e, o.shuffle, order);
    for (size_t st = 0; st < per; st++) {
      TU_OK(ev_batch_load(ds, &o, e, st, &b));
      for (int i = 0; i < b.cap; i++) {
        if (i >= b.n) { /* zeros past n */
          assert_int_equal(b.labels[i], 0);
          assert_int_equal(b.index[i], 0);
          for (size_t k = 0; k < px * 4; k++) assert_true(b.images[i * px * 4 + k] == 0.0f);
          continue;
        }
        size_t idx = order[st * o.batch + i];
        assert_int_equal(b.index[i], idx);
        ev_class_aug a = o.augment ? ev_class_aug_draw(&pad, o.seed, e, idx) : EV_CLASS_AUG_NONE;
        int32_t lab;
        TU_OK(ev_class_sample(ds->cls, idx, S, &a, x, &lab));
        assert_int_equal(b.labels[i], lab);
        assert_int_equal(lab, ds->cls->labels[idx]);
        assert_memory_equal(b.images + i * px * 4, x, px * 4 * sizeof *x);
      }
      for (size_t k = 0; k < px * o.batch; k++) assert_true(b.masks[k] == 0.0f);
    }
  }
  /* the loader: the same batches */
  TU_OK(ev_batch_alloc(&c, o.batch, S));
  ev_loader *ld;
  TU_OK(ev_loader_open(ds, &o, &ld));
  for (int64_t e = o.first_epoch; e < o.first_epoch + 2; e++) {
    for (size_t st = 0; st < per; st++) {
      const ev_batch *lb;
      TU_OK(ev_loader_next(ld, &lb));
      assert_non_null(lb);
      TU_OK(ev_batch_load(ds, &o, e, st, &c));
      assert_int_equal(lb->n, c.n);
      assert_memory_equal(lb->labels, c.labels, o.batch * sizeof *c.labels);
      assert_memory_equal(lb->index, c.index, o.batch * sizeof *c.index);
      assert_memory_equal(lb->images, c.images, px * 4 * o.batch * sizeof(float));
    }
    const ev_batch *end;
    TU_OK(ev_loader_next(ld, &end));
    assert_null(end);
  }
  ev_loader_close(ld);
  ev_batch_free(&c);
  ev_batch_free(&b);
  assert_null(b.labels);
  free(x), free(order);
}

static void test_idx_batches(void **state) {
  char root[4096];
  fresh_dir(root, "idx-batches");
  write_idx(root, "train", ".gz", 40, IDX_S, IDX_S, IDX_OK, NULL, NULL);
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  check_batches(&ds, (ev_loader_options){.batch = 5, .size = IDX_S, .augment = 1, .shuffle = 1,
                                         .drop_last = 1, .seed = 9, .first_epoch = 2, .threads = 2});
  /* eval: a kept partial last batch (37 = 4 × 8 + 5), another size */
  check_batches(&ds, (ev_loader_options){.batch = 8, .size = 12, .seed = 1, .threads = 3});
  ev_dataset_free(&ds);
}

/* ---------------- CIFAR-10 ---------------- */
enum { CIFAR_REC = 3073 };
static const int cifar_counts[5] = {3, 2, 4, 1, 3}; /* 13 training records: val = 1 */

/* data_batch_1..5.bin and test_batch.bin in dir; returns the HWC pixels and labels of the
 * training records then the test records. */
static void write_cifar(const char *dir, int n_test, uint8_t **pix, int32_t **lab) {
  int total = n_test;
  for (int b = 0; b < 5; b++) total += cifar_counts[b];
  *pix = malloc((size_t)total * 3072);
  *lab = malloc((size_t)total * sizeof **lab);
  int r = 0;
  char name[64];
  for (int b = 0; b <= 5; b++) {
    int m = b < 5 ? cifar_counts[b] : n_test;
    uint8_t *file = random_bytes((size_t)m * CIFAR_REC);
    for (int k = 0; k < m; k++, r++) {
      uint8_t *rec = file + (size_t)k * CIFAR_REC;
      rec[0] = (uint8_t)(tu_next(&g_rng) % 10);
      (*lab)[r] = rec[0];
      for (int i = 0; i < 1024; i++)
        for (int c = 0; c < 3; c++) (*pix)[(size_t)r * 3072 + 3 * i + c] = rec[1 + c * 1024 + i];
    }
    if (b < 5) snprintf(name, sizeof name, "data_batch_%d.bin", b + 1);
    else snprintf(name, sizeof name, "test_batch.bin");
    write_bytes(dir, name, file, (size_t)m * CIFAR_REC);
    free(file);
  }
}

static void test_cifar(void **state) {
  char root[4096], dir[4096];
  fresh_dir(root, "cifar");
  sub(dir, root, "cifar-10-batches-bin");
  TU_OK(ev_mkdirs(dir));
  uint8_t *pix;
  int32_t *lab;
  write_cifar(dir, 5, &pix, &lab);
  const size_t n_tr = 13;
  double mean[3], sd[3];
  for (int k = 0; k < 3; k++) ref_stats(pix, n_tr * 1024, 3, k, &mean[k], &sd[k]);
  const struct { const char *split; size_t n, first; } cases[] = {
      {"train", 12, 0}, {"val", 1, 12}, {"test", 5, 13}, {"all", 18, 0}};
  for (size_t c = 0; c < 4; c++) {
    ev_dataset ds;
    TU_OK(ev_dataset_open(root, cases[c].split, EV_LAYOUT_AUTO, &ds));
    assert_int_equal(ds.layout, EV_LAYOUT_CIFAR10);
    assert_int_equal(ds.n, cases[c].n);
    const ev_class_set *cs = ds.cls;
    assert_int_equal(cs->classes, 10);
    assert_string_equal(cs->class_names[0], "airplane");
    assert_string_equal(cs->class_names[9], "truck");
    assert_string_equal(cs->source, "cifar10");
    assert_int_equal(cs->channels, 3);
    assert_int_equal(cs->h, 32), assert_int_equal(cs->w, 32);
    assert_int_equal(cs->crop_pad, 4);
    for (int k = 0; k < 3; k++)
      assert_true(fabs(cs->mean[k] - mean[k]) < 1e-6 && fabs(cs->std[k] - sd[k]) < 1e-6);
    uint8_t rgb[32 * 32 * 3];
    float x[32 * 32 * 4], want[32 * 32 * 4];
    for (size_t i = 0; i < ds.n; i++) {
      const uint8_t *img = pix + (cases[c].first + i) * 3072;
      assert_memory_equal(cs->pixels + i * 3072, img, 3072);
      assert_int_equal(cs->labels[i], lab[cases[c].first + i]);
      TU_OK(ev_class_sample_rgb8(cs, i, 32, rgb));
      assert_memory_equal(rgb, img, 3072);
      ev_class_aug a = ev_class_aug_draw(cs, 3, 0, i);
      int32_t l;
      TU_OK(ev_class_sample(cs, i, 32, &a, x, &l));
      ref_sample(cs, img, 32, 3, a, want);
      assert_floats_near(x, want, 32 * 32 * 4, 1e-5f);
      assert_int_equal(l, lab[cases[c].first + i]);
    }
    if (c == 0)
      check_batches(&ds, (ev_loader_options){.batch = 4, .size = 32, .augment = 1, .shuffle = 1,
                                             .drop_last = 1, .seed = 77, .threads = 2});
    ev_dataset_free(&ds);
  }
  /* batches.meta.txt names the classes; in ROOT itself too */
  fresh_dir(root, "cifar-flat");
  free(pix), free(lab);
  write_cifar(root, 2, &pix, &lab);
  char meta[512] = "";
  for (int k = 0; k < 10; k++) snprintf(meta + strlen(meta), sizeof meta - strlen(meta), "thing %d\n", k);
  strcat(meta, "\n");
  write_bytes(root, "batches.meta.txt", meta, strlen(meta));
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_CIFAR10);
  assert_int_equal(ds.n, 2);
  assert_string_equal(ds.cls->class_names[7], "thing 7");
  ev_dataset_free(&ds);
  write_bytes(root, "batches.meta.txt", "a\nb\n", 4);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "batches.meta.txt", NULL);
  free(pix), free(lab);
}

/* ---------------- ImageFolder ---------------- */
/* ROOT/<split>/<cls>/<name> with random pixels; PNG (exact) or JPEG by extension. */
static void write_img(const char *root, const char *split, const char *cls, const char *name, int w, int h) {
  char dir[4096], path[4096];
  snprintf(dir, sizeof dir, "%s/%s/%s", root, split, cls);
  TU_OK(ev_mkdirs(dir));
  sub(path, dir, name);
  uint8_t *p = random_bytes((size_t)w * h * 3);
  if (strstr(name, ".png")) TU_OK(ev_png_write(path, p, w, h, 3));
  else assert_true(stbi_write_jpg(path, w, h, 3, p, 95));
  free(p);
}

static void make_folder(const char *root, const char *val_name) {
  write_img(root, "train", "dog", "b.png", 10, 7);
  write_img(root, "train", "dog", "a.jpg", 9, 9);
  write_img(root, "train", "cat", "z.png", 8, 8);
  write_img(root, "train", "emu", "x.png", 12, 6);
  write_img(root, "train", "emu", "y.jpeg", 6, 12);
  write_img(root, val_name, "emu", "v1.png", 7, 7);
  write_img(root, val_name, "cat", "v2.png", 8, 9);
  write_img(root, "test", "dog", "t.png", 5, 5);
}

static void test_imagefolder(void **state) {
  char root[4096], path[4096];
  fresh_dir(root, "folder");
  make_folder(root, "valid");
  write_bytes(root, "train/README.txt", "not a class", 11); /* files beside classes: ignored */
  ev_dataset ds;
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_IMAGEFOLDER);
  const ev_class_set *cs = ds.cls;
  assert_int_equal(cs->classes, 3);
  assert_string_equal(cs->class_names[0], "cat");
  assert_string_equal(cs->class_names[1], "dog");
  assert_string_equal(cs->class_names[2], "emu");
  assert_string_equal(cs->source, "imagefolder");
  assert_null(cs->pixels);
  assert_int_equal(cs->channels, 3);
  assert_int_equal(ds.n, 5);
  const char *want[] = {"train/cat/z.png", "train/dog/a.jpg", "train/dog/b.png", "train/emu/x.png",
                        "train/emu/y.jpeg"};
  const int32_t want_lab[] = {0, 1, 1, 2, 2};
  for (size_t i = 0; i < 5; i++) {
    assert_string_equal(cs->paths[i], ev_path_join(path, sizeof path, root, want[i]));
    assert_int_equal(cs->labels[i], want_lab[i]);
  }
  for (int k = 0; k < 3; k++) assert_true(cs->mean[k] == k_mean[k] && cs->std[k] == k_std[k]);
  TU_OK(ev_dataset_check(&ds));
  /* a sample: decoded, resized to S with ev_resample_u8, shifted, mirrored, normalised */
  const int S = 8;
  float x[8 * 8 * 4], ref[8 * 8 * 4], tmp[8 * 8 * 3];
  uint8_t img8[8 * 8 * 3], rgb[8 * 8 * 3];
  for (size_t i = 0; i < ds.n; i++) {
    ev_image im;
    TU_OK(ev_image_load(cs->paths[i], 3, &im));
    ev_resample_u8(im.pix, im.w, im.h, 3, 0, 0, (float)im.w, (float)im.h, S, S, tmp);
    ev_image_free(&im);
    ev_class_aug a = {(int)i % 3 - 1, 1 - (int)i % 2, (int)i % 2};
    int32_t l;
    TU_OK(ev_class_sample(cs, i, S, &a, x, &l));
    assert_int_equal(l, want_lab[i]);
    for (int y = 0; y < S; y++)
      for (int xo = 0; xo < S; xo++) {
        int sx = (a.flip ? S - 1 - xo : xo) + a.dx, sy = y + a.dy;
        int in = sx >= 0 && sx < S && sy >= 0 && sy < S;
        for (int k = 0; k < 4; k++)
          ref[(y * S + xo) * 4 + k] = k < 3 ? norm(cs, k, in ? tmp[(sy * S + sx) * 3 + k] : 0.0f) : 0.0f;
      }
    assert_floats_near(x, ref, (size_t)S * S * 4, 1e-5f);
    TU_OK(ev_class_sample_rgb8(cs, i, S, rgb));
    for (int k = 0; k < S * S * 3; k++) {
      float v = tmp[k] + 0.5f;
      img8[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    assert_memory_equal(rgb, img8, sizeof rgb);
  }
  /* batches: the shift pad is S/8 (1 at S = 8) */
  check_batches(&ds, (ev_loader_options){.batch = 2, .size = S, .augment = 1, .shuffle = 1,
                                         .drop_last = 0, .seed = 5, .threads = 2});
  ev_dataset_free(&ds);
  /* val from valid/, labels by train's classes; test; all = train, val, test */
  TU_OK(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.n, 2);
  assert_int_equal(ds.cls->labels[0], 0); /* cat/v2 */
  assert_int_equal(ds.cls->labels[1], 2); /* emu/v1 */
  assert_int_equal(ds.cls->classes, 3);
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.n, 1);
  assert_int_equal(ds.cls->labels[0], 1);
  ev_dataset_free(&ds);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_IMAGEFOLDER, &ds));
  assert_int_equal(ds.n, 8);
  assert_string_equal(ds.cls->paths[5], ev_path_join(path, sizeof path, root, "valid/cat/v2.png"));
  assert_string_equal(ds.cls->paths[7], ev_path_join(path, sizeof path, root, "test/dog/t.png"));
  ev_dataset_free(&ds);

  /* the check reads each header: a corrupt image is named, by the check and the sample */
  write_bytes(root, "train/dog/b.png", "\x89PNG\r\n\x1a\n broken", 15);
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  expect_fail(ev_dataset_check(&ds), EV_ERR_FORMAT, "b.png", NULL);
  expect_fail(ev_class_sample(ds.cls, 2, S, NULL, x, NULL), EV_ERR_FORMAT, "b.png", NULL);
  ev_dataset_free(&ds);
}

static void test_imagefolder_errors(void **state) {
  char root[4096], dir[4096];
  ev_dataset ds;
  ev_clear_error();
  fresh_dir(root, "folder-empty-class");
  make_folder(root, "val");
  sub(dir, root, "train/gnu");
  TU_OK(ev_mkdirs(dir));
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "train/gnu",
              "no images");
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "train/gnu",
              "no images");
  rmdir(dir);
  sub(dir, root, "val/emu/x");
  TU_OK(ev_mkdirs(dir)); /* a class folder of val with no images in it (only a folder) */
  tu_rm_rf(ev_path_join(dir, sizeof dir, root, "val/emu/v1.png"));
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "val/emu", "no images");
  tu_rm_rf(ev_path_join(dir, sizeof dir, root, "val/emu"));
  write_img(root, "val", "yak", "q.png", 4, 4);
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "val/yak",
              "train");
  tu_rm_rf(ev_path_join(dir, sizeof dir, root, "val"));
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_IMAGEFOLDER, &ds), EV_ERR_IO, "/val", NULL);
  TU_OK(ev_dataset_open(root, NULL, EV_LAYOUT_AUTO, &ds)); /* all: the splits there are */
  assert_int_equal(ds.n, 6);
  ev_dataset_free(&ds);
  /* one class is no classification */
  fresh_dir(root, "folder-one-class");
  write_img(root, "train", "only", "a.png", 4, 4);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "train", "2");
  /* no train folder: the split's own folders are the classes */
  fresh_dir(root, "folder-test-only");
  write_img(root, "test", "a", "1.png", 4, 4);
  write_img(root, "test", "b", "2.png", 4, 4);
  TU_OK(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_IMAGEFOLDER);
  assert_int_equal(ds.n, 2);
  assert_int_equal(ds.cls->classes, 2);
  ev_dataset_free(&ds);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_IO, "train", NULL);
}

/* ---------------- layouts, detection, names ---------------- */
static void test_layout_names_and_detection(void **state) {
  ev_layout l;
  TU_OK(ev_layout_from_name("IDX", &l));
  assert_int_equal(l, EV_LAYOUT_IDX);
  TU_OK(ev_layout_from_name("cifar-10", &l));
  assert_int_equal(l, EV_LAYOUT_CIFAR10);
  TU_OK(ev_layout_from_name("image_folder", &l));
  assert_int_equal(l, EV_LAYOUT_IMAGEFOLDER);
  assert_string_equal(ev_layout_name(EV_LAYOUT_CIFAR10), "cifar10");
  assert_string_equal(ev_layout_name(EV_LAYOUT_IMAGEFOLDER), "imagefolder");
  ev_clear_error();
  expect_fail(ev_layout_from_name("coco", &l), EV_ERR_ARG, "coco", "imagefolder");

  /* the generic layout's split folders are still generic, not an ImageFolder */
  char root[4096], a[4096], mp[4096];
  ev_dataset ds;
  fresh_dir(root, "generic-split");
  write_img(root, "train", "images", "s.png", 4, 4);
  sub(a, root, "train/masks");
  TU_OK(ev_mkdirs(a));
  uint8_t m[16] = {1};
  TU_OK(ev_png_write(ev_path_join(mp, sizeof mp, a, "s.png"), m, 4, 4, 1));
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  assert_int_equal(ds.layout, EV_LAYOUT_GENERIC);
  assert_null(ds.cls);
  assert_int_equal(ds.n, 1);
  ev_dataset_free(&ds);
  /* nothing recognisable: the message lists the classification layouts too */
  fresh_dir(root, "unknown");
  write_bytes(root, "notes.txt", "x", 1);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, root,
              "data_batch_1.bin");
  /* an explicit classification layout on the wrong folder says what is missing */
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_IDX, &ds), EV_ERR_IO,
              "train-images-idx3-ubyte", NULL);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_CIFAR10, &ds), EV_ERR_IO,
              "data_batch_1.bin", NULL);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_IMAGEFOLDER, &ds), EV_ERR_IO, "train", NULL);
}

static void test_resolve(void **state) {
  char buf[4096];
  const char *out;
  TU_OK(ev_dataset_resolve("some/folder", buf, sizeof buf, &out));
  assert_string_equal(out, "some/folder");
  const char *fm = "/usr/share/datasets/fashion-mnist";
  struct stat st;
  ev_clear_error();
  if (stat(fm, &st) == 0) {
    TU_OK(ev_dataset_resolve("fashion-mnist", buf, sizeof buf, &out));
    assert_string_equal(out, fm);
    /* the installed package opens by its name (55,000 / 5,000 / 10,000) */
    ev_dataset ds;
    TU_OK(ev_dataset_open("fashion-mnist", "val", EV_LAYOUT_AUTO, &ds));
    assert_int_equal(ds.layout, EV_LAYOUT_IDX);
    assert_int_equal(ds.n, 5000);
    assert_string_equal(ds.cls->source, "fashion-mnist");
    assert_true(fabsf(ds.cls->mean[0] - 0.2860f) < 1e-3f && fabsf(ds.cls->std[0] - 0.3530f) < 1e-3f);
    ev_dataset_free(&ds);
  } else {
    expect_fail(ev_dataset_resolve("fashion-mnist", buf, sizeof buf, &out), EV_ERR_IO,
                "dataset-fashion-mnist", fm);
  }
  if (stat("/usr/share/datasets/mnist", &st) != 0) {
    ev_dataset ds;
    expect_fail(ev_dataset_open("mnist", "train", EV_LAYOUT_AUTO, &ds), EV_ERR_IO,
                "/usr/share/datasets/mnist", "dataset-fashion-mnist");
  }
}

/* ---------------- bad files ---------------- */
static void test_idx_errors(void **state) {
  char root[4096];
  ev_dataset ds;
  ev_clear_error();
  const struct {
    idx_tamper t;
    const char *ext, *file, *needle;
  } cases[] = {
      {{0x804, 0, -1, -1, 0, 0, -1}, "", "train-images-idx3-ubyte", "magic"},
      {{0, 0x803, -1, -1, 0, 0, -1}, ".gz", "train-labels-idx1-ubyte.gz", "magic"},
      {{0, 0, -1, -1, -5, 0, -1}, "", "train-images-idx3-ubyte", "truncated"},
      {{0, 0, -1, -1, 3, 0, -1}, ".gz", "train-images-idx3-ubyte.gz", "past"},
      {{0, 0, -1, -1, 0, -1, -1}, "", "train-labels-idx1-ubyte", "truncated"},
      {{0, 0, -1, -1, 0, 2, -1}, "", "train-labels-idx1-ubyte", "past"},
      {{0, 0, 0xffffffffu, -1, 0, 0, -1}, "", "train-images-idx3-ubyte", "truncated"},
      {{0, 0, 14, -1, -16 * 2, 0, -1}, "", "train-labels-idx1-ubyte", "14 images"},
      {{0, 0, -1, -1, 0, 0, 9}, ".gz", "train-labels-idx1-ubyte.gz", "sample 9"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    fresh_dir(root, "idx-bad");
    write_idx(root, "train", cases[c].ext, 16, 4, 4, cases[c].t, NULL, NULL);
    expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, cases[c].file,
                cases[c].needle);
  }
  /* a cut gzip stream */
  fresh_dir(root, "idx-cut-gz");
  write_idx(root, "train", ".gz", 16, 4, 4, IDX_OK, NULL, NULL);
  char path[4096];
  sub(path, root, "train-images-idx3-ubyte.gz");
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(truncate(path, st.st_size - 12), 0);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "train-images-idx3-ubyte.gz", "gzip");
  assert_int_equal(truncate(path, st.st_size - 3), 0); /* grown back with zeros: a wrong check */
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "train-images-idx3-ubyte.gz", "gzip");
  TU_OK(ev_write_file_atomic(path, "\x1f\x8b\x08\0garbage-garbage", 19)); /* not deflate */
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "train-images-idx3-ubyte.gz", "gzip");
  /* a file shorter than its header; test and train of other sizes; labels missing */
  fresh_dir(root, "idx-short");
  write_idx(root, "train", "", 16, 4, 4, IDX_OK, NULL, NULL);
  write_bytes(root, "train-images-idx3-ubyte", "\0\0\x08\x03", 4);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "train-images-idx3-ubyte", "truncated");
  fresh_dir(root, "idx-sizes");
  write_idx(root, "train", "", 16, 4, 4, IDX_OK, NULL, NULL);
  write_idx(root, "t10k", "", 3, 5, 4, IDX_OK, NULL, NULL);
  expect_fail(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT,
              "t10k-images-idx3-ubyte", "4x5");
  sub(path, root, "train-labels-idx1-ubyte");
  unlink(path);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_IDX, &ds), EV_ERR_IO,
              "train-labels-idx1-ubyte", NULL);
}

static void test_cifar_errors(void **state) {
  char root[4096], path[4096];
  ev_dataset ds;
  uint8_t *pix;
  int32_t *lab;
  ev_clear_error();
  fresh_dir(root, "cifar-bad");
  write_cifar(root, 2, &pix, &lab);
  free(pix), free(lab);
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  TU_OK(ev_dataset_check(&ds));
  ev_dataset_free(&ds);
  /* not a whole number of records: one byte short, one byte over */
  sub(path, root, "data_batch_2.bin");
  assert_int_equal(truncate(path, 2 * CIFAR_REC - 1), 0);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "data_batch_2.bin",
              "3073");
  assert_int_equal(truncate(path, 2 * CIFAR_REC + 1), 0);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "data_batch_2.bin",
              "3073");
  assert_int_equal(truncate(path, 0), 0);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "data_batch_2.bin",
              NULL);
  /* a label outside the ten classes, named with its record */
  uint8_t *rec = random_bytes(2 * CIFAR_REC);
  rec[0] = 3, rec[CIFAR_REC] = 10;
  write_bytes(root, "data_batch_2.bin", rec, 2 * CIFAR_REC);
  free(rec);
  expect_fail(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds), EV_ERR_FORMAT, "data_batch_2.bin",
              "record 1");
  /* a missing batch, and a missing test batch only for test */
  unlink(path);
  expect_fail(ev_dataset_open(root, "val", EV_LAYOUT_CIFAR10, &ds), EV_ERR_IO, "data_batch_2.bin", NULL);
  fresh_dir(root, "cifar-no-test");
  write_cifar(root, 1, &pix, &lab);
  free(pix), free(lab);
  sub(path, root, "test_batch.bin");
  unlink(path);
  TU_OK(ev_dataset_open(root, "train", EV_LAYOUT_AUTO, &ds));
  ev_dataset_free(&ds);
  expect_fail(ev_dataset_open(root, "test", EV_LAYOUT_AUTO, &ds), EV_ERR_IO, "test_batch.bin", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_idx_raw_and_gzip),
      cmocka_unit_test(test_idx_names_and_sources),
      cmocka_unit_test(test_idx_samples),
      cmocka_unit_test(test_aug_draw),
      cmocka_unit_test(test_idx_batches),
      cmocka_unit_test(test_cifar),
      cmocka_unit_test(test_imagefolder),
      cmocka_unit_test(test_imagefolder_errors),
      cmocka_unit_test(test_layout_names_and_detection),
      cmocka_unit_test(test_resolve),
      cmocka_unit_test(test_idx_errors),
      cmocka_unit_test(test_cifar_errors),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
