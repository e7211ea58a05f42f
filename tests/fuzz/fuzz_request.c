/*
 * fuzz_request.c: libFuzzer target for what a request body meets before
 * any database work: json_loadb() with exactly http_json_read()'s flags,
 * the error envelope of a 400, and every body validator (schema.c,
 * schema_metrics.c) with the 422 envelope built from its details.  The
 * same bytes also go to the query-string validators and to
 * schema_utf8_count(), which is checked against jansson's own UTF-8
 * validation.
 *
 * Properties (abort() when broken):
 * - a validator's verdict and its details agree: 1 with no detail, 0
 *   with at least one {"field", "message"};
 * - a /predict body that passes holds 1..1000 code points, no NUL, and
 *   borrows its text from the body;
 * - an /analyze, /metrics/aggregated or /metrics/thresholds body that
 *   passes holds values in their documented ranges;
 * - every error envelope (400 and 422) can be encoded, details included;
 * - schema_utf8_count() accepts exactly what jansson accepts as UTF-8
 *   and counts the bytes that do not continue a sequence.
 *
 * Build and run: make fuzz (tests/fuzz/run.sh).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "schema.h"
#include "schema_metrics.h"

/* http_json.c's json_loadb() flags, on purpose not shared by a macro. */
#define FUZZ_JSON_FLAGS		(JSON_REJECT_DUPLICATES | JSON_DECODE_ANY)
#define FUZZ_QS_MAX		4

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check(int, const char *);
static void	fuzz_envelope(const char *, json_t *);
static void	fuzz_details(int, json_t *, const char *);
static void	fuzz_parse_error(const json_error_t *);
static void	fuzz_bodies(const json_t *);
static void	fuzz_query(const uint8_t *, size_t);
static void	fuzz_utf8(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t	 jerr;
	json_t		*body;

	body = json_loadb((const char *)data, size, FUZZ_JSON_FLAGS, &jerr);
	if (body == NULL)
		fuzz_parse_error(&jerr);
	else
		fuzz_bodies(body);
	json_decref(body);

	fuzz_query(data, size);
	fuzz_utf8(data, size);
	return (0);
}

static void
fuzz_check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_request: property broken: %s\n", what);
	abort();
}

/*
 * Builds and encodes the envelope exactly as http_json_error() and
 * http_json_reply() do; details is stolen.
 */
static void
fuzz_envelope(const char *code, json_t *details)
{
	json_t	*env;
	char	*s;

	if (details == NULL)
		details = json_array();
	env = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code,
	    "message", "fuzz", "details", details);
	fuzz_check(env != NULL, "the error envelope packs");
	s = json_dumps(env, JSON_COMPACT | JSON_REAL_PRECISION(15));
	fuzz_check(s != NULL, "the error envelope encodes");
	free(s);
	json_decref(env);
}

/* A validator said ok; details must agree, each entry well formed. */
static void
fuzz_details(int ok, json_t *details, const char *route)
{
	json_t	*d;
	size_t	 i;

	fuzz_check(json_is_array(details), route);
	if (ok) {
		fuzz_check(json_array_size(details) == 0,
		    "a valid body has no details");
	} else {
		fuzz_check(json_array_size(details) > 0,
		    "an invalid body names at least one problem");
	}
	json_array_foreach(details, i, d) {
		fuzz_check(json_is_string(json_object_get(d, "field")) &&
		    json_is_string(json_object_get(d, "message")),
		    "each detail has a field and a message");
	}
}

/*
 * The 400 of http_json_read(): its details carry jansson's message, line
 * and column.  jansson's text can quote part of a UTF-8 sequence ("invalid
 * escape near '"\u<0xc3>'" for the body {"text": "\ué"}), which
 * json_pack() refuses; http_json_read() then keeps the text's ASCII.
 */
static void
fuzz_parse_error(const json_error_t *jerr)
{
	json_t	*details;
	char	 text[JSON_ERROR_TEXT_LENGTH], *p;

	details = json_pack("[{s:s,s:i,s:i}]", "message", jerr->text,
	    "line", jerr->line, "column", jerr->column);
	if (details == NULL) {
		snprintf(text, sizeof(text), "%s", jerr->text);
		for (p = text; *p != '\0'; p++) {
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		}
		details = json_pack("[{s:s,s:i,s:i}]", "message", text,
		    "line", jerr->line, "column", jerr->column);
	}
	fuzz_check(details != NULL, "the 400's details pack");
	fuzz_envelope("invalid_json", details);
}

static void
fuzz_bodies(const json_t *body)
{
	struct schema_predict			 p;
	struct schema_analyze			 a;
	struct schema_metrics_aggregated	 m;
	struct schema_metrics_thresholds	 t;
	const json_t				*text;
	json_t					*details;
	int					 ok, i;

	/* POST /predict */
	details = json_array();
	ok = schema_predict(body, &p, details);
	fuzz_details(ok, details, "predict");
	if (ok) {
		text = json_object_get(body, "text");
		fuzz_check(p.text == json_string_value(text),
		    "predict: text borrows from the body");
		fuzz_check(p.len == json_string_length(text),
		    "predict: len is the string's length");
		fuzz_check(p.codepoints >= 1 &&
		    p.codepoints <= SCHEMA_TEXT_MAX, "predict: 1..1000 code "
		    "points");
		fuzz_check(p.codepoints == schema_utf8_count(p.text, p.len),
		    "predict: code points counted");
		fuzz_check(strlen(p.text) == p.len, "predict: no NUL");
		fuzz_check(p.len <= 4 * (size_t)SCHEMA_TEXT_MAX,
		    "predict: at most 4000 bytes");
		fuzz_check(p.include_metrics == 0 || p.include_metrics == 1,
		    "predict: include_metrics is 0 or 1");
	}
	fuzz_envelope("validation_failed", details);

	/* POST /analyze/performance */
	details = json_array();
	ok = schema_analyze(body, &a, details);
	fuzz_details(ok, details, "analyze");
	if (ok) {
		fuzz_check(a.window_minutes >= 1 &&
		    a.window_minutes <= SCHEMA_WINDOW_MAX,
		    "analyze: window in range");
		fuzz_check(a.model_name == NULL ||
		    schema_model_name(a.model_name), "analyze: model name");
		fuzz_check(a.model_name == NULL ||
		    strlen(a.model_name) <= SCHEMA_MODEL_NAME_MAX,
		    "analyze: model name length");
	}
	fuzz_envelope("validation_failed", details);

	/* POST /metrics/aggregated */
	details = json_array();
	ok = schema_metrics_aggregated(body, &m, details);
	fuzz_details(ok, details, "aggregated");
	if (ok) {
		fuzz_check(m.window_minutes >= 1 &&
		    m.window_minutes <= SCHEMA_METRICS_WINDOW_MAX,
		    "aggregated: window in range");
		fuzz_check(m.filter.model_name[0] == '\0' ||
		    schema_model_name(m.filter.model_name),
		    "aggregated: model name");
	}
	fuzz_envelope("validation_failed", details);

	/* PUT /metrics/thresholds */
	details = json_array();
	ok = schema_metrics_thresholds(body, &t, details);
	fuzz_details(ok, details, "thresholds");
	if (ok) {
		fuzz_check(schema_model_name(t.model_name),
		    "thresholds: model name");
		for (i = 0; i < SCHEMA_METRICS_NTHRESHOLDS; i++) {
			if (!t.set[i])
				continue;
			fuzz_check(isfinite(t.value[i]),
			    "thresholds: finite values");
			if (i <= SCHEMA_METRICS_CONF_CRITICAL)
				fuzz_check(t.value[i] >= 0 && t.value[i] <= 1,
				    "thresholds: confidence in 0..1");
			else
				fuzz_check(t.value[i] > 0,
				    "thresholds: latency > 0");
		}
	}
	fuzz_envelope("validation_failed", details);
}

/*
 * The query-string validators (GET /metrics/timeseries, /count): the
 * input split at NUL bytes into up to four arguments, missing ones NULL.
 */
static void
fuzz_query(const uint8_t *data, size_t size)
{
	struct schema_metrics_timeseries	 ts;
	struct schema_metrics_filter		 f;
	const char				*arg[FUZZ_QS_MAX];
	json_t					*details;
	char					*copy, *p, *end;
	int					 n, ok;

	if ((copy = malloc(size + 1)) == NULL)
		return;
	memcpy(copy, data, size);
	copy[size] = '\0';
	memset(arg, 0, sizeof(arg));
	end = copy + size;
	for (n = 0, p = copy; n < FUZZ_QS_MAX && p <= end; n++) {
		arg[n] = p;
		p += strlen(p) + 1;
	}

	details = json_array();
	ok = schema_metrics_timeseries(arg[0], arg[1], arg[2], arg[3], &ts,
	    details);
	fuzz_details(ok, details, "timeseries");
	if (ok) {
		fuzz_check(ts.window_minutes >= 1 &&
		    ts.window_minutes <= SCHEMA_METRICS_WINDOW_MAX &&
		    ts.bucket_minutes >= 1 &&
		    ts.bucket_minutes <= ts.window_minutes,
		    "timeseries: window and bucket in range");
		fuzz_check((ts.window_minutes + ts.bucket_minutes - 1) /
		    ts.bucket_minutes <= SCHEMA_METRICS_BUCKETS_MAX,
		    "timeseries: bucket count");
	}
	fuzz_envelope("validation_failed", details);

	details = json_array();
	ok = schema_metrics_filter(arg[0], arg[1], &f, details);
	fuzz_details(ok, details, "filter");
	fuzz_envelope("validation_failed", details);

	if (schema_model_name(copy)) {
		fuzz_check(strlen(copy) <= SCHEMA_MODEL_NAME_MAX,
		    "model name length");
		fuzz_check(copy[0] != '_' && copy[0] != '.' && copy[0] != '-',
		    "model name starts with a letter or digit");
	}
	free(copy);
}

/* schema_utf8_count() against jansson's validation of a string. */
static void
fuzz_utf8(const uint8_t *data, size_t size)
{
	json_t	*s;
	long	 n, cont;
	size_t	 i;

	n = schema_utf8_count((const char *)data, size);
	s = json_stringn((const char *)data, size);
	fuzz_check((n >= 0) == (s != NULL),
	    "schema_utf8_count and jansson agree on UTF-8");
	json_decref(s);
	if (n < 0)
		return;
	cont = 0;
	for (i = 0; i < size; i++) {
		if ((data[i] & 0xc0) == 0x80)
			cont++;
	}
	fuzz_check(n == (long)size - cont, "code points counted");
}
