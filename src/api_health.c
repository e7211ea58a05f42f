/*
 * api_health.c: GET /, GET /health, and the JSON 404 for unknown paths.
 *
 * /health asks the database for real (a query, not a flag) and reports
 * the model; it answers 503 with the same body when either is missing,
 * so load balancers and orchestrators can act on the status alone.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"

/* Every endpoint, for GET / and the 404 body.  Keep in step with kore.conf. */
static const struct {
	const char	*method;
	const char	*path;
	const char	*summary;
} health_endpoints[] = {
	{ "GET", "/", "service information and the endpoint list" },
	{ "GET", "/health", "liveness of the model and the database" },
	{ "POST", "/predict", "sentiment of a text; the result is recorded" },
	{ "POST", "/predict/batch",
	    "sentiment of up to 256 texts, recorded in one transaction" },
	{ "GET", "/models", "every model version held, with its traffic share" },
	{ "POST", "/models/reload",
	    "load new or changed model versions in every worker (ADMIN_TOKEN)" },
	{ "GET", "/models/{name}", "one model's versions and routing" },
	{ "PUT", "/models/{name}/routing",
	    "change a model's traffic split (Authorization: Bearer ADMIN_TOKEN)" },
	{ "GET", "/metrics/prometheus",
	    "counters and histograms in Prometheus' text format" },
	{ "POST", "/metrics/aggregated",
	    "aggregates, label distribution and status of a time window" },
	{ "GET", "/metrics/count", "predictions recorded, all time" },
	{ "GET", "/metrics/thresholds", "the alert thresholds of a model" },
	{ "PUT", "/metrics/thresholds",
	    "change the alert thresholds (Authorization: Bearer ADMIN_TOKEN)" },
	{ "POST", "/metrics/compare",
	    "a candidate model version against its baseline, same window" },
	{ "GET", "/metrics/timeseries",
	    "per-bucket counts, confidence, P95 and changes, for plots" },
	{ "POST", "/analyze/performance",
	    "performance report of the model (Gemini, else built-in rules)" },
	{ "GET", "/openapi.json", "this API described in OpenAPI 3.1" },
	{ "GET", "/docs", "interactive API documentation (Swagger UI)" },
};

#define HEALTH_NENDPOINTS \
	(sizeof(health_endpoints) / sizeof(health_endpoints[0]))

enum {
	HEALTH_START,		/* the query: -> DONE, or ERROR */
	HEALTH_DONE,
	HEALTH_ERROR,
};

struct health_state {
	struct api_state	head;
	struct db_call		call;
	u_int64_t		started;
	char			schema_version[16];
};

/* Parameters: none. */
static const char health_sql[] =
    "SELECT coalesce(max(version), 'none') FROM app.schema_migrations";

static int	health_start(struct http_request *);
static int	health_done(struct http_request *);
static int	health_error(struct http_request *);
static void	health_reply(struct http_request *, struct health_state *,
		    const char *);
static void	health_onfree(struct http_request *);
static json_t	*health_endpoint_list(void);
static json_t	*health_route_paths(struct http_request *);

static struct http_state health_states[] = {
	KORE_HTTP_STATE(health_start),
	KORE_HTTP_STATE(health_done),
	KORE_HTTP_STATE(health_error),
};

#define HEALTH_NSTATES	(sizeof(health_states) / sizeof(health_states[0]))

int
api_health_root(struct http_request *req)
{
	if (!gate_method(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);

	/* message, documentation, health_check: the original server's. */
	http_json_reply(req, HTTP_STATUS_OK, json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s},s:o}",
	    "message", "modelserver: a sentiment model server; see "
	    "documentation for the API",
	    "documentation", "/docs",
	    "health_check", "/health",
	    "service", APP_NAME,
	    "version", APP_VERSION,
	    "description", "sentiment model server; every prediction is "
	    "recorded in PostgreSQL",
	    "links", "health", "/health", "predict", "/predict",
	    "endpoints", health_endpoint_list()));
	return (KORE_RESULT_OK);
}

int
api_health_get(struct http_request *req)
{
	return (http_state_run(health_states, HEALTH_NSTATES, req));
}

int
api_health_notfound(struct http_request *req)
{
	json_t	*body;
	char	 msg[256];

	if (!gate_framing(req))
		return (KORE_RESULT_OK);
	snprintf(msg, sizeof(msg), "no endpoint %s %s; see 'details' for "
	    "the endpoints", http_method_text(req->method), req->path);
	body = http_json_error_body(req, HTTP_STATUS_NOT_FOUND, "not_found",
	    msg, health_endpoint_list());
	/* The original server's 404 lists the paths (kore.conf's routes). */
	json_object_set_new(body, "available_endpoints",
	    health_route_paths(req));
	http_json_reply(req, HTTP_STATUS_NOT_FOUND, body);
	return (KORE_RESULT_OK);
}

static int
health_start(struct http_request *req)
{
	struct health_state	*st;

	if (!http_state_exists(req)) {
		if (!gate_method(req, HTTP_METHOD_GET))
			return (HTTP_STATE_COMPLETE);
		st = http_json_state(req, sizeof(*st), health_onfree);
		db_call_init(&st->call, req);
		st->started = kore_time_ms();
		db_call_start(&st->call, health_sql, 0, NULL);
	}
	st = http_state_get(req);

	return (db_call_step(&st->call, HEALTH_DONE, HEALTH_ERROR));
}

static int
health_done(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);

	if (st->call.rows == 1 && st->call.col[0] != NULL) {
		snprintf(st->schema_version, sizeof(st->schema_version), "%s",
		    st->call.col[0]);
	}
	health_reply(req, st, NULL);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static int
health_error(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);
	char			 why[256];
	size_t			 n;

	/* A pooled connection the server closed fails with no message. */
	snprintf(why, sizeof(why), "%s",
	    st->call.sql.error != NULL && st->call.sql.error[0] != '\0' ?
	    st->call.sql.error : "connection to the database lost");
	n = strlen(why);
	while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
		why[--n] = '\0';
	health_reply(req, st, why);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static void
health_onfree(struct http_request *req)
{
	struct health_state	*st;

	if ((st = http_state_get(req)) != NULL)
		db_call_release(&st->call);
}

/* db_error is NULL when the database answered. */
static void
health_reply(struct http_request *req, struct health_state *st,
    const char *db_error)
{
	json_t		*o, *db;
	char		 now[32];
	int		 healthy;

	healthy = (db_error == NULL && app.model != NULL);

	db = json_pack("{s:s,s:I}", "status", db_error == NULL ? "up" : "down",
	    "latency_ms", (json_int_t)(kore_time_ms() - st->started));
	if (db_error == NULL) {
		json_object_set_new(db, "schema_version",
		    json_string(st->schema_version));
	} else {
		json_object_set_new(db, "error", json_string(db_error));
	}

	o = json_pack("{s:s,s:b,s:s?,s:s?,s:I,s:s,s:s,s:o,s:i}",
	    "status", healthy ? "healthy" : "unhealthy",
	    "model_loaded", app.model != NULL,
	    "model_name", app.model != NULL ? model_name(app.model) : NULL,
	    "model_version", app.model != NULL ?
	    model_version(app.model) : NULL,
	    "uptime_seconds", (json_int_t)(time(NULL) - app.started),
	    "timestamp", http_json_iso8601(time(NULL), now, sizeof(now)),
	    "version", APP_VERSION,
	    "database", db,
	    "worker", (int)worker->id);
	if (app.model == NULL) {
		json_object_set_new(o, "model_error",
		    json_string(app.model_error));
	}

	http_json_reply(req, healthy ? HTTP_STATUS_OK :
	    HTTP_STATUS_SERVICE_UNAVAILABLE, o);
}

static json_t *
health_endpoint_list(void)
{
	json_t	*list;
	size_t	 i;

	list = json_array();
	for (i = 0; i < HEALTH_NENDPOINTS; i++) {
		json_array_append_new(list, json_pack("{s:s,s:s,s:s}",
		    "method", health_endpoints[i].method,
		    "path", health_endpoints[i].path,
		    "summary", health_endpoints[i].summary));
	}
	return (list);
}

/*
 * The paths of kore.conf's exact routes in its order (the Swagger UI's
 * files under /docs/ left out), as a new array: the 404 lists them, so a
 * route added to kore.conf is listed without another table.
 */
static json_t *
health_route_paths(struct http_request *req)
{
	struct kore_module_handle	*hdlr;
	json_t				*paths;

	paths = json_array();
	if (req->hdlr == NULL || req->hdlr->dom == NULL)
		return (paths);
	TAILQ_FOREACH(hdlr, &req->hdlr->dom->handlers, list) {
		if (hdlr->type != HANDLER_TYPE_STATIC ||
		    strncmp(hdlr->path, "/docs/", 6) == 0)
			continue;
		json_array_append_new(paths, json_string(hdlr->path));
	}
	return (paths);
}
