/*
 * config.c: environment (+ .env) -> one struct config.
 *
 * All settings are declared once, in config_vars[] below: name, type,
 * field, default and range.  The environment wins over the .env file, as
 * in docker-compose; the .env file only fills in what the environment
 * leaves unset.  Values are literal: no quoting rules beyond stripping
 * one pair of surrounding quotes, no variable expansion.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

enum config_type {
	CONFIG_STR,
	CONFIG_SECRET,		/* a string that is never printed */
	CONFIG_INT,
	CONFIG_DOUBLE,
	CONFIG_BOOL,
};

struct config_var {
	const char		*name;
	enum config_type	 type;
	size_t			 offset;
	const char		*def;
	double			 min;
	double			 max;
};

#define CF(f)		offsetof(struct config, f)

/* Keep in the order of .env.example. */
static const struct config_var config_vars[] = {
	{ "DATABASE_URL", CONFIG_SECRET, CF(database_url),
	    "postgresql://modelserver_app@127.0.0.1:5432/modelserver", 0, 0 },
	{ "ANALYTICS_DATABASE_URL", CONFIG_SECRET, CF(analytics_database_url),
	    "", 0, 0 },
	{ "DB_POOL_SIZE", CONFIG_INT, CF(db_pool_size), "4", 1, 64 },
	{ "DB_CONNECT_TIMEOUT_S", CONFIG_INT, CF(db_connect_timeout_s),
	    "2", 2, 60 },
	{ "DB_STATEMENT_TIMEOUT_MS", CONFIG_INT, CF(db_statement_timeout_ms),
	    "5000", 100, 600000 },
	{ "DB_BREAKER_MS", CONFIG_INT, CF(db_breaker_ms), "500", 0, 60000 },

	{ "HTTP_HOST", CONFIG_STR, CF(http_host), "127.0.0.1", 0, 0 },
	{ "HTTP_PORT", CONFIG_INT, CF(http_port), "8000", 1, 65535 },
	{ "WORKERS", CONFIG_INT, CF(workers), "0", 0, 64 },
	{ "WORKER_ACCEPT_THRESHOLD", CONFIG_INT, CF(worker_accept_threshold),
	    "1", 1, 1024 },
	{ "WORKER_BALANCE_SLACK", CONFIG_INT, CF(worker_balance_slack),
	    "2", 0, 1024 },
	{ "HTTP_BODY_MAX", CONFIG_INT, CF(http_body_max), "65536",
	    1024, 16777216 },
	{ "ACCESS_LOG", CONFIG_STR, CF(access_log), "", 0, 0 },
	{ "RUN_AS", CONFIG_STR, CF(run_as), "", 0, 0 },
	{ "SHUTDOWN_DRAIN_MS", CONFIG_INT, CF(shutdown_drain_ms), "5000",
	    0, 600000 },

	{ "MODEL_DIR", CONFIG_STR, CF(model_dir), "src/model/vader", 0, 0 },
	{ "MODELS_DIR", CONFIG_STR, CF(models_dir), "", 0, 0 },
	{ "ROUTING_POLL_MS", CONFIG_INT, CF(routing_poll_ms), "250", 20,
	    10000 },
	{ "MODEL_REQUIRED", CONFIG_BOOL, CF(model_required), "true", 0, 1 },

	{ "RECORDER_BATCH_MAX", CONFIG_INT, CF(recorder_batch_max),
	    "64", 1, 1000 },
	{ "RECORDER_DELAY_MS", CONFIG_INT, CF(recorder_delay_ms),
	    "1", 0, 1000 },
	{ "RECORDER_INFLIGHT", CONFIG_INT, CF(recorder_inflight),
	    "1", 1, 8 },
	{ "RECORDER_TIMEOUT_MS", CONFIG_INT, CF(recorder_timeout_ms),
	    "10000", 100, 600000 },

	{ "RAW_PARTITION_SECONDS", CONFIG_INT, CF(raw_partition_s),
	    "3600", 1, 86400 },
	{ "PARTITIONS_AHEAD", CONFIG_INT, CF(partitions_ahead), "24",
	    2, 1000 },
	{ "PARTITION_MAINTAIN_S", CONFIG_INT, CF(partition_maintain_s), "60",
	    1, 3600 },
	{ "RAW_RETENTION_HOURS", CONFIG_INT, CF(raw_retention_hours), "48",
	    0, 876000 },
	{ "ROLLUP_RETENTION_DAYS", CONFIG_INT, CF(rollup_retention_days),
	    "400", 1, 36500 },
	{ "ROLLUP_FOLD_MS", CONFIG_INT, CF(rollup_fold_ms), "100", 0, 60000 },
	{ "MAINTENANCE_DATABASE_URL", CONFIG_SECRET, CF(maintenance_url), "",
	    0, 0 },

	{ "RATE_LIMIT_PREDICT_PER_MINUTE", CONFIG_INT,
	    CF(rate_limit_predict), "10", 1, 1000000000 },
	{ "RATE_LIMIT_ANALYZE_PER_MINUTE", CONFIG_INT,
	    CF(rate_limit_analyze), "60", 1, 1000000000 },
	{ "RATE_LIMIT_LEASE_MS", CONFIG_INT, CF(rate_limit_lease_ms),
	    "1000", 0, 10000 },
	{ "TRUSTED_PROXIES", CONFIG_STR, CF(trusted_proxies), "", 0, 0 },

	{ "ADMIN_TOKEN", CONFIG_SECRET, CF(admin_token), "", 0, 0 },

	{ "GEMINI_API_KEY", CONFIG_SECRET, CF(gemini_api_key), "", 0, 0 },
	{ "GEMINI_BASE_URL", CONFIG_STR, CF(gemini_base_url),
	    "https://generativelanguage.googleapis.com", 0, 0 },
	{ "GEMINI_MODEL", CONFIG_STR, CF(gemini_model),
	    "gemini-2.5-flash-lite", 0, 0 },
	{ "GEMINI_TEMPERATURE", CONFIG_DOUBLE, CF(gemini_temperature),
	    "0.3", 0, 2 },
	{ "GEMINI_MAX_TOKENS", CONFIG_INT, CF(gemini_max_tokens), "1024",
	    1, 65536 },
	{ "GEMINI_TIMEOUT_MS", CONFIG_INT, CF(gemini_timeout_ms), "30000",
	    100, 600000 },
	{ "GEMINI_CONNECT_TIMEOUT_MS", CONFIG_INT,
	    CF(gemini_connect_timeout_ms), "5000", 100, 60000 },
	{ "GEMINI_RATE_LIMIT_PER_MINUTE", CONFIG_INT, CF(gemini_rate_limit),
	    "10", 0, 1000000 },
	{ "GEMINI_CACHE_TTL", CONFIG_INT, CF(gemini_cache_ttl_s), "300",
	    1, 86400 * 30 },
	{ "GEMINI_CA_FILE", CONFIG_STR, CF(gemini_ca_file), "", 0, 0 },
	{ "GEMINI_MAX_ATTEMPTS", CONFIG_INT, CF(gemini_max_attempts), "4",
	    1, 10 },
	{ "GEMINI_RETRY_BASE_MS", CONFIG_INT, CF(gemini_retry_base_ms),
	    "1000", 1, 60000 },
	{ "GEMINI_RETRY_MAX_MS", CONFIG_INT, CF(gemini_retry_max_ms),
	    "10000", 1, 600000 },
	{ "TASK_THREADS", CONFIG_INT, CF(task_threads), "8", 1, 255 },
};

#define CONFIG_NVARS	(sizeof(config_vars) / sizeof(config_vars[0]))
#define CONFIG_LINE_MAX	4096

static char	*config_envfile_get(const char *, const char *, int *);
static int	 config_set(struct config *, const struct config_var *,
		    const char *, char *, size_t);
static void	 config_err(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));

/*
 * Fills cf from the environment, then from envfile (may be NULL or ""),
 * then from the defaults.  Returns 1, or 0 with a message naming the
 * variable in err.  On failure cf holds nothing that needs freeing.
 */
int
config_load(struct config *cf, const char *envfile, char *err, size_t errlen)
{
	const struct config_var	*v;
	const char		*val;
	char			*fromfile;
	size_t			 i;
	int			 ioerr, ret;

	memset(cf, 0, sizeof(*cf));
	ret = 0;

	for (i = 0; i < CONFIG_NVARS; i++) {
		v = &config_vars[i];
		fromfile = NULL;
		ioerr = 0;

		if ((val = getenv(v->name)) == NULL) {
			fromfile = config_envfile_get(envfile, v->name, &ioerr);
			if (ioerr) {
				config_err(err, errlen, "cannot read %s: %s",
				    envfile, strerror(ioerr));
				goto cleanup;
			}
			val = fromfile;
		}
		if (val == NULL)
			val = v->def;

		if (!config_set(cf, v, val, err, errlen)) {
			free(fromfile);
			goto cleanup;
		}
		free(fromfile);
	}

	ret = 1;

cleanup:
	if (!ret)
		config_free(cf);
	return (ret);
}

void
config_free(struct config *cf)
{
	const struct config_var	*v;
	char			**sp;
	size_t			 i;

	for (i = 0; i < CONFIG_NVARS; i++) {
		v = &config_vars[i];
		if (v->type != CONFIG_STR && v->type != CONFIG_SECRET)
			continue;
		sp = (char **)(void *)((char *)cf + v->offset);
		free(*sp);
		*sp = NULL;
	}
}

/* Prints every setting as NAME=value; secrets only say whether set. */
void
config_dump(const struct config *cf, FILE *fp)
{
	const struct config_var	*v;
	char			 buf[CONFIG_LINE_MAX];
	size_t			 i;

	for (i = 0; i < CONFIG_NVARS; i++) {
		v = &config_vars[i];
		if (!config_lookup(cf, v->name, buf, sizeof(buf)))
			continue;
		fprintf(fp, "%s=%s\n", v->name, buf);
	}
}

/*
 * Writes the value of setting name into buf as text.  Secrets come out
 * as "(set)" or "(unset)": nothing outside config.c can print them by
 * name.  Returns 0 for an unknown name or a value that does not fit.
 */
int
config_lookup(const struct config *cf, const char *name, char *buf,
    size_t len)
{
	const struct config_var	*v;
	const void		*field;
	const char		*s;
	size_t			 i;
	int			 n;

	for (i = 0; i < CONFIG_NVARS; i++) {
		v = &config_vars[i];
		if (strcmp(v->name, name) != 0)
			continue;
		field = (const char *)cf + v->offset;
		switch (v->type) {
		case CONFIG_SECRET:
			s = *(char *const *)field;
			n = snprintf(buf, len, "%s",
			    (s != NULL && *s != '\0') ? "(set)" : "(unset)");
			break;
		case CONFIG_STR:
			s = *(char *const *)field;
			n = snprintf(buf, len, "%s", s != NULL ? s : "");
			break;
		case CONFIG_INT:
			n = snprintf(buf, len, "%d", *(const int *)field);
			break;
		case CONFIG_BOOL:
			n = snprintf(buf, len, "%s",
			    *(const int *)field ? "true" : "false");
			break;
		case CONFIG_DOUBLE:
			n = snprintf(buf, len, "%g", *(const double *)field);
			break;
		default:
			return (0);
		}
		return (n >= 0 && (size_t)n < len);
	}

	return (0);
}

/* Online CPUs, at least 1: the default number of workers. */
int
config_cpu_count(void)
{
	long	n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return (1);
	if (n > 64)
		return (64);
	return ((int)n);
}

/* The workers that will run: WORKERS, or one per CPU when it is 0. */
int
config_workers(const struct config *cf)
{
	return (cf->workers > 0 ? cf->workers : config_cpu_count());
}

/*
 * Returns a malloc'd copy of the value of name in envfile, or NULL when
 * the file or the name is absent.  A file that exists but cannot be read
 * sets *ioerr.  The last assignment of a name wins, as in a shell.
 */
static char *
config_envfile_get(const char *envfile, const char *name, int *ioerr)
{
	FILE		*fp;
	char		 line[CONFIG_LINE_MAX], *p, *eq, *end, *found;
	size_t		 nlen;

	found = NULL;
	if (envfile == NULL || *envfile == '\0')
		return (NULL);
	if ((fp = fopen(envfile, "r")) == NULL) {
		if (errno != ENOENT)
			*ioerr = errno;
		return (NULL);
	}

	nlen = strlen(name);
	while (fgets(line, sizeof(line), fp) != NULL) {
		p = line;
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '#' || *p == '\0')
			continue;
		if (strncmp(p, "export ", 7) == 0)
			p += 7;
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		if ((size_t)(eq - p) != nlen || strncmp(p, name, nlen) != 0)
			continue;

		p = eq + 1;
		end = p + strlen(p);
		while (end > p && isspace((unsigned char)end[-1]))
			*--end = '\0';
		/* cppcheck takes the loop above to have left end == p. */
		// cppcheck-suppress knownConditionTrueFalse
		if (end - p >= 2 && (*p == '"' || *p == '\'') &&
		    end[-1] == *p) {
			end[-1] = '\0';
			p++;
		}

		free(found);
		if ((found = strdup(p)) == NULL) {
			*ioerr = ENOMEM;
			break;
		}
	}

	if (ferror(fp) && *ioerr == 0)
		*ioerr = EIO;
	fclose(fp);

	if (*ioerr) {
		free(found);
		found = NULL;
	}
	return (found);
}

/* Parses val into the field of v.  Returns 1, or 0 with err set. */
static int
config_set(struct config *cf, const struct config_var *v, const char *val,
    char *err, size_t errlen)
{
	void		*field;
	char		*end, *copy;
	long long	 ll;
	double		 d;

	field = (char *)cf + v->offset;

	switch (v->type) {
	case CONFIG_STR:
	case CONFIG_SECRET:
		if ((copy = strdup(val)) == NULL) {
			config_err(err, errlen, "%s: out of memory", v->name);
			return (0);
		}
		*(char **)field = copy;
		return (1);
	case CONFIG_INT:
		errno = 0;
		ll = strtoll(val, &end, 10);
		if (*val == '\0' || *end != '\0' || errno != 0 ||
		    ll < (long long)v->min || ll > (long long)v->max) {
			config_err(err, errlen,
			    "%s: '%s' is not an integer in %.0f..%.0f",
			    v->name, val, v->min, v->max);
			return (0);
		}
		*(int *)field = (int)ll;
		return (1);
	case CONFIG_DOUBLE:
		errno = 0;
		d = strtod(val, &end);
		if (*val == '\0' || *end != '\0' || errno != 0 ||
		    !isfinite(d) || d < v->min || d > v->max) {
			config_err(err, errlen,
			    "%s: '%s' is not a number in %g..%g",
			    v->name, val, v->min, v->max);
			return (0);
		}
		*(double *)field = d;
		return (1);
	case CONFIG_BOOL:
		if (!strcasecmp(val, "true") || !strcmp(val, "1") ||
		    !strcasecmp(val, "yes") || !strcasecmp(val, "on")) {
			*(int *)field = 1;
		} else if (!strcasecmp(val, "false") || !strcmp(val, "0") ||
		    !strcasecmp(val, "no") || !strcasecmp(val, "off")) {
			*(int *)field = 0;
		} else {
			config_err(err, errlen, "%s: '%s' is not a boolean",
			    v->name, val);
			return (0);
		}
		return (1);
	}

	config_err(err, errlen, "%s: unknown type", v->name);
	return (0);
}

static void
config_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list		ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
