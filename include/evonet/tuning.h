/* Everything the EVONET_* environment variables change, read once when a device opens
 * (ev_gpu_open: ev_gpu_tuning) and handed to whatever chooses kernels and tiles, so those
 * choices are functions of (shape, device caps, tuning) and nothing else. The table
 * ev_tuning_vars lists every variable with what it does (`evonet devices --env` prints it).
 * Test and benchmark hooks are fields here too: tests change them on an open device with
 * ev_tuning_set(ev_gpu_tuning_mut(g), "EVONET_...", value), the same parser as the
 * environment's. */
#ifndef EVONET_TUNING_H
#define EVONET_TUNING_H
#include <stdbool.h>

#include "evonet/status.h"

typedef struct {
  /* device choice and diagnostics */
  bool device_set;        /* EVONET_DEVICE is set (even to ""): device holds it */
  char device[256];       /* EVONET_DEVICE: index or name substring */
  bool validate;          /* EVONET_VALIDATE: validation layer + messenger */
  bool profile;           /* EVONET_PROFILE: per-kernel GPU times at close */
  bool no_pipeline_cache; /* EVONET_NO_PIPELINE_CACHE set: neither load nor save it */
  /* kernel policy */
  int conv_variant; /* EVONET_CONV_VARIANT: -1 the device's (cpu kernels on CPU devices), 1 cpu, 0 gpu */
  int sparse;       /* EVONET_SPARSE: -1 by live density, 0 dense, 1 sparse inference convs */
  /* test and benchmark hooks (a value outside the listed ones leaves the host's choice) */
  int conv_cn;               /* EVONET_CONV_CN: cpu conv kernel's per-lane rows, 2 or 4; 0 host */
  int conv_swap;             /* EVONET_CONV_SWAP: cpu conv kernel's orientation, 0 or 1; -1 host */
  int conv_ha;               /* EVONET_CONV_HA: cpu conv kernel's shuffled blocks of 8 rows, 1..4; 0 host */
  int conv_unroll;           /* EVONET_CONV_UNROLL: 0 keeps the tap and texel loops of narrow layers; 1 */
  int conv_gridx;            /* EVONET_CONV_GRIDX: cap on x workgroups (dense and sparse conv); 0 none */
  int conv_gpu_tile_n;       /* EVONET_CONV_GPU_TILE: how many of conv_gpu_tile were given (0: unset) */
  unsigned conv_gpu_tile[5]; /* TM, TN, LX, LY[, BK4] of the gpu conv kernel */
  int sparse_pp;             /* EVONET_SPARSE_PP: sparse conv pixels per invocation, 1..16; 0 host */
  int sparse_chunk;          /* EVONET_SPARSE_CHUNK: 8 forces taps per loop iteration >= 8 */
  int wgrad_slice;           /* EVONET_WGRAD_SLICE: pixels per split-K slice of the weight gradient; 0 host */
  int wgrad_ns;              /* EVONET_WGRAD_NS: cpu wgrad kernel's shuffled quads, 1..8; 0 host */
  int wgrad_mode;            /* EVONET_WGRAD_MODE: cpu wgrad lane mapping 0 tap/C, 1 tap/R, 2 flattened; -1 host */
  /* not a variable: the host CPU, on which a CPU device (lavapipe) runs the kernels */
  bool host_avx512vl; /* 32 vector registers: the cpu conv kernel keeps 8 x 4 rows per lane */
} ev_tuning;

typedef struct {
  const char *name;   /* "EVONET_..." */
  const char *values; /* what it takes */
  const char *what;   /* what it does */
  bool test_hook;     /* for tests and benchmarks, not for users */
} ev_tuning_var;

extern const ev_tuning_var ev_tuning_vars[];
extern const int ev_tuning_n_vars;

/* Every field at its default (no variable set); host_avx512vl from the CPU. */
void ev_tuning_defaults(ev_tuning *t);
/* Defaults, then every variable of the table that is set in the environment. */
void ev_tuning_from_env(ev_tuning *t);
/* Sets the field of one variable as if the environment held `value` (NULL: unset).
 * EV_ERR_ARG for a name that is not in the table. */
ev_status ev_tuning_set(ev_tuning *t, const char *name, const char *value);
#endif
