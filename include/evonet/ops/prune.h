/* Pruning baselines beside evolutionary synthesis (DESIGN.md "Baselines every result must
 * clear"): an offspring mask that keeps exactly `count` of a layer's live synapses, chosen by
 * magnitude (the largest |w|) or at random (a uniform draw). The evolved offspring's per-layer
 * counts are given, so the baselines differ from it only in which synapses they keep.
 *
 * Layer view, layouts and index as in ops/synth.h: w, anc and child are OHWI4 arrays of an
 * ev_synth_layer (O, kh, kw, I4); a synapse is an entry with i < I, alive iff anc > 0.5 (no
 * anc: all alive), and its index is the PyTorch OIHW number e = ((o*I + i)*kh + ky)*kw + kx.
 *
 * key(e): MAGNITUDE: the bits of |w| flushed below FLT_MIN (positive floats order like their
 *         bits); RANDOM: Philox word (e & 3) of counter {e >> 2, layer | EV_RNG_PRUNE << 24,
 *         generation, 0} and the seed's key (philox.h), a uniform 32-bit draw.
 * Kept: the `count` live synapses first in the order (key descending, then e ascending); a
 * total order, so the result is one exact set on every device. count >= live keeps all.
 *
 * GPU: radix selection of the count-th key (four 8-bit digit histograms from the top), then of
 * the last kept index among the synapses that share that key (four more), then one mask pass;
 * the histograms are integer counts, so the GPU and ev_prune_ref give the same mask bit for bit.
 * About eight small submissions per layer. */
#ifndef EVONET_OPS_PRUNE_H
#define EVONET_OPS_PRUNE_H
#include <stdint.h>

#include "evonet/gpu.h"
#include "evonet/ops/synth.h"

typedef enum { EV_PRUNE_MAGNITUDE = 0, EV_PRUNE_RANDOM = 1 } ev_prune_method;
enum { EV_RNG_PRUNE = 2 }; /* philox.h stream of the random baseline */

typedef struct {
  ev_prune_method method;
  uint64_t seed;
  uint32_t generation;
  uint64_t count; /* live synapses to keep */
} ev_prune_params;

/* child (OHWI4, padding 0) := the mask keeping P->count live synapses of w (anc may be NULL).
 * Scratch-free: the GPU version allocates its small histogram buffer itself and submits. */
ev_status ev_prune_layer(ev_gpu *g, const ev_synth_layer *L, const ev_prune_params *P, ev_buf *w, ev_buf *anc,
                         ev_buf *child);
void ev_prune_layer_ref(const ev_synth_layer *L, const ev_prune_params *P, const float *w, const float *anc,
                        float *child);
#endif
