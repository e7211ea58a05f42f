/*
 * vader_cli.c: scores "id<TAB>text" lines from stdin with the model and
 * writes "id<TAB>compound<TAB>label<TAB>confidence" lines to stdout
 * (4 decimals each), for checking the model against other implementations.
 *
 * The model directory is $MODEL_DIR, else src/model/vader.  A line whose
 * text cannot be scored gives "id<TAB>error<TAB>reason" (invalid_utf8,
 * too_long, missing_tab) and the run goes on.  Exits 1 if the model does
 * not load, 2 on a usage or I/O error, else 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define VADER_CLI_DEFAULT_DIR	"src/model/vader"

int
main(int argc, char *argv[])
{
	struct model		*m;
	struct model_result	 r;
	const char		*dir, *text, *reason;
	char			 errbuf[512], *line, *tab;
	size_t			 cap, idlen, tlen;
	ssize_t			 n;
	int			 ret;

	ret = 2;
	m = NULL;
	line = NULL;
	cap = 0;

	if (argc > 1) {
		fprintf(stderr, "usage: %s < id-tab-text-lines\n", argv[0]);
		goto cleanup;
	}
	if ((dir = getenv("MODEL_DIR")) == NULL || *dir == '\0')
		dir = VADER_CLI_DEFAULT_DIR;
	if ((m = model_load(dir, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "vader-cli: %s\n", errbuf);
		ret = 1;
		goto cleanup;
	}

	while ((n = getline(&line, &cap, stdin)) != -1) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if ((tab = memchr(line, '\t', (size_t)n)) == NULL) {
			fwrite(line, 1, (size_t)n, stdout);
			printf("\terror\tmissing_tab\n");
			continue;
		}
		idlen = (size_t)(tab - line);
		text = tab + 1;
		tlen = (size_t)n - idlen - 1;
		fwrite(line, 1, idlen, stdout);
		if (model_predict(m, text, tlen, &r)) {
			printf("\t%.4f\t%s\t%.4f\n", r.compound, r.label,
			    r.confidence);
			continue;
		}
		reason = tlen > MODEL_MAX_INPUT ? "too_long" : "invalid_utf8";
		printf("\terror\t%s\n", reason);
	}
	if (ferror(stdin) || fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "vader-cli: I/O error\n");
		goto cleanup;
	}
	ret = 0;

cleanup:
	free(line);
	model_free(m);
	return (ret);
}
