/* NHWC-C4 tensors and the host-side layout conversions (see evonet/tensor.h). */
#include <stdlib.h>
#include <string.h>

#include "evonet/tensor.h"

ev_status ev_tensor_alloc(ev_gpu *g, int n, int h, int w, int c, ev_tensor *t) {
  memset(t, 0, sizeof *t);
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0)
    return ev_fail(EV_ERR_ARG, "tensor shape (%d, %d, %d, %d) has a non-positive size", n, c, h, w);
  EV_TRY(ev_buf_alloc(g, ev_tensor_floats(n, h, w, c) * 4, &t->buf));
  t->n = n, t->h = h, t->w = w, t->c = c;
  return EV_OK;
}

ev_status ev_tensor_check(const char *op, const char *what, const ev_tensor *t) {
  if (!t) return ev_fail(EV_ERR_ARG, "%s: %s is NULL", op, what);
  if (t->n <= 0 || t->h <= 0 || t->w <= 0 || t->c <= 0)
    return ev_fail(EV_ERR_ARG, "%s: %s has a zero or negative size (%d, %d, %d, %d)", op, what, t->n, t->c, t->h,
                   t->w);
  uint64_t bytes = ev_tensor_floats(t->n, t->h, t->w, t->c) * 4;
  if (!t->buf.block || t->buf.size < bytes)
    return ev_fail(EV_ERR_ARG, "%s: %s (%d, %d, %d, %d) needs %llu bytes, its buffer has %llu", op, what, t->n, t->c,
                   t->h, t->w, (unsigned long long)bytes, (unsigned long long)t->buf.size);
  if (bytes / 16 >= (1ull << 31)) return ev_fail(EV_ERR_LIMIT, "%s: %s is too large for 32-bit indexing", op, what);
  return EV_OK;
}

ev_status ev_tensor_check_shape(const char *op, const char *what, const ev_tensor *t, int n, int h, int w, int c) {
  EV_TRY(ev_tensor_check(op, what, t));
  if (n <= 0 || h <= 0 || w <= 0 || c <= 0)
    return ev_fail(EV_ERR_ARG, "%s: %s would be (%d, %d, %d, %d), an empty shape (kernel larger than the padded input?)",
                   op, what, n, c, h, w);
  if (t->n != n || t->h != h || t->w != w || t->c != c)
    return ev_fail(EV_ERR_ARG, "%s: %s is (N, C, H, W) = (%d, %d, %d, %d), expected (%d, %d, %d, %d)", op, what,
                   t->n, t->c, t->h, t->w, n, c, h, w);
  return EV_OK;
}

ev_status ev_tensor_check_same(const char *op, const ev_tensor *a, const char *an, const ev_tensor *b,
                               const char *bn) {
  EV_TRY(ev_tensor_check(op, an, a));
  EV_TRY(ev_tensor_check(op, bn, b));
  if (a->n != b->n || a->h != b->h || a->w != b->w || a->c != b->c)
    return ev_fail(EV_ERR_ARG, "%s: %s (%d, %d, %d, %d) and %s (%d, %d, %d, %d) differ in shape", op, an, a->n,
                   a->c, a->h, a->w, bn, b->n, b->c, b->h, b->w);
  return EV_OK;
}

ev_status ev_buf_check(const char *op, const char *what, const ev_buf *b, uint64_t bytes) {
  if (!b || !b->block) return ev_fail(EV_ERR_ARG, "%s: %s is missing", op, what);
  if (b->size < bytes)
    return ev_fail(EV_ERR_ARG, "%s: %s has %llu bytes, needs %llu", op, what, (unsigned long long)b->size,
                   (unsigned long long)bytes);
  return EV_OK;
}

void ev_tensor_free(ev_gpu *g, ev_tensor *t) {
  ev_buf_free(g, &t->buf);
  memset(t, 0, sizeof *t);
}

void ev_nchw_to_nhwc4(const float *src, float *dst, int n, int c, int h, int w) {
  int c4 = ev_c4(c);
  for (int b = 0; b < n; b++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        for (int k = 0; k < c4; k++)
          dst[(((size_t)b * h + y) * w + x) * c4 + k] =
              k < c ? src[(((size_t)b * c + k) * h + y) * w + x] : 0.0f;
}

void ev_nhwc4_to_nchw(const float *src, float *dst, int n, int c, int h, int w) {
  int c4 = ev_c4(c);
  for (int b = 0; b < n; b++)
    for (int k = 0; k < c; k++)
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          dst[(((size_t)b * c + k) * h + y) * w + x] = src[(((size_t)b * h + y) * w + x) * c4 + k];
}

void ev_oihw_to_ohwi4(const float *src, float *dst, int o, int i, int kh, int kw) {
  int i4 = ev_c4(i);
  for (int a = 0; a < o; a++)
    for (int y = 0; y < kh; y++)
      for (int x = 0; x < kw; x++)
        for (int k = 0; k < i4; k++)
          dst[(((size_t)a * kh + y) * kw + x) * i4 + k] =
              k < i ? src[(((size_t)a * i + k) * kh + y) * kw + x] : 0.0f;
}

void ev_ohwi4_to_oihw(const float *src, float *dst, int o, int i, int kh, int kw) {
  int i4 = ev_c4(i);
  for (int a = 0; a < o; a++)
    for (int k = 0; k < i; k++)
      for (int y = 0; y < kh; y++)
        for (int x = 0; x < kw; x++)
          dst[(((size_t)a * i + k) * kh + y) * kw + x] = src[(((size_t)a * kh + y) * kw + x) * i4 + k];
}

ev_status ev_tensor_upload_nchw(ev_gpu *g, ev_tensor *t, const float *nchw) {
  uint64_t n = ev_tensor_floats(t->n, t->h, t->w, t->c);
  float *tmp = malloc(n * sizeof *tmp);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_nchw_to_nhwc4(nchw, tmp, t->n, t->c, t->h, t->w);
  ev_status s = ev_buf_upload(g, &t->buf, 0, tmp, n * 4);
  free(tmp);
  return s;
}

ev_status ev_tensor_download_nchw(ev_gpu *g, const ev_tensor *t, float *nchw) {
  uint64_t n = ev_tensor_floats(t->n, t->h, t->w, t->c);
  float *tmp = malloc(n * sizeof *tmp);
  if (!tmp) return ev_fail(EV_ERR_OOM, "out of memory");
  ev_status s = ev_buf_download(g, &t->buf, 0, tmp, n * 4);
  if (s == EV_OK) ev_nhwc4_to_nchw(tmp, nchw, t->n, t->c, t->h, t->w);
  free(tmp);
  return s;
}
