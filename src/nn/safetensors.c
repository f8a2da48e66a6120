/* safetensors reading and writing (see evonet/safetensors.h). */
#include <cJSON.h>
#include <math.h>
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

static ev_status parse_tensor(const char *path, const cJSON *o, const unsigned char *data, uint64_t dlen,
                              ev_st_tensor *t) {
  const cJSON *dt = cJSON_GetObjectItemCaseSensitive(o, "dtype");
  const cJSON *shape = cJSON_GetObjectItemCaseSensitive(o, "shape");
  const cJSON *offs = cJSON_GetObjectItemCaseSensitive(o, "data_offsets");
  if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
      cJSON_GetArraySize(shape) > EV_ST_MAX_DIMS)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has a malformed entry", path, o->string);
  snprintf(t->name, sizeof t->name, "%s", o->string);
  int es = !strcmp(dt->valuestring, "F32") ? 4 : !strcmp(dt->valuestring, "F64") ? 8
         : (!strcmp(dt->valuestring, "F16") || !strcmp(dt->valuestring, "BF16")) ? 2 : 0;
  if (!es) return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has unsupported dtype %s", path, t->name, dt->valuestring);
  t->count = 1;
  const cJSON *it;
  cJSON_ArrayForEach(it, shape) {
    if (!cJSON_IsNumber(it) || it->valuedouble < 0) return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has a bad shape", path, t->name);
    t->shape[t->ndim++] = (int64_t)it->valuedouble;
    t->count *= (size_t)it->valuedouble;
  }
  double a = cJSON_GetArrayItem(offs, 0)->valuedouble, b = cJSON_GetArrayItem(offs, 1)->valuedouble;
  if (a < 0 || b < a || b > (double)dlen)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %s lies outside the file (truncated?)", path, t->name);
  if ((uint64_t)(b - a) != t->count * (uint64_t)es)
    return ev_fail(EV_ERR_FORMAT, "%s: tensor %s has %.0f bytes for %zu elements of %s", path, t->name, b - a,
                   t->count, dt->valuestring);
  t->data = malloc((t->count ? t->count : 1) * sizeof(float));
  if (!t->data) return ev_fail(EV_ERR_OOM, "out of memory reading %s", path);
  const unsigned char *src = data + (uint64_t)a;
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
  }
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
  uint64_t hl = 0;
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
    if (!f->t) s = ev_fail(EV_ERR_OOM, "out of memory");
    cJSON_ArrayForEach(it, h) {
      if (s != EV_OK) break;
      if (!strcmp(it->string, "__metadata__")) continue;
      if (!cJSON_IsObject(it)) {
        s = ev_fail(EV_ERR_FORMAT, "%s: entry %s is not a tensor", path, it->string);
        break;
      }
      s = parse_tensor(path, it, buf + 8 + hl, n - 8 - hl, &f->t[f->n]);
      f->n++;
    }
    cJSON *meta = cJSON_DetachItemFromObjectCaseSensitive(h, "__metadata__");
    f->meta = meta;
  }
  cJSON_Delete(h);
  free(buf);
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
