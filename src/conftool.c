/*
 * conftool.c: build/conftool, the start-up helper for kore.conf.
 *
 * kore.conf cannot read the environment, so `make serve` renders the
 * per-instance lines (listener, workers, limits, pidfile, runas) from the
 * same config table the module uses:
 *
 *   conftool render kore.conf build/run   -> prints the rendered path
 *   conftool get HTTP_PORT                -> prints one setting
 *   conftool dump                         -> every setting, secrets masked
 *
 * It also validates every variable, so a bad value stops the start with
 * a message naming it instead of a worker dying later.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int	conftool_render(const struct config *, const char *,
		    const char *);
static int	conftool_line(const struct config *, const char *, FILE *,
		    const char *);
static void	conftool_usage(void);

int
main(int argc, char **argv)
{
	struct config	 cf;
	const char	*envfile;
	char		 err[CONFIG_ERRLEN], buf[4096];
	int		 ret;

	if (argc < 2)
		conftool_usage();

	if ((envfile = getenv("ENV_FILE")) == NULL)
		envfile = ".env";
	if (!config_load(&cf, envfile, err, sizeof(err))) {
		fprintf(stderr, "conftool: configuration error: %s\n", err);
		return (1);
	}

	ret = 1;
	if (!strcmp(argv[1], "render") && argc == 4) {
		ret = conftool_render(&cf, argv[2], argv[3]) ? 0 : 1;
	} else if (!strcmp(argv[1], "get") && argc == 3) {
		if (config_lookup(&cf, argv[2], buf, sizeof(buf))) {
			printf("%s\n", buf);
			ret = 0;
		} else {
			fprintf(stderr, "conftool: unknown setting %s\n",
			    argv[2]);
		}
	} else if (!strcmp(argv[1], "dump") && argc == 2) {
		config_dump(&cf, stdout);
		ret = 0;
	} else {
		conftool_usage();
	}

	config_free(&cf);
	return (ret);
}

/*
 * Copies template to outdir/kore-<port>.conf, replacing the value of each
 * per-instance directive, and prints the new file's path.  One file per
 * port, so instances on different ports run side by side.
 */
static int
conftool_render(const struct config *cf, const char *template,
    const char *outdir)
{
	FILE		*in, *out;
	char		 line[4096], path[1024], tmp[1040];
	int		 ret;

	ret = 0;
	in = out = NULL;
	snprintf(path, sizeof(path), "%s/kore-%d.conf", outdir, cf->http_port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);

	if ((in = fopen(template, "r")) == NULL) {
		fprintf(stderr, "conftool: %s: %s\n", template,
		    strerror(errno));
		goto cleanup;
	}
	if ((out = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "conftool: %s: %s\n", tmp, strerror(errno));
		goto cleanup;
	}

	fprintf(out, "# Rendered from %s by build/conftool; do not edit.\n",
	    template);
	while (fgets(line, sizeof(line), in) != NULL) {
		if (!conftool_line(cf, line, out, outdir))
			goto cleanup;
	}
	if (ferror(in) || fclose(out) != 0) {
		out = NULL;
		fprintf(stderr, "conftool: cannot write %s\n", tmp);
		goto cleanup;
	}
	out = NULL;
	if (rename(tmp, path) == -1) {
		fprintf(stderr, "conftool: rename %s: %s\n", path,
		    strerror(errno));
		goto cleanup;
	}

	printf("%s\n", path);
	ret = 1;

cleanup:
	if (in != NULL)
		fclose(in);
	if (out != NULL)
		fclose(out);
	return (ret);
}

/* Writes one template line to out, substituting managed directives. */
static int
conftool_line(const struct config *cf, const char *line, FILE *out,
    const char *outdir)
{
	char		 word[64], indent[64];
	int		 n, workers;

	indent[0] = '\0';
	n = 0;
	if (sscanf(line, "%63[ \t]%n", indent, &n) != 1) {
		indent[0] = '\0';
		n = 0;
	}
	if (sscanf(line + n, "%63s", word) != 1)
		return (fputs(line, out) != EOF);

	workers = config_workers(cf);

	if (!strcmp(word, "bind")) {
		fprintf(out, "%sbind\t\t%s %d\n", indent, cf->http_host,
		    cf->http_port);
	} else if (!strcmp(word, "workers")) {
		fprintf(out, "%sworkers\t\t\t%d\n", indent, workers);
	} else if (!strcmp(word, "worker_accept_threshold")) {
		fprintf(out, "%sworker_accept_threshold\t%d\n", indent,
		    cf->worker_accept_threshold);
	} else if (!strcmp(word, "pidfile")) {
		fprintf(out, "%spidfile\t\t\t%s/kore-%d.pid\n", indent, outdir,
		    cf->http_port);
	} else if (!strcmp(word, "pgsql_conn_max")) {
		fprintf(out, "%spgsql_conn_max\t\t%d\n", indent,
		    cf->db_pool_size);
	} else if (!strcmp(word, "task_threads")) {
		fprintf(out, "%stask_threads\t\t%d\n", indent,
		    cf->task_threads);
	} else if (!strcmp(word, "http_body_max")) {
		/*
		 * Kore answers a bare 413 past its own limit; below it our
		 * handlers answer a JSON 413 past HTTP_BODY_MAX.
		 */
		fprintf(out, "%shttp_body_max\t\t%d\n", indent,
		    cf->http_body_max * 4);
	} else if (!strcmp(word, "runas")) {
		if (cf->run_as[0] != '\0')
			fprintf(out, "%srunas\t\t\t%s\n", indent, cf->run_as);
	} else if (!strcmp(word, "accesslog")) {
		if (cf->access_log[0] != '\0')
			fprintf(out, "%saccesslog\t%s\n", indent,
			    cf->access_log);
	} else {
		return (fputs(line, out) != EOF);
	}

	return (!ferror(out));
}

static void
conftool_usage(void)
{
	fprintf(stderr, "usage: conftool render <kore.conf> <outdir>\n"
	    "       conftool get <NAME>\n"
	    "       conftool dump\n");
	exit(2);
}
