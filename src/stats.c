/*
 * stats.c: the shared counters behind GET /metrics/prometheus (see
 * stats.h).  Pure C (libc only): the unit test links it.
 */
#include <sys/mman.h>

#include <string.h>
#include <time.h>

#include "stats.h"

const int stats_status_codes[STATS_NSTATUS] = {
	200, 201, 204, 400, 401, 403, 404, 405, 409, 413,
	415, 422, 429, 500, 502, 503, 504, 0, 0, 0	/* 0: other */
};

/* Upper bounds ("le") of the histogram buckets; the last is +Inf. */
const double stats_bounds_ms[STATS_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
	10, 25, 50, 100, 250, 500, 1000, 5000, 30000, -1
};
const double stats_bounds_rows[STATS_NBUCKETS] = {
	1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
	1000, -1, -1, -1, -1, -1, -1, -1, -1, -1
};

const char *stats_route_names[STATS_NROUTES] = {
	"/", "/health", "/predict", "/metrics/aggregated", "/metrics/count",
	"/metrics/thresholds", "/metrics/timeseries", "/analyze/performance",
	"/metrics/prometheus", "/openapi.json", "/docs", "/models",
	"/predict/batch", "/metrics/compare", "other"
};

const char *stats_gemini_names[STATS_NGEMINI] = {
	"ok", "http_error", "timeout", "connect_error", "invalid_reply",
	"retry"
};

static struct stats		*stats;
static struct stats_worker	*me;
static struct stats_worker	 stats_local;	/* before stats_init */

/* In the parent, before fork: maps the shared region.  Returns 1 or 0. */
int
stats_init(int nworkers)
{
	void	*p;

	p = mmap(NULL, sizeof(*stats), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (0);
	stats = p;
	memset(stats, 0, sizeof(*stats));
	stats->started = (uint64_t)time(NULL);
	stats->nworkers = nworkers;
	return (1);
}

/* In a worker: counters from now on go to slot id (1..N). */
void
stats_bind(unsigned int id)
{
	if (stats != NULL && id <= STATS_WORKERS_MAX)
		me = &stats->w[id];
}

/* This worker's slot (a private one if the region is missing). */
struct stats_worker *
stats_me(void)
{
	return (me != NULL ? me : &stats_local);
}

const struct stats *
stats_all(void)
{
	return (stats);
}

/* Adds one observation of v to h. */
void
stats_observe(struct stats_hist *h, enum stats_hist_kind kind, double v)
{
	const double	*bounds;
	int		 i;

	bounds = kind == STATS_HIST_ROWS ? stats_bounds_rows : stats_bounds_ms;
	for (i = 0; i < STATS_NBUCKETS - 1; i++) {
		if (bounds[i] < 0 || v <= bounds[i])
			break;
	}
	h->buckets[i]++;
	h->count++;
	h->sum += v;
}

/* The counter index of an HTTP status (the last slot is "other"). */
int
stats_status_index(int status)
{
	int	i;

	for (i = 0; i < STATS_NSTATUS - 1; i++) {
		if (stats_status_codes[i] == status)
			return (i);
		if (stats_status_codes[i] == 0)
			break;
	}
	return (STATS_NSTATUS - 1);
}

const char *stats_label_names[STATS_NLABELS] = {
	[STATS_LABEL_POSITIVE] = "positive",
	[STATS_LABEL_NEGATIVE] = "negative",
	[STATS_LABEL_NEUTRAL] = "neutral",
};

/* The counter of a model's label; anything else counts as neutral. */
enum stats_label
stats_label_of(const char *label)
{
	if (strcmp(label, stats_label_names[STATS_LABEL_POSITIVE]) == 0)
		return (STATS_LABEL_POSITIVE);
	if (strcmp(label, stats_label_names[STATS_LABEL_NEGATIVE]) == 0)
		return (STATS_LABEL_NEGATIVE);
	return (STATS_LABEL_NEUTRAL);
}

/* The route label of a request path: exact match, the docs, else "other". */
/*
 * One prediction of registry entry v (-1 or beyond STATS_VERSIONS_MAX:
 * not counted apart) with label index k, and its model time.
 */
void
stats_version(struct stats_worker *sw, int v, int k, double ms)
{
	if (v < 0 || v >= STATS_VERSIONS_MAX || k < 0 || k > 2)
		return;
	sw->version_predictions[v][k]++;
	stats_observe(&sw->version_inference_ms[v], STATS_HIST_MS, ms);
}

enum stats_route
stats_route_of(const char *path)
{
	int	i;

	for (i = 0; i < STATS_ROUTE_OTHER; i++) {
		if (strcmp(stats_route_names[i], path) == 0)
			return ((enum stats_route)i);
	}
	/* The docs page's own files (api_docs.c) count as the page. */
	if (strncmp(path, "/docs/", 6) == 0)
		return (STATS_ROUTE_DOCS);
	if (strncmp(path, "/models/", 8) == 0)
		return (STATS_ROUTE_MODELS);
	return (STATS_ROUTE_OTHER);
}
