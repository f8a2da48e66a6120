/* Checks on an image's header before it is decoded. Does a PNG or BMP file hold the bytes
 * its header promises? stb_image does not ask: it allocates what a chunk length claims
 * before reading it (a 90-byte PNG made it ask for 1 GiB) and fills the rows of a short BMP
 * with zeros, which would train on them. Is the size one worth decoding? */
#ifndef EVONET_IMAGE_COMPLETE_H
#define EVONET_IMAGE_COMPLETE_H
#include <stddef.h>
#include <stdint.h>

#include "evonet/status.h"

/* EV_ERR_FORMAT naming `path` when a PNG chunk or BMP's pixel rows run past the end of the
 * file; EV_OK otherwise (also for other formats and headers stb will refuse itself). */
ev_status ev_image_check_complete(const char *path, const uint8_t *d, size_t n);
/* EV_ERR_FORMAT naming `path` when w x h has no pixels (stb_image 2.27 accepts a BMP 0 rows
 * high) or more than EV_IMAGE_MAX_PIXELS (a 30-byte header can claim 60000 x 60000). */
ev_status ev_image_check_size(const char *path, int64_t w, int64_t h);
#endif
