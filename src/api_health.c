/*
 * api_health.c: GET /, GET /health, and the JSON 404 for unknown paths.
 *
 * /health asks the database for real (a query, not a flag) and reports
 * the model; it answers 503 with the same body when either is missing,
 * so load balancers and orchestrators can act on the status alone.
 * With ANALYTICS_DATABASE_URL it then asks the standby too and reports
 * its replay lag under "analytics"; that part never changes the status
 * (the standby serves only the read-only endpoints, not /predict).
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
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
	{ "GET", "/dashboard", "live monitoring page (charts, status, "
	    "analyzer)" },
};

#define HEALTH_NENDPOINTS \
	(sizeof(health_endpoints) / sizeof(health_endpoints[0]))

enum {
	HEALTH_START,		/* the query: -> DONE, or ERROR */
	HEALTH_DONE,		/* -> REPLICA with an analytics database */
	HEALTH_ERROR,		/* the same */
	HEALTH_REPLICA,		/* its query: -> REPLICA_DONE, or _ERROR */
	HEALTH_REPLICA_DONE,
	HEALTH_REPLICA_ERROR,
};

struct health_state {
	struct api_state	head;
	struct db_call		call;
	u_int64_t		started;
	char			schema_version[16];
	char			statement_timeout[32];
	int			db_latency_ms;
	int			db_down;
	char			db_error[256];
	u_int64_t		replica_started;
	char			in_recovery[8];
	char			lag_s[32];
	char			pending_bytes[32];
};

/*
 * Parameters: none.  The statement timeout is the role's setting
 * (10-roles.sh), which a database set up before it may lack.
 */
static const char health_sql[] =
    "SELECT coalesce(max(version), 'none'), "
    "current_setting('statement_timeout') FROM app.schema_migrations";

/*
 * Parameters: none.  On the analytics database: is it a standby, how
 * far behind is what it shows (0 once it has replayed all it received;
 * else the age of the last commit it replayed), and the WAL it holds
 * but has not replayed yet.
 */
static const char health_replica_sql[] =
    "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() OR "
    "pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 ELSE "
    "round(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), "
    "3) END, coalesce(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), "
    "pg_last_wal_replay_lsn()), 0)";

static int	health_start(struct http_request *);
static int	health_done(struct http_request *);
static int	health_error(struct http_request *);
static int	health_replica(struct http_request *);
static int	health_replica_done(struct http_request *);
static int	health_replica_error(struct http_request *);
static int	health_next(struct http_request *, struct health_state *);
static void	health_reply(struct http_request *, struct health_state *,
		    const char *);
static void	health_chomp(char *, size_t, const char *, const char *);
static void	health_onfree(struct http_request *);
static json_t	*health_endpoint_list(void);
static json_t	*health_route_paths(struct http_request *);

static struct http_state health_states[] = {
	KORE_HTTP_STATE(health_start),
	KORE_HTTP_STATE(health_done),
	KORE_HTTP_STATE(health_error),
	KORE_HTTP_STATE(health_replica),
	KORE_HTTP_STATE(health_replica_done),
	KORE_HTTP_STATE(health_replica_error),
};

#define HEALTH_NSTATES	(sizeof(health_states) / sizeof(health_states[0]))

int
api_health_root(struct http_request *req)
{
	if (!gate_method(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);

	/* message, documentation, health_check: the original server's. */
	http_json_reply(req, HTTP_STATUS_OK, json_pack(
	    "{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:s},s:o}",
	    "message", "modelserver: a sentiment model server; see "
	    "documentation for the API",
	    "documentation", "/docs",
	    "health_check", "/health",
	    "service", APP_NAME,
	    "version", APP_VERSION,
	    "description", "sentiment model server; every prediction is "
	    "recorded in PostgreSQL",
	    "links", "health", "/health", "predict", "/predict",
	    "dashboard", "/dashboard", "docs", "/docs",
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
	static int		 warned;

	st->db_latency_ms = (int)(kore_time_ms() - st->started);
	if (st->call.rows == 1 && st->call.col[0] != NULL) {
		snprintf(st->schema_version, sizeof(st->schema_version), "%s",
		    st->call.col[0]);
	}
	if (st->call.rows == 1 && st->call.col[1] != NULL) {
		snprintf(st->statement_timeout, sizeof(st->statement_timeout),
		    "%s", st->call.col[1]);
		if (!strcmp(st->statement_timeout, "0") && !warned) {
			warned = 1;
			kore_log(LOG_WARNING, "db.statement_timeout unset: run "
			    "docker/initdb/10-roles.sh (ALTER ROLE ... SET "
			    "statement_timeout)");
		}
	}
	return (health_next(req, st));
}

static int
health_error(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);

	st->db_latency_ms = (int)(kore_time_ms() - st->started);
	st->db_down = 1;
	health_chomp(st->db_error, sizeof(st->db_error), st->call.sql.error,
	    "connection to the database lost");
	return (health_next(req, st));
}

/* The primary answered (or not): on to the standby, or reply. */
static int
health_next(struct http_request *req, struct health_state *st)
{
	if (!db_analytics()) {
		health_reply(req, st, NULL);
		db_call_release(&st->call);
		return (HTTP_STATE_COMPLETE);
	}
	st->replica_started = kore_time_ms();
	db_call_start_ro(&st->call, health_replica_sql, 0, NULL);
	req->fsm_state = HEALTH_REPLICA;
	return (HTTP_STATE_CONTINUE);
}

static int
health_replica(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);

	return (db_call_step(&st->call, HEALTH_REPLICA_DONE,
	    HEALTH_REPLICA_ERROR));
}

static int
health_replica_done(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);

	if (st->call.rows == 1) {
		snprintf(st->in_recovery, sizeof(st->in_recovery), "%s",
		    st->call.col[0] != NULL ? st->call.col[0] : "");
		snprintf(st->lag_s, sizeof(st->lag_s), "%s",
		    st->call.col[1] != NULL ? st->call.col[1] : "0");
		snprintf(st->pending_bytes, sizeof(st->pending_bytes), "%s",
		    st->call.col[2] != NULL ? st->call.col[2] : "0");
	}
	health_reply(req, st, NULL);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static int
health_replica_error(struct http_request *req)
{
	struct health_state	*st = http_state_get(req);
	char			 why[256];

	health_chomp(why, sizeof(why), st->call.sql.error,
	    "connection to the analytics database lost");
	health_reply(req, st, why);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/* out = msg without its trailing newlines, or dflt when msg is empty. */
static void
health_chomp(char *out, size_t len, const char *msg, const char *dflt)
{
	size_t	n;

	/* A pooled connection the server closed fails with no message. */
	snprintf(out, len, "%s", msg != NULL && msg[0] != '\0' ? msg : dflt);
	n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
}

static void
health_onfree(struct http_request *req)
{
	struct health_state	*st;

	if ((st = http_state_get(req)) != NULL)
		db_call_release(&st->call);
}

/*
 * The primary's outcome is in st; replica_error is NULL when the
 * analytics database answered (or there is none).
 */
static void
health_reply(struct http_request *req, struct health_state *st,
    const char *replica_error)
{
	json_t		*o, *db, *an;
	char		 now[32];
	int		 healthy;

	healthy = (!st->db_down && app.model != NULL);

	db = json_pack("{s:s,s:I}", "status", !st->db_down ? "up" : "down",
	    "latency_ms", (json_int_t)st->db_latency_ms);
	if (!st->db_down) {
		json_object_set_new(db, "schema_version",
		    json_string(st->schema_version));
		json_object_set_new(db, "statement_timeout",
		    json_string(st->statement_timeout));
	} else {
		json_object_set_new(db, "error", json_string(st->db_error));
	}

	an = NULL;
	if (db_analytics()) {
		an = json_pack("{s:s,s:I}", "status", replica_error == NULL ?
		    "up" : "down", "latency_ms",
		    (json_int_t)(kore_time_ms() - st->replica_started));
		if (replica_error != NULL) {
			json_object_set_new(an, "error",
			    json_string(replica_error));
		} else {
			json_object_set_new(an, "in_recovery",
			    json_boolean(!strcmp(st->in_recovery, "t")));
			json_object_set_new(an, "replay_lag_s",
			    json_real(strtod(st->lag_s, NULL)));
			json_object_set_new(an, "replay_pending_bytes",
			    json_integer(strtoll(st->pending_bytes, NULL, 10)));
		}
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
	if (an != NULL)
		json_object_set_new(o, "analytics", an);
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
