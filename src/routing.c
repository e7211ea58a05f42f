/*
 * routing.c: which loaded model version answers a request.
 *
 * A request may pin "model" and "model_version"; otherwise the model is
 * the default name (the first in MODELS_DIR) and the version is that
 * name's default: the highest loaded version.  Nothing here waits or
 * queries: it reads the worker's registry.
 */
#include <sys/types.h>

#include <string.h>

#include "app.h"

/*
 * Picks the version for (name, version), either may be NULL.  Returns
 * the entry, or NULL with *why set: the field at fault in *field.
 */
struct registry_entry *
routing_pick(const char *name, const char *version, const char *key,
    const char **field, const char **why)
{
	struct registry_entry	*e;

	(void)key;
	*field = "model";
	if (name == NULL) {
		if ((e = registry_default(&app.registry, NULL)) != NULL)
			name = e->name;
		else
			name = "";
	}
	if (version != NULL) {
		e = registry_find(&app.registry, name, version);
		if (e == NULL || e->model == NULL) {
			*field = "model_version";
			*why = e == NULL ? "no such version of the model" :
			    "this version failed to load (see GET /models)";
			return (NULL);
		}
		return (e);
	}
	if ((e = registry_default(&app.registry, name)) == NULL) {
		*why = "no loaded model of this name (see GET /models)";
		return (NULL);
	}
	return (e);
}

/* The share of the traffic (percent) e gets when not pinned. */
int
routing_share(const struct registry_entry *e)
{
	return (e->model != NULL && registry_default(&app.registry,
	    e->name) == e ? 100 : 0);
}
