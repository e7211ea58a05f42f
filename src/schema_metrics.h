/*
 * schema_metrics.h: the request shapes of /metrics/... (schema_metrics.c).
 *
 * Pure C + jansson (no Kore), so the unit tests link it directly.  Each
 * validator returns 1 when the input is valid, else 0 after appending one
 * {"field", "message"} object per problem to details.  Values are copied
 * into the structs, so they outlive the JSON body or query string.
 */
#ifndef SCHEMA_METRICS_H
#define SCHEMA_METRICS_H

#include <jansson.h>

#define SCHEMA_METRICS_WINDOW_DEFAULT	60	/* minutes */
#define SCHEMA_METRICS_WINDOW_MAX	1440
#define SCHEMA_METRICS_BUCKET_DEFAULT	1	/* minutes */
#define SCHEMA_METRICS_BUCKETS_MAX	1440	/* buckets per series */
#define SCHEMA_METRICS_NAME_MAX		63	/* as app.model_versions */

/* The optional model filter; empty strings mean "not given". */
struct schema_metrics_filter {
	char	model_name[SCHEMA_METRICS_NAME_MAX + 1];
	char	model_version[SCHEMA_METRICS_NAME_MAX + 1];
};

/* POST /metrics/aggregated. */
struct schema_metrics_aggregated {
	int				window_minutes;
	struct schema_metrics_filter	filter;
};

/* GET /metrics/timeseries?window_minutes=&bucket_minutes=&model_name=&... */
struct schema_metrics_timeseries {
	int				window_minutes;
	int				bucket_minutes;
	struct schema_metrics_filter	filter;
};

/* PUT /metrics/thresholds: the four values, each optional. */
enum schema_metrics_threshold {
	SCHEMA_METRICS_CONF_WARNING,
	SCHEMA_METRICS_CONF_CRITICAL,
	SCHEMA_METRICS_LATENCY_WARNING,
	SCHEMA_METRICS_LATENCY_CRITICAL,
	SCHEMA_METRICS_NTHRESHOLDS,
};

struct schema_metrics_thresholds {
	char	model_name[SCHEMA_METRICS_NAME_MAX + 1];	/* "default" */
	int	set[SCHEMA_METRICS_NTHRESHOLDS];
	double	value[SCHEMA_METRICS_NTHRESHOLDS];
};

extern const char *const	schema_metrics_threshold_names[];

int	schema_metrics_aggregated(const json_t *,
	    struct schema_metrics_aggregated *, json_t *);
int	schema_metrics_timeseries(const char *, const char *, const char *,
	    const char *, struct schema_metrics_timeseries *, json_t *);
int	schema_metrics_thresholds(const json_t *,
	    struct schema_metrics_thresholds *, json_t *);
int	schema_metrics_filter(const char *, const char *,
	    struct schema_metrics_filter *, json_t *);

#endif
