/* Offspring masks for a whole network (GPU and C reference paths; identical results). */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "evo_internal.h"
#include "evonet/evolve.h"
#include "evonet/tensor.h"

static ev_synth_params synth_params(const ev_synthesis_options *o) {
  return (ev_synth_params){.seed = o->seed, .generation = o->generation, .offspring = o->offspring,
                           .alpha = (float)o->alpha, .granularity = o->granularity, .z_alive_only = 0,
                           .budget = o->rule == EV_RULE_BUDGET};
}

/* Steps through a comma-separated list: the next item at *item, *len chars; false at the end. */
static bool next_item(const char **p, const char **item, size_t *len) {
  if (!*p || !**p) return false;
  const char *e = strchr(*p, ',');
  *item = *p, *len = e ? (size_t)(e - *p) : strlen(*p);
  *p = e ? e + 1 : *p + *len;
  return true;
}

static bool is_item(const char *item, size_t len, const char *name) { return strlen(name) == len && !memcmp(item, name, len); }

static bool in_list(const char *list, const char *name) {
  const char *item;
  size_t len;
  while (next_item(&list, &item, &len))
    if (is_item(item, len, name)) return true;
  return false;
}

ev_status ev_synth_check_protect(const ev_net_spec *spec, const char *protect) {
  const char *item;
  size_t len;
  while (next_item(&protect, &item, &len)) {
    bool found = false;
    for (int i = 0; i < spec->n && !found; i++) found = ev_layer_has_weights(&spec->layers[i]) && is_item(item, len, spec->layers[i].name);
    if (!found) return ev_fail(EV_ERR_ARG, "--protect: '%.*s' is not a convolution layer of the network", (int)len, item);
  }
  return EV_OK;
}

static ev_status check(const ev_net_weights *a, const ev_synthesis_options *o) {
  if (!(o->alpha > 0 && o->alpha <= 1e6)) return ev_fail(EV_ERR_ARG, "--alpha must be positive, got %g", o->alpha);
  if (o->rule == EV_RULE_BUDGET && !(o->temperature >= 1e-3 && o->temperature <= 1e3))
    return ev_fail(EV_ERR_ARG, "--temperature must be in [0.001, 1000], got %g", o->temperature);
  return ev_synth_check_protect(&a->spec, o->protect);
}

/* A protected layer is not sampled: the child keeps the ancestor's mask (ev_weights_copy). */
static bool sampled(const ev_net_weights *a, const ev_synthesis_options *o, int i) {
  return ev_layer_has_weights(&a->spec.layers[i]) && !in_list(o->protect, a->spec.layers[i].name);
}

/* ---- the budget rule's per-layer 1/T and shift (host, double; see evolve.h) ---- */
typedef struct {
  double a, n; /* strength (|w| or S_f) and how many live synapses share it */
} strength;

/* The live strengths of layer i appended to *v (synapses, or one item per filter). */
static ev_status collect(const ev_net_weights *a, int i, ev_synth_granularity gran, strength **v, size_t *n, size_t *cap) {
  const ev_layer *l = &a->spec.layers[i];
  ev_synth_layer L = ev_evo_synth_layer(l, i);
  int nf = ev_synth_filters(&L), per = (int)(ev_layer_weight_count(l) / (uint64_t)nf);
  size_t need = *n + (gran == EV_SYNTH_FILTER ? (size_t)nf : ev_layer_weight_count(l));
  if (need > *cap) {
    strength *m = realloc(*v, need * sizeof *m);
    if (!m) return ev_fail(EV_ERR_OOM, "out of memory");
    *v = m, *cap = need;
  }
  const float *w = a->l[i].w, *mask = a->l[i].mask;
  for (int f = 0; f < nf; f++) {
    double sum = 0, cnt = 0;
    for (int j = 0; j < per; j++) { /* OIHW: a conv's filter is a row; a deconv's, column f of each row */
      uint64_t k = L.transposed ? ((uint64_t)(j / (L.kh * L.kw)) * L.i + f) * L.kh * L.kw + j % (L.kh * L.kw)
                                : (uint64_t)f * per + j;
      if (mask && mask[k] <= 0.5f) continue;
      if (gran == EV_SYNTH_FILTER) sum += fabs(w[k]), cnt += 1;
      else (*v)[(*n)++] = (strength){fabs(w[k]), 1};
    }
    if (gran == EV_SYNTH_FILTER && cnt > 0) (*v)[(*n)++] = (strength){sum, cnt};
  }
  return EV_OK;
}

/* Expected kept synapses of items [b, e) at a shift: sum n * min(1, exp(a*inv_t - shift)). */
static double kept_at(const strength *v, size_t b, size_t e, double inv_t, double shift) {
  double k = 0;
  for (size_t j = b; j < e; j++) {
    double y = v[j].a * inv_t - shift;
    k += v[j].n * (y >= 0 ? 1 : exp(y));
  }
  return k;
}

/* The shift at which items [b, e) keep `target` in expectation (0 < target < their count):
 * bisection between a shift that keeps all (the smallest u) and one that keeps less than the
 * target (the largest u minus log(target / count), plus 1). */
static double shift_for(const strength *v, size_t b, size_t e, double inv_t, double target, double count) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t j = b; j < e; j++) lo = fmin(lo, v[j].a * inv_t), hi = fmax(hi, v[j].a * inv_t);
  hi = hi - log(target / count) + 1;
  for (int it = 0; it < 100; it++) {
    double mid = 0.5 * (lo + hi);
    if (kept_at(v, b, e, inv_t, mid) > target) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/* Per layer {1/T, shift} into bp[2*i] (see evolve.h). z_network: one T (temperature times the
 * mean strength over all sampled layers) and one shift with alpha of all their live synapses
 * kept in expectation, except that a layer the shared shift would leave below layer_floor of
 * its own live synapses gets its own shift at that floor (the shared one is solved with the
 * floors in the sum). Otherwise each layer's own T and alpha. */
static ev_status budget_params(const ev_net_weights *a, const ev_synthesis_options *o, float *bp) {
  int n_l = a->spec.n;
  strength *v = NULL;
  size_t n = 0, cap = 0, *start = calloc((size_t)n_l + 1, sizeof *start);
  double *cnt = calloc((size_t)n_l, sizeof *cnt), *sum = calloc((size_t)n_l, sizeof *sum);
  ev_status s = start && cnt && sum ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  for (int i = 0; i < n_l && s == EV_OK; i++) {
    start[i] = n;
    if (sampled(a, o, i)) s = collect(a, i, o->granularity, &v, &n, &cap);
    for (size_t j = start[i]; j < n; j++) cnt[i] += v[j].n, sum[i] += v[j].a * v[j].n;
  }
  start[n_l] = n;
  double all_n = 0, all_sum = 0;
  for (int i = 0; i < n_l; i++) all_n += cnt[i], all_sum += sum[i];
  double floor_share = o->z_network ? o->layer_floor : 0;
  if (s == EV_OK && floor_share >= o->alpha && o->alpha < 1)
    s = ev_fail(EV_ERR_ARG, "--layer-floor %g must be below --alpha %g", floor_share, o->alpha);
  double g_inv = all_sum > 0 ? 1.0 / (o->temperature * all_sum / all_n) : 0, g_shift = 0;
  if (s == EV_OK && o->z_network && o->alpha < 1 && all_n > 0) {
    /* the shared shift: total(shift) = sum over layers of max(kept_l, floor * n_l) */
    double lo = INFINITY, hi = -INFINITY;
    for (size_t j = 0; j < n; j++) lo = fmin(lo, v[j].a * g_inv), hi = fmax(hi, v[j].a * g_inv);
    hi = hi - log(o->alpha) + 1;
    for (int it = 0; it < 100; it++) {
      double mid = 0.5 * (lo + hi), tot = 0;
      for (int i = 0; i < n_l; i++)
        if (cnt[i] > 0) tot += fmax(kept_at(v, start[i], start[i + 1], g_inv, mid), floor_share * cnt[i]);
      if (tot > o->alpha * all_n) lo = mid;
      else hi = mid;
    }
    g_shift = 0.5 * (lo + hi);
  }
  for (int i = 0; i < n_l && s == EV_OK; i++) {
    double inv = o->z_network ? g_inv : (cnt[i] > 0 && sum[i] > 0 ? 1.0 / (o->temperature * sum[i] / cnt[i]) : 0);
    double sh = -1e20; /* keep every live synapse */
    if (cnt[i] > 0 && o->alpha < 1) {
      if (!o->z_network) sh = shift_for(v, start[i], start[i + 1], inv, o->alpha * cnt[i], cnt[i]);
      else if (floor_share > 0 && kept_at(v, start[i], start[i + 1], inv, g_shift) < floor_share * cnt[i])
        sh = shift_for(v, start[i], start[i + 1], inv, floor_share * cnt[i], cnt[i]);
      else sh = g_shift;
    }
    bp[2 * i] = (float)inv, bp[2 * i + 1] = (float)sh;
  }
  free(v), free(start), free(cnt), free(sum);
  return s;
}

/* The layer's params: the options' P, with the budget rule's pair when it applies. */
static ev_synth_params layer_params(const ev_synth_params *P, const float *bp, int i) {
  ev_synth_params Q = *P;
  if (bp) Q.inv_t = bp[2 * i], Q.shift = bp[2 * i + 1];
  return Q;
}

void ev_evo_apply_masks(ev_net_weights *child) {
  for (int i = 0; i < child->spec.n; i++) {
    uint64_t n = ev_layer_weight_count(&child->spec.layers[i]);
    for (uint64_t k = 0; k < n; k++) child->l[i].w[k] *= child->l[i].mask[k];
  }
}

ev_status ev_synthesize_ref(const ev_net_weights *a, const ev_synthesis_options *o, ev_net_weights *child) {
  EV_TRY(check(a, o));
  EV_TRY(ev_weights_copy(a, child));
  ev_synth_params P = synth_params(o);
  int n = a->spec.n;
  float (*pairs)[2] = calloc((size_t)n, sizeof *pairs);
  float **sums = calloc((size_t)n, sizeof *sums);
  float **w4 = calloc((size_t)n, sizeof *w4), **m4 = calloc((size_t)n, sizeof *m4);
  float *bp = P.budget ? calloc((size_t)n * 2, sizeof *bp) : NULL;
  ev_status s = pairs && sums && w4 && m4 && (bp || !P.budget) ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK && bp) s = budget_params(a, o, bp);
  float zmax = 0;
  for (int i = 0; i < n && s == EV_OK; i++) {
    const ev_layer *l = &a->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    ev_synth_layer L = ev_evo_synth_layer(l, i);
    uint64_t n4 = (uint64_t)L.o * L.kh * L.kw * ev_c4(L.i);
    w4[i] = malloc(n4 * 4), m4[i] = malloc(n4 * 4), sums[i] = malloc((size_t)ev_synth_filters(&L) * 4);
    if (!w4[i] || !m4[i] || !sums[i]) {
      s = ev_fail(EV_ERR_OOM, "out of memory");
      break;
    }
    ev_oihw_to_ohwi4(a->l[i].w, w4[i], L.o, L.i, L.kh, L.kw);
    ev_oihw_to_ohwi4(a->l[i].mask, m4[i], L.o, L.i, L.kh, L.kw);
    ev_synth_normalizer_ref(&L, &P, w4[i], m4[i], sums[i], pairs[i]);
    if (pairs[i][0] > zmax) zmax = pairs[i][0];
  }
  float net_pair[2];
  ev_synth_pair(zmax, net_pair);
  for (int i = 0; i < n && s == EV_OK; i++) {
    const ev_layer *l = &a->spec.layers[i];
    if (!sampled(a, o, i)) continue;
    ev_synth_layer L = ev_evo_synth_layer(l, i);
    uint64_t n4 = (uint64_t)L.o * L.kh * L.kw * ev_c4(L.i);
    float *c4 = malloc(n4 * 4);
    if (!c4) {
      s = ev_fail(EV_ERR_OOM, "out of memory");
      break;
    }
    ev_synth_params Q = layer_params(&P, bp, i);
    ev_synth_sample_ref(&L, &Q, w4[i], m4[i], sums[i], o->z_network ? net_pair : pairs[i], c4);
    ev_ohwi4_to_oihw(c4, child->l[i].mask, L.o, L.i, L.kh, L.kw);
    free(c4);
  }
  for (int i = 0; i < n; i++) {
    if (sums) free(sums[i]);
    if (w4) free(w4[i]);
    if (m4) free(m4[i]);
  }
  free(pairs), free(sums), free(w4), free(m4), free(bp);
  if (s == EV_OK) ev_evo_apply_masks(child);
  else ev_weights_free(child);
  return s;
}

typedef struct {
  ev_buf w, anc, scratch, child;
  ev_synth_layer L;
  uint64_t n4;
} gpu_layer;

ev_status ev_synthesize(ev_gpu *g, const ev_net_weights *a, const ev_synthesis_options *o, ev_net_weights *child) {
  EV_TRY(check(a, o));
  EV_TRY(ev_weights_copy(a, child));
  ev_synth_params P = synth_params(o);
  int n = a->spec.n;
  gpu_layer *gl = calloc((size_t)n, sizeof *gl);
  float *bp = P.budget ? calloc((size_t)n * 2, sizeof *bp) : NULL;
  ev_buf z = {0};
  ev_stream *st = NULL;
  float *pairs = NULL, *tmp = NULL;
  ev_status s = gl && (bp || !P.budget) ? ev_buf_alloc(g, ((uint64_t)n + 1) * 2 * 4, &z) : ev_fail(EV_ERR_OOM, "out of memory");
  if (s == EV_OK && bp) s = budget_params(a, o, bp);
  uint64_t max4 = 0;
  /* upload every layer and record its normaliser into slot i */
  if (s == EV_OK) s = ev_stream_begin(g, &st);
  for (int i = 0; i < n && s == EV_OK; i++) {
    const ev_layer *l = &a->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    gpu_layer *q = &gl[i];
    q->L = ev_evo_synth_layer(l, i);
    q->n4 = (uint64_t)q->L.o * q->L.kh * q->L.kw * ev_c4(q->L.i);
    if (q->n4 > max4) {
      free(tmp);
      tmp = malloc(q->n4 * 4);
      max4 = tmp ? q->n4 : 0;
      if (!tmp) s = ev_fail(EV_ERR_OOM, "out of memory");
    }
    ev_buf *bufs[4] = {&q->w, &q->anc, &q->scratch, &q->child};
    uint64_t sizes[4] = {q->n4 * 4, q->n4 * 4, ev_synth_scratch_bytes(&q->L), q->n4 * 4};
    for (int k = 0; k < 4 && s == EV_OK; k++) s = ev_buf_alloc(g, sizes[k], bufs[k]);
    if (s != EV_OK) break;
    ev_oihw_to_ohwi4(a->l[i].w, tmp, q->L.o, q->L.i, q->L.kh, q->L.kw);
    s = ev_buf_upload(g, &q->w, 0, tmp, q->n4 * 4);
    ev_oihw_to_ohwi4(a->l[i].mask, tmp, q->L.o, q->L.i, q->L.kh, q->L.kw);
    if (s == EV_OK) s = ev_buf_upload(g, &q->anc, 0, tmp, q->n4 * 4);
    if (s == EV_OK) s = ev_synth_normalizer(st, &q->L, &P, &q->w, &q->anc, &q->scratch, &z, (uint32_t)i);
  }
  if (s == EV_OK && o->z_network) { /* one Z for the network: the max over layers, in slot n */
    s = ev_stream_flush(st);
    pairs = malloc(((size_t)n + 1) * 2 * 4);
    if (s == EV_OK && !pairs) s = ev_fail(EV_ERR_OOM, "out of memory");
    if (s == EV_OK) s = ev_buf_download(g, &z, 0, pairs, (uint64_t)n * 2 * 4);
    float zmax = 0, pair[2];
    for (int i = 0; s == EV_OK && i < n; i++)
      if (gl[i].n4 && pairs[2 * i] > zmax) zmax = pairs[2 * i];
    ev_synth_pair(zmax, pair);
    if (s == EV_OK) s = ev_buf_upload(g, &z, (uint64_t)n * 2 * 4, pair, sizeof pair);
  }
  for (int i = 0; i < n && s == EV_OK; i++)
    if (gl[i].n4 && sampled(a, o, i)) {
      ev_synth_params Q = layer_params(&P, bp, i);
      s = ev_synth_sample(st, &gl[i].L, &Q, &gl[i].w, &gl[i].anc, &gl[i].scratch, &z,
                          o->z_network ? (uint32_t)n : (uint32_t)i, &gl[i].child);
    }
  if (s == EV_OK) s = ev_stream_submit(st);
  else if (st) ev_stream_abort(st);
  for (int i = 0; i < n && s == EV_OK; i++) {
    if (!gl[i].n4 || !sampled(a, o, i)) continue;
    s = ev_buf_download(g, &gl[i].child, 0, tmp, gl[i].n4 * 4);
    if (s == EV_OK) ev_ohwi4_to_oihw(tmp, child->l[i].mask, gl[i].L.o, gl[i].L.i, gl[i].L.kh, gl[i].L.kw);
  }
  for (int i = 0; gl && i < n; i++) {
    ev_buf_free(g, &gl[i].w), ev_buf_free(g, &gl[i].anc), ev_buf_free(g, &gl[i].scratch), ev_buf_free(g, &gl[i].child);
  }
  ev_buf_free(g, &z);
  free(gl), free(pairs), free(tmp), free(bp);
  if (s == EV_OK) ev_evo_apply_masks(child);
  else ev_weights_free(child);
  return s;
}
