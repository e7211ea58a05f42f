/*
 * model.c: the model interface of model.h on top of the VADER port.
 *
 * Loads and checks the artifact (MANIFEST, then each lexicon against the
 * sha256 the manifest gives), and turns the raw VADER scores into what the
 * server returns: rounded like the reference, plus a label and a
 * confidence.
 *
 * MANIFEST is "key=value" lines; blank lines and lines starting with '#'
 * are ignored.  Every key is required, once:
 *   name=vader                         the only model this code implements
 *   version=3.3.2                      semver X.Y.Z
 *   lexicon=vader_lexicon.txt          file names inside the artifact dir
 *   lexicon_sha256=<64 hex digits>
 *   emoji_lexicon=emoji_utf8_lexicon.txt
 *   emoji_lexicon_sha256=<64 hex digits>
 * and optional, at most once:
 *   overlay=reviews_overlay.txt        a domain lexicon applied on top
 *   overlay_sha256=<64 hex digits>     (both or neither)
 *   description=free text              shown by GET /models
 *
 * A model's sha256 is the MANIFEST's: it names every file's sha256, so it
 * identifies the whole artifact.
 */
#include <sys/stat.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "sha256.h"
#include "vader.h"

#define MODEL_MANIFEST		"MANIFEST"
#define MODEL_NAME		"vader"
#define MODEL_FILE_MAX		(16 * 1024 * 1024)
#define MODEL_PATH_MAX		4096
#define MODEL_VALUE_MAX		128

/* The label thresholds of the reference's README. */
#define MODEL_THRESHOLD		0.05

enum model_key {
	MODEL_K_NAME,
	MODEL_K_VERSION,
	MODEL_K_LEXICON,
	MODEL_K_LEXICON_SHA,
	MODEL_K_EMOJI,
	MODEL_K_EMOJI_SHA,
	MODEL_K_REQUIRED,		/* the keys above are required */
	MODEL_K_OVERLAY = MODEL_K_REQUIRED,
	MODEL_K_OVERLAY_SHA,
	MODEL_K_DESCRIPTION,
	MODEL_K_COUNT
};

struct model_manifest {
	char	value[MODEL_K_COUNT][MODEL_VALUE_MAX];
	size_t	line[MODEL_K_COUNT];	/* 0: not seen */
};

struct model {
	char			name[MODEL_VALUE_MAX];
	char			version[MODEL_VALUE_MAX];
	char			description[MODEL_VALUE_MAX];
	char			sha256[SHA256_HEX_LEN];
	struct vader_lexicon	lex;
};

static const char *const model_keys[MODEL_K_COUNT] = {
	"name",
	"version",
	"lexicon",
	"lexicon_sha256",
	"emoji_lexicon",
	"emoji_lexicon_sha256",
	"overlay",
	"overlay_sha256",
	"description",
};

static int	model_manifest_parse(struct model_manifest *, const char *,
		    const char *, size_t, char *, size_t);
static int	model_manifest_value(enum model_key, const char *, size_t,
		    const char **);
static int	model_file_read(const char *, char **, size_t *, char *,
		    size_t);
static int	model_file_check(const char *, const char *, size_t,
		    const char *, size_t, char *, size_t);
static int	model_path(char *, size_t, const char *, const char *);
static void	model_digest(const char *, size_t, char *);
static int	model_semver(const char *);
static double	model_round(double, int);
static void	model_error(char *, size_t, const char *, size_t,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/*
 * Loads the artifact in dir.  Returns the model, or NULL with
 * "path:line: reason" in errbuf (line 0: the file as a whole).
 */
struct model *
model_load(const char *dir, char *errbuf, size_t errlen)
{
	struct model_manifest	 mf;
	struct model		*m, *ret;
	char			 mpath[MODEL_PATH_MAX];
	char			 lpath[MODEL_PATH_MAX], epath[MODEL_PATH_MAX];
	char			 opath[MODEL_PATH_MAX];
	char			*mfile, *lfile, *efile, *ofile;
	size_t			 mlen, llen, elen, olen;

	ret = NULL;
	m = NULL;
	mfile = NULL;
	lfile = NULL;
	efile = NULL;
	ofile = NULL;
	olen = 0;
	opath[0] = '\0';
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if (dir == NULL || !model_path(mpath, sizeof(mpath), dir,
	    MODEL_MANIFEST)) {
		model_error(errbuf, errlen, dir != NULL ? dir : "(null)", 0,
		    "bad artifact directory");
		goto cleanup;
	}
	if (!model_file_read(mpath, &mfile, &mlen, errbuf, errlen))
		goto cleanup;
	if (!model_manifest_parse(&mf, mpath, mfile, mlen, errbuf, errlen))
		goto cleanup;

	if (!model_path(lpath, sizeof(lpath), dir,
	    mf.value[MODEL_K_LEXICON]) ||
	    !model_path(epath, sizeof(epath), dir, mf.value[MODEL_K_EMOJI])) {
		model_error(errbuf, errlen, mpath, 0, "path too long");
		goto cleanup;
	}
	if (!model_file_read(lpath, &lfile, &llen, errbuf, errlen))
		goto cleanup;
	if (!model_file_check(lpath, lfile, llen,
	    mf.value[MODEL_K_LEXICON_SHA], mf.line[MODEL_K_LEXICON_SHA],
	    errbuf, errlen))
		goto cleanup;
	if (!model_file_read(epath, &efile, &elen, errbuf, errlen))
		goto cleanup;
	if (!model_file_check(epath, efile, elen,
	    mf.value[MODEL_K_EMOJI_SHA], mf.line[MODEL_K_EMOJI_SHA],
	    errbuf, errlen))
		goto cleanup;
	if (mf.line[MODEL_K_OVERLAY] != 0) {
		if (!model_path(opath, sizeof(opath), dir,
		    mf.value[MODEL_K_OVERLAY])) {
			model_error(errbuf, errlen, mpath, 0, "path too long");
			goto cleanup;
		}
		if (!model_file_read(opath, &ofile, &olen, errbuf, errlen))
			goto cleanup;
		if (!model_file_check(opath, ofile, olen,
		    mf.value[MODEL_K_OVERLAY_SHA],
		    mf.line[MODEL_K_OVERLAY_SHA], errbuf, errlen))
			goto cleanup;
	}

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		model_error(errbuf, errlen, mpath, 0, "out of memory");
		goto cleanup;
	}
	memcpy(m->name, mf.value[MODEL_K_NAME], sizeof(m->name));
	memcpy(m->version, mf.value[MODEL_K_VERSION], sizeof(m->version));
	memcpy(m->description, mf.value[MODEL_K_DESCRIPTION],
	    sizeof(m->description));
	model_digest(mfile, mlen, m->sha256);

	/* The lexicon takes over the file images, even on failure. */
	if (!vader_lexicon_load_overlay(&m->lex, lpath, lfile, llen, opath,
	    ofile, olen, epath, efile, elen, errbuf, errlen)) {
		lfile = NULL;
		efile = NULL;
		ofile = NULL;
		goto cleanup;
	}
	lfile = NULL;
	efile = NULL;
	ofile = NULL;

	ret = m;
	m = NULL;

cleanup:
	model_free(m);
	free(mfile);
	free(lfile);
	free(efile);
	free(ofile);
	return (ret);
}

void
model_free(struct model *m)
{
	if (m == NULL)
		return;
	vader_lexicon_cleanup(&m->lex);
	free(m);
}

const char *
model_name(const struct model *m)
{
	return (m->name);
}

const char *
model_version(const struct model *m)
{
	return (m->version);
}

const char *
model_description(const struct model *m)
{
	return (m->description);
}

const char *
model_sha256(const struct model *m)
{
	return (m->sha256);
}

/*
 * Scores text.  Returns 1 with *out filled, or 0 for invalid input (see
 * model.h); *out is untouched then.
 */
int
model_predict(const struct model *m, const char *text, size_t len,
    struct model_result *out)
{
	struct vader_scores	raw;
	double			c, conf;
	int			ret;

	ret = 0;
	if (m == NULL || out == NULL || (text == NULL && len > 0))
		goto cleanup;
	if (len > MODEL_MAX_INPUT)
		goto cleanup;
	if (len == 0)
		text = "";
	/* vader_score decodes, and so validates, every non-ASCII byte. */
	if (!vader_score(&m->lex, text, len, &raw))
		goto cleanup;

	c = model_round(raw.compound, 4);
	out->compound = c;
	out->pos = model_round(raw.pos, 3);
	out->neu = model_round(raw.neu, 3);
	out->neg = model_round(raw.neg, 3);

	if (c >= MODEL_THRESHOLD) {
		out->label = "positive";
		conf = (c - MODEL_THRESHOLD) / (1.0 - MODEL_THRESHOLD);
	} else if (c <= -MODEL_THRESHOLD) {
		out->label = "negative";
		conf = (-MODEL_THRESHOLD - c) / (1.0 - MODEL_THRESHOLD);
	} else {
		out->label = "neutral";
		conf = (MODEL_THRESHOLD - fabs(c)) / MODEL_THRESHOLD;
	}
	if (conf < 0.0)
		conf = 0.0;
	else if (conf > 1.0)
		conf = 1.0;
	out->confidence = conf;
	ret = 1;

cleanup:
	return (ret);
}

static int
model_manifest_parse(struct model_manifest *mf, const char *path,
    const char *s, size_t len, char *errbuf, size_t errlen)
{
	const char	*line, *end, *next, *eq, *value;
	size_t		 lineno, klen, vlen;
	int		 k, ret;
	const char	*why;

	ret = 0;
	memset(mf, 0, sizeof(*mf));
	lineno = 0;
	for (line = s; line < s + len; line = next) {
		lineno++;
		if ((end = memchr(line, '\n', (size_t)(s + len - line))) ==
		    NULL) {
			end = s + len;
			next = end;
		} else {
			next = end + 1;
		}
		if (end == line || *line == '#')
			continue;

		if ((eq = memchr(line, '=', (size_t)(end - line))) == NULL) {
			model_error(errbuf, errlen, path, lineno,
			    "expected key=value");
			goto cleanup;
		}
		klen = (size_t)(eq - line);
		value = eq + 1;
		vlen = (size_t)(end - value);
		for (k = 0; k < MODEL_K_COUNT; k++) {
			if (strlen(model_keys[k]) == klen &&
			    memcmp(model_keys[k], line, klen) == 0)
				break;
		}
		if (k == MODEL_K_COUNT) {
			model_error(errbuf, errlen, path, lineno,
			    "unknown key '%.*s'", (int)klen, line);
			goto cleanup;
		}
		if (mf->line[k] != 0) {
			model_error(errbuf, errlen, path, lineno,
			    "duplicate key '%s' (first on line %zu)",
			    model_keys[k], mf->line[k]);
			goto cleanup;
		}
		if (vlen >= MODEL_VALUE_MAX || memchr(value, '\0', vlen)) {
			model_error(errbuf, errlen, path, lineno,
			    "bad value for '%s'", model_keys[k]);
			goto cleanup;
		}
		memcpy(mf->value[k], value, vlen);
		mf->value[k][vlen] = '\0';
		mf->line[k] = lineno;
		if (!model_manifest_value(k, mf->value[k], vlen, &why)) {
			model_error(errbuf, errlen, path, lineno,
			    "%s '%s'", why, mf->value[k]);
			goto cleanup;
		}
	}

	for (k = 0; k < MODEL_K_REQUIRED; k++) {
		if (mf->line[k] == 0) {
			model_error(errbuf, errlen, path, lineno,
			    "missing key '%s'", model_keys[k]);
			goto cleanup;
		}
	}
	/* An overlay and its sha256 come together. */
	if ((mf->line[MODEL_K_OVERLAY] == 0) !=
	    (mf->line[MODEL_K_OVERLAY_SHA] == 0)) {
		k = mf->line[MODEL_K_OVERLAY] == 0 ? MODEL_K_OVERLAY :
		    MODEL_K_OVERLAY_SHA;
		model_error(errbuf, errlen, path, lineno,
		    "missing key '%s'", model_keys[k]);
		goto cleanup;
	}
	ret = 1;

cleanup:
	return (ret);
}

/* Checks one manifest value; on failure *why says what is wrong. */
static int
model_manifest_value(enum model_key k, const char *v, size_t len,
    const char **why)
{
	size_t		i;

	switch (k) {
	case MODEL_K_NAME:
		*why = "unsupported model name (want " MODEL_NAME ")";
		return (strcmp(v, MODEL_NAME) == 0);
	case MODEL_K_VERSION:
		*why = "version is not semver X.Y.Z";
		return (model_semver(v));
	case MODEL_K_DESCRIPTION:
		*why = "description must be printable";
		for (i = 0; i < len; i++) {
			if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
				return (0);
		}
		return (1);
	case MODEL_K_LEXICON:
	case MODEL_K_EMOJI:
	case MODEL_K_OVERLAY:
		/* A plain name: the artifact is one directory. */
		*why = "file name must be a plain name inside the artifact";
		if (len == 0 || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
			return (0);
		return (strchr(v, '/') == NULL);
	case MODEL_K_LEXICON_SHA:
	case MODEL_K_EMOJI_SHA:
	case MODEL_K_OVERLAY_SHA:
		*why = "sha256 must be 64 lower-case hex digits";
		if (len != SHA256_HEX_LEN - 1)
			return (0);
		for (i = 0; i < len; i++) {
			if (!((v[i] >= '0' && v[i] <= '9') ||
			    (v[i] >= 'a' && v[i] <= 'f')))
				return (0);
		}
		return (1);
	default:
		*why = "unknown key";
		return (0);
	}
}

/* Semantic Versioning 2.0.0 core only: three numbers, no leading zeros. */
static int
model_semver(const char *v)
{
	int		part, digits;
	const char	*p;

	part = 0;
	digits = 0;
	for (p = v;; p++) {
		if (*p >= '0' && *p <= '9') {
			if (digits == 1 && p[-1] == '0')
				return (0);
			if (++digits > 9)
				return (0);
			continue;
		}
		if (digits == 0)
			return (0);
		if (*p == '.' && part < 2) {
			part++;
			digits = 0;
			continue;
		}
		return (*p == '\0' && part == 2);
	}
}

/* Reads a whole file into a new buffer (freed by the caller). */
static int
model_file_read(const char *path, char **out, size_t *outlen, char *errbuf,
    size_t errlen)
{
	FILE		*fp;
	struct stat	 st;
	char		*buf;
	size_t		 len;
	int		 ret;

	ret = 0;
	buf = NULL;
	if ((fp = fopen(path, "rb")) == NULL) {
		model_error(errbuf, errlen, path, 0, "cannot open: %s",
		    strerror(errno));
		goto cleanup;
	}
	if (fstat(fileno(fp), &st) == -1 || !S_ISREG(st.st_mode)) {
		model_error(errbuf, errlen, path, 0, "not a regular file");
		goto cleanup;
	}
	if (st.st_size > MODEL_FILE_MAX) {
		model_error(errbuf, errlen, path, 0,
		    "larger than %d bytes", MODEL_FILE_MAX);
		goto cleanup;
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len + 1)) == NULL) {
		model_error(errbuf, errlen, path, 0, "out of memory");
		goto cleanup;
	}
	if (fread(buf, 1, len, fp) != len || ferror(fp)) {
		model_error(errbuf, errlen, path, 0, "read error");
		goto cleanup;
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	buf = NULL;
	ret = 1;

cleanup:
	free(buf);
	if (fp != NULL)
		fclose(fp);
	return (ret);
}

/* Compares the sha256 of a file image with the manifest's. */
static int
model_file_check(const char *path, const char *buf, size_t len,
    const char *want, size_t mline, char *errbuf, size_t errlen)
{
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];
	char			got[SHA256_HEX_LEN];

	sha256_init(&ctx);
	sha256_update(&ctx, buf, len);
	if (!sha256_final(&ctx, digest)) {
		model_error(errbuf, errlen, path, 0,
		    "sha256 could not be computed (libcrypto failed)");
		return (0);
	}
	sha256_hex(digest, got);
	if (strcmp(got, want) != 0) {
		model_error(errbuf, errlen, path, 0,
		    "sha256 mismatch: file has %s, MANIFEST line %zu wants %s",
		    got, mline, want);
		return (0);
	}
	return (1);
}

/* The sha256 of buf in lower-case hex (SHA256_HEX_LEN bytes with NUL). */
static void
model_digest(const char *buf, size_t len, char *hex)
{
	struct sha256_ctx	ctx;
	uint8_t			digest[SHA256_DIGEST_LEN];

	sha256_init(&ctx);
	sha256_update(&ctx, buf, len);
	sha256_final(&ctx, digest);
	sha256_hex(digest, hex);
}

static int
model_path(char *out, size_t outlen, const char *dir, const char *name)
{
	int	n;

	n = snprintf(out, outlen, "%s/%s", dir, name);
	return (n >= 0 && (size_t)n < outlen);
}

/*
 * Python's round(x, digits) for |x| <= 1: the decimal nearest to the
 * exact binary value, ties to even, returned as the nearest double.  With
 * x = m * 2^e (m < 2^53), x * 10^d = m * 5^d * 2^(e + d), an exact integer
 * scaled by a power of two, so the rounding is done on integers.  A zero
 * result is +0.0 (the reference can give -0.0).
 */
static double
model_round(double x, int digits)
{
	static const uint64_t	pow5[] = { 1, 5, 25, 125, 625 };
	static const double	pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4 };
	uint64_t		mant, scaled, q, rem, half;
	int			exp, shift, neg;
	double			frac;

	if (x == 0.0 || digits < 0 || digits > 4 || !isfinite(x) ||
	    fabs(x) > 1.0)
		return (x == 0.0 ? 0.0 : x);

	neg = x < 0;
	frac = frexp(fabs(x), &exp);		/* fabs(x) = frac * 2^exp */
	mant = (uint64_t)ldexp(frac, 53);	/* exact: frac has 53 bits */
	scaled = mant * pow5[digits];		/* < 2^53 * 2^10 */
	shift = 53 - exp - digits;		/* >= 48 for |x| <= 1 */

	if (shift >= 64) {
		q = 0;		/* scaled / 2^shift < 0.5 */
	} else {
		q = scaled >> shift;
		rem = scaled & ((UINT64_C(1) << shift) - 1);
		half = UINT64_C(1) << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
	}
	if (q == 0)
		return (0.0);
	return (neg ? -((double)q / pow10[digits]) : (double)q / pow10[digits]);
}

static void
model_error(char *errbuf, size_t errlen, const char *path, size_t lineno,
    const char *fmt, ...)
{
	va_list		ap;
	int		n;

	if (errbuf == NULL || errlen == 0)
		return;
	n = snprintf(errbuf, errlen, "%s:%zu: ", path, lineno);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
}
