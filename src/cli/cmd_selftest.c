/* `evonet selftest`: a handful of kernels on the chosen device, checked against C
 * references, with measured bandwidth and GEMM throughput (median of 5 timed runs). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "evonet/train.h"
#include "evonet/ops/basic.h"

static void fill_random(float *x, size_t n, uint64_t *s) {
  for (size_t i = 0; i < n; i++) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((*s >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
  }
}

static double rel_err(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i])) return INFINITY;
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

typedef enum { K_COPY, K_TEXEL, K_SUM, K_GEMM } kernel;

/* Records `reps` runs of kernel k into one stream and returns seconds for all of them. */
static ev_status run(ev_gpu *g, kernel k, int reps, ev_buf **b, uint32_t n, int M, int N, int K,
                     double *secs) {
  ev_stream *s;
  EV_TRY(ev_stream_begin(g, &s));
  ev_status st = EV_OK;
  for (int r = 0; r < reps && st == EV_OK; r++) {
    switch (k) {
    case K_COPY: st = ev_copy(s, b[0], b[1], n, 0); break;
    case K_TEXEL: st = ev_copy(s, b[0], b[1], n, 1); break;
    case K_SUM: st = ev_reduce_sum(s, b[0], n, b[2], b[1]); break;
    case K_GEMM: st = ev_gemm_small(s, b[0], b[2], b[1], M, N, K); break;
    }
  }
  if (st != EV_OK) {
    ev_stream_abort(s);
    return st;
  }
  double t0 = ev_now();
  st = ev_stream_submit(s);
  *secs = ev_now() - t0;
  return st;
}

int cmd_selftest(int argc, char **argv) {
  static const struct option opts[] = {
      {"device", required_argument, 0, 'd'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
  const char *device = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
    if (c == 'd') device = optarg;
    else if (c == 'h') {
      printf("usage: evonet selftest [--device N|name]\n\nRuns copy, texel-buffer copy, sum "
             "reduction and GEMM kernels against C references and\nprints GB/s and GFLOP/s. "
             "Exit status 0 only if every kernel matches its reference.\n");
      return 0;
    } else return cli_usage_error("selftest", "unknown option '%s'", cli_bad_option(argc, argv));
  }
  if (optind < argc) return cli_usage_error("selftest", "unexpected argument '%s'", argv[optind]);
  ev_gpu *g;
  if (cli_open_gpu(device, &g) != EV_OK) return cli_error();
  const ev_caps *caps = ev_gpu_caps(g);
  printf("device: %s (%s, %s)\n\n", caps->name, ev_device_type_name(caps->type),
         caps->driver_name[0] ? caps->driver_name : "driver ?");
  printf("%-22s %-18s %10s %8s %12s\n", "kernel", "size", "rel.err", "result", "speed");

  const uint32_t n = 4u << 20;         /* 16 MiB of floats */
  const int M = 256, N = 256, K = 256; /* GEMM */
  uint64_t seed = (uint64_t)time(NULL);
  float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *ref = malloc(n * sizeof *ref);
  float *bt = malloc((size_t)N * K * sizeof *bt);
  ev_buf bx = {0}, by = {0}, bs = {0}, bb = {0};
  int failed = 0;
  ev_status st = (x && y && ref && bt) ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  if (st == EV_OK) st = ev_buf_alloc(g, (uint64_t)n * 4, &bx);
  if (st == EV_OK) st = ev_buf_alloc(g, (uint64_t)n * 4, &by);
  if (st == EV_OK) st = ev_buf_alloc(g, ev_reduce_sum_scratch(n) * 4, &bs);
  if (st == EV_OK) st = ev_buf_alloc(g, (uint64_t)N * K * 4, &bb);
  const char *names[] = {"copy (storage)", "copy (texel buffer)", "sum reduction", "gemm (texel)"};
  for (int k = 0; k < 4 && st == EV_OK; k++) {
    fill_random(x, n, &seed);
    fill_random(bt, (size_t)N * K, &seed);
    st = ev_buf_upload(g, &bx, 0, x, (uint64_t)n * 4);
    if (st == EV_OK) st = ev_buf_upload(g, &bb, 0, bt, (uint64_t)N * K * 4);
    if (st == EV_OK) st = ev_buf_fill(g, &by, 0x7fc0dead); /* poison: NaN */
    if (st != EV_OK) break;
    ev_buf *bufs[3] = {&bx, &by, k == K_GEMM ? &bb : &bs};
    double secs, err = 0;
    char size[32];
    size_t m = n;
    st = run(g, (kernel)k, 1, bufs, n, M, N, K, &secs);
    if (st != EV_OK) break;
    if (k == K_COPY || k == K_TEXEL) {
      memcpy(ref, x, (size_t)n * 4);
      snprintf(size, sizeof size, "%u MiB", n >> 18);
    } else if (k == K_SUM) {
      ref[0] = (float)ev_reduce_sum_ref(x, n);
      m = 1;
      snprintf(size, sizeof size, "%u floats", n);
    } else {
      ev_gemm_ref(x, bt, ref, M, N, K);
      m = (size_t)M * N;
      snprintf(size, sizeof size, "%dx%dx%d", M, N, K);
    }
    st = ev_buf_download(g, &by, 0, y, m * 4);
    if (st != EV_OK) break;
    err = rel_err(y, ref, m);
    double tol = k == K_SUM ? 1e-4 : k == K_GEMM ? 1e-5 : 0;
    int ok = err <= tol;
    failed |= !ok;
    /* timing: 5 submissions of `reps` runs each; median */
    int reps = k == K_GEMM ? 20 : 10;
    double t[5];
    for (int i = 0; i < 5 && st == EV_OK; i++) st = run(g, (kernel)k, reps, bufs, n, M, N, K, &t[i]);
    if (st != EV_OK) break;
    double per = ev_median(t, 5) / reps;
    char speed[32];
    if (k == K_GEMM) snprintf(speed, sizeof speed, "%.2f GFLOP/s", 2.0 * M * N * K / per / 1e9);
    else if (k == K_SUM) snprintf(speed, sizeof speed, "%.2f GB/s", n * 4.0 / per / 1e9);
    else snprintf(speed, sizeof speed, "%.2f GB/s", n * 8.0 / per / 1e9);
    printf("%-22s %-18s %10.2e %8s %12s\n", names[k], size, err, ok ? "pass" : "FAIL", speed);
  }
  ev_buf_free(g, &bx);
  ev_buf_free(g, &by);
  ev_buf_free(g, &bs);
  ev_buf_free(g, &bb);
  free(x);
  free(y);
  free(ref);
  free(bt);
  if (st != EV_OK) {
    int rc = cli_error();
    ev_gpu_close(g);
    return rc;
  }
  ev_gpu_close(g);
  printf("\n%s\n", failed ? "selftest FAILED" : "selftest passed");
  return failed ? 1 : 0;
}
