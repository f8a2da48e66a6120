/* CIFAR-10's binary batches: records of one label byte and 3072 bytes of pixels (the 32x32
 * R plane, then G, then B), in data_batch_1..5.bin (training) and test_batch.bin, in ROOT or
 * ROOT/cifar-10-batches-bin (how the archive unpacks). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_internal.h"
#include "evonet/io.h"

#define CIFAR_CLASSES 10
#define CIFAR_SIDE 32
#define CIFAR_PLANE (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + 3 * CIFAR_PLANE) /* 3073 bytes */

static const char *const cifar_names[CIFAR_CLASSES] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

/* The folder holding data_batch_1.bin: ROOT or ROOT/cifar-10-batches-bin, into buf. */
static const char *cifar_dir(const char *root, char *buf) {
  char f[DS_PATH_MAX];
  if (ds_is_file(ev_path_join(f, sizeof f, root, "data_batch_1.bin")))
    return strcpy(buf, root);
  ev_path_join(buf, DS_PATH_MAX, root, "cifar-10-batches-bin");
  if (ds_is_file(ev_path_join(f, sizeof f, buf, "data_batch_1.bin"))) return buf;
  return NULL;
}

bool ds_has_cifar10(const char *root) {
  char buf[DS_PATH_MAX];
  return cifar_dir(root, buf) != NULL;
}

typedef struct {
  uint8_t *pix;    /* (n, 32, 32, 3) HWC */
  int32_t *labels; /* (n) */
  size_t n;
} cifar_part;

/* Appends the records of one batch file to p, planes turned to interleaved pixels. */
static ev_status read_batch(const char *path, cifar_part *p) {
  if (!ds_is_file(path)) {
    const char *what = ds_what_is(path);
    return what ? ev_fail(EV_ERR_IO, "CIFAR-10 batch %s is %s, not a file", path, what)
                : ev_fail(EV_ERR_IO, "missing CIFAR-10 batch %s", path);
  }
  uint8_t *file;
  size_t size;
  EV_TRY(ds_read_whole(path, &file, &size));
  ev_status s = EV_OK;
  size_t m = size / CIFAR_RECORD;
  if (size == 0 || size % CIFAR_RECORD != 0)
    s = ev_fail(EV_ERR_FORMAT, "%s is %zu bytes, not a whole number of %d-byte CIFAR-10 records "
                               "(truncated, or not a CIFAR-10 batch)", path, size, CIFAR_RECORD);
  if (s == EV_OK) {
    uint8_t *pix = realloc(p->pix, (p->n + m) * 3 * CIFAR_PLANE);
    if (pix) p->pix = pix;
    int32_t *lab = realloc(p->labels, (p->n + m) * sizeof *lab);
    if (lab) p->labels = lab;
    if (!pix || !lab) s = ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  }
  for (size_t r = 0; s == EV_OK && r < m; r++) {
    const uint8_t *rec = file + r * CIFAR_RECORD;
    if (rec[0] >= CIFAR_CLASSES) {
      s = ev_fail(EV_ERR_FORMAT, "%s: the label %d of record %zu is outside the %d classes", path,
                  rec[0], r, CIFAR_CLASSES);
      break;
    }
    p->labels[p->n + r] = rec[0];
    uint8_t *dst = p->pix + (p->n + r) * 3 * CIFAR_PLANE;
    for (int i = 0; i < CIFAR_PLANE; i++)
      for (int k = 0; k < 3; k++) dst[3 * i + k] = rec[1 + k * CIFAR_PLANE + i];
  }
  if (s == EV_OK) p->n += m;
  free(file);
  return s;
}

/* The class names of batches.meta.txt (one a line, blank lines skipped): exactly ten. */
static ev_status read_meta(const char *path, ev_class_set *cs) {
  uint8_t *text;
  size_t size;
  EV_TRY(ds_read_whole(path, &text, &size));
  char *names[CIFAR_CLASSES];
  int count = 0;
  ev_status s = EV_OK;
  char *line = (char *)text;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && text[i] != '\n' && text[i] != '\0') continue;
    char *end = (char *)text + i;
    while (end > line && isspace((unsigned char)end[-1])) end--;
    while (line < end && isspace((unsigned char)*line)) line++;
    if (end > line) {
      if (count < CIFAR_CLASSES) {
        *end = 0; /* within the buffer: end <= text + i, and text[i] is '\n' or past it */
        names[count] = line;
      }
      count++;
    }
    line = (char *)text + i + 1;
  }
  if (count != CIFAR_CLASSES)
    s = ev_fail(EV_ERR_FORMAT, "%s lists %d class names, CIFAR-10 has %d", path, count,
                CIFAR_CLASSES);
  if (s == EV_OK) s = ds_class_names(cs, (const char *const *)names, CIFAR_CLASSES, path);
  free(text);
  return s;
}

ev_status ds_open_cifar10(const char *root, ds_split split, ev_dataset *out) {
  char dir[DS_PATH_MAX], path[DS_PATH_MAX], name[64];
  if (!cifar_dir(root, dir))
    return ev_fail(EV_ERR_IO, "missing file %s/data_batch_1.bin (or %s/cifar-10-batches-bin/"
                              "data_batch_1.bin) for the CIFAR-10 layout", root, root);
  ev_class_set *cs = calloc(1, sizeof *cs);
  if (!cs) return ev_fail(EV_ERR_OOM, "out of memory opening %s", root);
  out->cls = cs;
  cifar_part tr = {0}, te = {0};
  ev_status s = EV_OK;
  for (int b = 1; s == EV_OK && b <= 5; b++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", b);
    s = read_batch(ev_path_join(path, sizeof path, dir, name), &tr);
  }
  if (s == EV_OK && (split == DS_SPLIT_TEST || split == DS_SPLIT_ALL))
    s = read_batch(ev_path_join(path, sizeof path, dir, "test_batch.bin"), &te);
  if (s == EV_OK) {
    snprintf(cs->source, sizeof cs->source, "cifar10");
    cs->h = cs->w = CIFAR_SIDE, cs->channels = 3;
    cs->crop_pad = 4, cs->flip = 1;
    ds_class_stats(tr.pix, tr.n * CIFAR_PLANE, 3, cs->mean, cs->std);
    if (ds_is_file(ev_path_join(path, sizeof path, dir, "batches.meta.txt")))
      s = read_meta(path, cs);
    else
      s = ds_class_names(cs, cifar_names, CIFAR_CLASSES, root);
  }
  if (s == EV_OK)
    s = ds_class_take(cs, split, tr.pix, tr.labels, tr.n, te.pix, te.labels, te.n, &out->n);
  free(tr.pix), free(tr.labels), free(te.pix), free(te.labels);
  return s;
}
