/* Host side of the conv / transposed-conv weight and bias gradients (shaders
 * conv_wgrad_shuffle, conv_wgrad_shared, conv_wgrad_reduce, conv_wgrad_bias).
 *
 * Both passes are one GEMM over pixels: dw[o][tap][i] = sum_p R[p][o] * C[shift_tap(p)][i],
 * with (R, C) = (dy, x) for conv2d and (x, dy) for the transposed conv. The pixel sum is cut
 * into split-K slices written to the workspace and summed by a second, fixed-order pass. */
#include <stdlib.h>
#include <string.h>

#include "conv_variant.h"
#include "evonet/ops/conv_wgrad.h"
#include "push/conv.h"

typedef struct {
  int n, hr, wr, rows; /* R: the pixel grid walked; its channels are dw's rows (O) */
  int hc, wc, cols;    /* C: read at tap-shifted positions; its channels are dw's I */
  int kh, kw, sh, sw, ph, pw, dh, dw;
} geom;

/* Initialisers of the geometry that both GEMM kernels' push blocks begin with
 * (EV_PUSH_WGRAD_GEOMETRY_ in push/conv.h), in its order. */
#define WGRAD_GEOMETRY_INIT(g)                                                                 \
  (g)->n, (g)->hr, (g)->wr, ev_c4((g)->rows) / 4, (g)->hc, (g)->wc, ev_c4((g)->cols) / 4,      \
      (g)->rows, (g)->cols, (g)->kh, (g)->kw, (g)->sh, (g)->sw, (g)->ph, (g)->pw, (g)->dh, (g)->dw

static int desc_ok(const ev_conv_desc *d, int transposed) {
  if (d->cin <= 0 || d->cout <= 0 || d->kh <= 0 || d->kw <= 0 || d->stride_h <= 0 ||
      d->stride_w <= 0 || d->pad_h < 0 || d->pad_w < 0 || d->dil_h <= 0 || d->dil_w <= 0)
    return 0;
  if (!transposed) return d->out_pad_h == 0 && d->out_pad_w == 0;
  int mh = d->stride_h > d->dil_h ? d->stride_h : d->dil_h;
  int mw = d->stride_w > d->dil_w ? d->stride_w : d->dil_w;
  return d->out_pad_h >= 0 && d->out_pad_h < mh && d->out_pad_w >= 0 && d->out_pad_w < mw;
}

/* The GEMM geometry of a layer whose x is (n, h, w); 0 if d or the sizes are invalid. */
static int geom_of(const ev_conv_desc *d, int transposed, int n, int h, int w, geom *g) {
  if (!desc_ok(d, transposed) || n <= 0 || h <= 0 || w <= 0) return 0;
  *g = (geom){.n = n, .kh = d->kh, .kw = d->kw, .sh = d->stride_h, .sw = d->stride_w,
              .ph = d->pad_h, .pw = d->pad_w, .dh = d->dil_h, .dw = d->dil_w};
  if (!transposed) { /* R = dy (output grid), C = x */
    g->hr = ev_conv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h);
    g->wr = ev_conv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w);
    g->rows = d->cout, g->hc = h, g->wc = w, g->cols = d->cin;
  } else { /* R = x (the deconv's input grid), C = dy */
    g->hr = h, g->wr = w, g->rows = d->cin;
    g->hc = ev_deconv_out_size(h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
    g->wc = ev_deconv_out_size(w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
    g->cols = d->cout;
  }
  /* int32 indexing in the shaders: keep every count well inside it */
  uint64_t pix = (uint64_t)n * g->hr * g->wr, cpix = (uint64_t)n * g->hc * g->wc;
  uint64_t dwf = (uint64_t)g->rows * g->kh * g->kw * ev_c4(g->cols);
  if (g->hr <= 0 || g->wr <= 0 || g->hc <= 0 || g->wc <= 0) return 0;
  if (pix * ev_c4(g->rows) >= (1u << 31) || cpix * ev_c4(g->cols) >= (1u << 31) || dwf >= (1u << 28))
    return 0;
  return 1;
}

static uint64_t dw_floats(const geom *g) {
  return (uint64_t)g->rows * g->kh * g->kw * ev_c4(g->cols);
}

/* ---- kernel choice and split-K ---- */
enum { SHUFFLE_MIN_WG = 64,      /* workgroups that keep a many-core CPU busy */
       SHUFFLE_MIN_SLICE = 1024, /* pixels per split-K slice at least */
       SHUFFLE_NSG = 1,          /* subgroups (tiles) per workgroup */
       SHARED_TARGET_WG = 512,   /* workgroups a discrete GPU wants in flight */
       SHARED_MIN_SLICE = 256,
       MAX_SLICE = 4096,         /* fp32 running sums over at most this many pixels: accuracy */
       MAX_SPLITS = 256,
       MAX_WS_BYTES = 1 << 27    /* Vulkan's minimum maxStorageBufferRange */ };

/* EVONET_WGRAD_SLICE=p (ev_tuning.wgrad_slice) forces p pixels per split-K slice (tests use it
 * to exercise the split path on small shapes); it must not change between sizing a workspace
 * and using it. */
static int slice_override(const ev_tuning *tu) { return tu->wgrad_slice > 0 ? tu->wgrad_slice : 0; }

static uint64_t pixels(const geom *g) { return (uint64_t)g->n * g->hr * g->wr; }

/* splits so that tiles * splits reaches `want` workgroups, slices >= min_slice pixels */
static int splits_for(const ev_tuning *tu, const geom *g, uint64_t tiles, uint64_t want, uint64_t min_slice) {
  uint64_t pix = pixels(g), s;
  if (slice_override(tu)) s = (pix + slice_override(tu) - 1) / slice_override(tu);
  else {
    s = (want + tiles - 1) / tiles;
    uint64_t smax = (pix + min_slice - 1) / min_slice, smin = (pix + MAX_SLICE - 1) / MAX_SLICE;
    if (s > smax) s = smax;
    if (s < smin) s = smin;
  }
  if (s > MAX_SPLITS) s = MAX_SPLITS;
  uint64_t fit = MAX_WS_BYTES / (dw_floats(g) * 4); /* within every device's storage range */
  if (s > fit) s = fit;
  return s ? (int)s : 1;
}

/* Shuffled quads per tile (NS): more of them spend fewer fetches and shuffles per
 * multiply-add and cost no extra spills (lavapipe's texel fetch is a call, so accumulators
 * go through memory around it anyway); relative cost per multiply-add measured on Zen 5 /
 * lavapipe without padding waste: NS 2, 4, 8 = 1, .85, .80. Minimise padded quads x cost. */
static int wgrad_ns(const ev_tuning *tu, int rq) {
  int e = tu->wgrad_ns; /* test hook: 1 to 8 */
  if (e >= 1 && e <= 8) return e < rq ? e : rq;
  static const int ns[4] = {1, 2, 4, 8};
  static const double cost[4] = {1.25, 1.0, 0.85, 0.80};
  int best = 1;
  double bc = 0;
  for (int i = 0; i < 4; i++) {
    double c = cost[i] * (double)((rq + ns[i] - 1) / ns[i] * ns[i]);
    if (i == 0 || c < bc) bc = c, best = ns[i];
  }
  return best;
}

/* The lane mapping and tile count of the shuffle kernel (conv_wgrad_shuffle.comp):
 *   multi 0, swap 0: per tap, lanes take SG quads of C, ns quads of R are shuffled;
 *   multi 0, swap 1: per tap, lanes take SG quads of R, ns quads of C are shuffled;
 *   multi 1: lanes take entries of the flattened (tap, C quad) list, so narrow layers (a few
 *            C quads, e.g. an RGB input or 8 channels) still fill the lanes.
 * The mapping that leaves fewest lanes idle wins (squads: groups of ns shuffled quads). */
static uint64_t shuffle_tiles(const ev_tuning *tu, const geom *g, int sg, int *swap, int *multi, int *pblocks, int *squads, int *ns) {
  int rq = ev_c4(g->rows) / 4, cq = ev_c4(g->cols) / 4, taps = g->kh * g->kw;
  /* idle lane fractions: per-tap C quads, per-tap R quads, the flattened (tap, C quad) list */
  int pbc = (cq + sg - 1) / sg, pbr = (rq + sg - 1) / sg, nent = taps * cq, pbm = (nent + sg - 1) / sg;
  double idle_c = 1.0 - (double)cq / (pbc * sg), idle_r = 1.0 - (double)rq / (pbr * sg);
  double idle_m = 1.0 - (double)nent / (pbm * sg);
  /* the flattened walk visits every pixel for every tap (no per-tap rectangle) and checks
   * bounds per fetch: ~20% dearer, so it wins only where it fills clearly more lanes */
  *multi = idle_m < idle_c - 0.15 && idle_m < idle_r - 0.15;
  *swap = !*multi && idle_r < idle_c;
  int e = tu->wgrad_mode; /* test hook: 0 tap/C, 1 tap/R, 2 flattened */
  if (e >= 0 && e <= 2) *multi = e == 2, *swap = e == 1;
  int sq_all = *swap ? cq : rq;
  *ns = wgrad_ns(tu, sq_all);
  *squads = (sq_all + *ns - 1) / *ns;
  if (*multi) {
    *pblocks = pbm;
    return (uint64_t)*pblocks * *squads;
  }
  *pblocks = *swap ? pbr : pbc;
  return (uint64_t)taps * *pblocks * *squads;
}

/* device-independent (tiles counted for 8-lane subgroups), so the workspace size is too */
static int shuffle_splits(const ev_tuning *tu, const geom *g) {
  int swap, multi, pb, sq, ns;
  return splits_for(tu, g, shuffle_tiles(tu, g, 8, &swap, &multi, &pb, &sq, &ns), SHUFFLE_MIN_WG, SHUFFLE_MIN_SLICE);
}

typedef struct { int bm, bn, bk, tx, ty; } shared_tile;

static shared_tile shared_tile_for(const ev_caps *c) {
  shared_tile t = {64, 64, 32, 16, 16};
  if (c->max_workgroup_invocations < 256 || c->max_workgroup_size[0] < 16 || c->max_workgroup_size[1] < 16)
    t = (shared_tile){32, 32, 32, 8, 8};
  while (t.bk > 4 && (uint64_t)t.bk * (t.bm + t.bn) * 4 > c->max_shared_memory) t.bk /= 2;
  return t;
}

static int shared_splits(const ev_tuning *tu, const geom *g, int bm, int bn) {
  uint64_t tiles = (uint64_t)ev_div_up(g->rows, bm) * ev_div_up((uint64_t)g->kh * g->kw * ev_c4(g->cols), bn);
  return splits_for(tu, g, tiles, SHARED_TARGET_WG, SHARED_MIN_SLICE);
}

static uint64_t ws_bytes(const ev_tuning *tu, const geom *g) {
  int s = shuffle_splits(tu, g), sg = shared_splits(tu, g, 32, 32), sg2 = shared_splits(tu, g, 64, 64);
  if (sg > s) s = sg;
  if (sg2 > s) s = sg2;
  return s > 1 ? (uint64_t)s * dw_floats(g) * 4 : 0;
}

uint64_t ev_conv_wgrad_workspace_bytes(const ev_tuning *tu, const ev_conv_desc *d, int n, int h, int w) {
  ev_tuning dflt;
  if (!tu) ev_tuning_defaults(&dflt), tu = &dflt;
  geom a, b;
  uint64_t x = geom_of(d, 0, n, h, w, &a) ? ws_bytes(tu, &a) : 0;
  uint64_t y = geom_of(d, 1, n, h, w, &b) ? ws_bytes(tu, &b) : 0;
  return x > y ? x : y;
}

/* ---- dispatch ---- */
static ev_status run_bias(ev_stream *s, ev_tensor *g, ev_buf *dbias, int accumulate) {
  ev_gpu *gpu = ev_stream_gpu(s);
  uint32_t wg = 64;
  while (wg > ev_gpu_caps(gpu)->max_workgroup_invocations) wg /= 2;
  ev_push_wgrad_bias pc = {g->n * g->h * g->w, ev_c4(g->c) / 4, g->c, accumulate != 0};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(gpu, &(ev_pipeline_desc){.shader = "conv_wgrad_bias", .bindings = "tx",
                                                  .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){(uint32_t)pc.cq, 1, 1}, (ev_buf *[]){&g->buf, dbias}, &pc);
}

/* dw = (accumulate ? dw : 0) + the sum of the `splits` partial slices in ws, in order */
static ev_status run_reduce(ev_stream *s, const geom *g, int splits, ev_buf *ws, ev_buf *dw,
                            int accumulate) {
  ev_gpu *gpu = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(gpu);
  ev_push_wgrad_reduce pc = {(uint32_t)(dw_floats(g) / 4), (uint32_t)splits, (uint32_t)(ev_c4(g->cols) / 4),
                             (uint32_t)g->cols, accumulate != 0};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(gpu, &(ev_pipeline_desc){.shader = "conv_wgrad_reduce", .bindings = "rx",
                                                  .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_div_up(pc.total4, wg), 1, 1}, (ev_buf *[]){ws, dw}, &pc);
}

static ev_status run_shuffle(ev_stream *s, const geom *g, ev_tensor *R, ev_tensor *C, ev_buf *dw,
                         int accumulate, ev_buf *ws) {
  ev_gpu *gpu = ev_stream_gpu(s);
  const ev_caps *c = ev_gpu_caps(gpu);
  int sg = (int)c->subgroup_size, swap, multi, pblocks, squads, ns;
  const ev_tuning *tu = ev_gpu_tuning(gpu);
  uint64_t tiles = shuffle_tiles(tu, g, sg, &swap, &multi, &pblocks, &squads, &ns);
  int splits = shuffle_splits(tu, g);
  if (splits > 1 && (!ws || ws->size < (uint64_t)splits * dw_floats(g) * 4)) splits = 1;
  int chunk = (int)((pixels(g) + splits - 1) / splits);
  int nsg = SHUFFLE_NSG;
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(gpu, &(ev_pipeline_desc){.shader = "conv_wgrad_shuffle", .bindings = "ttx",
                                                  .push_size = sizeof(ev_push_wgrad_shuffle), .n_spec = 5,
                                                  .spec = {(uint32_t)sg, (uint32_t)swap, splits == 1, (uint32_t)ns,
                                                           (uint32_t)multi},
                                                  .local_size_x = (uint32_t)(sg * nsg),
                                                  .require_full_subgroups = c->subgroup_size_control},
                         &p));
  ev_push_wgrad_shuffle pc = {WGRAD_GEOMETRY_INIT(g), pblocks, squads, chunk, accumulate != 0, (int32_t)tiles};
  uint64_t wgs = ev_div_up(tiles, nsg), gx = wgs < c->max_workgroup_count[0] ? wgs : c->max_workgroup_count[0];
  uint32_t groups[3] = {(uint32_t)gx, (uint32_t)splits, ev_div_up(wgs, gx)}; /* z over-limit: ev_dispatch says so */
  ev_buf *out = splits == 1 ? dw : ws;
  EV_TRY(ev_dispatch(s, p, groups, (ev_buf *[]){&R->buf, &C->buf, out}, &pc));
  return splits == 1 ? EV_OK : run_reduce(s, g, splits, ws, dw, accumulate);
}

static ev_status run_shared(ev_stream *s, const geom *g, ev_tensor *R, ev_tensor *C, ev_buf *dw,
                         int accumulate, ev_buf *ws) {
  ev_gpu *gpu = ev_stream_gpu(s);
  shared_tile t = shared_tile_for(ev_gpu_caps(gpu));
  int splits = shared_splits(ev_gpu_tuning(gpu), g, t.bm, t.bn);
  if (splits > 1 && (!ws || ws->size < (uint64_t)splits * dw_floats(g) * 4)) splits = 1;
  int chunk = (int)((pixels(g) + splits - 1) / splits);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(gpu, &(ev_pipeline_desc){.shader = "conv_wgrad_shared", .bindings = "ttx",
                                                  .push_size = sizeof(ev_push_wgrad_shared), .n_spec = 4,
                                                  .spec = {(uint32_t)t.bm, (uint32_t)t.bn,
                                                           (uint32_t)t.bk, splits == 1},
                                                  .local_size_x = (uint32_t)t.tx,
                                                  .local_size_y = (uint32_t)t.ty},
                         &p));
  ev_push_wgrad_shared pc = {WGRAD_GEOMETRY_INIT(g), chunk, accumulate != 0};
  uint64_t ncols = (uint64_t)g->kh * g->kw * ev_c4(g->cols);
  uint32_t groups[3] = {ev_div_up(ncols, t.bn), ev_div_up(g->rows, t.bm), (uint32_t)splits};
  ev_buf *out = splits == 1 ? dw : ws;
  EV_TRY(ev_dispatch(s, p, groups, (ev_buf *[]){&R->buf, &C->buf, out}, &pc));
  return splits == 1 ? EV_OK : run_reduce(s, g, splits, ws, dw, accumulate);
}

static ev_status wgrad(ev_stream *s, const ev_conv_desc *d, int transposed, ev_tensor *x,
                       ev_tensor *dy, ev_buf *dw, ev_buf *dbias, int accumulate, ev_buf *ws) {
  const char *op = transposed ? "deconv2d weight gradient" : "conv2d weight gradient";
  if (!s || !d || !x || !dy || !dw) return ev_fail(EV_ERR_ARG, "%s: a required argument is NULL", op);
  geom g;
  if (!desc_ok(d, transposed))
    return ev_fail(EV_ERR_ARG, "%s: bad geometry (cin %d, cout %d, kernel %dx%d, stride %d/%d, "
                   "pad %d/%d, dilation %d/%d, output padding %d/%d)", op, d->cin, d->cout, d->kh,
                   d->kw, d->stride_h, d->stride_w, d->pad_h, d->pad_w, d->dil_h, d->dil_w,
                   d->out_pad_h, d->out_pad_w);
  if (!geom_of(d, transposed, x->n, x->h, x->w, &g))
    return ev_fail(EV_ERR_ARG, "%s: x (%d, %d, %d, %d) NCHW gives an empty or oversized output", op,
                   x->n, x->c, x->h, x->w);
  /* conv: x = C, dy = R; transposed: x = R, dy = C */
  ev_tensor *R = transposed ? x : dy, *C = transposed ? dy : x;
  EV_TRY(ev_tensor_check_shape(op, transposed ? "x" : "dy", R, g.n, g.hr, g.wr, g.rows));
  EV_TRY(ev_tensor_check_shape(op, transposed ? "dy" : "x", C, g.n, g.hc, g.wc, g.cols));
  if (dw->size < dw_floats(&g) * 4)
    return ev_fail(EV_ERR_ARG, "%s: dw holds %llu bytes, (%d, %d, %d, %d) OHWI4 needs %llu", op,
                   (unsigned long long)dw->size, g.rows, g.kh, g.kw, ev_c4(g.cols),
                   (unsigned long long)(dw_floats(&g) * 4));
  if (dbias && dbias->size < (uint64_t)ev_c4(d->cout) * 4)
    return ev_fail(EV_ERR_ARG, "%s: dbias holds %llu bytes, %d channels need %d", op,
                   (unsigned long long)dbias->size, d->cout, ev_c4(d->cout) * 4);
  ev_gpu *gpu = ev_stream_gpu(s);
  if (ev_conv_use_shuffle_kernel(ev_gpu_caps(gpu), ev_gpu_tuning(gpu), 1, 64)) /* conv_variant.h: why 1..64 */
    EV_TRY(run_shuffle(s, &g, R, C, dw, accumulate, ws));
  else
    EV_TRY(run_shared(s, &g, R, C, dw, accumulate, ws));
  if (dbias) EV_TRY(run_bias(s, transposed ? C : R, dbias, accumulate));
  return EV_OK;
}

ev_status ev_conv2d_backward_weight(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_tensor *dy,
                                    ev_buf *dw, ev_buf *dbias, int accumulate, ev_buf *workspace) {
  return wgrad(s, d, 0, x, dy, dw, dbias, accumulate, workspace);
}

ev_status ev_deconv2d_backward_weight(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_tensor *dy,
                                      ev_buf *dw, ev_buf *dbias, int accumulate, ev_buf *workspace) {
  return wgrad(s, d, 1, x, dy, dw, dbias, accumulate, workspace);
}
