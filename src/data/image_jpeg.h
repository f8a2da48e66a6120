/* JPEG through libjpeg-turbo (the decoder PIL uses, fuzzed upstream), not stb_image:
 * Debian 12's stb_image 2.27 writes and reads out of bounds on crafted JPEGs (fixed in
 * 2.28; docs/TESTING.md). */
#ifndef EVONET_IMAGE_JPEG_H
#define EVONET_IMAGE_JPEG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evonet/image.h"

static inline bool ev_is_jpeg(const uint8_t *d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

/* Size from the header, without decoding. EV_ERR_FORMAT naming `path` if it is not a
 * readable JPEG, or if no end-of-image marker follows the header (a file cut short: the
 * decoder would refuse it as truncated). */
ev_status ev_jpeg_info(const char *path, const uint8_t *d, size_t n, int *w, int *h);
/* Decodes to `channels` (1: luminance Y, 3: RGB); refuses images over EV_IMAGE_MAX_PIXELS
 * and truncated files. out->pix is malloc'd. */
ev_status ev_jpeg_decode(const char *path, const uint8_t *d, size_t n, int channels, ev_image *out);
#endif
