/* `evonet bench kernels`: GFLOP/s of the convolution passes (forward, input gradient,
 * weight gradient) at a few fixed layer shapes. Each run records `INNER` copies of one pass
 * into one stream and times submit+wait on the host; the table shows the median over
 * --reps runs (after one untimed warm-up run that builds the pipelines).
 * GFLOP/s = 2 * MACs / time, MACs = N*Ho*Wo*Cout*Cin*kh*kw (conv) or N*H*W*Cin*Cout*kh*kw
 * (transposed conv, H*W = its input): the same count for all three passes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "evonet/train.h"
#include "evonet/ops/conv.h"
#include "evonet/ops/conv_wgrad.h"

enum { INNER = 3 };

typedef struct {
  const char *name;
  int transposed, n, h, w; /* h, w: the pass's x */
  ev_conv_desc d;
} bench_shape;

static const bench_shape k_shapes[] = {
    {"conv 3x3 64->64 @64x64", 0, 8, 64, 64, {64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"conv 3x3 128->128 @32x32", 0, 8, 32, 32, {128, 128, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"conv 3x3 256->256 @16x16", 0, 8, 16, 16, {256, 256, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0}},
    {"deconv 4x4 s2 128->64 @16->32", 1, 8, 16, 16, {128, 64, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0}},
};
#define N_SHAPES (sizeof k_shapes / sizeof k_shapes[0])

typedef enum { P_FWD, P_BWD_DATA, P_BWD_WEIGHT, N_PASSES } pass;
static const char *k_pass_names[N_PASSES] = {"forward", "input-grad", "weight-grad"};

typedef struct {
  ev_tensor x, y, dy, dx;
  ev_buf w, bias, dw, dbias, ws, wgrad_ws;
} bench_bufs;

static ev_status upload_random(ev_gpu *g, ev_buf *b, uint64_t *seed) {
  size_t n = b->size / 4;
  float *h = malloc(n * sizeof *h);
  if (!h) return ev_fail(EV_ERR_OOM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    h[i] = (float)((*seed >> 40) * (1.0 / 16777216.0)) - 0.5f;
  }
  ev_status st = ev_buf_upload(g, b, 0, h, n * 4);
  free(h);
  return st;
}

static void bufs_free(ev_gpu *g, bench_bufs *b) {
  ev_tensor_free(g, &b->x), ev_tensor_free(g, &b->y), ev_tensor_free(g, &b->dy), ev_tensor_free(g, &b->dx);
  ev_buf_free(g, &b->w), ev_buf_free(g, &b->bias), ev_buf_free(g, &b->dw), ev_buf_free(g, &b->dbias);
  ev_buf_free(g, &b->ws), ev_buf_free(g, &b->wgrad_ws);
}

/* Random values in [-0.5, 0.5) everywhere (the bench shapes have no padding channels). */
static ev_status bufs_alloc(ev_gpu *g, const bench_shape *sh, bench_bufs *b) {
  const ev_conv_desc *d = &sh->d;
  int ho = sh->transposed ? ev_deconv_out_size(sh->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h)
                          : ev_conv_out_size(sh->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = sh->transposed ? ev_deconv_out_size(sh->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w)
                          : ev_conv_out_size(sh->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  int wo_ch = sh->transposed ? d->cin : d->cout, wi_ch = sh->transposed ? d->cout : d->cin;
  uint64_t wfloats = (uint64_t)wo_ch * d->kh * d->kw * ev_c4(wi_ch), seed = 12345;
  uint64_t wgws = ev_conv_wgrad_workspace_bytes(ev_gpu_tuning(g), d, sh->n, sh->h, sh->w);
  EV_TRY(ev_tensor_alloc(g, sh->n, sh->h, sh->w, d->cin, &b->x));
  EV_TRY(ev_tensor_alloc(g, sh->n, sh->h, sh->w, d->cin, &b->dx));
  EV_TRY(ev_tensor_alloc(g, sh->n, ho, wo, d->cout, &b->y));
  EV_TRY(ev_tensor_alloc(g, sh->n, ho, wo, d->cout, &b->dy));
  EV_TRY(ev_buf_alloc(g, wfloats * 4, &b->w));
  EV_TRY(ev_buf_alloc(g, wfloats * 4, &b->dw));
  EV_TRY(ev_buf_alloc(g, ev_c4(d->cout) * 4, &b->bias));
  EV_TRY(ev_buf_alloc(g, ev_c4(d->cout) * 4, &b->dbias));
  EV_TRY(ev_buf_alloc(g, ev_conv_workspace_bytes(d), &b->ws));
  if (wgws) EV_TRY(ev_buf_alloc(g, wgws, &b->wgrad_ws));
  EV_TRY(upload_random(g, &b->x.buf, &seed));
  EV_TRY(upload_random(g, &b->dy.buf, &seed));
  EV_TRY(upload_random(g, &b->w, &seed));
  return upload_random(g, &b->bias, &seed);
}

static ev_status record(ev_stream *s, const bench_shape *sh, pass p, bench_bufs *b) {
  const ev_conv_desc *d = &sh->d;
  ev_buf *wgws = b->wgrad_ws.block ? &b->wgrad_ws : NULL;
  if (!sh->transposed) switch (p) {
    case P_FWD: return ev_conv2d_forward(s, d, &b->x, &b->w, &b->bias, 0, &b->y);
    case P_BWD_DATA: return ev_conv2d_backward_data(s, d, &b->dy, &b->w, &b->dx, &b->ws);
    default: return ev_conv2d_backward_weight(s, d, &b->x, &b->dy, &b->dw, &b->dbias, 0, wgws);
    }
  switch (p) {
  case P_FWD: return ev_deconv2d_forward(s, d, &b->x, &b->w, &b->bias, &b->y, &b->ws);
  case P_BWD_DATA: return ev_deconv2d_backward_data(s, d, &b->dy, &b->w, &b->dx);
  default: return ev_deconv2d_backward_weight(s, d, &b->x, &b->dy, &b->dw, &b->dbias, 0, wgws);
  }
}

/* One run: INNER passes in one submission; returns seconds per pass. */
static ev_status time_run(ev_gpu *g, const bench_shape *sh, pass p, bench_bufs *b, double *secs) {
  ev_stream *s;
  EV_TRY(ev_stream_begin(g, &s));
  for (int i = 0; i < INNER; i++) {
    ev_status st = record(s, sh, p, b);
    if (st != EV_OK) {
      ev_stream_abort(s);
      return st;
    }
  }
  double t0 = ev_now();
  EV_TRY(ev_stream_submit(s));
  *secs = (ev_now() - t0) / INNER;
  return EV_OK;
}

static double macs(const bench_shape *sh) {
  const ev_conv_desc *d = &sh->d;
  double taps = (double)d->kh * d->kw * d->cin * d->cout;
  if (sh->transposed) return taps * sh->n * sh->h * sh->w;
  int ho = ev_conv_out_size(sh->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(sh->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  return taps * sh->n * ho * wo;
}

static int bench_kernels(const char *device, int reps) {
  ev_gpu *g;
  if (cli_open_gpu(device, &g) != EV_OK) return cli_error();
  const ev_caps *c = ev_gpu_caps(g);
  int forced = ev_gpu_tuning(g)->conv_variant; /* EVONET_CONV_VARIANT: -1 unset */
  const char *variant = forced == 1 ? "cpu" : forced == 0 ? "gpu" : NULL;
  printf("evonet bench kernels: %s (%s, %s)\n", c->name, ev_device_type_name(c->type),
         c->driver_name[0] ? c->driver_name : "driver ?");
  printf("conv kernels: %s variant%s; fp32, N=8; median of %d runs, %d passes per submission, "
         "host-timed\n\n", variant ? variant : c->is_cpu ? "shuffle" : "shared",
         variant ? " (EVONET_CONV_VARIANT)" : "", reps, INNER);
  printf("%-31s %8s | %22s | %22s | %22s\n", "layer", "GFLOP", "forward", "input-grad", "weight-grad");
  printf("%-31s %8s | %10s %11s | %10s %11s | %10s %11s\n", "", "", "ms", "GFLOP/s", "ms",
         "GFLOP/s", "ms", "GFLOP/s");
  double *t = malloc((size_t)reps * sizeof *t);
  ev_status st = t ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  for (size_t i = 0; i < N_SHAPES && st == EV_OK; i++) {
    const bench_shape *sh = &k_shapes[i];
    bench_bufs b;
    memset(&b, 0, sizeof b);
    st = bufs_alloc(g, sh, &b);
    double gflop = 2.0 * macs(sh) / 1e9;
    printf("%-31s %8.3f |", sh->name, gflop);
    for (int p = 0; p < N_PASSES && st == EV_OK; p++) {
      double warm;
      st = time_run(g, sh, (pass)p, &b, &warm);
      for (int r = 0; r < reps && st == EV_OK; r++) st = time_run(g, sh, (pass)p, &b, &t[r]);
      if (st != EV_OK) break;
      double med = ev_median(t, reps);
      printf(" %10.2f %11.2f |", med * 1e3, gflop / med);
      fflush(stdout);
    }
    printf("\n");
    bufs_free(g, &b);
  }
  free(t);
  if (st != EV_OK) {
    printf("\n");
    int rc = cli_error();
    ev_gpu_close(g);
    return rc;
  }
  printf("\n%s: conv2d/deconv2d_forward with bias; %s: *_backward_data; %s: *_backward_weight "
         "with bias gradient\n", k_pass_names[P_FWD], k_pass_names[P_BWD_DATA], k_pass_names[P_BWD_WEIGHT]);
  ev_gpu_close(g);
  return 0;
}

int cmd_bench(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "train") == 0) return cli_bench_train(argc - 1, argv + 1); /* own options */
  static const struct option opts[] = {{"device", required_argument, 0, 'd'},
                                       {"reps", required_argument, 0, 'r'},
                                       {"help", no_argument, 0, 'h'},
                                       {0, 0, 0, 0}};
  const char *device = NULL;
  int reps = 7, c;
  while ((c = getopt_long(argc, argv, "d:r:h", opts, NULL)) != -1) {
    if (c == 'd') device = optarg;
    else if (c == 'r') {
      char *end;
      long v = strtol(optarg, &end, 10);
      if (*end || v < 1 || v > 1000) return cli_usage_error("bench", "--reps wants 1..1000, got '%s'", optarg);
      reps = (int)v;
    } else if (c == 'h') {
      printf("usage: evonet bench kernels [--device N|name] [--reps R]\n"
             "       evonet bench train --help\n\n"
             "Times the convolution passes (forward, input gradient, weight gradient) at fixed\n"
             "layer shapes (3x3 pad-1 convs at N=8: 64->64 @64x64, 128->128 @32x32,\n"
             "256->256 @16x16; 4x4 stride-2 pad-1 transposed conv 128->64 @16x16->32x32) and\n"
             "prints GFLOP/s = 2*MACs/time, the median of R runs (default 7); each run is one\n"
             "stream submission of %d passes timed on the host.\n"
             "EVONET_CONV_VARIANT=shuffle|shared (or cpu|gpu) forces a kernel variant;\n"
             "EVONET_CONV_GPU_TILE=TM,TN,LX,LY[,BK4] sets the shared variant's per-thread block, workgroup and k depth; EVONET_PROFILE=1 adds\n"
             "per-kernel GPU times.\n", INNER);
      return 0;
    } else return cli_usage_error("bench", "unknown option '%s'", cli_bad_option(argc, argv));
  }
  if (optind >= argc) return cli_usage_error("bench", "which benchmark? (kernels or train)");
  if (strcmp(argv[optind], "kernels") != 0)
    return cli_usage_error("bench", "unknown benchmark '%s' (kernels or train)", argv[optind]);
  if (optind + 1 < argc) return cli_usage_error("bench", "unexpected argument '%s'", argv[optind + 1]);
  return bench_kernels(device, reps);
}
