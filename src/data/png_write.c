/* 8-bit PNG writing: encode into memory with stb_image_write, then one atomic file write. */
#include <stdlib.h>
#include <string.h>

#include <stb_image_write.h>

#include "evonet/image.h"
#include "evonet/io.h"

typedef struct {
  uint8_t *data;
  size_t size, cap;
  int oom;
} membuf;

static void append(void *ctx, void *data, int size) {
  membuf *m = ctx;
  if (m->oom || size <= 0) return;
  if (m->size + (size_t)size > m->cap) {
    size_t cap = m->cap ? m->cap : 4096;
    while (cap < m->size + (size_t)size) cap *= 2;
    uint8_t *p = realloc(m->data, cap);
    if (!p) {
      m->oom = 1;
      return;
    }
    m->data = p;
    m->cap = cap;
  }
  memcpy(m->data + m->size, data, (size_t)size);
  m->size += (size_t)size;
}

ev_status ev_png_write(const char *path, const uint8_t *pix, int w, int h, int channels) {
  if (w <= 0 || h <= 0 || (channels != 1 && channels != 3 && channels != 4))
    return ev_fail(EV_ERR_ARG, "cannot write %s: bad PNG shape %dx%d with %d channels", path,
                   w, h, channels);
  membuf m = {0};
  int ok = stbi_write_png_to_func(append, &m, w, h, channels, pix, w * channels);
  if (m.oom) {
    free(m.data);
    return ev_fail(EV_ERR_OOM, "out of memory encoding %s (%dx%d)", path, w, h);
  }
  if (!ok) {
    free(m.data);
    return ev_fail(EV_ERR_IO, "cannot encode %s as PNG", path);
  }
  ev_status s = ev_write_file_atomic(path, m.data, m.size);
  free(m.data);
  return s;
}
