/*
 * init.c: the module's hooks.
 *
 * kore_parent_configure() runs once in the parent, after kore.conf was
 * parsed and before the workers fork: configuration, the model and
 * process-wide libraries are set up there, once, so every worker shares
 * them copy-on-write and a bad setting stops the start with one clear
 * message.  init() runs in every worker after privilege separation and
 * seccomp: the database pool, the recorder and the timers.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include <kore/hooks.h>		/* kore_seccomp_hook, which the filter defines */
#include <kore/seccomp.h>

#include "app.h"

/*
 * Syscalls glibc 2.36 needs that Kore's filter lacks (found with
 * seccomp_tracing): stat for the access log's localtime() and libcurl's CA
 * file; clone3 is refused so pthread_create falls back to clone (task
 * threads); rseq for new threads; the rest for libcurl's resolver, and
 * getdents64 for reading MODELS_DIR again (POST /models/reload).
 */
#if defined(__SANITIZE_ADDRESS__)
/*
 * The ASan build (the HTTP tests) registers every new thread: gettid and
 * sched_getaffinity, or the first task kills its worker.  Production
 * builds do not need them (checked with seccomp_tracing).
 */
#define INIT_SECCOMP_SANITIZER						\
	KORE_SYSCALL_ALLOW(gettid),					\
	KORE_SYSCALL_ALLOW(sched_getaffinity),
#else
#define INIT_SECCOMP_SANITIZER
#endif

KORE_SECCOMP_FILTER("modelserver",
	INIT_SECCOMP_SANITIZER
	KORE_SYSCALL_ALLOW(newfstatat),
	KORE_SYSCALL_DENY(clone3, ENOSYS),
	KORE_SYSCALL_ALLOW(rseq),
	KORE_SYSCALL_ALLOW(getpeername),
	KORE_SYSCALL_ALLOW(uname),
	KORE_SYSCALL_ALLOW(sendmmsg),
	KORE_SYSCALL_ALLOW_ARG(socket, 0, AF_NETLINK),
	KORE_SYSCALL_ALLOW(bind),
	KORE_SYSCALL_ALLOW(recvmsg),
	/* Hot reload lists MODELS_DIR in the worker (registry_rescan). */
	KORE_SYSCALL_ALLOW(getdents64),
)

struct app	app;

static void	init_models(void);

void
kore_parent_configure(int argc, char **argv)
{
	const char	*envfile;
	char		 err[CONFIG_ERRLEN];
	int		 workers;

	(void)argc;
	(void)argv;

	/* stdout is a pipe under docker and the tests: log line by line. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&app, 0, sizeof(app));
	app.started = time(NULL);

	if ((envfile = getenv("ENV_FILE")) == NULL)
		envfile = ".env";
	if (!config_load(&app.cf, envfile, err, sizeof(err)))
		fatal("configuration error: %s", err);
	if (!cidr_list_parse(&app.trusted, app.cf.trusted_proxies, err,
	    sizeof(err)))
		fatal("configuration error: TRUSTED_PROXIES: %s", err);
	if ((app.conninfo = db_conninfo(app.cf.database_url, &app.cf, err,
	    sizeof(err))) == NULL)
		fatal("configuration error: %s", err);
	if (app.cf.analytics_database_url[0] != '\0' &&
	    (app.analytics_conninfo = db_conninfo(
	    app.cf.analytics_database_url, &app.cf, err, sizeof(err))) == NULL)
		fatal("configuration error: ANALYTICS_%s", err);
	if (app.cf.maintenance_url[0] != '\0' &&
	    (app.owner_conninfo = db_conninfo(app.cf.maintenance_url,
	    &app.cf, err, sizeof(err))) == NULL)
		fatal("configuration error: MAINTENANCE_%s", err);

	init_models();

	/* The API docs' files, read once and shared by every worker. */
	api_docs_load();

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");
	workers = config_workers(&app.cf);
	if (!stats_init(workers))
		fatal("cannot map the shared statistics");
	if (!balance_init(workers))
		fatal("cannot map the shared connection counts");

	kore_log(LOG_NOTICE, "%s %s configured: workers=%d pool=%d "
	    "batch_max=%d delay_ms=%d inflight=%d limit=%d/min", APP_NAME,
	    APP_VERSION, workers, app.cf.db_pool_size,
	    app.cf.recorder_batch_max, app.cf.recorder_delay_ms,
	    app.cf.recorder_inflight, app.cf.rate_limit_predict);
}

/*
 * The `load ./build/app.so init` callback, in every worker.  SIGHUP
 * reloads the module and calls it again: set up only once.
 */
int
init(int state)
{
	static int	done;

	if (state != KORE_MODULE_LOAD || done)
		return (KORE_RESULT_OK);
	done = 1;

	stats_bind(worker->id);
	balance_bind(worker->id, worker_max_connections,
	    app.cf.worker_balance_slack);
	gate_init();
	db_init();
	recorder_init();
	janitor_init();
	routing_init();
	return (KORE_RESULT_OK);
}

/*
 * Loads every model version (MODELS_DIR, else the one of MODEL_DIR) and
 * picks the default.  With MODEL_REQUIRED a version that fails its checks
 * stops the start: what was deployed is what serves.
 */
static void
init_models(void)
{
	const struct registry_entry	*bad;
	struct registry_entry		*def;
	size_t				 i;
	int				 ok;

	if (app.cf.models_dir[0] != '\0') {
		ok = registry_scan(&app.registry, app.cf.models_dir,
		    app.model_error, sizeof(app.model_error));
		if (ok && (bad = registry_first_error(&app.registry)) != NULL) {
			snprintf(app.model_error, sizeof(app.model_error),
			    "%s", bad->error);
			ok = !app.cf.model_required;
		}
		if (ok && app.registry.n == 0) {
			snprintf(app.model_error, sizeof(app.model_error),
			    "%s:0: no <name>/<version> directory",
			    app.cf.models_dir);
			ok = 0;
		}
	} else {
		ok = registry_add_dir(&app.registry, app.cf.model_dir,
		    app.model_error, sizeof(app.model_error));
	}
	if (!ok && app.cf.model_required)
		fatal("model: %s", app.model_error);

	for (i = 0; i < app.registry.n; i++) {
		if (app.registry.v[i].model == NULL) {
			kore_log(LOG_ERR, "model not loaded name=%s version=%s "
			    "error=\"%s\"", app.registry.v[i].name,
			    app.registry.v[i].version, app.registry.v[i].error);
			continue;
		}
		kore_log(LOG_NOTICE, "model loaded name=%s version=%s "
		    "sha256=%s dir=%s", app.registry.v[i].name,
		    app.registry.v[i].version,
		    model_sha256(app.registry.v[i].model),
		    app.registry.v[i].dir);
	}
	if ((def = registry_default(&app.registry, NULL)) != NULL)
		app.model = def->model;
	else
		kore_log(LOG_ERR, "model not loaded, serving degraded "
		    "(MODEL_REQUIRED=false): %s", app.model_error);
}

/*
 * SIGTERM/SIGQUIT: Kore has left the worker's event loop and will close
 * every connection when this returns, answered or not.  Turn the loop a
 * while longer ourselves: requests already admitted finish (their rows
 * commit and they get their answer), new ones get 503 shutting_down
 * (gate_method), until nothing is in flight or SHUTDOWN_DRAIN_MS
 * has passed.  What is still open then sees its connection close, never
 * a false success.
 */
void
kore_worker_teardown(void)
{
	u_int64_t	now, start, deadline;

	app.draining = 1;
	balance_leave();
	start = now = kore_time_ms();
	deadline = now + (u_int64_t)app.cf.shutdown_drain_ms;
	if (http_request_count > 0 || recorder_busy()) {
		kore_log(LOG_NOTICE, "shutdown.drain requests=%u",
		    http_request_count);
		while ((http_request_count > 0 || recorder_busy()) &&
		    now < deadline) {
			kore_platform_event_wait(10);
			now = kore_time_ms();
			kore_timer_run(now);
			http_process();
			kore_connection_prune(
			    KORE_CONNECTION_PRUNE_DISCONNECT);
		}
		kore_log(LOG_NOTICE, "shutdown.drained requests_left=%u "
		    "after_ms=%llu", http_request_count,
		    (unsigned long long)(now - start));
	}

	/* Kore frees idle connections only: release the busy ones. */
	recorder_stop();
	janitor_stop();
	routing_stop();
}
