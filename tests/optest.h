/* The op-test harness: a GPU op's test is a table row (the op, its parameters, a shape)
 * plus the op's C reference. For each row the harness
 *   - gives every tensor its shape (the op's `shapes`, or the row's shape for all),
 *   - fills every input with fresh random values in [-1, 1) (never zeros; padding channels
 *     0) from a seed printed once per program (EVONET_TEST_SEED reproduces it), then lets
 *     the op reshape them (`prepare`: e.g. an activation's output),
 *   - poisons every output with NaN before the op runs (so an element it skips is caught),
 *     or, for outputs the op accumulates into, fills them with random values too,
 *   - records the op into a stream, submits it, downloads the outputs,
 *   - runs the reference in double on the same host data and compares: relative error
 *     ||gpu - ref|| / ||ref|| <= tol (tol 0: equal, NaN where the reference is NaN), every
 *     padding channel exactly 0, and the op's own extra checks (`extra`),
 *   - fails the test on any validation-layer message (tu_gpu_assert_clean).
 * See docs/ADDING_AN_OP.md; tests/test_eltwise.c, test_pool.c and test_upsample.c use it. */
#ifndef EVONET_OPTEST_H
#define EVONET_OPTEST_H
#include "trainops_util.h"

#define OT_MAX 6 /* tensors in, tensors out */

typedef struct { int n, h, w, c; } ot_shape;

typedef struct ot_op ot_op;

/* One run of one row: what the callbacks see. */
typedef struct {
  const ot_op *op;
  const void *arg;          /* the row's parameters */
  ot_shape shape;           /* the row's shape */
  ot_shape in_shape[OT_MAX], out_shape[OT_MAX];
  ev_tensor in[OT_MAX], out[OT_MAX]; /* device tensors (out[j] is in[j] for an in-place output) */
  float *in_host[OT_MAX];   /* the inputs' host data (prepare may change it before upload) */
  double *in_d[OT_MAX];     /* the same in double, for the reference */
  float *out_init[OT_MAX];  /* accumulated outputs: their initial contents (else NULL) */
  double *ref[OT_MAX];      /* the reference fills these (accumulated outputs: preset to out_init) */
  uint64_t seed;            /* this run's random state (prepare may draw from it) */
} ot_run;

struct ot_op {
  const char *name;
  int n_in, n_out;
  /* the tensors' shapes for the row's shape and parameters; NULL: all tensors are `s` */
  void (*shapes)(const void *arg, ot_shape s, ot_shape *in, ot_shape *out);
  /* optional: adjust the random inputs (in_host) before they are uploaded */
  void (*prepare)(ot_run *r);
  unsigned accumulate;      /* bit j: output j starts with random data the op adds to */
  unsigned inplace;         /* bit j: output j is input j's tensor (the op writes over it) */
  ev_status (*gpu)(ev_stream *s, ot_run *r); /* records the op */
  void (*ref)(ot_run *r);   /* fills r->ref[j] from r->in_d (and out_init) */
  double tol;               /* relative error bound; 0: equal element by element */
  /* optional further checks on the downloaded outputs */
  void (*extra)(ot_run *r, float *const *got, const char *what);
};

/* A table row: op, parameters, shape; label (optional) names the parameters in messages. */
typedef struct {
  const ot_op *op;
  const void *arg;
  ot_shape shape;
  const char *label;
} ot_row;

static inline uint64_t ot_floats(ot_shape s) { return ev_tensor_floats(s.n, s.h, s.w, s.c); }

/* Equal element by element (both NaN counts as equal). */
static inline void ot_check_exact(const char *what, const float *gpu, const double *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!(gpu[i] == (float)ref[i] || (isnan(gpu[i]) && isnan(ref[i]))))
      fail_msg("%s: element %zu is %g, reference %g", what, i, gpu[i], ref[i]);
  fprintf(stderr, "  %-44s exact\n", what);
}

/* Where the reference is exactly 0 the GPU's value is too (for `extra`). */
static inline void ot_check_zeros(const char *what, const float *gpu, const double *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (ref[i] == 0.0 && gpu[i] != 0.0f) fail_msg("%s: element %zu = %g, expected 0", what, i, gpu[i]);
}

static inline void ot_check_row(const ot_row *row) {
  const ot_op *op = row->op;
  ev_gpu *g = tu_gpu();
  ot_run r = {.op = op, .arg = row->arg, .shape = row->shape};
  for (int i = 0; i < OT_MAX; i++) r.in_shape[i] = r.out_shape[i] = row->shape;
  if (op->shapes) op->shapes(row->arg, row->shape, r.in_shape, r.out_shape);
  char what[160]; /* the op, its parameters and its first input's (N, C, H, W) */
  snprintf(what, sizeof what, "%s%s%s (%d, %d, %d, %d)", op->name, row->label ? " " : "", row->label ? row->label : "",
           r.in_shape[0].n, r.in_shape[0].c, r.in_shape[0].h, r.in_shape[0].w);
  /* a fresh seed per row: the program's seed mixed with the row's name and shape */
  r.seed = tu_seed();
  for (const char *p = what; *p; p++) r.seed = r.seed * 1099511628211ull ^ (unsigned char)*p;
  for (int i = 0; i < op->n_in; i++) {
    ot_shape s = r.in_shape[i];
    r.in_host[i] = to_rand_act(&r.seed, s.n, s.h, s.w, s.c, -1, 1);
  }
  if (op->prepare) op->prepare(&r);
  for (int i = 0; i < op->n_in; i++) {
    ot_shape s = r.in_shape[i];
    r.in[i] = to_tensor(r.in_host[i], s.n, s.h, s.w, s.c);
    r.in_d[i] = to_double(r.in_host[i], ot_floats(s));
  }
  for (int j = 0; j < op->n_out; j++) {
    ot_shape s = r.out_shape[j];
    uint64_t nf = ot_floats(s);
    r.ref[j] = to_xmalloc(nf * sizeof(double));
    if (op->inplace >> j & 1) {
      r.out[j] = r.in[j];
      continue;
    }
    if (op->accumulate >> j & 1) {
      r.out_init[j] = to_rand_act(&r.seed, s.n, s.h, s.w, s.c, -1, 1);
      for (uint64_t i = 0; i < nf; i++) r.ref[j][i] = r.out_init[j][i];
    }
    r.out[j] = to_tensor(r.out_init[j], s.n, s.h, s.w, s.c); /* NULL data: poisoned */
  }
  ev_stream *s;
  TU_OK(ev_stream_begin(g, &s));
  ev_status st = op->gpu(s, &r);
  if (st != EV_OK) {
    ev_stream_abort(s);
    fail_msg("%s: %s: %s", what, ev_status_name(st), ev_last_error());
  }
  TU_OK(ev_stream_submit(s));
  op->ref(&r);
  float *got[OT_MAX] = {0};
  for (int j = 0; j < op->n_out; j++) {
    ot_shape o = r.out_shape[j];
    char wj[200];
    snprintf(wj, sizeof wj, op->n_out > 1 ? "%s out %d" : "%s", what, j);
    got[j] = to_download(&r.out[j]);
    if (op->tol == 0) ot_check_exact(wj, got[j], r.ref[j], ot_floats(o));
    else to_check(wj, got[j], r.ref[j], ot_floats(o), op->tol);
    to_check_padding(wj, got[j], (uint64_t)o.n * o.h * o.w, o.c);
  }
  if (op->extra) op->extra(&r, got, what);
  for (int i = 0; i < op->n_in; i++) free(r.in_host[i]), free(r.in_d[i]), ev_tensor_free(g, &r.in[i]);
  for (int j = 0; j < op->n_out; j++) {
    free(got[j]), free(r.ref[j]), free(r.out_init[j]);
    if (!(op->inplace >> j & 1)) ev_tensor_free(g, &r.out[j]);
  }
  tu_gpu_assert_clean();
}

static inline void ot_check_table(const ot_row *rows, size_t n) {
  for (size_t i = 0; i < n; i++) ot_check_row(&rows[i]);
}
#define OT_CHECK_TABLE(rows) ot_check_table(rows, sizeof(rows) / sizeof((rows)[0]))
#endif
