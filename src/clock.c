/*
 * clock.c: the module's monotonic clock, in microseconds.
 *
 * Kore keeps its own (kore_time_ms, milliseconds, in its utils.c); this
 * one times requests, batches and the model finer than that, from the
 * same CLOCK_MONOTONIC, so the two can be compared (divide by 1000).
 * Pure C (libc only): the lowest layer, anything may call it.
 */
#include <stdint.h>
#include <time.h>

#include "clock.h"

/* Monotonic microseconds. */
uint64_t
clock_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
}
