/*
 * janitor.c: periodic maintenance.
 *
 * Worker 1 of each instance runs the jobs of janitor_jobs[] below, each
 * on its own interval, one statement at a time through a callback-bound
 * query: the rate-limit rows whose window has passed, the partitions
 * (created ahead, retired past their retention), and anything else that
 * expires.  Several instances may run a job at once: the SQL either
 * skips rows another session holds or takes a transaction-level
 * advisory lock and leaves the work to whoever holds it.  A statement
 * that is still running when the next tick comes is left alone; a failed
 * one is logged and its job runs again at its next interval.
 *
 * A job's rows may queue follow-up statements (janitor_queue()), run
 * before any other job: that is how the partitions the owner detaches
 * CONCURRENTLY (one statement each, outside any transaction) are
 * retired.  To add a job, add a row to janitor_jobs[].
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>

#include "app.h"

#define JANITOR_TICK_MS		100
#define JANITOR_QUEUE_MAX	64
#define JANITOR_PARAMS_MAX	6
#define JANITOR_PARAM_LEN	48

struct janitor_job {
	const char	*name;
	const char	*db;			/* APP_DB or APP_OWNER_DB */
	const char	*sql;
	/* Its interval in ms; 0: the job is off in this configuration. */
	u_int64_t	(*every_ms)(void);
	/* Fills the parameters, returns how many (NULL: none). */
	int		(*params)(char [][JANITOR_PARAM_LEN]);
	/* Called for each row of the result (NULL: rows are ignored). */
	void		(*on_row)(struct kore_pgsql *, int);
	u_int64_t	 next_at;
};

/* A follow-up statement queued by a job's rows. */
struct janitor_stmt {
	const char	*db;
	char		*sql;
	char		*param;			/* one text parameter, or NULL */
};

static u_int64_t	janitor_prune_every(void);
static u_int64_t	janitor_partitions_every(void);
static u_int64_t	janitor_retire_every(void);
static u_int64_t	janitor_rollup_every(void);
static int		janitor_partitions_params(char [][JANITOR_PARAM_LEN]);
static int		janitor_retire_params(char [][JANITOR_PARAM_LEN]);
static void		janitor_partitions_row(struct kore_pgsql *, int);
static void		janitor_retire_row(struct kore_pgsql *, int);
static void		janitor_queue(const char *, const char *, const char *);
static void		janitor_tick(void *, u_int64_t);
static void		janitor_db_cb(struct kore_pgsql *, void *);
static void		janitor_start(void);
static void		janitor_done(void);

/*
 * The jobs.  The partition job passes the settings on each run; with an
 * owner connection it creates only, and the retire job detaches.
 */
static struct janitor_job	janitor_jobs[] = {
	{ "rate_limit_prune", APP_DB,
	    "SELECT app.rate_limit_prune(50000)",
	    janitor_prune_every, NULL, NULL, 0 },
	{ "partitions", APP_DB,
	    "SELECT parent::text, created, dropped, skipped "
	    "FROM app.partition_maintain($1::interval, $2::integer, "
	    "$3::interval, $4::interval, $5::boolean)",
	    janitor_partitions_every, janitor_partitions_params,
	    janitor_partitions_row, 0 },
	/* Raw rows below a safe watermark into the rollups (35_rollups.sql). */
	{ "rollup_fold", APP_DB, "SELECT app.rollup_fold()",
	    janitor_rollup_every, NULL, NULL, 0 },
	{ "partitions_retire", APP_OWNER_DB,
	    "SELECT partition_name, statement "
	    "FROM app.partition_expired($1::interval, $2::interval)",
	    janitor_retire_every, janitor_retire_params, janitor_retire_row,
	    0 },
};

#define JANITOR_NJOBS	(sizeof(janitor_jobs) / sizeof(janitor_jobs[0]))

static struct kore_pgsql	janitor_sql_state;
static int			janitor_busy;
static struct janitor_job	*janitor_job;	/* running, or NULL */
static struct janitor_stmt	janitor_cur;	/* a queued one running */
static struct janitor_stmt	janitor_q[JANITOR_QUEUE_MAX];
static size_t			janitor_qhead, janitor_qlen;
static char			janitor_pbuf[JANITOR_PARAMS_MAX]
				    [JANITOR_PARAM_LEN];
static const char		*janitor_pv[JANITOR_PARAMS_MAX];
static int			janitor_np;

/* Per worker, from init(): only worker 1 cleans up. */
void
janitor_init(void)
{
	size_t		i;
	u_int64_t	now;

	if (worker->id != 1)
		return;
	/* Every job runs on the first tick, then on its interval. */
	now = kore_time_ms();
	for (i = 0; i < JANITOR_NJOBS; i++)
		janitor_jobs[i].next_at = now;
	kore_timer_add(janitor_tick, JANITOR_TICK_MS, NULL, 0);
}

/* The worker is exiting: drop a statement still in flight. */
void
janitor_stop(void)
{
	if (!janitor_busy)
		return;
	db_abandon(&janitor_sql_state);
	janitor_busy = 0;
}

static u_int64_t
janitor_prune_every(void)
{
	return (5000);
}

static u_int64_t
janitor_partitions_every(void)
{
	return ((u_int64_t)app.cf.partition_maintain_s * 1000);
}

/* Only with an owner connection (MAINTENANCE_DATABASE_URL). */
static u_int64_t
janitor_retire_every(void)
{
	if (app.owner_conninfo == NULL)
		return (0);
	return ((u_int64_t)app.cf.partition_maintain_s * 1000);
}

static u_int64_t
janitor_rollup_every(void)
{
	return ((u_int64_t)app.cf.rollup_fold_ms);
}

/* Raw width, partitions ahead, both retentions, detach here or not. */
static int
janitor_partitions_params(char p[][JANITOR_PARAM_LEN])
{
	snprintf(p[0], JANITOR_PARAM_LEN, "%d seconds",
	    app.cf.raw_partition_s);
	snprintf(p[1], JANITOR_PARAM_LEN, "%d", app.cf.partitions_ahead);
	snprintf(p[2], JANITOR_PARAM_LEN, "%d hours",
	    app.cf.raw_retention_hours);
	snprintf(p[3], JANITOR_PARAM_LEN, "%d days",
	    app.cf.rollup_retention_days);
	snprintf(p[4], JANITOR_PARAM_LEN, "%s",
	    app.owner_conninfo == NULL ? "true" : "false");
	return (5);
}

static int
janitor_retire_params(char p[][JANITOR_PARAM_LEN])
{
	snprintf(p[0], JANITOR_PARAM_LEN, "%d hours",
	    app.cf.raw_retention_hours);
	snprintf(p[1], JANITOR_PARAM_LEN, "%d days",
	    app.cf.rollup_retention_days);
	return (2);
}

/* One parent's outcome: logged when something happened. */
static void
janitor_partitions_row(struct kore_pgsql *sql, int row)
{
	const char	*created, *dropped, *skipped;

	created = kore_pgsql_getvalue(sql, row, 1);
	dropped = kore_pgsql_getvalue(sql, row, 2);
	skipped = kore_pgsql_getvalue(sql, row, 3);
	if (!strcmp(created, "0") && !strcmp(dropped, "0") &&
	    !strcmp(skipped, "0"))
		return;
	kore_log(LOG_NOTICE, "janitor.partitions parent=%s created=%s "
	    "dropped=%s skipped=%s", kore_pgsql_getvalue(sql, row, 0),
	    created, dropped, skipped);
}

/*
 * An expired partition: its DETACH (the statement PostgreSQL requires
 * alone, outside a transaction, so it cannot run inside a function),
 * then the drop of the detached table.  The statement text comes from
 * app.partition_expired(), which quotes the names.
 */
static void
janitor_retire_row(struct kore_pgsql *sql, int row)
{
	const char	*part;

	part = kore_pgsql_getvalue(sql, row, 0);
	kore_log(LOG_NOTICE, "janitor.partitions retire=%s", part);
	/* No statement: detached already, only the drop is left. */
	if (kore_pgsql_getlength(sql, row, 1) > 0)
		janitor_queue(APP_OWNER_DB, kore_pgsql_getvalue(sql, row, 1),
		    NULL);
	janitor_queue(APP_OWNER_DB,
	    "SELECT app.partition_drop_detached($1)", part);
}

static void
janitor_queue(const char *db, const char *query, const char *param)
{
	struct janitor_stmt	*st;

	if (janitor_qlen == JANITOR_QUEUE_MAX) {
		/* The next run of the job finds what is left. */
		return;
	}
	st = &janitor_q[(janitor_qhead + janitor_qlen) % JANITOR_QUEUE_MAX];
	st->db = db;
	st->sql = kore_strdup(query);
	st->param = param != NULL ? kore_strdup(param) : NULL;
	janitor_qlen++;
}

static void
janitor_tick(void *arg, u_int64_t now)
{
	struct janitor_job	*job;
	u_int64_t		 every;
	size_t			 i;
	int			 k;

	(void)arg;

	if (janitor_busy) {
		/* A dead connection ends a query without a callback. */
		if (janitor_sql_state.state != KORE_PGSQL_STATE_ERROR)
			return;
		db_release(&janitor_sql_state);
		janitor_done();
	}
	/* Nothing is sent while the database is known to be down. */
	if (db_breaker_open())
		return;

	if (janitor_qlen > 0) {
		janitor_cur = janitor_q[janitor_qhead];
		janitor_qhead = (janitor_qhead + 1) % JANITOR_QUEUE_MAX;
		janitor_qlen--;
		janitor_job = NULL;
		janitor_np = 0;
		if (janitor_cur.param != NULL)
			janitor_pv[janitor_np++] = janitor_cur.param;
		janitor_start();
		return;
	}

	/*
	 * The most overdue job runs: a job due on every tick (the rollup
	 * fold) must not keep the others from their turn.
	 */
	job = NULL;
	for (i = 0; i < JANITOR_NJOBS; i++) {
		if (janitor_jobs[i].every_ms() == 0 ||
		    now < janitor_jobs[i].next_at)
			continue;
		if (job == NULL || janitor_jobs[i].next_at < job->next_at)
			job = &janitor_jobs[i];
	}
	if (job == NULL)
		return;
	every = job->every_ms();
	job->next_at = now + every;
	janitor_job = job;
	janitor_np = job->params != NULL ? job->params(janitor_pbuf) : 0;
	for (k = 0; k < janitor_np; k++)
		janitor_pv[k] = janitor_pbuf[k];
	janitor_start();
}

/* Sends the running job's statement, or the queued one. */
static void
janitor_start(void)
{
	kore_pgsql_init(&janitor_sql_state);
	kore_pgsql_bind_callback(&janitor_sql_state, janitor_db_cb, NULL);
	janitor_busy = 1;

	switch (db_query_on(&janitor_sql_state,
	    janitor_job != NULL ? janitor_job->db : janitor_cur.db,
	    janitor_job != NULL ? janitor_job->sql : janitor_cur.sql,
	    janitor_np, janitor_pv)) {
	case DB_OK:
	case DB_QUEUED:
		break;
	default:
		/* The breaker is open or the connect failed: next tick. */
		kore_log(LOG_NOTICE, "janitor cannot start error=\"%s\"",
		    janitor_sql_state.error != NULL ?
		    janitor_sql_state.error : "");
		db_release(&janitor_sql_state);
		janitor_done();
		break;
	}
}

/* The statement is over: free a queued one. */
static void
janitor_done(void)
{
	janitor_busy = 0;
	if (janitor_job == NULL) {
		kore_free(janitor_cur.sql);
		kore_free(janitor_cur.param);
		memset(&janitor_cur, 0, sizeof(janitor_cur));
	}
	janitor_job = NULL;
}

static void
janitor_db_cb(struct kore_pgsql *sql, void *arg)
{
	int	i, n;

	(void)arg;

	switch (sql->state) {
	case KORE_PGSQL_STATE_INIT:
		if (db_query_on(sql, janitor_job != NULL ? janitor_job->db :
		    janitor_cur.db, janitor_job != NULL ? janitor_job->sql :
		    janitor_cur.sql, janitor_np, janitor_pv) == DB_FAIL) {
			db_release(sql);
			janitor_done();
		}
		break;
	case KORE_PGSQL_STATE_RESULT:
		if (janitor_job != NULL && janitor_job->on_row != NULL) {
			n = kore_pgsql_ntuples(sql);
			for (i = 0; i < n; i++)
				janitor_job->on_row(sql, i);
		}
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_DONE:
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_ERROR:
		/* Stays busy: the next tick cleans up, outside this call. */
		kore_log(LOG_NOTICE, "janitor failed job=%s error=\"%s\"",
		    janitor_job != NULL ? janitor_job->name : "queued",
		    sql->error != NULL ? sql->error : "");
		break;
	case KORE_PGSQL_STATE_COMPLETE:
		janitor_done();
		break;
	default:
		break;
	}
}
