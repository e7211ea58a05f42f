/*
 * fixed.h: decimal text of numbers that were rounded to a few decimals.
 */
#ifndef FIXED_H
#define FIXED_H

#include <stddef.h>

#define FIXED_MAX_DECIMALS	6
#define FIXED_BUFLEN		32	/* enough for any output, with NUL */

size_t	fixed_format(char *, size_t, double, int);
size_t	fixed_integer(char *, size_t, long long);

#endif
