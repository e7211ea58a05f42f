/*
 * pgarray.c: PostgreSQL's text form of one-dimensional arrays.
 *
 * Writing: pgarray_begin() on a caller's buffer, one call per element,
 * pgarray_end() for the NUL-terminated text.  Text elements are quoted
 * when array_in would otherwise misread them (empty, NULL in any case,
 * white space, or one of {}",\); numbers use fixed.c's text, which reads
 * back as the same double, and a non-finite one becomes NaN, which
 * float8 reads and the scores' CHECK constraints refuse.  An element
 * that does not fit marks the array full: pgarray_end() returns NULL
 * rather than a truncated array.
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

static void	pgarray_put(struct pgarray_out *, const char *, size_t);
static void	pgarray_sep(struct pgarray_out *);
static int	pgarray_needs_quotes(const char *);

/* Starts an array in buf[cap] (cap >= 3 for "{}" and its NUL). */
void
pgarray_begin(struct pgarray_out *a, char *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->n = 0;
	a->full = 0;
	pgarray_put(a, "{", 1);
}

/* Appends s, quoted if it has to be. */
void
pgarray_text(struct pgarray_out *a, const char *s)
{
	const char	*p;

	pgarray_sep(a);
	if (!pgarray_needs_quotes(s)) {
		pgarray_put(a, s, strlen(s));
		return;
	}
	pgarray_put(a, "\"", 1);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			pgarray_put(a, "\\", 1);
		pgarray_put(a, p, 1);
	}
	pgarray_put(a, "\"", 1);
}

/* Appends v rounded to decimals places (fixed.c), or NaN. */
void
pgarray_number(struct pgarray_out *a, double v, int decimals)
{
	char	num[FIXED_BUFLEN];
	size_t	n;

	pgarray_sep(a);
	if (!isfinite(v) || (n = fixed_format(num, sizeof(num), v,
	    decimals)) == 0) {
		pgarray_put(a, "NaN", 3);
		return;
	}
	pgarray_put(a, num, n);
}

void
pgarray_integer(struct pgarray_out *a, long long v)
{
	char	num[FIXED_BUFLEN];
	size_t	n;

	pgarray_sep(a);
	if ((n = fixed_integer(num, sizeof(num), v)) == 0) {
		a->full = 1;		/* cannot happen: 32 bytes hold any */
		return;
	}
	pgarray_put(a, num, n);
}

/* Closes the array: its text, or NULL if an element did not fit. */
const char *
pgarray_end(struct pgarray_out *a)
{
	pgarray_put(a, "}", 1);
	if (a->full)
		return (NULL);
	a->buf[a->len] = '\0';
	return (a->buf);
}

/* The most pgarray_text() writes for an element of len bytes, comma in. */
size_t
pgarray_text_max(size_t len)
{
	return (2 * len + 3);
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

static void
pgarray_put(struct pgarray_out *a, const char *s, size_t n)
{
	/* Room for s and, always, the NUL pgarray_end() writes. */
	if (a->full || n >= a->cap - a->len) {
		a->full = 1;
		return;
	}
	memcpy(a->buf + a->len, s, n);
	a->len += n;
}

static void
pgarray_sep(struct pgarray_out *a)
{
	if (a->n++ > 0)
		pgarray_put(a, ",", 1);
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
