/* Whole-file reads and atomic writes. */
#include "evonet/io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

ev_status ev_read_file(const char *path, void **data, size_t *size) {
  *data = NULL;
  *size = 0;
  struct stat st;
  if (stat(path, &st) != 0) return ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return ev_fail(EV_ERR_IO, "cannot read %s: not a regular file", path);
  FILE *f = fopen(path, "rb");
  if (!f) return ev_fail(EV_ERR_IO, "cannot open %s: %s", path, strerror(errno));
  if (fseek(f, 0, SEEK_END) != 0) {
    fclose(f);
    return ev_fail(EV_ERR_IO, "cannot read %s: %s", path, strerror(errno));
  }
  long n = ftell(f);
  if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return ev_fail(EV_ERR_IO, "cannot read %s: not a regular file", path);
  }
  char *buf = malloc((size_t)n + 1);
  if (!buf) {
    fclose(f);
    return ev_fail(EV_ERR_OOM, "out of memory reading %s (%ld bytes)", path, n);
  }
  if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return ev_fail(EV_ERR_IO, "cannot read %s: short read", path);
  }
  fclose(f);
  buf[n] = 0;
  *data = buf;
  *size = (size_t)n;
  return EV_OK;
}

static void fsync_dir_of(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)fsync(fd); /* best effort: some filesystems refuse fsync on folders */
    close(fd);
  }
}

ev_status ev_write_file_atomic(const char *path, const void *data, size_t size) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
    return ev_fail(EV_ERR_ARG, "path too long: %s", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return ev_fail(EV_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  const char *p = data;
  size_t left = size;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      unlink(tmp);
      return ev_fail(EV_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    int e = errno;
    unlink(tmp);
    return ev_fail(EV_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  if (rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    return ev_fail(EV_ERR_IO, "cannot write %s: %s", path, strerror(e));
  }
  fsync_dir_of(path);
  return EV_OK;
}

ev_status ev_mkdirs(const char *path) {
  char buf[4096];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return ev_fail(EV_ERR_ARG, "bad folder name '%s'", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != 0) continue;
    char c = buf[i];
    buf[i] = 0;
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return ev_fail(EV_ERR_IO, "cannot create folder %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
      return ev_fail(EV_ERR_IO, "cannot create folder %s: a file is in the way", buf);
    buf[i] = c;
  }
  return EV_OK;
}

char *ev_path_join(char *out, size_t cap, const char *a, const char *b) {
  size_t la = strlen(a);
  snprintf(out, cap, "%s%s%s", a, (la && a[la - 1] == '/') ? "" : "/", b);
  return out;
}
