/*
 * bench_model.c: micro-benchmark of model_predict (not a test: it prints
 * figures and never fails on slowness).
 *
 * Cases: 100- and 1000-character English-ish texts built from lexicon
 * words, boosters, negations, "but", punctuation, a little ALL CAPS and
 * the odd emoji (64 different texts per size, used in turn), and 1000
 * emoji.  For each: predictions per second over a timed batch, and the
 * p50/p99/max time of one call, each call timed on its own, over 5 rounds,
 * plus the p99 of the least disturbed round.
 *
 * Usage: bench_model [MODEL_DIR [SCALE [CASE]]]
 *   SCALE multiplies the call counts; CASE runs only the cases whose name
 *   contains it (for a profiler).
 */
#include <sys/utsname.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "model.h"

#define BENCH_MODEL_TEXTS		64
#define BENCH_MODEL_WORDS_MAX		8192
#define BENCH_MODEL_TEXT_MAX		(MODEL_MAX_INPUT + 8)
#define BENCH_MODEL_ROUNDS		5
#define BENCH_MODEL_NELEM(a)		(sizeof(a) / sizeof((a)[0]))

struct bench_model_case {
	const char	*name;
	size_t		 chars;		/* code points per text */
	int		 emoji_only;
	size_t		 calls;
};

struct bench_model_words {
	char		*file;
	const char	*word[BENCH_MODEL_WORDS_MAX];
	size_t		 len[BENCH_MODEL_WORDS_MAX];
	size_t		 n;
};

static void	bench_model_machine(void);
static int	bench_model_words_load(struct bench_model_words *,
		    const char *);
static size_t	bench_model_text(const struct bench_model_words *,
		    const struct bench_model_case *, uint32_t *, char *);
static void	bench_model_run(const struct model *,
		    const struct bench_model_words *,
		    const struct bench_model_case *, size_t);
static uint64_t	bench_model_now(void);
static int	bench_model_cmp(const void *, const void *);
static uint32_t	bench_model_rand(uint32_t *);

/* Words people write around sentiment words. */
static const char *const bench_model_filler[] = {
	"the", "a", "and", "was", "is", "it", "this", "that", "I", "we",
	"service", "food", "movie", "plot", "staff", "really", "very", "not",
	"but", "so", "kind", "of", "at", "least", "never", "no", "too",
	"with", "for", "my", "our", "they", "just", "quite", "isn't",
	"didn't", "today", "again", "place", "time",
};

static const char *const bench_model_emoji[] = {
	"\xf0\x9f\x98\x80", "\xf0\x9f\x98\x82", "\xf0\x9f\x98\x8d",
	"\xf0\x9f\x91\x8d", "\xf0\x9f\x8e\x89", "\xf0\x9f\x98\xa2",
	"\xf0\x9f\x98\xa1", "\xe2\x9d\xa4", "\xf0\x9f\x94\xa5",
	"\xf0\x9f\x99\x8f",
};

int
main(int argc, char *argv[])
{
	static const struct bench_model_case	cases[] = {
		{ "100 chars, mixed text", 100, 0, 100000 },
		{ "1000 chars, mixed text", 1000, 0, 20000 },
		{ "1000 emoji", 1000, 1, 4000 },
	};
	struct bench_model_words	*words;
	struct model		*m;
	const char		*dir, *only;
	char			 errbuf[512], path[4096];
	uint64_t		 t0;
	size_t			 i, scale;

	if (argc > 1)
		dir = argv[1];
	else if ((dir = getenv("MODEL_DIR")) == NULL || *dir == '\0')
		dir = "src/model/vader";
	scale = argc > 2 ? strtoul(argv[2], NULL, 10) : 1;
	if (scale == 0)
		scale = 1;
	only = argc > 3 ? argv[3] : NULL;

	bench_model_machine();

	t0 = bench_model_now();
	if ((m = model_load(dir, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "bench_model: %s\n", errbuf);
		return (1);
	}
	printf("model:    %s %s from %s, loaded in %.1f ms\n", model_name(m),
	    model_version(m), dir, (double)(bench_model_now() - t0) / 1e6);

	if ((words = calloc(1, sizeof(*words))) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/vader_lexicon.txt", dir);
	if (!bench_model_words_load(words, path)) {
		fprintf(stderr, "bench_model: cannot read words from %s\n",
		    path);
		return (1);
	}

	printf("\n%-24s %8s %11s %8s %8s %8s %9s\n", "case", "calls", "pred/s",
	    "p50 us", "p99 us", "p99 best", "max us");
	printf("%-24s %8s %11s %8s %8s %8s %9s\n", "", "", "(batch)",
	    "", "", "round", "");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (only == NULL || strstr(cases[i].name, only) != NULL)
			bench_model_run(m, words, &cases[i], scale);
	}

	free(words->file);
	free(words);
	model_free(m);
	return (0);
}

static void
bench_model_run(const struct model *m, const struct bench_model_words *words,
    const struct bench_model_case *c, size_t scale)
{
	static char		 text[BENCH_MODEL_TEXTS][BENCH_MODEL_TEXT_MAX];
	struct model_result	 r;
	size_t			 len[BENCH_MODEL_TEXTS], i, calls, bytes, total;
	uint64_t		*ns, t0, t1, batch, best99;
	int			 round;
	uint32_t		 seed;
	double			 sink;

	seed = 12345;
	bytes = 0;
	for (i = 0; i < BENCH_MODEL_TEXTS; i++) {
		len[i] = bench_model_text(words, c, &seed, text[i]);
		bytes += len[i];
	}
	calls = c->calls * scale;
	if ((ns = calloc(calls * BENCH_MODEL_ROUNDS, sizeof(*ns))) == NULL)
		abort();

	sink = 0.0;
	for (i = 0; i < calls / 10; i++) {	/* warm up */
		if (!model_predict(m, text[i % BENCH_MODEL_TEXTS],
		    len[i % BENCH_MODEL_TEXTS], &r))
			abort();
		sink += r.compound;
	}

	/* Throughput: one timed batch. */
	t0 = bench_model_now();
	for (i = 0; i < calls; i++) {
		model_predict(m, text[i % BENCH_MODEL_TEXTS],
		    len[i % BENCH_MODEL_TEXTS], &r);
		sink += r.compound;
	}
	batch = bench_model_now() - t0;

	/*
	 * Latency: each call timed on its own, in BENCH_MODEL_ROUNDS rounds.
	 * On a shared machine other work lands in the tail; the best round's
	 * p99 is the one least disturbed.
	 */
	best99 = UINT64_MAX;
	for (round = 0; round < BENCH_MODEL_ROUNDS; round++) {
		for (i = 0; i < calls; i++) {
			t0 = bench_model_now();
			model_predict(m, text[i % BENCH_MODEL_TEXTS],
			    len[i % BENCH_MODEL_TEXTS], &r);
			t1 = bench_model_now();
			ns[round * calls + i] = t1 - t0;
			sink += r.compound;
		}
		qsort(ns + round * calls, calls, sizeof(*ns), bench_model_cmp);
		if (ns[round * calls + calls * 99 / 100] < best99)
			best99 = ns[round * calls + calls * 99 / 100];
	}
	total = calls * BENCH_MODEL_ROUNDS;
	qsort(ns, total, sizeof(*ns), bench_model_cmp);

	printf("%-24s %8zu %11.0f %8.2f %8.2f %8.2f %9.2f\n", c->name, total,
	    (double)calls / ((double)batch / 1e9), (double)ns[total / 2] / 1e3,
	    (double)ns[total * 99 / 100] / 1e3, (double)best99 / 1e3,
	    (double)ns[total - 1] / 1e3);
	printf("%-24s (%zu texts, %.0f bytes on average; checksum %.4f)\n", "",
	    (size_t)BENCH_MODEL_TEXTS, (double)bytes / BENCH_MODEL_TEXTS, sink);
	free(ns);
}

/*
 * One text of exactly c->chars code points: lexicon and filler words with
 * some ALL CAPS, punctuation and emoji, or only emoji.
 */
static size_t
bench_model_text(const struct bench_model_words *words,
    const struct bench_model_case *c, uint32_t *seed, char *out)
{
	const char	*w;
	size_t		 len, chars, wlen, i, r;
	int		 caps;

	len = 0;
	chars = 0;
	while (chars < c->chars) {
		if (c->emoji_only) {
			w = bench_model_emoji[bench_model_rand(seed) %
			    BENCH_MODEL_NELEM(bench_model_emoji)];
			memcpy(out + len, w, strlen(w));
			len += strlen(w);
			chars++;
			continue;
		}
		r = bench_model_rand(seed) % 100;
		caps = 0;
		if (r < 35) {
			i = bench_model_rand(seed) % words->n;
			w = words->word[i];
			wlen = words->len[i];
			caps = bench_model_rand(seed) % 20 == 0;
		} else if (r < 97) {
			w = bench_model_filler[bench_model_rand(seed) %
			    BENCH_MODEL_NELEM(bench_model_filler)];
			wlen = strlen(w);
		} else {
			w = bench_model_emoji[bench_model_rand(seed) %
			    BENCH_MODEL_NELEM(bench_model_emoji)];
			memcpy(out + len, w, strlen(w));
			len += strlen(w);
			chars++;
			goto sep;
		}
		for (i = 0; i < wlen && chars < c->chars; i++, chars++) {
			out[len++] = caps && w[i] >= 'a' && w[i] <= 'z' ?
			    (char)(w[i] - 'a' + 'A') : w[i];
		}
sep:
		if (chars >= c->chars)
			break;
		r = bench_model_rand(seed) % 30;
		if (r == 0 && chars + 2 <= c->chars) {
			memcpy(out + len, "! ", 2);
			len += 2;
			chars += 2;
		} else if (r == 1 && chars + 2 <= c->chars) {
			memcpy(out + len, ", ", 2);
			len += 2;
			chars += 2;
		} else if (r == 2 && chars + 2 <= c->chars) {
			memcpy(out + len, ". ", 2);
			len += 2;
			chars += 2;
		} else {
			out[len++] = ' ';
			chars++;
		}
	}
	out[len] = '\0';
	return (len);
}

/* Alphabetic lexicon words (the rest are emoticons). */
static int
bench_model_words_load(struct bench_model_words *words, const char *path)
{
	FILE	*fp;
	long	 size;
	char	*p, *end, *tab, *nl;
	int	 alpha;

	if ((fp = fopen(path, "rb")) == NULL)
		return (0);
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) <= 0 ||
	    fseek(fp, 0, SEEK_SET) != 0 ||
	    (words->file = malloc((size_t)size + 1)) == NULL ||
	    fread(words->file, 1, (size_t)size, fp) != (size_t)size) {
		fclose(fp);
		return (0);
	}
	fclose(fp);
	words->file[size] = '\0';

	end = words->file + size;
	for (p = words->file; p < end && words->n < BENCH_MODEL_WORDS_MAX;
	    p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((tab = memchr(p, '\t', (size_t)(nl - p))) == NULL)
			continue;
		alpha = 1;
		for (char *q = p; q < tab; q++) {
			if (!((*q >= 'a' && *q <= 'z') || *q == '-'))
				alpha = 0;
		}
		if (alpha && tab > p) {
			words->word[words->n] = p;
			words->len[words->n] = (size_t)(tab - p);
			words->n++;
		}
	}
	return (words->n > 0);
}

static void
bench_model_machine(void)
{
	struct utsname	 u;
	FILE		*fp;
	char		 line[512], *p;
	const char	*cpu;

	cpu = "unknown";
	if ((fp = fopen("/proc/cpuinfo", "r")) != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			if (strncmp(line, "model name", 10) == 0 &&
			    (p = strchr(line, ':')) != NULL) {
				p += 2;
				p[strcspn(p, "\n")] = '\0';
				cpu = p;
				break;
			}
		}
		fclose(fp);
	}
	printf("machine:  %ld CPUs online, %s\n",
	    sysconf(_SC_NPROCESSORS_ONLN), cpu);
	if (uname(&u) == 0)
		printf("kernel:   %s %s %s\n", u.sysname, u.release, u.machine);
#if defined(__clang__)
	printf("compiler: clang %s\n", __clang_version__);
#elif defined(__GNUC__)
	printf("compiler: gcc %s\n", __VERSION__);
#endif
	printf("input:    MODEL_MAX_INPUT %d bytes, one thread\n",
	    MODEL_MAX_INPUT);
}

static uint64_t
bench_model_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
}

static int
bench_model_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

static uint32_t
bench_model_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return (*s);
}
