/*
 * recorder.c: the one place rows of POST /predict are written: a group
 * commit per worker.
 *
 * A request hands its row to recorder_submit() and sleeps.  Rows wait on
 * the worker's pending list and leave in batches: one statement,
 * app.record_predictions(), decides the rate limit for each row and
 * inserts the admitted ones, in one transaction.  Only when that
 * statement has completed (the server's ReadyForQuery, which follows the
 * durable commit) is every request of the batch woken with its outcome;
 * if the statement fails, every request of the batch gets 503.  No
 * request is ever answered 200 for a row that is not committed.
 *
 * When a batch leaves:
 *  - at once (next turn of the event loop) when no batch is in flight, so
 *    a lone client never waits for a timer;
 *  - when RECORDER_BATCH_MAX rows are pending and a batch slot is free;
 *  - after RECORDER_DELAY_MS, or when a batch in flight completes.
 * At most RECORDER_INFLIGHT batches run at once (1 by default: the
 * batches come out no larger, but half as many transactions write at
 * once and the machine spends less time a request; docs/performance.md),
 * and never more than half the worker's connections, so other routes
 * always find one.
 *
 * The rate limit is decided in the same statement.  A client busy enough
 * to hold a lease (lease.c) is admitted here from it; when every row of a
 * batch was, the statement skips the decision altogether.
 *
 * POST /predict/batch hands over a group of rows (recorder_submit_group)
 * that must commit together: groups queue on their own list and leave in
 * statements of their own, app.record_prediction_batches(), which admits
 * each group whole or not at all and inserts every admitted row in one
 * transaction.  When both lists wait, free slots alternate between them.
 *
 * Kore's callback-bound queries call back re-entrantly (from inside
 * kore_pgsql_continue() and kore_pgsql_cleanup()), so a finished batch's
 * slot is only reclaimed from a timer, never inside its own callback.
 * A connection that dies while idle in epoll is torn down by Kore without
 * calling back: the watchdog notices the ERROR state.
 */
#include <sys/types.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "app.h"
#include "fixed.h"
#include "lease.h"

#define RECORDER_INFLIGHT_MAX	8
#define RECORDER_WATCHDOG_MS	20
#define RECORDER_NCOLUMNS	10	/* arrays of row values: $1..$10 */
#define RECORDER_WANT		RECORDER_NCOLUMNS	/* then want[]: $14 */
#define RECORDER_NARRAYS	(RECORDER_NCOLUMNS + 1)
#define RECORDER_NPARAMS	(RECORDER_NARRAYS + 4)
#define RECORDER_GROUP_ROWS	1024	/* rows of groups per statement */
#define RECORDER_GROUP_CLIENTS	RECORDER_NCOLUMNS	/* clients: $11 */
#define RECORDER_NARRAYS_ALL	(RECORDER_NARRAYS + 1)	/* shadow_of: $15 */
#define RECORDER_SHADOW_OF	RECORDER_NARRAYS

struct recorder_batch {
	struct kore_pgsql	  sql;
	int			  busy;		/* slot holds a batch */
	int			  finished;	/* outcomes delivered */
	int			  sent;		/* the statement left */
	int			  unknown;	/* failed after sending: it may
						   have committed */
	int			  n;
	int			  nresults;
	u_int64_t		  started;
	u_int64_t		  started_us;
	struct recorder_row	**rows;		/* [batch_max]; NULL: gone */
	int			 *admitted;	/* [batch_max], from the result */
	int			 *remaining;
	int			 *reset_s;
	int			 *want;		/* [batch_max]: 0 leased */
	int			 *tokens;	/* [batch_max]: granted */
	struct lease		**lease;	/* [batch_max], or NULL */
	struct kore_buf		 *arrays[RECORDER_NARRAYS_ALL];
	const char		 *values[RECORDER_NPARAMS];
	const char		 *query;

	/* A statement of groups (POST /predict/batch) instead of rows. */
	int			  of_groups;
	int			  ng;
	struct recorder_group	**groups;	/* [GROUP_ROWS]; NULL: gone */
	int			 *gadmitted;
	int			 *gremaining;
	int			 *greset;
};

/*
 * Parameters: $1..$10 parallel arrays, $11 model, $12 version, $13 limit,
 * $14 want[] (per row: 0 admitted from a lease, else 1 + lease tokens
 * asked), $15 lease length in ms.  One row back: admitted[],
 * remaining[], reset_s[], lease[] (input order) and the rows' timestamp.
 * A CALL, because the procedure commits the rate-limit decision before it
 * inserts (see sql/30_predictions.sql).
 */
static const char recorder_sql[] =
    "CALL app.record_predictions($1::uuid[], $2::inet[], $3::text[], "
    "$4::float8[], $5::float8[], $6::int[], $7::float8[], $8::float8[], "
    "$9::float8[], $10::float8[], $11, $12, $13::int, $14::int[], "
    "$15::int, NULL, NULL, NULL, NULL, NULL)";

/*
 * Parameters: $1 ids, $2 request (1-based group of each row), $3..$10
 * the other row columns, $11 clients (one per group), $12 model, $13
 * version, $14 limit, $15 shadow_of (per row; NULL: not a shadow's).
 * One row back: admitted[], remaining[], reset_s[] per group and the
 * rows' timestamp (sql/31_prediction_batches.sql).
 */
static const char recorder_group_sql[] =
    "CALL app.record_prediction_batches($1::uuid[], $2::int[], "
    "$3::text[], $4::float8[], $5::float8[], $6::int[], $7::float8[], "
    "$8::float8[], $9::float8[], $10::float8[], $11::inet[], $12, $13, "
    "$14::int, $15::uuid[], NULL, NULL, NULL, NULL)";

static void	recorder_arm(void);
static void	recorder_tick(void *, u_int64_t);
static void	recorder_watchdog(void *, u_int64_t);
static void	recorder_flush(struct recorder_batch *);
static void	recorder_flush_groups(struct recorder_batch *);
static void	recorder_flush_next(struct recorder_batch *);
static void	recorder_read_groups(struct recorder_batch *);
static void	recorder_row_values(struct kore_buf **,
		    const struct recorder_row *);
static void	recorder_send(struct recorder_batch *);
static void	recorder_db_cb(struct kore_pgsql *, void *);
static void	recorder_read(struct recorder_batch *);
static void	recorder_leases(struct recorder_batch *, int);
static int	recorder_int(const char **, int *);
static void	recorder_number(struct kore_buf *, double, int);
static void	recorder_integer(struct kore_buf *, long);
static void	recorder_finish(struct recorder_batch *, int, const char *);
static void	recorder_reclaim(void);
static struct recorder_batch	*recorder_free_slot(void);

static TAILQ_HEAD(, recorder_row)	 pending;
static int				 npending;
static TAILQ_HEAD(, recorder_group)	 gpending;
static int				 ngpending;	/* groups */
static int				 ngrows;	/* their rows */
static int				 groups_next;	/* alternation */
static struct recorder_batch		 batches[RECORDER_INFLIGHT_MAX];
static int				 inflight;	/* slots in use */
static int				 ninflight;	/* unfinished */
static struct kore_timer		*flush_timer;
static struct lease_table		 leases;
static char				 limit_param[16];	/* $13 */
static char				 hold_param[16];	/* $15 */

/* Per worker, from init(): the pending list, batch slots, watchdog. */
void
recorder_init(void)
{
	int	i, j;

	TAILQ_INIT(&pending);
	npending = 0;
	TAILQ_INIT(&gpending);
	ngpending = 0;
	ngrows = 0;
	ninflight = 0;
	flush_timer = NULL;

	/*
	 * RECORDER_INFLIGHT, but never more than half the pool, so the
	 * other routes always find a connection.
	 */
	inflight = app.cf.recorder_inflight;
	if (inflight > app.cf.db_pool_size / 2)
		inflight = app.cf.db_pool_size / 2;
	if (inflight < 1)
		inflight = 1;
	if (inflight > RECORDER_INFLIGHT_MAX)
		inflight = RECORDER_INFLIGHT_MAX;

	for (i = 0; i < inflight; i++) {
		memset(&batches[i], 0, sizeof(batches[i]));
		batches[i].rows = kore_calloc((size_t)app.cf.recorder_batch_max,
		    sizeof(struct recorder_row *));
		batches[i].admitted = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(int));
		batches[i].remaining = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(int));
		batches[i].reset_s = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(int));
		batches[i].want = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(int));
		batches[i].tokens = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(int));
		batches[i].lease = kore_calloc(
		    (size_t)app.cf.recorder_batch_max, sizeof(struct lease *));
		for (j = 0; j < RECORDER_NARRAYS_ALL; j++) {
			batches[i].arrays[j] = kore_buf_alloc(
			    (size_t)app.cf.recorder_batch_max * 40);
		}
		batches[i].groups = kore_calloc(RECORDER_GROUP_ROWS,
		    sizeof(struct recorder_group *));
		batches[i].gadmitted = kore_calloc(RECORDER_GROUP_ROWS,
		    sizeof(int));
		batches[i].gremaining = kore_calloc(RECORDER_GROUP_ROWS,
		    sizeof(int));
		batches[i].greset = kore_calloc(RECORDER_GROUP_ROWS,
		    sizeof(int));
	}

	snprintf(limit_param, sizeof(limit_param), "%d",
	    app.cf.rate_limit_predict);
	snprintf(hold_param, sizeof(hold_param), "%d",
	    app.cf.rate_limit_lease_ms);
	lease_table_init(&leases, app.cf.rate_limit_lease_ms,
	    app.cf.rate_limit_predict, LEASE_DEFAULT_MAX);
	kore_timer_add(recorder_watchdog, RECORDER_WATCHDOG_MS, NULL, 0);
}

/*
 * The worker is exiting: abandon the batches still in flight (their
 * clients are gone with the worker) so no connection leaks.
 */
void
recorder_stop(void)
{
	int	i;

	for (i = 0; i < inflight; i++) {
		if (!batches[i].busy)
			continue;
		db_abandon(&batches[i].sql);
		batches[i].busy = 0;
	}
	lease_table_free(&leases);
}

/* 1 while rows wait or batches are in flight (shutdown waits for 0). */
int
recorder_busy(void)
{
	return (npending > 0 || ngpending > 0 || ninflight > 0);
}

/* Queues row (its request sleeps until row->state is RECORDER_DONE). */
void
recorder_submit(struct recorder_row *row)
{
	struct recorder_batch	*b;

	row->state = RECORDER_QUEUED;
	row->queued_ms = kore_time_ms();
	TAILQ_INSERT_TAIL(&pending, row, list);
	npending++;

	if (npending >= app.cf.recorder_batch_max &&
	    (b = recorder_free_slot()) != NULL) {
		recorder_flush(b);
		return;
	}
	recorder_arm();
}

/*
 * Queues a group (its request sleeps until group->state is RECORDER_DONE):
 * all its rows go in one statement.
 */
void
recorder_submit_group(struct recorder_group *g)
{
	struct recorder_batch	*b;

	g->state = RECORDER_QUEUED;
	TAILQ_INSERT_TAIL(&gpending, g, list);
	ngpending++;
	ngrows += g->n;

	if (ngrows >= RECORDER_GROUP_ROWS &&
	    (b = recorder_free_slot()) != NULL) {
		recorder_flush_groups(b);
		return;
	}
	recorder_arm();
}

/*
 * Records rows of a shadow version (copied: the caller keeps its own),
 * each row's shadow_of naming the answered prediction.  Nobody waits:
 * the group is the recorder's and freed when its statement ends.  Not
 * rate limited (the answered request was).
 */
void
recorder_submit_shadow(const struct model *model, const char *client,
    const struct recorder_row *rows, int n)
{
	struct recorder_group	*g;

	g = kore_calloc(1, sizeof(*g));
	g->rows = kore_calloc((size_t)n, sizeof(*rows));
	memcpy(g->rows, rows, (size_t)n * sizeof(*rows));
	g->n = n;
	g->model = model;
	g->shadow = 1;
	snprintf(g->client, sizeof(g->client), "%s", client);
	recorder_submit_group(g);
}

/* recorder_cancel for a group. */
void
recorder_cancel_group(struct recorder_group *g)
{
	switch (g->state) {
	case RECORDER_QUEUED:
		TAILQ_REMOVE(&gpending, g, list);
		ngpending--;
		ngrows -= g->n;
		break;
	case RECORDER_SENT:
		if (g->batch != NULL)
			g->batch->groups[g->slot] = NULL;
		break;
	default:
		break;
	}
	g->batch = NULL;
	g->state = RECORDER_NEW;
}

/*
 * The request of row is being freed (answered, or its client went away):
 * unlink it.  A row already sent is still committed; nobody is told.
 */
void
recorder_cancel(struct recorder_row *row)
{
	switch (row->state) {
	case RECORDER_QUEUED:
		TAILQ_REMOVE(&pending, row, list);
		npending--;
		break;
	case RECORDER_SENT:
		if (row->batch != NULL)
			row->batch->rows[row->slot] = NULL;
		break;
	default:
		break;
	}
	row->batch = NULL;
	row->state = RECORDER_NEW;
}

/* Schedules a flush: next loop turn when idle, else after the delay. */
static void
recorder_arm(void)
{
	u_int64_t	delay;

	if (flush_timer != NULL || (npending == 0 && ngpending == 0))
		return;
	delay = ninflight == 0 ? 0 : (u_int64_t)app.cf.recorder_delay_ms;
	flush_timer = kore_timer_add(recorder_tick, delay, NULL,
	    KORE_TIMER_ONESHOT);
}

static void
recorder_tick(void *arg, u_int64_t now)
{
	struct recorder_batch	*b;

	(void)arg;
	(void)now;
	flush_timer = NULL;		/* one-shot: Kore frees it */

	recorder_reclaim();
	while ((npending > 0 || ngpending > 0) &&
	    (b = recorder_free_slot()) != NULL)
		recorder_flush_next(b);
	/* Rows left over go when a batch completes (it re-arms us). */
}

/* Fills b from one list; when both wait, they take turns. */
static void
recorder_flush_next(struct recorder_batch *b)
{
	if (ngpending > 0 && (npending == 0 || groups_next)) {
		groups_next = 0;
		recorder_flush_groups(b);
	} else {
		groups_next = 1;
		recorder_flush(b);
	}
}

/*
 * Fails batches whose connection died without a callback, and batches
 * past RECORDER_TIMEOUT_MS (dropping their connection: the server rolls
 * back an uncommitted transaction when its client goes away).
 */
static void
recorder_watchdog(void *arg, u_int64_t now)
{
	struct recorder_batch	*b;
	int			 i;

	/*
	 * now is the time Kore read before running this turn's timers; a
	 * flush by an earlier timer of the same turn may have stamped its
	 * batch a millisecond later, so now - started can be "negative".
	 */
	(void)arg;
	for (i = 0; i < inflight; i++) {
		b = &batches[i];
		if (!b->busy || b->finished)
			continue;
		if (b->sql.state == KORE_PGSQL_STATE_ERROR) {
			/* The connection died under a sent statement. */
			b->unknown = 1;
			recorder_finish(b, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    b->sql.error);
		} else if (now > b->started &&
		    now - b->started > (u_int64_t)app.cf.recorder_timeout_ms &&
		    !db_reply_waiting(&b->sql)) {
			/*
			 * statement_timeout ends a slow statement long
			 * before this; what is left is a server or network
			 * that stopped answering.  Whether it committed is
			 * unknown, and the clients are told so.
			 */
			if (b->sql.conn != NULL)
				kore_pgsql_handle(b->sql.conn, 1);
			b->unknown = b->sent;
			recorder_finish(b, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "batch timed out");
		}
	}
	recorder_reclaim();
	lease_sweep(&leases, now);
}

/* Moves up to RECORDER_BATCH_MAX pending rows into b and sends them. */
static void
recorder_flush(struct recorder_batch *b)
{
	struct recorder_row	*row, *next;
	const struct model	*model;
	struct kore_buf		**a;
	int			 i, nleased;

	a = b->arrays;
	for (i = 0; i < RECORDER_NARRAYS; i++) {
		kore_buf_reset(a[i]);
		kore_buf_append(a[i], "{", 1);
	}

	b->busy = 1;
	b->finished = 0;
	b->sent = 0;
	b->unknown = 0;
	b->n = 0;
	b->nresults = 0;
	b->of_groups = 0;
	b->ng = 0;
	b->query = recorder_sql;
	b->started = kore_time_ms();
	b->started_us = clock_now_us();
	ninflight++;
	nleased = 0;

	/*
	 * One model version per statement (it names one): the first row's.
	 * Rows of other versions keep their place for the next batch.
	 */
	model = TAILQ_FIRST(&pending)->model;
	for (row = TAILQ_FIRST(&pending); row != NULL &&
	    b->n < app.cf.recorder_batch_max; row = next) {
		next = TAILQ_NEXT(row, list);
		if (row->model != model)
			continue;
		TAILQ_REMOVE(&pending, row, list);
		npending--;
		row->state = RECORDER_SENT;
		row->batch = b;
		row->slot = b->n;
		b->rows[b->n] = row;
		row->limit = app.cf.rate_limit_predict;
		b->want[b->n] = lease_want(&leases, row->client, b->started,
		    &b->lease[b->n], &row->remaining, &row->reset_s);
		b->tokens[b->n] = 0;
		if (b->want[b->n] == 0)
			nleased++;

		if (b->n > 0) {
			for (i = 0; i < RECORDER_NARRAYS; i++)
				kore_buf_append(a[i], ",", 1);
		}
		kore_buf_append(a[1], row->client, strlen(row->client));
		recorder_row_values(a, row);
		recorder_integer(a[RECORDER_WANT], b->want[b->n]);
		b->n++;
	}
	stats_me()->lease_admits += (uint64_t)nleased;

	for (i = 0; i < RECORDER_NARRAYS; i++)
		kore_buf_append(a[i], "}", 1);
	for (i = 0; i < RECORDER_NCOLUMNS; i++)
		b->values[i] = kore_buf_stringify(a[i], NULL);
	b->values[10] = model_name(model);
	b->values[11] = model_version(model);
	b->values[12] = limit_param;
	b->values[13] = kore_buf_stringify(a[RECORDER_WANT], NULL);
	b->values[14] = hold_param;

	kore_pgsql_init(&b->sql);
	kore_pgsql_bind_callback(&b->sql, recorder_db_cb, b);
	recorder_send(b);
}

/*
 * Moves pending groups of the first one's model version into b, up to
 * RECORDER_GROUP_ROWS rows (always one whole group), and sends them.
 */
static void
recorder_flush_groups(struct recorder_batch *b)
{
	struct recorder_group	*g, *next;
	const struct model	*model;
	struct kore_buf		**a;
	char			 req[FIXED_BUFLEN];
	size_t			 reqlen;
	int			 i, k, shadow;

	a = b->arrays;
	for (i = 0; i < RECORDER_NARRAYS_ALL; i++) {
		kore_buf_reset(a[i]);
		kore_buf_append(a[i], "{", 1);
	}
	b->busy = 1;
	b->finished = 0;
	b->sent = 0;
	b->unknown = 0;
	b->n = 0;
	b->nresults = 0;
	b->of_groups = 1;
	b->ng = 0;
	b->query = recorder_group_sql;
	b->started = kore_time_ms();
	b->started_us = clock_now_us();
	ninflight++;

	/* One version, and shadow rows apart (they skip the rate limit). */
	model = TAILQ_FIRST(&gpending)->model;
	shadow = TAILQ_FIRST(&gpending)->shadow;
	for (g = TAILQ_FIRST(&gpending); g != NULL; g = next) {
		next = TAILQ_NEXT(g, list);
		if (g->model != model || g->shadow != shadow)
			continue;
		if (b->ng > 0 && b->n + g->n > RECORDER_GROUP_ROWS)
			break;
		TAILQ_REMOVE(&gpending, g, list);
		ngpending--;
		ngrows -= g->n;
		g->state = RECORDER_SENT;
		g->batch = b;
		g->slot = b->ng;
		g->limit = app.cf.rate_limit_predict;
		b->groups[b->ng] = g;

		if (b->ng > 0)
			kore_buf_append(a[RECORDER_GROUP_CLIENTS], ",", 1);
		kore_buf_append(a[RECORDER_GROUP_CLIENTS], g->client,
		    strlen(g->client));
		reqlen = fixed_integer(req, sizeof(req), b->ng + 1);
		for (k = 0; k < g->n; k++) {
			if (b->n > 0) {
				for (i = 0; i < RECORDER_NCOLUMNS; i++)
					kore_buf_append(a[i], ",", 1);
				kore_buf_append(a[RECORDER_SHADOW_OF], ",", 1);
			}
			kore_buf_append(a[1], req, reqlen);
			recorder_row_values(a, &g->rows[k]);
			kore_buf_append(a[RECORDER_SHADOW_OF],
			    g->rows[k].shadow_of, strlen(g->rows[k].shadow_of));
			b->n++;
		}
		b->ng++;
	}

	for (i = 0; i < RECORDER_NARRAYS_ALL; i++)
		kore_buf_append(a[i], "}", 1);
	for (i = 0; i < RECORDER_NARRAYS; i++)
		b->values[i] = kore_buf_stringify(a[i], NULL);
	b->values[11] = model_name(model);
	b->values[12] = model_version(model);
	b->values[13] = limit_param;
	b->values[14] = shadow ?
	    kore_buf_stringify(a[RECORDER_SHADOW_OF], NULL) : NULL;

	kore_pgsql_init(&b->sql);
	kore_pgsql_bind_callback(&b->sql, recorder_db_cb, b);
	recorder_send(b);
}

/*
 * Appends row's columns but the second (the client, or a group's request
 * index): every element is a uuid, a label or a number, nothing needs
 * array quoting.  The numbers were rounded to these decimals (model.c,
 * api_predict.c), and are written as the client saw them (fixed.c).
 */
static void
recorder_row_values(struct kore_buf **a, const struct recorder_row *row)
{
	kore_buf_append(a[0], row->id, strlen(row->id));
	kore_buf_append(a[2], row->result.label, strlen(row->result.label));
	recorder_number(a[3], row->result.confidence, 6);
	recorder_number(a[4], row->inference_ms, 3);
	recorder_integer(a[5], row->input_length);
	recorder_number(a[6], row->result.compound, 4);
	recorder_number(a[7], row->result.pos, 3);
	recorder_number(a[8], row->result.neu, 3);
	recorder_number(a[9], row->result.neg, 3);
}

/* (Re)tries to send b's statement; queued batches come back via INIT. */
static void
recorder_send(struct recorder_batch *b)
{
	switch (db_query(&b->sql, b->query, RECORDER_NPARAMS, b->values)) {
	case DB_OK:
		b->sent = 1;
		break;
	case DB_QUEUED:
		break;
	default:
		recorder_finish(b, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    b->sql.error);
		break;
	}
}

static void
recorder_db_cb(struct kore_pgsql *sql, void *arg)
{
	struct recorder_batch	*b = arg;
	const char		*code;

	if (b->finished)
		return;

	switch (sql->state) {
	case KORE_PGSQL_STATE_INIT:
		recorder_send(b);		/* a connection freed up */
		break;
	case KORE_PGSQL_STATE_WAIT:
		break;
	case KORE_PGSQL_STATE_RESULT:
		if (b->of_groups)
			recorder_read_groups(b);
		else
			recorder_read(b);
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_DONE:
		kore_pgsql_continue(sql);	/* -> COMPLETE, re-entrant */
		break;
	case KORE_PGSQL_STATE_COMPLETE:
		/* ReadyForQuery came after the commit: the rows are durable. */
		if (b->nresults != (b->of_groups ? b->ng : b->n)) {
			/* Committed, but we cannot tell who was admitted. */
			recorder_finish(b, HTTP_STATUS_INTERNAL_ERROR,
			    "result has the wrong shape");
		} else {
			recorder_finish(b, HTTP_STATUS_OK, NULL);
		}
		break;
	case KORE_PGSQL_STATE_ERROR:
		/*
		 * 503 for every row.  An error the server reported rolled the
		 * rows back, unless it ended the session (class 08, or 57:
		 * a shutdown can end a backend between its commit and its
		 * answer); that, or a connection lost under the sent
		 * statement, leaves the outcome unknown.
		 */
		code = sql->result != NULL ?
		    PQresultErrorField(sql->result, PG_DIAG_SQLSTATE) : NULL;
		b->unknown = (code == NULL || strncmp(code, "08", 2) == 0 ||
		    strncmp(code, "57", 2) == 0);
		recorder_finish(b, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    sql->error);
		break;
	default:
		break;
	}
}

/*
 * Copies the result row into the rows (final only at COMPLETE).  The
 * arrays are PostgreSQL's text form of boolean[] and integer[]: "{t,f}",
 * "{9,0}".  Rows admitted from a lease keep the remaining / reset_s
 * their lease gave them.
 */
static void
recorder_read(struct recorder_batch *b)
{
	struct recorder_row	*row;
	const char		*adm, *rem, *rst, *lse, *created;
	int			 i;

	if (kore_pgsql_ntuples(&b->sql) != 1 ||
	    kore_pgsql_nfields(&b->sql) != 5)
		return;
	adm = kore_pgsql_getvalue(&b->sql, 0, 0);
	rem = kore_pgsql_getvalue(&b->sql, 0, 1);
	rst = kore_pgsql_getvalue(&b->sql, 0, 2);
	lse = kore_pgsql_getvalue(&b->sql, 0, 3);
	created = kore_pgsql_getvalue(&b->sql, 0, 4);
	if (*adm++ != '{' || *rem++ != '{' || *rst++ != '{' || *lse++ != '{')
		return;

	for (i = 0; i < b->n; i++) {
		if ((*adm != 't' && *adm != 'f') ||
		    !recorder_int(&rem, &b->remaining[i]) ||
		    !recorder_int(&rst, &b->reset_s[i]) ||
		    !recorder_int(&lse, &b->tokens[i]))
			return;
		b->admitted[i] = (*adm == 't');
		adm++;
		if (*adm != (i + 1 < b->n ? ',' : '}'))
			return;
		adm++;
	}
	b->nresults = b->n;

	for (i = 0; i < b->n; i++) {
		if (b->lease[i] != NULL && b->admitted[i])
			lease_note(b->lease[i], b->remaining[i]);
		if ((row = b->rows[i]) == NULL)
			continue;
		row->status = b->admitted[i] ? HTTP_STATUS_OK : 429;
		if (b->want[i] != 0) {
			row->remaining = b->remaining[i];
			row->reset_s = b->reset_s[i];
		}
		snprintf(row->created_at, sizeof(row->created_at), "%s",
		    created);
	}
}

/* recorder_read for a statement of groups: one outcome per group. */
static void
recorder_read_groups(struct recorder_batch *b)
{
	struct recorder_group	*g;
	const char		*adm, *rem, *rst, *created;
	int			 i;

	if (kore_pgsql_ntuples(&b->sql) != 1 ||
	    kore_pgsql_nfields(&b->sql) != 4)
		return;
	adm = kore_pgsql_getvalue(&b->sql, 0, 0);
	rem = kore_pgsql_getvalue(&b->sql, 0, 1);
	rst = kore_pgsql_getvalue(&b->sql, 0, 2);
	created = kore_pgsql_getvalue(&b->sql, 0, 3);
	if (*adm++ != '{' || *rem++ != '{' || *rst++ != '{')
		return;
	for (i = 0; i < b->ng; i++) {
		if ((*adm != 't' && *adm != 'f') ||
		    !recorder_int(&rem, &b->gremaining[i]) ||
		    !recorder_int(&rst, &b->greset[i]))
			return;
		b->gadmitted[i] = (*adm == 't');
		adm++;
		if (*adm != (i + 1 < b->ng ? ',' : '}'))
			return;
		adm++;
	}
	b->nresults = b->ng;

	for (i = 0; i < b->ng; i++) {
		if ((g = b->groups[i]) == NULL)
			continue;
		g->status = b->gadmitted[i] ? HTTP_STATUS_OK : 429;
		g->remaining = b->gremaining[i];
		g->reset_s = b->greset[i];
		snprintf(g->created_at, sizeof(g->created_at), "%s", created);
	}
}

/*
 * The batch ended: hand the leases it asked for to the lease table (ok:
 * the decision was read), and give back its references.  A failed batch
 * drops every lease of the worker: the database may have lost the
 * decisions behind them.
 */
static void
recorder_leases(struct recorder_batch *b, int ok)
{
	u_int64_t	now;
	int		i;

	now = kore_time_ms();
	if (!ok)
		lease_drop_all(&leases);
	for (i = 0; i < b->n; i++) {
		if (b->lease[i] == NULL)
			continue;
		if (ok && b->want[i] > 1) {
			lease_grant(&leases, b->lease[i], b->tokens[i],
			    b->reset_s[i], b->started, now);
			if (b->tokens[i] > 0)
				stats_me()->lease_grants++;
		}
		lease_release(b->lease[i], b->want[i] > 1);
		b->lease[i] = NULL;
	}
}

/*
 * Appends v's text, rounded to decimals places.  Our numbers are always
 * finite (scores, a clock difference); should one not be, "NaN" keeps the
 * array well formed: float8 reads it, and the CHECK constraints of the
 * scores refuse it.
 */
static void
recorder_number(struct kore_buf *a, double v, int decimals)
{
	char	num[FIXED_BUFLEN];
	size_t	n;

	if (!isfinite(v) || (n = fixed_format(num, sizeof(num), v,
	    decimals)) == 0) {
		kore_buf_append(a, "NaN", 3);
		return;
	}
	kore_buf_append(a, num, n);
}

/* Appends v in decimal (fixed.c). */
static void
recorder_integer(struct kore_buf *a, long v)
{
	char	num[FIXED_BUFLEN];

	kore_buf_append(a, num, fixed_integer(num, sizeof(num), v));
}

/* Reads one integer of an array's text and its ',' or '}'. */
static int
recorder_int(const char **pp, int *out)
{
	const char	*p;
	long		 v;
	int		 neg;

	p = *pp;
	neg = (*p == '-');
	if (neg)
		p++;
	if (*p < '0' || *p > '9')
		return (0);
	for (v = 0; *p >= '0' && *p <= '9' && v < 1000000000L; p++)
		v = v * 10 + (*p - '0');
	if (*p != ',' && *p != '}')
		return (0);
	*out = (int)(neg ? -v : v);
	*pp = p + 1;
	return (1);
}

/*
 * Delivers the batch's outcome: status 200 means "as read from the
 * result" (200 or 429 per row); anything else applies to every row.
 */
static void
recorder_finish(struct recorder_batch *b, int status, const char *why)
{
	struct stats_worker	*sw;
	struct recorder_row	*row;
	struct recorder_group	*g;
	int			 i;

	if (b->finished)
		return;
	b->finished = 1;
	ninflight--;
	if (!b->of_groups)
		recorder_leases(b, status == HTTP_STATUS_OK &&
		    b->nresults == b->n);
	else if (status != HTTP_STATUS_OK)
		lease_drop_all(&leases);

	sw = stats_me();
	stats_observe(&sw->batch_rows, STATS_HIST_ROWS, (double)b->n);
	if (status != HTTP_STATUS_OK) {
		sw->batches_failed++;
		kore_log(LOG_NOTICE, "recorder.batch failed rows=%d status=%d "
		    "reason=\"%s\"", b->n, status, why != NULL ? why : "");
	} else {
		stats_observe(&sw->db_write_ms, STATS_HIST_MS,
		    (double)(clock_now_us() - b->started_us) / 1000.0);
	}

	for (i = 0; b->of_groups && i < b->ng; i++) {
		if ((g = b->groups[i]) == NULL)
			continue;
		b->groups[i] = NULL;
		if (g->req == NULL) {
			/* A shadow's rows: nobody waits for them. */
			kore_free(g->rows);
			kore_free(g);
			continue;
		}
		if (status != HTTP_STATUS_OK) {
			g->status = status;
			g->unknown = b->unknown;
		}
		g->state = RECORDER_DONE;
		g->batch = NULL;
		http_request_wakeup(g->req);
	}
	for (i = 0; !b->of_groups && i < b->n; i++) {
		if ((row = b->rows[i]) == NULL)
			continue;
		b->rows[i] = NULL;
		if (status != HTTP_STATUS_OK) {
			row->status = status;
			row->unknown = b->unknown;
		}
		row->state = RECORDER_DONE;
		row->batch = NULL;
		http_request_wakeup(row->req);
	}

	/*
	 * Reclaim the slot and send what waits, outside this call stack, on
	 * the next turn.  A delay timer armed while this batch was in flight
	 * is replaced: the rows that queued behind the batch would otherwise
	 * sit out the rest of RECORDER_DELAY_MS with a slot free.  (Kore
	 * unlinks a timer before running it, and recorder_tick clears
	 * flush_timer first, so the one removed here is never running.)
	 */
	if (flush_timer != NULL)
		kore_timer_remove(flush_timer);
	flush_timer = kore_timer_add(recorder_tick, 0, NULL,
	    KORE_TIMER_ONESHOT);
}

/* Frees the query state of finished batches, making their slots free. */
static void
recorder_reclaim(void)
{
	struct recorder_batch	*b;
	int			 i;

	for (i = 0; i < inflight; i++) {
		b = &batches[i];
		if (!b->busy || !b->finished)
			continue;
		/* A failed query has finished: skip Kore's cancel request. */
		if (b->sql.state == KORE_PGSQL_STATE_ERROR)
			b->sql.state = KORE_PGSQL_STATE_DONE;
		kore_pgsql_cleanup(&b->sql);
		b->busy = 0;
	}
}

static struct recorder_batch *
recorder_free_slot(void)
{
	int	i;

	for (i = 0; i < inflight; i++) {
		if (!batches[i].busy)
			return (&batches[i]);
	}
	return (NULL);
}
