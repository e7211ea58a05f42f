/*
 * test_partial.c: the partial rollup row the recorder sums for a
 * statement (src/partial.c): the HDR index as app.rollup_hist_index
 * computes it, PostgreSQL's rounding, the histogram, and the rows it
 * refuses.  The HTTP test (test_rollups.py) compares the server's
 * partials with the database's sums of the same rows.
 */
#include <stdint.h>

#include "partial.h"
#include "tap.h"

/* Values of app.rollup_hist_index(us), from psql. */
static void
test_index(void)
{
	static const struct {
		int64_t	us;
		int32_t	idx;
	} cases[] = {
		{ 0, 0 }, { 1, 1 }, { 2047, 2047 }, { 2048, 2048 },
		{ 2049, 2048 }, { 2050, 2049 }, { 4095, 3071 }, { 4096, 3072 },
		{ 1000000, 11169 }, { 40000000, 16580 },
	};
	size_t	i;
	int32_t	prev = -1;
	int	mono = 1;
	int64_t	us;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tap_is_int(partial_hist_index(cases[i].us), cases[i].idx,
		    "index of %lld us", (long long)cases[i].us);
	for (us = 0; us < 1 << 20; us++) {
		int32_t	x = partial_hist_index(us);

		if (x < prev || x > prev + 1)
			mono = 0;
		prev = x;
	}
	tap_ok(mono, "indexes ascend by 0 or 1 up to 1 s: no bucket skipped");
}

static void
test_sums(void)
{
	struct partial	p;
	int32_t		idx[8];
	int64_t		cnt[8];

	partial_reset(&p, idx, cnt, 8);
	partial_add(&p, "positive", 0.5, 1.5, 0.25);
	partial_add(&p, "negative", 0.000001, 0.0005, -0.5);
	partial_add(&p, "positive", 0.9999995, 1.5, 0.00005);
	partial_add(&p, "neutral", 0.25, 3.001, 0);
	partial_close(&p);
	tap_is_int(p.bad, 0, "four rows: none refused");
	tap_is_int(p.n, 4, "n");
	tap_is_int(p.labels[PARTIAL_POSITIVE], 2, "positive");
	tap_is_int(p.labels[PARTIAL_NEGATIVE], 1, "negative");
	tap_is_int(p.labels[PARTIAL_NEUTRAL], 1, "neutral");
	/* rint: half to even, as round(float8) (0.5 us -> 0; 999999.5 -> 1e6) */
	tap_is_int(p.conf_micro[PARTIAL_POSITIVE], 500000 + 1000000,
	    "positive confidence in millionths, rounded as PostgreSQL");
	tap_is_int(p.compound_e4[PARTIAL_POSITIVE], 2500 + 0,
	    "positive compound in ten-thousandths (0.5 to even: 0)");
	tap_is_int(p.compound_e4[PARTIAL_NEGATIVE], -5000, "negative compound");
	tap_is_int(p.time_us, 1500 + 0 + 1500 + 3001, "time in us (0.5 -> 0)");
	tap_is_int(p.time_min_us, 0, "min");
	tap_is_int(p.time_max_us, 3001, "max");
	tap_is_int((long long)p.nh, 3, "three distinct indexes");
	tap_ok(p.idx[0] == 0 && p.cnt[0] == 1 && p.idx[1] == 1500 &&
	    p.cnt[1] == 2 && p.idx[2] == partial_hist_index(3001) &&
	    p.cnt[2] == 1, "ascending, counted");

	partial_reset(&p, idx, cnt, 8);
	partial_add(&p, "happy", 0.5, 1, 0);
	tap_is_int(p.bad, 1, "an unknown label: the partial is refused");
	partial_reset(&p, idx, cnt, 8);
	partial_add(&p, "neutral", 0.5, -1, 0);
	tap_is_int(p.bad, 1, "a negative latency: refused");
	partial_reset(&p, idx, cnt, 1);
	partial_add(&p, "neutral", 0.5, 1, 0);
	partial_add(&p, "neutral", 0.5, 1, 0);
	tap_is_int(p.bad, 1, "more rows than room: refused");
}

int
main(void)
{
	tap_plan(27);
	test_index();
	test_sums();
	return (tap_done());
}
