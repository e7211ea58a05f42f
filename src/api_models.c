/*
 * api_models.c: GET /models and GET /models/{name}.
 *
 * What this server holds: every version found at start, loaded or not
 * (then with the error, file and line), its artifact sha256 and its share
 * of the traffic.  Read from the worker's memory, no query.
 */
#include <sys/types.h>

#include <string.h>

#include "app.h"

#define MODELS_PREFIX		"/models/"

static json_t	*models_version(const struct registry_entry *);

int
api_models_list(struct http_request *req)
{
	json_t	*list;
	size_t	 i;

	if (!gate_method(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	list = json_array();
	for (i = 0; i < app.registry.n; i++)
		json_array_append_new(list, models_version(&app.registry.v[i]));
	http_json_reply(req, HTTP_STATUS_OK, json_pack("{s:o}", "models",
	    list));
	return (KORE_RESULT_OK);
}

int
api_models_get(struct http_request *req)
{
	struct registry_entry	*def;
	const char		*name;
	json_t			*list;
	size_t			 i;

	if (!gate_method(req, HTTP_METHOD_GET))
		return (KORE_RESULT_OK);
	/* The route's regex guarantees the prefix and a valid name. */
	name = req->path + strlen(MODELS_PREFIX);
	list = json_array();
	for (i = 0; i < app.registry.n; i++) {
		if (strcmp(app.registry.v[i].name, name) == 0)
			json_array_append_new(list,
			    models_version(&app.registry.v[i]));
	}
	if (json_array_size(list) == 0) {
		json_decref(list);
		http_json_error(req, HTTP_STATUS_NOT_FOUND, "not_found",
		    "no model of this name (see GET /models)", NULL);
		return (KORE_RESULT_OK);
	}
	def = routing_default(name);
	http_json_reply(req, HTTP_STATUS_OK, json_pack("{s:s,s:s?,s:I,s:o}",
	    "name", name, "default_version", def != NULL ? def->version :
	    NULL, "routing_generation", (json_int_t)routing_generation(),
	    "versions", list));
	return (KORE_RESULT_OK);
}

/* One version as GET /models lists it. */
static json_t *
models_version(const struct registry_entry *e)
{
	json_t	*o;

	o = json_pack("{s:s,s:s,s:b,s:s?,s:s?,s:i,s:b}", "name", e->name,
	    "version", e->version, "loaded", e->model != NULL,
	    "sha256", e->model != NULL ? model_sha256(e->model) : NULL,
	    "description", e->model != NULL ?
	    model_description(e->model) : NULL,
	    "traffic_share", routing_share(e),
	    "shadow", routing_is_shadow(e));
	if (e->model == NULL)
		json_object_set_new(o, "error", json_string(e->error));
	return (o);
}
