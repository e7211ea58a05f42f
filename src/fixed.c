/*
 * fixed.c: decimal text of numbers that were rounded to a few decimals.
 *
 * Every number /predict answers and stores was rounded to 3, 4 or 6
 * decimals (model.c, api_predict.c), so it is the double nearest to
 * k / 10^d for an integer k.  Printing k with a decimal point writes
 * the number printf("%.15g") writes (for k of up to 15 digits, far more
 * than ours have; in plain notation where %g would switch to an exponent
 * below 1e-4) without glibc's multi-precision printf, which with
 * jansson's use of it was a large share of a worker's time on the hot
 * path (measured in docs/performance.md, "The hand-written answer").
 * The text reads back as the same double (the nearest to k / 10^d), in
 * JSON clients and in PostgreSQL's float8 input.
 *
 * Output: "-"?digits"."digits, trailing zeros trimmed but one kept after
 * the point ("1.0", "0.5", "0.00005"), as jansson writes reals.  Anything
 * else (not finite, too large for k to be exact, more than
 * FIXED_MAX_DECIMALS) falls back to "%.15g".
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fixed.h"

/*
 * Below 2^50, v * 10^d is within 0.25 of k (two roundings of at most
 * 2^-53 each, relative), so llround() finds k.
 */
#define FIXED_KMAX	1125899906842624.0	/* 2^50 */

static size_t	fixed_digits(char *, uint64_t);

/*
 * Writes v (rounded to decimals places) into dst and returns the length,
 * or 0 if it does not fit (dst is then "").
 */
size_t
fixed_format(char *dst, size_t cap, double v, int decimals)
{
	static const double	pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5,
				    1e6 };
	char			digits[24], out[FIXED_BUFLEN];
	double			scaled;
	uint64_t		k;
	size_t			n, len, point, last;
	int			neg, d, r;

	if (cap == 0)
		return (0);
	dst[0] = '\0';

	scaled = 0.0;
	if (decimals >= 0 && decimals <= FIXED_MAX_DECIMALS && isfinite(v))
		scaled = fabs(v) * pow10[decimals];
	if (decimals < 0 || decimals > FIXED_MAX_DECIMALS || !isfinite(v) ||
	    scaled >= FIXED_KMAX) {
		r = snprintf(out, sizeof(out), "%.15g", v);
		if (r < 0 || (size_t)r >= cap)
			return (0);
		memcpy(dst, out, (size_t)r + 1);
		return ((size_t)r);
	}

	neg = signbit(v) && v != 0.0;
	k = (uint64_t)llround(scaled);
	if (k == 0)
		neg = 0;		/* "-0.0" would be a surprise */

	/* The digits of k, at least decimals + 1 of them. */
	n = fixed_digits(digits, k);
	while (n < (size_t)decimals + 1)
		digits[n++] = '0';

	len = 0;
	if (neg)
		out[len++] = '-';
	for (d = (int)n - 1; d >= decimals; d--)
		out[len++] = digits[d];
	out[len++] = '.';
	point = len;
	for (d = decimals - 1; d >= 0; d--)
		out[len++] = digits[d];
	if (len == point)
		out[len++] = '0';

	/* Trim trailing zeros, keeping one digit after the point. */
	last = len;
	while (last > point + 1 && out[last - 1] == '0')
		last--;
	len = last;

	if (len + 1 > cap)
		return (0);
	memcpy(dst, out, len);
	dst[len] = '\0';
	return (len);
}

/*
 * Writes v in decimal into dst and returns the length, or 0 if it does
 * not fit (dst is then "").  printf's machinery is the slow part of
 * writing a batch's arrays.
 */
size_t
fixed_integer(char *dst, size_t cap, long long v)
{
	char		digits[24];
	uint64_t	u;
	size_t		n, len;

	if (cap == 0)
		return (0);
	dst[0] = '\0';
	u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	n = fixed_digits(digits, u);
	len = n + (v < 0);
	if (len + 1 > cap)
		return (0);
	if (v < 0)
		*dst++ = '-';
	while (n > 0)
		*dst++ = digits[--n];
	*dst = '\0';
	return (len);
}

/* The decimal digits of k into digits, least significant first. */
static size_t
fixed_digits(char *digits, uint64_t k)
{
	size_t	n;

	n = 0;
	do {
		digits[n++] = (char)('0' + (int)(k % 10));
		k /= 10;
	} while (k > 0);
	return (n);
}
