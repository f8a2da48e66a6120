/* Evolutionary synthesis (the paper, section II; DESIGN.md): offspring masks sampled from
 * an ancestor's synaptic probability model, dead-neuron removal with compaction into a
 * smaller dense network, and the generations loop with natural selection. */
#ifndef EVONET_EVOLVE_H
#define EVONET_EVOLVE_H
#include <stdbool.h>

#include "evonet/gpu.h"
#include "evonet/ops/prune.h"
#include "evonet/ops/synth.h"
#include "evonet/train.h"
#include "evonet/weights.h"

/* The synthesis rule. EV_RULE_PAPER is Eq. 1-4 as written: keep iff alpha*exp(|w|/Z - 1) >= r,
 * Z = max |w|. Its keep probability lies in [alpha/e, alpha], so the strongest synapse is only
 * e times likelier to survive than a zero one and even it dies with probability 1 - alpha: on
 * near-normal trained weights that is close to uniform random pruning of ~82 % at alpha 0.4.
 * EV_RULE_BUDGET (a named variant) keeps Eq. 1's exponential and Eq. 4's draw but reads alpha
 * as section III does, as the share of the ancestor's synapses the offspring may have:
 *   P(s) = exp(|w|/Z - 1) with Z = temperature * mean |w| (of the live, sampled synapses),
 *   keep iff min(1, c*P(s)) >= r, c such that the expected kept count is alpha * live.
 * With z_network one Z and one c serve every sampled layer (layers of larger weights, the narrow
 * early ones, keep more: the allocation of global magnitude pruning, made stochastic); otherwise
 * each layer keeps alpha of its own. Over generations the network-wide allocation compounds on
 * the layers of the smallest weights (the widest fan-in), so layer_floor bounds how far any one
 * layer may be cut in one generation. A small temperature approaches magnitude pruning, a large
 * one uniform random pruning. FILTER granularity applies the same to the filter sums S_f. */
typedef enum { EV_RULE_PAPER = 0, EV_RULE_BUDGET = 1 } ev_synth_rule;

typedef struct {
  double alpha;                       /* environmental factor (paper: 0.4) */
  ev_synth_rule rule;                 /* EV_RULE_PAPER (default) or EV_RULE_BUDGET */
  double temperature;                 /* budget rule: Z = temperature * mean |w| (> 0) */
  double layer_floor;                 /* budget rule, network Z: no sampled layer keeps less than
                                         this share of its live synapses (0: no floor; < alpha) */
  ev_synth_granularity granularity;   /* synapse (paper) or filter */
  bool z_network;                     /* one Z over the whole network instead of per layer */
  uint64_t seed;
  uint32_t generation, offspring;     /* the offspring's own numbers: its random streams */
  const char *protect;                /* comma-separated layers left out of sampling (their masks
                                         pass to the offspring whole); NULL or "": none */
} ev_synthesis_options;

/* EV_OK if every name in `protect` (comma-separated; NULL or "" is none) is a layer of `spec`
 * with synapses; otherwise a one-line error naming the first that is not. */
ev_status ev_synth_check_protect(const ev_net_spec *spec, const char *protect);

/* child := ancestor with masks resampled (keep s iff alive and alpha*P(s) >= r(s)), weights
 * multiplied by the new mask. On the GPU; ev_synthesize_ref is the same on the CPU and gives
 * identical masks. */
ev_status ev_synthesize(ev_gpu *g, const ev_net_weights *ancestor, const ev_synthesis_options *o,
                        ev_net_weights *child);
ev_status ev_synthesize_ref(const ev_net_weights *ancestor, const ev_synthesis_options *o, ev_net_weights *child);

/* The pruning baselines (ops/prune.h) for a whole network: child := anc with every layer that
 * has synapses keeping exactly as many live synapses as the same-named layer of `like` (the
 * evolved offspring of that generation), chosen by magnitude or at random; weights masked.
 * Random draws are keyed by (seed, generation, layer). On the GPU; ev_prune_like_ref is the same
 * on the CPU and gives identical masks. A layer where `like` has more live synapses than anc
 * (the baseline's own neuron removal took more earlier) keeps all of anc's; EV_ERR_ARG when a
 * layer of anc is missing from `like`. */
ev_status ev_prune_like(ev_gpu *g, const ev_net_weights *anc, const ev_net_weights *like, ev_prune_method method,
                        uint64_t seed, uint32_t generation, ev_net_weights *child);
ev_status ev_prune_like_ref(const ev_net_weights *anc, const ev_net_weights *like, ev_prune_method method,
                            uint64_t seed, uint32_t generation, ev_net_weights *child);

typedef struct {
  int channels_before, channels_after; /* conv/deconv output channels over the network */
  uint64_t synapses_before, synapses_after;
} ev_compact_stats;

/* Neuron synthesis: an output channel with no live synapse from a live input channel is
 * dead, and so is one no live synapse reads; both are removed with their bias and batch-norm
 * entries and the matching input channels of every consumer (through pooling, resizing,
 * concatenation, addition and deconvolution). The result is a smaller dense network whose
 * remaining masked synapses stay masked. The network's output channels always stay. */
ev_status ev_compact(const ev_net_weights *in, ev_net_weights *out, ev_compact_stats *stats);

/* How each offspring is made: synthesized (the method), or a pruning baseline that keeps the
 * per-layer counts of the selected offspring of the same generation in an evolved run. */
typedef enum { EV_MAKE_EVOLVE = 0, EV_MAKE_MAGNITUDE, EV_MAKE_RANDOM } ev_offspring_maker;

/* The teacher of knowledge distillation (distill > 0): generation 1, or the offspring's own
 * ancestor (the selected offspring of the generation before). */
typedef enum { EV_TEACHER_FIRST = 0, EV_TEACHER_PARENT = 1 } ev_teacher;

typedef struct {
  int generations;            /* total, including the ancestor (paper: 4) */
  ev_offspring_maker maker;   /* EV_MAKE_EVOLVE, or a baseline (then like_run is needed) */
  const char *like_run;       /* baselines: the evolved run folder whose counts they copy */
  int offspring;              /* offspring per generation (paper: 1) */
  ev_synthesis_options synth; /* alpha, granularity, z_network, seed */
  bool inherit;               /* offspring start from the ancestor's surviving weights */
  ev_train_options train;     /* recipe of every generation (out_dir is set per network) */
  int epochs_gen1;            /* epochs of generation 1 (0: train.epochs) */
  double distill;             /* offspring learn from (1 - distill) ground truth + distill teacher */
  ev_teacher teacher;         /* whose probabilities (with distill > 0) */
  int gen_epochs[16];         /* epochs of the offspring of generation 2, 3, ... (the last entry
                                 repeats); n_gen_epochs == 0: train.epochs for all */
  int n_gen_epochs;
  const char *ancestor;       /* a trained generation-1 network file instead of training one */
  const ev_net_spec *arch;    /* generation 1's architecture (--arch; channels inferred), He-initialised
                                 from the seed; NULL: the saliency network at width/bn */
  double width;               /* generation 1's width multiplier (default 0.125) */
  bool bn;                    /* batch normalisation in generation 1 (and so in all) */
  const char *out_dir;
  int figure_rows;            /* test images in the Figure-4 grid */
  const char *data_label;     /* dataset shown in the report */
  const char *arch_label;     /* generation 1's architecture file shown in the report (NULL: none) */
} ev_evolve_options;

void ev_evolve_defaults(ev_evolve_options *o);
/* Training epochs of the offspring of generation gen >= 2. */
int ev_evolve_epochs_of(const ev_evolve_options *o, int gen);
/* Runs (or resumes) the whole evolution in o->out_dir and writes its reports. */
ev_status ev_evolve(ev_gpu *g, const ev_dataset *train, const ev_dataset *val, const ev_dataset *test,
                    const ev_evolve_options *o);
#endif
