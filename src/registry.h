/*
 * registry.h: the model versions a server holds.
 *
 * A registry is the list of artifacts found under MODELS_DIR
 * (<name>/<version>/, each an artifact directory as src/model/README.md
 * describes) or the one artifact of MODEL_DIR.  Every entry is listed,
 * loaded or not: an artifact that fails its checks keeps its error
 * ("path:line: reason") so GET /models can say why.  Pure C (libc and the
 * model), so the unit tests link it.
 */
#ifndef REGISTRY_H
#define REGISTRY_H

#include <stddef.h>

#include "model/model.h"

#define REGISTRY_NAME_MAX	64	/* as app.model_versions.name */
#define REGISTRY_VERSION_MAX	32
#define REGISTRY_PATH_MAX	4096
#define REGISTRY_ERR_MAX	512
#define REGISTRY_MAX		256	/* versions held at once */

struct registry_entry {
	char		 name[REGISTRY_NAME_MAX];
	char		 version[REGISTRY_VERSION_MAX];
	char		 dir[REGISTRY_PATH_MAX];
	struct model	*model;		/* NULL: not loaded, see error */
	char		 error[REGISTRY_ERR_MAX];
};

/*
 * v has room for REGISTRY_MAX entries from the first add: entries never
 * move, so pointers to them stay valid.  Sorted by name, then version,
 * at start; versions added later (registry_rescan) are appended.
 */
struct registry {
	struct registry_entry	*v;
	size_t			 n;
	struct model		**retired;	/* replaced, freed at the end */
	size_t			 nretired;
};

/* What registry_rescan did to one version. */
enum registry_action {
	REGISTRY_LOADED,	/* new, or loads now */
	REGISTRY_REPLACED,	/* its artifact changed: the new one serves */
	REGISTRY_REFUSED,	/* failed its checks: the old one (if any) serves */
	REGISTRY_UNLOADED,	/* its directory is gone */
	REGISTRY_KEPT,		/* its directory is gone, but it has traffic */
};

struct registry_change {
	enum registry_action	 action;
	struct registry_entry	*entry;
	char			 error[REGISTRY_ERR_MAX];
};

#define REGISTRY_CHANGES_MAX	64

/*
 * Adds every <name>/<version> directory of dir and loads each.  Returns 1
 * when dir could be read (entries that failed carry their error), 0 with
 * the reason in errbuf otherwise.
 */
int			 registry_scan(struct registry *, const char *,
			    char *, size_t);

/*
 * Adds the one artifact in dir (MODEL_DIR): its name and version come
 * from its MANIFEST.  Returns 1 if it loaded, 0 with the error in errbuf
 * (the registry is then empty: an artifact that cannot be read has no
 * name).
 */
int			 registry_add_dir(struct registry *, const char *,
			    char *, size_t);

/*
 * Looks at dir again: loads new <name>/<version> directories, reloads the
 * ones whose MANIFEST changed (the old model keeps serving if the new one
 * fails), unloads the ones gone unless busy(entry) says they serve.
 * Fills changes (at most REGISTRY_CHANGES_MAX) and returns their number,
 * or -1 with errbuf set when dir cannot be read.
 */
int			 registry_rescan(struct registry *, const char *,
			    int (*)(const struct registry_entry *),
			    struct registry_change *, char *, size_t);

/* The entry (name, version), or NULL. */
struct registry_entry	*registry_find(const struct registry *,
			    const char *, const char *);

/*
 * The version of name served when nothing else decides: the highest
 * loaded one.  name NULL: the first model name.  NULL if none is loaded.
 */
struct registry_entry	*registry_default(const struct registry *,
			    const char *);

/* The first entry that failed to load, or NULL. */
const struct registry_entry *registry_first_error(const struct registry *);

/* The index of the entry holding m, or -1. */
int			 registry_index(const struct registry *,
			    const struct model *);

/* Number of distinct names. */
size_t			 registry_names(const struct registry *);

/* Orders two semver strings X.Y.Z numerically (<0, 0, >0). */
int			 registry_semver_cmp(const char *, const char *);

void			 registry_free(struct registry *);

#endif
