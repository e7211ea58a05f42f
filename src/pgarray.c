/*
 * pgarray.c: PostgreSQL's text form of one-dimensional arrays.
 *
 * Writing is per element, into a caller's buffer (the caller writes the
 * braces and commas): a text is quoted when array_in would otherwise
 * misread it (empty, NULL in any case, white space, or one of {}",\);
 * numbers use fixed.c's text, which reads back as the same double, and a
 * non-finite one becomes NaN, which float8 reads and the scores' CHECK
 * constraints refuse.  Each returns the element's length, NUL-terminated
 * in the buffer, or 0 when it does not fit (no element is empty: the
 * empty text is ""), so nothing is ever cut.
 *
 * Reading: pgarray_bools() and pgarray_ints() parse exactly n elements
 * ("{t,f}", "{9,-1}") and nothing else: no NULL elements, no spaces, no
 * quotes, no nested arrays, and integers within int.  What the server
 * sends for boolean[] and integer[] is exactly that form.
 */
#include <limits.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "fixed.h"
#include "pgarray.h"

static int	pgarray_needs_quotes(const char *);

/* s as an element, quoted if it has to be. */
size_t
pgarray_text(char *dst, size_t cap, const char *s)
{
	const char	*p;
	size_t		 n;
	int		 esc;

	if (!pgarray_needs_quotes(s)) {
		n = strlen(s);
		if (n >= cap)
			return (0);
		memcpy(dst, s, n + 1);
		return (n);
	}
	n = 0;
	if (cap < 3)
		return (0);
	dst[n++] = '"';
	for (p = s; *p != '\0'; p++) {
		esc = (*p == '"' || *p == '\\');
		/* This character, its escape, then '"' and the NUL. */
		if (n + (size_t)esc + 1 + 2 > cap)
			return (0);
		if (esc)
			dst[n++] = '\\';
		dst[n++] = *p;
	}
	dst[n++] = '"';
	dst[n] = '\0';
	return (n);
}

/* The buffer pgarray_text() needs at most for a text of len bytes. */
size_t
pgarray_text_max(size_t len)
{
	return (2 * len + 3);
}

/* v rounded to decimals places (fixed.c), or NaN. */
size_t
pgarray_number(char *dst, size_t cap, double v, int decimals)
{
	if (isfinite(v))
		return (fixed_format(dst, cap, v, decimals));
	if (cap < 4)
		return (0);
	memcpy(dst, "NaN", 4);
	return (3);
}

size_t
pgarray_integer(char *dst, size_t cap, long long v)
{
	return (fixed_integer(dst, cap, v));
}

/* Parses "{t,f,...}" with exactly n elements into out[n] (1 or 0). */
int
pgarray_bools(const char *s, int *out, int n)
{
	int	i;

	if (*s++ != '{')
		return (0);
	for (i = 0; i < n; i++) {
		if (*s != 't' && *s != 'f')
			return (0);
		out[i] = (*s++ == 't');
		if (*s++ != (i + 1 < n ? ',' : '}'))
			return (0);
	}
	if (n == 0 && *s++ != '}')
		return (0);
	return (*s == '\0');
}

/* Parses "{9,-1,...}" with exactly n int elements into out[n] (1 or 0). */
int
pgarray_ints(const char *s, int *out, int n)
{
	long long	v;
	int		i, neg, digits;

	if (*s++ != '{')
		return (0);
	for (i = 0; i < n; i++) {
		neg = (*s == '-');
		if (neg)
			s++;
		v = 0;
		for (digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
			v = v * 10 + (*s - '0');
			if (v > (long long)INT_MAX + 1)
				return (0);
		}
		if (digits == 0 || (!neg && v > INT_MAX))
			return (0);
		out[i] = (int)(neg ? -v : v);
		if (*s++ != (i + 1 < n ? ',' : '}'))
			return (0);
	}
	if (n == 0 && *s++ != '}')
		return (0);
	return (*s == '\0');
}

static int
pgarray_needs_quotes(const char *s)
{
	const char	*p;

	if (*s == '\0' || strcasecmp(s, "NULL") == 0)
		return (1);
	for (p = s; *p != '\0'; p++) {
		if (strchr("{}\",\\ \t\n\r\v\f", *p) != NULL)
			return (1);
	}
	return (0);
}
