/* Magnitude and random pruning of a whole network to the per-layer counts of an evolved
 * offspring (evolve.h, ev_prune_like): the baselines the evolved offspring is compared with. */
#include <stdlib.h>
#include <string.h>

#include "evo_internal.h"
#include "evonet/evolve.h"
#include "evonet/tensor.h"

/* The count of layer i of anc: the live synapses of the same-named layer of like. */
static ev_status target(const ev_net_weights *anc, const ev_net_weights *like, int i, uint64_t *count) {
  const char *name = anc->spec.layers[i].name;
  int j = ev_net_find(&like->spec, name);
  if (j < 0 || !ev_layer_has_weights(&like->spec.layers[j]))
    return ev_fail(EV_ERR_ARG, "pruning baseline: layer '%s' is not in the network whose counts it copies", name);
  *count = ev_layer_live_synapses(like, j);
  uint64_t live = ev_layer_live_synapses(anc, i);
  if (*count > live) *count = live;
  return EV_OK;
}

/* One path for both: g == NULL runs the C reference. */
static ev_status prune(ev_gpu *g, const ev_net_weights *anc, const ev_net_weights *like, ev_prune_method method,
                       uint64_t seed, uint32_t generation, ev_net_weights *child) {
  EV_TRY(ev_weights_copy(anc, child));
  ev_status s = EV_OK;
  float *w4 = NULL, *m4 = NULL, *c4 = NULL;
  for (int i = 0; i < anc->spec.n && s == EV_OK; i++) {
    const ev_layer *l = &anc->spec.layers[i];
    if (!ev_layer_has_weights(l)) continue;
    ev_prune_params P = {.method = method, .seed = seed, .generation = generation};
    if ((s = target(anc, like, i, &P.count)) != EV_OK) break;
    ev_synth_layer L = ev_evo_synth_layer(l, i);
    uint64_t n4 = (uint64_t)L.o * L.kh * L.kw * ev_c4(L.i);
    free(w4), free(m4), free(c4);
    w4 = malloc(n4 * 4), m4 = malloc(n4 * 4), c4 = malloc(n4 * 4);
    if (!w4 || !m4 || !c4) {
      s = ev_fail(EV_ERR_OOM, "out of memory");
      break;
    }
    ev_oihw_to_ohwi4(anc->l[i].w, w4, L.o, L.i, L.kh, L.kw);
    ev_oihw_to_ohwi4(anc->l[i].mask, m4, L.o, L.i, L.kh, L.kw);
    if (!g) {
      ev_prune_layer_ref(&L, &P, w4, m4, c4);
    } else {
      ev_buf wb = {0}, mb = {0}, cb = {0};
      s = ev_buf_alloc(g, n4 * 4, &wb);
      if (s == EV_OK) s = ev_buf_alloc(g, n4 * 4, &mb);
      if (s == EV_OK) s = ev_buf_alloc(g, n4 * 4, &cb);
      if (s == EV_OK) s = ev_buf_upload(g, &wb, 0, w4, n4 * 4);
      if (s == EV_OK) s = ev_buf_upload(g, &mb, 0, m4, n4 * 4);
      if (s == EV_OK) s = ev_prune_layer(g, &L, &P, &wb, &mb, &cb);
      if (s == EV_OK) s = ev_buf_download(g, &cb, 0, c4, n4 * 4);
      ev_buf_free(g, &wb), ev_buf_free(g, &mb), ev_buf_free(g, &cb);
    }
    if (s == EV_OK) ev_ohwi4_to_oihw(c4, child->l[i].mask, L.o, L.i, L.kh, L.kw);
  }
  free(w4), free(m4), free(c4);
  if (s == EV_OK) ev_evo_apply_masks(child);
  else ev_weights_free(child);
  return s;
}

ev_status ev_prune_like(ev_gpu *g, const ev_net_weights *anc, const ev_net_weights *like, ev_prune_method method,
                        uint64_t seed, uint32_t generation, ev_net_weights *child) {
  if (!g) return ev_fail(EV_ERR_ARG, "pruning baseline: no GPU");
  return prune(g, anc, like, method, seed, generation, child);
}

ev_status ev_prune_like_ref(const ev_net_weights *anc, const ev_net_weights *like, ev_prune_method method,
                            uint64_t seed, uint32_t generation, ev_net_weights *child) {
  return prune(NULL, anc, like, method, seed, generation, child);
}
