/* Checks a JPEG's Huffman tables before stb_image sees them. Debian 12's stb_image (2.27)
 * builds a table from up to 16 x 255 code lengths into a 257-entry array without checking
 * that they sum to at most 256 (fixed in stb_image 2.28): a crafted file writes past the
 * array. The JPEG standard allows at most 256 codes per table, so refusing more loses no
 * valid image. */
#include "jpeg_guard.h"

/* One DHT segment: tables of (class/id, 16 counts, sum(counts) symbols) while `len` bytes
 * remain. Like stb_image, it reads a table whenever any length remains, even past the
 * segment's end, and counts missing at the end of the file as 0. avail: bytes to the
 * file's end. */
static bool dht_ok(const uint8_t *p, long len, size_t avail) {
  while (len > 0) {
    unsigned codes = 0;
    for (size_t i = 1; i <= 16 && i < avail; i++) codes += p[i];
    if (codes > 256) return false;
    size_t used = 17 + codes;
    if (used >= avail) return true; /* the file ends inside this table */
    p += used, avail -= used, len -= (long)used;
  }
  return true;
}

/* Segments before the first scan are walked by their lengths, as stb_image walks them,
 * resynchronising on the next 0xFF after junk as it does. From the first scan on, every
 * 0xFF 0xC4 is judged as a table: in valid entropy-coded data a 0xFF is followed only by
 * 0x00 or a restart marker, so this rejects no valid file, whatever path a decoder takes
 * through the scans. */
bool ev_jpeg_tables_ok(const uint8_t *d, size_t n) {
  if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return true; /* not a JPEG */
  size_t i = 2;
  while (i < n) {
    while (i < n && d[i] != 0xFF) i++; /* junk between segments: stb skips it too */
    while (i < n && d[i] == 0xFF) i++; /* fill bytes */
    if (i + 2 >= n) return true;
    uint8_t m = d[i++];
    if (m == 0xD9) return true;                         /* end of image */
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue; /* no length */
    size_t len = (size_t)d[i] << 8 | d[i + 1];
    if (m == 0xDA) break; /* the first scan */
    if (m == 0xC4 && !dht_ok(d + i + 2, (long)len - 2, n - i - 2)) return false;
    i += len < 2 ? 2 : len;
  }
  for (; i + 1 < n; i++)
    if (d[i] == 0xFF && d[i + 1] == 0xC4 && i + 4 < n &&
        !dht_ok(d + i + 4, (long)((size_t)d[i + 2] << 8 | d[i + 3]) - 2, n - i - 4))
      return false;
  return true;
}
