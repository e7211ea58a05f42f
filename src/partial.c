/*
 * partial.c: the partial rollup row of one INSERT statement
 * (app.rollup_partial, sql/35_rollups.sql), summed while the recorder
 * writes the statement's rows: the count, the counts and sums per label,
 * the sum, min and max of the latency, and its HDR histogram.  The server
 * sends it with the rows, and the database's statement trigger then has
 * nothing to add up; it sums only the rows written other ways.
 *
 * The database must hold the same integers as if it had summed the rows
 * itself, so each value is the one PostgreSQL stores (the caller reads
 * it back from the text it sends, as float8 input does) and is rounded
 * as the SQL rounds it: round(x * 1e6)::bigint is a float8 multiply then
 * rint, here the same multiply then llrint.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "partial.h"

static int	partial_cmp(const void *, const void *);
static int	partial_round(double, double, int64_t *);

/* Starts an empty row; idx and cnt hold cap rows. */
void
partial_reset(struct partial *p, int32_t *idx, int64_t *cnt, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->idx = idx;
	p->cnt = cnt;
	p->cap = cap;
}

/* Adds one row: label, confidence, latency (ms) and compound as stored. */
void
partial_add(struct partial *p, const char *label, double confidence,
    double ms, double compound)
{
	int64_t		cm, us, ce;
	int		l;

	if (strcmp(label, "positive") == 0)
		l = PARTIAL_POSITIVE;
	else if (strcmp(label, "negative") == 0)
		l = PARTIAL_NEGATIVE;
	else if (strcmp(label, "neutral") == 0)
		l = PARTIAL_NEUTRAL;
	else
		l = -1;
	if (l < 0 || p->nh == p->cap || partial_round(confidence, 1e6, &cm) ||
	    partial_round(ms, 1000, &us) || partial_round(compound, 1e4, &ce) ||
	    us < 0) {
		p->bad = 1;
		return;
	}

	if (p->n == 0 || us < p->time_min_us)
		p->time_min_us = us;
	if (p->n == 0 || us > p->time_max_us)
		p->time_max_us = us;
	p->n++;
	p->labels[l]++;
	p->conf_micro[l] += cm;
	p->compound_e4[l] += ce;
	p->time_us += us;
	p->idx[p->nh++] = partial_hist_index(us);
}

/* The histogram: idx[0..nh) ascending and distinct, cnt their counts. */
void
partial_close(struct partial *p)
{
	size_t		i, k;

	qsort(p->idx, p->nh, sizeof(p->idx[0]), partial_cmp);
	for (i = 0, k = 0; i < p->nh; i++) {
		if (k > 0 && p->idx[k - 1] == p->idx[i]) {
			p->cnt[k - 1]++;
			continue;
		}
		p->idx[k] = p->idx[i];
		p->cnt[k] = 1;
		k++;
	}
	p->nh = k;
}

/*
 * app.rollup_hist_index: the value itself below 2048 us, above it 1024
 * sub-buckets per power of two.  bits is floor(log2(us)) + 1, what the
 * SQL's width_bucket over the powers of two gives.
 */
int32_t
partial_hist_index(int64_t us)
{
	int	bits;

	if (us < 2048)
		return ((int32_t)us);
	bits = 64 - __builtin_clzll((unsigned long long)us);
	return ((int32_t)((bits - 11) * 1024 + (us >> (bits - 11))));
}

static int
partial_cmp(const void *a, const void *b)
{
	int32_t	x = *(const int32_t *)a, y = *(const int32_t *)b;

	return ((x > y) - (x < y));
}

/* round(v * scale)::bigint as PostgreSQL computes it; -1 if it cannot. */
static int
partial_round(double v, double scale, int64_t *out)
{
	double	x;

	x = rint(v * scale);
	if (!isfinite(x) || x < -9.2e18 || x > 9.2e18)
		return (-1);
	*out = (int64_t)x;
	return (0);
}
