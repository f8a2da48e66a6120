/* Fuzz target: the classification readers (IDX images, IDX labels, CIFAR-10 batches; raw or
 * gzip, zlib tells them apart by content) opened as `evonet --data` opens them, then every
 * sample read back. The first byte picks the file the rest of the input becomes; the other
 * files of the set are made valid and consistent with it where its header allows, so the
 * input reaches past the first check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evonet/data.h"
#include "evonet/io.h"
#include "evonet/status.h"

static char g_dir[64];

static void put(const char *name, const uint8_t *data, size_t size) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
}

static void cleanup(void) {
  const char *names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "data_batch_1.bin",
                         "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                         "data_batch_5.bin", "test_batch.bin"};
  char path[256];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
    unlink(path);
  }
  rmdir(g_dir);
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* An IDX header of `magic` and `dims` big-endian sizes, then `body` bytes of i % 10. */
static void put_idx(const char *name, uint32_t magic, const uint32_t *dims, int nd, size_t body) {
  size_t head = 4 + 4 * (size_t)nd;
  uint8_t *b = malloc(head + body);
  if (!b) abort();
  uint32_t v[4] = {magic, dims[0], nd > 1 ? dims[1] : 0, nd > 2 ? dims[2] : 0};
  for (int k = 0; k <= nd; k++)
    b[4 * k] = (uint8_t)(v[k] >> 24), b[4 * k + 1] = (uint8_t)(v[k] >> 16),
    b[4 * k + 2] = (uint8_t)(v[k] >> 8), b[4 * k + 3] = (uint8_t)v[k];
  for (size_t i = 0; i < body; i++) b[head + i] = (uint8_t)(i % 10);
  put(name, b, head + body);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_dir[0]) {
    snprintf(g_dir, sizeof g_dir, "/tmp/evonet-fuzz-classes-XXXXXX");
    if (!mkdtemp(g_dir)) abort();
    atexit(cleanup);
  }
  if (size < 1) return 0;
  int mode = data[0] % 3;
  const uint8_t *file = data + 1;
  size_t n = size - 1;
  ev_layout layout = mode == 2 ? EV_LAYOUT_CIFAR10 : EV_LAYOUT_IDX;
  if (mode == 0) { /* the images from the input; labels for the count its header claims */
    uint32_t count = n >= 8 ? be32(file + 4) : 3;
    if (count > 4096) count = 4096;
    put("train-images-idx3-ubyte", file, n);
    put_idx("train-labels-idx1-ubyte", 0x801, &count, 1, count);
  } else if (mode == 1) { /* the labels from the input; 2x2 images for its count */
    uint32_t dims[3] = {n >= 8 ? be32(file + 4) : 3, 2, 2};
    if (dims[0] > 4096) dims[0] = 4096;
    put("train-labels-idx1-ubyte", file, n);
    put_idx("train-images-idx3-ubyte", 0x803, dims, 3, (size_t)dims[0] * 4);
  } else { /* the first batch from the input; one record in each other batch */
    uint8_t rec[3073];
    for (size_t i = 0; i < sizeof rec; i++) rec[i] = (uint8_t)(i * 7 % 10);
    put("data_batch_1.bin", file, n);
    for (int b = 2; b <= 5; b++) {
      char name[32];
      snprintf(name, sizeof name, "data_batch_%d.bin", b);
      put(name, rec, sizeof rec);
    }
    put("test_batch.bin", rec, sizeof rec);
  }
  ev_dataset ds;
  if (ev_dataset_open(g_dir, "all", layout, &ds) == EV_OK) {
    const ev_class_set *cs = ds.cls;
    if (!cs || ds.n == 0 || cs->classes < 2) abort();
    float x[10 * 10 * 4];
    uint8_t rgb[10 * 10 * 3];
    for (size_t i = 0; i < ds.n && i < 64; i++) {
      int32_t label;
      ev_class_aug aug = ev_class_aug_draw(cs, 1, 0, i);
      if (ev_class_sample(cs, i, 10, &aug, x, &label) != EV_OK ||
          ev_class_sample_rgb8(cs, i, 10, rgb) != EV_OK)
        abort();
      if (label < 0 || label >= cs->classes) abort();
    }
    ev_dataset_free(&ds);
  } else if (!ev_last_error()[0]) {
    abort();
  }
  ev_clear_error();
  return 0;
}
