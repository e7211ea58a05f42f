/*
 * compat.c: what the clients of the FastAPI server this one replaces
 * read, beside our own fields (docs/compat.md).
 *
 * - compat_detail(): FastAPI's "detail" of an error: the message, or for
 *   a 422 the list of {loc, msg, type} Pydantic writes.
 * - compat_metrics(): the original's names in the documents the metrics
 *   SQL builds (ours stay as aliases for one release).
 *
 * Everything else the original reads is written where the answer is
 * built (api_predict.c, api_health.c with the 404's available_endpoints,
 * analyzer.c).  libc + jansson only.
 */
#include <string.h>

#include "compat.h"

/* Our rule -> Pydantic's error type; the first matching prefix wins. */
static const struct {
	const char	*prefix;
	const char	*type;
} compat_types[] = {
	{ "is required", "missing" },
	{ "must be a JSON object", "model_attributes_type" },
	{ "must be a string", "string_type" },
	{ "must be an integer", "int_type" },
	{ "must be a number", "float_type" },
	{ "must be true or false", "bool_type" },
	{ "must be a boolean", "bool_type" },
	{ "must not be empty", "string_too_short" },
	{ "must be valid UTF-8", "string_unicode" },
};

#define COMPAT_NTYPES	(sizeof(compat_types) / sizeof(compat_types[0]))

static const char	*compat_type(const char *);
static void		 compat_alias(json_t *, const char *, const char *);

/*
 * FastAPI's "detail" for an error (a new reference): for a 422 with
 * field details ({field, message}), one {loc, msg, type} per field, loc
 * ["body", field] (["query", field] when in_body is 0; ["body"] for the
 * body as a whole); else the message.
 */
json_t *
compat_detail(int status, const char *message, const json_t *details,
    int in_body)
{
	json_t		*list, *loc, *d;
	const char	*field, *msg;
	size_t		 i;

	if (status != 422 || json_array_size(details) == 0)
		return (json_string(message));

	list = json_array();
	json_array_foreach(details, i, d) {
		field = json_string_value(json_object_get(d, "field"));
		msg = json_string_value(json_object_get(d, "message"));
		if (msg == NULL)
			msg = message;
		loc = json_array();
		json_array_append_new(loc, json_string(in_body ? "body" :
		    "query"));
		if (field != NULL && !(in_body && strcmp(field, "body") == 0))
			json_array_append_new(loc, json_string(field));
		json_array_append_new(list, json_pack("{s:o,s:s,s:s}",
		    "loc", loc, "msg", msg, "type", compat_type(msg)));
	}
	return (list);
}

/*
 * Adds the original's names to a metrics document (route as in
 * api_metrics.c): sentiment_distribution beside label_distribution in
 * aggregated, total_metrics beside total_predictions in count.
 */
void
compat_metrics(const char *route, json_t *doc)
{
	if (strcmp(route, "aggregated") == 0)
		compat_alias(doc, "label_distribution",
		    "sentiment_distribution");
	else if (strcmp(route, "count") == 0)
		compat_alias(doc, "total_predictions", "total_metrics");
}

static const char *
compat_type(const char *msg)
{
	size_t	i, n;

	for (i = 0; i < COMPAT_NTYPES; i++) {
		n = strlen(compat_types[i].prefix);
		if (strncmp(msg, compat_types[i].prefix, n) == 0)
			return (compat_types[i].type);
	}
	return ("value_error");
}

/* doc[to] = a copy of doc[from], when doc has from. */
static void
compat_alias(json_t *doc, const char *from, const char *to)
{
	json_t	*v;

	if ((v = json_object_get(doc, from)) != NULL)
		json_object_set_new(doc, to, json_deep_copy(v));
}
