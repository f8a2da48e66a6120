/* Host side of conv2d / transposed conv2d forward and input-gradient passes: shape checks,
 * kernel variant and tile choice, dispatch. Shaders: conv_gemm_shuffle (register tiles
 * fed by subgroup shuffles, for CPU devices), conv_gemm_shared (shared-memory tiles, for GPUs)
 * (one implicit GEMM for all four passes, geometry in shaders/include/gemm_conv.glsl) and
 * conv_wtranspose. References: conv_ref.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_variant.h"
#include "evonet/ops/conv.h"
#include "evonet/ops/eltwise.h"
#include "push/conv.h"

enum { CPU_ROWS = 8, CPU_SUBGROUPS = 8 }; /* cpu kernel: shuffled rows, subgroups per workgroup */

/* ---------------- checks ---------------- */
static ev_status check_desc(const ev_conv_desc *d, int transposed) {
  if (!d) return ev_fail(EV_ERR_ARG, "conv: no descriptor");
  if (d->cin <= 0 || d->cout <= 0 || d->kh <= 0 || d->kw <= 0)
    return ev_fail(EV_ERR_ARG, "conv %d->%d with a %dx%d kernel: sizes must be positive",
                   d->cin, d->cout, d->kh, d->kw);
  if (d->stride_h < 1 || d->stride_w < 1 || d->dil_h < 1 || d->dil_w < 1 || d->pad_h < 0 ||
      d->pad_w < 0)
    return ev_fail(EV_ERR_ARG, "conv: stride %dx%d and dilation %dx%d must be >= 1, padding %dx%d >= 0",
                   d->stride_h, d->stride_w, d->dil_h, d->dil_w, d->pad_h, d->pad_w);
  if (transposed && (d->out_pad_h < 0 || d->out_pad_w < 0 ||
                     (d->out_pad_h >= d->stride_h && d->out_pad_h >= d->dil_h) ||
                     (d->out_pad_w >= d->stride_w && d->out_pad_w >= d->dil_w)))
    return ev_fail(EV_ERR_ARG, "transposed conv: output padding %dx%d must be below stride or dilation",
                   d->out_pad_h, d->out_pad_w);
  return EV_OK;
}

/* The generic checks (evonet/tensor.h) and the shaders' limit: float indices within 31 bits. */
static ev_status check_tensor(const ev_tensor *t, const char *name, int n, int h, int w, int c) {
  EV_TRY(ev_tensor_check_shape("conv", name, t, n, h, w, c));
  uint64_t floats = ev_tensor_floats(n, h, w, c);
  if (floats >= (1ull << 31))
    return ev_fail(EV_ERR_LIMIT, "conv: tensor %s has %llu floats, beyond 32-bit indexing", name,
                   (unsigned long long)floats);
  return EV_OK;
}

/* ---------------- kernel choice ---------------- */
/* shuffled rows come from lanes 0..7, so the kernel needs at least 8 lanes (conv_variant.h) */
static int use_cpu_kernel(const ev_caps *c, const ev_tuning *tu) { return ev_conv_use_shuffle_kernel(c, tu, CPU_ROWS, 128); }

/* Per-lane rows of the CPU kernel. It keeps 8 x CN accumulators per lane in vector
 * registers; a CPU device runs the shader on this host's CPU, so ask the CPU: with
 * AVX-512VL, LLVM has 32 vector registers and 8 x 4 fits (measured +19..48% over 8 x 2 on
 * Zen 5); with 16 registers 8 x 4 spills (the reference probe saw that on Zen 3). */
static uint32_t cpu_cols_per_lane(const ev_tuning *tu) {
  int cn = tu->conv_cn; /* test hook: 2 or 4 */
  if (cn == 2 || cn == 4) return (uint32_t)cn;
  return tu->host_avx512vl ? 4 : 2; /* read once, with the tuning (ev_tuning_defaults) */
}

/* How many of `rows` rows `stride` bytes apart share one set of an L1 cache with 64 sets
 * of 64-byte lines (x86 L1s alias every 4 KiB): rows 4 KiB apart all land in one set and
 * evict each other; the measured cost was 2x (4x4 kernel, 64 channels: 18 vs 34 GFLOP/s). */
static uint64_t l1_rows_per_set(uint64_t stride, uint64_t rows) {
  uint64_t a = stride % 4096, b = 4096; /* gcd(stride, 4096) */
  while (a) { uint64_t t = b % a; b = a; a = t; }
  uint64_t sets = 4096 / b > 64 ? 64 : 4096 / b;
  return (rows + sets - 1) / sets;
}

/* Row stride in texels of the transposed weight copy: T*O4/4 texels, padded to an odd
 * number of 64-byte lines so the rows read together spread over all L1 sets. */
static uint64_t wt_row_texels(int taps, int o) {
  uint64_t r = (uint64_t)taps * ev_c4(o) / 4;
  return r % 8 == 0 ? r + 4 : r;
}

typedef ev_conv_tiles conv_tiles; /* conv_variant.h */

/* Relative cost of one orientation of the cpu kernel: padded work (tiles of `rows` output
 * pixels x `cols` channels) times 2 where the `cn*sg` per-lane rows, `stride` bytes apart,
 * crowd more than 4 to an L1 set. */
static double cpu_cost(uint64_t m, uint64_t cd4, uint64_t rows, uint64_t cols, uint64_t stride,
                       uint64_t lane_rows) {
  double work = (double)((m + rows - 1) / rows * rows) * ((cd4 + cols - 1) / cols * cols);
  return work * (l1_rows_per_set(stride, lane_rows) > 4 ? 2.0 : 1.0);
}

/* m: output pixels (largest phase), cd4: padded output channels; brow_bytes: stride of
 * weight rows; pix_bytes: stride of consecutive source pixels; ktex: k texels of a phase
 * (about taps * channel texels). Pure: (shape, caps, tuning) only. */
conv_tiles ev_conv_choose_tiles(const ev_caps *c, const ev_tuning *tu, uint64_t m, uint64_t cd4, uint64_t brow_bytes,
                                uint64_t pix_bytes, uint64_t ktex) {
  conv_tiles t = {0};
  t.cpu = use_cpu_kernel(c, tu);
  if (t.cpu) {
    uint32_t nsg = CPU_SUBGROUPS, sg = c->subgroup_size;
    while (nsg > 1 && (sg * nsg > c->max_workgroup_invocations || sg * nsg > c->max_workgroup_size[0]))
      nsg /= 2;
    t.lx = sg * nsg;
    t.cn = cpu_cols_per_lane(tu);
    /* Orientation (SWAP) and shuffled blocks (HA: 8*HA shuffled rows) by padded work times
     * a per-multiply-add factor. SWAP = 1 tiles 8*HA channels instead of cn*sg (less waste on
     * narrow layers) but ran ~12% slower at equal waste (64 channels, Zen 5); either may
     * suffer L1 aliasing. More shuffled rows spend fewer fetches and shuffles per
     * multiply-add and cost no extra spills (lavapipe's texel fetch is a call: the
     * accumulators go through memory per k-texel anyway); measured per multiply-add on
     * Zen 5 / lavapipe with no padding waste (96 channels): HA 1, 2, 3, 4 = 1, .86, .81, .68.
     * With 16 vector registers (cn = 2) the larger tiles are untested: HA = 1 there. */
    static const double ha_cost[5] = {0, 1.0, 0.86, 0.81, 0.70};
    uint32_t lane_rows = t.cn * sg, max_ha = t.cn >= 4 ? 4 : 1;
    int force = tu->conv_swap; /* test hooks */
    int fha = tu->conv_ha;
    double best = 0;
    if (fha >= 1 && fha <= 4) max_ha = (uint32_t)fha;
    t.swap = 0, t.ha = 1;
    for (uint32_t swap = 0; swap < 2; swap++)
      for (uint32_t ha = 1; ha <= max_ha; ha++) {
        if ((force == 0 || force == 1) && swap != (uint32_t)force) continue;
        if (fha >= 1 && fha <= 4 && ha != (uint32_t)fha) continue;
        uint64_t sr = CPU_ROWS * ha;
        double cost = ha_cost[ha] * (swap ? 1.125 * cpu_cost(m, cd4, lane_rows, sr, pix_bytes, lane_rows)
                                          : cpu_cost(m, cd4, sr, lane_rows, brow_bytes, lane_rows));
        if (best == 0 || cost < best) best = cost, t.swap = swap, t.ha = ha;
      }
    uint32_t srows = CPU_ROWS * t.ha;
    t.bm = nsg * (t.swap ? lane_rows : srows);
    t.bn = t.swap ? srows : lane_rows;
    return t;
  }
  t.tm = t.tn = 4;
  t.lx = t.ly = 16;
  if (c->max_workgroup_invocations < 256 || c->max_workgroup_size[0] < 16 || c->max_workgroup_size[1] < 16)
    t.lx = t.ly = 8; /* 64 invocations: every Vulkan device allows that */
  /* bench/test hook "TM,TN,LX,LY[,BK4]": per-thread block (4 or 8 a side), workgroup and k texels
   * per shared-memory stage (the shader needs LX % TM == 0 and LY % TN == 0); ignored
   * unless the device allows it */
  const unsigned *hook = tu->conv_gpu_tile; /* EVONET_CONV_GPU_TILE */
  unsigned htm = hook[0], htn = hook[1], hlx = hook[2], hly = hook[3], hbk = hook[4];
  int nh = tu->conv_gpu_tile_n;
  if (nh >= 4 && (htm == 4 || htm == 8) && (htn == 4 || htn == 8) && hbk >= 1 && hbk <= 8 && hlx % htm == 0 &&
      hly % htn == 0 && hlx <= c->max_workgroup_size[0] && hly <= c->max_workgroup_size[1] &&
      hlx * hly <= c->max_workgroup_invocations)
    t.tm = htm, t.tn = htn, t.lx = hlx, t.ly = hly;
  else
    nh = 0;
  t.bm = t.tm * t.ly;
  t.bn = t.tn * t.lx;
  /* k texels per shared-memory stage: 8 where the k loop is long (fewer barriers per
   * multiply-add), 4 where it is short (less padding in the last stage). H100, forward
   * GFLOP/s, BK4 4 vs 8: 144 k texels 17.7k vs 14.5k, 288 13.4k vs 15.3k, 576 9.6k vs 10.5k */
  t.bk4 = nh == 5 ? hbk : ktex >= 256 ? 8 : 4;
  while (t.bk4 > 1 && (t.bm + t.bn) * t.bk4 * 16 > c->max_shared_memory) t.bk4 /= 2;
  return t;
}

/* ---------------- the implicit GEMM ---------------- */
static int gcd_int(int a, int b) {
  while (b) { int t = a % b; a = b; b = t; }
  return a;
}

/* g = gcd(sd, |c1|) and the inverse of |c1|/g modulo sd/g (0 where sd/g = 1). */
static void tap_walk(int sd, int c1, int32_t *g, int32_t *inv) {
  int a = c1 < 0 ? -c1 : c1;
  *g = gcd_int(sd, a);
  int m = sd / *g, x = (a / *g) % m;
  *inv = 0;
  for (int i = 1; i < m; i++)
    if ((x * i) % m == 1) { *inv = i; break; }
}

typedef struct {
  ev_push_gemm_conv pc; /* the shaders' block (push/conv.h) */
  uint32_t groups[3];
  ev_pipeline *p;
  int shuffle;   /* conv_gemm_shuffle, else conv_gemm_shared */
  int ymask;     /* the kernel applies the activation backward itself */
  ev_act act;    /* the fused activation (kind none: none) */
} gemm_plan;

/* Checks limits and gets the pipeline; records nothing.
 * adjoint = 0: conv-like pass (src read at q*stride - pad + k*dil);
 * adjoint = 1: its adjoint (the output phases of stride split into z-slices).
 * The weights operand holds dst->c rows of kh*kw*c4(src->c)/4 texels, `brow` texels apart. */
static ev_status plan_gemm(ev_gpu *g, const ev_conv_desc *d, int adjoint, const ev_tensor *src,
                           uint64_t brow, int has_bias, const ev_act *act, int ymask, const ev_tensor *dst,
                           gemm_plan *plan) {
  const ev_caps *c = ev_gpu_caps(g);
  ev_push_gemm_conv pc = {
      .NB = src->n, .HS = src->h, .WS = src->w, .KS4 = ev_c4(src->c) / 4,
      .HO = dst->h, .WO = dst->w, .CD = dst->c, .CD4 = ev_c4(dst->c), .KH = d->kh, .KW = d->kw,
      .BROW = (int32_t)brow,
      .AH = adjoint ? 1 : d->stride_h, .AW = adjoint ? 1 : d->stride_w,
      .BH = adjoint ? d->stride_h : 1, .BW = adjoint ? d->stride_w : 1,
      .C0H = adjoint ? d->pad_h : -d->pad_h, .C0W = adjoint ? d->pad_w : -d->pad_w,
      .C1H = adjoint ? -d->dil_h : d->dil_h, .C1W = adjoint ? -d->dil_w : d->dil_w,
      .SDH = adjoint ? d->stride_h : 1, .SDW = adjoint ? d->stride_w : 1};
  tap_walk(pc.SDH, pc.C1H, &pc.TGH, &pc.TINVH);
  tap_walk(pc.SDW, pc.C1W, &pc.TGW, &pc.TINVW);
  /* the largest phase (r = 0) sets the grid; smaller phases leave their last tiles idle */
  uint64_t m_max = (uint64_t)pc.NB * ev_div_up(pc.HO, pc.BH) * ev_div_up(pc.WO, pc.BW);
  uint64_t ktex = (uint64_t)ev_div_up(pc.KH, pc.SDH) * ev_div_up(pc.KW, pc.SDW) * pc.KS4;
  const ev_tuning *tu = ev_gpu_tuning(g);
  conv_tiles t = ev_conv_choose_tiles(c, tu, m_max, pc.CD4, brow * 16, (uint64_t)pc.KS4 * 16 * pc.AW, ktex);
  if (sizeof pc > c->max_push_constants_size)
    return ev_fail(EV_ERR_LIMIT, "conv: %zu bytes of push constants exceed the device's %u",
                   sizeof pc, c->max_push_constants_size);
  /* m-tiles along x, wrapping into y beyond the device's x limit (see tile_m()) */
  uint64_t mt = ev_div_up(m_max, t.bm), nt = ev_div_up(pc.CD4, t.bn);
  uint64_t gx = mt < c->max_workgroup_count[0] ? mt : c->max_workgroup_count[0];
  int gx_cap = tu->conv_gridx; /* test hook: exercise the wrap */
  if (gx_cap > 0 && (uint64_t)gx_cap < gx) gx = (uint64_t)gx_cap;
  uint64_t gy = ev_div_up(mt, gx) * nt;
  pc.NTN = (int32_t)nt;
  if (gy > c->max_workgroup_count[1] || (uint64_t)pc.BH * pc.BW > c->max_workgroup_count[2])
    return ev_fail(EV_ERR_LIMIT, "conv %dx%d on (%d, %d, %d, %d) needs %llu x %llu x %d workgroups; the device allows %u x %u x %u",
                   d->kh, d->kw, src->n, src->c, src->h, src->w, (unsigned long long)gx,
                   (unsigned long long)gy, pc.BH * pc.BW, c->max_workgroup_count[0],
                   c->max_workgroup_count[1], c->max_workgroup_count[2]);
  plan->groups[0] = (uint32_t)gx, plan->groups[1] = (uint32_t)gy, plan->groups[2] = (uint32_t)(pc.BH * pc.BW);
  plan->pc = pc;
  plan->shuffle = t.cpu;
  plan->ymask = t.cpu && ymask;
  plan->act = ev_act_on(act) ? *act : ev_act_make(EV_ACT_NONE);
  /* the shared-memory kernel fuses only the forward activation; the backward (ymask) runs
   * as a pass of its own after it (run_gemm) */
  uint32_t kind = ev_act_spec_kind(act), alpha = ev_act_spec_alpha(act);
  /* narrow layers: unroll the x taps and the texels of a tap (one phase along x, small) */
  int unroll = tu->conv_unroll; /* test hook: 0 keeps the loops */
  uint32_t ktx = unroll && pc.SDW == 1 && pc.KW <= 8 && pc.KS4 <= 2 ? (uint32_t)pc.KW : 0;
  uint32_t ksc = unroll && pc.KS4 <= 2 ? (uint32_t)pc.KS4 : 0;
  if (t.cpu)
    return ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "conv_gemm_shuffle", .bindings = "tttwt",
                                                  .push_size = sizeof pc, .n_spec = 11,
                                                  .spec = {c->subgroup_size, has_bias, kind, t.cn, t.swap,
                                                           t.cn >= 4 ? 1 : 2, ktx, ksc, ymask != 0, t.ha, alpha},
                                                  .local_size_x = t.lx,
                                                  .require_full_subgroups = c->subgroup_size_control},
                           &plan->p);
  return ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "conv_gemm_shared", .bindings = "ttrw",
                                                .push_size = sizeof pc, .n_spec = 6,
                                                .spec = {t.tm, t.tn, t.bk4, has_bias, ymask ? 0u : kind,
                                                         ymask ? 0u : alpha},
                                                .local_size_x = t.lx, .local_size_y = t.ly},
                         &plan->p);
}

/* ymask: the output of plan->act with dst's shape, or NULL: dst := act_bwd(ymask, dst) */
static ev_status run_gemm(ev_stream *s, gemm_plan *plan, ev_tensor *src, ev_buf *wb, ev_buf *bias,
                          ev_tensor *dst, ev_tensor *ymask) {
  /* no bias: bind the weights in its place (the kernel never reads it); no mask: the source */
  if (plan->shuffle)
    EV_TRY(ev_dispatch(s, plan->p, plan->groups,
                       (ev_buf *[]){&src->buf, wb, bias ? bias : wb, &dst->buf, ymask ? &ymask->buf : &src->buf},
                       &plan->pc));
  else
    EV_TRY(ev_dispatch(s, plan->p, plan->groups, (ev_buf *[]){&src->buf, wb, bias ? bias : wb, &dst->buf},
                       &plan->pc));
  if (ymask && !plan->ymask) EV_TRY(ev_act_backward(s, &plan->act, ymask, dst, dst)); /* shared-memory kernel */
  return EV_OK;
}

/* wt (I rows of wt_row_texels(T, O) texels) := transpose of w (O, T, c4(I)); see
 * conv_wtranspose.comp. */
static ev_status transpose_weights(ev_stream *s, ev_buf *w, int O, int I, int taps, ev_buf *wt) {
  ev_gpu *g = ev_stream_gpu(s);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  uint64_t blocks = (uint64_t)(ev_c4(I) / 4) * taps * (ev_c4(O) / 4);
  if (ev_div_up(blocks, wg) > ev_gpu_caps(g)->max_workgroup_count[0])
    return ev_fail(EV_ERR_LIMIT, "conv: a weight transpose of %llu blocks exceeds the device's workgroup count",
                   (unsigned long long)blocks);
  ev_push_conv_wtranspose pc = {O, I, taps, ev_c4(O) / 4, ev_c4(I) / 4, (int32_t)wt_row_texels(taps, O)};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "conv_wtranspose", .bindings = "tw",
                                                .push_size = sizeof pc, .local_size_x = wg}, &p));
  return ev_dispatch(s, p, (uint32_t[3]){ev_div_up(blocks, wg), 1, 1}, (ev_buf *[]){w, wt}, &pc);
}

/* ---------------- public passes ---------------- */
uint64_t ev_conv_workspace_bytes(const ev_conv_desc *d) {
  if (!d || d->cin <= 0 || d->cout <= 0 || d->kh <= 0 || d->kw <= 0) return 0;
  int taps = d->kh * d->kw;
  uint64_t a = (uint64_t)d->cin * wt_row_texels(taps, d->cout); /* conv backward-data */
  uint64_t b = (uint64_t)d->cout * wt_row_texels(taps, d->cin); /* deconv forward */
  return (a > b ? a : b) * 16;
}

static ev_status check_workspace(const ev_buf *ws, uint64_t bytes) {
  if (!ws || !ws->block)
    return ev_fail(EV_ERR_ARG, "conv: this pass needs a workspace of ev_conv_workspace_bytes() = %llu bytes",
                   (unsigned long long)bytes);
  if (ws->size < bytes)
    return ev_fail(EV_ERR_ARG, "conv: workspace has %llu bytes, this pass needs %llu",
                   (unsigned long long)ws->size, (unsigned long long)bytes);
  return EV_OK;
}

/* ymask (optional): the output of the activation act, with dst's shape; the pass then writes
 * the activation's backward of its result (see conv.h). Fused only where both are given;
 * returns in *ym the mask to use (NULL: none). */
static ev_status check_ymask(const ev_act *act, ev_tensor *act_y, const ev_tensor *dst, ev_tensor **ym) {
  *ym = NULL;
  EV_TRY(ev_act_check("conv", act));
  if (!act_y || !ev_act_on(act)) return EV_OK;
  if (act_y->n != dst->n || act_y->h != dst->h || act_y->w != dst->w || act_y->c != dst->c)
    return ev_fail(EV_ERR_ARG, "conv: the activation output is (%d, %d, %d, %d), expected the gradient's (%d, %d, %d, %d)",
                   act_y->n, act_y->c, act_y->h, act_y->w, dst->n, dst->c, dst->h, dst->w);
  if (!act_y->buf.block || act_y->buf.size < ev_tensor_floats(act_y->n, act_y->h, act_y->w, act_y->c) * 4)
    return ev_fail(EV_ERR_ARG, "conv: the activation output's buffer is too small");
  *ym = act_y;
  return EV_OK;
}

/* The adjoint passes: transpose w (O = src->c rows) into the workspace, then one GEMM.
 * act: applied to the result, or with ymask (checked by check_ymask) its backward from ymask. */
static ev_status adjoint_pass(ev_stream *s, const ev_conv_desc *d, ev_tensor *src, ev_buf *w,
                              ev_buf *bias, const ev_act *act, ev_tensor *dst, ev_buf *ws, ev_tensor *ymask) {
  ev_gpu *g = ev_stream_gpu(s);
  int taps = d->kh * d->kw;
  uint64_t brow = wt_row_texels(taps, src->c);
  EV_TRY(check_workspace(ws, (uint64_t)dst->c * brow * 16));
  gemm_plan plan;
  EV_TRY(plan_gemm(g, d, 1, src, brow, bias != NULL, act, ymask != NULL, dst, &plan));
  VkBufferView v; /* texel views now: a too-large buffer fails before anything is recorded */
  EV_TRY(ev_buf_texel_view(g, w, &v));
  EV_TRY(ev_buf_texel_view(g, ws, &v));
  EV_TRY(ev_buf_texel_view(g, &src->buf, &v));
  if (bias) EV_TRY(ev_buf_texel_view(g, bias, &v));
  if (ymask) EV_TRY(ev_buf_texel_view(g, &ymask->buf, &v));
  EV_TRY(transpose_weights(s, w, src->c, dst->c, taps, ws));
  return run_gemm(s, &plan, src, ws, bias, dst, ymask);
}

ev_status ev_conv2d_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                            ev_buf *bias, const ev_act *act, ev_tensor *y) {
  EV_TRY(check_desc(d, 0));
  EV_TRY(ev_act_check("conv", act));
  EV_TRY(check_tensor(x, "x", x ? x->n : 0, x ? x->h : 0, x ? x->w : 0, d->cin));
  int ho = ev_conv_out_size(x->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(x->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  EV_TRY(check_tensor(y, "y", x->n, ho, wo, d->cout));
  EV_TRY(ev_buf_check("conv", "weights", w, (uint64_t)d->cout * d->kh * d->kw * ev_c4(d->cin) * 4));
  if (bias) EV_TRY(ev_buf_check("conv", "bias", bias, ev_c4(d->cout) * 4ull));
  gemm_plan plan;
  EV_TRY(plan_gemm(ev_stream_gpu(s), d, 0, x, (uint64_t)d->kh * d->kw * ev_c4(d->cin) / 4, bias != NULL,
                   act, 0, y, &plan));
  return run_gemm(s, &plan, x, w, bias, y, NULL);
}

ev_status ev_conv2d_backward_data_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy, ev_buf *w,
                                      ev_tensor *dx, ev_buf *workspace, const ev_act *act, ev_tensor *act_y) {
  EV_TRY(check_desc(d, 0));
  EV_TRY(check_tensor(dx, "dx", dx ? dx->n : 0, dx ? dx->h : 0, dx ? dx->w : 0, d->cin));
  int ho = ev_conv_out_size(dx->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  int wo = ev_conv_out_size(dx->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  EV_TRY(check_tensor(dy, "dy", dx->n, ho, wo, d->cout));
  EV_TRY(ev_buf_check("conv", "weights", w, (uint64_t)d->cout * d->kh * d->kw * ev_c4(d->cin) * 4));
  ev_tensor *ymask;
  EV_TRY(check_ymask(act, act_y, dx, &ymask));
  return adjoint_pass(s, d, dy, w, NULL, ymask ? act : NULL, dx, workspace, ymask);
}

ev_status ev_conv2d_backward_data(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy, ev_buf *w,
                                  ev_tensor *dx, ev_buf *workspace) {
  return ev_conv2d_backward_data_act(s, d, dy, w, dx, workspace, NULL, NULL);
}

ev_status ev_deconv2d_forward_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                                  ev_buf *bias, const ev_act *act, ev_tensor *y, ev_buf *workspace) {
  EV_TRY(check_desc(d, 1));
  EV_TRY(ev_act_check("deconv", act));
  EV_TRY(check_tensor(x, "x", x ? x->n : 0, x ? x->h : 0, x ? x->w : 0, d->cin));
  int ho = ev_deconv_out_size(x->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(x->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  EV_TRY(check_tensor(y, "y", x->n, ho, wo, d->cout));
  EV_TRY(ev_buf_check("conv", "weights", w, (uint64_t)d->cin * d->kh * d->kw * ev_c4(d->cout) * 4));
  if (bias) EV_TRY(ev_buf_check("conv", "bias", bias, ev_c4(d->cout) * 4ull));
  return adjoint_pass(s, d, x, w, bias, act, y, workspace, NULL);
}

ev_status ev_deconv2d_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *w,
                              ev_buf *bias, ev_tensor *y, ev_buf *workspace) {
  return ev_deconv2d_forward_act(s, d, x, w, bias, NULL, y, workspace);
}

ev_status ev_deconv2d_backward_data_act(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy,
                                        ev_buf *w, ev_tensor *dx, const ev_act *act, ev_tensor *act_y) {
  EV_TRY(check_desc(d, 1));
  EV_TRY(check_tensor(dx, "dx", dx ? dx->n : 0, dx ? dx->h : 0, dx ? dx->w : 0, d->cin));
  int ho = ev_deconv_out_size(dx->h, d->kh, d->stride_h, d->pad_h, d->dil_h, d->out_pad_h);
  int wo = ev_deconv_out_size(dx->w, d->kw, d->stride_w, d->pad_w, d->dil_w, d->out_pad_w);
  EV_TRY(check_tensor(dy, "dy", dx->n, ho, wo, d->cout));
  EV_TRY(ev_buf_check("conv", "weights", w, (uint64_t)d->cin * d->kh * d->kw * ev_c4(d->cout) * 4));
  ev_tensor *ymask;
  EV_TRY(check_ymask(act, act_y, dx, &ymask));
  gemm_plan plan;
  EV_TRY(plan_gemm(ev_stream_gpu(s), d, 0, dy, (uint64_t)d->kh * d->kw * ev_c4(d->cout) / 4, 0,
                   ymask ? act : NULL, ymask != NULL, dx, &plan));
  return run_gemm(s, &plan, dy, w, NULL, dx, ymask);
}

ev_status ev_deconv2d_backward_data(ev_stream *s, const ev_conv_desc *d, ev_tensor *dy,
                                    ev_buf *w, ev_tensor *dx) {
  return ev_deconv2d_backward_data_act(s, d, dy, w, dx, NULL, NULL);
}
