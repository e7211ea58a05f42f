/*
 * app.h: the module's one private header.  Shared types, and every
 * non-static function grouped under the file that defines it.  The pure
 * modules (config, schema, cidr, uuid, model) keep their own small
 * headers so the unit tests can use them without Kore.
 *
 * Build flags must include /usr/share/kore/features, or the Kore structs
 * seen here differ from the ones inside the kore binary.
 */
#ifndef APP_H
#define APP_H

#include <sys/types.h>

#include <netinet/in.h>

#include <kore/kore.h>
#include <kore/http.h>
#include <kore/pgsql.h>
#include <kore/tasks.h>

#include <jansson.h>

#include "balance.h"
#include "cidr.h"
#include "clock.h"
#include "config.h"
#include "registry.h"
#include "schema.h"
#include "stats.h"
#include "uuid.h"
#include "model/model.h"

#define APP_NAME		"modelserver"
#define APP_VERSION		"1.0.0"
#define APP_DB			"db"	/* name given to kore_pgsql_register */
#define APP_DB_ANALYTICS	"analytics"	/* ANALYTICS_DATABASE_URL */
#define APP_OWNER_DB		"owner"	/* MAINTENANCE_DATABASE_URL, if set */

/* Everything a worker needs, set up once in the parent before fork. */
struct app {
	struct config		 cf;
	struct cidr_list	 trusted;	/* TRUSTED_PROXIES */
	char			*conninfo;	/* DATABASE_URL + our options */
	char			*analytics_conninfo;	/* or NULL */
	char			*owner_conninfo; /* NULL: no owner connection */
	struct model		*model;		/* the default; NULL: none */
	char			 model_error[512];
	struct registry		 registry;	/* every version held */
	time_t			 started;
	int			 draining;	/* worker is shutting down */
};

extern struct app	app;

/*
 * Every handler's state struct starts with this (http_json_state() makes
 * it), so the reply can time the whole request for the metrics.
 */
#define API_STATE_MAGIC		0x6d737276u

struct api_state {
	u_int32_t	magic;
	u_int64_t	started_us;
};

/*
 * One /predict waiting for its row to be committed (recorder.c).  It lives
 * in the request's state, so it dies with the request; recorder_cancel()
 * unlinks it first.
 */
enum recorder_state {
	RECORDER_NEW,
	RECORDER_QUEUED,	/* on the worker's pending list */
	RECORDER_SENT,		/* part of a batch being committed */
	RECORDER_DONE,		/* outcome below is final */
};

struct recorder_batch;

struct recorder_row {
	struct http_request		*req;
	TAILQ_ENTRY(recorder_row)	 list;
	struct recorder_batch		*batch;
	int				 slot;
	enum recorder_state		 state;
	u_int64_t			 queued_ms;

	/* What is written. */
	char				 id[UUID_STRLEN];
	char				 shadow_of[UUID_STRLEN];	/* "" */
	char				 client[INET6_ADDRSTRLEN];
	const struct model		*model;		/* that answered */
	struct model_result		 result;
	double				 inference_ms;
	long				 input_length;

	/* The outcome, once state is RECORDER_DONE. */
	int				 status;	/* 200 429 503 500 */
	int				 unknown;	/* 503: may be stored */
	int				 limit;
	int				 remaining;
	int				 reset_s;
	char				 created_at[40];
};

/*
 * One /predict/batch waiting for its rows (recorder.c): all of them are
 * committed in one transaction, or none.  rows[] holds what is written
 * (their own state and outcome fields are unused); the outcome is the
 * group's.
 */
struct recorder_group {
	struct http_request		*req;
	TAILQ_ENTRY(recorder_group)	 list;
	struct recorder_batch		*batch;
	int				 slot;
	enum recorder_state		 state;
	const struct model		*model;
	char				 client[INET6_ADDRSTRLEN];
	int				 n;
	struct recorder_row		*rows;		/* [n] */
	int				 shadow;	/* rows of a shadow */

	int				 status;	/* 200 429 503 500 */
	int				 unknown;
	int				 limit;
	int				 remaining;
	int				 reset_s;
	char				 created_at[40];
};

/* Outcome of starting a query (db.c). */
#define DB_FAIL		0	/* sql->error says why */
#define DB_OK		1	/* query sent: wait for it */
#define DB_QUEUED	2	/* all connections busy: woken later */

/*
 * One query of a request (db.c, db_call_step): its parameters and row 0
 * of its result are owned copies.
 */
#define DB_CALL_NPARAMS		8
#define DB_CALL_NCOLS		8

struct db_call {
	struct kore_pgsql	 sql;
	struct http_request	*req;
	const char		*query;
	int			 nparams;
	char			*params[DB_CALL_NPARAMS];
	const char		*values[DB_CALL_NPARAMS];  /* NULL: SQL NULL */
	int			 busy;		/* started, not over yet */
	int			 ro;		/* db_call_start_ro: analytics */
	int			 sent;		/* reached a connection */
	int			 results;
	int			 rows;		/* of the first result */
	char			*col[DB_CALL_NCOLS];	/* its row 0, or NULL */
};

/* init.c */
int		init(int);
void		kore_parent_configure(int, char **);
void		kore_worker_teardown(void);

/* gate.c */
void		gate_init(void);
int		gate_method(struct http_request *, int);
int		gate_framing(struct http_request *);
void		gate_balance(u_int64_t);

/* http_json.c */
void		http_json_begin(struct http_request *, u_int64_t);
int		http_json_read(struct http_request *, json_t **);
void		http_json_reply(struct http_request *, int, json_t *);
void		http_json_reply_text(struct http_request *, int, const char *,
		    size_t);
void		http_json_error(struct http_request *, int, const char *,
		    const char *, json_t *);
json_t		*http_json_error_body(struct http_request *, int,
		    const char *, const char *, json_t *);
char		*http_json_iso8601(time_t, char *, size_t);
void		*http_json_state(struct http_request *, size_t,
		    void (*)(struct http_request *));
void		http_json_count(struct http_request *, int);

/* db.c */
char		*db_conninfo(const char *, const struct config *, char *,
		    size_t);
void		db_init(void);
int		db_query(struct kore_pgsql *, const char *, int,
		    const char **);
int		db_query_ro(struct kore_pgsql *, const char *, int,
		    const char **);
int		db_analytics(void);
int		db_query_on(struct kore_pgsql *, const char *, const char *,
		    int, const char **);
void		db_call_init(struct db_call *, struct http_request *);
void		db_call_start(struct db_call *, const char *, int,
		    const char **);
void		db_call_start_ro(struct db_call *, const char *, int,
		    const char **);
int		db_call_step(struct db_call *, int, int);
void		db_call_release(struct db_call *);
int		db_status(const struct kore_pgsql *, const char **);
const char	*db_breaker_reason(void);
void		db_abandon(struct kore_pgsql *);
void		db_release(struct kore_pgsql *);
int		db_reply_waiting(const struct kore_pgsql *);
int		db_breaker_open(void);

/* ratelimit.c */
const char	*ratelimit_client(struct http_request *, char *, size_t);
void		ratelimit_headers(struct http_request *, int, int, int);
void		ratelimit_reject(struct http_request *, int, int);

/* janitor.c */
void		janitor_init(void);
void		janitor_stop(void);

/* recorder.c */
void		recorder_init(void);
int		recorder_busy(void);
void		recorder_stop(void);
void		recorder_submit(struct recorder_row *);
void		recorder_cancel(struct recorder_row *);
void		recorder_submit_group(struct recorder_group *);
void		recorder_cancel_group(struct recorder_group *);
void		recorder_submit_shadow(const struct model *, const char *,
		    const struct recorder_row *, int);

/* routing.c */
void		routing_init(void);
void		routing_stop(void);
void		routing_refresh(void);
int		routing_rescan(struct registry_change *);
long long	routing_generation(void);
struct registry_entry *routing_pick(const char *, const char *,
		    const char *, struct registry_entry **, const char **,
		    const char **);
int		routing_share(const struct registry_entry *);
int		routing_is_shadow(const struct registry_entry *);
struct registry_entry *routing_default(const char *);

/* api_models.c */
int		api_models_list(struct http_request *);
int		api_models_get(struct http_request *);

/* api_routing.c */
int		api_routing_put(struct http_request *);

/* api_reload.c */
int		api_models_reload(struct http_request *);

/* api_health.c */
int		api_health_root(struct http_request *);
int		api_health_get(struct http_request *);
int		api_health_notfound(struct http_request *);

/* api_predict.c */
int		api_predict_post(struct http_request *);

/* api_predict_batch.c */
int		api_predict_batch_post(struct http_request *);

/* api_metrics.c */
int		api_metrics_aggregated(struct http_request *);
int		api_metrics_count(struct http_request *);
int		api_metrics_thresholds(struct http_request *);
int		api_metrics_timeseries(struct http_request *);
int		api_metrics_authorized(struct http_request *);

/* api_compare.c */
int		api_metrics_compare(struct http_request *);

/* api_prometheus.c */
int		api_prometheus_get(struct http_request *);

/* api_analyze.c */
int		api_analyze_post(struct http_request *);

/* api_docs.c */
void		api_docs_load(void);
int		api_docs_get(struct http_request *);

#endif
