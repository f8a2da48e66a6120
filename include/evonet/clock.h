/* Wall-clock time for progress lines, timings and benchmarks (src/core/clock.c). */
#ifndef EVONET_CLOCK_H
#define EVONET_CLOCK_H
/* Seconds on a monotonic clock (CLOCK_MONOTONIC): only differences mean anything. */
double ev_now(void);
#endif
