/* One sample (decode, augment, resize, normalise) and whole batches in epoch order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"

/* ImageNet statistics the VGG backbone was trained with. */
static const float k_mean[3] = {0.485f, 0.456f, 0.406f};
static const float k_std[3] = {0.229f, 0.224f, 0.225f};

ev_aug ev_aug_draw(uint64_t seed, int64_t epoch, size_t index) {
  uint64_t h = ds_mix(ds_mix(ds_mix(seed) ^ (uint64_t)epoch) ^ (uint64_t)index);
  return (ev_aug){
      .scale = 0.75f + 0.25f * ds_unit(ds_mix(h ^ 1)),
      .ox = ds_unit(ds_mix(h ^ 2)),
      .oy = ds_unit(ds_mix(h ^ 3)),
      .flip = (int)(ds_mix(h ^ 4) >> 63),
      .hue = (2.0f * ds_unit(ds_mix(h ^ 5)) - 1.0f) * 0.5235988f,
      .sat = 0.6f + 0.8f * ds_unit(ds_mix(h ^ 6)),
      .contrast = 0.75f + 0.5f * ds_unit(ds_mix(h ^ 7)),
      .bright = 0.75f + 0.5f * ds_unit(ds_mix(h ^ 8)),
  };
}

/* The colour change of ev_aug on one 0..255 pixel (see data.h). Rotating chroma c (which
 * is orthogonal to the grey axis u = (1,1,1)/sqrt3) by theta: c cos + (u x c) sin, and
 * u x c = (cb - cg, cr - cb, cg - cr) / sqrt3. Written one operation per statement so the
 * peer (tools/torch_common.py) rounds the same way. */
static void colour_pixel(const ev_aug *a, float k_cos, float k_sin, float *r, float *g, float *b) {
  float grey = (*r + *g + *b) / 3.0f;
  float cr = *r - grey, cg = *g - grey, cb = *b - grey;
  float v[3] = {k_cos * cr + k_sin * (cb - cg), k_cos * cg + k_sin * (cr - cb), k_cos * cb + k_sin * (cg - cr)};
  for (int i = 0; i < 3; i++) {
    float t = ((grey + v[i] - 128.0f) * a->contrast + 128.0f) * a->bright;
    v[i] = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
  }
  *r = v[0], *g = v[1], *b = v[2];
}

/* The crop box of `aug` on a w×h image, in source pixels. */
static void aug_box(const ev_aug *aug, int w, int h, float box[4]) {
  ev_aug a = aug ? *aug : EV_AUG_NONE;
  box[2] = a.scale * (float)w;
  box[3] = a.scale * (float)h;
  box[0] = a.ox * ((float)w - box[2]);
  box[1] = a.oy * ((float)h - box[3]);
}

/* Mirrors each row of a (S, S, c) map in place. Done after resizing, so a flipped sample
 * is exactly the mirror of the unflipped one. */
static void mirror_rows(float *x, int S, int c) {
  for (int y = 0; y < S; y++) {
    float *row = x + (size_t)y * S * c;
    for (int a = 0, b = S - 1; a < b; a++, b--)
      for (int k = 0; k < c; k++) {
        float t = row[a * c + k];
        row[a * c + k] = row[b * c + k];
        row[b * c + k] = t;
      }
  }
}

void ev_input_from_image(const ev_image *rgb, int S, const ev_aug *aug, float *x) {
  float box[4];
  aug_box(aug, rgb->w, rgb->h, box);
  /* resample into the first 3/4 of x, then spread to 4 channels from the back: pixel i's
   * three reads happen before its writes, and writes at >= 4i never reach pixels < i */
  ev_resample_u8(rgb->pix, rgb->w, rgb->h, 3, box[0], box[1], box[2], box[3], S, S, x);
  int colour = aug && (aug->hue != 0.0f || aug->sat != 1.0f || aug->contrast != 1.0f || aug->bright != 1.0f);
  /* in double, then rounded once: libm's double cos/sin agree across C and numpy */
  float k_cos = colour ? (float)(aug->sat * cos((double)aug->hue)) : 1.0f;
  float k_sin = colour ? (float)(aug->sat * sin((double)aug->hue) / sqrt(3.0)) : 0.0f;
  for (size_t i = (size_t)S * S; i-- > 0;) {
    float r = x[3 * i], g = x[3 * i + 1], b = x[3 * i + 2];
    if (colour) colour_pixel(aug, k_cos, k_sin, &r, &g, &b);
    x[4 * i + 0] = (r / 255.0f - k_mean[0]) / k_std[0];
    x[4 * i + 1] = (g / 255.0f - k_mean[1]) / k_std[1];
    x[4 * i + 2] = (b / 255.0f - k_mean[2]) / k_std[2];
    x[4 * i + 3] = 0.0f;
  }
  if (aug && aug->flip) mirror_rows(x, S, 4);
}

void ev_mask_from_image(const ev_image *gray, int S, const ev_aug *aug, float *m) {
  float box[4];
  aug_box(aug, gray->w, gray->h, box);
  ev_resample_u8(gray->pix, gray->w, gray->h, 1, box[0], box[1], box[2], box[3], S, S, m);
  for (size_t i = 0; i < (size_t)S * S; i++) m[i] /= 255.0f;
  if (aug && aug->flip) mirror_rows(m, S, 1);
}

/* Decodes both files of a pair and checks that their sizes agree. */
static ev_status load_pair(const ev_pair *p, ev_image *img, ev_image *mask) {
  EV_TRY(ev_image_load(p->image, 3, img));
  if (!mask) return EV_OK;
  ev_status s = ev_image_load(p->mask, 1, mask);
  if (s == EV_OK && (mask->w != img->w || mask->h != img->h)) {
    s = ev_fail(EV_ERR_FORMAT, "mask %s is %dx%d but its image %s is %dx%d", p->mask,
                mask->w, mask->h, p->image, img->w, img->h);
    ev_image_free(mask);
  }
  if (s != EV_OK) ev_image_free(img);
  return s;
}

ev_status ev_sample_load(const ev_pair *p, int S, const ev_aug *aug, float *x, float *m) {
  ev_image img, mask;
  EV_TRY(load_pair(p, &img, m ? &mask : NULL));
  ev_input_from_image(&img, S, aug, x);
  ev_image_free(&img);
  if (m) {
    ev_mask_from_image(&mask, S, aug, m);
    ev_image_free(&mask);
  }
  return EV_OK;
}

ev_status ev_sample_load_rgb8(const ev_pair *p, int S, uint8_t *rgb, float *m) {
  float *tmp = malloc((size_t)S * S * 3 * sizeof *tmp);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory loading %s at %dx%d", p->image, S, S);
  ev_image img, mask;
  ev_status s = load_pair(p, &img, m ? &mask : NULL);
  if (s == EV_OK) {
    ev_resample_u8(img.pix, img.w, img.h, 3, 0, 0, (float)img.w, (float)img.h, S, S, tmp);
    for (size_t i = 0; i < (size_t)S * S * 3; i++) {
      float v = tmp[i] + 0.5f;
      rgb[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    ev_image_free(&img);
    if (m) {
      ev_mask_from_image(&mask, S, NULL, m);
      ev_image_free(&mask);
    }
  }
  free(tmp);
  return s;
}

/* ---------------- batches ---------------- */
ev_status ev_batch_alloc(ev_batch *b, int cap, int size) {
  *b = (ev_batch){0};
  if (cap < 1 || size < 1 || (size_t)size > 65536 || (size_t)cap > 65536)
    return ev_fail(EV_ERR_ARG, "bad batch shape: %d samples of %dx%d", cap, size, size);
  size_t px = (size_t)cap * size * size;
  b->images = calloc(px * 4, sizeof(float));
  b->masks = calloc(px, sizeof(float));
  b->labels = calloc((size_t)cap, sizeof(int32_t));
  b->index = calloc((size_t)cap, sizeof(size_t));
  if (!b->images || !b->masks || !b->labels || !b->index) {
    ev_batch_free(b);
    return ev_fail(EV_ERR_OOM, "out of memory for a batch of %d samples of %dx%d", cap,
                   size, size);
  }
  b->cap = cap;
  b->size = size;
  return EV_OK;
}

void ev_batch_free(ev_batch *b) {
  free(b->images);
  free(b->masks);
  free(b->labels);
  free(b->index);
  *b = (ev_batch){0};
}

size_t ev_batches_per_epoch(const ev_dataset *ds, const ev_loader_options *o) {
  if (o->batch < 1) return 0;
  size_t N = (size_t)o->batch;
  return o->drop_last ? ds->n / N : (ds->n + N - 1) / N;
}

void ev_epoch_order(size_t n, uint64_t seed, int64_t epoch, int shuffle, size_t *order) {
  for (size_t i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return;
  /* Fisher-Yates; draw i is a pure function of (seed, epoch, i); the tag keeps these
   * draws apart from the augmentation's */
  uint64_t h = ds_mix(ds_mix(ds_mix(seed ^ 0x5348554646ull) ^ (uint64_t)epoch));
  for (size_t i = n; i-- > 1;) {
    size_t j = (size_t)(ds_mix(h ^ (uint64_t)i) % (uint64_t)(i + 1));
    size_t t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
}

ev_status ds_check_options(const ev_dataset *ds, const ev_loader_options *o) {
  if (o->batch < 1 || o->size < 1)
    return ev_fail(EV_ERR_ARG, "bad loader options: batch %d, size %d (both must be >= 1)",
                   o->batch, o->size);
  if (ev_batches_per_epoch(ds, o) == 0)
    return ev_fail(EV_ERR_ARG, "the dataset has %zu pairs, fewer than one batch of %d",
                   ds->n, o->batch);
  return EV_OK;
}

ev_status ds_batch_fill(const ev_dataset *ds, const ev_loader_options *o, int64_t epoch,
                        size_t step, const size_t *order, ev_batch *b) {
  const int S = o->size;
  if (b->cap != o->batch || b->size != S)
    return ev_fail(EV_ERR_ARG, "batch holds %d samples of %dx%d, the loader makes %d of %dx%d",
                   b->cap, b->size, b->size, o->batch, S, S);
  if (step >= ev_batches_per_epoch(ds, o))
    return ev_fail(EV_ERR_ARG, "batch %zu is past the end of an epoch of %zu batches", step,
                   ev_batches_per_epoch(ds, o));
  size_t start = step * (size_t)o->batch, px = (size_t)S * S;
  size_t count = ds->n - start < (size_t)o->batch ? ds->n - start : (size_t)o->batch;
  if (ds->cls) {
    /* the shift is drawn with the pad of this size (an ImageFolder's is S/8) */
    ev_class_set cs = *ds->cls;
    cs.crop_pad = ds_class_pad(ds->cls, S);
    for (size_t i = 0; i < count; i++) {
      size_t idx = order[start + i];
      ev_class_aug aug = o->augment ? ev_class_aug_draw(&cs, o->seed, epoch, idx) : EV_CLASS_AUG_NONE;
      EV_TRY(ev_class_sample(ds->cls, idx, S, &aug, b->images + i * px * 4, &b->labels[i]));
      b->index[i] = idx;
    }
    memset(b->masks, 0, count * px * sizeof(float)); /* no masks: defined zeros */
  } else {
    for (size_t i = 0; i < count; i++) {
      size_t idx = order[start + i];
      ev_aug aug = o->augment ? ev_aug_draw(o->seed, epoch, idx) : EV_AUG_NONE;
      EV_TRY(ev_sample_load(&ds->pairs[idx], S, &aug, b->images + i * px * 4,
                            b->masks + i * px));
      b->index[i] = idx;
    }
    memset(b->labels, 0, count * sizeof(int32_t)); /* no labels: defined zeros */
  }
  size_t pad = (size_t)b->cap - count; /* a kept partial batch: defined zeros past n */
  memset(b->images + count * px * 4, 0, pad * px * 4 * sizeof(float));
  memset(b->masks + count * px, 0, pad * px * sizeof(float));
  memset(b->labels + count, 0, pad * sizeof(int32_t));
  memset(b->index + count, 0, pad * sizeof(size_t));
  b->n = (int)count;
  b->epoch = epoch;
  b->step = step;
  return EV_OK;
}

ev_status ev_batch_load(const ev_dataset *ds, const ev_loader_options *o, int64_t epoch,
                        size_t step, ev_batch *b) {
  EV_TRY(ds_check_options(ds, o));
  size_t *order = malloc((ds->n ? ds->n : 1) * sizeof *order);
  if (!order) return ev_fail(EV_ERR_OOM, "out of memory for an epoch order of %zu", ds->n);
  ev_epoch_order(ds->n, o->seed, epoch, o->shuffle, order);
  ev_status s = ds_batch_fill(ds, o, epoch, step, order, b);
  free(order);
  return s;
}
