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
 * A statement names one model version: rows of others wait for the next.
 *
 * Kore's callback-bound queries call back re-entrantly (from inside
 * kore_pgsql_continue() and kore_pgsql_cleanup()), so a finished batch's
 * slot is only reclaimed from a timer, never inside its own callback.
 * A connection that dies while idle in epoll is torn down by Kore without
 * calling back: the watchdog notices the ERROR state.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "app.h"
#include "lease.h"
#include "partial.h"
#include "pgarray.h"

#define RECORDER_INFLIGHT_MAX	8
#define RECORDER_WATCHDOG_MS	20
#define RECORDER_TEXT_MAX	64	/* longer id, client or label: malloc */
#define RECORDER_GROUP_ROWS	1024	/* rows of groups per statement */

/* The statement's parameters, $1..$15 in order (recorder_sql). */
enum recorder_param {
	RECORDER_P_ID,			/* $1 uuid[] */
	RECORDER_P_CLIENT,		/* $2 inet[] */
	RECORDER_P_LABEL,		/* $3 text[] */
	RECORDER_P_CONFIDENCE,		/* $4 float8[] */
	RECORDER_P_INFERENCE_MS,	/* $5 float8[] */
	RECORDER_P_INPUT_LENGTH,	/* $6 int[] */
	RECORDER_P_COMPOUND,		/* $7 float8[] */
	RECORDER_P_POS,			/* $8 float8[] */
	RECORDER_P_NEU,			/* $9 float8[] */
	RECORDER_P_NEG,			/* $10 float8[] */
	RECORDER_P_MODEL,		/* $11 model name */
	RECORDER_P_VERSION,		/* $12 model version */
	RECORDER_P_LIMIT,		/* $13 requests per window */
	RECORDER_P_WANT,		/* $14 int[] */
	RECORDER_P_LEASE_MS,		/* $15 lease length */
	RECORDER_P_PART,		/* $16..$19 the partial (partial.c) */
	RECORDER_NPARAMS = RECORDER_P_PART + 4
};

/* The columns of the statement's one row. */
enum recorder_col {
	RECORDER_C_ADMITTED,		/* boolean[] */
	RECORDER_C_REMAINING,		/* integer[] */
	RECORDER_C_RESET_S,		/* integer[] */
	RECORDER_C_LEASE,		/* integer[]: tokens granted */
	RECORDER_C_CREATED_AT,		/* the rows' timestamp */
	RECORDER_NCOLS
};

/*
 * The parameters of a statement of groups (recorder_group_sql), $1..$15.
 * Its arrays use the buffers of the row statement's (same index) but for
 * shadow_of, which has its own.
 */
enum recorder_gparam {
	RECORDER_G_ID,			/* $1 uuid[], per row */
	RECORDER_G_REQUEST,		/* $2 int[]: the row's group, 1-based */
	RECORDER_G_LABEL,		/* $3..$10 as the row statement's */
	RECORDER_G_CLIENT = RECORDER_P_NEG + 1,	/* $11 inet[], per group */
	RECORDER_G_MODEL,		/* $12 */
	RECORDER_G_VERSION,		/* $13 */
	RECORDER_G_LIMIT,		/* $14 */
	RECORDER_G_SHADOW_OF,		/* $15 uuid[] per row, or NULL */
	RECORDER_G_PART,		/* $16..$19 as the row statement's */
	RECORDER_NGPARAMS = RECORDER_G_PART + 4
};

/* Which parameters are arrays: one element per row. */
static const int recorder_is_array[RECORDER_NPARAMS] = {
	[RECORDER_P_ID] = 1,
	[RECORDER_P_CLIENT] = 1,
	[RECORDER_P_LABEL] = 1,
	[RECORDER_P_CONFIDENCE] = 1,
	[RECORDER_P_INFERENCE_MS] = 1,
	[RECORDER_P_INPUT_LENGTH] = 1,
	[RECORDER_P_COMPOUND] = 1,
	[RECORDER_P_POS] = 1,
	[RECORDER_P_NEU] = 1,
	[RECORDER_P_NEG] = 1,
	[RECORDER_P_WANT] = 1,
};

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
	struct kore_buf		 *arrays[RECORDER_NPARAMS];  /* or NULL */
	const char		 *values[RECORDER_NPARAMS];
	const char		 *query;
	int			  nvalues;

	/* A statement of groups (POST /predict/batch) instead of rows. */
	int			  of_groups;
	int			  ng;
	struct recorder_group	**groups;	/* [GROUP_ROWS]; NULL: gone */
	int			 *gadmitted;
	int			 *gremaining;
	int			 *greset;
	struct kore_buf		 *gclients;
	struct kore_buf		 *gshadow_of;

	/* The statement's partial row and its four parameters' text. */
	struct partial		  part;
	int32_t			 *part_idx;
	int64_t			 *part_cnt;
	struct kore_buf		 *part_text[4];
};

/*
 * Parameters: $1..$10 parallel arrays, $11 model, $12 version, $13 limit,
 * $14 want[] (per row: 0 admitted from a lease, else 1 + lease tokens
 * asked), $15 lease length in ms, $16..$19 the rows' partial rollup row
 * (sums[], histogram indexes[], counts[], running totals[]; NULL: the
 * database sums the rows itself).  One row back: admitted[],
 * remaining[], reset_s[], lease[] (input order) and the rows' timestamp.
 * A CALL, because the procedure commits the rate-limit decision before it
 * inserts (see sql/30_predictions.sql).
 */
static const char recorder_sql[] =
    "CALL app.record_predictions($1::uuid[], $2::inet[], $3::text[], "
    "$4::float8[], $5::float8[], $6::int[], $7::float8[], $8::float8[], "
    "$9::float8[], $10::float8[], $11, $12, $13::int, $14::int[], "
    "$15::int, $16::int8[], $17::int[], $18::int8[], $19::int8[], "
    "NULL, NULL, NULL, NULL, NULL)";

/*
 * Parameters: recorder_gparam.  One row back: admitted[], remaining[],
 * reset_s[] per group and the rows' timestamp
 * (sql/31_prediction_batches.sql).
 */
static const char recorder_group_sql[] =
    "CALL app.record_prediction_batches($1::uuid[], $2::int[], "
    "$3::text[], $4::float8[], $5::float8[], $6::int[], $7::float8[], "
    "$8::float8[], $9::float8[], $10::float8[], $11::inet[], $12, $13, "
    "$14::int, $15::uuid[], $16::int8[], $17::int[], $18::int8[], "
    "$19::int8[], NULL, NULL, NULL, NULL)";

static void	recorder_arm(void);
static void	recorder_tick(void *, u_int64_t);
static void	recorder_watchdog(void *, u_int64_t);
static void	recorder_flush(struct recorder_batch *);
static void	recorder_flush_groups(struct recorder_batch *);
static void	recorder_flush_next(struct recorder_batch *);
static void	recorder_read_groups(struct recorder_batch *);
static void	recorder_row_values(struct kore_buf **, struct partial *,
		    const struct recorder_row *);
static void	recorder_partial(struct recorder_batch *, int);
static void	recorder_send(struct recorder_batch *);
static void	recorder_db_cb(struct kore_pgsql *, void *);
static void	recorder_read(struct recorder_batch *);
static void	recorder_leases(struct recorder_batch *, int);
static void	recorder_text(struct kore_buf *, const char *);
static double	recorder_number(struct kore_buf *, double, int);
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
	size_t	cap;
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
		for (j = 0; j < RECORDER_NPARAMS; j++) {
			if (!recorder_is_array[j])
				continue;
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
		batches[i].gclients = kore_buf_alloc(1024);
		batches[i].gshadow_of = kore_buf_alloc(1024);
		cap = (size_t)app.cf.recorder_batch_max;
		if (cap < RECORDER_GROUP_ROWS)
			cap = RECORDER_GROUP_ROWS;
		batches[i].part_idx = kore_calloc(cap, sizeof(int32_t));
		batches[i].part_cnt = kore_calloc(cap, sizeof(int64_t));
		for (j = 0; j < 4; j++)
			batches[i].part_text[j] = kore_buf_alloc(256);
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
	for (i = 0; i < RECORDER_NPARAMS; i++) {
		if (a[i] == NULL)
			continue;
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
	b->nvalues = RECORDER_NPARAMS;
	b->started = kore_time_ms();
	b->started_us = clock_now_us();
	ninflight++;
	nleased = 0;

	/*
	 * One model version per statement (it names one): the first row's.
	 * Rows of other versions keep their place for the next batch.
	 */
	model = TAILQ_FIRST(&pending)->model;
	partial_reset(&b->part, b->part_idx, b->part_cnt,
	    (size_t)app.cf.recorder_batch_max);
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
			for (i = 0; i < RECORDER_NPARAMS; i++) {
				if (a[i] != NULL)
					kore_buf_append(a[i], ",", 1);
			}
		}
		recorder_text(a[RECORDER_P_CLIENT], row->client);
		recorder_row_values(a, &b->part, row);
		recorder_integer(a[RECORDER_P_WANT], b->want[b->n]);
		b->n++;
	}
	stats_me()->lease_admits += (uint64_t)nleased;

	for (i = 0; i < RECORDER_NPARAMS; i++) {
		if (a[i] == NULL)
			continue;
		kore_buf_append(a[i], "}", 1);
		b->values[i] = kore_buf_stringify(a[i], NULL);
	}
	b->values[RECORDER_P_MODEL] = model_name(model);
	b->values[RECORDER_P_VERSION] = model_version(model);
	b->values[RECORDER_P_LIMIT] = limit_param;
	b->values[RECORDER_P_LEASE_MS] = hold_param;
	recorder_partial(b, RECORDER_P_PART);

	kore_pgsql_init(&b->sql);
	kore_pgsql_bind_callback(&b->sql, recorder_db_cb, b);
	recorder_send(b);
}

/*
 * Moves pending groups of the first one's model version (and kind:
 * answered or shadow) into b, up to RECORDER_GROUP_ROWS rows (always one
 * whole group), and sends them.
 */
static void
recorder_flush_groups(struct recorder_batch *b)
{
	struct recorder_group	*g, *next;
	const struct model	*model;
	struct kore_buf		**a;
	int			 i, k, shadow;

	a = b->arrays;
	for (i = 0; i <= RECORDER_P_NEG; i++) {
		kore_buf_reset(a[i]);
		kore_buf_append(a[i], "{", 1);
	}
	kore_buf_reset(b->gclients);
	kore_buf_append(b->gclients, "{", 1);
	kore_buf_reset(b->gshadow_of);
	kore_buf_append(b->gshadow_of, "{", 1);
	b->busy = 1;
	b->finished = 0;
	b->sent = 0;
	b->unknown = 0;
	b->n = 0;
	b->nresults = 0;
	b->of_groups = 1;
	b->ng = 0;
	b->query = recorder_group_sql;
	b->nvalues = RECORDER_NGPARAMS;
	b->started = kore_time_ms();
	b->started_us = clock_now_us();
	ninflight++;

	/* One version, and shadow rows apart (they skip the rate limit). */
	model = TAILQ_FIRST(&gpending)->model;
	shadow = TAILQ_FIRST(&gpending)->shadow;
	partial_reset(&b->part, b->part_idx, b->part_cnt, RECORDER_GROUP_ROWS);
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
			kore_buf_append(b->gclients, ",", 1);
		recorder_text(b->gclients, g->client);
		for (k = 0; k < g->n; k++) {
			if (b->n > 0) {
				for (i = 0; i <= RECORDER_P_NEG; i++)
					kore_buf_append(a[i], ",", 1);
				kore_buf_append(b->gshadow_of, ",", 1);
			}
			recorder_integer(a[RECORDER_G_REQUEST], b->ng + 1);
			recorder_row_values(a, &b->part, &g->rows[k]);
			recorder_text(b->gshadow_of, g->rows[k].shadow_of);
			b->n++;
		}
		b->ng++;
	}

	for (i = 0; i <= RECORDER_P_NEG; i++) {
		kore_buf_append(a[i], "}", 1);
		b->values[i] = kore_buf_stringify(a[i], NULL);
	}
	kore_buf_append(b->gclients, "}", 1);
	kore_buf_append(b->gshadow_of, "}", 1);
	b->values[RECORDER_G_CLIENT] = kore_buf_stringify(b->gclients, NULL);
	b->values[RECORDER_G_MODEL] = model_name(model);
	b->values[RECORDER_G_VERSION] = model_version(model);
	b->values[RECORDER_G_LIMIT] = limit_param;
	b->values[RECORDER_G_SHADOW_OF] = shadow ?
	    kore_buf_stringify(b->gshadow_of, NULL) : NULL;
	recorder_partial(b, RECORDER_G_PART);

	kore_pgsql_init(&b->sql);
	kore_pgsql_bind_callback(&b->sql, recorder_db_cb, b);
	recorder_send(b);
}

/*
 * Appends row's columns but the second (the client, or a group's request
 * index), and adds it to the statement's partial.  The numbers were
 * rounded to these decimals (model.c, api_predict.c), and are written as
 * the client saw them (fixed.c, through pgarray.c); the partial sums the
 * values that text stands for, as the database reads it.
 */
static void
recorder_row_values(struct kore_buf **a, struct partial *part,
    const struct recorder_row *row)
{
	double	conf, ms, compound;

	recorder_text(a[RECORDER_P_ID], row->id);
	recorder_text(a[RECORDER_P_LABEL], row->result.label);
	conf = recorder_number(a[RECORDER_P_CONFIDENCE],
	    row->result.confidence, 6);
	ms = recorder_number(a[RECORDER_P_INFERENCE_MS], row->inference_ms, 3);
	recorder_integer(a[RECORDER_P_INPUT_LENGTH], row->input_length);
	compound = recorder_number(a[RECORDER_P_COMPOUND],
	    row->result.compound, 4);
	recorder_number(a[RECORDER_P_POS], row->result.pos, 3);
	recorder_number(a[RECORDER_P_NEU], row->result.neu, 3);
	recorder_number(a[RECORDER_P_NEG], row->result.neg, 3);
	partial_add(part, row->result.label, conf, ms, compound);
}

/*
 * The partial's four parameters from first on: sums (n, the label
 * counts, confidence, time, min, max, then confidence and compound per
 * label), histogram indexes, counts and running totals.  All NULL when a
 * value did not fit: the database's trigger then sums the rows.
 */
static void
recorder_partial(struct recorder_batch *b, int first)
{
	struct partial	*p = &b->part;
	struct kore_buf	**t = b->part_text;
	int64_t		 sums[14], cum;
	size_t		 i;
	int		 j;

	for (j = 0; j < 4; j++)
		b->values[first + j] = NULL;
	if (p->bad || p->n == 0)
		return;
	partial_close(p);
	sums[0] = p->n;
	sums[1] = p->labels[PARTIAL_POSITIVE];
	sums[2] = p->labels[PARTIAL_NEGATIVE];
	sums[3] = p->labels[PARTIAL_NEUTRAL];
	sums[4] = p->conf_micro[0] + p->conf_micro[1] + p->conf_micro[2];
	sums[5] = p->time_us;
	sums[6] = p->time_min_us;
	sums[7] = p->time_max_us;
	for (j = 0; j < 3; j++) {
		sums[8 + j] = p->conf_micro[j];
		sums[11 + j] = p->compound_e4[j];
	}
	for (j = 0; j < 4; j++) {
		kore_buf_reset(t[j]);
		kore_buf_append(t[j], "{", 1);
	}
	for (j = 0; j < 14; j++) {
		if (j > 0)
			kore_buf_append(t[0], ",", 1);
		recorder_integer(t[0], (long)sums[j]);
	}
	cum = 0;
	for (i = 0; i < p->nh; i++) {
		if (i > 0) {
			for (j = 1; j < 4; j++)
				kore_buf_append(t[j], ",", 1);
		}
		cum += p->cnt[i];
		recorder_integer(t[1], (long)p->idx[i]);
		recorder_integer(t[2], (long)p->cnt[i]);
		recorder_integer(t[3], (long)cum);
	}
	for (j = 0; j < 4; j++) {
		kore_buf_append(t[j], "}", 1);
		b->values[first + j] = kore_buf_stringify(t[j], NULL);
	}
}

/* (Re)tries to send b's statement; queued batches come back via INIT. */
static void
recorder_send(struct recorder_batch *b)
{
	switch (db_query(&b->sql, b->query, b->nvalues, b->values)) {
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
	struct kore_pgsql	*sql = &b->sql;
	const char		*created;
	int			 i;

	if (kore_pgsql_ntuples(sql) != 1 ||
	    kore_pgsql_nfields(sql) != RECORDER_NCOLS)
		return;
	if (!pgarray_bools(kore_pgsql_getvalue(sql, 0, RECORDER_C_ADMITTED),
	    b->admitted, b->n) ||
	    !pgarray_ints(kore_pgsql_getvalue(sql, 0, RECORDER_C_REMAINING),
	    b->remaining, b->n) ||
	    !pgarray_ints(kore_pgsql_getvalue(sql, 0, RECORDER_C_RESET_S),
	    b->reset_s, b->n) ||
	    !pgarray_ints(kore_pgsql_getvalue(sql, 0, RECORDER_C_LEASE),
	    b->tokens, b->n))
		return;
	created = kore_pgsql_getvalue(sql, 0, RECORDER_C_CREATED_AT);
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
	struct kore_pgsql	*sql = &b->sql;
	const char		*created;
	int			 i;

	if (kore_pgsql_ntuples(sql) != 1 || kore_pgsql_nfields(sql) != 4)
		return;
	if (!pgarray_bools(kore_pgsql_getvalue(sql, 0, 0), b->gadmitted,
	    b->ng) ||
	    !pgarray_ints(kore_pgsql_getvalue(sql, 0, 1), b->gremaining,
	    b->ng) ||
	    !pgarray_ints(kore_pgsql_getvalue(sql, 0, 2), b->greset, b->ng))
		return;
	created = kore_pgsql_getvalue(sql, 0, 3);
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

/* Appends s as an array element (pgarray.c quotes it if it must). */
static void
recorder_text(struct kore_buf *a, const char *s)
{
	char	tmp[2 * RECORDER_TEXT_MAX + 3], *p;
	size_t	len, cap;

	len = strlen(s);
	cap = pgarray_text_max(len);
	p = cap <= sizeof(tmp) ? tmp : kore_malloc(cap);
	kore_buf_append(a, p, pgarray_text(p, cap, s));
	if (p != tmp)
		kore_free(p);
}

/*
 * Appends v's text, rounded to decimals places, and returns the number
 * that text stands for (strtod, as PostgreSQL's float8 input reads it).
 * Our numbers are always finite (scores, a clock difference); should one
 * not be, "NaN" keeps the array well formed: float8 reads it, and the
 * CHECK constraints of the scores refuse it.
 */
static double
recorder_number(struct kore_buf *a, double v, int decimals)
{
	char	num[PGARRAY_NUMBER_MAX];
	size_t	len;

	len = pgarray_number(num, sizeof(num), v, decimals);
	kore_buf_append(a, num, len);
	num[len < sizeof(num) ? len : sizeof(num) - 1] = '\0';
	return (strtod(num, NULL));
}

/* Appends v in decimal. */
static void
recorder_integer(struct kore_buf *a, long v)
{
	char	num[PGARRAY_NUMBER_MAX];

	kore_buf_append(a, num, pgarray_integer(num, sizeof(num), v));
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
		db_release(&b->sql);	/* a failed query: no cancel */
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
