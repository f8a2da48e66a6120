/* Decoding (JPEG: libjpeg-turbo; PNG, BMP: stb_image) and bilinear box resampling of host
 * images. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>

#include "evonet/image.h"
#include "evonet/io.h"
#include "image_complete.h"
#include "image_jpeg.h"

/* Reads a regular file into memory (a folder or device named like an image is refused
 * before reading it). */
static ev_status read_image_file(const char *path, uint8_t **data, size_t *size) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int err = errno;
    char to[1024];
    ssize_t k = err == ENOENT ? readlink(path, to, sizeof to - 1) : -1;
    if (k >= 0) { /* a link to nothing: say so, "no such file" would point at the link */
      to[k] = '\0';
      return ev_fail(EV_ERR_IO, "cannot open image %s: a broken symbolic link (to %s)", path, to);
    }
    return ev_fail(EV_ERR_IO, "cannot open image %s: %s", path, strerror(err));
  }
  if (!S_ISREG(st.st_mode))
    return ev_fail(EV_ERR_IO, "cannot read image %s: not a regular file", path);
  EV_TRY(ev_read_file(path, (void **)data, size));
  if (*size > (size_t)0x7fffffff) {
    free(*data);
    return ev_fail(EV_ERR_FORMAT, "image %s is too large (%zu bytes)", path, *size);
  }
  return EV_OK;
}

/* PNG or BMP size from the header (stb_image). */
static ev_status stb_info(const char *path, const uint8_t *d, size_t n, int *w, int *h) {
  int comp;
  if (!stbi_info_from_memory(d, (int)n, w, h, &comp))
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: %s", path, stbi_failure_reason());
  return EV_OK;
}

ev_status ev_image_info(const char *path, int *w, int *h) {
  uint8_t *data;
  size_t size;
  EV_TRY(read_image_file(path, &data, &size));
  ev_status s = ev_is_jpeg(data, size) ? ev_jpeg_info(path, data, size, w, h) : stb_info(path, data, size, w, h);
  if (s == EV_OK) s = ev_image_check_size(path, *w, *h);
  if (s == EV_OK) s = ev_image_check_complete(path, data, size); /* PNG, BMP; JPEG above */
  free(data);
  return s;
}

ev_status ev_image_load(const char *path, int channels, ev_image *out) {
  *out = (ev_image){0};
  if (channels != 1 && channels != 3)
    return ev_fail(EV_ERR_ARG, "ev_image_load: channels must be 1 or 3, not %d", channels);
  uint8_t *data;
  size_t size;
  EV_TRY(read_image_file(path, &data, &size));
  if (ev_is_jpeg(data, size)) {
    ev_status s = ev_jpeg_decode(path, data, size, channels, out);
    free(data);
    return s;
  }
  /* the header first: a small file must not make us decode gigabytes or read past its end */
  int w, h, comp;
  ev_status s = stbi_info_from_memory(data, (int)size, &w, &h, &comp) ? ev_image_check_size(path, w, h) : EV_OK;
  if (s == EV_OK) s = ev_image_check_complete(path, data, size);
  if (s != EV_OK) {
    free(data);
    return s;
  }
  /* stb's failure reason is thread-local (C11), so decoding threads don't mix messages */
  uint8_t *pix = stbi_load_from_memory(data, (int)size, &w, &h, &comp, channels);
  free(data);
  if (!pix)
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: %s", path, stbi_failure_reason());
  *out = (ev_image){.w = w, .h = h, .c = channels, .pix = pix};
  return EV_OK;
}

void ev_image_free(ev_image *im) {
  free(im->pix); /* stb_image allocates with malloc too */
  *im = (ev_image){0};
}

/* One source coordinate → the two taps and the weight of the second, clamped at edges. */
static inline void tap(float f, int n, int *lo, int *hi, float *wt) {
  if (f < 0.0f) f = 0.0f;
  if (f > (float)(n - 1)) f = (float)(n - 1);
  *lo = (int)f;
  *hi = *lo + 1 < n ? *lo + 1 : n - 1;
  *wt = f - (float)*lo;
}

/* Exactly one of s8 / s32 is non-NULL; the branch per read is perfectly predicted and
 * keeps one copy of the arithmetic, so the u8 and f32 paths agree bit for bit. */
static void resample(const uint8_t *s8, const float *s32, int w, int h, int c, float x0,
                     float y0, float bw, float bh, int dw, int dh, float *dst) {
  const float sx = bw / (float)dw, sy = bh / (float)dh;
  for (int dy = 0; dy < dh; dy++) {
    int y_lo, y_hi;
    float wy;
    tap(y0 + ((float)dy + 0.5f) * sy - 0.5f, h, &y_lo, &y_hi, &wy);
    for (int dx = 0; dx < dw; dx++) {
      int x_lo, x_hi;
      float wx;
      tap(x0 + ((float)dx + 0.5f) * sx - 0.5f, w, &x_lo, &x_hi, &wx);
      size_t i00 = ((size_t)y_lo * w + x_lo) * c, i01 = ((size_t)y_lo * w + x_hi) * c;
      size_t i10 = ((size_t)y_hi * w + x_lo) * c, i11 = ((size_t)y_hi * w + x_hi) * c;
      float *o = dst + ((size_t)dy * dw + dx) * c;
      for (int k = 0; k < c; k++) {
        float a = s8 ? s8[i00 + k] : s32[i00 + k], b = s8 ? s8[i01 + k] : s32[i01 + k];
        float d = s8 ? s8[i10 + k] : s32[i10 + k], e = s8 ? s8[i11 + k] : s32[i11 + k];
        float top = a + (b - a) * wx, bot = d + (e - d) * wx;
        o[k] = top + (bot - top) * wy;
      }
    }
  }
}

void ev_resample_u8(const uint8_t *src, int w, int h, int c, float x0, float y0, float bw,
                    float bh, int dw, int dh, float *dst) {
  resample(src, NULL, w, h, c, x0, y0, bw, bh, dw, dh, dst);
}

void ev_resample_f32(const float *src, int w, int h, int c, float x0, float y0, float bw,
                     float bh, int dw, int dh, float *dst) {
  resample(NULL, src, w, h, c, x0, y0, bw, bh, dw, dh, dst);
}
