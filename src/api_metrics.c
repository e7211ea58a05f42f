/*
 * api_metrics.c: POST /metrics/aggregated, GET /metrics/count,
 * GET|PUT /metrics/thresholds, GET /metrics/timeseries.
 *
 * Every figure is computed in PostgreSQL (sql/40_metrics.sql): each route
 * validates its input (schema_metrics.c), runs one parameterised query
 * whose single value is the finished JSON document, and sends it.  The
 * routes share one state machine; only the first step, which parses the
 * request and picks the query, differs.
 *
 * PUT /metrics/thresholds needs "Authorization: Bearer <ADMIN_TOKEN>":
 * 403 while no token is configured, 401 (with WWW-Authenticate) for a
 * missing or wrong one.  The token is compared in constant time and never
 * logged.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libpq-fe.h>

#include "app.h"
#include "compat.h"
#include "schema_metrics.h"

#define METRICS_NPARAMS		6
#define METRICS_PARAM_LEN	72	/* a model name, a %.17g double */

enum {
	METRICS_START,		/* the route's own; its query: -> DONE, ERROR */
	METRICS_DONE,
	METRICS_ERROR,
};

struct metrics_state {
	struct api_state	 head;		/* first: http_json_state() */
	struct db_call		 call;		/* col[0]: the JSON document */
	const char		*route;		/* for the log */
	char			 client[INET6_ADDRSTRLEN];
};

/* A query's parameters while the first step builds them. */
struct metrics_params {
	int			 n;
	const char		*values[METRICS_NPARAMS];
	char			 text[METRICS_NPARAMS][METRICS_PARAM_LEN];
};

/* $1 window minutes, $2 model name or NULL, $3 model version or NULL. */
static const char metrics_aggregated_sql[] =
    "SELECT app.metrics_aggregated($1::int, $2, $3)";

/* $1 model name or NULL, $2 model version or NULL. */
static const char metrics_count_sql[] =
    "SELECT json_build_object('total_predictions', app.metrics_count($1, $2), "
    "'model_name', $1, 'model_version', $2, "
    "'timestamp', app.metrics_iso8601(now()))";

/* $1 model name or NULL (the default row). */
static const char metrics_thresholds_get_sql[] =
    "SELECT app.thresholds_json($1)";

/* $1 model name, $2..$5 the thresholds or NULL (keep), $6 client. */
static const char metrics_thresholds_put_sql[] =
    "SELECT app.set_thresholds_json($1, $2::float8, $3::float8, $4::float8, "
    "$5::float8, $6::inet)";

/* $1 window minutes, $2 bucket minutes, $3 model name, $4 version. */
static const char metrics_timeseries_sql[] =
    "SELECT app.metrics_timeseries_json($1::int, $2::int, $3, $4)";

static int	aggregated_start(struct http_request *);
static int	count_start(struct http_request *);
static int	thresholds_start(struct http_request *);
static int	timeseries_start(struct http_request *);
static int	metrics_done(struct http_request *);
static int	metrics_error(struct http_request *);

static int	count_params(struct http_request *, struct metrics_params *,
		    json_t *);
static int	thresholds_params(struct http_request *,
		    struct metrics_params *, json_t *);
static int	timeseries_params(struct http_request *,
		    struct metrics_params *, json_t *);
static int	metrics_get(struct http_request *, int, const char *,
		    const char *, int (*)(struct http_request *,
		    struct metrics_params *, json_t *));

static int	metrics_step(struct http_request *);
static int	metrics_run(struct http_request *, const char *, const char *,
		    struct metrics_params *);
static void	metrics_param(struct metrics_params *, const char *);
static void	metrics_param_int(struct metrics_params *, int);
static void	metrics_onfree(struct http_request *);
static void	metrics_invalid(struct http_request *, json_t *);
static const char	*metrics_arg(struct http_request *, const char *);
static int	metrics_thresholds_put(struct http_request *,
		    struct metrics_params *);
static int	metrics_authorized(struct http_request *);
static int	metrics_token_equal(const char *, const char *);

#define METRICS_STATES(first) {			\
	KORE_HTTP_STATE(first),				\
	KORE_HTTP_STATE(metrics_done),			\
	KORE_HTTP_STATE(metrics_error),			\
}

static struct http_state aggregated_states[] = METRICS_STATES(aggregated_start);
static struct http_state count_states[] = METRICS_STATES(count_start);
static struct http_state thresholds_states[] = METRICS_STATES(thresholds_start);
static struct http_state timeseries_states[] = METRICS_STATES(timeseries_start);

#define METRICS_NSTATES	\
	(sizeof(aggregated_states) / sizeof(aggregated_states[0]))

int
api_metrics_aggregated(struct http_request *req)
{
	return (http_state_run(aggregated_states, METRICS_NSTATES, req));
}

int
api_metrics_count(struct http_request *req)
{
	return (http_state_run(count_states, METRICS_NSTATES, req));
}

/* GET reads the thresholds of a model; PUT (admin token) changes them. */
int
api_metrics_thresholds(struct http_request *req)
{
	return (http_state_run(thresholds_states, METRICS_NSTATES, req));
}

int
api_metrics_timeseries(struct http_request *req)
{
	return (http_state_run(timeseries_states, METRICS_NSTATES, req));
}

/* POST {"time_window_minutes", "model_name", "model_version"}. */
static int
aggregated_start(struct http_request *req)
{
	struct schema_metrics_aggregated	 in;
	struct metrics_params			 p;
	json_t					*body, *details;
	int					 ok;

	if (http_state_exists(req))
		return (metrics_step(req));	/* woken: the query moved */

	body = details = NULL;
	memset(&p, 0, sizeof(p));
	ok = 0;
	if (!gate_method(req, HTTP_METHOD_POST))
		goto cleanup;
	if (!http_json_read(req, &body))
		goto cleanup;
	details = json_array();
	if (!schema_metrics_aggregated(body, &in, details)) {
		metrics_invalid(req, details);
		details = NULL;
		goto cleanup;
	}

	metrics_param_int(&p, in.window_minutes);
	metrics_param(&p, in.filter.model_name);
	metrics_param(&p, in.filter.model_version);
	ok = 1;

cleanup:
	json_decref(body);
	json_decref(details);
	return (ok ? metrics_run(req, "aggregated", metrics_aggregated_sql, &p) :
	    HTTP_STATE_COMPLETE);
}

/* GET [?model_name=&model_version=]. */
static int
count_start(struct http_request *req)
{
	return (metrics_get(req, HTTP_METHOD_GET, "count", metrics_count_sql,
	    count_params));
}

static int
count_params(struct http_request *req, struct metrics_params *p,
    json_t *details)
{
	struct schema_metrics_filter	in;

	if (!schema_metrics_filter(metrics_arg(req, "model_name"),
	    metrics_arg(req, "model_version"), &in, details))
		return (0);
	metrics_param(p, in.model_name);
	metrics_param(p, in.model_version);
	return (1);
}

/* GET [?model_name=] or PUT {"model_name", thresholds...}. */
static int
thresholds_start(struct http_request *req)
{
	struct metrics_params	p;

	if (http_state_exists(req) || req->method != HTTP_METHOD_PUT) {
		return (metrics_get(req, HTTP_METHOD_GET | HTTP_METHOD_PUT,
		    "thresholds", metrics_thresholds_get_sql,
		    thresholds_params));
	}

	if (!gate_method(req, HTTP_METHOD_GET | HTTP_METHOD_PUT))
		return (HTTP_STATE_COMPLETE);
	memset(&p, 0, sizeof(p));
	if (!metrics_thresholds_put(req, &p))
		return (HTTP_STATE_COMPLETE);
	return (metrics_run(req, "thresholds", metrics_thresholds_put_sql, &p));
}

static int
thresholds_params(struct http_request *req, struct metrics_params *p,
    json_t *details)
{
	struct schema_metrics_filter	in;

	if (!schema_metrics_filter(metrics_arg(req, "model_name"), NULL, &in,
	    details))
		return (0);
	metrics_param(p, in.model_name);
	return (1);
}

/* GET ?window_minutes=&bucket_minutes=&model_name=&model_version=. */
static int
timeseries_start(struct http_request *req)
{
	return (metrics_get(req, HTTP_METHOD_GET, "timeseries",
	    metrics_timeseries_sql, timeseries_params));
}

static int
timeseries_params(struct http_request *req, struct metrics_params *p,
    json_t *details)
{
	struct schema_metrics_timeseries	in;

	if (!schema_metrics_timeseries(metrics_arg(req, "window_minutes"),
	    metrics_arg(req, "bucket_minutes"), metrics_arg(req, "model_name"),
	    metrics_arg(req, "model_version"), &in, details))
		return (0);
	metrics_param_int(p, in.window_minutes);
	metrics_param_int(p, in.bucket_minutes);
	metrics_param(p, in.filter.model_name);
	metrics_param(p, in.filter.model_version);
	return (1);
}

/*
 * The first step of a query-string route: the gate, then params() turns
 * the checked query string into the query's parameters (0 after filling
 * details: a 422), then the query.  Woken, it runs the query on.
 */
static int
metrics_get(struct http_request *req, int allowed, const char *route,
    const char *query, int (*params)(struct http_request *,
    struct metrics_params *, json_t *))
{
	struct metrics_params	 p;
	json_t			*details;

	if (http_state_exists(req))
		return (metrics_step(req));

	if (!gate_method(req, allowed))
		return (HTTP_STATE_COMPLETE);
	http_populate_qs(req);
	details = json_array();
	memset(&p, 0, sizeof(p));
	if (!params(req, &p, details)) {
		metrics_invalid(req, details);
		return (HTTP_STATE_COMPLETE);
	}
	json_decref(details);
	return (metrics_run(req, route, query, &p));
}

static int
metrics_done(struct http_request *req)
{
	struct metrics_state	*st = http_state_get(req);
	json_t			*doc;
	json_error_t		 jerr;
	const char		*text;

	/* The query's one value: the document. */
	text = st->call.rows == 1 ? st->call.col[0] : NULL;
	doc = text != NULL ? json_loads(text, 0, &jerr) : NULL;
	if (doc == NULL) {
		kore_log(LOG_ERR, "metrics.%s bad_document present=%d",
		    st->route, text != NULL);
		http_json_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "the database returned no metrics document", NULL);
	} else {
		if (req->method == HTTP_METHOD_PUT &&
		    json_is_true(json_object_get(doc, "changed"))) {
			kore_log(LOG_NOTICE, "metrics.thresholds changed "
			    "model=%s client=%s", st->call.params[0] != NULL ?
			    st->call.params[0] : "", st->client);
		}
		compat_metrics(st->route, doc);
		http_json_reply(req, HTTP_STATUS_OK, doc);
	}
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/*
 * The query failed.  Our functions raise 22023/23514 with a message and
 * the field in COLUMN (a threshold that conflicts with a stored one):
 * those become a 422 naming the field.  The rest is db_status()'s.
 */
static int
metrics_error(struct http_request *req)
{
	struct metrics_state	*st = http_state_get(req);
	const char		*code, *sqlstate, *msg, *field;
	json_t			*details;
	int			 status;

	status = db_status(&st->call.sql, &code);
	sqlstate = msg = field = NULL;
	if (st->call.sql.result != NULL) {
		sqlstate = PQresultErrorField(st->call.sql.result,
		    PG_DIAG_SQLSTATE);
		msg = PQresultErrorField(st->call.sql.result,
		    PG_DIAG_MESSAGE_PRIMARY);
		field = PQresultErrorField(st->call.sql.result,
		    PG_DIAG_COLUMN_NAME);
	}

	if (status == 422) {
		details = json_array();
		schema_detail(details, field != NULL ? field : "body",
		    msg != NULL ? msg : "is not valid");
		http_json_error(req, 422, code, msg != NULL ? msg :
		    "the request was refused by the database", details);
	} else {
		kore_log(LOG_NOTICE, "metrics.%s db_error status=%d "
		    "sqlstate=%s", st->route, status,
		    sqlstate != NULL ? sqlstate : "none");
		if (status == HTTP_STATUS_SERVICE_UNAVAILABLE)
			http_response_header(req, "retry-after", "1");
		http_json_error(req, status, code, status !=
		    HTTP_STATUS_SERVICE_UNAVAILABLE ? "the metrics query "
		    "failed" : st->call.ro && db_analytics() ? "the analytics "
		    "database is not available, retry" : "the database is not "
		    "available, retry", NULL);
	}

	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/* Runs the query the first step set up, from that step. */
static int
metrics_step(struct http_request *req)
{
	struct metrics_state	*st = http_state_get(req);

	return (db_call_step(&st->call, METRICS_DONE, METRICS_ERROR));
}

/* Creates the request's state and starts the route's query. */
static int
metrics_run(struct http_request *req, const char *route, const char *query,
    struct metrics_params *p)
{
	struct metrics_state	*st;

	st = http_json_state(req, sizeof(*st), metrics_onfree);
	db_call_init(&st->call, req);
	st->route = route;
	if (req->method == HTTP_METHOD_PUT)
		ratelimit_client(req, st->client, sizeof(st->client));
	/* Only the thresholds PUT writes; the reads may go to a standby. */
	if (req->method == HTTP_METHOD_PUT)
		db_call_start(&st->call, query, p->n, p->values);
	else
		db_call_start_ro(&st->call, query, p->n, p->values);
	return (metrics_step(req));
}

/* The next parameter is s, or SQL NULL when s is NULL or empty. */
static void
metrics_param(struct metrics_params *p, const char *s)
{
	if (s != NULL && s[0] != '\0') {
		snprintf(p->text[p->n], sizeof(p->text[p->n]), "%s", s);
		p->values[p->n] = p->text[p->n];
	}
	p->n++;
}

static void
metrics_param_int(struct metrics_params *p, int v)
{
	snprintf(p->text[p->n], sizeof(p->text[p->n]), "%d", v);
	p->values[p->n] = p->text[p->n];
	p->n++;
}

static void
metrics_onfree(struct http_request *req)
{
	struct metrics_state	*st;

	if ((st = http_state_get(req)) != NULL)
		db_call_release(&st->call);
}

/* 422 with the details (stolen) of a failed schema check. */
static void
metrics_invalid(struct http_request *req, json_t *details)
{
	http_json_error(req, 422, "validation_failed",
	    "the request does not match the schema", details);
}

/* A query argument that passed kore.conf's validator, or NULL. */
static const char *
metrics_arg(struct http_request *req, const char *name)
{
	char	*v;

	if (!http_argument_get_string(req, name, &v))
		return (NULL);
	return (v);
}

/*
 * PUT: token, body, schema; on success p holds the query's parameters.
 * Returns 1, or 0 after answering.
 */
static int
metrics_thresholds_put(struct http_request *req, struct metrics_params *p)
{
	struct schema_metrics_thresholds	 in;
	char					 client[INET6_ADDRSTRLEN];
	json_t					*body, *details;
	int					 ok, i;

	body = details = NULL;
	ok = 0;
	if (!metrics_authorized(req))
		goto cleanup;
	if (!http_json_read(req, &body))
		goto cleanup;
	details = json_array();
	if (!schema_metrics_thresholds(body, &in, details)) {
		metrics_invalid(req, details);
		details = NULL;
		goto cleanup;
	}

	metrics_param(p, in.model_name);
	for (i = 0; i < SCHEMA_METRICS_NTHRESHOLDS; i++) {
		if (!in.set[i]) {
			p->n++;			/* NULL: keep the stored one */
			continue;
		}
		/* %.17g round-trips every double exactly. */
		snprintf(p->text[p->n], sizeof(p->text[p->n]), "%.17g",
		    in.value[i]);
		p->values[p->n] = p->text[p->n];
		p->n++;
	}
	ratelimit_client(req, client, sizeof(client));
	metrics_param(p, client);
	ok = 1;

cleanup:
	json_decref(body);
	json_decref(details);
	return (ok);
}

/*
 * 1 if req carries "Authorization: Bearer <ADMIN_TOKEN>".  Otherwise
 * answers 403 (no token configured: the endpoint is off) or 401, and
 * returns 0.
 */
static int
metrics_authorized(struct http_request *req)
{
	const char	*hdr, *token;

	if (app.cf.admin_token == NULL || app.cf.admin_token[0] == '\0') {
		http_json_error(req, HTTP_STATUS_FORBIDDEN, "admin_disabled",
		    "changing thresholds is disabled because no ADMIN_TOKEN is "
		    "configured: set ADMIN_TOKEN in .env or the environment "
		    "('make run' creates .env with a random one) and restart, "
		    "then send 'Authorization: Bearer <ADMIN_TOKEN>'", NULL);
		return (0);
	}

	token = NULL;
	if (http_request_header(req, "authorization", &hdr) &&
	    strncasecmp(hdr, "bearer ", 7) == 0) {
		token = hdr + 7;
		while (*token == ' ')
			token++;
	}
	if (token == NULL || *token == '\0') {
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"modelserver\"");
		http_json_error(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "this endpoint needs 'Authorization: Bearer <ADMIN_TOKEN>'",
		    NULL);
		return (0);
	}
	if (!metrics_token_equal(token, app.cf.admin_token)) {
		http_response_header(req, "www-authenticate",
		    "Bearer realm=\"modelserver\", error=\"invalid_token\"");
		http_json_error(req, HTTP_STATUS_UNAUTHORIZED, "unauthorized",
		    "the bearer token is not the ADMIN_TOKEN", NULL);
		return (0);
	}
	return (1);
}

/* metrics_authorized for the other admin routes (PUT .../routing). */
int
api_metrics_authorized(struct http_request *req)
{
	return (metrics_authorized(req));
}

/*
 * Compares a token from the client with the secret in time that depends
 * only on the client's token length: no early exit, so the time does not
 * tell how many leading bytes matched.  want is never empty.
 */
static int
metrics_token_equal(const char *given, const char *want)
{
	size_t			i, glen, wlen;
	volatile unsigned char	diff;

	glen = strlen(given);
	wlen = strlen(want);
	diff = (glen != wlen);
	for (i = 0; i < glen; i++)
		diff |= (unsigned char)given[i] ^ (unsigned char)want[i % wlen];
	return (diff == 0);
}
