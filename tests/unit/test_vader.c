/*
 * test_vader.c: unit tests of the sentiment model (src/model), rule by
 * rule, plus input limits, labels, artifact loading and sha256.
 *
 * The expected scores are what the Python reference (vaderSentiment git
 * 44fc044, the 3.3.2 algorithm, Python 3.11.7) returns for each text; the
 * port must give the same rounded numbers.  Where the reference does
 * something surprising (an idiom never applied, the "but" rule's
 * list.index()), the case name says so.
 *
 * Usage: test_vader [MODEL_DIR]  (default $MODEL_DIR, else src/model/vader)
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "sha256.h"
#include "tap.h"

#define TEST_VADER_EPS		1e-9
#define TEST_VADER_THREADS	4

struct test_vader_case {
	const char	*name;
	const char	*text;
	double		 compound;
	double		 pos;
	double		 neu;
	double		 neg;
};

struct test_vader_thread {
	const struct model	*m;
	int			 mismatches;
};

static void	test_vader_rules(const struct model *);
static void	test_vader_relations(const struct model *);
static void	test_vader_labels(const struct model *);
static void	test_vader_lengths(const struct model *);
static void	test_vader_invalid(const struct model *);
static void	test_vader_fuzz(const struct model *);
static void	test_vader_threads(const struct model *);
static void	test_vader_load(const char *);
static void	test_vader_load_errors(void);
static void	test_vader_sha256(void);
static int	test_vader_case_ok(const struct model *,
		    const struct test_vader_case *, int);
static double	test_vader_compound(const struct model *, const char *);
static char	*test_vader_repeat(const char *, size_t, size_t *);
static void	*test_vader_thread_main(void *);
static int	test_vader_write(const char *, const char *, const char *,
		    size_t);
static int	test_vader_artifact(const char *, const char *, const char *,
		    const char *, const char *);
static void	test_vader_expect_error(const char *, const char *,
		    const char *);
static void	test_vader_sha_hex(const void *, size_t, char *);
static uint32_t	test_vader_rand(uint32_t *);

/* Generated from the reference; see the header comment. */
static const struct test_vader_case test_vader_cases[] = {
	{ "baseline",
	    "The book was good.",
	    0.4404, 0.492, 0.508, 0.0 },
	{ "negation: not",
	    "The book was not good.",
	    -0.3412, 0.0, 0.624, 0.376 },
	{ "negation: n't word in NEGATE",
	    "The book wasn't good.",
	    -0.3412, 0.0, 0.555, 0.445 },
	{ "negation: n't word outside NEGATE",
	    "The book mayn't be good.",
	    -0.3412, 0.0, 0.624, 0.376 },
	{ "negation: case-insensitive",
	    "The book was NOT good.",
	    -0.3412, 0.0, 0.624, 0.376 },
	{ "negation: three words back",
	    "It is not really very good.",
	    -0.427, 0.0, 0.639, 0.361 },
	{ "negation: never",
	    "It was never good.",
	    -0.3412, 0.0, 0.555, 0.445 },
	{ "never so",
	    "It was never so good.",
	    0.6626, 0.525, 0.475, 0.0 },
	{ "never this",
	    "It has never been this good.",
	    0.5228, 0.403, 0.597, 0.0 },
	{ "without doubt",
	    "Without a doubt, excellent idea.",
	    0.7013, 0.659, 0.341, 0.0 },
	{ "without doubt, adjacent",
	    "It was without doubt good.",
	    0.6136, 0.625, 0.375, 0.0 },
	{ "least",
	    "This is the least good option.",
	    -0.3412, 0.0, 0.675, 0.325 },
	{ "at least",
	    "It is at least good.",
	    0.4404, 0.42, 0.58, 0.0 },
	{ "very least",
	    "It is the very least good.",
	    0.4902, 0.389, 0.611, 0.0 },
	{ "least, second word",
	    "least good",
	    -0.3412, 0.0, 0.294, 0.706 },
	{ "no before a lexicon word",
	    "no good",
	    -0.3412, 0.0, 0.294, 0.706 },
	{ "no alone",
	    "There is no way.",
	    -0.296, 0.0, 0.577, 0.423 },
	{ "no ... nor",
	    "There is no fun nor good.",
	    -0.1684, 0.233, 0.458, 0.309 },
	{ "but",
	    "The food is good but the service is terrible.",
	    -0.4939, 0.149, 0.534, 0.317 },
	{ "but: list.index quirk",
	    "ok but activeness",
	    0.2263, 0.744, 0.256, 0.0 },
	{ "ALL CAPS among lower case",
	    "The food is GOOD.",
	    0.5622, 0.548, 0.452, 0.0 },
	{ "ALL CAPS everywhere: no emphasis",
	    "THE FOOD IS GOOD.",
	    0.4404, 0.492, 0.508, 0.0 },
	{ "booster in caps",
	    "The food is VERY good.",
	    0.6028, 0.495, 0.505, 0.0 },
	{ "caps on a negated word",
	    "The food is not GOOD.",
	    -0.4494, 0.0, 0.576, 0.424 },
	{ "!",
	    "The food is good!",
	    0.4926, 0.516, 0.484, 0.0 },
	{ "!!",
	    "The food is good!!",
	    0.5399, 0.537, 0.463, 0.0 },
	{ "! capped at 4",
	    "The food is good!!!!!!!!",
	    0.6209, 0.576, 0.424, 0.0 },
	{ "single ? ignored",
	    "The food is good?",
	    0.4404, 0.492, 0.508, 0.0 },
	{ "??",
	    "The food is good??",
	    0.504, 0.521, 0.479, 0.0 },
	{ "???? capped",
	    "The food is good?????",
	    0.594, 0.563, 0.437, 0.0 },
	{ "! on neutral text has no effect",
	    "The food is here!!!",
	    0.0, 0.0, 1.0, 0.0 },
	{ "booster: very",
	    "very good",
	    0.4927, 0.762, 0.238, 0.0 },
	{ "booster: extremely",
	    "The food is extremely good.",
	    0.4927, 0.444, 0.556, 0.0 },
	{ "dampener: barely",
	    "The food is barely good.",
	    0.3832, 0.395, 0.605, 0.0 },
	{ "dampener: kinda",
	    "The food is kinda good.",
	    0.3832, 0.395, 0.605, 0.0 },
	{ "dampener: kind of",
	    "The book was only kind of good.",
	    0.3832, 0.303, 0.697, 0.0 },
	{ "dampener: sort of",
	    "The book was only sort of good.",
	    0.3832, 0.303, 0.697, 0.0 },
	{ "booster two back",
	    "The food is very really good.",
	    0.5379, 0.41, 0.59, 0.0 },
	{ "booster on negative",
	    "The food is very bad.",
	    -0.5849, 0.0, 0.513, 0.487 },
	{ "idiom: the bomb",
	    "The movie was the bomb.",
	    0.6124, 0.5, 0.5, 0.0 },
	{ "idiom: the bomb too early",
	    "the bomb",
	    -0.4939, 0.0, 0.238, 0.762 },
	{ "idiom: yeah right",
	    "That is so great, yeah right",
	    0.5009, 0.428, 0.327, 0.245 },
	{ "idiom: kiss of death",
	    "That was the kiss of death.",
	    -0.6124, 0.0, 0.444, 0.556 },
	{ "idiom: bad ass",
	    "On the other hand, VADER is quite bad ass",
	    0.802, 0.577, 0.423, 0.0 },
	{ "idiom: broken heart",
	    "I have a broken heart.",
	    -0.8316, 0.0, 0.278, 0.722 },
	{ "idiom: beating heart",
	    "I felt a beating heart.",
	    0.8481, 0.732, 0.268, 0.0 },
	{ "idiom: bus stop",
	    "I waited at the bus stop.",
	    0.0, 0.0, 1.0, 0.0 },
	{ "idiom: to die for, never matched",
	    "That cake is to die for.",
	    -0.5994, 0.0, 0.562, 0.438 },
	{ "idiom: cut the mustard, not applied",
	    "It will cut the mustard.",
	    -0.2732, 0.0, 0.656, 0.344 },
	{ "idiom: hand to mouth, not applied",
	    "They live hand to mouth.",
	    0.4939, 0.444, 0.556, 0.0 },
	{ "emoji",
	    "\xf0\x9f\x98\x81",
	    0.4588, 0.429, 0.571, 0.0 },
	{ "emoji in text",
	    "I love it \xf0\x9f\x98\x8d",
	    0.802, 0.59, 0.41, 0.0 },
	{ "emoji glued to text",
	    "x\xf0\x9f\x98\x80y",
	    0.3612, 0.556, 0.444, 0.0 },
	{ "emoji with skin tone",
	    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
	    0.0, 0.0, 1.0, 0.0 },
	{ "emoji with FE0F glued",
	    "\xe2\x9d\xa4\xef\xb8\x8f",
	    0.0, 0.0, 1.0, 0.0 },
	{ "emoji without FE0F",
	    "\xe2\x9d\xa4",
	    0.6369, 0.808, 0.192, 0.0 },
	{ "ZWJ sequence",
	    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
	    "\xf0\x9f\x91\xa7",
	    0.0, 0.0, 1.0, 0.0 },
	{ "emoji description with !",
	    "\xf0\x9f\x86\x99",
	    0.0, 0.0, 1.0, 0.0 },
	{ "emoji description in caps",
	    "good \xf0\x9f\x86\x92",
	    0.7125, 0.856, 0.144, 0.0 },
	{ "emoticon",
	    "Make sure you :) or :D today!",
	    0.8633, 0.706, 0.294, 0.0 },
	{ "capital key :P reads :p",
	    ":P",
	    0.25, 1.0, 0.0, 0.0 },
	{ "capital key without twin",
	    ":\xc3\x9e",
	    0.0, 0.0, 1.0, 0.0 },
	{ "duplicate key: last wins",
	    "lol",
	    0.4215, 1.0, 0.0, 0.0 },
	{ "duplicate key: ok",
	    "ok",
	    0.296, 1.0, 0.0, 0.0 },
	{ "Kelvin sign lowers to k",
	    "o\xe2\x84\xaa",
	    0.296, 1.0, 0.0, 0.0 },
	{ "non-ASCII upper case word",
	    "GOOD \xc3\xa9t\xc3\xa9",
	    0.5622, 0.784, 0.216, 0.0 },
	{ "non-ASCII all caps",
	    "GOOD \xc3\x89T\xc3\x89",
	    0.4404, 0.744, 0.256, 0.0 },
	{ "dotted capital I",
	    "\xc4\xb0 like it",
	    0.3612, 0.556, 0.444, 0.0 },
	{ "punctuation stripped",
	    "...good...",
	    0.4404, 1.0, 0.0, 0.0 },
	{ "short token kept with punctuation",
	    ":-)",
	    0.3182, 1.0, 0.0, 0.0 },
	{ "curly quotes",
	    "\xe2\x80\x9cgood\xe2\x80\x9d",
	    0.0, 0.0, 1.0, 0.0 },
	{ "unicode white space",
	    "good\xe3\x80\x80" "bad\xc2\xa0great",
	    0.5423, 0.667, 0.0, 0.333 },
	{ "empty",
	    "",
	    0.0, 0.0, 0.0, 0.0 },
	{ "punctuation only",
	    "!!!",
	    0.0, 0.0, 1.0, 0.0 },
	{ "question marks only",
	    "???",
	    0.0, 0.0, 1.0, 0.0 },
	{ "white space only",
	    " \t\n ",
	    0.0, 0.0, 0.0, 0.0 },
	{ "one letter",
	    "a",
	    0.0, 0.0, 1.0, 0.0 },
	{ "compound +0.05",
	    "absolving not accomplished",
	    0.05, 0.433, 0.167, 0.401 },
	{ "compound -0.05",
	    "abandoning not abandon",
	    -0.05, 0.401, 0.167, 0.433 },
	{ "compound +0.0499",
	    "least acquit really kinda acquit",
	    0.0499, 0.28, 0.47, 0.25 },
	{ "compound -0.0499",
	    "least absentees really kinda absentees",
	    -0.0499, 0.25, 0.47, 0.28 },
	{ "compound 0",
	    "hello world",
	    0.0, 0.0, 1.0, 0.0 },
};

#define TEST_VADER_NCASES	\
	(sizeof(test_vader_cases) / sizeof(test_vader_cases[0]))

int
main(int argc, char *argv[])
{
	struct model	*m;
	const char	*dir;
	char		 errbuf[512];

	if (argc > 1)
		dir = argv[1];
	else if ((dir = getenv("MODEL_DIR")) == NULL || *dir == '\0')
		dir = "src/model/vader";

	test_vader_sha256();
	test_vader_load(dir);
	test_vader_load_errors();

	if ((m = model_load(dir, errbuf, sizeof(errbuf))) == NULL) {
		tap_ok(0, "model_load(%s): %s", dir, errbuf);
		return (tap_done());
	}
	test_vader_rules(m);
	test_vader_relations(m);
	test_vader_labels(m);
	test_vader_lengths(m);
	test_vader_invalid(m);
	test_vader_fuzz(m);
	test_vader_threads(m);
	model_free(m);

	return (tap_done());
}

static void
test_vader_rules(const struct model *m)
{
	size_t		i;

	for (i = 0; i < TEST_VADER_NCASES; i++)
		test_vader_case_ok(m, &test_vader_cases[i], 1);
}

/* The intent behind some of the numbers above, stated as comparisons. */
static void
test_vader_relations(const struct model *m)
{
	double	good, c;

	good = test_vader_compound(m, "The food is good.");
	tap_ok(good > 0.4, "'good' is positive");
	tap_ok(test_vader_compound(m, "The food is not good.") < 0,
	    "negation flips the sign");
	tap_ok(test_vader_compound(m, "The food isn't good.") < 0,
	    "n't negates");
	tap_ok(test_vader_compound(m, "The food is GOOD.") > good,
	    "ALL CAPS among lower case adds emphasis");
	tap_is_double(test_vader_compound(m, "THE FOOD IS GOOD."), good,
	    TEST_VADER_EPS, "ALL CAPS everywhere adds none");
	tap_ok(test_vader_compound(m, "The food is very good.") > good,
	    "booster raises");
	tap_ok(test_vader_compound(m, "The food is barely good.") < good,
	    "dampener lowers");
	c = test_vader_compound(m, "The food is good!!!!");
	tap_ok(c > good, "! raises");
	tap_is_double(test_vader_compound(m, "The food is good!!!!!!!!"), c,
	    TEST_VADER_EPS, "more than 4 ! add nothing");
	tap_is_double(test_vader_compound(m, "The food is good?"), good,
	    TEST_VADER_EPS, "a single ? adds nothing");
	tap_ok(test_vader_compound(m, "The movie was the bomb.") > 0 &&
	    test_vader_compound(m, "the bomb") < 0,
	    "'the bomb' is an idiom only with three words before 'bomb'");
	tap_ok(test_vader_compound(m, "It will cut the mustard.") < 0,
	    "'cut the mustard' is not applied (the reference never does)");
	tap_is_double(test_vader_compound(m, "ok but activeness"), 0.2263,
	    TEST_VADER_EPS, "'but' halves 'ok' twice and leaves the word after "
	    "it alone, as list.index() makes the reference do (not 0.3612)");
	tap_is_double(test_vader_compound(m, "lol"), 0.4215, TEST_VADER_EPS,
	    "duplicate lexicon key: the last line wins (lol = 1.8)");
	tap_is_double(test_vader_compound(m, ":P"),
	    test_vader_compound(m, ":p"), TEST_VADER_EPS,
	    "lookups are lower-cased: ':P' reads ':p'");
	tap_is_double(test_vader_compound(m, "o\xe2\x84\xaa"),
	    test_vader_compound(m, "ok"), TEST_VADER_EPS,
	    "KELVIN SIGN lower-cases to 'k' as in Python");
}

static void
test_vader_labels(const struct model *m)
{
	static const struct {
		const char	*text;
		double		 compound;
		const char	*label;
		double		 confidence;
	} cases[] = {
		{ "absolving not accomplished", 0.05, "positive", 0.0 },
		{ "abandoning not abandon", -0.05, "negative", 0.0 },
		{ "least acquit really kinda acquit", 0.0499, "neutral",
		    (0.05 - 0.0499) / 0.05 },
		{ "least absentees really kinda absentees", -0.0499,
		    "neutral", (0.05 - 0.0499) / 0.05 },
		{ "hello world", 0.0, "neutral", 1.0 },
		{ "", 0.0, "neutral", 1.0 },
		{ "good", 0.4404, "positive", (0.4404 - 0.05) / 0.95 },
		{ "bad", -0.5423, "negative", (0.5423 - 0.05) / 0.95 },
		{ "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
		    0.9469, "positive", (0.9469 - 0.05) / 0.95 },
	};
	struct model_result	r;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!tap_ok(model_predict(m, cases[i].text,
		    strlen(cases[i].text), &r), "label: scores '%s'",
		    cases[i].text))
			continue;
		tap_is_double(r.compound, cases[i].compound, TEST_VADER_EPS,
		    "label: compound of '%s'", cases[i].text);
		tap_is_str(r.label, cases[i].label, "label: '%s' is %s",
		    cases[i].text, cases[i].label);
		tap_is_double(r.confidence, cases[i].confidence, 1e-12,
		    "label: confidence of '%s'", cases[i].text);
		tap_ok(r.confidence >= 0.0 && r.confidence <= 1.0,
		    "label: confidence in 0..1");
	}
}

/* 1000 code points must always be scored; so must anything up to 4 KiB. */
static void
test_vader_lengths(const struct model *m)
{
	static const struct test_vader_case cases[] = {
		{ "1000 emoji (U+1F600, 4000 bytes)", "\xf0\x9f\x98\x80",
		    1.0, 0.714, 0.286, 0.0 },
		{ "1000 emoji with a negative word (U+1F602)",
		    "\xf0\x9f\x98\x82", 1.0, 0.437, 0.345, 0.218 },
		{ "1000 emoji of the densest description (U+26C8)",
		    "\xe2\x9b\x88", 0.0, 0.0, 1.0, 0.0 },
		{ "1000 ASCII letters", "a", 0.0, 0.0, 1.0, 0.0 },
		{ "1000 characters of mixed text with 'but' and '!'",
		    "The plot was good, but the acting was not great! ",
		    -0.9519, 0.237, 0.493, 0.27 },
	};
	struct test_vader_case	 c;
	struct model_result	 r;
	char			*text;
	size_t			 i, len, unit;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unit = strlen(cases[i].text);
		/* 1000 code points: emoji are one each, text is ASCII. */
		if ((unsigned char)cases[i].text[0] >= 0x80)
			text = test_vader_repeat(cases[i].text, 1000 * unit,
			    &len);
		else
			text = test_vader_repeat(cases[i].text, 1000, &len);
		c = cases[i];
		c.text = text;
		test_vader_case_ok(m, &c, 0);
		free(text);
	}

	/* The worst case of the token bound: 1 + 5 * 4095 / 3 tokens. */
	text = test_vader_repeat("\xe2\x9b\x88", MODEL_MAX_INPUT - 1, &len);
	memmove(text + 1, text, len);
	text[0] = 'a';
	tap_ok(model_predict(m, text, len + 1, &r) && r.compound == 0.0,
	    "a + 1365 x U+26C8 (%zu bytes, 6826 tokens) is scored", len + 1);
	free(text);

	text = test_vader_repeat("a ", MODEL_MAX_INPUT, &len);
	tap_ok(model_predict(m, text, len, &r),
	    "exactly MODEL_MAX_INPUT bytes are accepted");
	text[len - 1] = 'b';
	tap_ok(model_predict(m, text, len, &r) && r.compound == 0.0,
	    "2048 one-letter words are scored");
	free(text);

	text = test_vader_repeat("a", MODEL_MAX_INPUT + 1, &len);
	r.label = NULL;
	tap_ok(!model_predict(m, text, len, &r), "MODEL_MAX_INPUT + 1 bytes "
	    "are rejected");
	tap_ok(r.label == NULL, "a rejected text leaves the result alone");
	tap_ok(!model_predict(m, text, SIZE_MAX, &r), "SIZE_MAX is rejected");
	free(text);
}

static void
test_vader_invalid(const struct model *m)
{
	static const struct {
		const char	*name;
		const char	*bytes;
		size_t		 len;
	} bad[] = {
		{ "lone 0xff", "\xff", 1 },
		{ "continuation byte first", "ok \x80", 4 },
		{ "overlong '/'", "\xc0\xaf", 2 },
		{ "overlong 3-byte", "\xe0\x80\xaf", 3 },
		{ "UTF-16 surrogate", "\xed\xa0\x80", 3 },
		{ "above U+10FFFF", "\xf4\x90\x80\x80", 4 },
		{ "truncated 3-byte", "good \xe2\x82", 7 },
		{ "truncated 4-byte emoji", "\xf0\x9f\x98", 3 },
		{ "0xfe", "good\xfe", 5 },
		{ "Latin-1 e-acute", "caf\xe9", 4 },
	};
	struct model_result	r;
	size_t			i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tap_ok(!model_predict(m, bad[i].bytes, bad[i].len, &r),
		    "invalid UTF-8 rejected: %s", bad[i].name);
	}
	tap_ok(model_predict(m, "good\0bad", 8, &r) && r.compound == 0.0 &&
	    r.neu == 1.0, "a NUL byte is a character like any other: "
	    "'good<NUL>bad' is one unknown word");
	tap_ok(model_predict(m, NULL, 0, &r) && r.compound == 0.0 &&
	    r.neu == 0.0, "NULL with length 0 is the empty text");
	tap_ok(!model_predict(m, NULL, 3, &r), "NULL with length 3 fails");
	tap_ok(!model_predict(m, "good", 4, NULL), "NULL result fails");
	tap_ok(!model_predict(NULL, "good", 4, &r), "NULL model fails");
}

/*
 * Random bytes and random valid UTF-8 (ASCII, emoji, cased letters, white
 * space): never a crash (ASan + UBSan watch), always sane numbers, and
 * valid text is always scored.
 */
static void
test_vader_fuzz(const struct model *m)
{
	static const uint32_t	pool[] = {
		' ', ' ', '\t', '!', '?', '\'', 'n', 't', 'a', 'A', 'o', 'K',
		0xa0, 0xc9, 0xe9, 0x130, 0x212a, 0x3a3, 0x1c5, 0x2764, 0xfe0f,
		0x200d, 0x1f600, 0x1f602, 0x1f3fd, 0x26c8, 0x3000, 0x10ffff,
	};
	static const char *const words[] = {
		"good ", "bad ", "not ", "but ", "very ", "kind ", "of ",
		"least ", "no ", "the ", "bomb ", "NEVER ", "so ", ":) ",
	};
	struct model_result	r;
	char			buf[MODEL_MAX_INPUT + 16];
	uint32_t		seed, cp;
	size_t			len, want, n, i;
	int			iter, bad_bytes, bad_valid, w;

	seed = 0x9e3779b9;
	bad_bytes = 0;
	bad_valid = 0;
	for (iter = 0; iter < 3000; iter++) {
		want = test_vader_rand(&seed) % 400;
		for (len = 0; len < want; len++)
			buf[len] = (char)test_vader_rand(&seed);
		if (model_predict(m, buf, len, &r) && (r.compound < -1.0 ||
		    r.compound > 1.0 || r.pos < 0 || r.pos > 1 || r.neu < 0 ||
		    r.neu > 1 || r.neg < 0 || r.neg > 1))
			bad_bytes++;

		want = test_vader_rand(&seed) % (iter % 10 == 0 ?
		    MODEL_MAX_INPUT : 600);
		len = 0;
		while (len + 8 < want) {
			w = (int)(test_vader_rand(&seed) % 3);
			if (w == 0) {
				i = test_vader_rand(&seed) %
				    (sizeof(words) / sizeof(words[0]));
				n = strlen(words[i]);
				memcpy(buf + len, words[i], n);
				len += n;
				continue;
			}
			cp = pool[test_vader_rand(&seed) %
			    (sizeof(pool) / sizeof(pool[0]))];
			if (cp < 0x80) {
				buf[len++] = (char)cp;
			} else if (cp < 0x800) {
				buf[len++] = (char)(0xc0 | (cp >> 6));
				buf[len++] = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				buf[len++] = (char)(0xe0 | (cp >> 12));
				buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[len++] = (char)(0x80 | (cp & 0x3f));
			} else {
				buf[len++] = (char)(0xf0 | (cp >> 18));
				buf[len++] = (char)(0x80 | ((cp >> 12) & 0x3f));
				buf[len++] = (char)(0x80 | ((cp >> 6) & 0x3f));
				buf[len++] = (char)(0x80 | (cp & 0x3f));
			}
		}
		if (!model_predict(m, buf, len, &r) || r.compound < -1.0 ||
		    r.compound > 1.0)
			bad_valid++;
	}
	tap_is_int(bad_bytes, 0, "fuzz: 3000 random byte strings, sane scores");
	tap_is_int(bad_valid, 0, "fuzz: 3000 random valid texts, all scored");
}

/* One model, several threads: same answers as one thread. */
static void
test_vader_threads(const struct model *m)
{
	struct test_vader_thread	t[TEST_VADER_THREADS];
	pthread_t			tid[TEST_VADER_THREADS];
	int				i, started, mismatches;

	started = 0;
	mismatches = 0;
	for (i = 0; i < TEST_VADER_THREADS; i++) {
		t[i].m = m;
		t[i].mismatches = 0;
		if (pthread_create(&tid[i], NULL, test_vader_thread_main,
		    &t[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(tid[i], NULL);
		mismatches += t[i].mismatches;
	}
	tap_is_int(started, TEST_VADER_THREADS, "threads: all started");
	tap_is_int(mismatches, 0, "threads: concurrent scores are the same");
}

static void *
test_vader_thread_main(void *arg)
{
	struct test_vader_thread	*t;
	int				 round;
	size_t				 i;

	t = arg;
	for (round = 0; round < 20; round++) {
		for (i = 0; i < TEST_VADER_NCASES; i++) {
			if (!test_vader_case_ok(t->m, &test_vader_cases[i], 0))
				t->mismatches++;
		}
	}
	return (NULL);
}

static void
test_vader_load(const char *dir)
{
	struct model	*m;
	char		 errbuf[512];

	m = model_load(dir, errbuf, sizeof(errbuf));
	if (!tap_ok(m != NULL, "model_load(%s)", dir)) {
		tap_diag("%s", errbuf);
		return;
	}
	tap_is_str(model_name(m), "vader", "model_name");
	tap_is_str(model_version(m), "3.3.2", "model_version");
	model_free(m);
	model_free(NULL);
	tap_ok(1, "model_free(NULL) is a no-op");
}

/*
 * Broken artifacts in a temporary directory.  Each gets a MANIFEST with
 * the right sha256 unless the test is about the sha256, so the error is
 * the one meant.
 */
static void
test_vader_load_errors(void)
{
	static const char	lexicon[] =
	    "bad\t-2.5\t0.7\t[-2, -3]\n"
	    "good\t1.9\t0.9\t[2, 1]\n"
	    "lol\t1.0\t0.5\t[1, 1]\n"
	    "lol\t1.8\t0.5\t[2, 2]\n";
	static const char	emoji[] =
	    "\xf0\x9f\x98\x80\tgrinning face\n"
	    "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd\tthumbs up: medium skin tone";
	char			 tmpl[] = "/tmp/test_vader.XXXXXX";
	char			 path[1024], errbuf[512], want[1100];
	char			*dir;
	struct model		*m;
	struct model_result	 r;

	if ((dir = mkdtemp(tmpl)) == NULL) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}

	/* A small valid artifact first. */
	if (!test_vader_artifact(dir, "3.3.2", lexicon, emoji, NULL)) {
		tap_ok(0, "writing the artifact in %s", dir);
		goto cleanup;
	}
	m = model_load(dir, errbuf, sizeof(errbuf));
	tap_ok(m != NULL, "small artifact loads");
	if (m != NULL) {
		tap_ok(model_predict(m, "good", 4, &r) &&
		    fabs(r.compound - 0.4404) < TEST_VADER_EPS,
		    "small artifact scores 'good' 0.4404");
		tap_ok(model_predict(m, "lol", 3, &r) &&
		    fabs(r.compound - 0.4215) < TEST_VADER_EPS,
		    "small artifact: last duplicate wins");
		tap_ok(model_predict(m, "\xf0\x9f\x98\x80", 4, &r) &&
		    r.compound == 0.0 && r.neu == 1.0,
		    "small artifact: emoji described");
		model_free(m);
	} else {
		tap_diag("%s", errbuf);
	}

	/* MANIFEST problems. */
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	test_vader_artifact(dir, "3.3", lexicon, emoji, NULL);
	snprintf(want, sizeof(want), "%s:2: version is not semver", path);
	test_vader_expect_error(dir, want, "bad semver 3.3");
	test_vader_artifact(dir, "03.3.2", lexicon, emoji, NULL);
	test_vader_expect_error(dir, want, "bad semver 03.3.2");
	test_vader_artifact(dir, "3.3.2-rc1", lexicon, emoji, NULL);
	test_vader_expect_error(dir, want, "bad semver 3.3.2-rc1");
	test_vader_artifact(dir, "3.3.2.1", lexicon, emoji, NULL);
	test_vader_expect_error(dir, want, "bad semver 3.3.2.1");
	test_vader_artifact(dir, "v3.3.2", lexicon, emoji, NULL);
	test_vader_expect_error(dir, want, "bad semver v3.3.2");
	test_vader_artifact(dir, "", lexicon, emoji, NULL);
	test_vader_expect_error(dir, want, "empty version");

	test_vader_artifact(dir, "3.3.2", lexicon, emoji, "colour=blue\n");
	snprintf(want, sizeof(want), "%s:7: unknown key 'colour'", path);
	test_vader_expect_error(dir, want, "unknown manifest key");
	test_vader_artifact(dir, "3.3.2", lexicon, emoji, "version=3.3.2\n");
	snprintf(want, sizeof(want), "%s:7: duplicate key 'version'", path);
	test_vader_expect_error(dir, want, "duplicate manifest key");
	test_vader_artifact(dir, "3.3.2", lexicon, emoji, "just words\n");
	snprintf(want, sizeof(want), "%s:7: expected key=value", path);
	test_vader_expect_error(dir, want, "manifest line without '='");
	test_vader_write(dir, "MANIFEST", "name=vader\nversion=3.3.2\n", 0);
	snprintf(want, sizeof(want), "%s:2: missing key 'lexicon'", path);
	test_vader_expect_error(dir, want, "manifest key missing");
	test_vader_write(dir, "MANIFEST", "name=bert\n", 0);
	snprintf(want, sizeof(want), "%s:1: unsupported model name", path);
	test_vader_expect_error(dir, want, "other model name");
	unlink(path);
	snprintf(want, sizeof(want), "%s:0: cannot open", path);
	test_vader_expect_error(dir, want, "missing MANIFEST");

	/* Lexicon files missing, altered or malformed. */
	test_vader_artifact(dir, "3.3.2", lexicon, emoji, NULL);
	snprintf(path, sizeof(path), "%s/vader_lexicon.txt", dir);
	unlink(path);
	snprintf(want, sizeof(want), "%s:0: cannot open", path);
	test_vader_expect_error(dir, want, "missing lexicon");

	test_vader_artifact(dir, "3.3.2", lexicon, emoji, NULL);
	test_vader_write(dir, "vader_lexicon.txt",
	    "bad\t-2.5\t0.7\t[-2, -3]\ngood\t9.1\t0.9\t[2, 1]\n", 0);
	snprintf(want, sizeof(want), "%s:0: sha256 mismatch", path);
	test_vader_expect_error(dir, want, "altered lexicon (sha mismatch)");

	test_vader_artifact(dir, "3.3.2", "bad\t-2.5\t0.7\t[-2]\n"
	    "good\t1.9\t0.9\t[2, 1]\nnice\t1.8\t0.4\n", emoji, NULL);
	snprintf(want, sizeof(want), "%s:3: expected 4 tab-separated fields",
	    path);
	test_vader_expect_error(dir, want, "lexicon line with 3 fields");

	test_vader_artifact(dir, "3.3.2", "bad\t-2.5\t0.7\t[-2]\n"
	    "good\t1.9\t0.9\t[2, 1]\n\nnice\tvery\t0.4\t[2]\n", emoji, NULL);
	snprintf(want, sizeof(want), "%s:4: valence 'very' is not a decimal",
	    path);
	test_vader_expect_error(dir, want, "non-numeric valence");

	test_vader_artifact(dir, "3.3.2", "good\t1.9e0\t0.9\t[2, 1]\n", emoji,
	    NULL);
	snprintf(want, sizeof(want), "%s:1: valence '1.9e0'", path);
	test_vader_expect_error(dir, want, "valence with an exponent");

	test_vader_artifact(dir, "3.3.2", "good\t7.5\t0.9\t[2, 1]\n", emoji,
	    NULL);
	snprintf(want, sizeof(want), "%s:1: valence 7.5 outside -4..4", path);
	test_vader_expect_error(dir, want, "valence out of range");

	test_vader_artifact(dir, "3.3.2", "good\t1.9\t0.9\t[2, 1]\r\n", emoji,
	    NULL);
	snprintf(want, sizeof(want), "%s:1: carriage return", path);
	test_vader_expect_error(dir, want, "CRLF lexicon");

	test_vader_artifact(dir, "3.3.2",
	    "good\t1.9\t0.9\t[2]\nb\xe9\t1\t1\t[]\n", emoji, NULL);
	snprintf(want, sizeof(want), "%s:2: invalid UTF-8", path);
	test_vader_expect_error(dir, want, "Latin-1 in lexicon");

	test_vader_artifact(dir, "3.3.2", "", emoji, NULL);
	snprintf(want, sizeof(want), "%s:0: no entries", path);
	test_vader_expect_error(dir, want, "empty lexicon");

	snprintf(path, sizeof(path), "%s/emoji_utf8_lexicon.txt", dir);
	test_vader_artifact(dir, "3.3.2", lexicon,
	    "\xf0\x9f\x98\x80\tgrinning face\n\xf0\x9f\x98\x81\n", NULL);
	snprintf(want, sizeof(want), "%s:2: expected 2 tab-separated fields",
	    path);
	test_vader_expect_error(dir, want, "emoji line with 1 field");

	test_vader_artifact(dir, "3.3.2", lexicon,
	    "\xf0\x9f\x98\x80\tgrinning face\n\n\xf0\x9f\x98\x81\tx\n", NULL);
	snprintf(want, sizeof(want), "%s:2: empty line", path);
	test_vader_expect_error(dir, want, "empty emoji line");

	/* Would break the scratch bound: 6 words for a 3-byte emoji. */
	test_vader_artifact(dir, "3.3.2", lexicon,
	    "\xe2\x9b\x88\ta b c d e f\n", NULL);
	snprintf(want, sizeof(want), "%s:1: description has more than 5 words",
	    path);
	test_vader_expect_error(dir, want, "emoji description too wordy");

cleanup:
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vader_lexicon.txt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/emoji_utf8_lexicon.txt", dir);
	unlink(path);
	if (rmdir(dir) == -1)
		tap_diag("rmdir %s: %s", dir, strerror(errno));
}

/* FIPS 180-4 / NIST example vectors, fed in odd-sized pieces. */
static void
test_vader_sha256(void)
{
	static const struct {
		const char	*msg;
		const char	*hex;
	} vec[] = {
		{ "",
		    "e3b0c44298fc1c149afbf4c8996fb924"
		    "27ae41e4649b934ca495991b7852b855" },
		{ "abc",
		    "ba7816bf8f01cfea414140de5dae2223"
		    "b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039"
		    "a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
		  "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		    "cf5b16a778af8380036ce59e7b049237"
		    "0b249b11e8f07a51afac45037afee9d1" },
	};
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];
	char			hex[SHA256_HEX_LEN], chunk[1000];
	size_t			i;

	for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		test_vader_sha_hex(vec[i].msg, strlen(vec[i].msg), hex);
		tap_is_str(hex, vec[i].hex, "sha256 of %zu-byte vector",
		    strlen(vec[i].msg));
	}

	/* One million 'a', in 1000 updates. */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&ctx);
	for (i = 0; i < 1000; i++)
		sha256_update(&ctx, chunk, sizeof(chunk));
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
	tap_is_str(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	    "sha256 of one million 'a'");

	/* Byte-at-a-time must equal all-at-once (padding at 55/56/64). */
	sha256_init(&ctx);
	for (i = 0; i < strlen(vec[2].msg); i++)
		sha256_update(&ctx, vec[2].msg + i, 1);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
	tap_is_str(hex, vec[2].hex, "sha256 fed one byte at a time");
}

/* Scores one case and compares the four rounded numbers exactly. */
static int
test_vader_case_ok(const struct model *m, const struct test_vader_case *c,
    int report)
{
	struct model_result	r;
	int			ok;

	if (!model_predict(m, c->text, strlen(c->text), &r)) {
		if (report)
			tap_ok(0, "%s: model_predict failed", c->name);
		return (0);
	}
	ok = fabs(r.compound - c->compound) <= TEST_VADER_EPS &&
	    fabs(r.pos - c->pos) <= TEST_VADER_EPS &&
	    fabs(r.neu - c->neu) <= TEST_VADER_EPS &&
	    fabs(r.neg - c->neg) <= TEST_VADER_EPS;
	if (report || !ok) {
		tap_ok(ok, "%s", c->name);
		if (!ok) {
			tap_diag("got  compound %.4f pos %.3f neu %.3f "
			    "neg %.3f",
			    r.compound, r.pos, r.neu, r.neg);
			tap_diag("want compound %.4f pos %.3f neu %.3f "
			    "neg %.3f",
			    c->compound, c->pos, c->neu, c->neg);
		}
	}
	return (ok);
}

static double
test_vader_compound(const struct model *m, const char *text)
{
	struct model_result	r;

	if (!model_predict(m, text, strlen(text), &r))
		return (NAN);
	return (r.compound);
}

/* A new string of unit repeated (and cut) to want bytes. */
static char *
test_vader_repeat(const char *unit, size_t want, size_t *len)
{
	char	*s;
	size_t	 n, i;

	n = strlen(unit);
	if ((s = malloc(want + 1)) == NULL)
		abort();
	for (i = 0; i < want; i++)
		s[i] = unit[i % n];
	s[want] = '\0';
	*len = want;
	return (s);
}

static int
test_vader_write(const char *dir, const char *name, const char *data,
    size_t len)
{
	char	path[1024];
	FILE	*fp;
	int	ok;

	if (len == 0)
		len = strlen(data);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "wb")) == NULL)
		return (0);
	ok = fwrite(data, 1, len, fp) == len;
	if (fclose(fp) != 0)
		ok = 0;
	return (ok);
}

/*
 * Writes a whole artifact: the two lexicons and a MANIFEST (version on
 * line 2) with their true sha256, then extra lines if any.
 */
static int
test_vader_artifact(const char *dir, const char *version, const char *lex,
    const char *emoji, const char *extra)
{
	char	manifest[1024], lhex[SHA256_HEX_LEN], ehex[SHA256_HEX_LEN];

	test_vader_sha_hex(lex, strlen(lex), lhex);
	test_vader_sha_hex(emoji, strlen(emoji), ehex);
	snprintf(manifest, sizeof(manifest),
	    "name=vader\nversion=%s\nlexicon=vader_lexicon.txt\n"
	    "lexicon_sha256=%s\nemoji_lexicon=emoji_utf8_lexicon.txt\n"
	    "emoji_lexicon_sha256=%s\n%s", version, lhex, ehex,
	    extra != NULL ? extra : "");
	return (test_vader_write(dir, "vader_lexicon.txt", lex, strlen(lex)) &&
	    test_vader_write(dir, "emoji_utf8_lexicon.txt", emoji,
	    strlen(emoji)) && test_vader_write(dir, "MANIFEST", manifest, 0));
}

/* model_load(dir) must fail with an error starting with want. */
static void
test_vader_expect_error(const char *dir, const char *want, const char *what)
{
	struct model	*m;
	char		 errbuf[512];

	m = model_load(dir, errbuf, sizeof(errbuf));
	tap_ok(m == NULL, "load fails: %s", what);
	if (m != NULL) {
		model_free(m);
		return;
	}
	if (!tap_ok(strncmp(errbuf, want, strlen(want)) == 0,
	    "error names file:line: %s", what)) {
		tap_diag("got  '%s'", errbuf);
		tap_diag("want '%s...'", want);
	}
}

static void
test_vader_sha_hex(const void *data, size_t len, char *hex)
{
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];

	sha256_init(&ctx);
	sha256_update(&ctx, data, len);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
}

/* xorshift32: a fixed, portable sequence for the fuzz loop. */
static uint32_t
test_vader_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s);
}
