/*
 * test_schema_metrics.c: validation of the /metrics/... requests
 * (src/schema_metrics.c), one table of cases per route.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "schema_metrics.h"
#include "tap.h"

/* The comma-separated fields named in details, in order. */
static const char *
fields(json_t *details, char *buf, size_t len)
{
	size_t	 i, off;
	json_t	*d;

	buf[0] = '\0';
	off = 0;
	json_array_foreach(details, i, d) {
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off > 0 ? "," : "",
		    json_string_value(json_object_get(d, "field")));
		if (off >= len)
			break;
	}
	return (buf);
}

static void
test_aggregated(void)
{
	static const struct {
		const char	*json;
		int		 ok;
		const char	*fields;
		int		 window;
		const char	*name;
		const char	*version;
	} cases[] = {
		{ "{}", 1, "", 60, "", "" },
		{ "{\"time_window_minutes\": 1}", 1, "", 1, "", "" },
		{ "{\"time_window_minutes\": 1440}", 1, "", 1440, "", "" },
		{ "{\"time_window_minutes\": null}", 1, "", 60, "", "" },
		{ "{\"time_window_minutes\": 0}", 0, "time_window_minutes", 0,
		    NULL, NULL },
		{ "{\"time_window_minutes\": 1441}", 0, "time_window_minutes",
		    0, NULL, NULL },
		{ "{\"time_window_minutes\": -5}", 0, "time_window_minutes",
		    0, NULL, NULL },
		{ "{\"time_window_minutes\": 60.5}", 0, "time_window_minutes",
		    0, NULL, NULL },
		{ "{\"time_window_minutes\": \"60\"}", 0,
		    "time_window_minutes", 0, NULL, NULL },
		{ "{\"time_window_minutes\": true}", 0, "time_window_minutes",
		    0, NULL, NULL },
		{ "{\"model_name\": \"vader\", \"model_version\": \"3.3.2\"}",
		    1, "", 60, "vader", "3.3.2" },
		{ "{\"model_name\": null, \"model_version\": null}", 1, "", 60,
		    "", "" },
		{ "{\"model_name\": \"Vader\"}", 0, "model_name", 0, NULL,
		    NULL },
		{ "{\"model_name\": 7}", 0, "model_name", 0, NULL, NULL },
		{ "{\"model_name\": \"\"}", 0, "model_name", 0, NULL, NULL },
		{ "{\"model_version\": \"3.3\"}", 0, "model_version", 0, NULL,
		    NULL },
		{ "{\"model_version\": \"03.3.2\"}", 0, "model_version", 0,
		    NULL, NULL },
		{ "{\"model_version\": \"1.2.3.4\"}", 0, "model_version", 0,
		    NULL, NULL },
		{ "{\"time_window_minutes\": 0, \"model_name\": \"A\"}", 0,
		    "time_window_minutes,model_name", 0, NULL, NULL },
		{ "[]", 0, "body", 0, NULL, NULL },
	};
	struct schema_metrics_aggregated	 out;
	json_t					*body, *details;
	char					 buf[256];
	size_t					 i;
	int					 ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = json_loads(cases[i].json, 0, NULL);
		details = json_array();
		ok = schema_metrics_aggregated(body, &out, details);
		tap_is_int(ok, cases[i].ok, "aggregated %s: %s", cases[i].json,
		    cases[i].ok ? "valid" : "invalid");
		tap_is_str(fields(details, buf, sizeof(buf)), cases[i].fields,
		    "aggregated %s: fields named", cases[i].json);
		if (ok) {
			tap_is_int(out.window_minutes, cases[i].window,
			    "aggregated %s: window", cases[i].json);
			tap_is_str(out.filter.model_name, cases[i].name,
			    "aggregated %s: model_name", cases[i].json);
			tap_is_str(out.filter.model_version,
			    cases[i].version, "aggregated %s: model_version",
			    cases[i].json);
		}
		json_decref(body);
		json_decref(details);
	}
}

static void
test_timeseries(void)
{
	static const struct {
		const char	*window, *bucket, *name, *version;
		int		 ok;
		const char	*fields;
		int		 want_window, want_bucket;
	} cases[] = {
		{ NULL, NULL, NULL, NULL, 1, "", 60, 1 },
		{ "1440", "1", NULL, NULL, 1, "", 1440, 1 },
		{ "60", "60", NULL, NULL, 1, "", 60, 60 },
		{ "50", "20", "vader", "3.3.2", 1, "", 50, 20 },
		{ "0", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "1441", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "abc", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "-5", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "+5", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ " 5", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "99999999999", NULL, NULL, NULL, 0, "window_minutes", 0, 0 },
		{ "60", "0", NULL, NULL, 0, "bucket_minutes", 0, 0 },
		{ "60", "61", NULL, NULL, 0, "bucket_minutes", 0, 0 },
		{ "10", "1.5", NULL, NULL, 0, "bucket_minutes", 0, 0 },
		{ "0", "0", NULL, NULL, 0, "window_minutes,bucket_minutes",
		    0, 0 },
		{ "60", "5", "BAD", "x", 0, "model_name,model_version", 0, 0 },
		{ "60", "5", "", "", 1, "", 60, 5 },
	};
	struct schema_metrics_timeseries	 out;
	json_t					*details;
	char					 buf[256];
	size_t					 i;
	int					 ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		details = json_array();
		ok = schema_metrics_timeseries(cases[i].window,
		    cases[i].bucket, cases[i].name, cases[i].version, &out,
		    details);
		tap_is_int(ok, cases[i].ok, "timeseries case %zu: %s", i,
		    cases[i].ok ? "valid" : "invalid");
		tap_is_str(fields(details, buf, sizeof(buf)), cases[i].fields,
		    "timeseries case %zu: fields named", i);
		if (ok) {
			tap_is_int(out.window_minutes, cases[i].want_window,
			    "timeseries case %zu: window", i);
			tap_is_int(out.bucket_minutes, cases[i].want_bucket,
			    "timeseries case %zu: bucket", i);
		}
		json_decref(details);
	}
}

static void
test_thresholds(void)
{
	static const struct {
		const char	*json;
		int		 ok;
		const char	*fields;
		const char	*model;
		int		 nset;
	} cases[] = {
		{ "{\"min_confidence_warning\": 0.7}", 1, "", "default", 1 },
		{ "{\"min_confidence_warning\": 0.7, "
		    "\"min_confidence_critical\": 0.5, "
		    "\"max_inference_time_warning_ms\": 100, "
		    "\"max_inference_time_critical_ms\": 300}", 1, "",
		    "default", 4 },
		{ "{\"model_name\": \"vader\", "
		    "\"max_inference_time_critical_ms\": 1000}", 1, "",
		    "vader", 1 },
		{ "{\"min_confidence_warning\": 1, "
		    "\"min_confidence_critical\": 0}", 1, "", "default", 2 },
		{ "{\"min_confidence_warning\": null, "
		    "\"min_confidence_critical\": 0.1}", 1, "", "default", 1 },
		{ "{}", 0, "body", NULL, 0 },
		{ "{\"model_name\": \"vader\"}", 0, "body", NULL, 0 },
		{ "{\"min_confidence_warn\": 0.5}", 0, "body", NULL, 0 },
		{ "{\"min_confidence_warning\": 1.1}", 0,
		    "min_confidence_warning", NULL, 0 },
		{ "{\"min_confidence_critical\": -0.1}", 0,
		    "min_confidence_critical", NULL, 0 },
		{ "{\"min_confidence_warning\": \"0.5\"}", 0,
		    "min_confidence_warning", NULL, 0 },
		{ "{\"min_confidence_warning\": true}", 0,
		    "min_confidence_warning", NULL, 0 },
		{ "{\"max_inference_time_warning_ms\": 0}", 0,
		    "max_inference_time_warning_ms", NULL, 0 },
		{ "{\"max_inference_time_critical_ms\": -1}", 0,
		    "max_inference_time_critical_ms", NULL, 0 },
		{ "{\"min_confidence_warning\": 0.5, "
		    "\"min_confidence_critical\": 0.5}", 0,
		    "min_confidence_critical", NULL, 0 },
		{ "{\"min_confidence_warning\": 0.4, "
		    "\"min_confidence_critical\": 0.6}", 0,
		    "min_confidence_critical", NULL, 0 },
		{ "{\"max_inference_time_warning_ms\": 300, "
		    "\"max_inference_time_critical_ms\": 300}", 0,
		    "max_inference_time_warning_ms", NULL, 0 },
		{ "{\"max_inference_time_warning_ms\": 500, "
		    "\"max_inference_time_critical_ms\": 200}", 0,
		    "max_inference_time_warning_ms", NULL, 0 },
		{ "{\"model_name\": \"No\", \"min_confidence_warning\": 2}", 0,
		    "model_name,min_confidence_warning", NULL, 0 },
		{ "\"x\"", 0, "body", NULL, 0 },
	};
	struct schema_metrics_thresholds	 out;
	json_t					*body, *details;
	char					 buf[256];
	size_t					 i;
	int					 ok, j, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		details = json_array();
		ok = schema_metrics_thresholds(body, &out, details);
		tap_is_int(ok, cases[i].ok, "thresholds %s: %s", cases[i].json,
		    cases[i].ok ? "valid" : "invalid");
		tap_is_str(fields(details, buf, sizeof(buf)), cases[i].fields,
		    "thresholds %s: fields named", cases[i].json);
		if (ok) {
			for (n = 0, j = 0; j < SCHEMA_METRICS_NTHRESHOLDS; j++)
				n += out.set[j];
			tap_is_int(n, cases[i].nset, "thresholds %s: values "
			    "set", cases[i].json);
			tap_is_str(out.model_name, cases[i].model,
			    "thresholds %s: model", cases[i].json);
		}
		json_decref(body);
		json_decref(details);
	}

	body = json_loads("{\"min_confidence_critical\": 0.25, "
	    "\"max_inference_time_warning_ms\": 150.5}", 0, NULL);
	ok = schema_metrics_thresholds(body, &out, NULL);
	tap_ok(ok && !out.set[SCHEMA_METRICS_CONF_WARNING] &&
	    out.set[SCHEMA_METRICS_CONF_CRITICAL] &&
	    out.value[SCHEMA_METRICS_CONF_CRITICAL] == 0.25 &&
	    out.value[SCHEMA_METRICS_LATENCY_WARNING] == 150.5,
	    "thresholds: values and flags are stored per field");
	json_decref(body);
}

int
main(void)
{
	test_aggregated();
	test_timeseries();
	test_thresholds();
	return (tap_done());
}
