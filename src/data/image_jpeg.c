/* JPEG decoding with libjpeg-turbo (see image_jpeg.h). Its errors longjmp back here and
 * become one sentence; a file that ends early is refused (libjpeg would fill the rest with
 * grey and train on it). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_complete.h"
#include "image_jpeg.h"

typedef struct {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
  int truncated;
} err_mgr;

static void on_error(j_common_ptr c) {
  err_mgr *e = (err_mgr *)c->err;
  c->err->format_message(c, e->msg);
  longjmp(e->jump, 1);
}

/* Warnings (level -1) are not printed; "premature end of data" is remembered. */
static void on_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) ((err_mgr *)c->err)->truncated = 1;
}

static void open_mem(struct jpeg_decompress_struct *ci, err_mgr *em, const uint8_t *d, size_t n) {
  ci->err = jpeg_std_error(&em->pub);
  em->pub.error_exit = on_error;
  em->pub.emit_message = on_message;
  em->truncated = 0;
  em->msg[0] = '\0';
  jpeg_create_decompress(ci);
  jpeg_mem_src(ci, d, (unsigned long)n);
}

/* Does d[0, n) hold the marker FF D9 (end of image)? */
static int has_eoi(const uint8_t *d, size_t n) {
  const uint8_t *end = d + n;
  while (end - d >= 2) {
    const uint8_t *ff = memchr(d, 0xFF, (size_t)(end - d - 1));
    if (!ff) return 0;
    if (ff[1] == 0xD9) return 1;
    d = ff + 1;
  }
  return 0;
}

ev_status ev_jpeg_info(const char *path, const uint8_t *d, size_t n, int *w, int *h) {
  struct jpeg_decompress_struct ci;
  err_mgr em;
  if (setjmp(em.jump)) {
    jpeg_destroy_decompress(&ci);
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: %s", path, em.msg);
  }
  open_mem(&ci, &em, d, n);
  jpeg_read_header(&ci, TRUE);
  *w = (int)ci.image_width, *h = (int)ci.image_height;
  /* the header ends at the first scan: the rest is the image data, which must be followed
   * by an end-of-image marker. Entropy-coded bytes never hold FF D9 (an FF there is
   * followed by 00 or a restart marker), so its absence means the file was cut short. */
  int complete = !em.truncated && has_eoi(ci.src->next_input_byte, ci.src->bytes_in_buffer);
  jpeg_destroy_decompress(&ci);
  if (!complete)
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: the file ends before the image does (truncated: no end-of-image marker)", path);
  return EV_OK;
}

/* One decoded row (w pixels of oc components) to `channels`: CMYK as Adobe stores it
 * (inverted: r = c*k/255), luminance from RGB with stb_image's weights. */
static void convert_row(const uint8_t *src, int oc, int cmyk, int w, int channels, uint8_t *dst) {
  for (int x = 0; x < w; x++, src += oc) {
    if (oc == channels && !cmyk) {
      for (int k = 0; k < channels; k++) dst[x * channels + k] = src[k];
      continue;
    }
    uint8_t rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = cmyk ? (uint8_t)((src[k] * src[3] + 127) / 255) : src[oc == 1 ? 0 : k];
    if (channels == 3) dst[3 * x] = rgb[0], dst[3 * x + 1] = rgb[1], dst[3 * x + 2] = rgb[2];
    else dst[x] = (uint8_t)((rgb[0] * 77 + rgb[1] * 150 + rgb[2] * 29) >> 8);
  }
}

ev_status ev_jpeg_decode(const char *path, const uint8_t *d, size_t n, int channels, ev_image *out) {
  struct jpeg_decompress_struct ci;
  err_mgr em;
  uint8_t *volatile pix = NULL, *volatile row = NULL; /* freed after a longjmp */
  if (setjmp(em.jump)) {
    jpeg_destroy_decompress(&ci);
    free(pix), free(row);
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: %s", path, em.msg);
  }
  open_mem(&ci, &em, d, n);
  jpeg_read_header(&ci, TRUE);
  ev_status s = ev_image_check_size(path, ci.image_width, ci.image_height);
  if (s != EV_OK) {
    jpeg_destroy_decompress(&ci);
    return s;
  }
  int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  ci.out_color_space = cmyk ? JCS_CMYK : channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_start_decompress(&ci);
  int w = (int)ci.output_width, h = (int)ci.output_height, oc = ci.output_components;
  pix = malloc((size_t)w * h * channels);
  row = malloc((size_t)w * oc);
  if (!pix || !row) {
    jpeg_destroy_decompress(&ci);
    free(pix), free(row);
    return ev_fail(EV_ERR_OOM, "out of memory decoding %s (%dx%d)", path, w, h);
  }
  while (ci.output_scanline < ci.output_height && !em.truncated) {
    JSAMPROW r = row;
    int y = (int)ci.output_scanline;
    jpeg_read_scanlines(&ci, &r, 1);
    convert_row(row, oc, cmyk, w, channels, pix + (size_t)y * w * channels);
  }
  if (em.truncated) {
    jpeg_destroy_decompress(&ci);
    free(pix), free(row);
    return ev_fail(EV_ERR_FORMAT, "cannot decode image %s: the file ends before the image does (truncated)", path);
  }
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  free(row);
  *out = (ev_image){.w = w, .h = h, .c = channels, .pix = pix};
  return EV_OK;
}
