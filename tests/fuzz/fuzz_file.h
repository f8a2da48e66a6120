/* Fuzz targets read files the way a user's command does (by path), so each input is
 * written to one private temporary file first. */
#ifndef EVONET_FUZZ_FILE_H
#define EVONET_FUZZ_FILE_H
#include <stddef.h>
#include <stdint.h>

/* Path of a file holding exactly data[0..size); the same path every call. Aborts on I/O
 * failure (the harness is broken then, not the code under test). */
const char *fuzz_write_file(const uint8_t *data, size_t size);
#endif
