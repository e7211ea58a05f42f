/*
 * test_vader_smoke.c: differential test of the model against the Python
 * reference's own scores for the 231 texts of tests/data/sentiment_smoke.tsv
 * (see its README).  Every compound must be within 0.0005 and every
 * pos/neu/neg within 0.002 of the reference; the worst rows are printed as
 * TAP diagnostics when any is not.
 *
 * Usage: test_vader_smoke DATA.tsv [MODEL_DIR]
 *   (MODEL_DIR defaults to $MODEL_DIR, else src/model/vader)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "tap.h"

#define TEST_VADER_SMOKE_ROWS		231
#define TEST_VADER_SMOKE_EPS_COMPOUND	0.0005
#define TEST_VADER_SMOKE_EPS_SHARE	0.002
#define TEST_VADER_SMOKE_WORST	10
#define TEST_VADER_SMOKE_FIELDS	5

struct test_vader_smoke_row {
	size_t	lineno;
	char	text[80];	/* shortened, for diagnostics */
	double	want[4];	/* compound, pos, neu, neg */
	double	got[4];
	double	err;		/* worst error relative to its tolerance */
};

static int	test_vader_smoke_parse(char *, char *[TEST_VADER_SMOKE_FIELDS],
		    double [4]);
static int	test_vader_smoke_worse(const void *, const void *);

int
main(int argc, char *argv[])
{
	struct test_vader_smoke_row	*rows, *row;
	struct model		*m;
	struct model_result	 r;
	const char		*data, *dir;
	char			 errbuf[512], *line;
	char			*field[TEST_VADER_SMOKE_FIELDS];
	size_t			 cap, lineno, nrows, exact, i, nfail;
	ssize_t			 n;
	FILE			*fp;
	double			 maxerr[4], d;
	int			 header, ok;

	rows = NULL;
	m = NULL;
	fp = NULL;
	line = NULL;
	cap = 0;

	data = argc > 1 ? argv[1] : "tests/data/sentiment_smoke.tsv";
	if (argc > 2)
		dir = argv[2];
	else if ((dir = getenv("MODEL_DIR")) == NULL || *dir == '\0')
		dir = "src/model/vader";

	if ((m = model_load(dir, errbuf, sizeof(errbuf))) == NULL) {
		tap_ok(0, "model_load(%s): %s", dir, errbuf);
		goto cleanup;
	}
	if ((fp = fopen(data, "r")) == NULL) {
		tap_ok(0, "open %s", data);
		goto cleanup;
	}
	if ((rows = calloc(TEST_VADER_SMOKE_ROWS * 2, sizeof(*rows))) == NULL)
		abort();

	nrows = 0;
	exact = 0;
	nfail = 0;
	header = 1;
	lineno = 0;
	memset(maxerr, 0, sizeof(maxerr));
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		/* Comments only before the header: a text may start with #. */
		if (header && line[0] == '#')
			continue;
		if (header) {
			header = 0;	/* text, compound, pos, neu, neg */
			continue;
		}
		if (nrows == TEST_VADER_SMOKE_ROWS * 2)
			break;
		row = &rows[nrows];
		row->lineno = lineno;
		if (!test_vader_smoke_parse(line, field, row->want)) {
			tap_ok(0, "%s:%zu: malformed row", data, lineno);
			nfail++;
			continue;
		}
		nrows++;
		snprintf(row->text, sizeof(row->text), "%s", field[0]);

		if (!model_predict(m, field[0], strlen(field[0]), &r)) {
			tap_ok(0, "line %zu: model_predict refused '%s'",
			    lineno, row->text);
			row->err = INFINITY;
			nfail++;
			continue;
		}
		row->got[0] = r.compound;
		row->got[1] = r.pos;
		row->got[2] = r.neu;
		row->got[3] = r.neg;
		row->err = 0.0;
		for (i = 0; i < 4; i++) {
			d = fabs(row->got[i] - row->want[i]);
			if (d > maxerr[i])
				maxerr[i] = d;
			d /= i == 0 ? TEST_VADER_SMOKE_EPS_COMPOUND :
			    TEST_VADER_SMOKE_EPS_SHARE;
			if (d > row->err)
				row->err = d;
		}
		ok = row->err <= 1.0;
		if (!ok)
			nfail++;
		if (row->got[0] == row->want[0] && row->got[1] ==
		    row->want[1] && row->got[2] == row->want[2] &&
		    row->got[3] == row->want[3])
			exact++;
		tap_ok(ok, "line %zu: '%s' compound %.4f", lineno, row->text,
		    row->want[0]);
	}

	tap_is_int((long long)nrows, TEST_VADER_SMOKE_ROWS, "%s has %d rows",
	    data, TEST_VADER_SMOKE_ROWS);
	tap_diag("max |error|: compound %.6f pos %.6f neu %.6f neg %.6f",
	    maxerr[0], maxerr[1], maxerr[2], maxerr[3]);
	tap_diag("identical to the reference (all 4 numbers): %zu of %zu",
	    exact, nrows);

	if (nfail > 0) {
		qsort(rows, nrows, sizeof(*rows), test_vader_smoke_worse);
		tap_diag("worst rows (line: text | got | want):");
		for (i = 0; i < nrows && i < TEST_VADER_SMOKE_WORST; i++) {
			row = &rows[i];
			if (row->err <= 1.0)
				break;
			tap_diag("%zu: '%s' | %.4f %.3f %.3f %.3f | "
			    "%.4f %.3f %.3f %.3f", row->lineno, row->text,
			    row->got[0], row->got[1], row->got[2], row->got[3],
			    row->want[0], row->want[1], row->want[2],
			    row->want[3]);
		}
	}

cleanup:
	free(line);
	free(rows);
	if (fp != NULL)
		fclose(fp);
	model_free(m);
	return (tap_done());
}

/* Splits "text<TAB>compound<TAB>pos<TAB>neu<TAB>neg" in place. */
static int
test_vader_smoke_parse(char *line, char *field[TEST_VADER_SMOKE_FIELDS],
    double want[4])
{
	char	*p, *end;
	int	 i;

	p = line;
	for (i = 0; i < TEST_VADER_SMOKE_FIELDS; i++) {
		field[i] = p;
		if ((p = strchr(p, '\t')) == NULL) {
			if (i != TEST_VADER_SMOKE_FIELDS - 1)
				return (0);
			break;
		}
		*p++ = '\0';
	}
	if (p != NULL)
		return (0);	/* more than 5 fields */
	for (i = 0; i < 4; i++) {
		want[i] = strtod(field[i + 1], &end);
		if (end == field[i + 1] || *end != '\0')
			return (0);
	}
	return (1);
}

/* Worst first. */
static int
test_vader_smoke_worse(const void *a, const void *b)
{
	const struct test_vader_smoke_row	*ra = a, *rb = b;

	if (ra->err > rb->err)
		return (-1);
	if (ra->err < rb->err)
		return (1);
	return (0);
}
