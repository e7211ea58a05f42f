/*
 * fuzz_model.c: libFuzzer target for model_predict() on any bytes, with
 * the model loaded once from $FUZZ_MODEL_DIR (default src/model/vader,
 * relative to the repository root the run script starts from).
 *
 * Properties (abort() when broken), from model.h:
 * - it answers 1 exactly when the bytes are well-formed UTF-8 (as
 *   schema_utf8_count() sees it) of at most MODEL_MAX_INPUT bytes; the
 *   scratch area never runs out below that;
 * - every score is finite; compound in -1..1, rounded to 4 decimals;
 *   pos, neu, neg in 0..1, rounded to 3 decimals, summing to 1 (within
 *   their rounding) or all 0;
 * - the label follows compound (>= 0.05 positive, <= -0.05 negative,
 *   else neutral) and confidence is its documented function of compound,
 *   in 0..1;
 * - the same bytes score the same twice (no hidden state).
 *
 * Build and run: make fuzz (tests/fuzz/run.sh).
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "model/model.h"

#define FUZZ_THRESHOLD	0.05

int		LLVMFuzzerInitialize(int *, char ***);
int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check(int, const char *);
static int	fuzz_rounded(double, double);

static struct model	*fuzz_model;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*dir;
	char		 err[512];

	(void)argc;
	(void)argv;
	if ((dir = getenv("FUZZ_MODEL_DIR")) == NULL)
		dir = "src/model/vader";
	if ((fuzz_model = model_load(dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_model: cannot load %s: %s\n", dir, err);
		exit(1);
	}
	return (0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model_result	 r, again;
	const char		*text;
	double			 sum, want;
	int			 ok, valid;

	text = (const char *)data;
	valid = size <= MODEL_MAX_INPUT && schema_utf8_count(text, size) >= 0;
	ok = model_predict(fuzz_model, text, size, &r);
	fuzz_check(ok == valid, "answers exactly for valid UTF-8 up to "
	    "MODEL_MAX_INPUT bytes");
	if (!ok)
		return (0);

	fuzz_check(isfinite(r.compound) && isfinite(r.pos) &&
	    isfinite(r.neu) && isfinite(r.neg) && isfinite(r.confidence),
	    "finite scores");
	fuzz_check(r.compound >= -1 && r.compound <= 1, "compound in -1..1");
	fuzz_check(fuzz_rounded(r.compound, 1e4), "compound to 4 decimals");
	fuzz_check(r.pos >= 0 && r.pos <= 1 && r.neu >= 0 && r.neu <= 1 &&
	    r.neg >= 0 && r.neg <= 1, "pos, neu, neg in 0..1");
	fuzz_check(fuzz_rounded(r.pos, 1e3) && fuzz_rounded(r.neu, 1e3) &&
	    fuzz_rounded(r.neg, 1e3), "pos, neu, neg to 3 decimals");
	sum = r.pos + r.neu + r.neg;
	fuzz_check(sum == 0 || fabs(sum - 1) <= 0.0015 + 1e-9,
	    "pos + neu + neg is 1 or 0");
	fuzz_check(r.confidence >= 0 && r.confidence <= 1,
	    "confidence in 0..1");

	if (r.compound >= FUZZ_THRESHOLD) {
		fuzz_check(strcmp(r.label, "positive") == 0, "positive label");
		want = (r.compound - FUZZ_THRESHOLD) / (1 - FUZZ_THRESHOLD);
	} else if (r.compound <= -FUZZ_THRESHOLD) {
		fuzz_check(strcmp(r.label, "negative") == 0, "negative label");
		want = (-FUZZ_THRESHOLD - r.compound) / (1 - FUZZ_THRESHOLD);
	} else {
		fuzz_check(strcmp(r.label, "neutral") == 0, "neutral label");
		want = (FUZZ_THRESHOLD - fabs(r.compound)) / FUZZ_THRESHOLD;
	}
	want = want < 0 ? 0 : want > 1 ? 1 : want;
	fuzz_check(fabs(r.confidence - want) <= 1e-12,
	    "confidence follows compound");

	fuzz_check(model_predict(fuzz_model, text, size, &again) == 1 &&
	    memcmp(&r, &again, sizeof(r)) == 0, "the same bytes, the same "
	    "scores");
	return (0);
}

static void
fuzz_check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_model: property broken: %s\n", what);
	abort();
}

/* 1 if v is (the double nearest to) a multiple of 1/scale. */
static int
fuzz_rounded(double v, double scale)
{
	return (fabs(v * scale - round(v * scale)) <= 1e-6);
}
