#include "fuzz_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char g_path[64];

static void remove_file(void) { unlink(g_path); }

const char *fuzz_write_file(const uint8_t *data, size_t size) {
  if (!g_path[0]) {
    snprintf(g_path, sizeof g_path, "/tmp/evonet-fuzz-XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0) abort();
    close(fd);
    atexit(remove_file);
  }
  FILE *f = fopen(g_path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
  return g_path;
}
