/*
 * schema.h: request shapes and field rules, one function per route body.
 *
 * Pure C + jansson (no Kore), so the unit tests link it directly.  Each
 * validator returns 1 when the body is valid, else 0 after appending one
 * {"field", "message"} object per problem to details.
 */
#ifndef SCHEMA_H
#define SCHEMA_H

#include <stddef.h>

#include <jansson.h>

#define SCHEMA_TEXT_MAX		1000	/* code points */

/* POST /predict: {"text": "...", "include_metrics": true}. */
struct schema_predict {
	const char	*text;		/* borrowed from the JSON body */
	size_t		 len;		/* bytes */
	long		 codepoints;
	int		 include_metrics;
};

int	schema_predict(const json_t *, struct schema_predict *, json_t *);
long	schema_utf8_count(const char *, size_t);
void	schema_detail(json_t *, const char *, const char *);

#endif
