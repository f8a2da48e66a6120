/* safetensors reading and writing (see evonet/safetensors.h). */
#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/io.h"
#include "evonet/safetensors.h"

struct ev_st_file {
  int n;
  ev_st_tensor *t;
  cJSON *meta;
};

ev_status ev_st_write(const char *path, const ev_st_tensor *t, int n, const char *const *meta_kv, int n_meta) {
  cJSON *h = cJSON_CreateObject();
  if (n_meta > 0) {
    cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
    for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta_kv[2 * i], meta_kv[2 * i + 1]);
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    cJSON *o = cJSON_AddObjectToObject(h, t[i].name);
    cJSON_AddStringToObject(o, "dtype", "F32");
    cJSON *shape = cJSON_AddArrayToObject(o, "shape");
    for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t[i].shape[d]));
    cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
    off += t[i].count * 4;
    cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
  }
  char *js = cJSON_PrintUnformatted(h);
  cJSON_Delete(h);
  if (!js) return ev_fail(EV_ERR_OOM, "out of memory");
  size_t hl = strlen(js), pad = (8 - hl % 8) % 8; /* keep the data 8-byte aligned */
  size_t total = 8 + hl + pad + off;
  unsigned char *buf = malloc(total);
  if (!buf) {
    free(js);
    return ev_fail(EV_ERR_OOM, "out of memory writing %s", path);
  }
  uint64_t hlen = hl + pad;
  for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(hlen >> (8 * b));
  memcpy(buf + 8, js, hl);
  memset(buf + 8 + hl, ' ', pad);
  free(js);
  unsigned char *p = buf + 8 + hlen;
  for (int i = 0; i < n; i++) {
    memcpy(p, t[i].data, t[i].count * 4); /* little-endian hosts only, like the format */
    p += t[i].count * 4;
  }
  ev_status s = ev_write_file_atomic(path, buf, total);
  free(buf);
  return s;
}

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

/* A JSON number that is a whole number in [0, limit] (limit <= 2^53, exact in a double). */
static bool as_index(const cJSON *v, double limit, uint64_t *out) {
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > limit || v->valuedouble != floor(v->valuedouble))
    return false;
  *out = (uint64_t)v->valuedouble;
  return true;
}

/* Parses one header entry; [*begin, *end) receives its bytes within the data section. */
static ev_status parse_tensor(const char *path, const cJSON *o, const unsigned char *data, uint64_t dlen,
                              ev_st_tensor *t, uint64_t *begin, uint64_t *end) {
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
  if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
      cJSON_GetArraySize(shape) > EV_ST_MAX_DIMS)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %.64s has a malformed entry", path, o->string);
  if (strlen(o->string) >= sizeof t->name)
    return ev_fail(EV_ERR_FORMAT, "%s: a tensor name is longer than %zu bytes", path, sizeof t->name - 1);
  snprintf(t->name, sizeof t->name, "%s", o->string);
  int es = !strcmp(dt->valuestring, "F32") ? 4 : !strcmp(dt->valuestring, "F64") ? 8
         : (!strcmp(dt->valuestring, "F16") || !strcmp(dt->valuestring, "BF16")) ? 2 : 0;
  if (!es) return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has unsupported dtype %.16s", path, t->name, dt->valuestring);
  /* element count without overflow: a tensor holds at most dlen elements (>= 2 bytes each) */
  int empty = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, shape) {
    uint64_t d;
    if (!as_index(it, 9007199254740992.0, &d)) return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has a bad shape", path, t->name);
    t->shape[t->ndim++] = (int64_t)d;
    empty |= d == 0;
  }
  uint64_t count = 1;
  for (int i = 0; i < t->ndim && !empty; i++) {
    if ((uint64_t)t->shape[i] > dlen / count)
      return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has more elements than the file holds", path, t->name);
    count *= (uint64_t)t->shape[i];
  }
  t->count = empty ? 0 : (size_t)count;
  uint64_t a, b;
  if (!as_index(cJSON_GetArrayItem(offs, 0), (double)dlen, &a) || !as_index(cJSON_GetArrayItem(offs, 1), (double)dlen, &b) ||
      b < a)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %s lies outside the file (truncated?)", path, t->name);
  if (b - a != t->count * (uint64_t)es)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has %llu bytes for %zu elements of %s", path, t->name,
                   (unsigned long long)(b - a), t->count, dt->valuestring);
  *begin = a, *end = b;
  t->data = malloc((t->count ? t->count : 1) * sizeof(float));
  if (!t->data) return ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  const unsigned char *src = data + a;
  for (size_t i = 0; i < t->count; i++) {
    if (es == 4) memcpy(&t->data[i], src + 4 * i, 4);
    else if (es == 8) {
      double d;
      memcpy(&d, src + 8 * i, 8);
      t->data[i] = (float)d;
    } else {
      uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
      if (dt->valuestring[0] == 'B') {
        uint32_t u = (uint32_t)h << 16;
        memcpy(&t->data[i], &u, 4);
      } else t->data[i] = half_to_float(h);
    }
    /* every reader of these files (networks, optimiser state, VGG16) computes with the
     * values: a NaN or Inf would spread through training silently. An F64 beyond float's
     * range becomes Inf here and is refused the same way. */
    if (!isfinite(t->data[i]))
      return ev_fail(EV_ERR_FORMAT, "%s: tensor %s holds a non-finite value (%s at element %zu)", path, t->name,
                     isnan(t->data[i]) ? "NaN" : t->data[i] > 0 ? "+Inf" : "-Inf", i);
  }
  return EV_OK;
}

static int cmp_range(const void *x, const void *y) {
  const uint64_t *a = x, *b = y;
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : (a[1] > b[1]) - (a[1] < b[1]);
}

/* Tensors must not share bytes (the format's rule): so what a file makes us allocate is
 * bounded by its size, and no two tensors alias. ranges: n pairs [begin, end). */
static ev_status check_disjoint(const char *path, uint64_t *ranges, int n) {
  qsort(ranges, (size_t)n, 2 * sizeof *ranges, cmp_range);
  for (int i = 1; i < n; i++)
    if (ranges[2 * i] < ranges[2 * i - 1])
      return ev_fail(EV_ERR_FORMAT, "%s: two tensors share bytes %llu..%llu (corrupt header)", path,
                     (unsigned long long)ranges[2 * i], (unsigned long long)ranges[2 * i - 1]);
  return EV_OK;
}

ev_status ev_st_read(const char *path, ev_st_file **out) {
  *out = NULL;
  unsigned char *buf;
  size_t n;
  EV_TRY(ev_read_file(path, (void **)&buf, &n));
  ev_status s = EV_OK;
  cJSON *h = NULL;
  ev_st_file *f = calloc(1, sizeof *f);
  uint64_t hl = 0, *ranges = NULL;
  for (int b = 0; b < 8 && n >= 8; b++) hl |= (uint64_t)buf[b] << (8 * b);
  if (!f) s = ev_fail(EV_ERR_OOM, "out of memory");
  else if (n < 8 || hl < 2 || hl > n - 8 || hl > (100u << 20))
    s = ev_fail(EV_ERR_FORMAT, "%s is truncated or not a safetensors file", path);
  if (s == EV_OK) {
    h = cJSON_ParseWithLength((const char *)buf + 8, hl);
    if (!cJSON_IsObject(h)) s = ev_fail(EV_ERR_FORMAT, "%s is not a safetensors file (bad header)", path);
  }
  if (s == EV_OK) {
    int cnt = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, h) cnt += strcmp(it->string, "__metadata__") != 0;
    f->t = calloc((size_t)(cnt ? cnt : 1), sizeof *f->t);
    ranges = malloc((size_t)(cnt ? cnt : 1) * 2 * sizeof *ranges);
    if (!f->t || !ranges) s = ev_fail(EV_ERR_OOM, "out of memory");
    cJSON_ArrayForEach(it, h) {
      if (s != EV_OK) break;
      if (!strcmp(it->string, "__metadata__")) continue;
      if (!cJSON_IsObject(it)) {
        s = ev_fail(EV_ERR_FORMAT, "%s: entry %s is not a tensor", path, it->string);
        break;
      }
      s = parse_tensor(path, it, buf + 8 + hl, n - 8 - hl, &f->t[f->n], &ranges[2 * f->n], &ranges[2 * f->n + 1]);
      f->n++;
    }
    if (s == EV_OK) s = check_disjoint(path, ranges, f->n);
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(h, "__metadata__");
    f->meta = meta;
  }
  cJSON_Delete(h);
  free(buf);
  free(ranges);
  if (s != EV_OK) {
    ev_st_close(f);
    return s;
  }
  *out = f;
  return EV_OK;
}

int ev_st_count(const ev_st_file *f) { return f->n; }
const ev_st_tensor *ev_st_at(const ev_st_file *f, int i) { return &f->t[i]; }

const ev_st_tensor *ev_st_find(const ev_st_file *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->t[i].name, name)) return &f->t[i];
  return NULL;
}

const char *ev_st_meta(const ev_st_file *f, const char *key) {
  const cJSON *v = f->meta ? cJSON_GetObjectItemCaseSensitive(f->meta, key) : NULL;
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

void ev_st_close(ev_st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) free(f->t[i].data);
  free(f->t);
  cJSON_Delete(f->meta);
  free(f);
}
