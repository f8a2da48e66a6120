/* Networks as safetensors files (names and layouts in evonet/weights.h). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/safetensors.h"
#include "evonet/weights.h"

#define META_ARCH "evonet.architecture"
#define META_STATE "evonet.state"

typedef struct {
  const char *suffix;
  size_t off; /* offset of the float* in ev_layer_weights */
  int per_channel, bn;
} field;

static const field k_fields[] = {
    {"weight", offsetof(ev_layer_weights, w), 0, 0},
    {"bias", offsetof(ev_layer_weights, b), 1, 0},
    {"mask", offsetof(ev_layer_weights, mask), 0, 0},
    {"bn.weight", offsetof(ev_layer_weights, gamma), 1, 1},
    {"bn.bias", offsetof(ev_layer_weights, beta), 1, 1},
    {"bn.running_mean", offsetof(ev_layer_weights, rmean), 1, 1},
    {"bn.running_var", offsetof(ev_layer_weights, rvar), 1, 1},
};
#define N_FIELDS (int)(sizeof k_fields / sizeof k_fields[0])

static float **slot(ev_layer_weights *p, const field *f) { return (float **)((char *)p + f->off); }

static void shape_of(const ev_layer *l, const field *f, ev_st_tensor *t) {
  if (f->per_channel) {
    t->ndim = 1, t->shape[0] = l->out, t->count = (size_t)l->out;
    return;
  }
  t->ndim = 4;
  t->shape[0] = l->op == EV_OP_CONV ? l->out : l->cin; /* PyTorch's orders */
  t->shape[1] = l->op == EV_OP_CONV ? l->cin : l->out;
  t->shape[2] = t->shape[3] = l->k;
  t->count = ev_layer_weight_count(l);
}

ev_status ev_weights_save(const char *path, const ev_net_weights *w, const char *const *meta_kv, int n_meta) {
  return ev_weights_save_ex(path, w, NULL, 0, meta_kv, n_meta);
}

ev_status ev_weights_save_ex(const char *path, const ev_net_weights *w, const void *extra, int n_extra,
                             const char *const *meta_kv, int n_meta) {
  ev_st_tensor *t = calloc((size_t)w->spec.n * N_FIELDS + (size_t)n_extra + 1, sizeof *t);
  const char **meta = malloc((size_t)(n_meta + 1) * 2 * sizeof *meta);
  char *arch = ev_net_to_json(&w->spec);
  if (!t || !meta || !arch) {
    free(t), free(meta), free(arch);
    return ev_fail(EV_ERR_OOM, "out of memory");
  }
  int n = 0;
  for (int i = 0; i < w->spec.n; i++) {
    const ev_layer *l = &w->spec.layers[i];
    if (ev_layer_weight_count(l) == 0) continue;
    for (int f = 0; f < N_FIELDS; f++) {
      if (k_fields[f].bn && !l->bn) continue;
      snprintf(t[n].name, sizeof t[n].name, "%s.%s", l->name, k_fields[f].suffix);
      shape_of(l, &k_fields[f], &t[n]);
      t[n].data = *slot(&w->l[i], &k_fields[f]);
      n++;
    }
  }
  if (n_extra > 0) memcpy(&t[n], extra, (size_t)n_extra * sizeof *t);
  n += n_extra;
  meta[0] = META_ARCH, meta[1] = arch;
  for (int i = 0; i < 2 * n_meta; i++) meta[2 + i] = meta_kv[i];
  ev_status s = ev_st_write(path, t, n, meta, n_meta + 1);
  free(t), free(meta), free(arch);
  return s;
}

static int same_arch(const ev_net_spec *a, const ev_net_spec *b) {
  char *ja = ev_net_to_json(a), *jb = ev_net_to_json(b);
  int same = ja && jb && strcmp(ja, jb) == 0;
  free(ja), free(jb);
  return same;
}

ev_status ev_weights_load(const char *path, const ev_net_spec *expect, ev_net_weights *out, char **state_json) {
  memset(out, 0, sizeof *out);
  if (state_json) *state_json = NULL;
  ev_st_file *f;
  EV_TRY(ev_st_read(path, &f));
  ev_status s = EV_OK;
  ev_net_spec spec = {0};
  const char *arch = ev_st_meta(f, META_ARCH);
  if (!arch) s = ev_fail(EV_ERR_FORMAT, "%s is a safetensors file but not an evonet network (no architecture)", path);
  if (s == EV_OK && ev_net_from_json(arch, &spec) != EV_OK) {
    ev_clear_error();
    s = ev_fail(EV_ERR_FORMAT, "%s: its architecture description is corrupt", path);
  }
  if (s == EV_OK && expect && !same_arch(&spec, expect))
    s = ev_fail(EV_ERR_FORMAT, "%s holds a different architecture than this run's network", path);
  if (s == EV_OK && ev_net_infer_channels(&spec) != EV_OK) {
    ev_clear_error();
    s = ev_fail(EV_ERR_FORMAT, "%s: its architecture description is inconsistent", path);
  }
  /* every tensor is checked before anything is allocated: the file's own tensors bound
   * what it can make us allocate */
  for (int pass = 0; pass < 2 && s == EV_OK; pass++) {
    if (pass == 1) s = ev_weights_alloc(&spec, out);
    for (int i = 0; s == EV_OK && i < spec.n; i++) {
      const ev_layer *l = &spec.layers[i];
      if (ev_layer_weight_count(l) == 0) continue;
      for (int k = 0; k < N_FIELDS && s == EV_OK; k++) {
        if (k_fields[k].bn && !l->bn) continue;
        char name[128];
        snprintf(name, sizeof name, "%s.%s", l->name, k_fields[k].suffix);
        const ev_st_tensor *t = ev_st_find(f, name);
        ev_st_tensor want = {0};
        shape_of(l, &k_fields[k], &want);
        if (!t) s = ev_fail(EV_ERR_FORMAT, "%s lacks tensor %s", path, name);
        else if (t->ndim != want.ndim || memcmp(t->shape, want.shape, (size_t)want.ndim * sizeof t->shape[0]))
          s = ev_fail(EV_ERR_FORMAT, "%s: tensor %s has the wrong shape for its architecture", path, name);
        else if (pass == 1) memcpy(*slot(&out->l[i], &k_fields[k]), t->data, t->count * 4);
      }
    }
  }
  if (s == EV_OK && state_json) {
    const char *st = ev_st_meta(f, META_STATE);
    if (st && !(*state_json = strdup(st))) s = ev_fail(EV_ERR_OOM, "out of memory");
  }
  ev_net_free(&spec);
  ev_st_close(f);
  if (s != EV_OK) ev_weights_free(out);
  return s;
}
