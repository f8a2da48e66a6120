/* Images on the host: decode (stb_image), bilinear resampling of a box, PNG writing.
 * Pixels are row-major, interleaved: pix[(y * w + x) * c + k]. */
#ifndef EVONET_IMAGE_H
#define EVONET_IMAGE_H
#include <stddef.h>
#include <stdint.h>
#include "evonet/status.h"

typedef struct {
  int w, h, c;  /* width, height, channels (1 gray, 3 RGB) */
  uint8_t *pix; /* (h, w, c), malloc'd */
} ev_image;

/* Largest image decoded (16384 x 16384): a 30-byte header can claim 60000 x 60000. */
#define EV_IMAGE_MAX_PIXELS (1ull << 28)

/* Decodes a JPEG/PNG/BMP file into `channels` (1: luminance, 3: RGB) uint8 pixels (JPEG
 * with libjpeg-turbo, PNG and BMP with stb_image). EV_ERR_IO if the file can't be read,
 * EV_ERR_FORMAT (naming the file and the decoder's reason) if it doesn't decode, is
 * truncated or has more than EV_IMAGE_MAX_PIXELS pixels. */
ev_status ev_image_load(const char *path, int channels, ev_image *out);
/* Width and height from the file's header, without decoding: the same errors as
 * ev_image_load short of a corrupt pixel stream, including a truncated file (a PNG chunk or
 * BMP rows past the end, a JPEG without its end-of-image marker) and a broken link. */
ev_status ev_image_info(const char *path, int *w, int *h);
void ev_image_free(ev_image *im);

/* Bilinear resample of the box [x0, x0+bw) × [y0, y0+bh) of a (h, w, c) source into a
 * (dh, dw, c) float destination, in the source's units (0..255 for uint8). Pixel centres
 * are at +0.5 (the "align_corners=False" convention), source reads clamp at the edges,
 * so the full box at the same size is an exact copy. */
void ev_resample_u8(const uint8_t *src, int w, int h, int c, float x0, float y0, float bw,
                    float bh, int dw, int dh, float *dst);
void ev_resample_f32(const float *src, int w, int h, int c, float x0, float y0, float bw,
                     float bh, int dw, int dh, float *dst);

/* Writes an 8-bit PNG (channels 1 gray, 3 RGB or 4 RGBA) atomically: encoded in memory,
 * then temp file + fsync + rename, so a reader never sees half a picture. */
ev_status ev_png_write(const char *path, const uint8_t *pix, int w, int h, int channels);
#endif
