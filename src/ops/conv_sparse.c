/* Host side of the sparse conv2d forward (shader conv_sparse): tap packing, checks,
 * dispatch. Reference: ev_conv2d_forward_ref on dense weights with the masked entries 0. */
#include <stdlib.h>

#include "evonet/ops/conv_sparse.h"
#include "push/conv.h"

#define EXACT_LIMIT (1u << 24) /* integers a float holds exactly */
#define MIN_GROUPS 4           /* workgroups to keep a few CPU threads busy */
#define LOOP_LIMIT 65535       /* loop iterations lavapipe allows one invocation */

static int desc_ok(const ev_conv_desc *d) {
  return d && d->cin > 0 && d->cout > 0 && d->kh > 0 && d->kw > 0 && d->stride_h >= 1 &&
         d->stride_w >= 1 && d->dil_h >= 1 && d->dil_w >= 1 && d->pad_h >= 0 && d->pad_w >= 0;
}

uint64_t ev_conv_sparse_live(const ev_conv_desc *d, const float *mask) {
  if (!desc_ok(d) || !mask) return 0;
  uint64_t n = (uint64_t)d->cout * d->cin * d->kh * d->kw, live = 0;
  for (uint64_t i = 0; i < n; i++) live += mask[i] != 0.0f;
  return live;
}

uint64_t ev_conv_sparse_texels(const ev_conv_desc *d, const float *mask) {
  return desc_ok(d) && mask ? (uint64_t)d->cout + ev_conv_sparse_live(d, mask) : 0;
}

ev_status ev_conv_sparse_pack(const ev_conv_desc *d, const float *w, const float *mask, float *texels) {
  if (!desc_ok(d)) return ev_fail(EV_ERR_ARG, "sparse conv: invalid descriptor");
  if (!w || !mask || !texels) return ev_fail(EV_ERR_ARG, "sparse conv: weights, mask or output missing");
  uint64_t n = ev_conv_sparse_texels(d, mask);
  if (n >= EXACT_LIMIT || (uint64_t)(d->kh - 1) * d->dil_h >= EXACT_LIMIT ||
      (uint64_t)(d->kw - 1) * d->dil_w >= EXACT_LIMIT)
    return ev_fail(EV_ERR_ARG, "sparse conv: %llu tap texels or a %dx%d kernel dilated by %dx%d exceed what floats hold exactly (2^24)",
                   (unsigned long long)n, d->kh, d->kw, d->dil_h, d->dil_w);
  uint64_t at = (uint64_t)d->cout; /* next tap texel */
  int per_o = d->cin * d->kh * d->kw;
  for (int o = 0; o < d->cout; o++) {
    uint64_t start = at;
    /* PyTorch order (i, ky, kx) is the index order within o: walk it linearly */
    for (int k = 0; k < per_o; k++) {
      size_t src = (size_t)o * per_o + k;
      if (mask[src] == 0.0f) continue;
      int i = k / (d->kh * d->kw), ky = k / d->kw % d->kh, kx = k % d->kw;
      float *t = &texels[at++ * 4];
      t[0] = (float)(ky * d->dil_h), t[1] = (float)(kx * d->dil_w), t[2] = (float)i, t[3] = w[src];
    }
    float *h = &texels[(size_t)o * 4];
    h[0] = (float)start, h[1] = (float)(at - start), h[2] = 0.0f, h[3] = 0.0f;
  }
  return EV_OK;
}

/* Checks the arguments (EV_ERR_ARG with a message); *ho, *wo: the output size. */
static ev_status check_args(const char *op, const ev_conv_desc *d, const ev_tensor *x, const ev_buf *taps,
                            const ev_buf *bias, const ev_tensor *y, int *ho, int *wo) {
  if (!desc_ok(d))
    return ev_fail(EV_ERR_ARG, "%s: missing descriptor, or sizes not positive / stride, dilation < 1 / padding < 0", op);
  EV_TRY(ev_tensor_check(op, "x", x));
  EV_TRY(ev_tensor_check(op, "y", y));
  *ho = ev_conv_out_size(x->h, d->kh, d->stride_h, d->pad_h, d->dil_h);
  *wo = ev_conv_out_size(x->w, d->kw, d->stride_w, d->pad_w, d->dil_w);
  if (x->c != d->cin)
    return ev_fail(EV_ERR_ARG, "%s: x has %d channels, the layer takes %d", op, x->c, d->cin);
  if (*ho < 1 || *wo < 1)
    return ev_fail(EV_ERR_ARG, "%s: output would be %dx%d (kernel larger than the padded %dx%d input)", op, *ho,
                   *wo, x->h, x->w);
  if (y->n != x->n || y->h != *ho || y->w != *wo || y->c != d->cout)
    return ev_fail(EV_ERR_ARG, "%s: y is (N,C,H,W) = (%d, %d, %d, %d), expected (%d, %d, %d, %d)", op, y->n, y->c,
                   y->h, y->w, x->n, d->cout, *ho, *wo);
  if (!taps || !taps->block || taps->size < (uint64_t)d->cout * 16 || taps->size % 16)
    return ev_fail(EV_ERR_ARG, "%s: the taps buffer needs whole texels, at least %d headers (%d bytes)", op,
                   d->cout, d->cout * 16);
  if (bias && (!bias->block || bias->size < (uint64_t)ev_c4(d->cout) * 4 || bias->size % 16))
    return ev_fail(EV_ERR_ARG, "%s: bias needs %d floats (whole texels)", op, ev_c4(d->cout));
  if (ev_buf_overlap(&x->buf, &y->buf) || ev_buf_overlap(taps, &y->buf) || (bias && ev_buf_overlap(bias, &y->buf)))
    return ev_fail(EV_ERR_ARG, "%s: the output overlaps an input", op);
  return EV_OK;
}

/* Pixels per invocation: on CPU devices a tap's texel is fetched once for PP pixels
 * (1 + 1/PP fetches per term instead of 2) and headers, bias and loop setup once per PP
 * pixels. Measured on lavapipe (one thread, evolved layers): PP 2, 4, 8 take about 0.72,
 * 0.53, 0.45 of PP 1's time; 16 gains ~5% more but leaves fewer workgroups for a many-core
 * CPU. PP doubles while the pixels still fill PP passes of a workgroup (lanes past the end
 * pay for their fetches) and at least MIN_GROUPS workgroups remain (more groups at a
 * smaller PP cost a 2-core host more than they gain a many-core one). */
static uint32_t choose_pp(const ev_caps *caps, const ev_tuning *tu, uint64_t pixels, uint32_t quads, uint32_t wg) {
  uint32_t pp = 1;
  if (caps->is_cpu)
    while (pp < 8 && 2 * pp * wg <= pixels && ev_div_up(pixels, 2 * pp * wg) * quads >= MIN_GROUPS) pp *= 2;
  int force = tu->sparse_pp; /* test hook: 1 to 16 */
  if (force >= 1 && force <= 16) pp = (uint32_t)force;
  return pp;
}

/* Taps per loop iteration. lavapipe ends an invocation's loops after LOOP_LIMIT iterations
 * in all (a guard against endless loops, silently); the kernel's loops walk the taps of one
 * channel quad, at most min(4 cin kh kw, all taps) plus an exit per channel, so a quad with
 * more walks CHUNK taps per iteration. 0: beyond even that. */
static uint32_t choose_chunk(const ev_conv_desc *d, const ev_tuning *tu, uint64_t tap_texels) {
  uint64_t quad_taps = 4ull * d->cin * d->kh * d->kw, chunk = 1;
  if (quad_taps > tap_texels - d->cout) quad_taps = tap_texels - d->cout;
  while (quad_taps / chunk + 8 >= LOOP_LIMIT && chunk < 64) chunk *= 8;
  if (quad_taps / chunk + 8 >= LOOP_LIMIT) return 0;
  if (tu->sparse_chunk == 8 && chunk < 8) chunk = 8; /* test hook EVONET_SPARSE_CHUNK */
  return (uint32_t)chunk;
}

ev_status ev_conv2d_sparse_forward(ev_stream *s, const ev_conv_desc *d, ev_tensor *x, ev_buf *taps,
                                   ev_buf *bias, const ev_act *act, ev_tensor *y) {
  const char *op = "sparse conv";
  int ho = 0, wo = 0;
  EV_TRY(check_args(op, d, x, taps, bias, y, &ho, &wo));
  EV_TRY(ev_act_check(op, act));
  ev_gpu *g = ev_stream_gpu(s);
  const ev_caps *caps = ev_gpu_caps(g);
  uint32_t wg = ev_gpu_elementwise_wg(g);
  uint64_t nt = taps->size / 16, pixels = (uint64_t)x->n * ho * wo;
  if (pixels + 16 * wg >= (1ull << 31))
    return ev_fail(EV_ERR_LIMIT, "%s: %llu output pixels exceed 32-bit indexing", op, (unsigned long long)pixels);
  ev_push_conv_sparse pc = {x->n, x->h, x->w, ev_c4(d->cin) / 4, ho, wo, d->cout, ev_c4(d->cout) / 4,
                    d->stride_h, d->stride_w, d->pad_h, d->pad_w, nt < (1u << 31) ? (int32_t)nt : INT32_MAX};
  const ev_tuning *tu = ev_gpu_tuning(g);
  uint32_t pp = choose_pp(caps, tu, pixels, (uint32_t)pc.QO, wg), chunk = choose_chunk(d, tu, nt);
  if (!chunk) return ev_fail(EV_ERR_LIMIT, "%s: a channel quad has too many taps for one invocation", op);
  /* blocks of wg*PP pixels along x, wrapping into y beyond the device's x limit; channel
   * quads along z */
  uint64_t blocks = ev_div_up(pixels, (uint64_t)pp * wg), gx = blocks;
  if (gx > caps->max_workgroup_count[0]) gx = caps->max_workgroup_count[0];
  int cap = tu->conv_gridx; /* test hook: exercise the wrap */
  if (cap > 0 && (uint64_t)cap < gx) gx = (uint64_t)cap;
  uint64_t gy = ev_div_up(blocks, gx);
  if (gy > caps->max_workgroup_count[1] || (uint32_t)pc.QO > caps->max_workgroup_count[2])
    return ev_fail(EV_ERR_LIMIT, "%s: %llu x %llu x %d workgroups exceed the device's %u x %u x %u", op,
                   (unsigned long long)gx, (unsigned long long)gy, pc.QO, caps->max_workgroup_count[0],
                   caps->max_workgroup_count[1], caps->max_workgroup_count[2]);
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "conv_sparse", .bindings = "tttw",
                                                .push_size = sizeof pc, .n_spec = 6,
                                                .spec = {bias != NULL, ev_act_spec_kind(act), pp, pixels < (1u << 21), chunk,
                                                         ev_act_spec_alpha(act)},
                                                .local_size_x = wg}, &p));
  VkBufferView v; /* texel views now: a too-large buffer fails before anything is recorded */
  EV_TRY(ev_buf_texel_view(g, &x->buf, &v));
  EV_TRY(ev_buf_texel_view(g, taps, &v));
  if (bias) EV_TRY(ev_buf_texel_view(g, bias, &v));
  /* no bias: bind the taps in its place (never read) */
  return ev_dispatch(s, p, (uint32_t[3]){(uint32_t)gx, (uint32_t)gy, (uint32_t)pc.QO},
                     (ev_buf *[]){&x->buf, taps, bias ? bias : taps, &y->buf}, &pc);
}
