/* MNIST / Fashion-MNIST IDX files, raw or gzip: an image file (magic 0x00000803, then the
 * big-endian count, rows and columns, then count × rows × cols bytes) and a label file
 * (magic 0x00000801, the count, then one byte per image), for "train" and "t10k". */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "evonet/io.h"

#define IDX_CLASSES 10

static const char *const fashion_names[IDX_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
static const char *const digit_names[IDX_CLASSES] = {"0", "1", "2", "3", "4",
                                                     "5", "6", "7", "8", "9"};

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ROOT/<prefix>-<kind>-ubyte, else the same with .gz, into buf; NULL if neither is there. */
static const char *find_idx(const char *root, const char *prefix, const char *kind, char *buf) {
  char name[128];
  snprintf(name, sizeof name, "%s-%s-ubyte", prefix, kind);
  if (ds_is_file(ev_path_join(buf, DS_PATH_MAX, root, name))) return buf;
  snprintf(name, sizeof name, "%s-%s-ubyte.gz", prefix, kind);
  if (ds_is_file(ev_path_join(buf, DS_PATH_MAX, root, name))) return buf;
  return NULL;
}

bool ds_has_idx(const char *root) {
  char buf[DS_PATH_MAX];
  return find_idx(root, "train", "images-idx3", buf) != NULL;
}

/* One IDX file pair: the image file kept whole (pixels point past its 16-byte header). */
typedef struct {
  uint8_t *file;
  const uint8_t *pix; /* (n, h, w) */
  int32_t *labels;    /* (n) */
  size_t n;
  int h, w;
  char image_path[DS_PATH_MAX];
} idx_part;

static void free_part(idx_part *p) {
  free(p->file);
  free(p->labels);
  p->file = NULL, p->labels = NULL;
}

static ev_status read_images(const char *path, idx_part *p) {
  size_t size;
  EV_TRY(ds_read_whole(path, &p->file, &size));
  if (size < 16)
    return ev_fail(EV_ERR_FORMAT, "%s is truncated: %zu bytes, shorter than an IDX image header",
                   path, size);
  uint32_t magic = be32(p->file), n = be32(p->file + 4), h = be32(p->file + 8), w = be32(p->file + 12);
  if (magic != 0x00000803)
    return ev_fail(EV_ERR_FORMAT, "%s has the wrong magic number 0x%08x (an IDX image file starts "
                                  "with 0x00000803)", path, magic);
  if (h == 0 || w == 0 || h > 65536 || w > 65536)
    return ev_fail(EV_ERR_FORMAT, "%s claims images of %ux%u pixels", path, (unsigned)w, (unsigned)h);
  /* compared by division, so no header can overflow the product */
  uint64_t per = (uint64_t)h * w, have = size - 16;
  if (n > have / per)
    return ev_fail(EV_ERR_FORMAT, "%s is truncated: its header says %u images of %ux%u, it holds "
                                  "%llu bytes of pixels", path, (unsigned)n, (unsigned)w,
                   (unsigned)h, (unsigned long long)have);
  if (n * per != have)
    return ev_fail(EV_ERR_FORMAT, "%s has %llu bytes past its %u images of %ux%u", path,
                   (unsigned long long)(have - n * per), (unsigned)n, (unsigned)w, (unsigned)h);
  if (n == 0) return ev_fail(EV_ERR_FORMAT, "%s holds no images", path);
  p->pix = p->file + 16;
  p->n = n, p->h = (int)h, p->w = (int)w;
  return EV_OK;
}

static ev_status read_labels(const char *path, idx_part *p) {
  uint8_t *file;
  size_t size;
  EV_TRY(ds_read_whole(path, &file, &size));
  ev_status s = EV_OK;
  uint32_t magic = size >= 8 ? be32(file) : 0, n = size >= 8 ? be32(file + 4) : 0;
  if (size < 8)
    s = ev_fail(EV_ERR_FORMAT, "%s is truncated: %zu bytes, shorter than an IDX label header",
                path, size);
  else if (magic != 0x00000801)
    s = ev_fail(EV_ERR_FORMAT, "%s has the wrong magic number 0x%08x (an IDX label file starts "
                               "with 0x00000801)", path, magic);
  else if (n > size - 8)
    s = ev_fail(EV_ERR_FORMAT, "%s is truncated: its header says %u labels, it holds %zu bytes",
                path, (unsigned)n, size - 8);
  else if (n < size - 8)
    s = ev_fail(EV_ERR_FORMAT, "%s has %zu bytes past its %u labels", path, size - 8 - n,
                (unsigned)n);
  else if (n != p->n)
    s = ev_fail(EV_ERR_FORMAT, "%s holds %u labels but %s holds %zu images", path, (unsigned)n,
                p->image_path, p->n);
  if (s == EV_OK && !(p->labels = malloc((size_t)n * sizeof *p->labels)))
    s = ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  for (size_t i = 0; s == EV_OK && i < n; i++) {
    if (file[8 + i] >= IDX_CLASSES)
      s = ev_fail(EV_ERR_FORMAT, "%s: the label %d of sample %zu is outside the %d classes", path,
                  file[8 + i], i, IDX_CLASSES);
    else
      p->labels[i] = file[8 + i];
  }
  free(file);
  return s;
}

/* ROOT/<prefix>-images-idx3-ubyte[.gz] and its labels. */
static ev_status read_part(const char *root, const char *prefix, idx_part *p) {
  char lab[DS_PATH_MAX];
  if (!find_idx(root, prefix, "images-idx3", p->image_path))
    return ev_fail(EV_ERR_IO, "missing file %s/%s-images-idx3-ubyte (or .gz)", root, prefix);
  if (!find_idx(root, prefix, "labels-idx1", lab))
    return ev_fail(EV_ERR_IO, "missing file %s/%s-labels-idx1-ubyte (or .gz)", root, prefix);
  EV_TRY(read_images(p->image_path, p));
  return read_labels(lab, p);
}

ev_status ds_open_idx(const char *root, ds_split split, ev_dataset *out) {
  ev_class_set *cs = calloc(1, sizeof *cs);
  if (!cs) return ev_fail(EV_ERR_OOM, "out of memory opening %s", root);
  out->cls = cs;
  idx_part tr = {0}, te = {0};
  ev_status s = read_part(root, "train", &tr);
  if (s == EV_OK && (split == DS_SPLIT_TEST || split == DS_SPLIT_ALL)) {
    s = read_part(root, "t10k", &te);
    if (s == EV_OK && (te.h != tr.h || te.w != tr.w))
      s = ev_fail(EV_ERR_FORMAT, "%s holds images of %dx%d but %s of %dx%d", te.image_path, te.w,
                  te.h, tr.image_path, tr.w, tr.h);
  }
  if (s == EV_OK) {
    char lower[DS_PATH_MAX];
    size_t k = 0;
    for (; root[k] && k + 1 < sizeof lower; k++) lower[k] = (char)tolower((unsigned char)root[k]);
    lower[k] = 0;
    bool fashion = strstr(lower, "fashion") != NULL;
    snprintf(cs->source, sizeof cs->source, "%s",
             fashion ? "fashion-mnist" : strstr(lower, "mnist") ? "mnist" : "idx");
    cs->h = tr.h, cs->w = tr.w, cs->channels = 1;
    cs->crop_pad = 2;
    cs->flip = fashion; /* clothes mirror into clothes; a mirrored 2, 3 or 7 is no digit */
    ds_class_stats(tr.pix, tr.n * (size_t)tr.h * tr.w, 1, cs->mean, cs->std);
    s = ds_class_names(cs, fashion ? fashion_names : digit_names, IDX_CLASSES, root);
  }
  if (s == EV_OK)
    s = ds_class_take(cs, split, tr.pix, tr.labels, tr.n, te.pix, te.labels, te.n, &out->n);
  free_part(&tr);
  free_part(&te);
  return s;
}
