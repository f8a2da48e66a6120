/* Activations: the one description every op that applies one (fused or on its own) takes.
 *
 *   kind               forward y = f(z)           backward dz = f'(z) dy, from the OUTPUT y
 *   EV_ACT_NONE        z                          dy
 *   EV_ACT_RELU        max(z, 0)                  y > 0 ? dy : 0            (a select)
 *   EV_ACT_LEAKY_RELU  z > 0 ? z : alpha z        y > 0 ? dy : alpha dy     (a select)
 *   EV_ACT_TANH        tanh(z)                    dy (1 - y y)
 *
 * The backward reads only y, never z: the passes that consume an activation's output (a
 * conv's input gradient, pool and concat backwards) fuse its backward from the tensor they
 * already read, and no layer keeps its pre-activation for it. For the leaky ReLU that needs
 * alpha > 0 (then y > 0 exactly when z > 0). At the kink (z = 0) the derivative taken is
 * PyTorch's: 0 for relu, alpha for leaky_relu. A NaN y takes the "not > 0" branch.
 *
 * Shaders: shaders/include/act.glsl (act_fwd, act_bwd) computes the same; a pass selects the
 * activation with two specialization constants, ev_act_spec_kind() and ev_act_spec_alpha()
 * (alpha's bits; 0 for every kind but leaky_relu, so relu pipelines do not multiply with
 * unused alphas). A NULL `const ev_act *` means EV_ACT_NONE everywhere. */
#ifndef EVONET_OPS_ACT_H
#define EVONET_OPS_ACT_H
#include <stdint.h>
#include <string.h>

#include "evonet/status.h"

/* The numbers are the shaders' (act.glsl): do not reorder. */
typedef enum { EV_ACT_NONE = 0, EV_ACT_RELU = 1, EV_ACT_LEAKY_RELU = 2, EV_ACT_TANH = 3 } ev_act_kind;
#define EV_ACT_KINDS 4
#define EV_ACT_LEAKY_ALPHA 0.01f /* PyTorch's default negative slope */

typedef struct {
  ev_act_kind kind;
  float alpha; /* leaky_relu's slope for z < 0 (finite, > 0); ignored by the other kinds */
} ev_act;

static inline ev_act ev_act_make(ev_act_kind kind) {
  return (ev_act){kind, kind == EV_ACT_LEAKY_RELU ? EV_ACT_LEAKY_ALPHA : 0.0f};
}
/* Whether a applies anything (NULL and EV_ACT_NONE do not). */
static inline int ev_act_on(const ev_act *a) { return a && a->kind != EV_ACT_NONE; }

/* "none", "relu", "leaky_relu", "tanh" (the JSON names); "?" for anything else. */
const char *ev_act_name(ev_act_kind kind);
/* The kind named `name` (as ev_act_name spells it); -1 if none. */
int ev_act_parse(const char *name);
/* EV_ERR_ARG (message naming `op`) for an unknown kind or a leaky alpha that is not a
 * finite number > 0. NULL is fine (none). */
ev_status ev_act_check(const char *op, const ev_act *a);

/* Specialization constants of the shaders that fuse an activation. */
static inline uint32_t ev_act_spec_kind(const ev_act *a) { return a ? (uint32_t)a->kind : 0u; }
static inline uint32_t ev_act_spec_alpha(const ev_act *a) {
  uint32_t bits = 0;
  if (a && a->kind == EV_ACT_LEAKY_RELU) memcpy(&bits, &a->alpha, sizeof bits);
  return bits;
}

/* References (double): the table above, element by element; a NULL a is none. */
double ev_act_fwd_ref(const ev_act *a, double z);
double ev_act_bwd_ref(const ev_act *a, double y, double dy);
void ev_act_forward_ref(const ev_act *a, const double *z, double *y, uint64_t n);
void ev_act_backward_ref(const ev_act *a, const double *y, const double *dy, double *dz, uint64_t n);
#endif
