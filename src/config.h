/*
 * config.h: the server's settings, read once from the environment and
 * an optional .env file.  Every variable the server reads is one row of
 * the table in config.c; .env.example lists them all.
 *
 * Pure C (libc only) so the unit tests and build/conftool link it.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define CONFIG_ERRLEN		256

struct config {
	/* Database. */
	char		*database_url;		/* secret: may hold a password */
	char		*analytics_database_url;	/* "": none */
	int		 db_pool_size;		/* connections per worker */
	int		 db_connect_timeout_s;
	int		 db_statement_timeout_ms;
	int		 db_breaker_ms;		/* fail fast after a failed connect */

	/* HTTP listener and limits (rendered into kore.conf). */
	char		*http_host;
	int		 http_port;
	int		 workers;		/* 0: one per CPU */
	int		 worker_accept_threshold; /* accepts before passing on */
	int		 worker_balance_slack;	/* 0: no balancing (balance.c) */
	int		 http_body_max;		/* bytes; larger bodies get 413 */
	int		 shutdown_drain_ms;	/* finish in-flight work on stop */
	char		*access_log;		/* path, or empty for none */
	char		*run_as;		/* workers' user when root starts */

	/* The model. */
	char		*model_dir;
	char		*models_dir;	/* "": MODEL_DIR alone */
	int		 routing_poll_ms;
	int		 model_required;	/* 0: start degraded without it */

	/* Group commit of /predict rows (recorder.c). */
	int		 recorder_batch_max;
	int		 recorder_delay_ms;
	int		 recorder_inflight;	/* batches at once per worker */
	int		 recorder_timeout_ms;

	/* Partitions and retention (janitor.c, sql/31_partitions.sql). */
	int		 raw_partition_s;	/* width of raw partitions */
	int		 partitions_ahead;	/* widths created past now */
	int		 partition_maintain_s;	/* how often */
	int		 raw_retention_hours;	/* 0: the current one only */
	int		 rollup_retention_days;
	int		 rollup_fold_ms;	/* 0: rollups not folded */
	char		*maintenance_url;	/* secret: owner, for CONCURRENTLY */

	/* Rate limits (ratelimit.c). */
	int		 rate_limit_predict;	/* per client per minute */
	int		 rate_limit_analyze;
	int		 rate_limit_lease_ms;	/* 0: no leases */
	char		*trusted_proxies;	/* CIDR list */

	/* Admin endpoints. */
	char		*admin_token;		/* secret */

	/* Gemini (gemini.c, analyzer.c). */
	char		*gemini_api_key;	/* secret */
	char		*gemini_base_url;
	char		*gemini_model;
	double		 gemini_temperature;
	int		 gemini_max_tokens;
	int		 gemini_timeout_ms;	/* whole analysis budget */
	int		 gemini_connect_timeout_ms;
	int		 gemini_rate_limit;	/* upstream calls per minute */
	int		 gemini_cache_ttl_s;
	char		*gemini_ca_file;	/* extra CA bundle (tests) */
	int		 gemini_max_attempts;	/* per analysis, retries incl. */
	int		 gemini_retry_base_ms;	/* first backoff */
	int		 gemini_retry_max_ms;	/* longest backoff */
	int		 task_threads;		/* Gemini threads per worker */
};

int	config_load(struct config *, const char *, char *, size_t);
void	config_free(struct config *);
void	config_dump(const struct config *, FILE *);
int	config_lookup(const struct config *, const char *, char *, size_t);
int	config_cpu_count(void);
int	config_workers(const struct config *);

#endif
