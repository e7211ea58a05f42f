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
 * token's bytes and a record per token, sized by VADER_MAX_TOKENS.
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

/* Token flags. */
#define VADER_T_UPPER		0x01	/* str.isupper() */
#define VADER_T_NEGATED		0x02	/* negated([word]) */

struct vader_token {
	uint16_t	entry;		/* index in lex->entries, or NO_ENTRY */
	uint8_t		flags;		/* VADER_T_* */
	uint8_t		word;		/* enum vader_word */
};

struct vader_scratch {
	const struct vader_lexicon	*lex;
	size_t				 ntokens;
	size_t				 nupper;
	size_t				 nbang;
	size_t				 nquest;
	size_t				 but;		/* first "but" */
	int				 cap_diff;
	size_t				 toklen;
	char				 tok[VADER_TOKEN_BUF];
	union {
		/* Per token while scoring, then the non-zero sentiments. */
		struct vader_token	 tokens[VADER_MAX_TOKENS];
		uint32_t		 nonzero[VADER_MAX_TOKENS];
	} u;
	double				 sentiments[VADER_MAX_TOKENS];
};

_Static_assert(sizeof(struct vader_scratch) <= MODEL_STACK_BYTES,
    "MODEL_STACK_BYTES is too small for the scratch area");
_Static_assert(VADER_MAX_TOKENS < UINT32_MAX, "token index overflow");

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

static int	vader_feed(struct vader_scratch *, uint32_t, const char *,
		    size_t);
static int	vader_flush(struct vader_scratch *);
static double	vader_valence(const struct vader_scratch *, size_t);
static double	vader_scalar(const struct vader_scratch *, size_t, double);
static double	vader_negation(const struct vader_scratch *, double, size_t,
		    size_t);
static double	vader_idioms(const struct vader_scratch *, double, size_t);
static double	vader_least(const struct vader_scratch *, double, size_t);
static void	vader_but(struct vader_scratch *);
static void	vader_totals(const struct vader_scratch *,
		    struct vader_scores *);
static int	vader_special(const uint8_t *, size_t, double *);
static int	vader_is_so_this(const struct vader_scratch *, size_t);
static const struct vader_entry *vader_entry(const struct vader_scratch *,
		    size_t);
static int	vader_is_lexicon(const struct vader_scratch *, size_t);
static uint8_t	vader_word(const struct vader_scratch *, size_t);
static int	vader_ispunct(unsigned char);

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
	const struct vader_emoji	*em;
	size_t				 pos, start, dpos, dstart, i, n, diff;
	uint32_t			 cp, dcp;
	int				 prev_space, ret;
	const struct vader_entry	*e;

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
	sc.toklen = 0;

	/* polarity_scores: emoji to descriptions, then text.split(). */
	prev_space = 1;
	pos = 0;
	while (pos < len) {
		start = pos;
		if (!vader_unicode_decode(text, len, &pos, &cp))
			goto cleanup;
		if ((em = vader_lexicon_emoji(lex, cp)) == NULL) {
			if (!vader_feed(&sc, cp, text + start, pos - start))
				goto cleanup;
			prev_space = (cp == ' ');
			continue;
		}
		if (!prev_space && !vader_feed(&sc, ' ', " ", 1))
			goto cleanup;
		dpos = 0;
		while (dpos < em->desc_len) {
			dstart = dpos;
			if (!vader_unicode_decode(em->desc, em->desc_len,
			    &dpos, &dcp))
				goto cleanup;
			if (!vader_feed(&sc, dcp, em->desc + dstart,
			    dpos - dstart))
				goto cleanup;
		}
		prev_space = 0;
	}
	if (!vader_flush(&sc))
		goto cleanup;

	/* allcap_differential: some, but not all, words are ALL CAPS. */
	n = sc.ntokens;
	diff = n - sc.nupper;
	sc.cap_diff = (diff > 0 && diff < n);

	for (i = 0; i < n; i++) {
		e = vader_entry(&sc, i);
		sc.sentiments[i] = 0.0;
		if (e != NULL &&
		    (e->flags & (VADER_E_BOOST_UP | VADER_E_BOOST_DOWN)))
			continue;
		if (i + 1 < n && vader_word(&sc, i) == VADER_W_KIND &&
		    vader_word(&sc, i + 1) == VADER_W_OF)
			continue;
		if (vader_is_lexicon(&sc, i))
			sc.sentiments[i] = vader_valence(&sc, i);
	}
	for (i = 0; i < n; i++) {
		if (vader_word(&sc, i) == VADER_W_BUT) {
			sc.but = i;
			break;
		}
	}

	/* From here on sc.u holds the non-zero sentiments. */
	vader_but(&sc);
	vader_totals(&sc, out);
	ret = 1;

cleanup:
	return (ret);
}

/*
 * Takes the next character of the emoji-expanded text: white space ends a
 * token, anything else is appended to it.  Returns 0 if the scratch area
 * is full.
 */
static int
vader_feed(struct vader_scratch *sc, uint32_t cp, const char *bytes,
    size_t n)
{
	if (cp == '!')
		sc->nbang++;
	else if (cp == '?')
		sc->nquest++;

	if (vader_unicode_isspace(cp))
		return (vader_flush(sc));

	if (n > sizeof(sc->tok) - sc->toklen)
		return (0);
	if (n == 1)
		sc->tok[sc->toklen] = bytes[0];
	else
		memcpy(sc->tok + sc->toklen, bytes, n);
	sc->toklen += n;
	return (1);
}

/*
 * Ends the current token, if any: _strip_punc_if_word, then what the rules
 * need to know about the word (lower-cased dictionary entry, ALL CAPS,
 * negation).  Returns 0 if there is no room for another token.
 */
static int
vader_flush(struct vader_scratch *sc)
{
	struct vader_token		*t;
	const struct vader_entry	*e;
	const char			*w;
	char				 key[VADER_KEY_MAX], enc[8];
	size_t				 len, wlen, lead, trail, pos, i, j;
	size_t				 klen, ncp, nlow;
	uint32_t			 cp, low[2];
	unsigned char			 b, b1, b2;
	int				 upper, lower, overflow, nt, c;

	len = sc->toklen;
	if (len == 0)
		return (1);
	sc->toklen = 0;
	if (sc->ntokens >= VADER_MAX_TOKENS)
		return (0);

	/*
	 * token.strip(string.punctuation), kept only if more than two code
	 * points remain ("likely an emoticon" otherwise).
	 */
	w = sc->tok;
	wlen = len;
	lead = 0;
	while (lead < len && vader_ispunct((unsigned char)sc->tok[lead]))
		lead++;
	if (lead < len) {
		trail = 0;
		while (vader_ispunct((unsigned char)sc->tok[len - 1 - trail]))
			trail++;
		ncp = 0;
		for (i = lead; i < len - trail && ncp <= 2; i++) {
			if (((unsigned char)sc->tok[i] & 0xc0) != 0x80)
				ncp++;
		}
		if (ncp > 2) {
			w = sc->tok + lead;
			wlen = len - lead - trail;
		}
	}

	/*
	 * word.isupper(), word.lower() and "n't" in word.lower(), in one
	 * walk.  Punctuation has no case, so stripping does not change
	 * isupper().  A lower-cased word longer than any key matches nothing,
	 * but the whole of it is searched for "n't".
	 */
	upper = 0;
	lower = 0;
	overflow = 0;
	nt = 0;
	klen = 0;
	b1 = 0;
	b2 = 0;
	pos = 0;
	while (pos < wlen) {
		b = (unsigned char)w[pos];
		if (b < 0x80) {
			pos++;
			if (b >= 'A' && b <= 'Z') {
				upper = 1;
				b += 'a' - 'A';
			} else if (b >= 'a' && b <= 'z') {
				lower = 1;
			}
			enc[0] = (char)b;
			nlow = 1;
		} else {
			if (!vader_unicode_decode(w, wlen, &pos, &cp))
				return (0);
			c = vader_unicode_case(cp);
			if (c == VADER_CASE_UPPER)
				upper = 1;
			else if (c == VADER_CASE_LOWER)
				lower = 1;
			nlow = 0;
			ncp = vader_unicode_lower(cp, low);
			for (i = 0; i < ncp; i++)
				nlow += vader_unicode_encode(low[i], enc + nlow);
		}
		for (j = 0; j < nlow; j++) {
			b = (unsigned char)enc[j];
			if (b2 == 'n' && b1 == '\'' && b == 't')
				nt = 1;
			b2 = b1;
			b1 = b;
			if (klen < sizeof(key))
				key[klen++] = (char)b;
			else
				overflow = 1;
		}
	}

	e = overflow ? NULL : vader_lexicon_lookup(sc->lex, key, klen);
	t = &sc->u.tokens[sc->ntokens++];
	t->entry = e != NULL ? (uint16_t)(e - sc->lex->entries) : VADER_NO_ENTRY;
	t->word = e != NULL ? e->word : VADER_W_NONE;
	t->flags = 0;
	if (upper && !lower) {
		t->flags |= VADER_T_UPPER;
		sc->nupper++;
	}
	if (nt || (e != NULL && (e->flags & VADER_E_NEGATE)))
		t->flags |= VADER_T_NEGATED;
	return (1);
}

/* sentiment_valence for lexicon word i. */
static double
vader_valence(const struct vader_scratch *sc, size_t i)
{
	const struct vader_entry	*e;
	size_t				 n, start;
	double				 v, s;

	n = sc->ntokens;
	e = vader_entry(sc, i);
	v = e->valence;

	/* "no" before another lexicon word only negates it. */
	if (vader_word(sc, i) == VADER_W_NO && i != n - 1 &&
	    vader_is_lexicon(sc, i + 1))
		v = 0.0;
	if ((i > 0 && vader_word(sc, i - 1) == VADER_W_NO) ||
	    (i > 1 && vader_word(sc, i - 2) == VADER_W_NO) ||
	    (i > 2 && vader_word(sc, i - 3) == VADER_W_NO &&
	    (vader_word(sc, i - 1) == VADER_W_OR ||
	    vader_word(sc, i - 1) == VADER_W_NOR)))
		v = e->valence * VADER_N_SCALAR;

	/* ALL CAPS among other words; note 0.0 counts as negative. */
	if ((sc->u.tokens[i].flags & VADER_T_UPPER) && sc->cap_diff) {
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
	const struct vader_entry	*e;
	double				 scalar;

	scalar = 0.0;
	e = vader_entry(sc, j);
	if (e == NULL || !(e->flags & (VADER_E_BOOST_UP | VADER_E_BOOST_DOWN)))
		return (scalar);

	scalar = (e->flags & VADER_E_BOOST_UP) ? VADER_B_INCR : VADER_B_DECR;
	if (v < 0)
		scalar = -scalar;
	if ((sc->u.tokens[j].flags & VADER_T_UPPER) && sc->cap_diff) {
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
		if (sc->u.tokens[i - 1].flags & VADER_T_NEGATED)
			v = v * VADER_N_SCALAR;
		break;
	case 1:
		if (vader_word(sc, i - 2) == VADER_W_NEVER &&
		    vader_is_so_this(sc, i - 1))
			v = v * 1.25;
		else if (vader_word(sc, i - 2) == VADER_W_WITHOUT &&
		    vader_word(sc, i - 1) == VADER_W_DOUBT)
			;	/* "without doubt" leaves it alone */
		else if (sc->u.tokens[i - 2].flags & VADER_T_NEGATED)
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
		else if (sc->u.tokens[i - 3].flags & VADER_T_NEGATED)
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
 * Zeros stay zeros, so only the non-zero elements are searched.
 */
static void
vader_but(struct vader_scratch *sc)
{
	size_t		i, k, m, si;
	double		v;

	if (sc->but == VADER_NONE)
		return;

	m = 0;
	for (i = 0; i < sc->ntokens; i++) {
		if (sc->sentiments[i] != 0)
			sc->u.nonzero[m++] = (uint32_t)i;
	}

	for (k = 0; k < m; k++) {
		v = sc->sentiments[sc->u.nonzero[k]];
		for (i = 0; sc->sentiments[sc->u.nonzero[i]] != v; i++)
			;
		si = sc->u.nonzero[i];
		if (si < sc->but)
			sc->sentiments[si] = v * 0.5;
		else if (si > sc->but)
			sc->sentiments[si] = v * 1.5;
	}
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

	/* sum(sentiments): left to right, as Python 3.11 does. */
	sum = 0.0;
	for (i = 0; i < sc->ntokens; i++)
		sum += sc->sentiments[i];

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

	/* _sift_sentiment_scores */
	pos_sum = 0.0;
	neg_sum = 0.0;
	neu_count = 0;
	for (i = 0; i < sc->ntokens; i++) {
		s = sc->sentiments[i];
		if (s > 0)
			pos_sum += s + 1;
		if (s < 0)
			neg_sum += s - 1;
		if (s == 0)
			neu_count++;
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

static const struct vader_entry *
vader_entry(const struct vader_scratch *sc, size_t i)
{
	if (sc->u.tokens[i].entry == VADER_NO_ENTRY)
		return (NULL);
	return (&sc->lex->entries[sc->u.tokens[i].entry]);
}

static int
vader_is_lexicon(const struct vader_scratch *sc, size_t i)
{
	const struct vader_entry	*e;

	e = vader_entry(sc, i);
	return (e != NULL && (e->flags & VADER_E_LEXICON));
}

static uint8_t
vader_word(const struct vader_scratch *sc, size_t i)
{
	return (sc->u.tokens[i].word);
}

/* Python's string.punctuation: the ASCII graphic non-alphanumerics. */
static int
vader_ispunct(unsigned char c)
{
	return ((c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
	    (c >= '[' && c <= '`') || (c >= '{' && c <= '~'));
}
