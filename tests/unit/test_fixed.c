/*
 * test_fixed.c: decimal text of rounded numbers (src/fixed.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixed.h"
#include "tap.h"

static const double	pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6 };

static const char *
fmt(double v, int d)
{
	static char	buf[FIXED_BUFLEN];

	if (fixed_format(buf, sizeof(buf), v, d) == 0)
		return ("(none)");
	return (buf);
}

/* xorshift64: the same sequence on every run. */
static uint64_t
next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (*s);
}

/* fixed_integer(): what printf("%lld") writes, or 0 when it does not fit. */
static void
test_integer(void)
{
	static const long long	vals[] = { 0, 7, -7, 10, 1000, -1000000,
				    9223372036854775807LL,
				    -9223372036854775807LL - 1 };
	char			got[FIXED_BUFLEN], want[32];
	size_t			i, n;
	int			same;

	same = 1;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		snprintf(want, sizeof(want), "%lld", vals[i]);
		n = fixed_integer(got, sizeof(got), vals[i]);
		if (n != strlen(want) || strcmp(got, want) != 0) {
			tap_diag("%lld: got '%s'", vals[i], got);
			same = 0;
		}
	}
	tap_ok(same, "fixed_integer writes what %%lld does, both extremes "
	    "included");
	tap_ok(fixed_integer(got, 4, 1234) == 0 && got[0] == '\0',
	    "a number that does not fit gives 0 and an empty string");
	tap_ok(fixed_integer(got, 5, -123) == 4 && !strcmp(got, "-123"),
	    "exactly fitting, with its NUL");
}

int
main(void)
{
	char		buf[FIXED_BUFLEN], ref[64];
	uint64_t	seed, k;
	double		v, back;
	int		d, i, same_value, same_text, plain, trimmed, checked;
	size_t		n;

	tap_is_str(fmt(0.652211, 6), "0.652211", "six decimals");
	tap_is_str(fmt(1.0, 6), "1.0", "a whole number keeps one decimal");
	tap_is_str(fmt(0.0, 3), "0.0", "zero");
	tap_is_str(fmt(-0.0, 3), "0.0", "negative zero is written as zero");
	tap_is_str(fmt(0.5, 4), "0.5", "trailing zeros trimmed");
	tap_is_str(fmt(-0.25, 4), "-0.25", "negative");
	tap_is_str(fmt(-0.9999, 4), "-0.9999", "compound at its edge");
	tap_is_str(fmt(0.00005, 6), "0.00005",
	    "plain notation where %%g would use an exponent");
	tap_is_str(fmt(1234.567, 3), "1234.567", "milliseconds");
	tap_is_str(fmt(104.0, 0), "104.0", "no decimals asked");
	tap_is_str(fmt(0.1234567, 6), "0.123457",
	    "an unrounded value is rounded to the decimals asked");
	tap_is_str(fmt(1e20, 3), "1e+20", "too large for k: %%.15g");
	tap_is_str(fmt(0.5, 7), "0.5", "more than 6 decimals: %%.15g");
	tap_is_str(fmt(NAN, 3), "nan", "not finite: %%.15g (callers check)");
	tap_ok(fixed_format(buf, 4, 0.652211, 6) == 0 && buf[0] == '\0',
	    "a buffer too small gives 0 and an empty string");
	tap_ok(fixed_format(buf, 4, 0.25, 2) == 0,
	    "no room for the NUL: refused");
	tap_is_int((long long)fixed_format(buf, 5, 0.25, 2), 4,
	    "exactly enough room");

	/*
	 * Every rounded value the server makes is k / 10^d: the text must
	 * read back as the same double, and be the number %.15g writes.
	 */
	seed = 0x9e3779b97f4a7c15ULL;
	same_value = same_text = plain = trimmed = checked = 0;
	for (i = 0; i < 200000; i++) {
		d = (int)(next(&seed) % 7);
		switch (i % 4) {
		case 0:		/* |v| <= 1, as the model's scores */
			k = next(&seed) % (uint64_t)(pow10[d] + 1);
			break;
		case 1:		/* milliseconds, up to hours */
			k = next(&seed) % UINT64_C(10000000000);
			break;
		case 2:		/* up to 15 digits, all %.15g keeps */
			k = next(&seed) % UINT64_C(1000000000000000);
			break;
		default:	/* small k: many zeros after the point */
			k = next(&seed) % 100;
			break;
		}
		v = (double)k / pow10[d];
		if (next(&seed) & 1)
			v = -v;
		n = fixed_format(buf, sizeof(buf), v, d);
		back = strtod(buf, NULL);
		checked++;
		if (n == strlen(buf) && back == v)
			same_value++;
		snprintf(ref, sizeof(ref), "%.15g", v);
		if (strtod(ref, NULL) == back)
			same_text++;
		if (strchr(buf, 'e') == NULL && strchr(buf, '.') != NULL)
			plain++;
		if (buf[n - 1] != '0' || buf[n - 2] == '.')
			trimmed++;
	}
	tap_is_int(same_value, checked,
	    "%d values k / 10^d: each text reads back as the same double",
	    checked);
	tap_is_int(same_text, checked, "and as the number %%.15g writes");
	tap_is_int(plain, checked, "always plain notation with a point");
	tap_is_int(trimmed, checked, "never a needless trailing zero");

	test_integer();
	return (tap_done());
}
