/*
 * api_analyze.c: POST /analyze/performance.
 *
 * parse -> rate limit + load the two windows -> cache / single flight ->
 * Gemini (task thread, retries) -> save -> answer.  Without a key, or on
 * any failure, the rule-based analyzer answers with the reason.
 *
 * Single flight holds across workers and instances without holding a
 * database connection: app.gemini_cache_claim() gives one request the
 * lease of the cache key; identical requests poll the cache on a short
 * timer until the report appears, the holder gives up (its reason is
 * shared) or the lease expires (then one of them claims it).
 *
 * Retries are driven from here, not from the task thread: each attempt is
 * one task that makes one HTTP call, and the backoff is a timer.  So a
 * task thread is only busy while a call is on the wire (Kore assigns
 * tasks to threads round-robin, and a thread sleeping in a backoff would
 * hold up every task queued behind it), and every attempt is counted
 * against the deployment's upstream limit before it is made.
 *
 * Kore never times out a sleeping request, and a task thread that dies
 * never finishes its task: a one-shot timer at GEMINI_TIMEOUT_MS plus a
 * margin answers with the rules whatever the state.  It wakes the request
 * only while it waits on a task or a timer, never during a query (Kore's
 * pgsql queue must not see a second setup of a queued handle).
 */
#include <sys/types.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "app.h"
#include "analyzer.h"
#include "gemini.h"

#define ANALYZE_MARGIN_MS	2000	/* answer by budget + this */
#define ANALYZE_HOLD_MS		2000	/* a failure is shared this long */
#define ANALYZE_POLL_MIN_MS	50	/* first poll of a waiter */
#define ANALYZE_POLL_MAX_MS	500
#define ANALYZE_MIN_ATTEMPT_MS	250	/* no retry with less budget left */
/*
 * The states, and where each goes ([...]: when its query fails).  Only
 * ANSWER, REJECT and UNAVAILABLE respond; every path ends in one of them.
 *
 *   START        parse, the load query    -> LOADED [UNAVAILABLE]
 *   LOADED       limit and inputs read    -> CLAIM; REJECT (429);
 *                                            ANSWER (no key); UNAVAILABLE
 *                (ANALYTICS_DATABASE_URL: START takes the limit only,
 *                LOADED reads the inputs on the standby, then goes on)
 *   CLAIM        the cache's claim query  -> CLAIMED [DB_FALLBACK]
 *   CLAIMED      hit, limited, failed     -> ANSWER
 *                claimed (we call)        -> CALL
 *                wait (another calls)     -> SLEEP, then CLAIM again
 *   SLEEP        a poll or backoff timer  -> the state after it; EXPIRED
 *   CALL         one Gemini task          -> CALL_WAIT; RELEASE; EXPIRED
 *   CALL_WAIT    the attempt's outcome    -> SAVE (a report); RELEASE;
 *                                            SLEEP, then EGRESS (retry);
 *                                            EXPIRED
 *   EGRESS       count one more call      -> EGRESSED [DB_FALLBACK]
 *   EGRESSED                              -> CALL; RELEASE (limit used)
 *   SAVE         cache the report         -> ANSWER [ANSWER]
 *   RELEASE      share our failure        -> ANSWER [ANSWER]
 *   EXPIRED      the deadline fired       -> RELEASE
 *   DB_FALLBACK                           -> ANSWER (the rules)
 */
enum {
	ANALYZE_START,
	ANALYZE_LOADED,
	ANALYZE_CLAIM,
	ANALYZE_CLAIMED,
	ANALYZE_SLEEP,
	ANALYZE_CALL,
	ANALYZE_CALL_WAIT,
	ANALYZE_EGRESS,
	ANALYZE_EGRESSED,
	ANALYZE_SAVE,
	ANALYZE_RELEASE,
	ANALYZE_EXPIRED,
	ANALYZE_DB_FALLBACK,
	ANALYZE_ANSWER,
	ANALYZE_REJECT,
	ANALYZE_UNAVAILABLE,
};

/* What may wake the request; the deadline only wakes TASK and TIMER. */
enum analyze_sleep {
	ANALYZE_SLEEP_NONE,
	ANALYZE_SLEEP_DB,
	ANALYZE_SLEEP_TASK,
	ANALYZE_SLEEP_TIMER,
};

struct analyze_state {
	struct api_state	 head;
	struct db_call		 call;		/* the query; col: its row 0 */
	enum analyze_sleep	 sleep;

	/* The request. */
	char			 id[UUID_STRLEN];	/* lease owner, logs */
	char			 client[INET6_ADDRSTRLEN];
	int			 window_minutes;
	char			 model_name[SCHEMA_MODEL_NAME_MAX + 1];
	char			 candidate[REGISTRY_VERSION_MAX];  /* "": none */
	char			 baseline[REGISTRY_VERSION_MAX];
	int			 limit;
	int			 remaining;
	int			 reset_s;

	struct analyzer_inputs	 in;
	char			*inputs;	/* cache key input (malloc) */
	char			*body;		/* Gemini request (malloc) */
	size_t			 body_len;

	/* Time, in kore_time_ms(). */
	u_int64_t		 started;
	u_int64_t		 budget_end;	/* attempts end by then */
	struct kore_timer	*deadline;
	struct kore_timer	*timer;		/* poll or backoff */
	int			 expired;
	int			 timer_fired;
	int			 after_sleep;
	long			 poll_ms;

	/* Gemini. */
	struct kore_task	 task;
	int			 leader;	/* we hold the lease */
	int			 attempts;
	struct gemini_result	 last;

	/* The outcome. */
	json_t			*core;		/* Gemini's validated report */
	char			 generated_at[32];
	int			 cached;
	const char		*reason;	/* non-NULL: the rules answer */
	char			 detail[256];
	int			 status;	/* for UNAVAILABLE */
	const char		*code;
	int			 admitted;	/* the rate limit let us in */
};

/* $1 client, $2 analyze limit, $3 window minutes, $4 model name or NULL. */
static const char analyze_sql_load[] =
    "SELECT r.admitted, r.remaining, r.reset_s, "
    "CASE WHEN r.admitted > 0 THEN app.analyze_inputs($3::int, $4) END "
    "FROM app.rate_limit_take('analyze', $1::inet, 1, $2::int) r";

/*
 * With ANALYTICS_DATABASE_URL the load is split: the rate limit (a
 * write) on the primary, then the inputs (a read) on the standby.
 * $1 client, $2 analyze limit.
 */
static const char analyze_sql_admit[] =
    "SELECT r.admitted, r.remaining, r.reset_s "
    "FROM app.rate_limit_take('analyze', $1::inet, 1, $2::int) r";

/* $1 window minutes, $2 model name or NULL: the inputs in column 3. */
static const char analyze_sql_inputs[] =
    "SELECT NULL, NULL, NULL, app.analyze_inputs($1::int, $2)";

/* The same, with a candidate against its baseline: $5, $6 versions. */
static const char analyze_sql_load_compare[] =
    "SELECT r.admitted, r.remaining, r.reset_s, "
    "CASE WHEN r.admitted > 0 THEN app.analyze_compare_inputs($3::int, $4, "
    "$5, $6) END "
    "FROM app.rate_limit_take('analyze', $1::inet, 1, $2::int) r";

/* $1 window minutes, $2 model, $3 candidate, $4 baseline (standby). */
static const char analyze_sql_compare_inputs[] =
    "SELECT NULL, NULL, NULL, app.analyze_compare_inputs($1::int, $2, $3, "
    "$4)";

/* $1 inputs, $2 owner, $3 lease ms, $4 egress limit, $5 hold ms. */
static const char analyze_sql_claim[] =
    "SELECT outcome, cache_key, report, age_s, detail "
    "FROM app.gemini_cache_claim($1, $2::uuid, $3::int, $4::int, $5::int)";

/* $1 egress limit. */
static const char analyze_sql_egress[] =
    "SELECT admitted, remaining, reset_s FROM app.gemini_egress_take($1::int)";

/* $1 inputs, $2 owner, $3 report, $4 ttl s, $5 prompt version, $6 model. */
static const char analyze_sql_put[] =
    "SELECT app.gemini_cache_put($1, $2::uuid, $3::jsonb, $4::int, $5, $6)";

/* $1 inputs, $2 owner, $3 reason, $4 hold ms. */
static const char analyze_sql_release[] =
    "SELECT app.gemini_cache_release($1, $2::uuid, $3, $4::int)";

static int	analyze_start(struct http_request *);
static int	analyze_loaded(struct http_request *);
static int	analyze_claim(struct http_request *);
static int	analyze_claimed(struct http_request *);
static int	analyze_sleep(struct http_request *);
static int	analyze_call(struct http_request *);
static int	analyze_call_wait(struct http_request *);
static int	analyze_egress(struct http_request *);
static int	analyze_egressed(struct http_request *);
static int	analyze_save(struct http_request *);
static int	analyze_release(struct http_request *);
static int	analyze_expired(struct http_request *);
static int	analyze_db_fallback(struct http_request *);
static int	analyze_answer(struct http_request *);
static int	analyze_reject(struct http_request *);
static int	analyze_unavailable(struct http_request *);

static void	analyze_query(struct analyze_state *, const char *, int, ...);
static int	analyze_step(struct analyze_state *, int, int);
static int	analyze_prepare(struct analyze_state *);
static void	analyze_wait_for(struct http_request *, struct analyze_state *,
		    long, int);
static void	analyze_fail(struct analyze_state *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static void	analyze_attempt_done(struct http_request *,
		    struct analyze_state *, const char *, size_t);
static void	analyze_deadline_cb(void *, u_int64_t);
static void	analyze_timer_cb(void *, u_int64_t);
static void	analyze_onfree(struct http_request *);
static int	analyze_task(struct kore_task *);
static long	analyze_atol(const char *);
static int	analyze_printable(const char *);

static struct http_state analyze_states[] = {
	KORE_HTTP_STATE(analyze_start),
	KORE_HTTP_STATE(analyze_loaded),
	KORE_HTTP_STATE(analyze_claim),
	KORE_HTTP_STATE(analyze_claimed),
	KORE_HTTP_STATE(analyze_sleep),
	KORE_HTTP_STATE(analyze_call),
	KORE_HTTP_STATE(analyze_call_wait),
	KORE_HTTP_STATE(analyze_egress),
	KORE_HTTP_STATE(analyze_egressed),
	KORE_HTTP_STATE(analyze_save),
	KORE_HTTP_STATE(analyze_release),
	KORE_HTTP_STATE(analyze_expired),
	KORE_HTTP_STATE(analyze_db_fallback),
	KORE_HTTP_STATE(analyze_answer),
	KORE_HTTP_STATE(analyze_reject),
	KORE_HTTP_STATE(analyze_unavailable),
};

#define ANALYZE_NSTATES	(sizeof(analyze_states) / sizeof(analyze_states[0]))

int
api_analyze_post(struct http_request *req)
{
	return (http_state_run(analyze_states, ANALYZE_NSTATES, req));
}

/* ---------------------------------------------------------------- states */

/* Method, body, schema; then the first query: the limit and the inputs. */
static int
analyze_start(struct http_request *req)
{
	struct analyze_state	*st;
	struct schema_analyze	 in;
	struct registry_entry	*def;
	json_t			*body, *details;
	char			 limit[16], window[16];

	if (http_state_exists(req)) {
		st = http_state_get(req);
		return (analyze_step(st, ANALYZE_LOADED, ANALYZE_UNAVAILABLE));
	}

	body = NULL;
	details = NULL;

	if (!gate_method(req, HTTP_METHOD_POST))
		goto done;
	if (!http_json_read(req, &body))
		goto done;
	details = json_array();
	if (!schema_analyze(body, &in, details)) {
		http_json_error(req, 422, "validation_failed",
		    "the request body does not match the schema", details);
		details = NULL;
		goto done;
	}

	st = http_json_state(req, sizeof(*st), analyze_onfree);
	db_call_init(&st->call, req);
	st->window_minutes = in.window_minutes;
	if (in.model_name != NULL)
		snprintf(st->model_name, sizeof(st->model_name), "%s",
		    in.model_name);
	if (in.candidate_version != NULL) {
		/* A comparison is of one model: the default one if unnamed. */
		if (st->model_name[0] == '\0' &&
		    (def = registry_default(&app.registry, NULL)) != NULL)
			snprintf(st->model_name, sizeof(st->model_name), "%s",
			    def->name);
		snprintf(st->candidate, sizeof(st->candidate), "%s",
		    in.candidate_version);
		if (in.baseline_version != NULL)
			snprintf(st->baseline, sizeof(st->baseline), "%s",
			    in.baseline_version);
		else if ((def = routing_default(st->model_name)) != NULL)
			snprintf(st->baseline, sizeof(st->baseline), "%s",
			    def->version);
	}
	json_decref(body);
	json_decref(details);

	uuid_v7_now(st->id);
	ratelimit_client(req, st->client, sizeof(st->client));
	st->started = kore_time_ms();
	st->budget_end = st->started + (u_int64_t)app.cf.gemini_timeout_ms;
	st->deadline = kore_timer_add(analyze_deadline_cb,
	    (u_int64_t)app.cf.gemini_timeout_ms + ANALYZE_MARGIN_MS, req,
	    KORE_TIMER_ONESHOT);

	st->limit = app.cf.rate_limit_analyze;
	snprintf(limit, sizeof(limit), "%d", st->limit);
	snprintf(window, sizeof(window), "%d", st->window_minutes);
	if (db_analytics()) {
		analyze_query(st, analyze_sql_admit, 2, st->client, limit);
	} else if (st->candidate[0] != '\0') {
		analyze_query(st, analyze_sql_load_compare, 6, st->client,
		    limit, window, st->model_name, st->candidate,
		    st->baseline[0] != '\0' ? st->baseline : st->candidate);
	} else {
		analyze_query(st, analyze_sql_load, 4, st->client, limit,
		    window, st->model_name[0] != '\0' ? st->model_name : NULL);
	}
	return (analyze_step(st, ANALYZE_LOADED, ANALYZE_UNAVAILABLE));

done:
	json_decref(body);
	json_decref(details);
	return (HTTP_STATE_COMPLETE);
}

/* Rate limit decided, inputs loaded: rules, or on to the cache. */
static int
analyze_loaded(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	json_t			*inputs;
	json_error_t		 jerr;
	char			 err[128], window[16];
	const char		*v[4];

	if (!st->admitted) {
		if (st->call.col[0] == NULL || st->call.col[1] == NULL ||
		    st->call.col[2] == NULL) {
			st->status = HTTP_STATUS_INTERNAL_ERROR;
			st->code = "internal";
			req->fsm_state = ANALYZE_UNAVAILABLE;
			return (HTTP_STATE_CONTINUE);
		}
		st->remaining = (int)analyze_atol(st->call.col[1]);
		st->reset_s = (int)analyze_atol(st->call.col[2]);
		if (analyze_atol(st->call.col[0]) < 1) {
			req->fsm_state = ANALYZE_REJECT;
			return (HTTP_STATE_CONTINUE);
		}
		st->admitted = 1;
		if (db_analytics()) {
			/* The inputs from the standby; back here after. */
			snprintf(window, sizeof(window), "%d",
			    st->window_minutes);
			v[0] = window;
			if (st->candidate[0] != '\0') {
				v[1] = st->model_name;
				v[2] = st->candidate;
				v[3] = st->baseline[0] != '\0' ?
				    st->baseline : st->candidate;
				db_call_start_ro(&st->call,
				    analyze_sql_compare_inputs, 4, v);
			} else {
				v[1] = st->model_name[0] != '\0' ?
				    st->model_name : NULL;
				db_call_start_ro(&st->call, analyze_sql_inputs,
				    2, v);
			}
		}
	}
	if (st->call.busy)
		return (analyze_step(st, ANALYZE_LOADED, ANALYZE_UNAVAILABLE));

	inputs = st->call.col[3] != NULL ?
	    json_loads(st->call.col[3], 0, &jerr) : NULL;
	if (inputs == NULL ||
	    !analyzer_inputs_parse(inputs, &st->in, err, sizeof(err))) {
		kore_log(LOG_ERR, "analyze.inputs_invalid rid=%s why=\"%s\"",
		    st->id, inputs == NULL ? "not JSON" : err);
		json_decref(inputs);
		st->status = HTTP_STATUS_INTERNAL_ERROR;
		st->code = "internal";
		req->fsm_state = ANALYZE_UNAVAILABLE;
		return (HTTP_STATE_CONTINUE);
	}
	json_decref(inputs);
	http_json_iso8601(time(NULL), st->generated_at,
	    sizeof(st->generated_at));

	if (app.cf.gemini_api_key == NULL || app.cf.gemini_api_key[0] == '\0') {
		analyze_fail(st, "not_configured", "GEMINI_API_KEY is not set; "
		    "the built-in rules answered");
		req->fsm_state = ANALYZE_ANSWER;
		return (HTTP_STATE_CONTINUE);
	}
	if (!analyze_prepare(st)) {
		analyze_fail(st, "internal", "the Gemini request could not be "
		    "built");
		req->fsm_state = ANALYZE_ANSWER;
		return (HTTP_STATE_CONTINUE);
	}

	req->fsm_state = ANALYZE_CLAIM;
	return (HTTP_STATE_CONTINUE);
}

/* Asks the cache: hit, our turn to call, or wait for another request. */
static int
analyze_claim(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	char			 lease[24], limit[16], hold[16];
	u_int64_t		 now;
	long			 ms;

	if (!st->call.busy) {
		now = kore_time_ms();
		ms = now < st->budget_end ? (long)(st->budget_end - now) : 0;
		snprintf(lease, sizeof(lease), "%ld", ms + ANALYZE_MARGIN_MS);
		snprintf(limit, sizeof(limit), "%d", app.cf.gemini_rate_limit);
		snprintf(hold, sizeof(hold), "%d", ANALYZE_HOLD_MS);
		analyze_query(st, analyze_sql_claim, 5, st->inputs, st->id,
		    lease, limit, hold);
	}
	return (analyze_step(st, ANALYZE_CLAIMED, ANALYZE_DB_FALLBACK));
}

static int
analyze_claimed(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	const char		*outcome, *p;
	json_t			*cached;
	char			 err[128];

	outcome = st->call.col[0] != NULL ? st->call.col[0] : "";

	if (!strcmp(outcome, "hit")) {
		cached = st->call.col[2] != NULL ?
		    json_loads(st->call.col[2], 0, NULL) : NULL;
		p = json_string_value(json_object_get(cached, "generated_at"));
		if (p != NULL && strlen(p) < sizeof(st->generated_at))
			snprintf(st->generated_at, sizeof(st->generated_at),
			    "%s", p);
		json_decref(cached);
		st->core = st->call.col[2] != NULL ? analyzer_report_parse(
		    st->call.col[2], strlen(st->call.col[2]), err, sizeof(err)) : NULL;
		if (st->core == NULL) {
			kore_log(LOG_ERR, "analyze.cache_invalid rid=%s "
			    "why=\"%s\"", st->id, err);
			analyze_fail(st, "cache_error", "the cached report is "
			    "invalid");
		} else {
			st->cached = 1;
		}
		req->fsm_state = ANALYZE_ANSWER;
	} else if (!strcmp(outcome, "claimed")) {
		st->leader = 1;
		req->fsm_state = ANALYZE_CALL;
	} else if (!strcmp(outcome, "wait")) {
		/* Poll quickly at first, then back off. */
		st->poll_ms = st->poll_ms == 0 ? ANALYZE_POLL_MIN_MS :
		    st->poll_ms * 2;
		if (st->poll_ms > ANALYZE_POLL_MAX_MS)
			st->poll_ms = ANALYZE_POLL_MAX_MS;
		analyze_wait_for(req, st, st->poll_ms, ANALYZE_CLAIM);
	} else if (!strcmp(outcome, "failed") && st->call.col[4] != NULL) {
		/* The holder's reason, a [a-z_] word (a CHECK says so). */
		for (p = st->call.col[4]; *p != '\0'; p++) {
			if ((*p < 'a' || *p > 'z') && *p != '_')
				break;
		}
		analyze_fail(st, *p == '\0' ? st->call.col[4] : "upstream_error",
		    "an identical analysis failed a moment ago; its outcome "
		    "is shared for %d ms", ANALYZE_HOLD_MS);
		req->fsm_state = ANALYZE_ANSWER;
	} else if (!strcmp(outcome, "limited")) {
		analyze_fail(st, "egress_limited", "the deployment made its "
		    "%d Gemini calls of the last minute "
		    "(GEMINI_RATE_LIMIT_PER_MINUTE); a slot frees in %ld s",
		    app.cf.gemini_rate_limit, analyze_atol(st->call.col[4]));
		req->fsm_state = ANALYZE_ANSWER;
	} else {
		analyze_fail(st, "cache_error", "unexpected cache outcome");
		req->fsm_state = ANALYZE_ANSWER;
	}
	return (HTTP_STATE_CONTINUE);
}

/* Asleep on st->timer (poll or backoff), or woken by the deadline. */
static int
analyze_sleep(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	if (st->expired) {
		req->fsm_state = ANALYZE_EXPIRED;
		return (HTTP_STATE_CONTINUE);
	}
	if (!st->timer_fired) {
		http_request_sleep(req);
		return (HTTP_STATE_RETRY);
	}
	st->timer_fired = 0;
	st->sleep = ANALYZE_SLEEP_NONE;
	req->fsm_state = st->after_sleep;
	return (HTTP_STATE_CONTINUE);
}

/* One attempt: a task makes the HTTP call; we sleep until it ends. */
static int
analyze_call(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	struct gemini_call	 call;

	if (st->expired) {
		req->fsm_state = ANALYZE_EXPIRED;
		return (HTTP_STATE_CONTINUE);
	}

	memset(&call, 0, sizeof(call));
	if (gemini_url(app.cf.gemini_base_url, app.cf.gemini_model, call.url,
	    sizeof(call.url)) == NULL ||
	    strlen(app.cf.gemini_api_key) >= sizeof(call.key) ||
	    /* A header value: no line breaks or other controls. */
	    !analyze_printable(app.cf.gemini_api_key) ||
	    strlen(app.cf.gemini_ca_file) >= sizeof(call.ca_file)) {
		analyze_fail(st, "not_configured", "GEMINI_BASE_URL, "
		    "GEMINI_MODEL, GEMINI_API_KEY or GEMINI_CA_FILE is "
		    "unusable");
		req->fsm_state = ANALYZE_RELEASE;
		return (HTTP_STATE_CONTINUE);
	}
	snprintf(call.key, sizeof(call.key), "%s", app.cf.gemini_api_key);
	snprintf(call.ca_file, sizeof(call.ca_file), "%s",
	    app.cf.gemini_ca_file);
	call.connect_timeout_ms = app.cf.gemini_connect_timeout_ms;
	call.deadline_ms = st->budget_end;
	call.body_len = (u_int32_t)st->body_len;

	st->attempts++;
	kore_task_create(&st->task, analyze_task);
	kore_task_bind_request(&st->task, req);	/* also sleeps req */
	kore_task_run(&st->task);
	/* The thread reads exactly these two messages. */
	kore_task_channel_write(&st->task, &call, sizeof(call));
	kore_task_channel_write(&st->task, st->body, (u_int32_t)st->body_len);
	explicit_bzero(&call, sizeof(call));

	st->sleep = ANALYZE_SLEEP_TASK;
	req->fsm_state = ANALYZE_CALL_WAIT;
	return (HTTP_STATE_RETRY);
}

static int
analyze_call_wait(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	char			*reply;
	u_int32_t		 len;

	/*
	 * Past the deadline the task is left running: Kore frees the
	 * request only once it has finished, and nobody reads its reply.
	 */
	if (st->expired) {
		req->fsm_state = ANALYZE_EXPIRED;
		return (HTTP_STATE_CONTINUE);
	}
	if (kore_task_state(&st->task) != KORE_TASK_STATE_FINISHED) {
		http_request_sleep(req);
		return (HTTP_STATE_RETRY);
	}

	reply = kore_malloc(GEMINI_REPLY_MAX);
	memset(&st->last, 0, sizeof(st->last));
	len = kore_task_channel_read(&st->task, &st->last, sizeof(st->last));
	if (len != sizeof(st->last)) {
		st->last.transport = GEMINI_TRANSPORT_OTHER;
		st->last.body_len = 0;
	}
	len = kore_task_channel_read(&st->task, reply, GEMINI_REPLY_MAX);
	if (len > GEMINI_REPLY_MAX)
		len = GEMINI_REPLY_MAX;
	kore_task_destroy(&st->task);
	st->sleep = ANALYZE_SLEEP_NONE;

	analyze_attempt_done(req, st, reply, len);
	kore_free(reply);
	return (HTTP_STATE_CONTINUE);
}

/* Before a retry: one more upstream call against the deployment's limit. */
static int
analyze_egress(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	char			 limit[16];

	if (!st->call.busy) {
		snprintf(limit, sizeof(limit), "%d", app.cf.gemini_rate_limit);
		analyze_query(st, analyze_sql_egress, 1, limit);
	}
	return (analyze_step(st, ANALYZE_EGRESSED, ANALYZE_DB_FALLBACK));
}

static int
analyze_egressed(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	if (st->call.col[0] != NULL && !strcmp(st->call.col[0], "t")) {
		req->fsm_state = ANALYZE_CALL;
	} else {
		analyze_fail(st, "egress_limited", "after %d attempt%s the "
		    "deployment's %d Gemini calls of the last minute "
		    "(GEMINI_RATE_LIMIT_PER_MINUTE) were used up; a slot frees "
		    "in %ld s", st->attempts, st->attempts == 1 ? "" : "s",
		    app.cf.gemini_rate_limit, analyze_atol(st->call.col[2]));
		req->fsm_state = ANALYZE_RELEASE;
	}
	return (HTTP_STATE_CONTINUE);
}

/* Gemini's report is being cached (analyze_attempt_done set it up). */
static int
analyze_save(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	return (analyze_step(st, ANALYZE_ANSWER, ANALYZE_ANSWER));
}

/* We gave up while holding the lease: share the reason, then answer. */
static int
analyze_release(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	char			 hold[16];

	if (!st->call.busy) {
		if (!st->leader) {
			req->fsm_state = ANALYZE_ANSWER;
			return (HTTP_STATE_CONTINUE);
		}
		st->leader = 0;
		snprintf(hold, sizeof(hold), "%d", ANALYZE_HOLD_MS);
		analyze_query(st, analyze_sql_release, 4, st->inputs, st->id,
		    st->reason, hold);
	}
	return (analyze_step(st, ANALYZE_ANSWER, ANALYZE_ANSWER));
}

/* The deadline fired while we waited on Gemini or on another request. */
static int
analyze_expired(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	kore_log(LOG_NOTICE, "analyze.deadline rid=%s attempts=%d leader=%d "
	    "ms=%llu", st->id, st->attempts, st->leader,
	    (unsigned long long)(kore_time_ms() - st->started));
	if (st->leader) {
		analyze_fail(st, "deadline", "Gemini did not answer within "
		    "GEMINI_TIMEOUT_MS (%d ms)", app.cf.gemini_timeout_ms);
	} else {
		analyze_fail(st, "deadline", "an identical analysis in "
		    "progress did not finish within GEMINI_TIMEOUT_MS (%d ms)",
		    app.cf.gemini_timeout_ms);
	}
	st->sleep = ANALYZE_SLEEP_NONE;
	req->fsm_state = ANALYZE_RELEASE;
	return (HTTP_STATE_CONTINUE);
}

/* The cache or the limit could not be asked: the rules answer. */
static int
analyze_db_fallback(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	analyze_fail(st, "database_error", "the cache and the upstream limit "
	    "could not be reached");
	req->fsm_state = ANALYZE_ANSWER;
	return (HTTP_STATE_CONTINUE);
}

/* The one 200: Gemini's report (fresh or cached), else the rules'. */
static int
analyze_answer(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	struct stats_worker	*sw;
	json_t			*report, *rules;

	rules = NULL;
	if (st->reason != NULL || st->core == NULL) {
		if (st->reason == NULL)
			analyze_fail(st, "internal", "no report");
		rules = analyzer_rules(&st->in);
		http_json_iso8601(time(NULL), st->generated_at,
		    sizeof(st->generated_at));
	}
	report = analyzer_report(rules != NULL ? rules : st->core, &st->in,
	    rules != NULL ? "rules" : "gemini", st->generated_at, st->cached,
	    st->reason, st->detail);
	json_decref(rules);

	sw = stats_me();
	if (app.cf.gemini_api_key[0] != '\0') {
		if (st->cached)
			sw->cache_hits++;
		else
			sw->cache_misses++;
	}

	kore_log(LOG_NOTICE, "analyze.done rid=%s source=%s cached=%d "
	    "reason=%s attempts=%d ms=%llu", st->id,
	    st->reason != NULL ? "rules" : "gemini", st->cached,
	    st->reason != NULL ? st->reason : "-", st->attempts,
	    (unsigned long long)(kore_time_ms() - st->started));

	db_call_release(&st->call);
	if (report == NULL) {
		http_json_error(req, HTTP_STATUS_INTERNAL_ERROR, "internal",
		    "the report could not be built", NULL);
		return (HTTP_STATE_COMPLETE);
	}
	ratelimit_headers(req, st->limit, st->remaining, st->reset_s);
	http_json_reply(req, HTTP_STATUS_OK, report);
	return (HTTP_STATE_COMPLETE);
}

static int
analyze_reject(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);

	stats_me()->ratelimited[STATS_LIMITED_ANALYZE]++;
	db_call_release(&st->call);
	ratelimit_reject(req, st->limit, st->reset_s);
	return (HTTP_STATE_COMPLETE);
}

/* The inputs could not be loaded: nothing to analyze. */
static int
analyze_unavailable(struct http_request *req)
{
	struct analyze_state	*st = http_state_get(req);
	const char		*code;
	int			 status;

	if (st->status != 0) {
		status = st->status;
		code = st->code;
	} else {
		status = db_status(&st->call.sql, &code);
	}
	if (status == HTTP_STATUS_SERVICE_UNAVAILABLE) {
		http_response_header(req, "retry-after", "1");
		http_json_error(req, status, code, st->call.ro ? "the metrics "
		    "could not be read: the analytics database is not "
		    "available; retry" : "the metrics could not be read; "
		    "retry", NULL);
	} else {
		http_json_error(req, status, code, "the metrics could not be "
		    "read", NULL);
	}
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

/* ---------------- queries: one per state that needs one (db.c runs them) */

/* Sets up query with n text parameters (copied; NULL is SQL NULL). */
static void
analyze_query(struct analyze_state *st, const char *query, int n, ...)
{
	va_list		 ap;
	const char	*v[DB_CALL_NPARAMS];
	int		 i;

	if (n > DB_CALL_NPARAMS)
		fatal("analyze_query: %d parameters", n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		v[i] = va_arg(ap, const char *);
	va_end(ap);
	db_call_start(&st->call, query, n, v);
}

/*
 * Runs the query from the current state (db_call_step): on to next, or
 * on_error, and logs a failure with the request's id.
 */
static int
analyze_step(struct analyze_state *st, int next, int on_error)
{
	const char	*state;
	int		 r;

	st->sleep = ANALYZE_SLEEP_DB;
	r = db_call_step(&st->call, next, on_error);
	if (st->call.busy)
		return (r);
	if (!st->call.sent) {
		/* The breaker or the pool logged why. */
		kore_log(LOG_NOTICE, "analyze.db_unavailable rid=%s", st->id);
	} else if (st->call.sql.state == KORE_PGSQL_STATE_ERROR) {
		state = st->call.sql.result != NULL ? PQresultErrorField(
		    st->call.sql.result, PG_DIAG_SQLSTATE) : NULL;
		kore_log(LOG_NOTICE, "analyze.db_error rid=%s sqlstate=%s",
		    st->id, state != NULL ? state : "none");
	}
	return (r);
}

/* ------ Gemini: the request body, one attempt's outcome, the task thread */

/* The cache key input and the Gemini request body.  Returns 1 or 0. */
static int
analyze_prepare(struct analyze_state *st)
{
	json_t	*schema, *body;
	char	*prompt, *s;
	int	 ret;

	ret = 0;
	schema = body = NULL;
	prompt = s = NULL;

	if ((st->inputs = analyzer_cache_input(&st->in, app.cf.gemini_model,
	    app.cf.gemini_temperature, app.cf.gemini_max_tokens)) == NULL)
		goto cleanup;
	if ((prompt = analyzer_prompt(&st->in)) == NULL ||
	    (schema = analyzer_response_schema()) == NULL ||
	    (body = gemini_request(prompt, app.cf.gemini_temperature,
	    app.cf.gemini_max_tokens, schema)) == NULL)
		goto cleanup;
	if ((s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15))) ==
	    NULL || strlen(s) > GEMINI_BODY_MAX)
		goto cleanup;
	st->body = s;
	st->body_len = strlen(s);
	s = NULL;
	ret = 1;

cleanup:
	free(s);
	free(prompt);
	json_decref(schema);
	json_decref(body);
	return (ret);
}

/*
 * One attempt ended (st->last, reply[0..len)): keep the report, retry
 * after a delay, or give up.  Sets the next state.
 */
static void
analyze_attempt_done(struct http_request *req, struct analyze_state *st,
    const char *reply, size_t len)
{
	struct gemini_policy	 policy;
	struct stats_worker	*sw;
	const struct gemini_result *r = &st->last;
	const char		*why;
	char			*text, *report, err[128], status[48];
	char			 ttl[16];
	u_int64_t		 now;
	long			 server_ms, delay, remaining;
	json_t			*stored;

	sw = stats_me();
	if (gemini_error_status(reply, len, status, sizeof(status)) == NULL)
		status[0] = '\0';
	/* Sizes, codes and times only: never the key, prompt or output. */
	kore_log(LOG_NOTICE, "analyze.gemini rid=%s attempt=%d http=%ld "
	    "curl=%d status=%s ms=%ld bytes=%zu", st->id, st->attempts,
	    r->http_status, r->curl_code, status[0] != '\0' ? status : "-",
	    r->elapsed_ms, len);

	if (r->transport == GEMINI_TRANSPORT_OK && r->http_status == 200) {
		text = gemini_reply_text(reply, len, err, sizeof(err));
		if (text != NULL) {
			st->core = analyzer_report_parse(text, strlen(text),
			    err, sizeof(err));
			free(text);
		}
		if (st->core == NULL) {
			sw->gemini[STATS_GEMINI_INVALID_REPLY]++;
			kore_log(LOG_NOTICE, "analyze.gemini_invalid rid=%s "
			    "why=\"%s\"", st->id, err);
			analyze_fail(st, "invalid_response", "Gemini's answer "
			    "was not a valid report: %s", err);
			req->fsm_state = ANALYZE_RELEASE;
			return;
		}
		sw->gemini[STATS_GEMINI_OK]++;
		http_json_iso8601(time(NULL), st->generated_at,
		    sizeof(st->generated_at));
		/* Cache the core with its time; the rest is rebuilt. */
		stored = json_deep_copy(st->core);
		json_object_set_new(stored, "generated_at",
		    json_string(st->generated_at));
		report = json_dumps(stored, JSON_COMPACT |
		    JSON_REAL_PRECISION(15));
		json_decref(stored);
		if (report == NULL) {
			req->fsm_state = ANALYZE_ANSWER;
			return;
		}
		snprintf(ttl, sizeof(ttl), "%d", app.cf.gemini_cache_ttl_s);
		analyze_query(st, analyze_sql_put, 6, st->inputs, st->id,
		    report, ttl, ANALYZER_PROMPT_VERSION, app.cf.gemini_model);
		st->leader = 0;		/* the put ends the lease */
		free(report);
		req->fsm_state = ANALYZE_SAVE;
		return;
	}

	policy.max_attempts = app.cf.gemini_max_attempts;
	policy.base_ms = app.cf.gemini_retry_base_ms;
	policy.cap_ms = app.cf.gemini_retry_max_ms;
	policy.min_attempt_ms = ANALYZE_MIN_ATTEMPT_MS;
	now = kore_time_ms();
	remaining = now < st->budget_end ? (long)(st->budget_end - now) : 0;
	server_ms = gemini_server_delay_ms(reply, len, r->retry_after,
	    time(NULL));
	delay = gemini_next_delay(&policy, st->attempts, r, server_ms,
	    remaining, (double)arc4random_uniform(1000000) / 1e6, &why);
	if (delay >= 0) {
		sw->gemini[STATS_GEMINI_RETRY]++;
		analyze_wait_for(req, st, delay, ANALYZE_EGRESS);
		return;
	}

	switch (r->transport) {
	case GEMINI_TRANSPORT_TIMEOUT:
		sw->gemini[STATS_GEMINI_TIMEOUT]++;
		break;
	case GEMINI_TRANSPORT_OK:
		sw->gemini[STATS_GEMINI_HTTP_ERROR]++;
		break;
	default:
		sw->gemini[STATS_GEMINI_CONNECT_ERROR]++;
		break;
	}
	if (r->transport == GEMINI_TRANSPORT_OK) {
		analyze_fail(st, gemini_failure_reason(r), "Gemini answered "
		    "HTTP %ld%s%s%s after %d attempt%s (%s)", r->http_status,
		    status[0] != '\0' ? " (" : "", status,
		    status[0] != '\0' ? ")" : "", st->attempts,
		    st->attempts == 1 ? "" : "s", why);
	} else {
		analyze_fail(st, gemini_failure_reason(r), "no answer from "
		    "Gemini (%s) after %d attempt%s (%s)",
		    curl_easy_strerror((CURLcode)r->curl_code), st->attempts,
		    st->attempts == 1 ? "" : "s", why);
	}
	req->fsm_state = ANALYZE_RELEASE;
}

/* The rules answer, for reason (a code) and a detail for people. */
static void
analyze_fail(struct analyze_state *st, const char *reason,
    const char *fmt, ...)
{
	va_list	ap;

	st->reason = reason;
	va_start(ap, fmt);
	(void)vsnprintf(st->detail, sizeof(st->detail), fmt, ap);
	va_end(ap);
	json_decref(st->core);
	st->core = NULL;
	st->cached = 0;
}

/*
 * Task thread: one Gemini call.  Reads the call and the body, writes the
 * result and the reply: always both, whatever happened, because the
 * handler reads both and an empty channel is fatal to the worker.
 */
static int
analyze_task(struct kore_task *t)
{
	struct gemini_call	 call;
	struct gemini_result	 res;
	char			*body, *reply, empty[1];
	u_int32_t		 len;

	memset(&res, 0, sizeof(res));
	res.transport = GEMINI_TRANSPORT_OTHER;
	empty[0] = '\0';
	body = reply = NULL;

	len = kore_task_channel_read(t, &call, sizeof(call));
	if (len != sizeof(call) || call.body_len > GEMINI_BODY_MAX)
		goto out;
	if ((body = malloc((size_t)call.body_len + 1)) == NULL ||
	    (reply = malloc(GEMINI_REPLY_MAX)) == NULL)
		goto out;
	len = kore_task_channel_read(t, body, call.body_len);
	if (len != call.body_len)
		goto out;
	body[len] = '\0';

	gemini_perform(&call, body, &res, reply, GEMINI_REPLY_MAX);

out:
	explicit_bzero(&call, sizeof(call));
	if (reply == NULL)
		res.body_len = 0;
	kore_task_channel_write(t, &res, sizeof(res));
	kore_task_channel_write(t, reply != NULL ? reply : empty,
	    res.body_len);
	free(body);
	free(reply);
	return (KORE_RESULT_OK);
}

/* ------------------------------ timers: polls, backoffs and the deadline */

/* Sleeps for ms (a one-shot timer), then goes to state after. */
static void
analyze_wait_for(struct http_request *req, struct analyze_state *st,
    long ms, int after)
{
	st->timer_fired = 0;
	st->after_sleep = after;
	st->sleep = ANALYZE_SLEEP_TIMER;
	st->timer = kore_timer_add(analyze_timer_cb, (u_int64_t)ms, req,
	    KORE_TIMER_ONESHOT);
	req->fsm_state = ANALYZE_SLEEP;
}

static void
analyze_deadline_cb(void *arg, u_int64_t now)
{
	struct http_request	*req = arg;
	struct analyze_state	*st = http_state_get(req);

	(void)now;
	st->deadline = NULL;		/* one-shot: Kore frees it */
	st->expired = 1;
	if (st->sleep == ANALYZE_SLEEP_TASK ||
	    st->sleep == ANALYZE_SLEEP_TIMER)
		http_request_wakeup(req);
}

static void
analyze_timer_cb(void *arg, u_int64_t now)
{
	struct http_request	*req = arg;
	struct analyze_state	*st = http_state_get(req);

	(void)now;
	st->timer = NULL;		/* one-shot: Kore frees it */
	st->timer_fired = 1;
	if (st->sleep == ANALYZE_SLEEP_TIMER)
		http_request_wakeup(req);
}

/* ----------------------------------- the request's memory, small helpers */

/*
 * The request is going away (answered, or its client left).  Kore calls
 * this again while a task is still running, so every step is idempotent.
 * Timers are removed here and never in their own callbacks.
 */
static void
analyze_onfree(struct http_request *req)
{
	struct analyze_state	*st;

	if ((st = http_state_get(req)) == NULL)
		return;
	if (st->deadline != NULL) {
		kore_timer_remove(st->deadline);
		st->deadline = NULL;
	}
	if (st->timer != NULL) {
		kore_timer_remove(st->timer);
		st->timer = NULL;
	}
	st->sleep = ANALYZE_SLEEP_NONE;
	db_call_release(&st->call);
	free(st->inputs);
	st->inputs = NULL;
	free(st->body);
	st->body = NULL;
	json_decref(st->core);
	st->core = NULL;
}

static long
analyze_atol(const char *s)
{
	return (s != NULL ? strtol(s, NULL, 10) : 0);
}

static int
analyze_printable(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return (0);
	}
	return (1);
}
