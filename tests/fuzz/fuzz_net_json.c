/* Fuzz target: a network description (JSON), as found in a network file's metadata.
 * Any text must parse or fail with a recorded error; one that parses must survive shape
 * inference, and its JSON written back must parse to the same JSON (a round trip). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evonet/net.h"
#include "evonet/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  ev_net_spec s;
  if (ev_net_from_json(text, &s) != EV_OK) {
    if (!ev_last_error()[0]) abort();
  } else {
    char *out = ev_net_to_json(&s);
    ev_net_spec t;
    if (!out || ev_net_from_json(out, &t) != EV_OK) abort();
    char *again = ev_net_to_json(&t);
    if (!again || strcmp(out, again) != 0) abort();
    free(again);
    ev_net_free(&t);
    free(out);
    (void)ev_net_infer(&s, 37, 64); /* odd sizes: errors are fine, crashes are not */
    ev_net_free(&s);
  }
  ev_clear_error();
  free(text);
  return 0;
}
