#include <string.h>
#include <sys/stat.h>
#include <dirent.h>
#include "testutil.h"
#include "evonet/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static ev_gpu *g_gpu;

ev_gpu *tu_gpu(void) {
  if (!g_gpu) {
    ev_gpu_options o = {.validate = 1};
    ev_status s = ev_gpu_open(&o, &g_gpu);
    if (s != EV_OK) fail_msg("cannot open a Vulkan device: %s", ev_last_error());
  }
  return g_gpu;
}

void tu_tune(const char *name, const char *value) {
  TU_OK(ev_tuning_set(ev_gpu_tuning_mut(tu_gpu()), name, value));
}

void tu_gpu_assert_clean(void) {
  if (!g_gpu) return;
  uint32_t e = ev_gpu_validation_errors(g_gpu), w = ev_gpu_validation_warnings(g_gpu);
  if (e || w) fail_msg("validation layer reported %u errors and %u warnings", e, w);
}

int tu_gpu_finish(int rc) {
  if (g_gpu) {
    uint32_t e = ev_gpu_validation_errors(g_gpu), w = ev_gpu_validation_warnings(g_gpu);
    ev_gpu_close(g_gpu);
    g_gpu = NULL;
    if (e || w) {
      fprintf(stderr, "validation layer reported %u errors and %u warnings\n", e, w);
      return rc ? rc : 1;
    }
  }
  return rc;
}

uint64_t tu_seed(void) {
  static uint64_t seed;
  static int done;
  if (!done) {
    const char *e = getenv("EVONET_TEST_SEED");
    seed = e ? strtoull(e, NULL, 0) : ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid();
    fprintf(stderr, "[ test seed: EVONET_TEST_SEED=%llu ]\n", (unsigned long long)seed);
    done = 1;
  }
  return seed;
}

uint64_t tu_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float tu_uniform(uint64_t *s, float lo, float hi) {
  return lo + (hi - lo) * (float)((tu_next(s) >> 40) * (1.0 / 16777216.0));
}

void tu_fill_uniform(float *x, size_t n, uint64_t *s, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = tu_uniform(s, lo, hi);
}

void tu_poison(ev_buf *b) { TU_OK(ev_buf_fill(tu_gpu(), b, TU_POISON_WORD)); }

double tu_rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return sqrt(num) / (den > 1e-300 ? sqrt(den) : 1e-150);
}

double tu_max_abs_err(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    double d = fabs((double)a[i] - b[i]);
    if (d > m) m = d;
  }
  return m;
}

ev_buf tu_upload(const float *x, size_t n) {
  ev_buf b = {0};
  size_t bytes = ((n + 3) / 4) * 16;
  TU_OK(ev_buf_alloc(tu_gpu(), bytes, &b));
  tu_poison(&b);
  TU_OK(ev_buf_upload(tu_gpu(), &b, 0, x, n * sizeof(float)));
  return b;
}

void tu_download(const ev_buf *b, float *x, size_t n) {
  TU_OK(ev_buf_download(tu_gpu(), b, 0, x, n * sizeof(float)));
}

void tu_rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    struct dirent *de;
    char sub[4096];
    while (d && (de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
        tu_rm_rf(ev_path_join(sub, sizeof sub, path, de->d_name));
    if (d) closedir(d);
    rmdir(path);
  } else {
    unlink(path);
  }
}

char *tu_fresh_dir(const char *root, const char *name, char *out) {
  ev_path_join(out, 4096, root, name);
  tu_rm_rf(out);
  TU_OK(ev_mkdirs(out));
  return out;
}
