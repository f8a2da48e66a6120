/* Fuzz target: a network file (safetensors + architecture JSON in its metadata), read
 * as `evonet eval --weights FILE` reads it. Any input must give EV_OK or a recorded
 * error, never a crash, a leak or an allocation the file's size does not justify. */
#include <stdint.h>
#include <stdlib.h>

#include "evonet/safetensors.h"
#include "evonet/status.h"
#include "evonet/weights.h"
#include "fuzz_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_write_file(data, size);
  ev_st_file *f = NULL;
  if (ev_st_read(path, &f) == EV_OK) ev_st_close(f);
  ev_clear_error();

  ev_net_weights w;
  char *state = NULL;
  ev_status s = ev_weights_load(path, NULL, &w, &state);
  if (s == EV_OK) {
    free(state);
    ev_weights_free(&w);
  } else if (!ev_last_error()[0]) {
    abort(); /* a failure must say why */
  }
  ev_clear_error();
  return 0;
}
