/*
 * vader.c: the scoring rules of VADER, ported from the reference
 * SentimentIntensityAnalyzer.polarity_scores (vaderSentiment 3.3.2) so that
 * it gives the same floating-point results, quirks included:
 *
 *  - emoji are replaced by their description one code point at a time, so
 *    a multi-code-point emoji becomes the descriptions of its parts, and the
 *    parts that have none (ZWJ, variation selectors) stay glued to the text;
 *  - tokens are str.split() words with string.punctuation stripped from both
 *    ends unless that leaves two code points or fewer;
 *  - the "but" rule finds each sentiment with list.index(), i.e. the first
 *    equal value, which may be another word's;
 *  - special-case idioms are only tried for a lexicon word that has three
 *    words before it, the third of which is not a lexicon word.
 *
 * Nothing is allocated: a struct vader_scratch on the stack holds one
 * token's bytes, a record per token and the non-zero sentiments, sized by
 * VADER_MAX_TOKENS.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vader.h"

/*
 * The reference rounds every operation to double on its own; a fused
 * multiply-add would change the last bit and, rarely, a rounded score.
 * GCC does not contract in ISO C mode; clang needs telling.  Statements are
 * also kept to one operation where a multiply feeds an add.
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The reference's constants. */
#define VADER_B_INCR		0.293
#define VADER_B_DECR		(-0.293)
#define VADER_C_INCR		0.733
#define VADER_N_SCALAR		(-0.74)
#define VADER_ALPHA		15.0
#define VADER_EP_WEIGHT		0.292
#define VADER_EP_MAX		4
#define VADER_QM_WEIGHT		0.18
#define VADER_QM_MAX		0.96

#define VADER_NONE		SIZE_MAX

/* Token flags, besides the VADER_E_* flags of its entry. */
#define VADER_T_UPPER		0x10	/* str.isupper() */
#define VADER_T_NT		0x20	/* "n't" in word */
#define VADER_T_NEGATED		(VADER_E_NEGATE | VADER_T_NT)	/* negated() */
#define VADER_T_BOOSTER		(VADER_E_BOOST_UP | VADER_E_BOOST_DOWN)

struct vader_token {
	uint16_t	entry;		/* index in lex->entries, or NO_ENTRY */
	uint8_t		flags;		/* VADER_E_*, VADER_T_* */
	uint8_t		word;		/* enum vader_word */
};

_Static_assert(((VADER_E_LEXICON | VADER_E_NEGATE | VADER_E_BOOST_UP |
    VADER_E_BOOST_DOWN) & (VADER_T_UPPER | VADER_T_NT)) == 0,
    "token and entry flags overlap");

struct vader_scratch {
	const struct vader_lexicon	*lex;
	size_t				 ntokens;
	size_t				 nupper;
	size_t				 nbang;
	size_t				 nquest;
	size_t				 but;		/* first "but" */
	int				 cap_diff;
	int				 prev_space;	/* last char ' ' */

	/*
	 * The token being read, already lower-cased, and what
	 * _strip_punc_if_word needs: where the non-punctuation part starts
	 * and ends (bytes and code points) and its FNV-1a hash, so that
	 * vader_flush need not walk the token again.
	 */
	size_t				 toklen;
	size_t				 tok_cps;	/* code points so far */
	size_t				 tok_lead;	/* NONE: all punct. */
	size_t				 tok_end;
	size_t				 tok_cp_first;
	size_t				 tok_cp_last;
	uint32_t			 tok_hash;	/* from tok_lead on */
	uint32_t			 tok_hash_end;	/* up to tok_end */
	uint8_t				 tok_case;	/* VADER_C_UPPER... */
	uint8_t				 tok_nt;	/* contains "n't" */
	unsigned char			 tok_b1, tok_b2;	/* last bytes */
	char				 tok[VADER_TOKEN_BUF];
	struct vader_token		 tokens[VADER_MAX_TOKENS];

	/*
	 * The non-zero sentiments in order, and their token positions.
	 * Zeros (neutral words) change neither the sums nor the "but" rule,
	 * so they are only counted.
	 */
	size_t				 nvalues;
	double				 values[VADER_MAX_TOKENS];
	uint16_t			 where[VADER_MAX_TOKENS];
};

_Static_assert(sizeof(struct vader_scratch) <= MODEL_STACK_BYTES,
    "MODEL_STACK_BYTES is too small for the scratch area");
_Static_assert(VADER_MAX_TOKENS < UINT16_MAX, "token position overflow");

/* ASCII character classes. */
#define VADER_C_SPACE		0x01	/* str.isspace() */
#define VADER_C_PUNCT		0x02	/* string.punctuation */
#define VADER_C_UPPER		0x04	/* makes a word upper case */
#define VADER_C_LOWER		0x08	/* forbids it */

static const uint8_t vader_ascii[128] = {
	[0x09] = VADER_C_SPACE, [0x0a] = VADER_C_SPACE,
	[0x0b] = VADER_C_SPACE, [0x0c] = VADER_C_SPACE,
	[0x0d] = VADER_C_SPACE, [0x1c] = VADER_C_SPACE,
	[0x1d] = VADER_C_SPACE, [0x1e] = VADER_C_SPACE,
	[0x1f] = VADER_C_SPACE, [' '] = VADER_C_SPACE, ['!'] = VADER_C_PUNCT,
	['"'] = VADER_C_PUNCT, ['#'] = VADER_C_PUNCT, ['$'] = VADER_C_PUNCT,
	['%'] = VADER_C_PUNCT, ['&'] = VADER_C_PUNCT, ['\''] = VADER_C_PUNCT,
	['('] = VADER_C_PUNCT, [')'] = VADER_C_PUNCT, ['*'] = VADER_C_PUNCT,
	['+'] = VADER_C_PUNCT, [','] = VADER_C_PUNCT, ['-'] = VADER_C_PUNCT,
	['.'] = VADER_C_PUNCT, ['/'] = VADER_C_PUNCT, [':'] = VADER_C_PUNCT,
	[';'] = VADER_C_PUNCT, ['<'] = VADER_C_PUNCT, ['='] = VADER_C_PUNCT,
	['>'] = VADER_C_PUNCT, ['?'] = VADER_C_PUNCT, ['@'] = VADER_C_PUNCT,
	['A'] = VADER_C_UPPER, ['B'] = VADER_C_UPPER, ['C'] = VADER_C_UPPER,
	['D'] = VADER_C_UPPER, ['E'] = VADER_C_UPPER, ['F'] = VADER_C_UPPER,
	['G'] = VADER_C_UPPER, ['H'] = VADER_C_UPPER, ['I'] = VADER_C_UPPER,
	['J'] = VADER_C_UPPER, ['K'] = VADER_C_UPPER, ['L'] = VADER_C_UPPER,
	['M'] = VADER_C_UPPER, ['N'] = VADER_C_UPPER, ['O'] = VADER_C_UPPER,
	['P'] = VADER_C_UPPER, ['Q'] = VADER_C_UPPER, ['R'] = VADER_C_UPPER,
	['S'] = VADER_C_UPPER, ['T'] = VADER_C_UPPER, ['U'] = VADER_C_UPPER,
	['V'] = VADER_C_UPPER, ['W'] = VADER_C_UPPER, ['X'] = VADER_C_UPPER,
	['Y'] = VADER_C_UPPER, ['Z'] = VADER_C_UPPER, ['['] = VADER_C_PUNCT,
	['\\'] = VADER_C_PUNCT, [']'] = VADER_C_PUNCT, ['^'] = VADER_C_PUNCT,
	['_'] = VADER_C_PUNCT, ['`'] = VADER_C_PUNCT, ['a'] = VADER_C_LOWER,
	['b'] = VADER_C_LOWER, ['c'] = VADER_C_LOWER, ['d'] = VADER_C_LOWER,
	['e'] = VADER_C_LOWER, ['f'] = VADER_C_LOWER, ['g'] = VADER_C_LOWER,
	['h'] = VADER_C_LOWER, ['i'] = VADER_C_LOWER, ['j'] = VADER_C_LOWER,
	['k'] = VADER_C_LOWER, ['l'] = VADER_C_LOWER, ['m'] = VADER_C_LOWER,
	['n'] = VADER_C_LOWER, ['o'] = VADER_C_LOWER, ['p'] = VADER_C_LOWER,
	['q'] = VADER_C_LOWER, ['r'] = VADER_C_LOWER, ['s'] = VADER_C_LOWER,
	['t'] = VADER_C_LOWER, ['u'] = VADER_C_LOWER, ['v'] = VADER_C_LOWER,
	['w'] = VADER_C_LOWER, ['x'] = VADER_C_LOWER, ['y'] = VADER_C_LOWER,
	['z'] = VADER_C_LOWER, ['{'] = VADER_C_PUNCT, ['|'] = VADER_C_PUNCT,
	['}'] = VADER_C_PUNCT, ['~'] = VADER_C_PUNCT,
};

/* SPECIAL_CASES of the reference, as word sequences. */
static const struct {
	uint8_t		words[3];
	double		valence;
} vader_special_cases[] = {
	{ { VADER_W_THE, VADER_W_SHIT, VADER_W_NONE }, 3 },
	{ { VADER_W_THE, VADER_W_BOMB, VADER_W_NONE }, 3 },
	{ { VADER_W_BAD, VADER_W_ASS, VADER_W_NONE }, 1.5 },
	{ { VADER_W_BUS, VADER_W_STOP, VADER_W_NONE }, 0.0 },
	{ { VADER_W_YEAH, VADER_W_RIGHT, VADER_W_NONE }, -2 },
	{ { VADER_W_KISS, VADER_W_OF, VADER_W_DEATH }, -1.5 },
	{ { VADER_W_TO, VADER_W_DIE, VADER_W_FOR }, 3 },
	{ { VADER_W_BEATING, VADER_W_HEART, VADER_W_NONE }, 3.1 },
	{ { VADER_W_BROKEN, VADER_W_HEART, VADER_W_NONE }, -2.9 },
};

static int	vader_feed(struct vader_scratch *, const char *, size_t, int);
static int	vader_feed_ascii(struct vader_scratch *, const char *, size_t,
		    size_t *, uint32_t);
static int	vader_flush(struct vader_scratch *);
static void	vader_tok_reset(struct vader_scratch *);
static int	vader_tok_put(struct vader_scratch *, unsigned char);
static double	vader_valence(const struct vader_scratch *, size_t);
static double	vader_scalar(const struct vader_scratch *, size_t, double);
static double	vader_negation(const struct vader_scratch *, double, size_t,
		    size_t);
static double	vader_idioms(const struct vader_scratch *, double, size_t);
static double	vader_least(const struct vader_scratch *, double, size_t);
static void	vader_but(struct vader_scratch *);
static uint64_t	vader_but_hash(double);
static void	vader_totals(const struct vader_scratch *,
		    struct vader_scores *);
static int	vader_special(const uint8_t *, size_t, double *);
static int	vader_is_so_this(const struct vader_scratch *, size_t);
static int	vader_is_lexicon(const struct vader_scratch *, size_t);
static uint8_t	vader_word(const struct vader_scratch *, size_t);

/*
 * Scores len bytes of UTF-8 text.  Returns 1 with the unrounded scores in
 * *out, or 0 if the text is not valid UTF-8 or does not fit the scratch
 * area (not possible for len <= MODEL_MAX_INPUT with a loaded lexicon).
 */
int
vader_score(const struct vader_lexicon *lex, const char *text, size_t len,
    struct vader_scores *out)
{
	struct vader_scratch		 sc;
	size_t				 i, n, diff;
	double				 v;
	int				 ret;

	ret = 0;
	if (len > MODEL_MAX_INPUT)
		goto cleanup;

	/* Only the header; the arrays are written before they are read. */
	sc.lex = lex;
	sc.ntokens = 0;
	sc.nupper = 0;
	sc.nbang = 0;
	sc.nquest = 0;
	sc.but = VADER_NONE;
	sc.prev_space = 1;
	vader_tok_reset(&sc);

	/* polarity_scores: emoji to descriptions, then text.split(). */
	if (!vader_feed(&sc, text, len, 1) || !vader_flush(&sc))
		goto cleanup;

	/* allcap_differential: some, but not all, words are ALL CAPS. */
	n = sc.ntokens;
	diff = n - sc.nupper;
	sc.cap_diff = (diff > 0 && diff < n);

	sc.nvalues = 0;
	for (i = 0; i < n; i++) {
		if (sc.but == VADER_NONE && vader_word(&sc, i) == VADER_W_BUT)
			sc.but = i;
		if ((sc.tokens[i].flags &
		    (VADER_E_LEXICON | VADER_T_BOOSTER)) != VADER_E_LEXICON)
			continue;
		if (i + 1 < n && vader_word(&sc, i) == VADER_W_KIND &&
		    vader_word(&sc, i + 1) == VADER_W_OF)
			continue;
		v = vader_valence(&sc, i);
		if (v != 0) {
			sc.values[sc.nvalues] = v;
			sc.where[sc.nvalues] = (uint16_t)i;
			sc.nvalues++;
		}
	}

	vader_but(&sc);
	vader_totals(&sc, out);
	ret = 1;

cleanup:
	return (ret);
}

/*
 * Feeds len bytes of text, or of an emoji description (expand 0), into
 * the tokenizer: white space ends a token, anything else is lower-cased
 * and appended to it, and with expand each code point that has an emoji
 * description is replaced by it, after a space unless the last input
 * character was one.  Returns 0 on invalid UTF-8 or if the scratch area
 * is full.
 */
static int
vader_feed(struct vader_scratch *sc, const char *s, size_t len, int expand)
{
	const struct vader_emoji	*em;
	size_t				 pos, n, i, j;
	uint32_t			 cp, ascii_max, low[2];
	unsigned char			 b;
	char				 enc[4];
	int				 c;

	/* No emoji key below emoji_min_cp: ASCII then needs no lookup. */
	ascii_max = expand ? sc->lex->emoji_min_cp : 0x80;
	pos = 0;
	while (pos < len) {
		b = (unsigned char)s[pos];
		if (b < 0x80 && b < ascii_max) {
			if (vader_ascii[b] & VADER_C_SPACE) {
				pos++;
				sc->prev_space = (b == ' ');
				if (!vader_flush(sc))
					return (0);
				continue;
			}
			if (!vader_feed_ascii(sc, s, len, &pos, ascii_max))
				return (0);
			sc->prev_space = 0;
			continue;
		}

		if (!vader_unicode_decode(s, len, &pos, &cp))
			return (0);
		if (expand && (em = vader_lexicon_emoji(sc->lex, cp)) != NULL) {
			if (!sc->prev_space && !vader_flush(sc))
				return (0);
			if (!vader_feed(sc, em->desc, em->desc_len, 0))
				return (0);
			sc->prev_space = 0;
			continue;
		}
		sc->prev_space = (cp == ' ');
		if (cp < 0x80) {
			/* ASCII below emoji_min_cp: only with odd lexicons. */
			if (!vader_feed(sc, s + pos - 1, 1, 0))
				return (0);
			continue;
		}
		if (vader_unicode_isspace(cp)) {
			if (!vader_flush(sc))
				return (0);
			continue;
		}

		/* Not ASCII, so not punctuation. */
		c = vader_unicode_case(cp);
		if (c == VADER_CASE_UPPER)
			sc->tok_case |= VADER_C_UPPER;
		else if (c == VADER_CASE_LOWER)
			sc->tok_case |= VADER_C_LOWER;
		if (sc->tok_lead == VADER_NONE) {
			sc->tok_lead = sc->toklen;
			sc->tok_cp_first = sc->tok_cps;
		}
		n = vader_unicode_lower(cp, low);
		for (i = 0; i < n; i++) {
			c = (int)vader_unicode_encode(low[i], enc);
			for (j = 0; j < (size_t)c; j++) {
				if (!vader_tok_put(sc, (unsigned char)enc[j]))
					return (0);
			}
		}
		sc->tok_end = sc->toklen;
		sc->tok_hash_end = sc->tok_hash;
		sc->tok_cp_last = sc->tok_cps++;
	}
	return (1);
}

/*
 * The common case of vader_feed: a run of ASCII non-space characters
 * (below ascii_max) at s[*pos], appended with the token state in local
 * variables.  Same effect as vader_tok_put per byte.  Returns 0 if the
 * token buffer is full.
 */
static int
vader_feed_ascii(struct vader_scratch *sc, const char *s, size_t len,
    size_t *posp, uint32_t ascii_max)
{
	size_t		pos, toklen, cps, lead, end, cp_first, cp_last;
	size_t		nbang, nquest;
	uint32_t	hash, hash_end;
	unsigned char	b, cls, b1, b2, tcase, nt;
	int		ret;

	ret = 0;
	pos = *posp;
	toklen = sc->toklen;
	cps = sc->tok_cps;
	lead = sc->tok_lead;
	end = sc->tok_end;
	cp_first = sc->tok_cp_first;
	cp_last = sc->tok_cp_last;
	hash = sc->tok_hash;
	hash_end = sc->tok_hash_end;
	b1 = sc->tok_b1;
	b2 = sc->tok_b2;
	tcase = sc->tok_case;
	nt = sc->tok_nt;
	nbang = 0;
	nquest = 0;

	while (pos < len) {
		b = (unsigned char)s[pos];
		if (b >= 0x80 || b >= ascii_max)
			break;
		cls = vader_ascii[b];
		if (cls & VADER_C_SPACE)
			break;
		if (toklen == sizeof(sc->tok))
			goto cleanup;
		pos++;
		nbang += (b == '!');
		nquest += (b == '?');
		tcase |= cls;
		if (cls & VADER_C_UPPER)
			b += 'a' - 'A';
		nt |= (b == 't' && b1 == '\'' && b2 == 'n');
		b2 = b1;
		b1 = b;
		sc->tok[toklen++] = (char)b;
		if (!(cls & VADER_C_PUNCT)) {
			if (lead == VADER_NONE) {
				lead = toklen - 1;
				cp_first = cps;
			}
			hash ^= b;
			hash *= VADER_FNV_PRIME;
			end = toklen;
			hash_end = hash;
			cp_last = cps;
		} else if (lead != VADER_NONE) {
			hash ^= b;
			hash *= VADER_FNV_PRIME;
		}
		cps++;
	}
	ret = 1;

cleanup:
	*posp = pos;
	sc->toklen = toklen;
	sc->tok_cps = cps;
	sc->tok_lead = lead;
	sc->tok_end = end;
	sc->tok_cp_first = cp_first;
	sc->tok_cp_last = cp_last;
	sc->tok_hash = hash;
	sc->tok_hash_end = hash_end;
	sc->tok_b1 = b1;
	sc->tok_b2 = b2;
	sc->tok_case = tcase;
	sc->tok_nt = nt;
	sc->nbang += nbang;
	sc->nquest += nquest;
	return (ret);
}

/*
 * Ends the current token, if any: _strip_punc_if_word (the stripped word
 * if it has more than two code points, else the token as it is), then
 * what the rules need to know about it: its dictionary entry, ALL CAPS,
 * negation.  Punctuation has no case and "n't" cannot straddle the
 * stripped ends, so those hold for either form.  Returns 0 if there is no
 * room for another token.
 */
static int
vader_flush(struct vader_scratch *sc)
{
	struct vader_token		*t;
	const struct vader_entry	*e;
	const char			*key;
	size_t				 klen;
	uint32_t			 hash;

	if (sc->toklen == 0)
		return (1);
	if (sc->ntokens >= VADER_MAX_TOKENS)
		return (0);

	if (sc->tok_lead != VADER_NONE &&
	    sc->tok_cp_last - sc->tok_cp_first + 1 > 2) {
		key = sc->tok + sc->tok_lead;
		klen = sc->tok_end - sc->tok_lead;
		hash = sc->tok_hash_end;
	} else {
		key = sc->tok;
		klen = sc->toklen;
		hash = klen <= VADER_KEY_MAX ?
		    vader_lexicon_hash(key, klen) : 0;
	}
	/* Longer than any key: matches nothing. */
	e = klen <= VADER_KEY_MAX ?
	    vader_lexicon_lookup(sc->lex, key, klen, hash) : NULL;

	t = &sc->tokens[sc->ntokens++];
	if (e != NULL) {
		t->entry = (uint16_t)(e - sc->lex->entries);
		t->word = e->word;
		t->flags = e->flags;
	} else {
		t->entry = VADER_NO_ENTRY;
		t->word = VADER_W_NONE;
		t->flags = 0;
	}
	if ((sc->tok_case & (VADER_C_UPPER | VADER_C_LOWER)) == VADER_C_UPPER) {
		t->flags |= VADER_T_UPPER;
		sc->nupper++;
	}
	if (sc->tok_nt)
		t->flags |= VADER_T_NT;

	vader_tok_reset(sc);
	return (1);
}

static void
vader_tok_reset(struct vader_scratch *sc)
{
	sc->toklen = 0;
	sc->tok_cps = 0;
	sc->tok_lead = VADER_NONE;
	sc->tok_end = 0;
	sc->tok_cp_first = 0;
	sc->tok_cp_last = 0;
	sc->tok_hash = VADER_FNV_OFFSET;
	sc->tok_hash_end = VADER_FNV_OFFSET;
	sc->tok_case = 0;
	sc->tok_nt = 0;
	sc->tok_b1 = 0;
	sc->tok_b2 = 0;
}

/*
 * Appends one byte of the lower-cased token, watching for "n't" and
 * hashing from the first non-punctuation byte on.  Returns 0 if full.
 */
static int
vader_tok_put(struct vader_scratch *sc, unsigned char b)
{
	if (sc->toklen == sizeof(sc->tok))
		return (0);
	if (b == 't' && sc->tok_b1 == '\'' && sc->tok_b2 == 'n')
		sc->tok_nt = 1;
	sc->tok_b2 = sc->tok_b1;
	sc->tok_b1 = b;
	sc->tok[sc->toklen++] = (char)b;
	if (sc->tok_lead != VADER_NONE) {
		sc->tok_hash ^= b;
		sc->tok_hash *= VADER_FNV_PRIME;
	}
	return (1);
}

/* sentiment_valence for lexicon word i. */
static double
vader_valence(const struct vader_scratch *sc, size_t i)
{
	size_t		n, start;
	double		v, s, valence;

	n = sc->ntokens;
	valence = sc->lex->entries[sc->tokens[i].entry].valence;
	v = valence;

	/* "no" before another lexicon word only negates it. */
	if (vader_word(sc, i) == VADER_W_NO && i != n - 1 &&
	    vader_is_lexicon(sc, i + 1))
		v = 0.0;
	if ((i > 0 && vader_word(sc, i - 1) == VADER_W_NO) ||
	    (i > 1 && vader_word(sc, i - 2) == VADER_W_NO) ||
	    (i > 2 && vader_word(sc, i - 3) == VADER_W_NO &&
	    (vader_word(sc, i - 1) == VADER_W_OR ||
	    vader_word(sc, i - 1) == VADER_W_NOR)))
		v = valence * VADER_N_SCALAR;

	/* ALL CAPS among other words; note 0.0 counts as negative. */
	if ((sc->tokens[i].flags & VADER_T_UPPER) && sc->cap_diff) {
		if (v > 0)
			v += VADER_C_INCR;
		else
			v -= VADER_C_INCR;
	}

	for (start = 0; start < 3; start++) {
		if (i <= start || vader_is_lexicon(sc, i - (start + 1)))
			continue;
		s = vader_scalar(sc, i - (start + 1), v);
		if (start == 1 && s != 0)
			s = s * 0.95;
		if (start == 2 && s != 0)
			s = s * 0.9;
		v = v + s;
		v = vader_negation(sc, v, start, i);
		if (start == 2)
			v = vader_idioms(sc, v, i);
	}

	return (vader_least(sc, v, i));
}

/* scalar_inc_dec: what booster word j adds to valence v. */
static double
vader_scalar(const struct vader_scratch *sc, size_t j, double v)
{
	uint8_t		flags;
	double		scalar;

	scalar = 0.0;
	flags = sc->tokens[j].flags;
	if (!(flags & VADER_T_BOOSTER))
		return (scalar);

	scalar = (flags & VADER_E_BOOST_UP) ? VADER_B_INCR : VADER_B_DECR;
	if (v < 0)
		scalar = -scalar;
	if ((sc->tokens[j].flags & VADER_T_UPPER) && sc->cap_diff) {
		if (v > 0)
			scalar += VADER_C_INCR;
		else
			scalar -= VADER_C_INCR;
	}
	return (scalar);
}

/* _negation_check for the word start + 1 places before word i. */
static double
vader_negation(const struct vader_scratch *sc, double v, size_t start,
    size_t i)
{
	switch (start) {
	case 0:
		if (sc->tokens[i - 1].flags & VADER_T_NEGATED)
			v = v * VADER_N_SCALAR;
		break;
	case 1:
		if (vader_word(sc, i - 2) == VADER_W_NEVER &&
		    vader_is_so_this(sc, i - 1))
			v = v * 1.25;
		else if (vader_word(sc, i - 2) == VADER_W_WITHOUT &&
		    vader_word(sc, i - 1) == VADER_W_DOUBT)
			;	/* "without doubt" leaves it alone */
		else if (sc->tokens[i - 2].flags & VADER_T_NEGATED)
			v = v * VADER_N_SCALAR;
		break;
	case 2:
		/* As in the reference: "so"/"this" just before boosts too. */
		if ((vader_word(sc, i - 3) == VADER_W_NEVER &&
		    vader_is_so_this(sc, i - 2)) || vader_is_so_this(sc, i - 1))
			v = v * 1.25;
		else if (vader_word(sc, i - 3) == VADER_W_WITHOUT &&
		    (vader_word(sc, i - 2) == VADER_W_DOUBT ||
		    vader_word(sc, i - 1) == VADER_W_DOUBT))
			;
		else if (sc->tokens[i - 3].flags & VADER_T_NEGATED)
			v = v * VADER_N_SCALAR;
		break;
	}
	return (v);
}

/*
 * _special_idioms_check around word i (i > 2): the first special case
 * ending at or just before i, then one starting at i (three words win over
 * two), then the two-word dampeners "kind of", "sort of", "just enough",
 * which add B_DECR whatever the sign.
 */
static double
vader_idioms(const struct vader_scratch *sc, double v, size_t i)
{
	static const struct {
		size_t	back;
		size_t	len;
	} before[] = {
		{ 1, 2 },	/* onezero */
		{ 2, 3 },	/* twoonezero */
		{ 2, 2 },	/* twoone */
		{ 3, 3 },	/* threetwoone */
		{ 3, 2 },	/* threetwo */
	};
	static const struct {
		uint8_t	first;
		uint8_t	second;
	} dampers[] = {
		{ VADER_W_JUST, VADER_W_ENOUGH },
		{ VADER_W_KIND, VADER_W_OF },
		{ VADER_W_SORT, VADER_W_OF },
	};
	static const size_t	ngram_back[] = { 3, 2 };  /* threetwo, twoone */
	uint8_t			w[6];
	size_t			n, k, d;
	double			special;

	n = sc->ntokens;
	for (k = 0; k < 3; k++)
		w[k] = vader_word(sc, i - 3 + k);
	w[3] = vader_word(sc, i);
	w[4] = i + 1 < n ? vader_word(sc, i + 1) : VADER_W_NONE;
	w[5] = i + 2 < n ? vader_word(sc, i + 2) : VADER_W_NONE;

	/* w[3 - back] .. is the sequence; w[3] is word i. */
	for (k = 0; k < sizeof(before) / sizeof(before[0]); k++) {
		if (vader_special(&w[3 - before[k].back], before[k].len,
		    &special)) {
			v = special;
			break;
		}
	}
	if (n - 1 > i && vader_special(&w[3], 2, &special))
		v = special;
	if (n - 1 > i + 1 && vader_special(&w[3], 3, &special))
		v = special;

	/* threetwoone has three words and no booster key has. */
	for (k = 0; k < sizeof(ngram_back) / sizeof(ngram_back[0]); k++) {
		for (d = 0; d < sizeof(dampers) / sizeof(dampers[0]); d++) {
			if (w[3 - ngram_back[k]] == dampers[d].first &&
			    w[4 - ngram_back[k]] == dampers[d].second)
				v = v + VADER_B_DECR;
		}
	}
	return (v);
}

/* _least_check: "least" before word i negates, but not "at/very least". */
static double
vader_least(const struct vader_scratch *sc, double v, size_t i)
{
	if (i > 1 && !vader_is_lexicon(sc, i - 1) &&
	    vader_word(sc, i - 1) == VADER_W_LEAST) {
		if (vader_word(sc, i - 2) != VADER_W_AT &&
		    vader_word(sc, i - 2) != VADER_W_VERY)
			v = v * VADER_N_SCALAR;
	} else if (i > 0 && !vader_is_lexicon(sc, i - 1) &&
	    vader_word(sc, i - 1) == VADER_W_LEAST) {
		v = v * VADER_N_SCALAR;
	}
	return (v);
}

/*
 * _but_check, including its use of list.index(): for each sentiment in
 * order, the first element equal to it is halved (before "but") or
 * multiplied by 1.5 (after).  Element k is still unchanged when visited,
 * since only elements at or before the one visited are ever changed.
 * Zeros stay zeros, so only the non-zero values take part.
 *
 * The first equal element is element k itself unless an earlier one has
 * the same value; a 1024-bit filter of the values seen so far skips the
 * search in that usual case (a stale bit only costs a search).
 */
static void
vader_but(struct vader_scratch *sc)
{
	uint64_t	seen[16], h;
	size_t		i, k, si;
	double		v;

	if (sc->but == VADER_NONE)
		return;

	memset(seen, 0, sizeof(seen));
	for (k = 0; k < sc->nvalues; k++) {
		v = sc->values[k];
		h = vader_but_hash(v);
		i = k;
		if (seen[h >> 6] & (UINT64_C(1) << (h & 63))) {
			for (i = 0; sc->values[i] != v; i++)
				;
		}
		si = sc->where[i];
		if (si < sc->but)
			sc->values[i] = v * 0.5;
		else if (si > sc->but)
			sc->values[i] = v * 1.5;

		h = vader_but_hash(sc->values[i]);
		seen[h >> 6] |= UINT64_C(1) << (h & 63);
		h = vader_but_hash(sc->values[k]);
		seen[h >> 6] |= UINT64_C(1) << (h & 63);
	}
}

/* 10 bits from a non-zero double's representation. */
static uint64_t
vader_but_hash(double v)
{
	uint64_t	bits;

	memcpy(&bits, &v, sizeof(bits));
	return ((bits * UINT64_C(0x9e3779b97f4a7c15)) >> 54);
}

/* score_valence, without the final rounding. */
static void
vader_totals(const struct vader_scratch *sc, struct vader_scores *out)
{
	size_t		i, ep, neu_count;
	double		sum, amp, qm, pos_sum, neg_sum, total, s, sq;

	memset(out, 0, sizeof(*out));
	if (sc->ntokens == 0)
		return;

	/*
	 * sum(sentiments): left to right, as Python 3.11 does (3.12 would
	 * compensate).  Skipping the zeros changes nothing: the sum starts
	 * at +0.0 and never becomes -0.0.
	 */
	sum = 0.0;
	for (i = 0; i < sc->nvalues; i++)
		sum += sc->values[i];

	/* Up to 4 "!", and 2 or more "?", anywhere in the expanded text. */
	ep = sc->nbang > VADER_EP_MAX ? VADER_EP_MAX : sc->nbang;
	amp = (double)ep * VADER_EP_WEIGHT;
	qm = 0.0;
	if (sc->nquest > 1) {
		if (sc->nquest <= 3)
			qm = (double)sc->nquest * VADER_QM_WEIGHT;
		else
			qm = VADER_QM_MAX;
	}
	amp = amp + qm;

	if (sum > 0)
		sum += amp;
	else if (sum < 0)
		sum -= amp;

	/* normalize(): score / sqrt(score * score + alpha), clamped. */
	sq = sum * sum;
	sq = sq + VADER_ALPHA;
	out->compound = sum / sqrt(sq);
	if (out->compound < -1.0)
		out->compound = -1.0;
	else if (out->compound > 1.0)
		out->compound = 1.0;

	/* _sift_sentiment_scores; every zero is a neutral word. */
	pos_sum = 0.0;
	neg_sum = 0.0;
	neu_count = sc->ntokens - sc->nvalues;
	for (i = 0; i < sc->nvalues; i++) {
		s = sc->values[i];
		if (s > 0)
			pos_sum += s + 1;
		else
			neg_sum += s - 1;
	}

	if (pos_sum > fabs(neg_sum))
		pos_sum += amp;
	else if (pos_sum < fabs(neg_sum))
		neg_sum -= amp;

	total = pos_sum + fabs(neg_sum);
	total = total + (double)neu_count;
	out->pos = fabs(pos_sum / total);
	out->neg = fabs(neg_sum / total);
	out->neu = fabs((double)neu_count / total);
}

/* Is words[0..len) one of SPECIAL_CASES?  Sets *valence if so. */
static int
vader_special(const uint8_t *words, size_t len, double *valence)
{
	size_t		k, j, klen;

	if (words[0] == VADER_W_NONE)
		return (0);
	for (k = 0; k < sizeof(vader_special_cases) /
	    sizeof(vader_special_cases[0]); k++) {
		klen = vader_special_cases[k].words[2] == VADER_W_NONE ? 2 : 3;
		if (klen != len)
			continue;
		for (j = 0; j < len; j++) {
			if (words[j] != vader_special_cases[k].words[j])
				break;
		}
		if (j == len) {
			*valence = vader_special_cases[k].valence;
			return (1);
		}
	}
	return (0);
}

static int
vader_is_so_this(const struct vader_scratch *sc, size_t i)
{
	uint8_t		w;

	w = vader_word(sc, i);
	return (w == VADER_W_SO || w == VADER_W_THIS);
}

static int
vader_is_lexicon(const struct vader_scratch *sc, size_t i)
{
	return (sc->tokens[i].flags & VADER_E_LEXICON);
}

static uint8_t
vader_word(const struct vader_scratch *sc, size_t i)
{
	return (sc->tokens[i].word);
}
