/* Pruning baselines: host dispatch of shaders prune_hist and prune_mask, and the C reference
 * (ops/prune.h has the definitions). */
#include "evonet/ops/prune.h"

#include <stdlib.h>
#include <string.h>

#include "evonet/philox.h"
#include "evonet/tensor.h"
#include "push/prune.h"

static uint32_t abs_key(float w) {
  uint32_t b;
  memcpy(&b, &w, 4);
  b &= 0x7fffffffu;
  return b < 0x00800000u ? 0u : b; /* flushed below FLT_MIN, as the synthesis reads |w| */
}

static size_t addr_of(const ev_synth_layer *L, uint32_t e) {
  uint32_t kx = e % L->kw, t = e / L->kw, ky = t % L->kh;
  t /= L->kh;
  uint32_t i = t % L->i, o = t / L->i;
  return (((size_t)o * L->kh + ky) * L->kw + kx) * ev_c4(L->i) + i;
}

static uint32_t key_of(const ev_synth_layer *L, const ev_prune_params *P, const float *w, uint32_t e) {
  if (P->method == EV_PRUNE_MAGNITUDE) return abs_key(w[addr_of(L, e)]);
  uint32_t key[2] = {(uint32_t)P->seed, (uint32_t)(P->seed >> 32)};
  uint32_t ctr[4] = {e >> 2, L->layer | (uint32_t)EV_RNG_PRUNE << 24, P->generation, 0}, out[4];
  ev_philox4x32_10(ctr, key, out);
  return out[e & 3];
}

typedef struct {
  uint32_t key, e;
} item;

static int by_order(const void *pa, const void *pb) { /* key descending, then index ascending */
  const item *a = pa, *b = pb;
  if (a->key != b->key) return a->key > b->key ? -1 : 1;
  return a->e < b->e ? -1 : a->e > b->e;
}

void ev_prune_layer_ref(const ev_synth_layer *L, const ev_prune_params *P, const float *w, const float *anc,
                        float *child) {
  uint32_t total = (uint32_t)((uint64_t)L->o * L->i * L->kh * L->kw), n = 0;
  memset(child, 0, sizeof(float) * (size_t)L->o * L->kh * L->kw * ev_c4(L->i));
  item *v = malloc(sizeof *v * (total ? total : 1));
  if (!v) abort(); /* a reference for tests: no recovery path */
  for (uint32_t e = 0; e < total; e++)
    if (!anc || anc[addr_of(L, e)] > 0.5f) v[n++] = (item){key_of(L, P, w, e), e};
  qsort(v, n, sizeof *v, by_order);
  for (uint64_t k = 0; k < P->count && k < n; k++) child[addr_of(L, v[k].e)] = 1.0f;
  free(v);
}

/* ---------------- GPU ---------------- */
enum { F_ANC = 1, F_RANDOM = 2, F_PHASE1 = 4, F_ALL = 8, F_NONE = 16 };

static uint32_t groups_for(ev_gpu *g, uint64_t items, uint32_t wg) {
  uint64_t n = (items + wg - 1) / wg;
  uint32_t cap = ev_gpu_caps(g)->max_workgroup_count[0];
  if (cap > 4096) cap = 4096; /* kernels loop over what is left */
  return n < 1 ? 1 : n > cap ? cap : (uint32_t)n;
}

/* The 256-bin histogram of one digit (prune_hist.comp) into h. */
static ev_status histogram(ev_gpu *g, const ev_synth_layer *L, const ev_prune_params *P, ev_buf *w, ev_buf *anc,
                           ev_buf *hist, uint32_t flags, uint32_t shift, uint32_t pre, uint32_t kfix, uint32_t h[256]) {
  uint32_t wg = ev_gpu_elementwise_wg(g), total = (uint32_t)((uint64_t)L->o * L->i * L->kh * L->kw);
  ev_push_prune_hist pc = {(uint32_t)L->o, (uint32_t)L->i, (uint32_t)L->kh, (uint32_t)L->kw, (uint32_t)ev_c4(L->i),
                           L->layer, P->generation, (uint32_t)P->seed, (uint32_t)(P->seed >> 32), flags, shift, pre,
                           kfix, total};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "prune_hist", .bindings = "rrx", .push_size = sizeof pc,
                                                .local_size_x = wg}, &p));
  EV_TRY(ev_buf_fill(g, hist, 0));
  ev_stream *s;
  EV_TRY(ev_stream_begin(g, &s));
  ev_status st = ev_dispatch(s, p, (uint32_t[3]){groups_for(g, total, wg), 1, 1}, (ev_buf *[]){w, anc ? anc : w, hist}, &pc);
  if (st != EV_OK) {
    ev_stream_abort(s);
    return st;
  }
  EV_TRY(ev_stream_submit(s));
  return ev_buf_download(g, hist, 0, h, 256 * 4);
}

/* Radix selection over 4 digits: the value v such that `need` items (need >= 1, <= their count)
 * come first in the phase's order (keys from the top, indices from the bottom); *before is how
 * many of them lie strictly before v. */
static ev_status select_value(ev_gpu *g, const ev_synth_layer *L, const ev_prune_params *P, ev_buf *w, ev_buf *anc,
                              ev_buf *hist, uint32_t flags, uint32_t kfix, uint64_t need, uint32_t *v,
                              uint64_t *before) {
  int desc = !(flags & F_PHASE1);
  uint32_t pre = 0, h[256];
  *before = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    EV_TRY(histogram(g, L, P, w, anc, hist, flags, (uint32_t)shift, pre, kfix, h));
    int b = -1;
    for (int k = 0; k < 256; k++) {
      int bin = desc ? 255 - k : k;
      if (*before + h[bin] >= need) {
        b = bin;
        break;
      }
      *before += h[bin];
    }
    if (b < 0) return ev_fail(EV_ERR_VK, "pruning: the histograms hold fewer synapses than counted");
    pre |= (uint32_t)b << shift;
  }
  *v = pre;
  return EV_OK;
}

/* ev_prune_layer's work, with its 256-bin histogram buffer: the radix selection of the
 * threshold (key kfix, then index efix among its ties), then the mask pass. */
static ev_status prune_into(ev_gpu *g, const ev_synth_layer *L, const ev_prune_params *P, ev_buf *w, ev_buf *anc,
                            ev_buf *hist, ev_buf *child) {
  uint64_t nall = (uint64_t)L->o * L->kh * L->kw * ev_c4(L->i);
  uint32_t flags = (anc ? F_ANC : 0) | (P->method == EV_PRUNE_RANDOM ? F_RANDOM : 0), kfix = 0, efix = 0;
  uint32_t h[256];
  uint64_t live = 0, before = 0, ties_before = 0;
  /* live synapses: the top digit's histogram over everything */
  EV_TRY(histogram(g, L, P, w, anc, hist, flags, 24, 0, 0, h));
  for (int k = 0; k < 256; k++) live += h[k];
  if (P->count == 0) flags |= F_NONE;
  else if (P->count >= live) flags |= F_ALL;
  else {
    EV_TRY(select_value(g, L, P, w, anc, hist, flags, 0, P->count, &kfix, &before));
    EV_TRY(select_value(g, L, P, w, anc, hist, flags | F_PHASE1, kfix, P->count - before, &efix, &ties_before));
  }
  uint32_t wg = ev_gpu_elementwise_wg(g);
  ev_push_prune_mask pc = {(uint32_t)L->o, (uint32_t)L->i, (uint32_t)L->kh, (uint32_t)L->kw, (uint32_t)ev_c4(L->i),
                           L->layer, P->generation, (uint32_t)P->seed, (uint32_t)(P->seed >> 32), flags, kfix, efix,
                           (uint32_t)((uint64_t)L->o * L->i * L->kh * L->kw), (uint32_t)nall};
  ev_pipeline *p;
  EV_TRY(ev_pipeline_get(g, &(ev_pipeline_desc){.shader = "prune_mask", .bindings = "rrw", .push_size = sizeof pc,
                                                .local_size_x = wg}, &p));
  ev_stream *st;
  EV_TRY(ev_stream_begin(g, &st));
  ev_status s = ev_dispatch(st, p, (uint32_t[3]){groups_for(g, nall, wg), 1, 1}, (ev_buf *[]){w, anc ? anc : w, child},
                            &pc);
  if (s != EV_OK) {
    ev_stream_abort(st);
    return s;
  }
  return ev_stream_submit(st);
}

ev_status ev_prune_layer(ev_gpu *g, const ev_synth_layer *L, const ev_prune_params *P, ev_buf *w, ev_buf *anc,
                         ev_buf *child) {
  if (L->o <= 0 || L->i <= 0 || L->kh <= 0 || L->kw <= 0 || (uint64_t)L->o * L->kh * L->kw * ev_c4(L->i) >= (1ull << 32))
    return ev_fail(EV_ERR_ARG, "pruning of a %dx%dx%dx%d layer: sizes must be positive, under 2^32 weights", L->o, L->i,
                   L->kh, L->kw);
  uint64_t nall = (uint64_t)L->o * L->kh * L->kw * ev_c4(L->i);
  if (!w || w->size < nall * 4 || (anc && anc->size < nall * 4) || !child || child->size < nall * 4)
    return ev_fail(EV_ERR_ARG, "pruning: a weight, mask or offspring buffer is smaller than the layer");
  ev_buf hist;
  EV_TRY(ev_buf_alloc(g, 256 * 4, &hist));
  ev_status s = prune_into(g, L, P, w, anc, &hist, child);
  ev_buf_free(g, &hist);
  return s;
}
