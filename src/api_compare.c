/*
 * api_compare.c: POST /metrics/compare, a candidate model version against
 * its baseline over the same window (app.compare_versions,
 * sql/51_model_comparison.sql).
 *
 * Body: {"model_name": "vader", "candidate_version": "3.4.0",
 * "baseline_version": "3.3.2", "window_minutes": 60}.  model_name
 * defaults to the default model, baseline_version to its routed default
 * version, window_minutes to 60.  The answer is the function's JSON.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "app.h"

enum compare_step {
	COMPARE_START,
	COMPARE_DONE,
	COMPARE_ERROR,
	COMPARE_NSTEPS
};

struct compare_state {
	struct api_state	 head;
	struct db_call		 call;
	char			 name[REGISTRY_NAME_MAX];
	char			 candidate[REGISTRY_VERSION_MAX];
	char			 baseline[REGISTRY_VERSION_MAX];
	char			 window[16];
	const char		*values[4];
};

static int	compare_start(struct http_request *);
static int	compare_done(struct http_request *);
static int	compare_error(struct http_request *);
static int	compare_parse(struct http_request *, struct compare_state *,
		    json_t *);
static void	compare_onfree(struct http_request *);

static struct http_state compare_states[] = {
	KORE_HTTP_STATE(compare_start),
	KORE_HTTP_STATE(compare_done),
	KORE_HTTP_STATE(compare_error),
};

/* Parameters: $1 model, $2 candidate, $3 baseline, $4 window minutes. */
static const char compare_sql[] =
    "SELECT app.compare_versions($1, $2, $3, $4::int)::text";

int
api_metrics_compare(struct http_request *req)
{
	return (http_state_run(compare_states, COMPARE_NSTEPS, req));
}

static int
compare_start(struct http_request *req)
{
	struct compare_state	*st;
	json_t			*body;
	int			 ok;

	if (!http_state_exists(req)) {
		body = NULL;
		if (!gate_method(req, HTTP_METHOD_POST) ||
		    !http_json_read(req, &body))
			return (HTTP_STATE_COMPLETE);
		st = http_json_state(req, sizeof(*st), compare_onfree);
		db_call_init(&st->call, req);
		ok = compare_parse(req, st, body);
		json_decref(body);
		if (!ok)
			return (HTTP_STATE_COMPLETE);
		db_call_start(&st->call, compare_sql, 4, st->values);
	}
	st = http_state_get(req);
	return (db_call_step(&st->call, COMPARE_DONE, COMPARE_ERROR));
}

static int
compare_done(struct http_request *req)
{
	struct compare_state	*st = http_state_get(req);

	if (st->call.rows != 1 || st->call.col[0] == NULL) {
		http_json_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "the comparison returned nothing", NULL);
	} else {
		http_json_reply_text(req, HTTP_STATUS_OK, st->call.col[0],
		    strlen(st->call.col[0]));
	}
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static int
compare_error(struct http_request *req)
{
	struct compare_state	*st = http_state_get(req);
	const char		*code;
	int			 status;

	status = db_status(&st->call.sql, &code);
	if (status == HTTP_STATUS_SERVICE_UNAVAILABLE)
		http_response_header(req, "retry-after", "1");
	http_json_error(req, status, code, "the comparison failed", NULL);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/* The body's fields, with their defaults; answers 422 itself. */
static int
compare_parse(struct http_request *req, struct compare_state *st,
    json_t *body)
{
	struct registry_entry	*def;
	const json_t		*v;
	json_t			*details;
	json_int_t		 w;

	details = json_array();
	if (!json_is_object(body)) {
		schema_detail(details, "body", "must be a JSON object");
		goto invalid;
	}
	v = json_object_get(body, "model_name");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !schema_model_name(json_string_value(v))) {
			schema_detail(details, "model_name",
			    "must match ^[a-z0-9][a-z0-9_.-]{0,62}$");
			goto invalid;
		}
		snprintf(st->name, sizeof(st->name), "%s",
		    json_string_value(v));
	} else if ((def = registry_default(&app.registry, NULL)) != NULL) {
		snprintf(st->name, sizeof(st->name), "%s", def->name);
	}
	v = json_object_get(body, "candidate_version");
	if (!json_is_string(v) || !schema_semver(json_string_value(v))) {
		schema_detail(details, "candidate_version",
		    "is required: a version X.Y.Z");
		goto invalid;
	}
	snprintf(st->candidate, sizeof(st->candidate), "%s",
	    json_string_value(v));
	v = json_object_get(body, "baseline_version");
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_string(v) ||
		    !schema_semver(json_string_value(v))) {
			schema_detail(details, "baseline_version",
			    "must be a version X.Y.Z");
			goto invalid;
		}
		snprintf(st->baseline, sizeof(st->baseline), "%s",
		    json_string_value(v));
	} else if ((def = routing_default(st->name)) != NULL) {
		snprintf(st->baseline, sizeof(st->baseline), "%s",
		    def->version);
	} else {
		schema_detail(details, "baseline_version",
		    "is required: this server serves no version of the model");
		goto invalid;
	}
	w = 60;
	v = json_object_get(body, "window_minutes");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 1440) {
			schema_detail(details, "window_minutes",
			    "must be an integer between 1 and 1440");
			goto invalid;
		}
		w = json_integer_value(v);
	}
	snprintf(st->window, sizeof(st->window), "%d", (int)w);
	st->values[0] = st->name;
	st->values[1] = st->candidate;
	st->values[2] = st->baseline;
	st->values[3] = st->window;
	json_decref(details);
	return (1);

invalid:
	http_json_error(req, 422, "validation_failed",
	    "the request body does not match the schema", details);
	return (0);
}

static void
compare_onfree(struct http_request *req)
{
	struct compare_state	*st;

	if ((st = http_state_get(req)) != NULL)
		db_call_release(&st->call);
}
