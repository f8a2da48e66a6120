/* Header checks before decoding: truncated PNG and BMP files, sizes (see image_complete.h). */
#include <string.h>

#include "evonet/image.h"
#include "image_complete.h"

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }

static ev_status truncated(const char *path, uint64_t need, size_t n) {
  return ev_fail(EV_ERR_FORMAT,
                 "cannot decode image %s: the file ends before the image does (truncated: %zu of %llu bytes)",
                 path, n, (unsigned long long)need);
}

/* PNG: 8-byte signature, then chunks of length (4, big-endian), type (4), data, CRC (4),
 * up to IEND. Every chunk must lie inside the file (stb would refuse a missing IEND too). */
static ev_status png_complete(const char *path, const uint8_t *d, size_t n) {
  size_t off = 8;
  for (;;) {
    if (n - off < 12) return truncated(path, (uint64_t)off + 12, n);
    uint64_t end = (uint64_t)off + 12 + be32(d + off);
    if (end > n) return truncated(path, end, n);
    if (be32(d + off + 4) == 0x49454E44u) return EV_OK; /* "IEND" */
    off = (size_t)end;
  }
}

/* BMP: file header (14 bytes: "BM", size, reserved, pixel offset), then an info header
 * whose first field is its size: 12 (OS/2: 16-bit sizes) or 40..124 (32-bit, signed height,
 * negative = top-down). Uncompressed and bit-field rows are ceil(w*bpp/32)*4 bytes each. */
static ev_status bmp_complete(const char *path, const uint8_t *d, size_t n) {
  if (n < 18) return EV_OK; /* stb refuses it */
  uint32_t offset = le32(d + 10), hsz = le32(d + 14), bpp, compression = 0;
  int64_t w, h;
  if (hsz == 12 && n >= 26) {
    w = le16(d + 18), h = le16(d + 20), bpp = le16(d + 24);
  } else if ((hsz == 40 || hsz == 56 || hsz == 108 || hsz == 124) && n >= 34) {
    w = (int32_t)le32(d + 18), h = (int32_t)le32(d + 22), bpp = le16(d + 28), compression = le32(d + 30);
  } else {
    return EV_OK;
  }
  if ((compression != 0 && compression != 3) || w <= 0 || h == 0) return EV_OK; /* stb refuses these */
  if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32) return EV_OK;
  uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4, need = offset + row * (uint64_t)(h < 0 ? -h : h);
  return need > n ? truncated(path, need, n) : EV_OK;
}

ev_status ev_image_check_complete(const char *path, const uint8_t *d, size_t n) {
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && memcmp(d, png_sig, 8) == 0) return png_complete(path, d, n);
  if (n >= 2 && d[0] == 'B' && d[1] == 'M') return bmp_complete(path, d, n);
  return EV_OK;
}

ev_status ev_image_check_size(const char *path, int64_t w, int64_t h) {
  if (w <= 0 || h <= 0)
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: it has no pixels (%lldx%lld)", path, (long long)w,
                   (long long)h);
  if ((uint64_t)w * (uint64_t)h > EV_IMAGE_MAX_PIXELS)
    return ev_fail(EV_ERR_FORMAT, "image %s is %lldx%lld, more than %llu pixels", path, (long long)w, (long long)h,
                   (unsigned long long)EV_IMAGE_MAX_PIXELS);
  return EV_OK;
}
