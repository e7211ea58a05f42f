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
 * - the writer never writes past its buffer (ASan), refuses rather than
 *   cuts (NULL, or a text that starts with '{' and ends with '}'), and
 *   an element fits whenever the buffer holds pgarray_text_max() of it.
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

static void
fuzz_parsers(const char *s, int n)
{
	struct pgarray_out	a;
	char			buf[FUZZ_N_MAX * 16 + 3];
	const char		*t;
	int			v[FUZZ_N_MAX], w[FUZZ_N_MAX], i;

	if (pgarray_bools(s, v, n)) {
		pgarray_begin(&a, buf, sizeof(buf));
		for (i = 0; i < n; i++)
			pgarray_text(&a, v[i] ? "t" : "f");
		if ((t = pgarray_end(&a)) == NULL || strcmp(t, s) != 0)
			abort();
	}
	if (pgarray_ints(s, v, n)) {
		pgarray_begin(&a, buf, sizeof(buf));
		for (i = 0; i < n; i++)
			pgarray_integer(&a, v[i]);
		if ((t = pgarray_end(&a)) == NULL || !pgarray_ints(t, w, n))
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
	struct pgarray_out	a;
	char			*buf;
	const char		*t;
	size_t			cap, tlen;

	/* A buffer of n bytes (often too small), then one that must do. */
	cap = (size_t)n + 1;
	buf = malloc(cap);
	pgarray_begin(&a, buf, cap);
	pgarray_text(&a, s);
	if ((t = pgarray_end(&a)) != NULL) {
		tlen = strlen(t);
		if (tlen + 1 > cap || t[0] != '{' || t[tlen - 1] != '}')
			abort();
	}
	free(buf);

	cap = pgarray_text_max(len) + 3;
	buf = malloc(cap);
	pgarray_begin(&a, buf, cap);
	pgarray_text(&a, s);
	if (pgarray_end(&a) == NULL)
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
