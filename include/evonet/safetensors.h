/* safetensors files (the format PyTorch's safetensors loader reads): an 8-byte
 * little-endian header length, a JSON header {"name": {"dtype", "shape", "data_offsets"},
 * "__metadata__": {string: string}}, then the raw little-endian tensor bytes.
 * evonet writes F32 only; it reads F32, F64, F16 and BF16 (converted to float). */
#ifndef EVONET_SAFETENSORS_H
#define EVONET_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#include "evonet/status.h"

#define EV_ST_MAX_DIMS 8
typedef struct {
  char name[128];
  int ndim;
  int64_t shape[EV_ST_MAX_DIMS];
  float *data;   /* reading: owned by the file object; writing: caller's */
  size_t count;  /* product of shape */
} ev_st_tensor;

/* Writes tensors (F32) and metadata (key/value string pairs; n_meta pairs) atomically. */
ev_status ev_st_write(const char *path, const ev_st_tensor *t, int n, const char *const *meta_kv, int n_meta);

typedef struct ev_st_file ev_st_file;
/* Reads and validates the whole file; EV_ERR_FORMAT names what is wrong (truncated,
 * header not JSON, offsets outside the data, unsupported dtype, size/shape mismatch, a
 * NaN or Inf value, naming the tensor and the element: evonet's files hold parameters and
 * optimiser state, where a non-finite value is never meant). */
ev_status ev_st_read(const char *path, ev_st_file **out);
int ev_st_count(const ev_st_file *f);
const ev_st_tensor *ev_st_at(const ev_st_file *f, int i);
const ev_st_tensor *ev_st_find(const ev_st_file *f, const char *name); /* NULL if absent */
const char *ev_st_meta(const ev_st_file *f, const char *key);           /* NULL if absent */
void ev_st_close(ev_st_file *f);
#endif
