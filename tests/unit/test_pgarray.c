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

/* Writing: elements, quoting, numbers, NaN, a buffer too small. */
static void
test_write(void)
{
	struct pgarray_out	a;
	char			buf[256], small[6];
	const char		*s;

	pgarray_begin(&a, buf, sizeof(buf));
	tap_is_str(pgarray_end(&a), "{}", "an empty array");

	pgarray_begin(&a, buf, sizeof(buf));
	pgarray_text(&a, "01a218c5-a20f-7cd1-ade4-c608d088170a");
	pgarray_text(&a, "::1");
	pgarray_text(&a, "positive");
	tap_is_str(pgarray_end(&a),
	    "{01a218c5-a20f-7cd1-ade4-c608d088170a,::1,positive}",
	    "uuids, addresses and labels go unquoted");

	pgarray_begin(&a, buf, sizeof(buf));
	pgarray_text(&a, "");
	pgarray_text(&a, "null");
	pgarray_text(&a, "a b");
	pgarray_text(&a, "x,y");
	pgarray_text(&a, "q\"\\");
	pgarray_text(&a, "{}");
	tap_is_str(pgarray_end(&a),
	    "{\"\",\"null\",\"a b\",\"x,y\",\"q\\\"\\\\\",\"{}\"}",
	    "empty, NULL, spaces, delimiters, quotes and braces are quoted");

	pgarray_begin(&a, buf, sizeof(buf));
	pgarray_number(&a, 0.652211, 6);
	pgarray_number(&a, 0.5, 3);
	pgarray_number(&a, -0.0001, 4);
	pgarray_number(&a, NAN, 3);
	pgarray_number(&a, INFINITY, 3);
	pgarray_integer(&a, 12);
	pgarray_integer(&a, -7);
	tap_is_str(pgarray_end(&a), "{0.652211,0.5,-0.0001,NaN,NaN,12,-7}",
	    "numbers as fixed.c writes them; not finite is NaN");

	pgarray_begin(&a, small, sizeof(small));
	pgarray_text(&a, "abc");
	s = pgarray_end(&a);
	tap_is_str(s, "{abc}", "an array that just fits (5 bytes + NUL)");
	pgarray_begin(&a, small, sizeof(small));
	pgarray_text(&a, "abc");
	pgarray_text(&a, "de");
	tap_ok(pgarray_end(&a) == NULL, "one that does not fit is refused, "
	    "not cut");
	pgarray_begin(&a, small, sizeof(small));
	pgarray_text(&a, "abcdef");
	tap_ok(pgarray_end(&a) == NULL, "an element longer than the buffer "
	    "is refused");

	tap_is_int((long long)pgarray_text_max(3), 9,
	    "the most a 3-byte element can take: quoted, escaped, a comma");
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
	struct pgarray_out	a;
	char			buf[256];
	const char		*s;
	int			out[8], i, n, same;

	n = (int)(sizeof(vals) / sizeof(vals[0]));
	pgarray_begin(&a, buf, sizeof(buf));
	for (i = 0; i < n; i++)
		pgarray_integer(&a, vals[i]);
	s = pgarray_end(&a);
	tap_ok(s != NULL && pgarray_ints(s, out, n), "written ints read "
	    "back: %s", s != NULL ? s : "(none)");
	same = 1;
	for (i = 0; i < n; i++)
		same &= (out[i] == vals[i]);
	tap_ok(same, "and are the same values");
}

int
main(void)
{
	test_write();
	test_bools();
	test_ints();
	test_roundtrip();
	return (tap_done());
}
