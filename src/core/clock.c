/* Monotonic wall-clock seconds. */
#include "evonet/clock.h"

#include <time.h>

double ev_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
