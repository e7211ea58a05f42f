/*
 * test_pgarray.c: PostgreSQL's array text, as the recorder writes its
 * batch and reads the procedure's answer (src/pgarray.c).
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pgarray.h"
#include "tap.h"

/* The element pgarray_text() writes for s, or "(none)". */
static const char *
text(const char *s, size_t cap)
{
	static char	buf[256];

	if (pgarray_text(buf, cap, s) == 0)
		return ("(none)");
	return (buf);
}

/* Writing text: plain when it can be, quoted and escaped when not. */
static void
test_text(void)
{
	static const struct {
		const char	*in;
		const char	*want;
	} cases[] = {
		{ "01a218c5-a20f-7cd1-ade4-c608d088170a",
		    "01a218c5-a20f-7cd1-ade4-c608d088170a" },
		{ "::1", "::1" },
		{ "positive", "positive" },
		{ "", "\"\"" },
		{ "NULL", "\"NULL\"" },
		{ "null", "\"null\"" },
		{ "a b", "\"a b\"" },
		{ "tab\there", "\"tab\there\"" },
		{ "x,y", "\"x,y\"" },
		{ "{}", "\"{}\"" },
		{ "q\"\\", "\"q\\\"\\\\\"" },
	};
	size_t	i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tap_is_str(text(cases[i].in, 256), cases[i].want,
		    "text element of \"%s\"", cases[i].in);
	}

	/* Exactly the room it needs, and one byte less. */
	tap_is_str(text("abc", 4), "abc", "a plain element that just fits");
	tap_is_str(text("abc", 3), "(none)", "one byte less: refused, not cut");
	tap_is_str(text("a b", 6), "\"a b\"", "a quoted one that just fits");
	tap_is_str(text("a b", 5), "(none)", "one byte less: refused");
	len = strlen("\"\"\"");
	tap_is_str(text("\"\"\"", pgarray_text_max(len)),
	    "\"\\\"\\\"\\\"\"",
	    "the worst case fits pgarray_text_max()");
}

/* Writing numbers: fixed.c's text, NaN when not finite. */
static void
test_numbers(void)
{
	char	buf[PGARRAY_NUMBER_MAX], small[4];

	pgarray_number(buf, sizeof(buf), 0.652211, 6);
	tap_is_str(buf, "0.652211", "a confidence, 6 decimals");
	pgarray_number(buf, sizeof(buf), 0.5, 3);
	tap_is_str(buf, "0.5", "trailing zeros trimmed");
	pgarray_number(buf, sizeof(buf), -0.0001, 4);
	tap_is_str(buf, "-0.0001", "negative, no exponent");
	tap_is_int((long long)pgarray_number(buf, sizeof(buf), NAN, 3), 3,
	    "NaN's length");
	tap_is_str(buf, "NaN", "not a number is NaN");
	pgarray_number(buf, sizeof(buf), -INFINITY, 3);
	tap_is_str(buf, "NaN", "infinity is NaN too (float8 reads it, the "
	    "CHECKs refuse it)");
	tap_is_int((long long)pgarray_number(small, sizeof(small), 12.5, 1),
	    0, "a number that does not fit is refused");
	pgarray_integer(buf, sizeof(buf), -7);
	tap_is_str(buf, "-7", "an integer");
	tap_is_int((long long)pgarray_integer(small, sizeof(small), 1234), 0,
	    "an integer that does not fit is refused");
}

/* A text, the n asked for, whether it parses, and the values it gives. */
struct test_case {
	const char	*text;
	int		 n;
	int		 ok;
	int		 want[3];
};

static void
test_parse(const char *what, int (*parse)(const char *, int *, int),
    const struct test_case *cases, size_t ncases)
{
	int	out[3], j, ok;
	size_t	i;

	for (i = 0; i < ncases; i++) {
		memset(out, 0, sizeof(out));
		ok = parse(cases[i].text, out, cases[i].n);
		tap_is_int(ok, cases[i].ok, "%s \"%s\" n=%d", what,
		    cases[i].text, cases[i].n);
		for (j = 0; ok && j < cases[i].n; j++)
			tap_is_int(out[j], cases[i].want[j], "  element %d", j);
	}
}

/* Reading boolean[]: exactly n elements of t or f. */
static void
test_bools(void)
{
	static const struct test_case	cases[] = {
		{ "{t,f,t}", 3, 1, { 1, 0, 1 } },
		{ "{f}", 1, 1, { 0 } },
		{ "{}", 0, 1, { 0 } },
		{ "{t,f}", 3, 0, { 0 } },	/* too few */
		{ "{t,f,t,f}", 3, 0, { 0 } },	/* too many */
		{ "{t,f,t}x", 3, 0, { 0 } },	/* trailing bytes */
		{ "t,f,t}", 3, 0, { 0 } },
		{ "{t,NULL,t}", 3, 0, { 0 } },
		{ "{t, f,t}", 3, 0, { 0 } },
		{ "{true,f,t}", 3, 0, { 0 } },
		{ "{t;f;t}", 3, 0, { 0 } },
		{ "", 0, 0, { 0 } },
		{ "{", 1, 0, { 0 } },
	};

	test_parse("bools", pgarray_bools, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

/* Reading integer[]: exactly n elements within int. */
static void
test_ints(void)
{
	static const struct test_case	cases[] = {
		{ "{9,0,-1}", 3, 1, { 9, 0, -1 } },
		{ "{2147483647}", 1, 1, { INT_MAX } },
		{ "{-2147483648}", 1, 1, { INT_MIN } },
		{ "{2147483648}", 1, 0, { 0 } },
		{ "{-2147483649}", 1, 0, { 0 } },
		{ "{99999999999999999999999}", 1, 0, { 0 } },
		{ "{1,2}", 3, 0, { 0 } },
		{ "{1,2,3}", 2, 0, { 0 } },	/* more than the batch's rows */
		{ "{1,,3}", 3, 0, { 0 } },
		{ "{-,2,3}", 3, 0, { 0 } },
		{ "{1,2,3", 3, 0, { 0 } },
		{ "{NULL,2,3}", 3, 0, { 0 } },
		{ "{ 1,2,3}", 3, 0, { 0 } },
		{ "{1.5,2,3}", 3, 0, { 0 } },
		{ "{1,2,3} ", 3, 0, { 0 } },
		{ "{}", 0, 1, { 0 } },
	};

	test_parse("ints", pgarray_ints, cases,
	    sizeof(cases) / sizeof(cases[0]));
}

/* What pgarray_integer() writes, pgarray_ints() reads back. */
static void
test_roundtrip(void)
{
	static const int	vals[] = { 0, 1, -1, 64, 1000000, INT_MAX,
				    INT_MIN, -32768 };
	char			buf[256];
	size_t			off;
	int			out[8], i, n, same;

	n = (int)(sizeof(vals) / sizeof(vals[0]));
	off = 0;
	buf[off++] = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf[off++] = ',';
		off += pgarray_integer(buf + off, sizeof(buf) - off, vals[i]);
	}
	buf[off++] = '}';
	buf[off] = '\0';
	tap_ok(pgarray_ints(buf, out, n), "written ints read back: %s", buf);
	same = 1;
	for (i = 0; i < n; i++)
		same &= (out[i] == vals[i]);
	tap_ok(same, "and are the same values");
}

int
main(void)
{
	test_text();
	test_numbers();
	test_bools();
	test_ints();
	test_roundtrip();
	return (tap_done());
}
