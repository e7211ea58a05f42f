/*
 * fuzz_pgarray.c: libFuzzer target for the recorder's array text
 * (src/pgarray.c): the parsers on any bytes, and the writer on any text.
 *
 * Input: the first byte picks n (0..31), the rest is the text.
 *
 * Properties (abort() when broken):
 * - pgarray_bools() accepts only the canonical "{t,f,...}" of n
 *   elements: writing what it read gives the input back, byte for byte;
 * - what pgarray_ints() accepts, written again with pgarray_integer(),
 *   reads back as the same n values;
 * - pgarray_text() never writes past its buffer (ASan), refuses rather
 *   than cuts (0, or an element whose length and NUL fit), always fits
 *   in pgarray_text_max(), and quotes exactly when the text holds a byte
 *   array_in would misread, so a plain element holds none of them.
 *
 * Build and run: make fuzz (tests/fuzz/run.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgarray.h"

#define FUZZ_N_MAX	32

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Joins n elements into "{...}" in buf (big enough: see the callers). */
static void
fuzz_join(char *buf, size_t cap, const char **elem, int n)
{
	size_t	off;
	int	i;

	off = 0;
	buf[off++] = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf[off++] = ',';
		off += strlen(strcpy(buf + off, elem[i]));
	}
	buf[off++] = '}';
	buf[off] = '\0';
	if (off >= cap)
		abort();
}

static void
fuzz_parsers(const char *s, int n)
{
	char		buf[FUZZ_N_MAX * 16 + 3], num[FUZZ_N_MAX][16];
	const char	*elem[FUZZ_N_MAX];
	int		v[FUZZ_N_MAX], w[FUZZ_N_MAX], i;

	if (pgarray_bools(s, v, n)) {
		for (i = 0; i < n; i++)
			elem[i] = v[i] ? "t" : "f";
		fuzz_join(buf, sizeof(buf), elem, n);
		if (strcmp(buf, s) != 0)
			abort();
	}
	if (pgarray_ints(s, v, n)) {
		for (i = 0; i < n; i++) {
			if (pgarray_integer(num[i], sizeof(num[i]), v[i]) == 0)
				abort();
			elem[i] = num[i];
		}
		fuzz_join(buf, sizeof(buf), elem, n);
		if (!pgarray_ints(buf, w, n))
			abort();
		for (i = 0; i < n; i++) {
			if (w[i] != v[i])
				abort();
		}
	}
}

static void
fuzz_writer(const char *s, size_t len, int n)
{
	char	*buf;
	size_t	 cap, got;

	/* A buffer of n + 1 bytes (often too small), then one that must do. */
	cap = (size_t)n + 1;
	buf = malloc(cap);
	got = pgarray_text(buf, cap, s);
	if (got > 0 && (got + 1 > cap || strlen(buf) != got))
		abort();
	free(buf);

	cap = pgarray_text_max(len);
	buf = malloc(cap);
	if ((got = pgarray_text(buf, cap, s)) == 0 || strlen(buf) != got)
		abort();
	/* Plain exactly when nothing in it needs quoting. */
	if (buf[0] != '"' && (len == 0 || strpbrk(s, "{}\",\\ \t\n\r\v\f")
	    != NULL || strcmp(buf, s) != 0))
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s;
	int	 n;

	if (size < 1)
		return (0);
	n = data[0] % FUZZ_N_MAX;
	s = malloc(size);
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	fuzz_parsers(s, n);
	fuzz_writer(s, strlen(s), n);
	free(s);
	return (0);
}
