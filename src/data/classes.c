/* Classification sets, shared part: whole-file reads (gzip or not), splits, normalisation
 * statistics, the shift/flip augmentation and one sample as network input. The readers of
 * each layout are classes_idx.c, classes_cifar.c and classes_folder.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/dataset_internal.h"

/* ---------------- files ---------------- */
/* zlib's reason, without the "path: " it puts in front (the message names the file once). */
static const char *zlib_why(gzFile f, const char *path, int *zerr) {
  const char *why = gzerror(f, zerr);
  size_t n = strlen(path);
  return strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0 ? why + n + 2 : why;
}

ev_status ds_read_whole(const char *path, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  struct stat st;
  if (stat(path, &st) != 0) return ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return ev_fail(EV_ERR_IO, "cannot read %s: not a regular file", path);
  if ((uint64_t)st.st_size > DS_CLASS_FILE_MAX)
    return ev_fail(EV_ERR_FORMAT, "%s is %lld bytes, more than the %zu a dataset file may have",
                   path, (long long)st.st_size, DS_CLASS_FILE_MAX);
  gzFile f = gzopen(path, "rb");
  if (!f) return ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  gzbuffer(f, 1u << 17);
  /* a raw file is read as it is (its size is known); a gzip one grows from 4x its size */
  size_t cap = (size_t)st.st_size + 1, n = 0;
  size_t name_len = strlen(path);
  if (name_len > 3 && strcmp(path + name_len - 3, ".gz") == 0) cap = cap * 4;
  if (cap > DS_CLASS_FILE_MAX + 1) cap = DS_CLASS_FILE_MAX + 1;
  uint8_t *buf = malloc(cap);
  ev_status s = buf ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  while (s == EV_OK) {
    if (n == cap) {
      if (cap > DS_CLASS_FILE_MAX) {
        s = ev_fail(EV_ERR_FORMAT, "%s decompresses to more than %zu bytes, more than a dataset "
                                   "file may have", path, DS_CLASS_FILE_MAX);
        break;
      }
      size_t ncap = cap * 2 > DS_CLASS_FILE_MAX + 1 ? DS_CLASS_FILE_MAX + 1 : cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        s = ev_fail(EV_ERR_OOM, "out of memory reading %s (%zu bytes)", path, ncap);
        break;
      }
      buf = nb, cap = ncap;
    }
    size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
    int got = gzread(f, buf + n, (unsigned)want);
    if (got < 0) {
      int zerr;
      const char *why = zlib_why(f, path, &zerr);
      s = zerr == Z_ERRNO ? ev_fail(EV_ERR_IO, "cannot read %s: %s", path, strerror(errno))
                          : ev_fail(EV_ERR_FORMAT, "%s is a corrupt or truncated gzip file (%s)", path, why);
      break;
    }
    if (got == 0) {
      /* zlib returns what it could of a stream that ends early, then 0 with Z_BUF_ERROR */
      int zerr;
      const char *why = zlib_why(f, path, &zerr);
      if (zerr != Z_OK)
        s = ev_fail(EV_ERR_FORMAT, "%s is a truncated gzip file (%s)", path, why);
      break;
    }
    n += (size_t)got;
  }
  gzclose_r(f);
  if (s != EV_OK) {
    free(buf);
    return s;
  }
  buf[n] = 0; /* n < cap here: a text file reads as a C string */
  *data = buf;
  *size = n;
  return EV_OK;
}

/* ---------------- statistics and splits ---------------- */
void ds_class_stats(const uint8_t *pix, size_t n, int c, float mean[3], float std_[3]) {
  uint64_t hist[3][256] = {{0}};
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < c; k++) hist[k][pix[i * (size_t)c + k]]++;
  for (int k = 0; k < 3; k++) {
    mean[k] = 0.0f, std_[k] = 1.0f;
    if (k >= c || n == 0) continue;
    double s1 = 0, s2 = 0;
    for (int v = 0; v < 256; v++) {
      double x = v / 255.0;
      s1 += (double)hist[k][v] * x;
      s2 += (double)hist[k][v] * x * x;
    }
    double m = s1 / (double)n, var = s2 / (double)n - m * m;
    mean[k] = (float)m;
    /* a constant channel would divide by zero: keep it at 1 */
    std_[k] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
  }
}

ev_status ds_class_take(ev_class_set *cs, ds_split split, const uint8_t *tr_pix,
                        const int32_t *tr_lab, size_t n_tr, const uint8_t *te_pix,
                        const int32_t *te_lab, size_t n_te, size_t *n_out) {
  size_t n_val = n_tr / 12;
  /* up to two ranges: [a0, a0 + na) of the training file, then [0, nb) of the test file */
  size_t a0 = 0, na = 0, nb = 0;
  switch (split) {
  case DS_SPLIT_TRAIN: na = n_tr - n_val; break;
  case DS_SPLIT_VAL: a0 = n_tr - n_val, na = n_val; break;
  case DS_SPLIT_TEST: nb = n_te; break;
  case DS_SPLIT_ALL: na = n_tr, nb = n_te; break;
  }
  size_t px = (size_t)cs->h * cs->w * cs->channels, n = na + nb;
  cs->pixels = malloc((n ? n : 1) * px);
  cs->labels = malloc((n ? n : 1) * sizeof *cs->labels);
  if (!cs->pixels || !cs->labels)
    return ev_fail(EV_ERR_OOM, "out of memory for %zu images of %dx%d", n, cs->w, cs->h);
  if (na) {
    memcpy(cs->pixels, tr_pix + a0 * px, na * px);
    memcpy(cs->labels, tr_lab + a0, na * sizeof *cs->labels);
  }
  if (nb) {
    memcpy(cs->pixels + na * px, te_pix, nb * px);
    memcpy(cs->labels + na, te_lab, nb * sizeof *cs->labels);
  }
  *n_out = n;
  return EV_OK;
}

ev_status ds_class_names(ev_class_set *cs, const char *const *names, int count, const char *what) {
  cs->class_names = calloc((size_t)count, sizeof *cs->class_names);
  if (!cs->class_names) return ev_fail(EV_ERR_OOM, "out of memory for the classes of %s", what);
  cs->classes = count; /* set first so that a failure below frees what was made */
  for (int i = 0; i < count; i++)
    if (!(cs->class_names[i] = strdup(names[i])))
      return ev_fail(EV_ERR_OOM, "out of memory for the classes of %s", what);
  return EV_OK;
}

void ds_class_set_free(ev_class_set *cs, size_t n) {
  if (!cs) return;
  if (cs->class_names)
    for (int i = 0; i < cs->classes; i++) free(cs->class_names[i]);
  if (cs->paths)
    for (size_t i = 0; i < n; i++) free(cs->paths[i]);
  free(cs->class_names);
  free(cs->paths);
  free(cs->pixels);
  free(cs->labels);
  free(cs);
}

int ds_class_pad(const ev_class_set *cs, int S) { return cs->pixels ? cs->crop_pad : S / 8; }

/* ---------------- augmentation and samples ---------------- */
ev_class_aug ev_class_aug_draw(const ev_class_set *cs, uint64_t seed, int64_t epoch, size_t index) {
  uint64_t h = ds_mix(ds_mix(ds_mix(seed) ^ (uint64_t)epoch) ^ (uint64_t)index);
  uint64_t span = 2 * (uint64_t)(cs->crop_pad > 0 ? cs->crop_pad : 0) + 1;
  int pad = (int)(span / 2);
  return (ev_class_aug){
      .dx = (int)(ds_mix(h ^ 11) % span) - pad,
      .dy = (int)(ds_mix(h ^ 12) % span) - pad,
      .flip = cs->flip ? (int)(ds_mix(h ^ 13) >> 63) : 0,
  };
}

/* Sample i as (S, S, c) floats 0..255 in tmp: a copy, or a bilinear resize to S. */
static ev_status class_pixels(const ev_class_set *cs, size_t i, int S, float *tmp, int *c) {
  if (cs->pixels) {
    *c = cs->channels;
    size_t px = (size_t)cs->h * cs->w * cs->channels;
    const uint8_t *src = cs->pixels + i * px;
    if (cs->h == S && cs->w == S)
      for (size_t k = 0; k < px; k++) tmp[k] = src[k];
    else
      ev_resample_u8(src, cs->w, cs->h, cs->channels, 0, 0, (float)cs->w, (float)cs->h, S, S, tmp);
    return EV_OK;
  }
  ev_image im;
  EV_TRY(ev_image_load(cs->paths[i], 3, &im));
  *c = 3;
  ev_resample_u8(im.pix, im.w, im.h, 3, 0, 0, (float)im.w, (float)im.h, S, S, tmp);
  ev_image_free(&im);
  return EV_OK;
}

ev_status ev_class_sample(const ev_class_set *cs, size_t i, int S, const ev_class_aug *aug, float *x,
                          int32_t *label) {
  float *tmp = malloc((size_t)S * S * 3 * sizeof *tmp);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory for a %dx%d sample", S, S);
  int c = 0;
  ev_status s = class_pixels(cs, i, S, tmp, &c);
  if (s != EV_OK) {
    free(tmp);
    return s;
  }
  ev_class_aug a = aug ? *aug : EV_CLASS_AUG_NONE;
  for (int y = 0; y < S; y++)
    for (int xo = 0; xo < S; xo++) {
      /* mirrored after the shift: output column xo reads the shifted column S-1-xo */
      int sx = (a.flip ? S - 1 - xo : xo) + a.dx, sy = y + a.dy;
      int inside = sx >= 0 && sx < S && sy >= 0 && sy < S;
      const float *p = inside ? tmp + ((size_t)sy * S + sx) * c : NULL;
      float *o = x + ((size_t)y * S + xo) * 4;
      for (int k = 0; k < c; k++) /* the padding is value 0 before normalisation */
        o[k] = ((inside ? p[k] : 0.0f) / 255.0f - cs->mean[k]) / cs->std[k];
      for (int k = c; k < 4; k++) o[k] = 0.0f;
    }
  free(tmp);
  if (label) *label = cs->labels[i];
  return EV_OK;
}

ev_status ev_class_sample_rgb8(const ev_class_set *cs, size_t i, int S, uint8_t *rgb) {
  float *tmp = malloc((size_t)S * S * 3 * sizeof *tmp);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory for a %dx%d sample", S, S);
  int c = 0;
  ev_status s = class_pixels(cs, i, S, tmp, &c);
  for (size_t p = 0; s == EV_OK && p < (size_t)S * S; p++)
    for (int k = 0; k < 3; k++) {
      float v = tmp[p * c + (c == 3 ? k : 0)] + 0.5f;
      rgb[p * 3 + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  free(tmp);
  return s;
}
