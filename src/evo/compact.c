/* Neuron synthesis: find dead output channels, remove them through the whole graph and
 * compact the network (see ev_compact in evonet/evolve.h).
 *
 * Liveness runs forward: a conv/deconv output channel is alive iff a kept synapse reads an
 * alive input channel; pooling and resizing pass channels through, concatenation stacks
 * them, addition ORs them. Use runs backward: a channel is kept iff it is alive and some
 * consumer still reads it (a conv through a kept synapse into a kept output channel), or a
 * consumer needs it to keep its shape (pass-through layers, addition, the network output).
 * Layers without parameters must keep exactly what their inputs keep (an input may keep a
 * channel for another consumer that a pooling layer reading it did not ask for): a forward
 * pass widens them, and the two passes alternate until nothing changes. */
#include <stdlib.h>
#include <string.h>

#include "evo_internal.h"
#include "evonet/evolve.h"

/* mask entry of (output channel o, input channel i) has any kept tap */
static int reads(const ev_layer *l, const float *mask, int o, int i) {
  int kk = l->k * l->k;
  const float *m = l->op == EV_OP_CONV ? mask + ((size_t)o * l->cin + i) * kk : mask + ((size_t)i * l->out + o) * kk;
  for (int t = 0; t < kk; t++)
    if (m[t] != 0.0f) return 1;
  return 0;
}

typedef struct {
  const ev_net_weights *w;
  unsigned char **alive, **keep, **hard, **soft;
  int n;
} graph;

static unsigned char *in_vec(graph *G, unsigned char **v, int j, unsigned char *all) { return j < 0 ? all : v[j]; }

static void forward_alive(graph *G, unsigned char *all) {
  const ev_net_spec *s = &G->w->spec;
  for (int i = 0; i < s->n; i++) {
    const ev_layer *l = &s->layers[i];
    unsigned char *out = G->alive[i], *x0 = in_vec(G, G->alive, l->in[0], all);
    memset(out, 0, (size_t)l->c);
    if (ev_layer_has_weights(l)) {
      int any = 0;
      for (int o = 0; o < l->out; o++) {
        for (int c = 0; c < l->cin && !out[o]; c++) out[o] = x0[c] && reads(l, G->w->l[i].mask, o, c);
        any |= out[o];
      }
      if (!any) out[0] = 1; /* never let a layer vanish: its consumers need an input */
    } else if (l->op == EV_OP_CONCAT) {
      int off = 0;
      for (int j = 0; j < l->n_in; j++) {
        int cj = l->in[j] < 0 ? s->in_channels : s->layers[l->in[j]].c;
        memcpy(out + off, in_vec(G, G->alive, l->in[j], all), (size_t)cj);
        off += cj;
      }
    } else if (l->op == EV_OP_ADD) {
      for (int j = 0; j < l->n_in; j++)
        for (int c = 0; c < l->c; c++) out[c] |= in_vec(G, G->alive, l->in[j], all)[c];
    } else {
      memcpy(out, x0, (size_t)l->c);
    }
  }
}

/* One backward pass: keep = needed by shape (hard) or alive and read by a consumer. */
static int backward_keep(graph *G) {
  const ev_net_spec *s = &G->w->spec;
  for (int i = 0; i < s->n; i++) memset(G->soft[i], 0, (size_t)s->layers[i].c);
  for (int i = 0; i < s->n; i++) /* hard needs persist across passes (they only grow) */
    if (i == s->output) memset(G->hard[i], 1, (size_t)s->layers[i].c);
  for (int i = s->n - 1; i >= 0; i--) {
    const ev_layer *l = &s->layers[i];
    unsigned char *k = G->keep[i];
    for (int c = 0; c < l->c; c++) k[c] = G->hard[i][c] || (G->alive[i][c] && G->soft[i][c]);
    if (ev_layer_has_weights(l)) {
      int any = 0;
      for (int c = 0; c < l->c; c++) any |= k[c];
      if (!any) k[0] = 1; /* see forward_alive */
    }
    /* needs of this layer's inputs */
    for (int j = 0; j < l->n_in; j++) {
      int src = l->in[j];
      if (src < 0) continue;
      int cs = s->layers[src].c;
      if (ev_layer_has_weights(l)) {
        for (int c = 0; c < cs; c++)
          for (int o = 0; o < l->out && !G->soft[src][c]; o++) G->soft[src][c] = k[o] && reads(l, G->w->l[i].mask, o, c);
      } else if (l->op == EV_OP_CONCAT) {
        int off = 0;
        for (int q = 0; q < j; q++) off += l->in[q] < 0 ? s->in_channels : s->layers[l->in[q]].c;
        for (int c = 0; c < cs; c++) G->hard[src][c] |= k[off + c];
      } else {
        for (int c = 0; c < cs; c++) G->hard[src][c] |= k[c];
      }
    }
  }
  return 0;
}

/* Layers without parameters keep exactly what their inputs keep (pooling and resizing the
 * same channels, concatenation their union in order, addition the same set in every input).
 * Widens where that does not hold yet and returns 1 if anything changed. */
static int forward_fix(graph *G) {
  const ev_net_spec *s = &G->w->spec;
  int changed = 0;
  for (int i = 0; i < s->n; i++) {
    const ev_layer *l = &s->layers[i];
    if (ev_layer_has_weights(l)) continue;
    unsigned char *k = G->keep[i];
    int off = 0;
    for (int j = 0; j < l->n_in; j++) {
      int src = l->in[j], cs = src < 0 ? s->in_channels : s->layers[src].c;
      for (int c = 0; c < cs; c++) {
        int in_keep = src < 0 ? 1 : G->keep[src][c];
        int at = l->op == EV_OP_CONCAT ? off + c : c;
        if (in_keep && !k[at]) k[at] = 1, G->hard[i][at] = 1, changed = 1;
        /* an addition's inputs must all carry the output's channels */
        if (l->op == EV_OP_ADD && src >= 0 && k[c] && !G->keep[src][c]) G->hard[src][c] = 1, changed = 1;
      }
      off += cs;
    }
  }
  return changed;
}

static void gather(const ev_layer *ol, const ev_layer *nl, const float *src, float *dst, const int *omap,
                   const int *imap) {
  int kk = ol->k * ol->k;
  for (int o = 0; o < nl->out; o++)
    for (int i = 0; i < nl->cin; i++) {
      const float *a = ol->op == EV_OP_CONV ? src + ((size_t)omap[o] * ol->cin + imap[i]) * kk
                                            : src + ((size_t)imap[i] * ol->out + omap[o]) * kk;
      float *b = nl->op == EV_OP_CONV ? dst + ((size_t)o * nl->cin + i) * kk : dst + ((size_t)i * nl->out + o) * kk;
      memcpy(b, a, (size_t)kk * 4);
    }
}

static ev_status build(graph *G, ev_net_weights *out, ev_compact_stats *st) {
  const ev_net_spec *s = &G->w->spec;
  ev_net_spec ns;
  EV_TRY(ev_net_copy(s, &ns));
  int **maps = calloc((size_t)s->n, sizeof *maps);
  int in_map[4] = {0, 1, 2, 3};
  ev_status r = maps ? EV_OK : ev_fail(EV_ERR_OOM, "out of memory");
  for (int i = 0; i < s->n && r == EV_OK; i++) {
    const ev_layer *l = &s->layers[i];
    maps[i] = malloc((size_t)l->c * sizeof **maps);
    if (!maps[i]) {
      r = ev_fail(EV_ERR_OOM, "out of memory");
      break;
    }
    int k = 0;
    for (int c = 0; c < l->c; c++)
      if (G->keep[i][c]) maps[i][k++] = c;
    if (ev_layer_has_weights(l)) {
      ns.layers[i].out = k;
      st->channels_before += l->out, st->channels_after += k;
    }
  }
  if (r == EV_OK && s->in_channels > 4) r = ev_fail(EV_ERR_ARG, "compaction supports up to 4 input channels");
  if (r == EV_OK) r = ev_net_infer_channels(&ns);
  if (r == EV_OK) r = ev_weights_alloc(&ns, out);
  for (int i = 0; i < s->n && r == EV_OK; i++) {
    const ev_layer *ol = &s->layers[i], *nl = &out->spec.layers[i];
    if (!ev_layer_has_weights(ol)) continue;
    const int *imap = ol->in[0] < 0 ? in_map : maps[ol->in[0]];
    const ev_layer_weights *a = &G->w->l[i];
    ev_layer_weights *b = &out->l[i];
    gather(ol, nl, a->w, b->w, maps[i], imap);
    gather(ol, nl, a->mask, b->mask, maps[i], imap);
    for (int o = 0; o < nl->out; o++) {
      int src = maps[i][o];
      b->b[o] = a->b[src];
      if (ol->bn) b->gamma[o] = a->gamma[src], b->beta[o] = a->beta[src], b->rmean[o] = a->rmean[src], b->rvar[o] = a->rvar[src];
    }
  }
  for (int i = 0; maps && i < s->n; i++) free(maps[i]);
  free(maps);
  ev_net_free(&ns);
  return r;
}

ev_status ev_compact(const ev_net_weights *in, ev_net_weights *out, ev_compact_stats *st) {
  memset(out, 0, sizeof *out);
  memset(st, 0, sizeof *st);
  const ev_net_spec *s = &in->spec;
  graph G = {.w = in, .n = s->n};
  unsigned char all[4] = {1, 1, 1, 1};
  ev_status r = EV_OK;
  unsigned char ***vs[4] = {&G.alive, &G.keep, &G.hard, &G.soft};
  for (int v = 0; v < 4 && r == EV_OK; v++) {
    *vs[v] = calloc((size_t)s->n, sizeof **vs[v]);
    if (!*vs[v]) r = ev_fail(EV_ERR_OOM, "out of memory");
    for (int i = 0; i < s->n && r == EV_OK; i++)
      if (!((*vs[v])[i] = calloc((size_t)s->layers[i].c + 1, 1))) r = ev_fail(EV_ERR_OOM, "out of memory");
  }
  if (r == EV_OK && s->in_channels > 4) r = ev_fail(EV_ERR_ARG, "compaction supports up to 4 input channels");
  if (r == EV_OK) {
    forward_alive(&G, all);
    /* hard needs only grow, so alternating the two passes reaches a fixpoint */
    for (int guard = 0; guard < 1 << 20; guard++) {
      backward_keep(&G);
      if (!forward_fix(&G)) break;
    }
    st->synapses_before = ev_weights_live_synapses(in);
    r = build(&G, out, st);
    if (r == EV_OK) st->synapses_after = ev_weights_live_synapses(out);
  }
  for (int v = 0; v < 4; v++) {
    for (int i = 0; *vs[v] && i < s->n; i++) free((*vs[v])[i]);
    free(*vs[v]);
  }
  return r;
}
