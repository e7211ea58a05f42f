/*
 * stats.h: counters and histograms for the whole server (all workers).
 *
 * The parent maps one shared anonymous region before the workers fork;
 * each worker writes only its own slot (no locks, no atomics on the hot
 * path) and GET /metrics/prometheus sums the slots.  A restarted worker
 * keeps its slot, so counters never go backwards.
 */
#ifndef STATS_H
#define STATS_H

#include <stddef.h>
#include <stdint.h>

#define STATS_WORKERS_MAX	64
#define STATS_VERSIONS_MAX	32	/* model versions counted apart */

enum stats_route {
	STATS_ROUTE_ROOT,
	STATS_ROUTE_HEALTH,
	STATS_ROUTE_PREDICT,
	STATS_ROUTE_METRICS_AGGREGATED,
	STATS_ROUTE_METRICS_COUNT,
	STATS_ROUTE_METRICS_THRESHOLDS,
	STATS_ROUTE_METRICS_TIMESERIES,
	STATS_ROUTE_ANALYZE,
	STATS_ROUTE_PROMETHEUS,
	STATS_ROUTE_OPENAPI,
	STATS_ROUTE_DOCS,
	STATS_ROUTE_MODELS,		/* /models and /models/... */
	STATS_ROUTE_PREDICT_BATCH,
	STATS_ROUTE_METRICS_COMPARE,
	STATS_ROUTE_OTHER,		/* the JSON 404 */
	STATS_NROUTES
};

enum stats_gemini {
	STATS_GEMINI_OK,
	STATS_GEMINI_HTTP_ERROR,	/* a 4xx/5xx that ended the call */
	STATS_GEMINI_TIMEOUT,
	STATS_GEMINI_CONNECT_ERROR,
	STATS_GEMINI_INVALID_REPLY,
	STATS_GEMINI_RETRY,		/* one more attempt was made */
	STATS_NGEMINI
};

/* What a 429 refused (stats_worker.ratelimited). */
enum stats_limited {
	STATS_LIMITED_PREDICT,
	STATS_LIMITED_ANALYZE,
	STATS_NLIMITED
};

/* The model's labels (stats_worker.predictions, stats_label_of). */
enum stats_label {
	STATS_LABEL_POSITIVE,
	STATS_LABEL_NEGATIVE,
	STATS_LABEL_NEUTRAL,
	STATS_NLABELS
};

enum stats_hist_kind {
	STATS_HIST_MS,			/* milliseconds */
	STATS_HIST_ROWS,		/* batch sizes */
};

#define STATS_NBUCKETS		20
#define STATS_NSTATUS		20

struct stats_hist {
	uint64_t	buckets[STATS_NBUCKETS];	/* not cumulative */
	uint64_t	count;
	double		sum;
};

struct stats_worker {
	uint64_t		requests[STATS_NROUTES][STATS_NSTATUS];
	struct stats_hist	request_ms[STATS_NROUTES];
	uint64_t		predictions[STATS_NLABELS];
	struct stats_hist	inference_ms;
	struct stats_hist	db_write_ms;
	struct stats_hist	batch_rows;
	uint64_t		batches_failed;
	uint64_t		ratelimited[STATS_NLIMITED];
	uint64_t		lease_admits;	/* admitted from a lease */
	uint64_t		lease_grants;
	uint64_t		gemini[STATS_NGEMINI];
	uint64_t		cache_hits;
	uint64_t		cache_misses;
	int64_t			routing_generation;	/* applied, -1 none */
	/* Per registry entry (app.registry.v[i]), the first VERSIONS_MAX. */
	uint64_t		version_predictions[STATS_VERSIONS_MAX][3];
	struct stats_hist	version_inference_ms[STATS_VERSIONS_MAX];
};

struct stats {
	uint64_t		started;	/* Unix seconds */
	int			nworkers;
	struct stats_worker	w[STATS_WORKERS_MAX + 1];
};

/* Status codes with their own counter; the rest count as "other". */
extern const int	stats_status_codes[STATS_NSTATUS];
extern const double	stats_bounds_ms[STATS_NBUCKETS];
extern const double	stats_bounds_rows[STATS_NBUCKETS];
extern const char	*stats_route_names[STATS_NROUTES];
extern const char	*stats_gemini_names[STATS_NGEMINI];
extern const char	*stats_label_names[STATS_NLABELS];

int			 stats_init(int);
struct stats_worker	*stats_me(void);
const struct stats	*stats_all(void);
void			 stats_bind(unsigned int);
void			 stats_observe(struct stats_hist *, enum stats_hist_kind,
			    double);
int			 stats_status_index(int);
void			 stats_version(struct stats_worker *, int, int, double);
enum stats_route	 stats_route_of(const char *);
enum stats_label	 stats_label_of(const char *);

#endif
