/*
 * api_routing.c: PUT /models/{name}/routing, the traffic split of a model.
 *
 * Body: {"versions": [{"version": "3.3.2", "weight": 90}, ...],
 * "default_version": "3.3.2", "shadow_version": "3.4.0" or null}.  Needs
 * "Authorization: Bearer <ADMIN_TOKEN>", as PUT /metrics/thresholds.
 * Checked here against what this server holds (every version loaded,
 * weights 0..100 summing to 100, the default among them), then stored by
 * app.set_model_routing() (sql/11_routing.sql), which checks the rules
 * again and records the change.  Every worker of every instance picks it
 * up from its poll (routing.c).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define ROUTING_PREFIX		"/models/"
#define ROUTING_SUFFIX		"/routing"
#define ROUTING_VERSIONS_MAX	16

enum routing_step {
	ROUTING_START,
	ROUTING_DONE,
	ROUTING_ERROR,
	ROUTING_NSTEPS
};

struct routing_state {
	struct api_state	head;
	struct db_call		call;
	char			name[REGISTRY_NAME_MAX];
	char			versions[ROUTING_VERSIONS_MAX *
				    REGISTRY_VERSION_MAX + 2];
	char			weights[ROUTING_VERSIONS_MAX * 4 + 2];
	char			def[REGISTRY_VERSION_MAX];
	char			shadow[REGISTRY_VERSION_MAX];
	char			client[INET6_ADDRSTRLEN];
	const char		*values[6];
};

static int	routing_start(struct http_request *);
static int	routing_done(struct http_request *);
static int	routing_error(struct http_request *);
static int	routing_parse_body(struct http_request *,
		    struct routing_state *, json_t *);
static void	routing_onfree(struct http_request *);

static struct http_state routing_states[] = {
	KORE_HTTP_STATE(routing_start),
	KORE_HTTP_STATE(routing_done),
	KORE_HTTP_STATE(routing_error),
};

/* Parameters: $1 name, $2 versions[], $3 weights[], $4 default, $5
 * shadow (NULL: none), $6 the HTTP client, for the history. */
static const char routing_put_sql[] =
    "SELECT model_name, array_to_json(versions)::text, "
    "array_to_json(weights)::text, default_version, shadow_version, "
    "generation FROM app.set_model_routing($1, $2::text[], $3::int[], $4, "
    "$5, $6::inet)";

int
api_routing_put(struct http_request *req)
{
	return (http_state_run(routing_states, ROUTING_NSTEPS, req));
}

static int
routing_start(struct http_request *req)
{
	struct routing_state	*st;
	json_t			*body;

	if (!http_state_exists(req)) {
		body = NULL;
		if (!gate_method(req, HTTP_METHOD_PUT) ||
		    !api_metrics_authorized(req) ||
		    !http_json_read(req, &body))
			return (HTTP_STATE_COMPLETE);
		st = http_json_state(req, sizeof(*st), routing_onfree);
		db_call_init(&st->call, req);
		if (!routing_parse_body(req, st, body)) {
			json_decref(body);
			return (HTTP_STATE_COMPLETE);
		}
		json_decref(body);
		db_call_start(&st->call, routing_put_sql, 6, st->values);
	}
	st = http_state_get(req);
	return (db_call_step(&st->call, ROUTING_DONE, ROUTING_ERROR));
}

static int
routing_done(struct http_request *req)
{
	struct routing_state	*st = http_state_get(req);
	char			**col = st->call.col;
	json_t			*o;

	if (st->call.rows != 1 || col[0] == NULL || col[1] == NULL ||
	    col[2] == NULL || col[3] == NULL || col[5] == NULL) {
		http_json_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "the routing was stored but not returned", NULL);
		db_call_release(&st->call);
		return (HTTP_STATE_COMPLETE);
	}
	o = json_pack("{s:s,s:o,s:o,s:s,s:s?,s:I}", "model_name", col[0],
	    "versions", json_loads(col[1], 0, NULL),
	    "weights", json_loads(col[2], 0, NULL),
	    "default_version", col[3], "shadow_version", col[4],
	    "generation", (json_int_t)strtoll(col[5], NULL, 10));
	kore_log(LOG_NOTICE, "routing.changed model=%s versions=%s "
	    "weights=%s default=%s shadow=%s client=%s", st->name,
	    st->versions, st->weights, st->def,
	    st->shadow[0] != '\0' ? st->shadow : "-", st->client);
	routing_refresh();
	http_json_reply(req, HTTP_STATUS_OK, o);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static int
routing_error(struct http_request *req)
{
	struct routing_state	*st = http_state_get(req);
	const char		*code;
	int			 status;

	status = db_status(&st->call.sql, &code);
	if (status == HTTP_STATUS_SERVICE_UNAVAILABLE)
		http_response_header(req, "retry-after", "1");
	http_json_error(req, status, code, status == 422 ?
	    "the database refused the routing" :
	    "the routing could not be stored", NULL);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/*
 * Checks the body against the rules and this server's models, and fills
 * the query's parameters.  Answers 404/422 itself and returns 0.
 */
static int
routing_parse_body(struct http_request *req, struct routing_state *st,
    json_t *body)
{
	const struct registry_entry	*e;
	const json_t			*vs, *v, *ver, *w, *def, *shadow;
	json_t				*details;
	size_t				 i, len, wlen;
	int				 sum, ok, seen_def;
	char				 field[48];
	const char			*s, *name;

	details = json_array();
	ok = 0;
	name = req->path + strlen(ROUTING_PREFIX);
	len = strlen(name) - strlen(ROUTING_SUFFIX);
	if (len >= sizeof(st->name)) {
		http_json_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no model of this name (see GET /models)", NULL);
		goto cleanup;
	}
	memcpy(st->name, name, len);
	st->name[len] = '\0';
	if (registry_default(&app.registry, st->name) == NULL) {
		http_json_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "this server holds no loaded version of the model (see "
		    "GET /models)", NULL);
		goto cleanup;
	}

	vs = json_is_object(body) ? json_object_get(body, "versions") : NULL;
	def = json_is_object(body) ? json_object_get(body,
	    "default_version") : NULL;
	shadow = json_is_object(body) ? json_object_get(body,
	    "shadow_version") : NULL;
	if (!json_is_array(vs) || json_array_size(vs) == 0 ||
	    json_array_size(vs) > ROUTING_VERSIONS_MAX) {
		schema_detail(details, "versions", "must be an array of 1 to "
		    "16 {\"version\", \"weight\"} objects");
		goto invalid;
	}
	if (!json_is_string(def)) {
		schema_detail(details, "default_version",
		    "must be one of the versions");
		goto invalid;
	}
	sum = 0;
	seen_def = 0;
	len = 0;
	wlen = 0;
	st->versions[len++] = '{';
	st->weights[wlen++] = '{';
	json_array_foreach(vs, i, v) {
		snprintf(field, sizeof(field), "versions[%zu]", i);
		ver = json_object_get(v, "version");
		w = json_object_get(v, "weight");
		if (!json_is_string(ver) ||
		    !schema_semver(json_string_value(ver))) {
			schema_detail(details, field,
			    "version must be X.Y.Z");
			goto invalid;
		}
		s = json_string_value(ver);
		e = registry_find(&app.registry, st->name, s);
		if (e == NULL || e->model == NULL) {
			schema_detail(details, field, "this version is not "
			    "loaded on this server (see GET /models)");
			goto invalid;
		}
		if (!json_is_integer(w) || json_integer_value(w) < 0 ||
		    json_integer_value(w) > 100) {
			schema_detail(details, field,
			    "weight must be an integer 0..100");
			goto invalid;
		}
		sum += (int)json_integer_value(w);
		if (strcmp(s, json_string_value(def)) == 0)
			seen_def = 1;
		len += (size_t)snprintf(st->versions + len,
		    sizeof(st->versions) - len, "%s%s", i > 0 ? "," : "", s);
		wlen += (size_t)snprintf(st->weights + wlen,
		    sizeof(st->weights) - wlen, "%s%d", i > 0 ? "," : "",
		    (int)json_integer_value(w));
	}
	snprintf(st->versions + len, sizeof(st->versions) - len, "}");
	snprintf(st->weights + wlen, sizeof(st->weights) - wlen, "}");
	if (sum != 100) {
		schema_detail(details, "versions",
		    "the weights must sum to 100");
		goto invalid;
	}
	if (!seen_def) {
		schema_detail(details, "default_version",
		    "must be one of the versions");
		goto invalid;
	}
	snprintf(st->def, sizeof(st->def), "%s", json_string_value(def));
	st->shadow[0] = '\0';
	if (shadow != NULL && !json_is_null(shadow)) {
		if (!json_is_string(shadow) || (e = registry_find(
		    &app.registry, st->name, json_string_value(shadow))) ==
		    NULL || e->model == NULL) {
			schema_detail(details, "shadow_version", "must be null "
			    "or a version loaded on this server");
			goto invalid;
		}
		snprintf(st->shadow, sizeof(st->shadow), "%s",
		    json_string_value(shadow));
	}
	ratelimit_client(req, st->client, sizeof(st->client));
	st->values[0] = st->name;
	st->values[1] = st->versions;
	st->values[2] = st->weights;
	st->values[3] = st->def;
	st->values[4] = st->shadow[0] != '\0' ? st->shadow : NULL;
	st->values[5] = st->client;
	ok = 1;
	goto cleanup;

invalid:
	http_json_error(req, 422, "validation_failed",
	    "the routing breaks its rules", details);
	details = NULL;
cleanup:
	json_decref(details);
	return (ok);
}

static void
routing_onfree(struct http_request *req)
{
	struct routing_state	*st;

	if ((st = http_state_get(req)) != NULL)
		db_call_release(&st->call);
}
