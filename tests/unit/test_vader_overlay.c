/*
 * test_vader_overlay.c: a model version with an overlay lexicon changes
 * the scores of the words its overlay defines, and nothing else.
 *
 * Loads the base artifact and the overlay version, then checks:
 *  - each overlay word alone scores what VADER's normalisation of its
 *    valence gives (v / sqrt(v^2 + 15), rounded), and differs from base;
 *  - every text of the smoke data set without an overlay word scores
 *    exactly (all four numbers, bit for bit) as the base model does;
 *  - texts with overlay words move in the direction of the words' valence;
 *  - broken overlays are refused with file:line (sha256, bad line,
 *    upper-case token, a missing overlay_sha256);
 *  - the artifact's sha256 is its MANIFEST's, its description is read.
 *
 * Usage: test_vader_overlay BASE_DIR OVERLAY_DIR SMOKE.tsv
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "sha256.h"
#include "tap.h"

#define TEST_OV_MAX_WORDS	256
#define TEST_OV_WORD_MAX	64

struct test_ov_word {
	char	word[TEST_OV_WORD_MAX];
	double	valence;
};

static size_t	test_ov_read_words(const char *, struct test_ov_word *,
		    size_t);
static int	test_ov_has_word(const char *, const struct test_ov_word *,
		    size_t);
static double	test_ov_round4(double);
static int	test_ov_same(const struct model_result *,
		    const struct model_result *);
static void	test_ov_smoke(const struct model *, const struct model *,
		    const char *, const struct test_ov_word *, size_t);
static void	test_ov_errors(const char *);
static int	test_ov_write(const char *, const char *);
static void	test_ov_hex(const char *, size_t, char *);
static char	*test_ov_slurp(const char *, size_t *);

int
main(int argc, char *argv[])
{
	static const struct {
		const char	*text;
		int		 want;	/* 0 same, 1 higher, -1 lower */
	} ctx[] = {
		{ "It arrived cracked and flimsy", -1 },
		{ "The case is flimsy and I want a refund", -1 },
		{ "Sturdy, comfy and not overpriced!", 1 },
		{ "a real bargain", 1 },
		{ "The food was GOOD!", 0 },
		{ "Not bad at all, I love it :)", 0 },
	};
	struct test_ov_word	 words[TEST_OV_MAX_WORDS];
	struct model		*base, *ov;
	struct model_result	 rb, ro;
	char			 errbuf[512], path[1024], hex[SHA256_HEX_LEN];
	const char		*basedir, *ovdir, *smoke;
	char			*manifest;
	size_t			 n, i, mlen;
	double			 v, want;
	int			 ok;

	base = NULL;
	ov = NULL;
	basedir = argc > 1 ? argv[1] : "src/model/vader";
	ovdir = argc > 2 ? argv[2] : "src/model/versions/vader/3.4.0";
	smoke = argc > 3 ? argv[3] : "tests/data/sentiment_smoke.tsv";

	if ((base = model_load(basedir, errbuf, sizeof(errbuf))) == NULL) {
		tap_ok(0, "model_load(%s): %s", basedir, errbuf);
		goto cleanup;
	}
	if ((ov = model_load(ovdir, errbuf, sizeof(errbuf))) == NULL) {
		tap_ok(0, "model_load(%s): %s", ovdir, errbuf);
		goto cleanup;
	}
	tap_ok(1, "base and overlay versions load");
	tap_is_str(model_name(ov), "vader", "overlay version is a vader");
	tap_ok(strcmp(model_version(ov), model_version(base)) != 0,
	    "overlay has its own version (%s vs %s)", model_version(ov),
	    model_version(base));
	tap_ok(strstr(model_description(ov), "overlay") != NULL,
	    "description read from the MANIFEST");
	tap_is_str(model_description(base), "", "no description: empty");

	snprintf(path, sizeof(path), "%s/MANIFEST", ovdir);
	if ((manifest = test_ov_slurp(path, &mlen)) != NULL) {
		test_ov_hex(manifest, mlen, hex);
		tap_is_str(model_sha256(ov), hex,
		    "model sha256 is the MANIFEST's");
		free(manifest);
	} else {
		tap_ok(0, "read %s", path);
	}
	tap_ok(strcmp(model_sha256(ov), model_sha256(base)) != 0,
	    "versions have different sha256");

	snprintf(path, sizeof(path), "%s/reviews_overlay.txt", ovdir);
	n = test_ov_read_words(path, words, TEST_OV_MAX_WORDS);
	tap_ok(n >= 10, "overlay has %zu words", n);

	/* Each word alone: normalize(v) = v / sqrt(v * v + 15). */
	ok = 1;
	for (i = 0; i < n; i++) {
		v = words[i].valence;
		want = test_ov_round4(v / sqrt(v * v + 15.0));
		if (!model_predict(ov, words[i].word, strlen(words[i].word),
		    &ro) || !model_predict(base, words[i].word,
		    strlen(words[i].word), &rb)) {
			ok = tap_ok(0, "'%s' scored", words[i].word);
			continue;
		}
		if (ro.compound != want) {
			ok = 0;
			tap_diag("'%s': compound %.4f, want %.4f",
			    words[i].word, ro.compound, want);
		}
		if (ro.compound == rb.compound) {
			ok = 0;
			tap_diag("'%s': same compound as the base (%.4f)",
			    words[i].word, rb.compound);
		}
	}
	tap_ok(ok, "every overlay word alone scores its own valence, "
	    "unlike the base");

	/* In context, the overlay word moves the score its way. */
	for (i = 0; i < sizeof(ctx) / sizeof(ctx[0]); i++) {
		if (!model_predict(base, ctx[i].text, strlen(ctx[i].text),
		    &rb) || !model_predict(ov, ctx[i].text,
		    strlen(ctx[i].text), &ro)) {
			tap_ok(0, "'%s' scored", ctx[i].text);
			continue;
		}
		switch (ctx[i].want) {
		case 0:
			ok = test_ov_same(&rb, &ro);
			break;
		case 1:
			ok = ro.compound > rb.compound;
			break;
		default:
			ok = ro.compound < rb.compound;
			break;
		}
		tap_ok(ok, "'%s': base %.4f %s, overlay %.4f %s", ctx[i].text,
		    rb.compound, rb.label, ro.compound, ro.label);
	}

	test_ov_smoke(base, ov, smoke, words, n);
	test_ov_errors(basedir);

cleanup:
	model_free(base);
	model_free(ov);
	return (tap_done());
}

/* Every smoke text without an overlay word scores the same in both. */
static void
test_ov_smoke(const struct model *base, const struct model *ov,
    const char *data, const struct test_ov_word *words, size_t nwords)
{
	struct model_result	 rb, ro;
	FILE			*fp;
	char			*line, *tab;
	size_t			 cap, same, compared, skipped, lineno;
	ssize_t			 len;
	int			 header;

	line = NULL;
	cap = 0;
	same = compared = skipped = lineno = 0;
	header = 1;
	if ((fp = fopen(data, "r")) == NULL) {
		tap_ok(0, "open %s: %s", data, strerror(errno));
		return;
	}
	while ((len = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (header && line[0] == '#')
			continue;
		if (header) {
			header = 0;
			continue;
		}
		if ((tab = strchr(line, '\t')) == NULL)
			continue;
		*tab = '\0';
		if (test_ov_has_word(line, words, nwords)) {
			skipped++;
			continue;
		}
		compared++;
		if (model_predict(base, line, strlen(line), &rb) &&
		    model_predict(ov, line, strlen(line), &ro) &&
		    test_ov_same(&rb, &ro))
			same++;
		else
			tap_diag("%s:%zu differs: '%s'", data, lineno, line);
	}
	free(line);
	fclose(fp);
	tap_ok(compared >= 200 && same == compared,
	    "smoke texts without overlay words: %zu of %zu identical "
	    "(%zu with overlay words skipped)", same, compared, skipped);
}

static void
test_ov_errors(const char *basedir)
{
	char		 tmpl[] = "/tmp/test_vader_overlay.XXXXXX";
	char		 lex[1024], emoji[1024], path[1024], want[1200];
	char		 mf[2048], lhex[SHA256_HEX_LEN], ehex[SHA256_HEX_LEN];
	char		 ohex[SHA256_HEX_LEN], errbuf[512];
	const char	*bad;
	char		*buf, *dir;
	size_t		 len;
	struct model	*m;
	int		 i;
	static const struct {
		const char	*overlay;
		int		 line;
		const char	*reason;
	} cases[] = {
		{ "refund\t-1.2\nbroke\tabc\n", 2, "valence 'abc'" },
		{ "refund\t-1.2\t0.5\n", 1, "expected 2 or 4" },
		{ "Refund\t-1.2\n", 1, "token is not lower case" },
		{ "refund\t-9\n", 1, "valence -9 outside" },
		{ "\n\n", 2, "no entries" },
	};

	if ((dir = mkdtemp(tmpl)) == NULL) {
		tap_ok(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	snprintf(lex, sizeof(lex), "%s/vader_lexicon.txt", basedir);
	snprintf(emoji, sizeof(emoji), "%s/emoji_utf8_lexicon.txt", basedir);
	if ((buf = test_ov_slurp(lex, &len)) == NULL)
		goto cleanup;
	test_ov_hex(buf, len, lhex);
	snprintf(path, sizeof(path), "%s/vader_lexicon.txt", dir);
	test_ov_write(path, buf);
	free(buf);
	if ((buf = test_ov_slurp(emoji, &len)) == NULL)
		goto cleanup;
	test_ov_hex(buf, len, ehex);
	snprintf(path, sizeof(path), "%s/emoji_utf8_lexicon.txt", dir);
	test_ov_write(path, buf);
	free(buf);

	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		bad = cases[i].overlay;
		test_ov_hex(bad, strlen(bad), ohex);
		snprintf(path, sizeof(path), "%s/ov.txt", dir);
		test_ov_write(path, bad);
		snprintf(mf, sizeof(mf), "name=vader\nversion=9.0.0\n"
		    "lexicon=vader_lexicon.txt\nlexicon_sha256=%s\n"
		    "emoji_lexicon=emoji_utf8_lexicon.txt\n"
		    "emoji_lexicon_sha256=%s\noverlay=ov.txt\n"
		    "overlay_sha256=%s\n", lhex, ehex, ohex);
		snprintf(path, sizeof(path), "%s/MANIFEST", dir);
		test_ov_write(path, mf);
		m = model_load(dir, errbuf, sizeof(errbuf));
		snprintf(want, sizeof(want), "%s/ov.txt:%d: %s", dir,
		    cases[i].line, cases[i].reason);
		if (!tap_ok(m == NULL && strncmp(errbuf, want,
		    strlen(want)) == 0, "bad overlay refused: %s",
		    cases[i].reason))
			tap_diag("got '%s', want '%s...'", errbuf, want);
		model_free(m);
	}

	/* The overlay changed after its sha256 was written. */
	snprintf(path, sizeof(path), "%s/ov.txt", dir);
	test_ov_write(path, "refund\t-1.2\n");
	test_ov_hex("refund\t-1.2\n", 12, ohex);
	snprintf(mf, sizeof(mf), "name=vader\nversion=9.0.0\n"
	    "lexicon=vader_lexicon.txt\nlexicon_sha256=%s\n"
	    "emoji_lexicon=emoji_utf8_lexicon.txt\n"
	    "emoji_lexicon_sha256=%s\noverlay=ov.txt\n"
	    "overlay_sha256=%s\n", lhex, ehex, ohex);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	test_ov_write(path, mf);
	m = model_load(dir, errbuf, sizeof(errbuf));
	tap_ok(m != NULL && model_predict(m, "refund", 6, &(struct
	    model_result){ 0 }), "a one-word overlay loads: %s", errbuf);
	model_free(m);
	snprintf(path, sizeof(path), "%s/ov.txt", dir);
	test_ov_write(path, "refund\t-1.3\n");
	m = model_load(dir, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s/ov.txt:0: sha256 mismatch", dir);
	tap_ok(m == NULL && strncmp(errbuf, want, strlen(want)) == 0,
	    "edited overlay refused: %s", errbuf);
	model_free(m);

	/* overlay without overlay_sha256. */
	snprintf(mf, sizeof(mf), "name=vader\nversion=9.0.0\n"
	    "lexicon=vader_lexicon.txt\nlexicon_sha256=%s\n"
	    "emoji_lexicon=emoji_utf8_lexicon.txt\n"
	    "emoji_lexicon_sha256=%s\noverlay=ov.txt\n", lhex, ehex);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	test_ov_write(path, mf);
	m = model_load(dir, errbuf, sizeof(errbuf));
	snprintf(want, sizeof(want), "%s/MANIFEST:7: missing key "
	    "'overlay_sha256'", dir);
	tap_ok(m == NULL && strcmp(errbuf, want) == 0,
	    "overlay without its sha256 refused: %s", errbuf);
	model_free(m);

cleanup:
	snprintf(path, sizeof(path), "%s/ov.txt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vader_lexicon.txt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/emoji_utf8_lexicon.txt", dir);
	unlink(path);
	rmdir(dir);
}

/* word TAB valence [TAB ...] lines of an overlay file. */
static size_t
test_ov_read_words(const char *path, struct test_ov_word *w, size_t max)
{
	FILE	*fp;
	char	 line[256], *tab;
	size_t	 n;

	n = 0;
	if ((fp = fopen(path, "r")) == NULL)
		return (0);
	while (n < max && fgets(line, sizeof(line), fp) != NULL) {
		if ((tab = strchr(line, '\t')) == NULL ||
		    (size_t)(tab - line) >= TEST_OV_WORD_MAX)
			continue;
		memcpy(w[n].word, line, (size_t)(tab - line));
		w[n].word[tab - line] = '\0';
		w[n].valence = strtod(tab + 1, NULL);
		n++;
	}
	fclose(fp);
	return (n);
}

/* Whether text has one of the words (ASCII letters, any case). */
static int
test_ov_has_word(const char *text, const struct test_ov_word *w, size_t n)
{
	char		tok[TEST_OV_WORD_MAX];
	const char	*p;
	size_t		len, i;

	for (p = text; *p != '\0';) {
		while (*p != '\0' && !isalpha((unsigned char)*p))
			p++;
		len = 0;
		while (isalpha((unsigned char)*p)) {
			if (len + 1 < sizeof(tok))
				tok[len++] = (char)tolower((unsigned char)*p);
			p++;
		}
		tok[len] = '\0';
		for (i = 0; len > 0 && i < n; i++) {
			if (strcmp(tok, w[i].word) == 0)
				return (1);
		}
	}
	return (0);
}

/* round(x, 4) for the short values here (no exact ties occur). */
static double
test_ov_round4(double x)
{
	double	r;

	r = round(x * 1e4) / 1e4;
	return (r == 0.0 ? 0.0 : r);
}

static int
test_ov_same(const struct model_result *a, const struct model_result *b)
{
	return (a->compound == b->compound && a->pos == b->pos &&
	    a->neu == b->neu && a->neg == b->neg &&
	    a->confidence == b->confidence && strcmp(a->label, b->label) == 0);
}

static int
test_ov_write(const char *path, const char *data)
{
	FILE	*fp;
	int	 ok;

	if ((fp = fopen(path, "wb")) == NULL)
		return (0);
	ok = fwrite(data, 1, strlen(data), fp) == strlen(data);
	return (fclose(fp) == 0 && ok);
}

static void
test_ov_hex(const char *buf, size_t len, char *hex)
{
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];

	sha256_init(&ctx);
	sha256_update(&ctx, buf, len);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
}

static char *
test_ov_slurp(const char *path, size_t *len)
{
	FILE		*fp;
	struct stat	 st;
	char		*buf;

	buf = NULL;
	if ((fp = fopen(path, "rb")) == NULL)
		return (NULL);
	if (fstat(fileno(fp), &st) == 0 &&
	    (buf = malloc((size_t)st.st_size + 1)) != NULL) {
		*len = fread(buf, 1, (size_t)st.st_size, fp);
		buf[*len] = '\0';
	}
	fclose(fp);
	return (buf);
}
