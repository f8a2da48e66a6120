/* Does a PNG or BMP file hold the bytes its header promises? stb_image does not ask: it
 * allocates what a chunk length claims before reading it (a 90-byte PNG made it ask for
 * 1 GiB) and fills the rows of a short BMP with zeros, which would train on them. */
#ifndef EVONET_IMAGE_COMPLETE_H
#define EVONET_IMAGE_COMPLETE_H
#include <stddef.h>
#include <stdint.h>

#include "evonet/status.h"

/* EV_ERR_FORMAT naming `path` when a PNG chunk or BMP's pixel rows run past the end of the
 * file; EV_OK otherwise (also for other formats and headers stb will refuse itself). */
ev_status ev_image_check_complete(const char *path, const uint8_t *d, size_t n);
#endif
