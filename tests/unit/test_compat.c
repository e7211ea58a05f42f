/*
 * test_compat.c: the original server's error detail and names
 * (src/compat.c, docs/compat.md).
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "compat.h"
#include "tap.h"

static char	*dump(const json_t *);

int
main(void)
{
	json_t	*details, *d, *doc;
	char	*s;

	d = compat_detail(404, "no endpoint GET /x", NULL, 0);
	tap_is_str(json_string_value(d), "no endpoint GET /x",
	    "404: detail is the message");
	json_decref(d);

	details = json_array();
	d = compat_detail(422, "does not match", details, 1);
	tap_ok(json_is_string(d), "422 without field details: the message");
	json_decref(d);

	json_array_append_new(details, json_pack("{s:s,s:s}", "field",
	    "text", "message", "must not be empty"));
	json_array_append_new(details, json_pack("{s:s,s:s}", "field",
	    "include_metrics", "message", "must be true or false"));
	json_array_append_new(details, json_pack("{s:s,s:s}", "field",
	    "body", "message", "must be a JSON object"));
	json_array_append_new(details, json_pack("{s:s,s:s}", "field",
	    "time_window_minutes", "message", "must be between 1 and 1440"));
	d = compat_detail(422, "does not match", details, 1);
	s = dump(d);
	tap_is_str(s, "[{\"loc\":[\"body\",\"text\"],\"msg\":\"must not be "
	    "empty\",\"type\":\"string_too_short\"},{\"loc\":[\"body\","
	    "\"include_metrics\"],\"msg\":\"must be true or false\",\"type\":"
	    "\"bool_type\"},{\"loc\":[\"body\"],\"msg\":\"must be a JSON "
	    "object\",\"type\":\"model_attributes_type\"},{\"loc\":[\"body\","
	    "\"time_window_minutes\"],\"msg\":\"must be between 1 and 1440\","
	    "\"type\":\"value_error\"}]",
	    "422: one {loc, msg, type} per field, in order");
	free(s);
	json_decref(d);

	d = compat_detail(422, "does not match", details, 0);
	tap_is_str(json_string_value(json_array_get(json_object_get(
	    json_array_get(d, 0), "loc"), 0)), "query",
	    "422 of query arguments: loc starts with query");
	tap_is_int((long long)json_array_size(json_object_get(json_array_get(
	    d, 2), "loc")), 2, "query: a field named body is a query field");
	json_decref(d);
	json_decref(details);

	doc = json_pack("{s:I,s:{s:i,s:i,s:i}}", "total_predictions",
	    (json_int_t)7, "label_distribution", "positive", 4, "negative", 2,
	    "neutral", 1);
	compat_metrics("aggregated", doc);
	tap_ok(json_equal(json_object_get(doc, "sentiment_distribution"),
	    json_object_get(doc, "label_distribution")),
	    "aggregated: sentiment_distribution = label_distribution");
	tap_ok(json_object_get(doc, "total_metrics") == NULL,
	    "aggregated: no total_metrics");
	compat_metrics("count", doc);
	tap_is_int(json_integer_value(json_object_get(doc, "total_metrics")),
	    7, "count: total_metrics = total_predictions");
	json_decref(doc);

	doc = json_pack("{s:i}", "window_minutes", 60);
	compat_metrics("timeseries", doc);
	tap_is_int((long long)json_object_size(doc), 1,
	    "timeseries: nothing added");
	json_decref(doc);

	return (tap_done());
}

static char *
dump(const json_t *v)
{
	return (json_dumps(v, JSON_COMPACT));
}
