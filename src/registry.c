/*
 * registry.c: the model versions a server holds (see registry.h).
 *
 * MODELS_DIR is scanned two levels deep: each <name> directory holds one
 * directory per <version>.  The directory names are the identity: the
 * MANIFEST inside must say the same name and version, so what GET /models
 * lists, what routing refers to and what the rows record always agree.
 * Entries that are not directories (or start with '.') are skipped.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "sha256.h"

static int	registry_room(struct registry *, const char *, char *, size_t);
static int	registry_manifest_sha(const char *, char *);
static void	registry_retire(struct registry *, struct model *);
static int	registry_push(struct registry *, const char *, const char *,
		    const char *, char *, size_t);
static int	registry_isdir(const char *);
static int	registry_listdir(const char *, char ***, size_t *, char *,
		    size_t);
static void	registry_freelist(char **, size_t);
static int	registry_cmp_entry(const void *, const void *);
static int	registry_cmp_str(const void *, const void *);
static int	registry_semver_parse(const char *, unsigned long [3]);

int
registry_scan(struct registry *reg, const char *dir, char *errbuf,
    size_t errlen)
{
	char		**names, **versions;
	char		  path[REGISTRY_PATH_MAX];
	size_t		  nnames, nversions, i, j;
	int		  ret, n;

	ret = 0;
	names = NULL;
	versions = NULL;
	nnames = nversions = 0;

	if (!registry_listdir(dir, &names, &nnames, errbuf, errlen))
		goto cleanup;
	for (i = 0; i < nnames; i++) {
		n = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (!registry_listdir(path, &versions, &nversions, errbuf,
		    errlen))
			goto cleanup;
		for (j = 0; j < nversions; j++) {
			if (!registry_push(reg, dir, names[i], versions[j],
			    errbuf, errlen))
				goto cleanup;
		}
		registry_freelist(versions, nversions);
		versions = NULL;
		nversions = 0;
	}
	qsort(reg->v, reg->n, sizeof(reg->v[0]), registry_cmp_entry);
	ret = 1;

cleanup:
	registry_freelist(names, nnames);
	registry_freelist(versions, nversions);
	return (ret);
}

int
registry_add_dir(struct registry *reg, const char *dir, char *errbuf,
    size_t errlen)
{
	struct registry_entry	*e;
	struct model		*m;

	if ((m = model_load(dir, errbuf, errlen)) == NULL)
		return (0);
	if (strlen(dir) >= REGISTRY_PATH_MAX ||
	    !registry_room(reg, dir, errbuf, errlen)) {
		model_free(m);
		return (0);
	}
	e = &reg->v[reg->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", model_name(m));
	snprintf(e->version, sizeof(e->version), "%s", model_version(m));
	snprintf(e->dir, sizeof(e->dir), "%s", dir);
	e->model = m;
	qsort(reg->v, reg->n, sizeof(reg->v[0]), registry_cmp_entry);
	return (1);
}

struct registry_entry *
registry_find(const struct registry *reg, const char *name,
    const char *version)
{
	size_t	i;

	for (i = 0; i < reg->n; i++) {
		if (strcmp(reg->v[i].name, name) == 0 &&
		    strcmp(reg->v[i].version, version) == 0)
			return (&reg->v[i]);
	}
	return (NULL);
}

struct registry_entry *
registry_default(const struct registry *reg, const char *name)
{
	struct registry_entry	*best;
	size_t			 i;

	best = NULL;
	if (name == NULL && reg->n > 0)
		name = reg->v[0].name;
	for (i = 0; name != NULL && i < reg->n; i++) {
		if (strcmp(reg->v[i].name, name) != 0 ||
		    reg->v[i].model == NULL)
			continue;
		/* Not by position: rescans append. */
		if (best == NULL || registry_semver_cmp(reg->v[i].version,
		    best->version) > 0)
			best = &reg->v[i];
	}
	return (best);
}

const struct registry_entry *
registry_first_error(const struct registry *reg)
{
	size_t	i;

	for (i = 0; i < reg->n; i++) {
		if (reg->v[i].model == NULL)
			return (&reg->v[i]);
	}
	return (NULL);
}

int
registry_index(const struct registry *reg, const struct model *m)
{
	size_t	i;

	for (i = 0; m != NULL && i < reg->n; i++) {
		if (reg->v[i].model == m)
			return ((int)i);
	}
	return (-1);
}

size_t
registry_names(const struct registry *reg)
{
	size_t	i, n;

	n = 0;
	for (i = 0; i < reg->n; i++) {
		if (i == 0 || strcmp(reg->v[i].name, reg->v[i - 1].name) != 0)
			n++;
	}
	return (n);
}

int
registry_semver_cmp(const char *a, const char *b)
{
	unsigned long	va[3], vb[3];
	int		i;

	if (!registry_semver_parse(a, va) || !registry_semver_parse(b, vb))
		return (strcmp(a, b));
	for (i = 0; i < 3; i++) {
		if (va[i] != vb[i])
			return (va[i] < vb[i] ? -1 : 1);
	}
	return (0);
}

void
registry_free(struct registry *reg)
{
	size_t	i;

	for (i = 0; i < reg->n; i++)
		model_free(reg->v[i].model);
	for (i = 0; i < reg->nretired; i++)
		model_free(reg->retired[i]);
	free(reg->v);
	free(reg->retired);
	memset(reg, 0, sizeof(*reg));
}

int
registry_rescan(struct registry *reg, const char *dir,
    int (*busy)(const struct registry_entry *), struct registry_change *ch,
    char *errbuf, size_t errlen)
{
	struct registry_entry	*e;
	struct model		*m;
	char			**names, **versions, path[REGISTRY_PATH_MAX];
	char			  sha[SHA256_HEX_LEN];
	char			  err[REGISTRY_ERR_MAX];
	size_t			  nnames, nversions, i, j, before;
	int			  n, len, found;

	n = -1;
	names = versions = NULL;
	nnames = nversions = 0;
	if (!registry_listdir(dir, &names, &nnames, errbuf, errlen))
		goto cleanup;
	n = 0;
	before = reg->n;
	for (i = 0; i < nnames && n < REGISTRY_CHANGES_MAX; i++) {
		len = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (len < 0 || (size_t)len >= sizeof(path) ||
		    !registry_listdir(path, &versions, &nversions, err,
		    sizeof(err)))
			continue;
		for (j = 0; j < nversions && n < REGISTRY_CHANGES_MAX; j++) {
			e = registry_find(reg, names[i], versions[j]);
			if (e == NULL) {
				if (!registry_push(reg, dir, names[i],
				    versions[j], errbuf, errlen))
					break;
				e = &reg->v[reg->n - 1];
				ch[n].entry = e;
				ch[n].action = e->model != NULL ?
				    REGISTRY_LOADED : REGISTRY_REFUSED;
				snprintf(ch[n].error, sizeof(ch[n].error),
				    "%s", e->error);
				n++;
				continue;
			}
			len = snprintf(path, sizeof(path), "%s/MANIFEST",
			    e->dir);
			if (len < 0 || (size_t)len >= sizeof(path))
				continue;
			if (e->model != NULL && registry_manifest_sha(path,
			    sha) && strcmp(sha, model_sha256(e->model)) == 0)
				continue;	/* unchanged */
			if ((m = model_load(e->dir, err, sizeof(err))) ==
			    NULL) {
				/* The version that serves keeps serving. */
				if (e->model == NULL &&
				    strcmp(err, e->error) == 0)
					continue;	/* refused before */
				if (e->model == NULL)
					snprintf(e->error, sizeof(e->error),
					    "%s", err);
				ch[n].entry = e;
				ch[n].action = REGISTRY_REFUSED;
				snprintf(ch[n].error, sizeof(ch[n].error),
				    "%s", err);
				n++;
				continue;
			}
			if (strcmp(model_name(m), e->name) != 0 ||
			    strcmp(model_version(m), e->version) != 0) {
				ch[n].entry = e;
				ch[n].action = REGISTRY_REFUSED;
				snprintf(ch[n].error, sizeof(ch[n].error),
				    "%.200s/MANIFEST:0: says %.63s %.31s",
				    e->dir, model_name(m), model_version(m));
				model_free(m);
				n++;
				continue;
			}
			ch[n].entry = e;
			ch[n].action = e->model != NULL ? REGISTRY_REPLACED :
			    REGISTRY_LOADED;
			ch[n].error[0] = '\0';
			/* In-flight rows may point at the old one: retire. */
			registry_retire(reg, e->model);
			e->model = m;
			e->error[0] = '\0';
			n++;
		}
		registry_freelist(versions, nversions);
		versions = NULL;
		nversions = 0;
	}

	/* Versions whose directory is gone. */
	for (i = 0; i < before && n < REGISTRY_CHANGES_MAX; i++) {
		e = &reg->v[i];
		if (e->model == NULL)
			continue;
		len = snprintf(path, sizeof(path), "%s/MANIFEST", e->dir);
		found = len > 0 && (size_t)len < sizeof(path) &&
		    registry_manifest_sha(path, sha);
		if (found)
			continue;
		ch[n].entry = e;
		if (busy != NULL && busy(e)) {
			ch[n].action = REGISTRY_KEPT;
			snprintf(ch[n].error, sizeof(ch[n].error), "%.200s: gone, "
			    "but the version has traffic: kept loaded (route "
			    "it away first)", e->dir);
		} else {
			ch[n].action = REGISTRY_UNLOADED;
			registry_retire(reg, e->model);
			e->model = NULL;
			snprintf(e->error, sizeof(e->error), "%.200s:0: "
			    "removed from MODELS_DIR", e->dir);
			snprintf(ch[n].error, sizeof(ch[n].error), "%s",
			    e->error);
		}
		n++;
	}

cleanup:
	registry_freelist(names, nnames);
	registry_freelist(versions, nversions);
	return (n);
}

/*
 * Adds root/name/version and loads it.  A load failure is kept in the
 * entry; only running out of room or memory returns 0.
 */
static int
registry_push(struct registry *reg, const char *root, const char *name,
    const char *version, char *errbuf, size_t errlen)
{
	struct registry_entry	*e;
	int			 n;

	if (!registry_room(reg, root, errbuf, errlen))
		return (0);
	e = &reg->v[reg->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->version, sizeof(e->version), "%s", version);
	n = snprintf(e->dir, sizeof(e->dir), "%s/%s/%s", root, name, version);

	if (n < 0 || (size_t)n >= sizeof(e->dir) ||
	    strlen(name) >= sizeof(e->name) ||
	    strlen(version) >= sizeof(e->version)) {
		snprintf(e->error, sizeof(e->error), "%.300s/%.63s:0: name too long",
		    root, name);
		return (1);
	}
	if ((e->model = model_load(e->dir, e->error,
	    sizeof(e->error))) == NULL)
		return (1);
	if (strcmp(model_name(e->model), name) != 0 ||
	    strcmp(model_version(e->model), version) != 0) {
		snprintf(e->error, sizeof(e->error), "%.200s/MANIFEST:0: says "
		    "%.63s %.31s, but the directory is %.63s/%.31s", e->dir,
		    model_name(e->model), model_version(e->model), name,
		    version);
		model_free(e->model);
		e->model = NULL;
	}
	return (1);
}

/* Room for one more entry; the array is made once, full size. */
static int
registry_room(struct registry *reg, const char *root, char *errbuf,
    size_t errlen)
{
	if (reg->v == NULL &&
	    (reg->v = calloc(REGISTRY_MAX, sizeof(*reg->v))) == NULL) {
		snprintf(errbuf, errlen, "%s:0: out of memory", root);
		return (0);
	}
	if (reg->n >= REGISTRY_MAX) {
		snprintf(errbuf, errlen, "%s:0: more than %d model versions",
		    root, REGISTRY_MAX);
		return (0);
	}
	return (1);
}

/* The sha256 of the file at path (a MANIFEST: small), or 0. */
static int
registry_manifest_sha(const char *path, char *hex)
{
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];
	char			buf[4096];
	size_t			n;
	FILE			*fp;

	if ((fp = fopen(path, "rb")) == NULL)
		return (0);
	sha256_init(&ctx);
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
		sha256_update(&ctx, buf, n);
	fclose(fp);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
	return (1);
}

/*
 * Keeps a replaced model until the registry is freed: rows in flight and
 * requests still point at it.  Reloads are rare admin actions.
 */
static void
registry_retire(struct registry *reg, struct model *m)
{
	struct model	**v;

	if (m == NULL)
		return;
	if ((v = realloc(reg->retired, (reg->nretired + 1) *
	    sizeof(*v))) == NULL)
		return;		/* leaks m rather than free it in use */
	reg->retired = v;
	reg->retired[reg->nretired++] = m;
}

static int
registry_isdir(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* The sub-directories of dir (following links), sorted, in *out. */
static int
registry_listdir(const char *dir, char ***out, size_t *nout, char *errbuf,
    size_t errlen)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[REGISTRY_PATH_MAX], **v, **list;
	size_t		 n;
	int		 ret, len;

	ret = 0;
	list = NULL;
	n = 0;
	if ((d = opendir(dir)) == NULL) {
		snprintf(errbuf, errlen, "%s:0: cannot open: %s", dir,
		    strerror(errno));
		return (0);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		len = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (len < 0 || (size_t)len >= sizeof(path) ||
		    !registry_isdir(path))
			continue;
		if (n >= REGISTRY_MAX ||
		    (v = realloc(list, (n + 1) * sizeof(*v))) == NULL) {
			snprintf(errbuf, errlen, "%s:0: too many entries",
			    dir);
			goto cleanup;
		}
		list = v;
		if ((list[n] = strdup(de->d_name)) == NULL) {
			snprintf(errbuf, errlen, "%s:0: out of memory", dir);
			goto cleanup;
		}
		n++;
	}
	if (n > 0)
		qsort(list, n, sizeof(*list), registry_cmp_str);
	*out = list;
	*nout = n;
	list = NULL;
	n = 0;
	ret = 1;

cleanup:
	registry_freelist(list, n);
	closedir(d);
	return (ret);
}

static void
registry_freelist(char **list, size_t n)
{
	size_t	i;

	for (i = 0; list != NULL && i < n; i++)
		free(list[i]);
	free(list);
}

static int
registry_cmp_entry(const void *a, const void *b)
{
	const struct registry_entry	*x = a, *y = b;
	int				 c;

	if ((c = strcmp(x->name, y->name)) != 0)
		return (c);
	return (registry_semver_cmp(x->version, y->version));
}

static int
registry_cmp_str(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* X.Y.Z into three numbers; 0 if v is not that shape. */
static int
registry_semver_parse(const char *v, unsigned long out[3])
{
	char	*end;
	int	 i;

	for (i = 0; i < 3; i++) {
		if (*v < '0' || *v > '9')
			return (0);
		out[i] = strtoul(v, &end, 10);
		if (i < 2 && *end != '.')
			return (0);
		v = end + (i < 2);
	}
	return (*v == '\0');
}
