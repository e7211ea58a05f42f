/*
 * partial.h: the partial rollup row of one INSERT statement
 * (app.rollup_partial), summed by the recorder as it writes the rows.
 * libc only: the unit test links it.
 */
#ifndef PARTIAL_H
#define PARTIAL_H

#include <stddef.h>
#include <stdint.h>

/* Labels, in the order of the rollups' per-label columns. */
#define PARTIAL_POSITIVE	0
#define PARTIAL_NEGATIVE	1
#define PARTIAL_NEUTRAL		2

struct partial {
	int64_t		 n;
	int64_t		 labels[3];	/* predictions per label */
	int64_t		 conf_micro[3];	/* sum of round(confidence * 1e6) */
	int64_t		 compound_e4[3];/* sum of round(compound * 1e4) */
	int64_t		 time_us;	/* sum of round(ms * 1000) */
	int64_t		 time_min_us;
	int64_t		 time_max_us;
	int		 bad;		/* a value the sums cannot hold */

	/* One index per row, then (partial_close) distinct and counted. */
	int32_t		*idx;
	int64_t		*cnt;
	size_t		 nh;
	size_t		 cap;
};

void	partial_reset(struct partial *, int32_t *, int64_t *, size_t);
void	partial_add(struct partial *, const char *, double, double, double);
void	partial_close(struct partial *);
int32_t	partial_hist_index(int64_t);

#endif
