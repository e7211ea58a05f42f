/*
 * vader_lexicon.c: the dictionaries of the VADER port.
 *
 * Reads vader_lexicon.txt and emoji_utf8_lexicon.txt as the reference does
 * (a dict built in file order, so the last duplicate wins), merges in the
 * reference's word lists (boosters, negations, the words its rules compare
 * with) and builds two open-addressing hash tables that are read-only
 * afterwards: lower-cased token -> entry, and code point -> emoji
 * description.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vader.h"

#define VADER_NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/* Valences in the lexicon are means of ratings on a -4..+4 scale. */
#define VADER_VALENCE_MAX	4.0

struct vader_static_word {
	const char	*word;
	uint8_t		 flags;
	uint8_t		 id;
};

static int	vader_lexicon_words(struct vader_lexicon *, const char *,
		    const char *, size_t, int, char *, size_t);
static int	vader_lexicon_emojis(struct vader_lexicon *, const char *,
		    char *, size_t);
static int	vader_lexicon_add(struct vader_lexicon *, const char *, size_t,
		    struct vader_entry **);
static int	vader_lexicon_statics(struct vader_lexicon *, char *, size_t);
static int	vader_lexicon_number(const char *, size_t, double *);
static int	vader_lexicon_words_in(const char *, size_t, size_t *);
static size_t	vader_lexicon_lines(const char *, size_t);
static size_t	vader_lexicon_pow2(size_t);
static int	vader_lexicon_error(char *, size_t, const char *, size_t,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/*
 * BOOSTER_DICT of the reference, one-word keys.  Its three two-word keys
 * ("just enough", "kind of", "sort of") can never equal one token and are
 * matched as word pairs in vader.c.
 */
static const struct vader_static_word vader_boosters[] = {
	{ "absolutely", VADER_E_BOOST_UP, 0 },
	{ "amazingly", VADER_E_BOOST_UP, 0 },
	{ "awfully", VADER_E_BOOST_UP, 0 },
	{ "completely", VADER_E_BOOST_UP, 0 },
	{ "considerable", VADER_E_BOOST_UP, 0 },
	{ "considerably", VADER_E_BOOST_UP, 0 },
	{ "decidedly", VADER_E_BOOST_UP, 0 },
	{ "deeply", VADER_E_BOOST_UP, 0 },
	{ "effing", VADER_E_BOOST_UP, 0 },
	{ "enormous", VADER_E_BOOST_UP, 0 },
	{ "enormously", VADER_E_BOOST_UP, 0 },
	{ "entirely", VADER_E_BOOST_UP, 0 },
	{ "especially", VADER_E_BOOST_UP, 0 },
	{ "exceptional", VADER_E_BOOST_UP, 0 },
	{ "exceptionally", VADER_E_BOOST_UP, 0 },
	{ "extreme", VADER_E_BOOST_UP, 0 },
	{ "extremely", VADER_E_BOOST_UP, 0 },
	{ "fabulously", VADER_E_BOOST_UP, 0 },
	{ "flipping", VADER_E_BOOST_UP, 0 },
	{ "flippin", VADER_E_BOOST_UP, 0 },
	{ "frackin", VADER_E_BOOST_UP, 0 },
	{ "fracking", VADER_E_BOOST_UP, 0 },
	{ "fricking", VADER_E_BOOST_UP, 0 },
	{ "frickin", VADER_E_BOOST_UP, 0 },
	{ "frigging", VADER_E_BOOST_UP, 0 },
	{ "friggin", VADER_E_BOOST_UP, 0 },
	{ "fully", VADER_E_BOOST_UP, 0 },
	{ "fuckin", VADER_E_BOOST_UP, 0 },
	{ "fucking", VADER_E_BOOST_UP, 0 },
	{ "fuggin", VADER_E_BOOST_UP, 0 },
	{ "fugging", VADER_E_BOOST_UP, 0 },
	{ "greatly", VADER_E_BOOST_UP, 0 },
	{ "hella", VADER_E_BOOST_UP, 0 },
	{ "highly", VADER_E_BOOST_UP, 0 },
	{ "hugely", VADER_E_BOOST_UP, 0 },
	{ "incredible", VADER_E_BOOST_UP, 0 },
	{ "incredibly", VADER_E_BOOST_UP, 0 },
	{ "intensely", VADER_E_BOOST_UP, 0 },
	{ "major", VADER_E_BOOST_UP, 0 },
	{ "majorly", VADER_E_BOOST_UP, 0 },
	{ "more", VADER_E_BOOST_UP, 0 },
	{ "most", VADER_E_BOOST_UP, 0 },
	{ "particularly", VADER_E_BOOST_UP, 0 },
	{ "purely", VADER_E_BOOST_UP, 0 },
	{ "quite", VADER_E_BOOST_UP, 0 },
	{ "really", VADER_E_BOOST_UP, 0 },
	{ "remarkably", VADER_E_BOOST_UP, 0 },
	{ "so", VADER_E_BOOST_UP, 0 },
	{ "substantially", VADER_E_BOOST_UP, 0 },
	{ "thoroughly", VADER_E_BOOST_UP, 0 },
	{ "total", VADER_E_BOOST_UP, 0 },
	{ "totally", VADER_E_BOOST_UP, 0 },
	{ "tremendous", VADER_E_BOOST_UP, 0 },
	{ "tremendously", VADER_E_BOOST_UP, 0 },
	{ "uber", VADER_E_BOOST_UP, 0 },
	{ "unbelievably", VADER_E_BOOST_UP, 0 },
	{ "unusually", VADER_E_BOOST_UP, 0 },
	{ "utter", VADER_E_BOOST_UP, 0 },
	{ "utterly", VADER_E_BOOST_UP, 0 },
	{ "very", VADER_E_BOOST_UP, 0 },
	{ "almost", VADER_E_BOOST_DOWN, 0 },
	{ "barely", VADER_E_BOOST_DOWN, 0 },
	{ "hardly", VADER_E_BOOST_DOWN, 0 },
	{ "kinda", VADER_E_BOOST_DOWN, 0 },
	{ "kindof", VADER_E_BOOST_DOWN, 0 },
	{ "kind-of", VADER_E_BOOST_DOWN, 0 },
	{ "less", VADER_E_BOOST_DOWN, 0 },
	{ "little", VADER_E_BOOST_DOWN, 0 },
	{ "marginal", VADER_E_BOOST_DOWN, 0 },
	{ "marginally", VADER_E_BOOST_DOWN, 0 },
	{ "occasional", VADER_E_BOOST_DOWN, 0 },
	{ "occasionally", VADER_E_BOOST_DOWN, 0 },
	{ "partly", VADER_E_BOOST_DOWN, 0 },
	{ "scarce", VADER_E_BOOST_DOWN, 0 },
	{ "scarcely", VADER_E_BOOST_DOWN, 0 },
	{ "slight", VADER_E_BOOST_DOWN, 0 },
	{ "slightly", VADER_E_BOOST_DOWN, 0 },
	{ "somewhat", VADER_E_BOOST_DOWN, 0 },
	{ "sorta", VADER_E_BOOST_DOWN, 0 },
	{ "sortof", VADER_E_BOOST_DOWN, 0 },
	{ "sort-of", VADER_E_BOOST_DOWN, 0 },
};

/* NEGATE of the reference ("n't" inside a word is checked in vader.c). */
static const struct vader_static_word vader_negations[] = {
	{ "aint", VADER_E_NEGATE, 0 },
	{ "arent", VADER_E_NEGATE, 0 },
	{ "cannot", VADER_E_NEGATE, 0 },
	{ "cant", VADER_E_NEGATE, 0 },
	{ "couldnt", VADER_E_NEGATE, 0 },
	{ "darent", VADER_E_NEGATE, 0 },
	{ "didnt", VADER_E_NEGATE, 0 },
	{ "doesnt", VADER_E_NEGATE, 0 },
	{ "ain't", VADER_E_NEGATE, 0 },
	{ "aren't", VADER_E_NEGATE, 0 },
	{ "can't", VADER_E_NEGATE, 0 },
	{ "couldn't", VADER_E_NEGATE, 0 },
	{ "daren't", VADER_E_NEGATE, 0 },
	{ "didn't", VADER_E_NEGATE, 0 },
	{ "doesn't", VADER_E_NEGATE, 0 },
	{ "dont", VADER_E_NEGATE, 0 },
	{ "hadnt", VADER_E_NEGATE, 0 },
	{ "hasnt", VADER_E_NEGATE, 0 },
	{ "havent", VADER_E_NEGATE, 0 },
	{ "isnt", VADER_E_NEGATE, 0 },
	{ "mightnt", VADER_E_NEGATE, 0 },
	{ "mustnt", VADER_E_NEGATE, 0 },
	{ "neither", VADER_E_NEGATE, 0 },
	{ "don't", VADER_E_NEGATE, 0 },
	{ "hadn't", VADER_E_NEGATE, 0 },
	{ "hasn't", VADER_E_NEGATE, 0 },
	{ "haven't", VADER_E_NEGATE, 0 },
	{ "isn't", VADER_E_NEGATE, 0 },
	{ "mightn't", VADER_E_NEGATE, 0 },
	{ "mustn't", VADER_E_NEGATE, 0 },
	{ "neednt", VADER_E_NEGATE, 0 },
	{ "needn't", VADER_E_NEGATE, 0 },
	{ "never", VADER_E_NEGATE, 0 },
	{ "none", VADER_E_NEGATE, 0 },
	{ "nope", VADER_E_NEGATE, 0 },
	{ "nor", VADER_E_NEGATE, 0 },
	{ "not", VADER_E_NEGATE, 0 },
	{ "nothing", VADER_E_NEGATE, 0 },
	{ "nowhere", VADER_E_NEGATE, 0 },
	{ "oughtnt", VADER_E_NEGATE, 0 },
	{ "shant", VADER_E_NEGATE, 0 },
	{ "shouldnt", VADER_E_NEGATE, 0 },
	{ "uhuh", VADER_E_NEGATE, 0 },
	{ "wasnt", VADER_E_NEGATE, 0 },
	{ "werent", VADER_E_NEGATE, 0 },
	{ "oughtn't", VADER_E_NEGATE, 0 },
	{ "shan't", VADER_E_NEGATE, 0 },
	{ "shouldn't", VADER_E_NEGATE, 0 },
	{ "uh-uh", VADER_E_NEGATE, 0 },
	{ "wasn't", VADER_E_NEGATE, 0 },
	{ "weren't", VADER_E_NEGATE, 0 },
	{ "without", VADER_E_NEGATE, 0 },
	{ "wont", VADER_E_NEGATE, 0 },
	{ "wouldnt", VADER_E_NEGATE, 0 },
	{ "won't", VADER_E_NEGATE, 0 },
	{ "wouldn't", VADER_E_NEGATE, 0 },
	{ "rarely", VADER_E_NEGATE, 0 },
	{ "seldom", VADER_E_NEGATE, 0 },
	{ "despite", VADER_E_NEGATE, 0 },
};

/* The words the rules of the reference compare tokens with. */
static const struct vader_static_word vader_rule_words[] = {
	{ "ass", 0, VADER_W_ASS },
	{ "at", 0, VADER_W_AT },
	{ "bad", 0, VADER_W_BAD },
	{ "beating", 0, VADER_W_BEATING },
	{ "bomb", 0, VADER_W_BOMB },
	{ "broken", 0, VADER_W_BROKEN },
	{ "bus", 0, VADER_W_BUS },
	{ "but", 0, VADER_W_BUT },
	{ "death", 0, VADER_W_DEATH },
	{ "die", 0, VADER_W_DIE },
	{ "doubt", 0, VADER_W_DOUBT },
	{ "enough", 0, VADER_W_ENOUGH },
	{ "for", 0, VADER_W_FOR },
	{ "heart", 0, VADER_W_HEART },
	{ "just", 0, VADER_W_JUST },
	{ "kind", 0, VADER_W_KIND },
	{ "kiss", 0, VADER_W_KISS },
	{ "least", 0, VADER_W_LEAST },
	{ "never", 0, VADER_W_NEVER },
	{ "no", 0, VADER_W_NO },
	{ "nor", 0, VADER_W_NOR },
	{ "of", 0, VADER_W_OF },
	{ "or", 0, VADER_W_OR },
	{ "right", 0, VADER_W_RIGHT },
	{ "shit", 0, VADER_W_SHIT },
	{ "so", 0, VADER_W_SO },
	{ "sort", 0, VADER_W_SORT },
	{ "stop", 0, VADER_W_STOP },
	{ "the", 0, VADER_W_THE },
	{ "this", 0, VADER_W_THIS },
	{ "to", 0, VADER_W_TO },
	{ "very", 0, VADER_W_VERY },
	{ "without", 0, VADER_W_WITHOUT },
	{ "yeah", 0, VADER_W_YEAH },
};

/*
 * Builds lex from the two file images, which it takes over in every case
 * (the lexicon image is freed once its keys are copied, the emoji image by
 * vader_lexicon_cleanup).  Returns 1, or 0 with "path:line: reason" in
 * errbuf.
 */
int
vader_lexicon_load(struct vader_lexicon *lex, const char *lex_path,
    char *lex_file, size_t lex_len, const char *emoji_path, char *emoji_file,
    size_t emoji_len, char *errbuf, size_t errlen)
{
	return (vader_lexicon_load_overlay(lex, lex_path, lex_file, lex_len,
	    NULL, NULL, 0, emoji_path, emoji_file, emoji_len, errbuf, errlen));
}

/*
 * vader_lexicon_load with an overlay lexicon (ov_file may be NULL: none),
 * applied after the base one as the reference's dict.update() would be:
 * its words are added, or replace the base's valence.  The overlay image
 * is taken over too.
 */
int
vader_lexicon_load_overlay(struct vader_lexicon *lex, const char *lex_path,
    char *lex_file, size_t lex_len, const char *ov_path, char *ov_file,
    size_t ov_len, const char *emoji_path, char *emoji_file,
    size_t emoji_len, char *errbuf, size_t errlen)
{
	size_t		cap, i;
	int		ret;

	ret = 0;
	memset(lex, 0, sizeof(*lex));
	lex->emoji_file = emoji_file;
	lex->emoji_file_len = emoji_len;

	/* Room for every key: the files themselves bound the keys. */
	lex->keys_cap = lex_len;
	cap = vader_lexicon_lines(lex_file, lex_len);
	if (ov_file != NULL) {
		lex->keys_cap += ov_len;
		cap += vader_lexicon_lines(ov_file, ov_len);
	}
	for (i = 0; i < VADER_NELEM(vader_boosters); i++)
		lex->keys_cap += strlen(vader_boosters[i].word);
	for (i = 0; i < VADER_NELEM(vader_negations); i++)
		lex->keys_cap += strlen(vader_negations[i].word);
	for (i = 0; i < VADER_NELEM(vader_rule_words); i++)
		lex->keys_cap += strlen(vader_rule_words[i].word);
	cap += VADER_NELEM(vader_boosters) + VADER_NELEM(vader_negations) +
	    VADER_NELEM(vader_rule_words);
	if (cap > VADER_MAX_ENTRIES) {
		vader_lexicon_error(errbuf, errlen, lex_path, 0,
		    "more than %d entries", VADER_MAX_ENTRIES);
		goto cleanup;
	}
	lex->slot_mask = vader_lexicon_pow2(cap * 2) - 1;
	if ((lex->entries = calloc(cap, sizeof(*lex->entries))) == NULL ||
	    (lex->slots = calloc(lex->slot_mask + 1,
	    sizeof(*lex->slots))) == NULL ||
	    (lex->keys = malloc(lex->keys_cap + 1)) == NULL) {
		vader_lexicon_error(errbuf, errlen, lex_path, 0,
		    "out of memory");
		goto cleanup;
	}

	if (!vader_lexicon_words(lex, lex_path, lex_file, lex_len, 0, errbuf,
	    errlen))
		goto cleanup;
	if (ov_file != NULL && !vader_lexicon_words(lex, ov_path, ov_file,
	    ov_len, 1, errbuf, errlen))
		goto cleanup;
	if (!vader_lexicon_statics(lex, errbuf, errlen))
		goto cleanup;
	if (!vader_lexicon_emojis(lex, emoji_path, errbuf, errlen))
		goto cleanup;

	ret = 1;

cleanup:
	/* The keys were copied; the emoji image stays for descriptions. */
	free(lex_file);
	free(ov_file);
	return (ret);
}

/* Frees what vader_lexicon_load built and the emoji image; idempotent. */
void
vader_lexicon_cleanup(struct vader_lexicon *lex)
{
	free(lex->entries);
	free(lex->slots);
	free(lex->keys);
	free(lex->emoji);
	free(lex->emoji_file);
	memset(lex, 0, sizeof(*lex));
}

/*
 * The entry whose key is exactly key[0..len), or NULL; hash is
 * vader_lexicon_hash(key, len), which the caller may have computed on
 * the way.
 */
const struct vader_entry *
vader_lexicon_lookup(const struct vader_lexicon *lex, const char *key,
    size_t len, uint32_t hash)
{
	const struct vader_entry	*e;
	const struct vader_slot		*slot;
	size_t				 i;
	const char			*k;
	size_t				 j;

	i = hash & lex->slot_mask;
	for (;;) {
		slot = &lex->slots[i];
		if (slot->entry == 0)
			return (NULL);
		if (slot->hash == hash && slot->key_len == len) {
			e = &lex->entries[slot->entry - 1];
			/* Keys are short: a loop beats a call to memcmp. */
			k = lex->keys + e->key_off;
			for (j = 0; j < len && k[j] == key[j]; j++)
				;
			if (j == len)
				return (e);
		}
		i = (i + 1) & lex->slot_mask;
	}
}

/* FNV-1a: short keys, fast enough, no seed needed for a fixed lexicon. */
uint32_t
vader_lexicon_hash(const char *s, size_t len)
{
	uint32_t	h;
	size_t		i;

	h = VADER_FNV_OFFSET;
	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= VADER_FNV_PRIME;
	}
	return (h);
}

/* The emoji whose key is the single code point cp, or NULL. */
const struct vader_emoji *
vader_lexicon_emoji(const struct vader_lexicon *lex, uint32_t cp)
{
	const struct vader_emoji	*em;
	size_t				 i;

	if (lex->emoji == NULL || cp < lex->emoji_min_cp)
		return (NULL);
	i = (cp * 2654435761u) & lex->emoji_mask;
	for (;;) {
		em = &lex->emoji[i];
		if (em->desc == NULL)
			return (NULL);
		if (em->cp == cp)
			return (em);
		i = (i + 1) & lex->emoji_mask;
	}
}

/*
 * vader_lexicon.txt: token TAB mean TAB std-dev TAB [ratings].  Like the
 * reference, empty lines are skipped and only the first two fields are
 * used; unlike it, anything else that is not exactly this shape is refused.
 * An overlay (overlay 1) may also give just token TAB valence, and its
 * tokens must be lower case: look-ups are, so another token never matches.
 */
static int
vader_lexicon_words(struct vader_lexicon *lex, const char *path,
    const char *file, size_t flen, int overlay, char *errbuf, size_t errlen)
{
	struct vader_entry	*e;
	const char		*line, *end, *next, *tab[4], *p;
	size_t			 lineno, nfields, i, nwords;
	double			 valence;
	int			 ret;

	ret = 0;
	lineno = 0;
	nwords = 0;
	for (line = file; line < file + flen; line = next) {
		lineno++;
		end = memchr(line, '\n', (size_t)(file + flen - line));
		if (end == NULL) {
			end = file + flen;
			next = end;
		} else {
			next = end + 1;
		}
		if (end == line)
			continue;

		if (memchr(line, '\r', (size_t)(end - line)) != NULL) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "carriage return in line");
			goto cleanup;
		}
		if (!vader_unicode_valid(line, (size_t)(end - line))) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "invalid UTF-8");
			goto cleanup;
		}
		if (*line == ' ' || *line == '\t' || end[-1] == ' ' ||
		    end[-1] == '\t') {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "leading or trailing white space");
			goto cleanup;
		}

		nfields = 1;
		for (p = line; p < end; p++) {
			if (*p != '\t')
				continue;
			if (nfields < VADER_NELEM(tab))
				tab[nfields - 1] = p;
			nfields++;
		}
		if (overlay && nfields == 2) {
			tab[1] = end;		/* the valence ends the line */
		} else if (nfields != 4) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    overlay ? "expected 2 or 4 tab-separated fields, "
			    "found %zu" : "expected 4 tab-separated fields, "
			    "found %zu", nfields);
			goto cleanup;
		}
		if (tab[0] == line) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "empty token");
			goto cleanup;
		}
		if ((size_t)(tab[0] - line) > VADER_KEY_MAX) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "token longer than %d bytes", VADER_KEY_MAX);
			goto cleanup;
		}
		/*
		 * str.lower() turns a capital sigma into a final sigma by
		 * context, which the C lower-casing does not model.
		 */
		for (i = 0; i + 1 < (size_t)(tab[0] - line); i++) {
			if ((unsigned char)line[i] == 0xcf &&
			    ((unsigned char)line[i + 1] == 0x82 ||
			    (unsigned char)line[i + 1] == 0x83)) {
				vader_lexicon_error(errbuf, errlen, path,
				    lineno, "token contains a sigma");
				goto cleanup;
			}
		}
		for (i = 0; overlay && i < (size_t)(tab[0] - line); i++) {
			if (line[i] >= 'A' && line[i] <= 'Z') {
				vader_lexicon_error(errbuf, errlen, path,
				    lineno, "token is not lower case");
				goto cleanup;
			}
		}
		if (!vader_lexicon_number(tab[0] + 1,
		    (size_t)(tab[1] - tab[0] - 1), &valence)) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "valence '%.*s' is not a decimal number",
			    (int)(tab[1] - tab[0] - 1), tab[0] + 1);
			goto cleanup;
		}
		if (valence < -VADER_VALENCE_MAX ||
		    valence > VADER_VALENCE_MAX) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "valence %g outside -4..4", valence);
			goto cleanup;
		}

		if (!vader_lexicon_add(lex, line, (size_t)(tab[0] - line),
		    &e)) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "too many entries");
			goto cleanup;
		}
		if (!(e->flags & VADER_E_LEXICON))
			lex->nlexicon++;
		/* A dict assignment: the last duplicate wins. */
		e->flags |= VADER_E_LEXICON;
		e->valence = valence;
		nwords++;
	}

	if (nwords == 0) {
		vader_lexicon_error(errbuf, errlen, path, lineno,
		    "no entries");
		goto cleanup;
	}
	ret = 1;

cleanup:
	return (ret);
}

/* Adds the reference's built-in word lists to the dictionary. */
static int
vader_lexicon_statics(struct vader_lexicon *lex, char *errbuf, size_t errlen)
{
	static const struct {
		const struct vader_static_word	*words;
		size_t				 n;
	} lists[] = {
		{ vader_boosters, VADER_NELEM(vader_boosters) },
		{ vader_negations, VADER_NELEM(vader_negations) },
		{ vader_rule_words, VADER_NELEM(vader_rule_words) },
	};
	struct vader_entry	*e;
	const struct vader_static_word *w;
	size_t			 i, j;
	int			 ret;

	ret = 0;
	for (i = 0; i < VADER_NELEM(lists); i++) {
		for (j = 0; j < lists[i].n; j++) {
			w = &lists[i].words[j];
			if (!vader_lexicon_add(lex, w->word, strlen(w->word),
			    &e)) {
				vader_lexicon_error(errbuf, errlen, "(builtin)",
				    0, "too many entries");
				goto cleanup;
			}
			e->flags |= w->flags;
			if (w->id != VADER_W_NONE)
				e->word = w->id;
		}
	}
	ret = 1;

cleanup:
	return (ret);
}

/*
 * emoji_utf8_lexicon.txt: emoji TAB description.  The reference looks up
 * one code point at a time, so only single code point keys can ever match;
 * the others (skin tones, ZWJ sequences, flags, keycaps) are checked and
 * then ignored.  The reference would crash on an empty line; we refuse it.
 */
static int
vader_lexicon_emojis(struct vader_lexicon *lex, const char *path,
    char *errbuf, size_t errlen)
{
	struct vader_emoji	*em;
	const char		*line, *end, *next, *tab, *desc, *file;
	size_t			 lineno, len, pos, words, dlen, i, flen;
	uint32_t		 cp;
	int			 ret;

	ret = 0;
	file = lex->emoji_file;
	flen = lex->emoji_file_len;

	/* rstrip('\n') as the reference does. */
	while (flen > 0 && file[flen - 1] == '\n')
		flen--;

	lex->emoji_mask = vader_lexicon_pow2(
	    vader_lexicon_lines(file, flen) * 2) - 1;
	if ((lex->emoji = calloc(lex->emoji_mask + 1,
	    sizeof(*lex->emoji))) == NULL) {
		vader_lexicon_error(errbuf, errlen, path, 0, "out of memory");
		goto cleanup;
	}
	lex->emoji_min_cp = UINT32_MAX;

	lineno = 0;
	for (line = file; line < file + flen; line = next) {
		lineno++;
		end = memchr(line, '\n', (size_t)(file + flen - line));
		if (end == NULL) {
			end = file + flen;
			next = end;
		} else {
			next = end + 1;
		}
		len = (size_t)(end - line);
		if (len == 0) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "empty line");
			goto cleanup;
		}
		if (memchr(line, '\r', len) != NULL) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "carriage return in line");
			goto cleanup;
		}
		if (!vader_unicode_valid(line, len)) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "invalid UTF-8");
			goto cleanup;
		}
		if ((tab = memchr(line, '\t', len)) == NULL ||
		    memchr(tab + 1, '\t', (size_t)(end - tab - 1)) != NULL) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "expected 2 tab-separated fields");
			goto cleanup;
		}
		desc = tab + 1;
		dlen = (size_t)(end - desc);
		if (tab == line || dlen == 0) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "empty emoji or description");
			goto cleanup;
		}
		if (dlen > VADER_DESC_MAX) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "description longer than %d bytes", VADER_DESC_MAX);
			goto cleanup;
		}

		/* Leading or trailing white space, which strip() would eat. */
		pos = 0;
		(void)vader_unicode_decode(line, len, &pos, &cp);
		if (vader_unicode_isspace(cp)) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "leading or trailing white space");
			goto cleanup;
		}
		if (!vader_lexicon_words_in(desc, dlen, &words)) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "description begins or ends with white space");
			goto cleanup;
		}

		pos = 0;
		(void)vader_unicode_decode(line, (size_t)(tab - line), &pos,
		    &cp);
		if (pos != (size_t)(tab - line))
			continue;	/* several code points: never matches */

		/* See VADER_TOKENS_NUM: the scratch area depends on it. */
		if (words * VADER_TOKENS_DEN > VADER_TOKENS_NUM * pos) {
			vader_lexicon_error(errbuf, errlen, path, lineno,
			    "description has more than %d words per %d bytes "
			    "of emoji", VADER_TOKENS_NUM, VADER_TOKENS_DEN);
			goto cleanup;
		}

		i = (cp * 2654435761u) & lex->emoji_mask;
		while (lex->emoji[i].desc != NULL && lex->emoji[i].cp != cp)
			i = (i + 1) & lex->emoji_mask;
		em = &lex->emoji[i];
		if (em->desc == NULL)
			lex->nemoji++;
		/* A dict assignment: the last duplicate wins. */
		em->cp = cp;
		em->desc = desc;
		em->desc_len = (uint32_t)dlen;
		if (cp < lex->emoji_min_cp)
			lex->emoji_min_cp = cp;
	}
	lex->nemoji_lines = lineno;

	if (lex->nemoji == 0) {
		vader_lexicon_error(errbuf, errlen, path, lineno,
		    "no single code point emoji");
		goto cleanup;
	}
	ret = 1;

cleanup:
	return (ret);
}

/*
 * Finds or adds the entry for key.  Returns 1 with *out set, or 0 if the
 * table is full (it is sized from the line count, so only on a bug).
 */
static int
vader_lexicon_add(struct vader_lexicon *lex, const char *key, size_t len,
    struct vader_entry **out)
{
	struct vader_entry	*e;
	struct vader_slot	*slot;
	size_t			 i, cap;
	uint32_t		 hash;

	hash = vader_lexicon_hash(key, len);
	i = hash & lex->slot_mask;
	while ((slot = &lex->slots[i])->entry != 0) {
		e = &lex->entries[slot->entry - 1];
		if (slot->hash == hash && e->key_len == len &&
		    memcmp(lex->keys + e->key_off, key, len) == 0) {
			*out = e;
			return (1);
		}
		i = (i + 1) & lex->slot_mask;
	}

	/* The table is at most half full, see vader_lexicon_load. */
	cap = (lex->slot_mask + 1) / 2;
	if (lex->nentries >= cap || lex->nentries >= VADER_MAX_ENTRIES ||
	    len > lex->keys_cap - lex->keys_len)
		return (0);

	e = &lex->entries[lex->nentries];
	memcpy(lex->keys + lex->keys_len, key, len);
	e->key_off = (uint32_t)lex->keys_len;
	lex->keys_len += len;
	e->key_len = (uint16_t)len;
	e->flags = 0;
	e->word = VADER_W_NONE;
	e->valence = 0.0;
	slot->hash = hash;
	slot->key_len = (uint16_t)len;
	slot->entry = (uint16_t)++lex->nentries;
	*out = e;
	return (1);
}

/*
 * Parses [-]digits[.digits] as Python's float() would, without locale:
 * with at most 15 significant digits the value M / 10^k is one correctly
 * rounded division of two exact doubles, i.e. the nearest double.
 */
static int
vader_lexicon_number(const char *s, size_t len, double *out)
{
	static const double	pow10[] = {
		1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
		1e11, 1e12, 1e13, 1e14, 1e15
	};
	uint64_t		mant;
	size_t			i, digits, frac;
	int			neg, dot;

	i = 0;
	neg = 0;
	if (i < len && (s[i] == '-' || s[i] == '+')) {
		neg = (s[i] == '-');
		i++;
	}
	mant = 0;
	digits = 0;
	frac = 0;
	dot = 0;
	for (; i < len; i++) {
		if (s[i] == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (s[i] < '0' || s[i] > '9')
			return (0);
		if (++digits > 15)
			return (0);
		mant = mant * 10 + (uint64_t)(s[i] - '0');
		if (dot)
			frac++;
	}
	if (digits == 0)
		return (0);

	*out = (double)mant / pow10[frac];
	if (neg)
		*out = -*out;
	return (1);
}

/*
 * Counts the white-space separated words of a description.  Returns 0 if
 * it begins or ends with white space.
 */
static int
vader_lexicon_words_in(const char *s, size_t len, size_t *words)
{
	size_t		pos;
	uint32_t	cp;
	int		in_word, space, first;

	*words = 0;
	in_word = 0;
	space = 1;
	first = 1;
	pos = 0;
	while (pos < len && vader_unicode_decode(s, len, &pos, &cp)) {
		space = vader_unicode_isspace(cp);
		if (first && space)
			return (0);
		first = 0;
		if (!space && !in_word)
			(*words)++;
		in_word = !space;
	}
	return (!space);
}

static size_t
vader_lexicon_lines(const char *s, size_t len)
{
	size_t		n;
	const char	*p, *end;

	n = 1;
	end = s + len;
	for (p = s; p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL;
	    p++)
		n++;
	return (n);
}

static size_t
vader_lexicon_pow2(size_t n)
{
	size_t		p;

	p = 16;
	while (p < n)
		p <<= 1;
	return (p);
}

static int
vader_lexicon_error(char *errbuf, size_t errlen, const char *path,
    size_t lineno, const char *fmt, ...)
{
	va_list		ap;
	int		n;

	if (errbuf == NULL || errlen == 0)
		return (0);
	n = snprintf(errbuf, errlen, "%s:%zu: ", path, lineno);
	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		(void)vsnprintf(errbuf + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return (0);
}
