/* Shared by the files of src/evo. */
#ifndef EVONET_EVO_INTERNAL_H
#define EVONET_EVO_INTERNAL_H
#include "evonet/evolve.h"
#include "evonet/report.h"

/* The synthesis view of layer i (ops/synth.h): the weight in PyTorch order (conv (out, cin),
 * deconv (cin, out)), its number as the random stream. */
static inline ev_synth_layer ev_evo_synth_layer(const ev_layer *l, int i) {
  return (ev_synth_layer){.o = l->op == EV_OP_CONV ? l->out : l->cin, .i = l->op == EV_OP_CONV ? l->cin : l->out,
                          .kh = l->k, .kw = l->k, .transposed = l->op == EV_OP_DECONV, .layer = (uint32_t)i};
}
/* Every weight := weight * mask (removed synapses hold 0). */
void ev_evo_apply_masks(ev_net_weights *w);

/* One line per finished network on stderr. */
ev_status ev_evolve_log_record(const ev_evolve_options *o, const ev_gen_record *r);
/* The table (stdout), report.json/csv/md, the Figure-4 grid and the generations plot. */
ev_status ev_evolve_report(ev_gpu *g, const ev_evolve_options *o, const ev_gen_record *rec, int n,
                           const ev_dataset *test, double seconds);
#endif
