/* File helpers: whole-file reads and atomic writes (temp file, fsync, rename), so an
 * interrupted run never leaves a half-written checkpoint, report or cache. */
#ifndef EVONET_IO_H
#define EVONET_IO_H
#include <stddef.h>
#include "evonet/status.h"

/* Reads the whole file into a malloc'd buffer (NUL-terminated past *size). */
ev_status ev_read_file(const char *path, void **data, size_t *size);
/* Writes path atomically: path.tmp.<pid>, fsync, rename over path, fsync the folder. */
ev_status ev_write_file_atomic(const char *path, const void *data, size_t size);
/* mkdir -p; EV_ERR_IO with the reason if a component can't be made or isn't a folder. */
ev_status ev_mkdirs(const char *path);
/* Joins a and b with one '/'; returns out. */
char *ev_path_join(char *out, size_t cap, const char *a, const char *b);
#endif
