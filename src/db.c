/*
 * db.c: PostgreSQL through Kore's asynchronous pgsql layer.
 *
 * - db_conninfo() turns DATABASE_URL into the connection string Kore
 *   uses, adding the options a worker needs to stay responsive: a connect
 *   timeout, TCP keepalives and a user timeout, and a statement timeout.
 * - db_query() starts a query on a bound kore_pgsql, behind a circuit
 *   breaker.  Kore connects with the blocking PQconnectdb(), so against
 *   an unreachable host every new connection would stall the worker for
 *   the whole connect timeout.  After one failed connect the breaker
 *   opens: queries fail at once (503) while a non-blocking probe
 *   (PQconnectStart/PQconnectPoll, driven by a timer) retries every
 *   DB_BREAKER_MS; the first probe that connects closes it.
 * - struct db_call is the one database step of every handler's state
 *   machine (db_call_start, db_call_step, db_call_release), and
 *   db_status() the one SQLSTATE -> HTTP status mapping.
 * - db_release() gives a handle back; every finished query ends there.
 */
#include <sys/types.h>

#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "app.h"

#define DB_PROBE_TICK_MS	25

struct db_breaker {
	int			 open;
	u_int64_t		 retry_at;	/* next probe, ms */
	u_int64_t		 opened_at;
	PGconn			*probe;
	u_int64_t		 probe_started;
	struct kore_timer	*timer;
	char			 reason[256];
};

static void	db_breaker_trip(const char *);
static void	db_breaker_close(void);
static void	db_breaker_tick(void *, u_int64_t);
static void	db_breaker_probe(u_int64_t);
static void	db_evict_if_broken(struct kore_pgsql *);
static void	db_call_keep(struct db_call *);
static void	db_call_free(struct db_call *);
static int	db_conninfo_append(char *, size_t, size_t *, const char *,
		    const char *);

static struct db_breaker	breaker;

/*
 * Builds Kore's connection string from url (a postgresql:// URI or a
 * key=value string).  Options the URL sets itself win; ours fill in what
 * it leaves out.  Returns a kore_malloc'd string, or NULL with err set
 * (the error never repeats the URL: it may hold a password).
 */
char *
db_conninfo(const char *url, const struct config *cf, char *err,
    size_t errlen)
{
	PQconninfoOption	*opts, *o;
	char			*perr, *out;
	char			 val[512];
	size_t			 len, off;
	int			 have_timeout, have_gss, have_ka, have_app;
	int			 have_user_timeout;
	const char		*options;

	out = NULL;
	perr = NULL;
	if ((opts = PQconninfoParse(url, &perr)) == NULL) {
		snprintf(err, errlen, "DATABASE_URL cannot be parsed%s%s",
		    perr != NULL ? ": " : "", perr != NULL ? perr : "");
		if (perr != NULL)
			PQfreemem(perr);
		return (NULL);
	}

	len = strlen(url) + 1024;
	out = kore_malloc(len);
	out[0] = '\0';
	off = 0;
	have_timeout = have_gss = have_ka = have_app = 0;
	have_user_timeout = 0;
	options = NULL;

	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (!strcmp(o->keyword, "connect_timeout"))
			have_timeout = 1;
		else if (!strcmp(o->keyword, "gssencmode"))
			have_gss = 1;
		else if (!strcmp(o->keyword, "keepalives"))
			have_ka = 1;
		else if (!strcmp(o->keyword, "application_name"))
			have_app = 1;
		else if (!strcmp(o->keyword, "tcp_user_timeout"))
			have_user_timeout = 1;
		if (!strcmp(o->keyword, "options")) {
			options = o->val;
			continue;
		}
		if (!db_conninfo_append(out, len, &off, o->keyword, o->val))
			goto overflow;
	}

	if (!have_timeout) {
		snprintf(val, sizeof(val), "%d", cf->db_connect_timeout_s);
		if (!db_conninfo_append(out, len, &off, "connect_timeout", val))
			goto overflow;
	}
	/* libpq's GSSAPI probe lists directories: seccomp kills for it. */
	if (!have_gss &&
	    !db_conninfo_append(out, len, &off, "gssencmode", "disable"))
		goto overflow;
	if (!have_ka) {
		if (!db_conninfo_append(out, len, &off, "keepalives", "1") ||
		    !db_conninfo_append(out, len, &off, "keepalives_idle",
		    "5") ||
		    !db_conninfo_append(out, len, &off, "keepalives_interval",
		    "2") ||
		    !db_conninfo_append(out, len, &off, "keepalives_count",
		    "3"))
			goto overflow;
	}
	if (!have_user_timeout) {
		/* Unacknowledged data past this drops the connection. */
		snprintf(val, sizeof(val), "%d",
		    cf->db_statement_timeout_ms + 5000);
		if (!db_conninfo_append(out, len, &off, "tcp_user_timeout",
		    val))
			goto overflow;
	}
	if (!have_app && !db_conninfo_append(out, len, &off,
	    "application_name", APP_NAME))
		goto overflow;

	snprintf(val, sizeof(val), "%s%s-c statement_timeout=%d",
	    options != NULL ? options : "", options != NULL ? " " : "",
	    cf->db_statement_timeout_ms);
	if (!db_conninfo_append(out, len, &off, "options", val))
		goto overflow;

	PQconninfoFree(opts);
	return (out);

overflow:
	snprintf(err, errlen, "DATABASE_URL is too long");
	PQconninfoFree(opts);
	kore_free(out);
	return (NULL);
}

/* Per worker: registers the database with Kore's pool. */
void
db_init(void)
{
	if (!kore_pgsql_register(APP_DB, app.conninfo))
		fatal("db: cannot register the database");
	if (app.owner_conninfo != NULL &&
	    !kore_pgsql_register(APP_OWNER_DB, app.owner_conninfo))
		fatal("db: cannot register the owner's database");
	memset(&breaker, 0, sizeof(breaker));
}

/*
 * Starts query with text parameters on sql, which the caller bound to a
 * request or a callback.  Returns DB_OK (wait for it), DB_QUEUED (every
 * connection busy; Kore wakes the owner when one frees) or DB_FAIL
 * (sql->error says why; nothing was sent).
 */
int
db_query(struct kore_pgsql *sql, const char *query, int nparams,
    const char **values)
{
	return (db_query_on(sql, APP_DB, query, nparams, values));
}

/*
 * db_query() on database name: APP_DB, or APP_OWNER_DB (the janitor's
 * owner connection).  The breaker guards APP_DB only: the owner's
 * connection failing says nothing about the server's.  The caller checks
 * db_breaker_open() first, so the owner's blocking connect is not tried
 * against a database already known to be down.
 */
int
db_query_on(struct kore_pgsql *sql, const char *name, const char *query,
    int nparams, const char **values)
{
	int	lengths[64], formats[64];
	int	i, app_db;

	if (nparams > 64)
		fatal("db_query: %d parameters", nparams);
	app_db = strcmp(name, APP_DB) == 0;

	if (app_db && breaker.open) {
		kore_free(sql->error);
		sql->error = kore_strdup(breaker.reason);
		sql->state = KORE_PGSQL_STATE_ERROR;
		return (DB_FAIL);
	}

	if (!kore_pgsql_setup(sql, name, KORE_PGSQL_ASYNC)) {
		if (sql->state == KORE_PGSQL_STATE_INIT)
			return (DB_QUEUED);
		if (app_db && (sql->error == NULL ||
		    strcmp(sql->error, "no available connection") != 0))
			db_breaker_trip(sql->error);
		return (DB_FAIL);
	}

	for (i = 0; i < nparams; i++) {
		lengths[i] = values[i] != NULL ? (int)strlen(values[i]) : 0;
		formats[i] = 0;
	}
	if (!kore_pgsql_query_param_fields(sql, query, 0, nparams, values,
	    lengths, formats)) {
		db_evict_if_broken(sql);
		return (DB_FAIL);
	}

	return (DB_OK);
}

/*
 * One query of a request, from send to row 0.  A handler keeps a struct
 * db_call in its state, starts a query with db_call_start() and returns
 * db_call_step() from one of its states until the step moves it on: to
 * on_done with row 0 of the result copied into call->col (the values
 * kore_pgsql_getvalue() gives die at kore_pgsql_continue), or to
 * on_error with call->sql holding the error (db_status).  Kore's pgsql
 * quirks are handled here, once:
 * - a query that waited for a connection (DB_QUEUED) is sent on a handle
 *   rebuilt each time, which also drops a stale entry from Kore's wait
 *   queue;
 * - a request woken by something else than its query sleeps on;
 * - a failed query is released without a cancel request (db_release).
 */
void
db_call_init(struct db_call *call, struct http_request *req)
{
	memset(call, 0, sizeof(*call));
	kore_pgsql_init(&call->sql);
	call->req = req;
}

/*
 * Sets up query with n text parameters, copied (a NULL value is SQL
 * NULL); the previous query's row and parameters are freed.  The next
 * db_call_step() sends it.
 */
void
db_call_start(struct db_call *call, const char *query, int n,
    const char **values)
{
	int	i;

	if (n > DB_CALL_NPARAMS)
		fatal("db_call_start: %d parameters", n);
	db_call_free(call);
	for (i = 0; i < n; i++) {
		if (values[i] != NULL)
			call->params[i] = kore_strdup(values[i]);
		call->values[i] = call->params[i];
	}
	call->query = query;
	call->nparams = n;
	call->busy = 1;
	call->sent = 0;
	call->results = 0;
	call->rows = 0;
}

/*
 * Runs call's query from the handler's current state; returns what the
 * state returns.  HTTP_STATE_RETRY while it waits (for a connection or
 * for the server); HTTP_STATE_CONTINUE with req->fsm_state set to
 * on_done or on_error once it is over (call->busy is 0 again).
 */
int
db_call_step(struct db_call *call, int on_done, int on_error)
{
	struct http_request	*req = call->req;

	if (!call->sent) {
		db_release(&call->sql);
		kore_pgsql_init(&call->sql);
		kore_pgsql_bind_request(&call->sql, req);
		switch (db_query(&call->sql, call->query, call->nparams,
		    call->values)) {
		case DB_OK:
			call->sent = 1;
			break;
		case DB_QUEUED:
			return (HTTP_STATE_RETRY);	/* Kore wakes req */
		default:
			call->busy = 0;
			req->fsm_state = on_error;
			return (HTTP_STATE_CONTINUE);
		}
	}

	for (;;) {
		switch (call->sql.state) {
		case KORE_PGSQL_STATE_WAIT:
			http_request_sleep(req);
			return (HTTP_STATE_RETRY);
		case KORE_PGSQL_STATE_RESULT:
			db_call_keep(call);
			kore_pgsql_continue(&call->sql);
			break;
		case KORE_PGSQL_STATE_DONE:
			kore_pgsql_continue(&call->sql);	/* -> COMPLETE */
			break;
		case KORE_PGSQL_STATE_COMPLETE:
			call->busy = 0;
			req->fsm_state = on_done;
			return (HTTP_STATE_CONTINUE);
		case KORE_PGSQL_STATE_ERROR:
			db_evict_if_broken(&call->sql);
			call->busy = 0;
			req->fsm_state = on_error;
			return (HTTP_STATE_CONTINUE);
		default:
			kore_pgsql_continue(&call->sql);
			return (HTTP_STATE_CONTINUE);
		}
	}
}

/*
 * Gives call's connection back and frees what it owns (parameters, row
 * 0).  Idempotent: handlers call it when they answer, and from onfree.
 */
void
db_call_release(struct db_call *call)
{
	db_release(&call->sql);
	db_call_free(call);
	call->busy = 0;
}

/*
 * The HTTP status for a failed query, and an error code for the body.
 * Without a SQLSTATE the connection itself failed: 503.  So do the
 * states that mean "try again": shutdown, timeouts, too many
 * connections, serialization failures.
 */
int
db_status(const struct kore_pgsql *sql, const char **code)
{
	const char	*state;

	state = NULL;
	if (sql->result != NULL)
		state = PQresultErrorField(sql->result, PG_DIAG_SQLSTATE);

	if (state == NULL || !strncmp(state, "08", 2) ||
	    !strncmp(state, "53", 2) || !strncmp(state, "57", 2) ||
	    !strcmp(state, "40001") || !strcmp(state, "40P01")) {
		*code = "database_unavailable";
		return (HTTP_STATUS_SERVICE_UNAVAILABLE);
	}
	if (!strcmp(state, "23505")) {
		*code = "conflict";
		return (HTTP_STATUS_CONFLICT);
	}
	if (!strncmp(state, "23", 2) || !strncmp(state, "22", 2)) {
		*code = "validation_failed";
		return (422);
	}

	*code = "internal";
	return (HTTP_STATUS_INTERNAL_ERROR);
}

/*
 * Gives up on sql's query: drops its connection without a cancel request
 * (which would block on a server that does not answer) and frees the
 * handle.  The server rolls back what it had not committed.
 */
void
db_abandon(struct kore_pgsql *sql)
{
	if (sql->conn != NULL)
		kore_pgsql_handle(sql->conn, 1);
	db_release(sql);
}

/*
 * Frees sql's handle once its query is over (COMPLETE or ERROR): every
 * finished query ends here (db_call_release, the recorder, the janitor).
 * A connection libpq calls bad has closed its socket: Kore's release
 * would unregister the closed descriptor, which is fatal to the worker,
 * so it is dropped from the pool first.  A failed query skips Kore's
 * cancel request (a blocking round trip, which a server that does not
 * answer stalls).
 */
void
db_release(struct kore_pgsql *sql)
{
	db_evict_if_broken(sql);
	if (sql->state == KORE_PGSQL_STATE_ERROR)
		sql->state = KORE_PGSQL_STATE_DONE;
	kore_pgsql_cleanup(sql);
}

/*
 * 1 if sql's connection has bytes waiting that the event loop has not
 * read yet: the reply may be there, so this is not the time to give up.
 */
int
db_reply_waiting(const struct kore_pgsql *sql)
{
	struct pollfd	pfd;

	if (sql->conn == NULL || sql->conn->db == NULL)
		return (0);
	pfd.fd = PQsocket(sql->conn->db);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (pfd.fd < 0)
		return (0);
	return (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
}

/* Why queries fail fast now, or NULL when the breaker is closed. */
const char *
db_breaker_reason(void)
{
	return (breaker.open ? breaker.reason : NULL);
}

int
db_breaker_open(void)
{
	return (breaker.open);
}

/* A connect failed: fail fast and probe in the background. */
static void
db_breaker_trip(const char *why)
{
	char	msg[200];
	size_t	n;

	snprintf(msg, sizeof(msg), "%s", why != NULL ? why : "unknown");
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	snprintf(breaker.reason, sizeof(breaker.reason),
	    "database unreachable: %s", msg);

	breaker.retry_at = kore_time_ms() + (u_int64_t)app.cf.db_breaker_ms;
	if (breaker.open)
		return;

	breaker.open = 1;
	breaker.opened_at = kore_time_ms();
	kore_log(LOG_NOTICE, "db.breaker open reason=\"%s\"", msg);
	if (breaker.timer == NULL) {
		breaker.timer = kore_timer_add(db_breaker_tick,
		    DB_PROBE_TICK_MS, NULL, KORE_TIMER_ONESHOT);
	}
}

static void
db_breaker_close(void)
{
	kore_log(LOG_NOTICE, "db.breaker closed after_ms=%llu",
	    (unsigned long long)(kore_time_ms() - breaker.opened_at));
	breaker.open = 0;
}

/*
 * Drives the non-blocking probe connection while the breaker is open.
 * A one-shot timer re-armed while needed: Kore's timer list must not be
 * changed under a running timer, so the tick never removes itself.
 */
static void
db_breaker_tick(void *arg, u_int64_t now)
{
	(void)arg;
	breaker.timer = NULL;		/* Kore frees the fired one-shot */
	db_breaker_probe(now);
	if (breaker.open) {
		breaker.timer = kore_timer_add(db_breaker_tick,
		    DB_PROBE_TICK_MS, NULL, KORE_TIMER_ONESHOT);
	}
}

static void
db_breaker_probe(u_int64_t now)
{
	PostgresPollingStatusType	st;

	st = PGRES_POLLING_FAILED;
	if (breaker.probe == NULL) {
		if (now < breaker.retry_at)
			return;
		breaker.probe = PQconnectStart(app.conninfo);
		breaker.probe_started = now;
		if (breaker.probe == NULL ||
		    PQstatus(breaker.probe) == CONNECTION_BAD)
			goto failed;
	}

	st = PQconnectPoll(breaker.probe);
	if (st == PGRES_POLLING_OK) {
		PQfinish(breaker.probe);
		breaker.probe = NULL;
		db_breaker_close();
		return;
	}
	if (st != PGRES_POLLING_FAILED && now - breaker.probe_started <
	    (u_int64_t)app.cf.db_connect_timeout_s * 1000)
		return;

failed:
	if (breaker.probe != NULL) {
		snprintf(breaker.reason, sizeof(breaker.reason),
		    "database unreachable: %s", st == PGRES_POLLING_FAILED ?
		    PQerrorMessage(breaker.probe) : "connect timed out");
		PQfinish(breaker.probe);
		breaker.probe = NULL;
	}
	breaker.retry_at = now + (u_int64_t)app.cf.db_breaker_ms;
}

/*
 * A query failed on a connection libpq now calls bad (the server went
 * away).  Kore would hand it out again, so drop it from the pool, the way
 * Kore does when epoll reports the socket's error.
 */
static void
db_evict_if_broken(struct kore_pgsql *sql)
{
	if (sql->conn == NULL || sql->conn->db == NULL ||
	    PQstatus(sql->conn->db) != CONNECTION_BAD)
		return;
	kore_pgsql_handle(sql->conn, 1);
}

/* Keeps row 0 of the query's first result (NULL for SQL NULL). */
static void
db_call_keep(struct db_call *call)
{
	int	i, n;

	if (call->results++ > 0)
		return;
	call->rows = kore_pgsql_ntuples(&call->sql);
	if (call->rows == 0)
		return;
	n = kore_pgsql_nfields(&call->sql);
	for (i = 0; i < n && i < DB_CALL_NCOLS; i++) {
		if (!PQgetisnull(call->sql.result, 0, i))
			call->col[i] = kore_strdup(kore_pgsql_getvalue(
			    &call->sql, 0, i));
	}
}

static void
db_call_free(struct db_call *call)
{
	int	i;

	for (i = 0; i < DB_CALL_NPARAMS; i++) {
		kore_free(call->params[i]);
		call->params[i] = NULL;
		call->values[i] = NULL;
	}
	for (i = 0; i < DB_CALL_NCOLS; i++) {
		kore_free(call->col[i]);
		call->col[i] = NULL;
	}
}

/* Appends " key='value'" (conninfo quoting) to out[len] at *off. */
static int
db_conninfo_append(char *out, size_t len, size_t *off, const char *key,
    const char *val)
{
	size_t		o;
	const char	*p;

	o = *off;
	if (o + strlen(key) + 4 >= len)
		return (0);
	o += (size_t)snprintf(out + o, len - o, "%s%s='", o > 0 ? " " : "",
	    key);
	for (p = val; *p != '\0'; p++) {
		if (o + 3 >= len)
			return (0);
		if (*p == '\'' || *p == '\\')
			out[o++] = '\\';
		out[o++] = *p;
	}
	if (o + 2 >= len)
		return (0);
	out[o++] = '\'';
	out[o] = '\0';
	*off = o;
	return (1);
}
