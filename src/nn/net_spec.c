/* The network description: JSON in and out, copies, lookups. */
#include <cJSON.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/net.h"

static const char *k_ops[] = {"conv", "deconv", "maxpool", "upsample", "concat", "add", "avgpool"};
#define N_OPS (int)(sizeof k_ops / sizeof *k_ops)

const char *ev_op_name(ev_op op) { return (unsigned)op < N_OPS ? k_ops[op] : "?"; }

/* The JSON name of a layer's op: fc and gap are a conv and an avgpool over the whole input. */
const char *ev_layer_op_name(const ev_layer *l) {
  if (l->full) return l->op == EV_OP_CONV ? "fc" : "gap";
  return ev_op_name(l->op);
}

int ev_net_find(const ev_net_spec *s, const char *name) {
  if (strcmp(name, "input") == 0) return -1;
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->layers[i].name, name) == 0) return i;
  return -2;
}

void ev_net_free(ev_net_spec *s) {
  free(s->layers);
  memset(s, 0, sizeof *s);
}

ev_status ev_net_copy(const ev_net_spec *src, ev_net_spec *dst) {
  *dst = *src;
  dst->layers = malloc((size_t)(src->n ? src->n : 1) * sizeof *dst->layers);
  if (!dst->layers) return ev_fail(EV_ERR_OOM, "out of memory");
  memcpy(dst->layers, src->layers, (size_t)src->n * sizeof *dst->layers);
  return EV_OK;
}

/* *v = the whole number under key, or dflt when the key is absent; false when that is not
 * a whole number in [lo, hi] (a float, a string, out of range, an absent key without a
 * valid default). */
static bool get_int(const cJSON *o, const char *key, int dflt, int lo, int hi, int *v) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!j) {
    *v = dflt;
    return dflt >= lo && dflt <= hi;
  }
  if (!cJSON_IsNumber(j) || !(j->valuedouble >= lo && j->valuedouble <= hi) || j->valuedouble != floor(j->valuedouble))
    return false;
  *v = (int)j->valuedouble;
  return true;
}

static bool get_bool(const cJSON *o, const char *key) {
  return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static ev_status parse_layer(ev_net_spec *s, int idx, const cJSON *o) {
  ev_layer *l = &s->layers[idx];
  memset(l, 0, sizeof *l);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "op");
  if (!cJSON_IsString(name) || !cJSON_IsString(op))
    return ev_fail(EV_ERR_FORMAT, "network layer %d has no name or op", idx);
  if (strlen(name->valuestring) >= EV_NAME_LEN || strcmp(name->valuestring, "input") == 0)
    return ev_fail(EV_ERR_FORMAT, "network layer %d: bad name '%s'", idx, name->valuestring);
  snprintf(l->name, sizeof l->name, "%s", name->valuestring);
  if (ev_net_find(s, l->name) != -2 && ev_net_find(s, l->name) < idx)
    return ev_fail(EV_ERR_FORMAT, "network layer name '%s' is used twice", l->name);
  int found = -1;
  for (int i = 0; i < N_OPS; i++)
    if (strcmp(op->valuestring, k_ops[i]) == 0) found = i;
  if (strcmp(op->valuestring, "fc") == 0) found = EV_OP_CONV, l->full = true;
  if (strcmp(op->valuestring, "gap") == 0) found = EV_OP_AVGPOOL, l->full = true;
  if (found < 0)
    return ev_fail(EV_ERR_FORMAT,
                   "layer %s: unknown op '%s' (expected conv, deconv, fc, maxpool, avgpool, gap, upsample, concat or add)",
                   l->name, op->valuestring);
  l->op = (ev_op)found;
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(o, "in");
  if (!cJSON_IsArray(in) || cJSON_GetArraySize(in) < 1 || cJSON_GetArraySize(in) > EV_NET_MAX_IN)
    return ev_fail(EV_ERR_FORMAT, "layer %s: 'in' must list 1 to %d layers", l->name, EV_NET_MAX_IN);
  const cJSON *it;
  cJSON_ArrayForEach(it, in) {
    if (!cJSON_IsString(it)) return ev_fail(EV_ERR_FORMAT, "layer %s: bad input name", l->name);
    int j = ev_net_find(s, it->valuestring);
    if (j == -2 || j >= idx) /* topological order: inputs come earlier */
      return ev_fail(EV_ERR_FORMAT, "layer %s: input '%s' is not an earlier layer", l->name, it->valuestring);
    l->in[l->n_in++] = j;
  }
  const struct { const char *key; int dflt, hi; int *dst; } ints[] = {
      {"out", 0, EV_NET_MAX_CHANNELS, &l->out}, {"k", l->full ? 0 : 1, EV_NET_MAX_KERNEL, &l->k},
      {"stride", 1, EV_NET_MAX_KERNEL, &l->stride}, {"pad", 0, EV_NET_MAX_KERNEL, &l->pad},
      {"dil", 1, EV_NET_MAX_KERNEL, &l->dil}, {"out_pad", 0, EV_NET_MAX_KERNEL, &l->out_pad}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (!get_int(o, ints[i].key, ints[i].dflt, 0, ints[i].hi, ints[i].dst))
      return ev_fail(EV_ERR_FORMAT, "layer %s: '%s' must be a whole number from 0 to %d", l->name, ints[i].key,
                     ints[i].hi);
  l->act = ev_act_make(get_bool(o, "relu") ? EV_ACT_RELU : EV_ACT_NONE);
  const cJSON *act = cJSON_GetObjectItemCaseSensitive(o, "act"), *alpha = cJSON_GetObjectItemCaseSensitive(o, "alpha");
  int kind = act && cJSON_IsString(act) ? ev_act_parse(act->valuestring) : -1;
  if (act && kind < 0)
    return ev_fail(EV_ERR_FORMAT, "layer %s: 'act' must be \"relu\", \"leaky_relu\", \"tanh\" or \"none\"", l->name);
  if (act) l->act = ev_act_make((ev_act_kind)kind);
  if (alpha) {
    if (l->act.kind != EV_ACT_LEAKY_RELU)
      return ev_fail(EV_ERR_FORMAT, "layer %s: 'alpha' is the slope of \"act\": \"leaky_relu\" only", l->name);
    /* > 0: the backward reads the sign of the input from the output (evonet/ops/act.h) */
    double v = cJSON_IsNumber(alpha) ? alpha->valuedouble : 0.0;
    float a = v > 0 && v <= FLT_MAX ? (float)v : 0.0f; /* (no float conversion out of range) */
    if (!(a > 0))
      return ev_fail(EV_ERR_FORMAT, "layer %s: 'alpha' must be a finite number > 0", l->name);
    l->act.alpha = a;
  }
  l->bn = get_bool(o, "bn");
  l->like = -1;
  const cJSON *like = cJSON_GetObjectItemCaseSensitive(o, "like");
  if (l->op == EV_OP_UPSAMPLE) {
    if (!cJSON_IsString(like)) return ev_fail(EV_ERR_FORMAT, "layer %s: upsample needs 'like'", l->name);
    l->like = ev_net_find(s, like->valuestring);
    if (l->like == -2 || l->like >= idx)
      return ev_fail(EV_ERR_FORMAT, "layer %s: 'like' must name an earlier layer or input", l->name);
  }
  int conv = l->op == EV_OP_CONV || l->op == EV_OP_DECONV;
  if (l->full) l->stride = 1, l->pad = 0, l->dil = 1; /* the window is the whole input */
  if (conv && (l->out < 1 || (l->k < 1 && !l->full) || l->stride < 1 || l->pad < 0 || l->dil < 1 || l->n_in != 1))
    return ev_fail(EV_ERR_FORMAT, "layer %s: bad %s parameters", l->name, l->full ? "fully connected" : "convolution");
  bool pool = l->op == EV_OP_MAXPOOL || l->op == EV_OP_AVGPOOL;
  if (pool && !l->full && (l->k < 1 || l->stride < 1 || l->pad < 0 || 2 * l->pad > l->k || l->n_in != 1))
    return ev_fail(EV_ERR_FORMAT, "layer %s: bad pooling parameters", l->name);
  if (pool && l->n_in != 1) return ev_fail(EV_ERR_FORMAT, "layer %s: pooling takes one input", l->name);
  if (l->op == EV_OP_DECONV && (l->out_pad < 0 || (l->out_pad >= l->stride && l->out_pad >= l->dil)))
    return ev_fail(EV_ERR_FORMAT, "layer %s: output padding must be smaller than stride or dilation", l->name);
  return EV_OK;
}

/* Whether layer j's output is 1x1 whatever the input size: fc and gap layers, and adds or
 * concatenations of such. */
static bool one_by_one(const ev_net_spec *s, int j) {
  if (j < 0) return false;
  const ev_layer *l = &s->layers[j];
  if (l->full) return true;
  if (l->op != EV_OP_ADD && l->op != EV_OP_CONCAT) return false;
  for (int k = 0; k < l->n_in; k++)
    if (!one_by_one(s, l->in[k])) return false;
  return true;
}

ev_status ev_net_from_json(const char *json, ev_net_spec *out) {
  memset(out, 0, sizeof *out);
  cJSON *root = cJSON_Parse(json);
  if (!root) return ev_fail(EV_ERR_FORMAT, "network description is not valid JSON");
  ev_status st = EV_OK;
  const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
  const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
  const cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output");
  if (!cJSON_IsArray(layers) || cJSON_GetArraySize(layers) < 1 || !cJSON_IsObject(input) ||
      !cJSON_IsString(output)) {
    st = ev_fail(EV_ERR_FORMAT, "network description needs 'input', 'layers' and 'output'");
    goto done;
  }
  if (!get_int(input, "channels", 0, 1, EV_NET_MAX_CHANNELS, &out->in_channels) ||
      !get_int(root, "classes", 2, 1, EV_NET_MAX_CHANNELS, &out->classes)) {
    st = ev_fail(EV_ERR_FORMAT, "network description: input channels and classes must be whole numbers from 1 to %d",
                 EV_NET_MAX_CHANNELS);
    goto done;
  }
  const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task");
  if (task && !(cJSON_IsString(task) &&
                (!strcmp(task->valuestring, "saliency") || !strcmp(task->valuestring, "classification")))) {
    st = ev_fail(EV_ERR_FORMAT, "network description: 'task' must be \"saliency\" or \"classification\"");
    goto done;
  }
  out->task = task && !strcmp(task->valuestring, "classification") ? EV_TASK_CLASSIFY : EV_TASK_SALIENCY;
  if (!get_int(input, "size", 0, 0, EV_NET_MAX_SIDE, &out->in_size)) {
    st = ev_fail(EV_ERR_FORMAT, "network description: the input size must be a whole number from 1 to %d",
                 EV_NET_MAX_SIDE);
    goto done;
  }
  int n = cJSON_GetArraySize(layers);
  if (n > EV_NET_MAX_LAYERS) {
    st = ev_fail(EV_ERR_FORMAT, "network description has %d layers, more than %d", n, EV_NET_MAX_LAYERS);
    goto done;
  }
  out->layers = calloc((size_t)n, sizeof *out->layers);
  if (!out->layers) {
    st = ev_fail(EV_ERR_OOM, "out of memory");
    goto done;
  }
  for (int i = 0; i < n && st == EV_OK; i++) {
    out->n = i; /* layers before i are visible to name lookups */
    st = parse_layer(out, i, cJSON_GetArrayItem(layers, i));
  }
  out->n = n;
  if (st == EV_OK) {
    out->output = ev_net_find(out, output->valuestring);
    if (out->output < 0) st = ev_fail(EV_ERR_FORMAT, "network output '%s' is not a layer", output->valuestring);
  }
  /* fc layers without k: k = 1 behind a layer that is 1x1 at any input size (gap, fc, their
   * sums); otherwise their input size follows from the network's */
  for (int i = 0; st == EV_OK && i < out->n; i++) {
    ev_layer *l = &out->layers[i];
    if (l->op == EV_OP_CONV && l->full && l->k == 0 && one_by_one(out, l->in[0])) l->k = 1;
  }
  for (int i = 0; st == EV_OK && i < out->n; i++) {
    const ev_layer *l = &out->layers[i];
    if (l->op != EV_OP_CONV || !l->full || l->k > 0) continue;
    if (out->in_size < 1)
      st = ev_fail(EV_ERR_FORMAT, "layer %s: a fully connected layer needs the input size (\"input\": {\"size\": S})",
                   l->name);
    else st = ev_net_infer(out, out->in_size, out->in_size);
    break;
  }
done:
  cJSON_Delete(root);
  if (st != EV_OK) ev_net_free(out);
  return st;
}

static const char *in_name(const ev_net_spec *s, int j) { return j < 0 ? "input" : s->layers[j].name; }

/* The double of the shortest decimal that reads back as f (0.01f is written 0.01, not
 * 0.0099999997764825821). */
static double shortest_float(float f) {
  char buf[32];
  for (int digits = 1; digits < 9; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, (double)f);
    if ((float)strtod(buf, NULL) == f) return strtod(buf, NULL);
  }
  return (double)f;
}

char *ev_net_to_json(const ev_net_spec *s) {
  cJSON *root = cJSON_CreateObject();
  cJSON *input = cJSON_AddObjectToObject(root, "input");
  cJSON_AddNumberToObject(input, "channels", s->in_channels);
  if (s->in_size) cJSON_AddNumberToObject(input, "size", s->in_size);
  cJSON_AddNumberToObject(root, "classes", s->classes);
  if (s->task == EV_TASK_CLASSIFY) cJSON_AddStringToObject(root, "task", "classification");
  cJSON *layers = cJSON_AddArrayToObject(root, "layers");
  for (int i = 0; i < s->n; i++) {
    const ev_layer *l = &s->layers[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", l->name);
    cJSON_AddStringToObject(o, "op", ev_layer_op_name(l));
    cJSON *in = cJSON_AddArrayToObject(o, "in");
    for (int j = 0; j < l->n_in; j++) cJSON_AddItemToArray(in, cJSON_CreateString(in_name(s, l->in[j])));
    if (l->op == EV_OP_CONV || l->op == EV_OP_DECONV) cJSON_AddNumberToObject(o, "out", l->out);
    if (l->full && l->op == EV_OP_CONV) {
      cJSON_AddNumberToObject(o, "k", l->k); /* the input side its weights were made for */
    } else if (!l->full && (l->op == EV_OP_CONV || l->op == EV_OP_DECONV || l->op == EV_OP_MAXPOOL ||
                            l->op == EV_OP_AVGPOOL)) {
      cJSON_AddNumberToObject(o, "k", l->k);
      cJSON_AddNumberToObject(o, "stride", l->stride);
      cJSON_AddNumberToObject(o, "pad", l->pad);
    }
    if (!l->full && (l->op == EV_OP_CONV || l->op == EV_OP_DECONV)) cJSON_AddNumberToObject(o, "dil", l->dil);
    if (l->op == EV_OP_DECONV) cJSON_AddNumberToObject(o, "out_pad", l->out_pad);
    /* a ReLU stays "relu": true, as every earlier build wrote and reads it (so files are
     * byte-for-byte what they were); kinds older builds do not know are "act", which they
     * refuse with a message instead of loading them as something else */
    if (l->act.kind == EV_ACT_RELU) cJSON_AddBoolToObject(o, "relu", 1);
    if (l->act.kind == EV_ACT_LEAKY_RELU || l->act.kind == EV_ACT_TANH)
      cJSON_AddStringToObject(o, "act", ev_act_name(l->act.kind));
    if (l->act.kind == EV_ACT_LEAKY_RELU) cJSON_AddNumberToObject(o, "alpha", shortest_float(l->act.alpha));
    if (l->bn) cJSON_AddBoolToObject(o, "bn", 1);
    if (l->op == EV_OP_UPSAMPLE) cJSON_AddStringToObject(o, "like", in_name(s, l->like));
    cJSON_AddItemToArray(layers, o);
  }
  cJSON_AddStringToObject(root, "output", s->layers[s->output].name);
  char *txt = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return txt;
}
