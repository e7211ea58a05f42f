/*
 * test_config.c: the settings table (src/config.c): defaults, the
 * environment over .env, range checks naming the variable, secrets that
 * never print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char	tmpdir[] = "/tmp/test_config.XXXXXX";

static const char *
write_envfile(const char *name, const char *text)
{
	static char	path[256];
	FILE		*fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	if ((fp = fopen(path, "w")) == NULL)
		return (NULL);
	fputs(text, fp);
	fclose(fp);
	return (path);
}

static void
test_defaults(void)
{
	struct config	cf;
	char		err[CONFIG_ERRLEN];

	tap_ok(config_load(&cf, NULL, err, sizeof(err)), "defaults load");
	tap_is_int(cf.http_port, 8000, "HTTP_PORT defaults to 8000");
	tap_is_str(cf.http_host, "127.0.0.1", "HTTP_HOST defaults to 127.0.0.1");
	tap_is_int(cf.workers, 0, "WORKERS defaults to 0 (one per CPU)");
	tap_is_int(cf.worker_accept_threshold, 1,
	    "WORKER_ACCEPT_THRESHOLD defaults to 1");
	tap_is_int(cf.worker_balance_slack, 2,
	    "WORKER_BALANCE_SLACK defaults to 2");
	tap_is_int(cf.recorder_inflight, 1,
	    "RECORDER_INFLIGHT defaults to 1");
	tap_is_int(cf.rate_limit_predict, 10, "predict limit defaults to 10");
	tap_is_int(cf.rate_limit_analyze, 60, "analyze limit defaults to 60");
	tap_is_int(cf.model_required, 1, "MODEL_REQUIRED defaults to true");
	tap_is_str(cf.gemini_model, "gemini-2.5-flash-lite",
	    "GEMINI_MODEL default");
	tap_is_double(cf.gemini_temperature, 0.3, 1e-12,
	    "GEMINI_TEMPERATURE default");
	tap_is_int(cf.gemini_cache_ttl_s, 300, "GEMINI_CACHE_TTL default");
	config_free(&cf);
}

static void
test_envfile(void)
{
	struct config	 cf;
	char		 err[CONFIG_ERRLEN];
	const char	*path;

	path = write_envfile("a.env",
	    "# a comment\n"
	    "\n"
	    "HTTP_PORT=9001\n"
	    "export WORKERS=3\n"
	    "MODEL_DIR=\"/opt/models/vader\"\n"
	    "ADMIN_TOKEN='s3cret token'\n"
	    "HTTP_PORT=9002\n"
	    "HTTP_HOST = nope\n");
	setenv("WORKERS", "5", 1);
	tap_ok(config_load(&cf, path, err, sizeof(err)), ".env loads");
	tap_is_int(cf.http_port, 9002, "the last assignment in .env wins");
	tap_is_int(cf.workers, 5, "the environment wins over .env");
	tap_is_str(cf.model_dir, "/opt/models/vader", "double quotes strip");
	tap_is_str(cf.admin_token, "s3cret token", "single quotes strip");
	tap_is_str(cf.http_host, "127.0.0.1",
	    "'NAME = value' is not an assignment");
	config_free(&cf);
	unsetenv("WORKERS");

	tap_ok(config_load(&cf, "/nonexistent/.env", err, sizeof(err)),
	    "a missing .env is fine");
	config_free(&cf);
}

static void
test_errors(void)
{
	static const struct {
		const char	*name;
		const char	*value;
	} bad[] = {
		{ "HTTP_PORT", "0" },
		{ "HTTP_PORT", "65536" },
		{ "HTTP_PORT", "80x" },
		{ "HTTP_PORT", "" },
		{ "WORKERS", "-1" },
		{ "WORKER_ACCEPT_THRESHOLD", "0" },
		{ "WORKER_BALANCE_SLACK", "-1" },
		{ "RECORDER_INFLIGHT", "0" },
		{ "RECORDER_INFLIGHT", "9" },
		{ "RATE_LIMIT_PREDICT_PER_MINUTE", "0" },
		{ "GEMINI_TEMPERATURE", "nan" },
		{ "GEMINI_TEMPERATURE", "2.5" },
		{ "MODEL_REQUIRED", "maybe" },
		{ "DB_CONNECT_TIMEOUT_S", "1" },
		{ "HTTP_BODY_MAX", "99999999999999999999" },
	};
	struct config	cf;
	char		err[CONFIG_ERRLEN];
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(bad[i].name, bad[i].value, 1);
		err[0] = '\0';
		tap_ok(!config_load(&cf, NULL, err, sizeof(err)) &&
		    strstr(err, bad[i].name) != NULL,
		    "%s='%s' is refused, naming the variable", bad[i].name,
		    bad[i].value);
		unsetenv(bad[i].name);
	}

	setenv("MODEL_REQUIRED", "off", 1);
	tap_ok(config_load(&cf, NULL, err, sizeof(err)) &&
	    cf.model_required == 0, "MODEL_REQUIRED=off is false");
	config_free(&cf);
	unsetenv("MODEL_REQUIRED");
}

static void
test_secrets(void)
{
	struct config	 cf;
	char		 err[CONFIG_ERRLEN], buf[4096];
	FILE		*fp;
	size_t		 n;

	setenv("GEMINI_API_KEY", "AIza-very-secret", 1);
	setenv("ADMIN_TOKEN", "admin-very-secret", 1);
	setenv("DATABASE_URL", "postgresql://u:db-very-secret@h/db", 1);
	tap_ok(config_load(&cf, NULL, err, sizeof(err)), "secrets load");
	tap_is_str(cf.gemini_api_key, "AIza-very-secret", "the key is kept");

	tap_ok(config_lookup(&cf, "GEMINI_API_KEY", buf, sizeof(buf)) &&
	    strcmp(buf, "(set)") == 0, "lookup of a secret says (set)");
	tap_ok(config_lookup(&cf, "HTTP_PORT", buf, sizeof(buf)) &&
	    strcmp(buf, "8000") == 0, "lookup of a setting gives its value");
	tap_ok(!config_lookup(&cf, "NO_SUCH_SETTING", buf, sizeof(buf)),
	    "lookup of an unknown name fails");

	fp = tmpfile();
	config_dump(&cf, fp);
	rewind(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	tap_ok(strstr(buf, "very-secret") == NULL,
	    "config_dump never prints a secret");
	tap_ok(strstr(buf, "GEMINI_API_KEY=(set)") != NULL &&
	    strstr(buf, "DATABASE_URL=(set)") != NULL,
	    "config_dump says which secrets are set");
	config_free(&cf);
	unsetenv("GEMINI_API_KEY");
	unsetenv("ADMIN_TOKEN");
	unsetenv("DATABASE_URL");
}

int
main(void)
{
	char	path[300];

	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	test_defaults();
	test_envfile();
	test_errors();
	test_secrets();

	snprintf(path, sizeof(path), "%s/a.env", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return (tap_done());
}
