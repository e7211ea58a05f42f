/*
 * clock.h: the module's monotonic clock (libc only).
 */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

uint64_t	clock_now_us(void);

#endif
