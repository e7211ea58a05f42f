/*
 * janitor.c: periodic maintenance.
 *
 * Worker 1 of each instance runs one of the statements below every
 * JANITOR_INTERVAL_MS, in turn, through a callback-bound query: the
 * rate-limit rows whose window has passed, and anything else that
 * expires.  Several instances may prune at once: the SQL skips rows
 * another session holds.  A statement that is still running when the
 * next tick comes is left alone; a failed one is logged and retried on
 * the next tick.
 */
#include <sys/types.h>

#include <string.h>

#include "app.h"

#define JANITOR_INTERVAL_MS	5000

/* Parameters: none.  Each deletes a bounded number of rows per run. */
static const char *janitor_sql[] = {
	"SELECT app.rate_limit_prune(50000)",
};

#define JANITOR_NSQL	(sizeof(janitor_sql) / sizeof(janitor_sql[0]))

static void	janitor_tick(void *, u_int64_t);
static void	janitor_db_cb(struct kore_pgsql *, void *);
static void	janitor_start(void);

static struct kore_pgsql	janitor_sql_state;
static int			janitor_busy;
static size_t			janitor_next;
static const char		*janitor_current;

/* Per worker, from init(): only worker 1 cleans up. */
void
janitor_init(void)
{
	if (worker->id != 1)
		return;
	kore_timer_add(janitor_tick, JANITOR_INTERVAL_MS, NULL, 0);
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

static void
janitor_tick(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;

	if (janitor_busy) {
		/* A dead connection ends a query without a callback. */
		if (janitor_sql_state.state != KORE_PGSQL_STATE_ERROR)
			return;
		db_release(&janitor_sql_state);
		janitor_busy = 0;
	}
	janitor_current = janitor_sql[janitor_next];
	/* One statement today; the table rotates as soon as it has two. */
	// cppcheck-suppress moduloofone
	janitor_next = (janitor_next + 1) % JANITOR_NSQL;
	janitor_start();
}

/* Sends janitor_current. */
static void
janitor_start(void)
{
	kore_pgsql_init(&janitor_sql_state);
	kore_pgsql_bind_callback(&janitor_sql_state, janitor_db_cb, NULL);
	janitor_busy = 1;

	switch (db_query(&janitor_sql_state, janitor_current, 0, NULL)) {
	case DB_OK:
	case DB_QUEUED:
		break;
	default:
		/* The breaker is open or the connect failed: next tick. */
		db_release(&janitor_sql_state);
		janitor_busy = 0;
		break;
	}
}

static void
janitor_db_cb(struct kore_pgsql *sql, void *arg)
{
	(void)arg;

	switch (sql->state) {
	case KORE_PGSQL_STATE_INIT:
		if (db_query(sql, janitor_current, 0, NULL) == DB_FAIL) {
			db_release(sql);
			janitor_busy = 0;
		}
		break;
	case KORE_PGSQL_STATE_RESULT:
	case KORE_PGSQL_STATE_DONE:
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_ERROR:
		/* Stays busy: the next tick cleans up, outside this call. */
		kore_log(LOG_NOTICE, "janitor failed error=\"%s\"",
		    sql->error != NULL ? sql->error : "");
		break;
	case KORE_PGSQL_STATE_COMPLETE:
		janitor_busy = 0;
		break;
	default:
		break;
	}
}
