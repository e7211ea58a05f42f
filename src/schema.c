/*
 * schema.c: validation of request bodies against each route's shape.
 *
 * The HTTP layer has already parsed the body as JSON (rejecting invalid
 * JSON, invalid UTF-8, NUL escapes and duplicate keys); what is left is
 * the shape: required fields, types, ranges.  Unknown fields are ignored
 * so clients can send more than we read.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"

static int	schema_predict_pin(const json_t *, struct schema_predict *,
		    json_t *);
static int	schema_analyze_versions(const json_t *,
		    struct schema_analyze *, json_t *);

/*
 * Validates a /predict body.  On success out->text borrows from body, so
 * body must outlive it.
 */
int
schema_predict(const json_t *body, struct schema_predict *out,
    json_t *details)
{
	const json_t	*text, *metrics;
	int		 ok;

	memset(out, 0, sizeof(*out));
	out->include_metrics = 1;
	ok = 1;

	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		return (0);
	}

	text = json_object_get(body, "text");
	if (!schema_text(text, "text", &out->text, &out->len,
	    &out->codepoints, details))
		ok = 0;

	metrics = json_object_get(body, "include_metrics");
	if (metrics != NULL) {
		if (!json_is_boolean(metrics)) {
			schema_detail(details, "include_metrics",
			    "must be a boolean");
			ok = 0;
		} else {
			out->include_metrics = json_is_true(metrics);
		}
	}

	/* Optional pinning (docs/models.md); null is as absent. */
	if (!schema_predict_pin(body, out, details))
		ok = 0;

	return (ok);
}

/*
 * One text to score (the "text" of /predict, each of "texts" of
 * /predict/batch), named field in the details.  Returns 1 with the text
 * borrowed from v.
 */
int
schema_text(const json_t *v, const char *field, const char **text,
    size_t *len, long *codepoints, json_t *details)
{
	const char	*why;

	why = NULL;
	if (v == NULL) {
		why = "is required";
	} else if (!json_is_string(v)) {
		why = "must be a string";
	} else {
		*text = json_string_value(v);
		*len = json_string_length(v);
		*codepoints = schema_utf8_count(*text, *len);
		if (*codepoints < 0)
			why = "must be valid UTF-8";
		else if (memchr(*text, '\0', *len) != NULL)
			why = "must not contain NUL characters";
		else if (*codepoints == 0)
			why = "must not be empty";
		else if (*codepoints > SCHEMA_TEXT_MAX)
			why = "must be at most 1000 characters "
			    "(Unicode code points)";
	}
	if (why != NULL) {
		schema_detail(details, field, why);
		return (0);
	}
	return (1);
}

/*
 * Validates a /predict/batch body: "texts", 1..SCHEMA_BATCH_MAX texts
 * each under /predict's rules, plus /predict's other fields.  A bad text
 * is named by its index ("texts[3]"), and only the first is reported.
 * out->texts borrows from body.
 */
int
schema_predict_batch(const json_t *body, struct schema_predict_batch *out,
    json_t *details)
{
	struct schema_predict	 pin;
	const json_t		*texts, *metrics;
	char			 field[32];
	size_t			 i;
	int			 ok;

	memset(out, 0, sizeof(*out));
	out->include_metrics = 1;
	out->bad_index = -1;
	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		return (0);
	}
	ok = 1;
	texts = json_object_get(body, "texts");
	if (texts == NULL) {
		schema_detail(details, "texts", "is required");
		ok = 0;
	} else if (!json_is_array(texts) || json_array_size(texts) == 0 ||
	    json_array_size(texts) > SCHEMA_BATCH_MAX) {
		schema_detail(details, "texts",
		    "must be an array of 1 to 256 texts");
		ok = 0;
	} else {
		out->n = json_array_size(texts);
		for (i = 0; i < out->n; i++) {
			snprintf(field, sizeof(field), "texts[%zu]", i);
			if (!schema_text(json_array_get(texts, i), field,
			    &out->text[i], &out->len[i],
			    &out->codepoints[i], details)) {
				out->bad_index = (long)i;
				ok = 0;
				break;
			}
		}
	}
	metrics = json_object_get(body, "include_metrics");
	if (metrics != NULL) {
		if (!json_is_boolean(metrics)) {
			schema_detail(details, "include_metrics",
			    "must be a boolean");
			ok = 0;
		} else {
			out->include_metrics = json_is_true(metrics);
		}
	}
	memset(&pin, 0, sizeof(pin));
	if (!schema_predict_pin(body, &pin, details))
		ok = 0;
	out->model = pin.model;
	out->model_version = pin.model_version;
	out->routing_key = pin.routing_key;
	return (ok);
}

/* "model", "model_version" and "routing_key" of a predict body. */
static int
schema_predict_pin(const json_t *body, struct schema_predict *out,
    json_t *details)
{
	const json_t	*v;
	int		 ok;

	ok = 1;
	v = json_object_get(body, "model");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !schema_model_name(json_string_value(v))) {
			schema_detail(details, "model",
			    "must match ^[a-z0-9][a-z0-9_.-]{0,62}$");
			ok = 0;
		} else {
			out->model = json_string_value(v);
		}
	}
	v = json_object_get(body, "model_version");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !schema_semver(json_string_value(v))) {
			schema_detail(details, "model_version",
			    "must be a version X.Y.Z");
			ok = 0;
		} else {
			out->model_version = json_string_value(v);
		}
	}
	v = json_object_get(body, "routing_key");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) || json_string_length(v) == 0 ||
		    json_string_length(v) > SCHEMA_ROUTING_KEY_MAX) {
			schema_detail(details, "routing_key",
			    "must be a string of 1 to 256 bytes");
			ok = 0;
		} else {
			out->routing_key = json_string_value(v);
		}
	}
	return (ok);
}

/* Semantic Versioning core X.Y.Z, no leading zeros, each up to 9 digits. */
int
schema_semver(const char *v)
{
	int	part, digits;

	part = 0;
	digits = 0;
	for (;; v++) {
		if (*v >= '0' && *v <= '9') {
			if ((digits == 1 && v[-1] == '0') || ++digits > 9)
				return (0);
			continue;
		}
		if (digits == 0)
			return (0);
		if (*v == '.' && part < 2) {
			part++;
			digits = 0;
			continue;
		}
		return (*v == '\0' && part == 2);
	}
}

/*
 * Validates an /analyze/performance body: time_window_minutes an integer
 * in 1..1440 (default 60), model_name absent, null or a model name.  On
 * success out->model_name borrows from body.
 */
int
schema_analyze(const json_t *body, struct schema_analyze *out,
    json_t *details)
{
	const json_t	*w, *name;
	json_int_t	 v;
	int		 ok;

	memset(out, 0, sizeof(*out));
	out->window_minutes = SCHEMA_WINDOW_DEFAULT;
	ok = 1;

	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		return (0);
	}

	w = json_object_get(body, "time_window_minutes");
	if (w != NULL) {
		if (!json_is_integer(w)) {
			schema_detail(details, "time_window_minutes",
			    "must be an integer");
			ok = 0;
		} else {
			v = json_integer_value(w);
			if (v < 1 || v > SCHEMA_WINDOW_MAX) {
				schema_detail(details, "time_window_minutes",
				    "must be between 1 and 1440");
				ok = 0;
			} else {
				out->window_minutes = (int)v;
			}
		}
	}

	name = json_object_get(body, "model_name");
	if (name != NULL && !json_is_null(name)) {
		if (!json_is_string(name)) {
			schema_detail(details, "model_name",
			    "must be a string or null");
			ok = 0;
		} else if (!schema_model_name(json_string_value(name))) {
			schema_detail(details, "model_name",
			    "must match ^[a-z0-9][a-z0-9_.-]{0,62}$");
			ok = 0;
		} else {
			out->model_name = json_string_value(name);
		}
	}

	/* A candidate version against its baseline (docs/models.md). */
	if (!schema_analyze_versions(body, out, details))
		ok = 0;

	return (ok);
}

static int
schema_analyze_versions(const json_t *body, struct schema_analyze *out,
    json_t *details)
{
	static const char	*const keys[2] = { "candidate_version",
				    "baseline_version" };
	const char		**dst[2];
	const json_t		*v;
	int			 i, ok;

	ok = 1;
	dst[0] = &out->candidate_version;
	dst[1] = &out->baseline_version;
	for (i = 0; i < 2; i++) {
		v = json_object_get(body, keys[i]);
		if (v == NULL || json_is_null(v))
			continue;
		if (!json_is_string(v) ||
		    !schema_semver(json_string_value(v))) {
			schema_detail(details, keys[i],
			    "must be a version X.Y.Z or null");
			ok = 0;
			continue;
		}
		*dst[i] = json_string_value(v);
	}
	if (out->baseline_version != NULL && out->candidate_version == NULL) {
		schema_detail(details, "baseline_version",
		    "needs candidate_version");
		ok = 0;
	}
	return (ok);
}

/*
 * 1 if s is a model name as app.model_versions stores them
 * (^[a-z0-9][a-z0-9_.-]{0,62}$): safe in SQL, prompts and cache keys.
 */
int
schema_model_name(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= SCHEMA_MODEL_NAME_MAX)
			return (0);
		if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (i > 0 && (s[i] == '_' || s[i] == '.' || s[i] == '-'))
			continue;
		return (0);
	}
	return (i > 0);
}

/*
 * Counts the code points of s[0..len), or returns -1 if it is not
 * well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF).
 */
long
schema_utf8_count(const char *s, size_t len)
{
	const unsigned char	*p, *end;
	unsigned int		 c, cp, min;
	int			 n, i;
	long			 count;

	p = (const unsigned char *)s;
	end = p + len;
	count = 0;

	while (p < end) {
		c = *p++;
		if (c < 0x80) {
			count++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return (-1);
		}
		if (end - p < n)
			return (-1);
		for (i = 0; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return (-1);
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return (-1);
		p += n;
		count++;
	}

	return (count);
}

/* Appends {"field": field, "message": message} to details. */
void
schema_detail(json_t *details, const char *field, const char *message)
{
	if (details == NULL)
		return;
	json_array_append_new(details, json_pack("{s:s,s:s}",
	    "field", field, "message", message));
}
