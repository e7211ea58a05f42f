/*
 * schema_metrics.c: validation of the /metrics/... requests.
 *
 * The same rules as the SQL side (sql/40_thresholds.sql and the CHECKs of
 * app.metric_thresholds), checked here first so a client gets a 422 that
 * names every bad field at once.  The database stays the authority: a
 * partial threshold update can only be checked against the stored values
 * there, and its error names the field too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "schema_metrics.h"

const char *const schema_metrics_threshold_names[] = {
	"min_confidence_warning",
	"min_confidence_critical",
	"max_inference_time_warning_ms",
	"max_inference_time_critical_ms",
};

static int	metrics_json_window(const json_t *, const char *, int *,
		    json_t *);
static int	metrics_json_string(const json_t *, const char *, char *,
		    size_t, int (*)(const char *), const char *, json_t *);
static int	metrics_qs_int(const char *, const char *, int, int, int *,
		    json_t *);
static int	metrics_name_ok(const char *);
static int	metrics_version_ok(const char *);

/*
 * POST /metrics/aggregated: {"time_window_minutes": 1..1440 (default 60),
 * "model_name": optional, "model_version": optional}.  null is the same
 * as leaving a field out.
 */
int
schema_metrics_aggregated(const json_t *body,
    struct schema_metrics_aggregated *out, json_t *details)
{
	int	ok;

	memset(out, 0, sizeof(*out));
	out->window_minutes = SCHEMA_METRICS_WINDOW_DEFAULT;

	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		return (0);
	}

	ok = metrics_json_window(body, "time_window_minutes",
	    &out->window_minutes, details);
	ok &= metrics_json_string(body, "model_name", out->filter.model_name,
	    sizeof(out->filter.model_name), metrics_name_ok,
	    "must be a model name: 1..63 of a-z 0-9 _ . - starting with a "
	    "letter or digit", details);
	ok &= metrics_json_string(body, "model_version",
	    out->filter.model_version, sizeof(out->filter.model_version),
	    metrics_version_ok, "must be a version X.Y.Z", details);
	return (ok);
}

/*
 * GET /metrics/timeseries: the query arguments as Kore hands them over
 * (NULL when absent).  window_minutes 1..1440 (default 60),
 * bucket_minutes 1..window_minutes (default 1), at most
 * SCHEMA_METRICS_BUCKETS_MAX buckets, and the model filter.
 */
int
schema_metrics_timeseries(const char *window, const char *bucket,
    const char *model_name, const char *model_version,
    struct schema_metrics_timeseries *out, json_t *details)
{
	char	msg[128];
	int	ok, nbuckets;

	memset(out, 0, sizeof(*out));
	out->window_minutes = SCHEMA_METRICS_WINDOW_DEFAULT;
	out->bucket_minutes = SCHEMA_METRICS_BUCKET_DEFAULT;

	ok = metrics_qs_int("window_minutes", window, 1,
	    SCHEMA_METRICS_WINDOW_MAX, &out->window_minutes, details);
	if (ok) {
		ok = metrics_qs_int("bucket_minutes", bucket, 1,
		    out->window_minutes, &out->bucket_minutes, details);
	} else {
		/* The bucket's range depends on the window: check alone. */
		(void)metrics_qs_int("bucket_minutes", bucket, 1,
		    SCHEMA_METRICS_WINDOW_MAX, &out->bucket_minutes, details);
	}
	if (ok) {
		nbuckets = (out->window_minutes + out->bucket_minutes - 1) /
		    out->bucket_minutes;
		if (nbuckets > SCHEMA_METRICS_BUCKETS_MAX) {
			snprintf(msg, sizeof(msg), "makes %d buckets; at most "
			    "%d", nbuckets, SCHEMA_METRICS_BUCKETS_MAX);
			schema_detail(details, "bucket_minutes", msg);
			ok = 0;
		}
	}
	ok &= schema_metrics_filter(model_name, model_version, &out->filter,
	    details);
	return (ok);
}

/*
 * PUT /metrics/thresholds: any of the four thresholds (numbers; null or
 * absent keeps the stored value), at least one, and "model_name"
 * (default "default").  Ranges: confidences 0..1, latencies > 0; when
 * both of a pair are given, critical < warning for confidence and
 * warning < critical for latency.
 */
int
schema_metrics_thresholds(const json_t *body,
    struct schema_metrics_thresholds *out, json_t *details)
{
	const json_t	*v;
	const char	*name;
	double		 d;
	int		 ok, i, any;

	memset(out, 0, sizeof(*out));
	snprintf(out->model_name, sizeof(out->model_name), "default");

	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		return (0);
	}

	ok = metrics_json_string(body, "model_name", out->model_name,
	    sizeof(out->model_name), metrics_name_ok,
	    "must be a model name (1..63 of a-z 0-9 _ . - starting with a "
	    "letter or digit) or \"default\"", details);

	any = 0;
	for (i = 0; i < SCHEMA_METRICS_NTHRESHOLDS; i++) {
		name = schema_metrics_threshold_names[i];
		v = json_object_get(body, name);
		if (v == NULL || json_is_null(v))
			continue;
		any = 1;
		if (!json_is_number(v)) {
			schema_detail(details, name, "must be a number");
			ok = 0;
			continue;
		}
		d = json_number_value(v);
		if (i == SCHEMA_METRICS_CONF_WARNING ||
		    i == SCHEMA_METRICS_CONF_CRITICAL) {
			if (!(d >= 0.0 && d <= 1.0)) {
				schema_detail(details, name,
				    "must be between 0 and 1");
				ok = 0;
				continue;
			}
		} else if (!(d > 0.0)) {
			schema_detail(details, name, "must be greater than 0");
			ok = 0;
			continue;
		}
		out->set[i] = 1;
		out->value[i] = d;
	}

	if (!any) {
		schema_detail(details, "body", "must set at least one of "
		    "min_confidence_warning, min_confidence_critical, "
		    "max_inference_time_warning_ms, "
		    "max_inference_time_critical_ms");
		return (0);
	}

	if (out->set[SCHEMA_METRICS_CONF_WARNING] &&
	    out->set[SCHEMA_METRICS_CONF_CRITICAL] &&
	    !(out->value[SCHEMA_METRICS_CONF_CRITICAL] <
	    out->value[SCHEMA_METRICS_CONF_WARNING])) {
		schema_detail(details, "min_confidence_critical",
		    "must be below min_confidence_warning");
		ok = 0;
	}
	if (out->set[SCHEMA_METRICS_LATENCY_WARNING] &&
	    out->set[SCHEMA_METRICS_LATENCY_CRITICAL] &&
	    !(out->value[SCHEMA_METRICS_LATENCY_WARNING] <
	    out->value[SCHEMA_METRICS_LATENCY_CRITICAL])) {
		schema_detail(details, "max_inference_time_warning_ms",
		    "must be below max_inference_time_critical_ms");
		ok = 0;
	}

	return (ok);
}

/*
 * The model filter from query arguments (NULL or "" when absent): a model
 * name and a version X.Y.Z, as app.model_versions stores them.
 */
int
schema_metrics_filter(const char *model_name, const char *model_version,
    struct schema_metrics_filter *out, json_t *details)
{
	int	ok;

	memset(out, 0, sizeof(*out));
	ok = 1;
	if (model_name != NULL && model_name[0] != '\0') {
		if (!metrics_name_ok(model_name)) {
			schema_detail(details, "model_name", "must be a model "
			    "name: 1..63 of a-z 0-9 _ . - starting with a "
			    "letter or digit");
			ok = 0;
		} else {
			snprintf(out->model_name, sizeof(out->model_name),
			    "%s", model_name);
		}
	}
	if (model_version != NULL && model_version[0] != '\0') {
		if (!metrics_version_ok(model_version)) {
			schema_detail(details, "model_version",
			    "must be a version X.Y.Z");
			ok = 0;
		} else {
			snprintf(out->model_version,
			    sizeof(out->model_version), "%s", model_version);
		}
	}
	return (ok);
}

/* An optional integer window in 1..SCHEMA_METRICS_WINDOW_MAX. */
static int
metrics_json_window(const json_t *body, const char *field, int *out,
    json_t *details)
{
	const json_t	*v;
	json_int_t	 n;

	v = json_object_get(body, field);
	if (v == NULL || json_is_null(v))
		return (1);
	if (!json_is_integer(v)) {
		schema_detail(details, field, "must be an integer");
		return (0);
	}
	n = json_integer_value(v);
	if (n < 1 || n > SCHEMA_METRICS_WINDOW_MAX) {
		schema_detail(details, field, "must be between 1 and 1440");
		return (0);
	}
	*out = (int)n;
	return (1);
}

/* An optional string that valid() accepts, copied into buf. */
static int
metrics_json_string(const json_t *body, const char *field, char *buf,
    size_t len, int (*valid)(const char *), const char *rule,
    json_t *details)
{
	const json_t	*v;
	const char	*s;

	v = json_object_get(body, field);
	if (v == NULL || json_is_null(v))
		return (1);
	if (!json_is_string(v)) {
		schema_detail(details, field, "must be a string or null");
		return (0);
	}
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || !valid(s)) {
		schema_detail(details, field, rule);
		return (0);
	}
	snprintf(buf, len, "%s", s);
	return (1);
}

/*
 * A query argument holding a decimal integer in min..max (digits only: no
 * sign, no spaces).  Absent (NULL) keeps *out.
 */
static int
metrics_qs_int(const char *field, const char *s, int min, int max, int *out,
    json_t *details)
{
	char		 msg[96];
	const char	*p;
	long		 n;

	if (s == NULL)
		return (1);
	snprintf(msg, sizeof(msg), "must be an integer between %d and %d",
	    min, max);
	if (*s == '\0' || strlen(s) > 9) {
		schema_detail(details, field, msg);
		return (0);
	}
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9') {
			schema_detail(details, field, msg);
			return (0);
		}
	}
	n = strtol(s, NULL, 10);
	if (n < min || n > max) {
		schema_detail(details, field, msg);
		return (0);
	}
	*out = (int)n;
	return (1);
}

/* ^[a-z0-9][a-z0-9_.-]{0,62}$, the CHECK of app.model_versions.name. */
static int
metrics_name_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= SCHEMA_METRICS_NAME_MAX)
			return (0);
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '_' || s[i] == '.' || s[i] == '-'))
			continue;
		return (0);
	}
	return (i > 0);
}

/* X.Y.Z without leading zeros, the CHECK of app.model_versions.version. */
static int
metrics_version_ok(const char *s)
{
	int	part, digits;

	if (strlen(s) > SCHEMA_METRICS_NAME_MAX)
		return (0);
	part = 0;
	digits = 0;
	for (;; s++) {
		if (*s >= '0' && *s <= '9') {
			if (digits == 1 && s[-1] == '0')
				return (0);	/* leading zero */
			digits++;
			continue;
		}
		if (digits == 0)
			return (0);
		if (*s == '\0')
			return (part == 2);
		if (*s != '.' || part == 2)
			return (0);
		part++;
		digits = 0;
	}
}
