/*
 * test_registry.c: MODELS_DIR scanning (src/registry.c).
 *
 * The shipped tree src/model/versions (vader 3.3.2 and 3.4.0), then a
 * temporary MODELS_DIR with a good version, a corrupt one and one whose
 * MANIFEST disagrees with its directory: every version is listed, the bad
 * ones with file:line, and the default is the highest that loaded.
 * Run from the repository root.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "tap.h"

static int	test_registry_write(const char *, const char *);
static void	test_registry_shipped(void);
static void	test_registry_broken(void);

int
main(void)
{
	tap_ok(registry_semver_cmp("3.10.0", "3.9.9") > 0,
	    "semver compares numbers, not text");
	tap_ok(registry_semver_cmp("3.3.2", "3.3.2") == 0, "semver equal");
	tap_ok(registry_semver_cmp("1.0.0", "1.0.1") < 0, "semver patch");
	test_registry_shipped();
	test_registry_broken();
	return (tap_done());
}

static void
test_registry_shipped(void)
{
	struct registry		 reg;
	struct registry_entry	*e;
	char			 err[512];

	memset(&reg, 0, sizeof(reg));
	if (!tap_ok(registry_scan(&reg, "src/model/versions", err,
	    sizeof(err)), "scan src/model/versions")) {
		tap_diag("%s", err);
		return;
	}
	tap_is_int((long long)reg.n, 2, "two versions");
	tap_is_int((long long)registry_names(&reg), 1, "one model name");
	tap_ok(registry_first_error(&reg) == NULL, "all loaded");
	if (reg.n == 2) {
		tap_is_str(reg.v[0].version, "3.3.2", "sorted: 3.3.2 first");
		tap_is_str(reg.v[1].version, "3.4.0", "then 3.4.0");
	}
	e = registry_default(&reg, "vader");
	tap_ok(e != NULL && strcmp(e->version, "3.4.0") == 0,
	    "default: the highest version");
	tap_ok(registry_default(&reg, NULL) == e, "default of the first name");
	tap_ok(registry_default(&reg, "bert") == NULL, "unknown name: none");
	e = registry_find(&reg, "vader", "3.3.2");
	tap_ok(e != NULL && e->model != NULL &&
	    strcmp(model_version(e->model), "3.3.2") == 0, "find 3.3.2");
	tap_ok(registry_find(&reg, "vader", "1.0.0") == NULL,
	    "find: unknown version");
	registry_free(&reg);

	memset(&reg, 0, sizeof(reg));
	tap_ok(registry_add_dir(&reg, "src/model/vader", err, sizeof(err)) &&
	    reg.n == 1 && strcmp(reg.v[0].name, "vader") == 0 &&
	    strcmp(reg.v[0].version, "3.3.2") == 0,
	    "MODEL_DIR shorthand: one version, named by its MANIFEST");
	registry_free(&reg);

	memset(&reg, 0, sizeof(reg));
	tap_ok(!registry_scan(&reg, "/nonexistent/models", err, sizeof(err)) &&
	    strncmp(err, "/nonexistent/models:0: cannot open", 34) == 0,
	    "missing MODELS_DIR: %s", err);
	registry_free(&reg);
}

static void
test_registry_broken(void)
{
	struct registry		 reg;
	struct registry_entry	*e;
	char			 tmpl[] = "/tmp/test_registry.XXXXXX";
	char			 p[PATH_MAX + 256], cwd[PATH_MAX];
	char			 want[PATH_MAX + 512], err[512];
	char			 mf[4096];
	const char		*dir;
	FILE			*fp;
	size_t			 len;

	if ((dir = mkdtemp(tmpl)) == NULL || getcwd(cwd, sizeof(cwd)) ==
	    NULL) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(p, sizeof(p), "%s/vader", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/vader/README", dir);
	test_registry_write(p, "not a version\n");
	snprintf(want, sizeof(want), "%s/src/model/vader", cwd);
	snprintf(p, sizeof(p), "%s/vader/3.3.2", dir);
	if (symlink(want, p) != 0)
		tap_diag("symlink: %s", strerror(errno));

	/* 9.9.9: the 3.3.2 artifact under another version's name. */
	snprintf(p, sizeof(p), "%s/vader/9.9.9", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/src/model/vader/MANIFEST", cwd);
	len = 0;
	if ((fp = fopen(p, "r")) != NULL) {
		len = fread(mf, 1, sizeof(mf) - 1, fp);
		fclose(fp);
	}
	mf[len] = '\0';
	snprintf(p, sizeof(p), "%s/vader/9.9.9/MANIFEST", dir);
	test_registry_write(p, mf);
	snprintf(want, sizeof(want), "%s/src/model/vader/vader_lexicon.txt",
	    cwd);
	snprintf(p, sizeof(p), "%s/vader/9.9.9/vader_lexicon.txt", dir);
	if (symlink(want, p) != 0)
		tap_diag("symlink: %s", strerror(errno));
	snprintf(want, sizeof(want),
	    "%s/src/model/vader/emoji_utf8_lexicon.txt", cwd);
	snprintf(p, sizeof(p), "%s/vader/9.9.9/emoji_utf8_lexicon.txt", dir);
	if (symlink(want, p) != 0)
		tap_diag("symlink: %s", strerror(errno));

	/* 1.0.0: a MANIFEST with a bad line. */
	snprintf(p, sizeof(p), "%s/vader/1.0.0", dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/vader/1.0.0/MANIFEST", dir);
	test_registry_write(p, "name=vader\nversion=1.0.0\nlexicon\n");

	memset(&reg, 0, sizeof(reg));
	if (!tap_ok(registry_scan(&reg, dir, err, sizeof(err)),
	    "scan a MODELS_DIR with broken versions")) {
		tap_diag("%s", err);
		goto cleanup;
	}
	tap_is_int((long long)reg.n, 3, "every version listed, the file not");
	e = registry_find(&reg, "vader", "1.0.0");
	snprintf(want, sizeof(want), "%s/vader/1.0.0/MANIFEST:3: expected "
	    "key=value", dir);
	tap_ok(e != NULL && e->model == NULL && strcmp(e->error, want) == 0,
	    "bad line: error names file and line (%s)", e ? e->error : "");
	tap_ok(registry_first_error(&reg) == e, "first error is 1.0.0");
	e = registry_find(&reg, "vader", "9.9.9");
	tap_ok(e != NULL && e->model == NULL &&
	    strstr(e->error, "says vader 3.3.2, but the directory is "
	    "vader/9.9.9") != NULL, "MANIFEST must match its directory (%s)",
	    e ? e->error : "");
	e = registry_default(&reg, "vader");
	tap_ok(e != NULL && strcmp(e->version, "3.3.2") == 0,
	    "default: the highest version that loaded");
	registry_free(&reg);

cleanup:
	snprintf(p, sizeof(p), "rm -rf '%s'", dir);
	if (system(p) != 0)
		tap_diag("could not remove %s", dir);
}

static int
test_registry_write(const char *path, const char *data)
{
	FILE	*fp;
	int	 ok;

	if ((fp = fopen(path, "w")) == NULL)
		return (0);
	ok = fputs(data, fp) >= 0;
	return (fclose(fp) == 0 && ok);
}
