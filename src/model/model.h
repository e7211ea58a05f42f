/*
 * model.h: the sentiment model as the HTTP handler sees it.
 *
 * The model is VADER (Hutto & Gilbert, ICWSM-14), a C port of the Python
 * reference vaderSentiment 3.3.2 that gives the same scores.  A model is
 * loaded once from an artifact directory (MANIFEST + lexicons, see
 * src/model/README.md), is immutable afterwards and may be shared by any
 * number of threads.  Nothing here depends on Kore.
 */
#ifndef MODEL_H
#define MODEL_H

#include <stddef.h>

/*
 * Longest text model_predict accepts, in bytes.  The server accepts
 * 1..1000 code points, that is at most 4000 bytes of UTF-8.
 */
#define MODEL_MAX_INPUT		4096

/*
 * model_predict works in a scratch area of about 100 KiB on the caller's
 * stack (one token's bytes, a small record and a double per token, for the
 * most tokens MODEL_MAX_INPUT bytes can make); MODEL_STACK_BYTES is its
 * upper bound, checked at compile time.  Run it on a thread with at least
 * 256 KiB of stack.
 */
#define MODEL_STACK_BYTES	(112 * 1024)

struct model;

struct model_result {
	const char	*label;		/* "positive", "negative", "neutral" */
	double		 confidence;	/* 0..1 */
	double		 compound;	/* -1..1, rounded to 4 decimals */
	double		 pos;		/* rounded to 3 decimals */
	double		 neu;
	double		 neg;
};

/*
 * Loads the artifact in dir.  Returns NULL on failure and writes
 * "path:line: reason" to errbuf (line 0 means the file as a whole).
 */
struct model	*model_load(const char *, char *, size_t);

/* Frees a model; NULL is allowed. */
void		 model_free(struct model *);

/* The manifest's name ("vader") and semver version ("3.3.2"). */
const char	*model_name(const struct model *);
const char	*model_version(const struct model *);

/*
 * The manifest's description ("" when it has none), and the artifact's
 * sha256: the MANIFEST file's, which pins the sha256 of every other file.
 */
const char	*model_description(const struct model *);
const char	*model_sha256(const struct model *);

/*
 * Scores len bytes of text (need not be NUL-terminated).  Returns 1 and
 * fills *out, or 0 if the text is not valid UTF-8 or longer than
 * MODEL_MAX_INPUT bytes.  Reentrant, no allocation, safe on any bytes.
 *
 * Label: positive when compound >= 0.05, negative when <= -0.05, else
 * neutral.  Confidence: (compound - 0.05) / 0.95 for positive,
 * (-0.05 - compound) / 0.95 for negative, (0.05 - |compound|) / 0.05 for
 * neutral, clamped to 0..1, all from the rounded compound.
 */
int		 model_predict(const struct model *, const char *, size_t,
		    struct model_result *);

#endif
