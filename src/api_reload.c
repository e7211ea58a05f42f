/*
 * api_reload.c: POST /models/reload, hot reload of MODELS_DIR.
 *
 * Needs "Authorization: Bearer <ADMIN_TOKEN>".  The worker that takes the
 * call looks at MODELS_DIR again at once (routing_rescan: new and changed
 * versions load, a broken one is refused with its file and line while
 * the loaded ones keep serving, a version gone is unloaded unless it has
 * traffic), then bumps app.routing_state.generation: every other worker
 * of every instance sees it at its next poll and rescans the same way.
 * Requests are never interrupted: a worker swaps a model between two
 * events of its loop, and the model replaced stays in memory for the
 * rows still pointing at it.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include "app.h"

enum reload_step {
	RELOAD_START,
	RELOAD_DONE,
	RELOAD_ERROR,
	RELOAD_NSTEPS
};

struct reload_state {
	struct api_state	 head;
	struct db_call		 call;
	json_t			*changes;
};

static int	reload_start(struct http_request *);
static int	reload_done(struct http_request *);
static int	reload_error(struct http_request *);
static void	reload_onfree(struct http_request *);

static struct http_state reload_states[] = {
	KORE_HTTP_STATE(reload_start),
	KORE_HTTP_STATE(reload_done),
	KORE_HTTP_STATE(reload_error),
};

static const char reload_sql[] =
    "UPDATE app.routing_state SET generation = generation + 1 "
    "RETURNING generation";

static const char *const reload_actions[] = {
	"loaded", "replaced", "refused", "unloaded", "kept"
};

int
api_models_reload(struct http_request *req)
{
	return (http_state_run(reload_states, RELOAD_NSTEPS, req));
}

static int
reload_start(struct http_request *req)
{
	struct registry_change	 ch[REGISTRY_CHANGES_MAX];
	struct reload_state	*st;
	int			 n, i;

	if (!http_state_exists(req)) {
		if (!gate_method(req, HTTP_METHOD_POST) ||
		    !api_metrics_authorized(req))
			return (HTTP_STATE_COMPLETE);
		if (app.cf.models_dir[0] == '\0') {
			http_json_error(req, 409, "conflict", "hot reload "
			    "needs MODELS_DIR (MODEL_DIR serves one fixed "
			    "version)", NULL);
			return (HTTP_STATE_COMPLETE);
		}
		if ((n = routing_rescan(ch)) < 0) {
			http_json_error(req, HTTP_STATUS_INTERNAL_ERROR,
			    "internal", "MODELS_DIR cannot be read (see the "
			    "log)", NULL);
			return (HTTP_STATE_COMPLETE);
		}
		st = http_json_state(req, sizeof(*st), reload_onfree);
		st->changes = json_array();
		for (i = 0; i < n; i++) {
			json_array_append_new(st->changes, json_pack(
			    "{s:s,s:s,s:s,s:s?}", "name", ch[i].entry->name,
			    "version", ch[i].entry->version, "action",
			    reload_actions[ch[i].action], "error",
			    ch[i].error[0] != '\0' ? ch[i].error : NULL));
		}
		db_call_init(&st->call, req);
		db_call_start(&st->call, reload_sql, 0, NULL);
	}
	st = http_state_get(req);
	return (db_call_step(&st->call, RELOAD_DONE, RELOAD_ERROR));
}

static int
reload_done(struct http_request *req)
{
	struct reload_state	*st = http_state_get(req);
	json_t			*o;

	o = json_pack("{s:o,s:I}", "changes", st->changes, "generation",
	    (json_int_t)(st->call.col[0] != NULL ?
	    strtoll(st->call.col[0], NULL, 10) : 0));
	st->changes = NULL;
	http_json_reply(req, HTTP_STATUS_OK, o);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static int
reload_error(struct http_request *req)
{
	struct reload_state	*st = http_state_get(req);
	const char		*code;
	int			 status;

	status = db_status(&st->call.sql, &code);
	if (status == HTTP_STATUS_SERVICE_UNAVAILABLE)
		http_response_header(req, "retry-after", "1");
	http_json_error(req, status, code, "reloaded on this worker only: "
	    "the others could not be told; retry", NULL);
	db_call_release(&st->call);
	return (HTTP_STATE_COMPLETE);
}

static void
reload_onfree(struct http_request *req)
{
	struct reload_state	*st;

	if ((st = http_state_get(req)) == NULL)
		return;
	json_decref(st->changes);
	st->changes = NULL;
	db_call_release(&st->call);
}
