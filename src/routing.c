/*
 * routing.c: which loaded model version answers a request, and which one
 * shadows it.
 *
 * The split is data (app.model_routing, migrations/0010): per model name,
 * versions with weights, a default version and an optional shadow.  Each
 * worker keeps a copy.  Every ROUTING_POLL_MS a timer reads the one-row
 * counter app.routing_state.generation, which a trigger bumps with every
 * change; only when it moved does the worker reload the table.  So a
 * change made anywhere (PUT /models/{name}/routing on any instance, psql)
 * reaches every worker of every instance within about two poll periods,
 * with no LISTEN/NOTIFY (PgBouncer in transaction mode cannot carry it)
 * and no query per request.
 *
 * Assignment is sticky: a hash of the model name and the client (its
 * address, or the request's routing_key) picks a point in 0..99, and the
 * cumulative weights map it to a version; the same client gets the same
 * version for as long as the weights stay.  A request may pin the model
 * and version.  A model without a routing row is served by its highest
 * loaded version.  A weighted version this server does not hold gives
 * its share to the default version.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#define ROUTING_MAX_VERSIONS	16
#define ROUTING_BUCKETS		100

/* One row of model_routing as read (re-resolved after a rescan). */
struct routing_raw {
	char	name[REGISTRY_NAME_MAX];
	char	versions[ROUTING_MAX_VERSIONS * REGISTRY_VERSION_MAX];
	char	weights[ROUTING_MAX_VERSIONS * 4];
	char	def[REGISTRY_VERSION_MAX];
	char	shadow[REGISTRY_VERSION_MAX];
};

struct routing_rule {
	struct routing_raw	 raw;
	char			 name[REGISTRY_NAME_MAX];
	int			 n;
	struct registry_entry	*ver[ROUTING_MAX_VERSIONS];	/* NULL: */
	int			 weight[ROUTING_MAX_VERSIONS];	/* not held */
	struct registry_entry	*def;
	struct registry_entry	*shadow;
};

static void	routing_tick(void *, u_int64_t);
static void	routing_send(void);
static void	routing_db_cb(struct kore_pgsql *, void *);
static void	routing_read(struct kore_pgsql *);
static int	routing_parse(struct routing_rule *, const char *,
		    const char *, const char *, const char *, const char *);
static const struct routing_rule *routing_rule(const char *);
static int	routing_busy(const struct registry_entry *);
static void	routing_rebuild(void);
static struct registry_entry *routing_weighted(const struct routing_rule *,
		    const char *);
static u_int64_t routing_hash(const char *, const char *);

static const char routing_gen_sql[] =
    "SELECT generation FROM app.routing_state";
static const char routing_load_sql[] =
    "SELECT s.generation, r.model_name, array_to_string(r.versions, ','), "
    "array_to_string(r.weights, ','), r.default_version, "
    "coalesce(r.shadow_version, '') "
    "FROM app.routing_state s LEFT JOIN app.model_routing r ON true";

static struct routing_rule	 rules[REGISTRY_MAX];
static int			 nrules;
static long long		 generation = -1;	/* -1: never read */
static long long		 seen = -1;	/* from the last poll */
static struct kore_pgsql	 poll_sql;
static int			 poll_busy;
static const char		*poll_query;
static int			 poll_failed;	/* logged once until it works */

/* Per worker, from init(): the poll timer, and a first read at once. */
void
routing_init(void)
{
	nrules = 0;
	kore_timer_add(routing_tick, (u_int64_t)app.cf.routing_poll_ms, NULL,
	    0);
	/* The first load on the event loop's first turn, not in init. */
	kore_timer_add(routing_tick, 0, NULL, KORE_TIMER_ONESHOT);
}

void
routing_stop(void)
{
	if (!poll_busy)
		return;
	db_abandon(&poll_sql);
	poll_busy = 0;
}

/* Reload at the next tick (this worker just changed the table). */
void
routing_refresh(void)
{
	seen = -2;
}

/* The generation this worker applies (-1 before the first load). */
long long
routing_generation(void)
{
	return (generation);
}

/*
 * Picks the version for (name, version), either may be NULL, and the
 * shadow version that also scores the text (NULL: none).  Returns the
 * entry, or NULL with *why set and the field at fault in *field.
 */
struct registry_entry *
routing_pick(const char *name, const char *version, const char *key,
    struct registry_entry **shadow, const char **field, const char **why)
{
	const struct routing_rule	*rule;
	struct registry_entry		*e;

	*field = "model";
	if (shadow != NULL)
		*shadow = NULL;
	if (name == NULL) {
		if ((e = registry_default(&app.registry, NULL)) != NULL)
			name = e->name;
		else
			name = "";
	}
	rule = routing_rule(name);
	if (version != NULL) {
		e = registry_find(&app.registry, name, version);
		if (e == NULL || e->model == NULL) {
			*field = "model_version";
			*why = e == NULL ? "no such version of the model" :
			    "this version failed to load (see GET /models)";
			return (NULL);
		}
	} else if (rule != NULL) {
		e = routing_weighted(rule, key);
	} else {
		e = registry_default(&app.registry, name);
	}
	if (e == NULL) {
		*why = "no loaded model of this name (see GET /models)";
		return (NULL);
	}
	if (shadow != NULL && rule != NULL && rule->shadow != NULL &&
	    rule->shadow != e)
		*shadow = rule->shadow;
	return (e);
}

/* The share of the unpinned traffic (percent) e gets on this worker. */
int
routing_share(const struct registry_entry *e)
{
	const struct routing_rule	*rule;
	int				 i, share;

	if (e->model == NULL)
		return (0);
	if ((rule = routing_rule(e->name)) == NULL)
		return (registry_default(&app.registry, e->name) == e ?
		    100 : 0);
	share = 0;
	for (i = 0; i < rule->n; i++) {
		if (rule->ver[i] == e ||
		    (rule->ver[i] == NULL && rule->def == e))
			share += rule->weight[i];
	}
	return (share);
}

/* 1 if e is the shadow version of its model. */
int
routing_is_shadow(const struct registry_entry *e)
{
	const struct routing_rule	*rule;

	rule = routing_rule(e->name);
	return (rule != NULL && rule->shadow == e);
}

/* The default version of name as routed (NULL: none loaded). */
struct registry_entry *
routing_default(const char *name)
{
	const struct routing_rule	*rule;

	if ((rule = routing_rule(name)) != NULL && rule->def != NULL)
		return (rule->def);
	return (registry_default(&app.registry, name));
}

/* Polls the generation; reloads the table when it moved. */
static void
routing_tick(void *arg, u_int64_t now)
{
	(void)arg;
	(void)now;

	if (poll_busy) {
		/* A dead connection ends a query without a callback. */
		if (poll_sql.state != KORE_PGSQL_STATE_ERROR)
			return;
		db_release(&poll_sql);
		poll_busy = 0;
	}
	poll_query = (seen != generation || generation < 0) ?
	    routing_load_sql : routing_gen_sql;
	routing_send();
}

static void
routing_send(void)
{
	kore_pgsql_init(&poll_sql);
	kore_pgsql_bind_callback(&poll_sql, routing_db_cb, NULL);
	poll_busy = 1;
	switch (db_query(&poll_sql, poll_query, 0, NULL)) {
	case DB_OK:
	case DB_QUEUED:
		break;
	default:
		db_release(&poll_sql);
		poll_busy = 0;
		break;
	}
}

static void
routing_db_cb(struct kore_pgsql *sql, void *arg)
{
	(void)arg;

	switch (sql->state) {
	case KORE_PGSQL_STATE_INIT:
		if (db_query(sql, poll_query, 0, NULL) == DB_FAIL) {
			db_release(sql);
			poll_busy = 0;
		}
		break;
	case KORE_PGSQL_STATE_RESULT:
		routing_read(sql);
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_DONE:
		kore_pgsql_continue(sql);
		break;
	case KORE_PGSQL_STATE_ERROR:
		/* Stays busy: the next tick cleans up, outside this call. */
		if (!poll_failed)
			kore_log(LOG_NOTICE, "routing.poll failed error=\"%s\"",
			    sql->error != NULL ? sql->error : "");
		poll_failed = 1;
		break;
	case KORE_PGSQL_STATE_COMPLETE:
		poll_failed = 0;
		poll_busy = 0;
		break;
	default:
		break;
	}
}

/* A poll's result: the generation, or the whole table with it. */
static void
routing_read(struct kore_pgsql *sql)
{
	struct routing_rule	*next;
	long long		 gen;
	int			 i, n, rows;

	rows = kore_pgsql_ntuples(sql);
	if (rows < 1)
		return;
	gen = strtoll(kore_pgsql_getvalue(sql, 0, 0), NULL, 10);
	if (poll_query == routing_gen_sql) {
		seen = gen;
		return;
	}
	if (kore_pgsql_nfields(sql) != 6)
		return;

	/*
	 * A new generation may come from POST /models/reload on another
	 * worker or instance: look at MODELS_DIR again first (cheap when
	 * nothing changed: one MANIFEST read per version).  So does the
	 * first load: a worker restarted after reloads was forked with the
	 * parent's registry, as it was at start.
	 */
	if (gen != generation)
		(void)routing_rescan(NULL);

	next = kore_calloc(REGISTRY_MAX, sizeof(*next));
	n = 0;
	for (i = 0; i < rows && n < REGISTRY_MAX; i++) {
		if (kore_pgsql_getlength(sql, i, 1) == 0)
			continue;	/* the LEFT JOIN's row of no rules */
		if (routing_parse(&next[n], kore_pgsql_getvalue(sql, i, 1),
		    kore_pgsql_getvalue(sql, i, 2),
		    kore_pgsql_getvalue(sql, i, 3),
		    kore_pgsql_getvalue(sql, i, 4),
		    kore_pgsql_getvalue(sql, i, 5)))
			n++;
	}
	memcpy(rules, next, (size_t)n * sizeof(*next));
	nrules = n;
	kore_free(next);
	if (generation != gen && worker->id == 1)
		kore_log(LOG_NOTICE, "routing.loaded generation=%lld rules=%d",
		    gen, n);
	generation = gen;
	seen = gen;
	stats_me()->routing_generation = gen;
}

/*
 * One row of model_routing against this server's registry.  Versions it
 * does not hold keep their weight, served by the default (or, if that is
 * not held either, by the model's highest loaded version).
 */
static int
routing_parse(struct routing_rule *r, const char *name, const char *vers,
    const char *weights, const char *def, const char *shadow)
{
	char		 buf[ROUTING_MAX_VERSIONS * REGISTRY_VERSION_MAX];
	char		*p, *tok, *save;
	int		 i;

	memset(r, 0, sizeof(*r));
	if (snprintf(r->name, sizeof(r->name), "%s", name) >=
	    (int)sizeof(r->name))
		return (0);
	snprintf(r->raw.name, sizeof(r->raw.name), "%s", name);
	snprintf(r->raw.versions, sizeof(r->raw.versions), "%s", vers);
	snprintf(r->raw.weights, sizeof(r->raw.weights), "%s", weights);
	snprintf(r->raw.def, sizeof(r->raw.def), "%s", def);
	snprintf(r->raw.shadow, sizeof(r->raw.shadow), "%s", shadow);
	snprintf(buf, sizeof(buf), "%s", vers);
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (r->n == ROUTING_MAX_VERSIONS)
			return (0);
		r->ver[r->n] = registry_find(&app.registry, name, tok);
		if (r->ver[r->n] != NULL && r->ver[r->n]->model == NULL)
			r->ver[r->n] = NULL;
		r->n++;
	}
	snprintf(buf, sizeof(buf), "%s", weights);
	i = 0;
	for (p = buf; (tok = strtok_r(p, ",", &save)) != NULL; p = NULL) {
		if (i == r->n)
			return (0);
		r->weight[i++] = atoi(tok);
	}
	if (i != r->n)
		return (0);
	r->def = registry_find(&app.registry, name, def);
	if (r->def == NULL || r->def->model == NULL)
		r->def = registry_default(&app.registry, name);
	if (*shadow != '\0') {
		r->shadow = registry_find(&app.registry, name, shadow);
		if (r->shadow != NULL && r->shadow->model == NULL)
			r->shadow = NULL;
	}
	return (1);
}

/*
 * Looks at MODELS_DIR again in this worker (registry_rescan): new and
 * changed versions load, broken ones are refused while the loaded ones
 * keep serving, versions gone are unloaded unless they have traffic.
 * Fills ch (REGISTRY_CHANGES_MAX room, or NULL) and returns the number of
 * changes, or
 * -1 (MODELS_DIR not set or unreadable).  Every worker does this when
 * the routing generation moves.
 */
int
routing_rescan(struct registry_change *ch)
{
	struct registry_change	 local[REGISTRY_CHANGES_MAX];
	struct registry_entry	*def;
	char			 err[REGISTRY_ERR_MAX];
	int			 n, i;

	if (app.cf.models_dir[0] == '\0')
		return (-1);
	if (ch == NULL)
		ch = local;
	n = registry_rescan(&app.registry, app.cf.models_dir, routing_busy,
	    ch, err, sizeof(err));
	if (n < 0) {
		kore_log(LOG_NOTICE, "models.rescan failed error=\"%s\"", err);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		kore_log(LOG_NOTICE, "models.rescan %s name=%s version=%s%s%s",
		    ch[i].action == REGISTRY_LOADED ? "loaded" :
		    ch[i].action == REGISTRY_REPLACED ? "replaced" :
		    ch[i].action == REGISTRY_REFUSED ? "refused" :
		    ch[i].action == REGISTRY_UNLOADED ? "unloaded" : "kept",
		    ch[i].entry->name, ch[i].entry->version,
		    ch[i].error[0] != '\0' ? " error=" : "", ch[i].error);
	}
	if (n > 0) {
		routing_rebuild();
		if ((def = registry_default(&app.registry, NULL)) != NULL)
			app.model = def->model;
	}
	return (n);
}

/* A version that serves: any weight, the default or the shadow. */
static int
routing_busy(const struct registry_entry *e)
{
	const struct routing_rule	*rule;

	if ((rule = routing_rule(e->name)) == NULL)
		return (registry_default(&app.registry, e->name) == e);
	return (routing_share(e) > 0 || rule->shadow == e || rule->def == e);
}

/* Re-resolves the rules against the registry, which a rescan changed. */
static void
routing_rebuild(void)
{
	struct routing_raw	raw;
	int			i;

	for (i = 0; i < nrules; i++) {
		raw = rules[i].raw;
		(void)routing_parse(&rules[i], raw.name, raw.versions,
		    raw.weights, raw.def, raw.shadow);
	}
}

static const struct routing_rule *
routing_rule(const char *name)
{
	int	i;

	for (i = 0; i < nrules; i++) {
		if (strcmp(rules[i].name, name) == 0)
			return (&rules[i]);
	}
	return (NULL);
}

/* The weighted version for key's point (a version not held: default). */
static struct registry_entry *
routing_weighted(const struct routing_rule *rule, const char *key)
{
	int	point, cum, i;

	point = (int)(routing_hash(rule->name, key) % ROUTING_BUCKETS);
	cum = 0;
	for (i = 0; i < rule->n; i++) {
		cum += rule->weight[i];
		if (point < cum)
			return (rule->ver[i] != NULL ? rule->ver[i] : rule->def);
	}
	return (rule->def);
}

/*
 * FNV-1a over name, a NUL and key, then MurmurHash3's finaliser: FNV
 * alone leaves the low bits of similar keys (addresses one apart)
 * correlated, and the point is taken modulo 100.
 */
static u_int64_t
routing_hash(const char *name, const char *key)
{
	u_int64_t	h;
	const char	*p;

	h = 14695981039346656037ULL;
	for (p = name; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	h *= 1099511628211ULL;		/* the NUL between them */
	for (p = key != NULL ? key : ""; *p != '\0'; p++) {
		h ^= (unsigned char)*p;
		h *= 1099511628211ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (h);
}
