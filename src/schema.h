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
#define SCHEMA_ROUTING_KEY_MAX	256	/* bytes */

/* POST /predict: {"text": "...", "include_metrics": true}. */
struct schema_predict {
	const char	*text;		/* borrowed from the JSON body */
	size_t		 len;		/* bytes */
	long		 codepoints;
	int		 include_metrics;
	const char	*model;		/* borrowed; NULL: routed */
	const char	*model_version;	/* borrowed; NULL: routed */
	const char	*routing_key;	/* borrowed; NULL: the client */
};

/* POST /predict/batch: {"texts": ["...", ...], ...as /predict}. */
#define SCHEMA_BATCH_MAX	256	/* texts */

struct schema_predict_batch {
	size_t		 n;
	const char	*text[SCHEMA_BATCH_MAX];	/* borrowed */
	size_t		 len[SCHEMA_BATCH_MAX];
	long		 codepoints[SCHEMA_BATCH_MAX];
	long		 bad_index;	/* the text refused, if any */
	int		 include_metrics;
	const char	*model;
	const char	*model_version;
	const char	*routing_key;
};

/* POST /analyze/performance: {"time_window_minutes": 60, "model_name": "x"}. */
#define SCHEMA_WINDOW_DEFAULT	60	/* minutes */
#define SCHEMA_WINDOW_MAX	1440
#define SCHEMA_MODEL_NAME_MAX	63	/* as app.model_versions.name */

struct schema_analyze {
	int		 window_minutes;
	const char	*model_name;	/* borrowed; NULL: every model */
	const char	*candidate_version;	/* borrowed; NULL: none */
	const char	*baseline_version;	/* NULL: the routed default */
};

int	schema_predict(const json_t *, struct schema_predict *, json_t *);
int	schema_predict_batch(const json_t *, struct schema_predict_batch *,
	    json_t *);
int	schema_text(const json_t *, const char *, const char **, size_t *,
	    long *, json_t *);
int	schema_analyze(const json_t *, struct schema_analyze *, json_t *);
int	schema_model_name(const char *);
int	schema_semver(const char *);
long	schema_utf8_count(const char *, size_t);
void	schema_detail(json_t *, const char *, const char *);

#endif
