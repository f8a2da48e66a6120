/* Guards for foreign image bytes that Debian's stb_image would mishandle. */
#ifndef EVONET_JPEG_GUARD_H
#define EVONET_JPEG_GUARD_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* false if d[0..n) is a JPEG with a Huffman table of more than 256 codes (invalid, and an
 * out-of-bounds write in stb_image 2.27); true for any other bytes. */
bool ev_jpeg_tables_ok(const uint8_t *d, size_t n);
#endif
