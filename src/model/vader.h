/*
 * vader.h: the private header of the VADER port, shared by the files in
 * src/model.  Prototypes are grouped per file.
 */
#ifndef VADER_H
#define VADER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Longest dictionary key in bytes; longer tokens cannot match any key. */
#define VADER_KEY_MAX		64

/* Longest emoji description in bytes. */
#define VADER_DESC_MAX		128

/*
 * Bound on tokens per input byte, checked against every emoji description
 * at load: a token starts either after input white space (2 bytes of input
 * at least) or inside an emoji description, so an artifact whose
 * descriptions have at most 5 words per 3 bytes of emoji (the worst in
 * 3.3.2 is U+26C8, 3 bytes, "cloud with lightning and rain") yields at most
 * 1 + 5 * len / 3 tokens.
 */
#define VADER_TOKENS_NUM	5
#define VADER_TOKENS_DEN	3
#define VADER_MAX_TOKENS	\
	(1 + (MODEL_MAX_INPUT * VADER_TOKENS_NUM) / VADER_TOKENS_DEN)

/*
 * A token holds at most the last word of one emoji description followed
 * by input characters (an expanded description is always preceded by
 * white space), lower-cased, which can take 3 bytes for 2 (U+0130 and
 * others), never more.
 */
#define VADER_TOKEN_BUF		(((MODEL_MAX_INPUT + VADER_DESC_MAX) * 3) / 2)

/* Entries are addressed by 16-bit indices in the per-call token records. */
#define VADER_MAX_ENTRIES	65000
#define VADER_NO_ENTRY		0xffff

/* What a dictionary entry is, besides (maybe) a lexicon word. */
#define VADER_E_LEXICON		0x01	/* has a valence */
#define VADER_E_NEGATE		0x02	/* in the reference's NEGATE list */
#define VADER_E_BOOST_UP	0x04	/* BOOSTER_DICT, B_INCR */
#define VADER_E_BOOST_DOWN	0x08	/* BOOSTER_DICT, B_DECR */

/*
 * The words the rules compare tokens with ("no", "but", the words of the
 * special-case idioms, ...).  Each has an entry whose word field says so.
 */
enum vader_word {
	VADER_W_NONE = 0,
	VADER_W_ASS,
	VADER_W_AT,
	VADER_W_BAD,
	VADER_W_BEATING,
	VADER_W_BOMB,
	VADER_W_BROKEN,
	VADER_W_BUS,
	VADER_W_BUT,
	VADER_W_DEATH,
	VADER_W_DIE,
	VADER_W_DOUBT,
	VADER_W_ENOUGH,
	VADER_W_FOR,
	VADER_W_HEART,
	VADER_W_JUST,
	VADER_W_KIND,
	VADER_W_KISS,
	VADER_W_LEAST,
	VADER_W_NEVER,
	VADER_W_NO,
	VADER_W_NOR,
	VADER_W_OF,
	VADER_W_OR,
	VADER_W_RIGHT,
	VADER_W_SHIT,
	VADER_W_SO,
	VADER_W_SORT,
	VADER_W_STOP,
	VADER_W_THE,
	VADER_W_THIS,
	VADER_W_TO,
	VADER_W_VERY,
	VADER_W_WITHOUT,
	VADER_W_YEAH,
	VADER_W_COUNT
};

struct vader_entry {
	double		valence;	/* if VADER_E_LEXICON */
	uint32_t	key_off;	/* in keys, not NUL-terminated */
	uint16_t	key_len;
	uint8_t		flags;		/* VADER_E_* */
	uint8_t		word;		/* enum vader_word */
};

/*
 * Lexicon hash slot: the key's FNV-1a hash and length, so that most
 * probes touch nothing else, and entry index + 1 (0: free).
 */
struct vader_slot {
	uint32_t	hash;
	uint16_t	entry;
	uint16_t	key_len;
};

/* FNV-1a, which vader.c computes while it lower-cases a token. */
#define VADER_FNV_OFFSET	2166136261u
#define VADER_FNV_PRIME		16777619u

struct vader_emoji {
	const char	*desc;		/* not NUL-terminated; NULL: free */
	uint32_t	 cp;
	uint32_t	 desc_len;
};

/*
 * The dictionaries, built once by vader_lexicon_load and read-only
 * afterwards.  Keys live in one compact block (lookups touch little
 * memory); descriptions point into the emoji file image.
 */
struct vader_lexicon {
	char			*keys;
	size_t			 keys_len;
	size_t			 keys_cap;
	char			*emoji_file;
	size_t			 emoji_file_len;

	struct vader_entry	*entries;
	size_t			 nentries;
	size_t			 nlexicon;	/* distinct lexicon words */
	struct vader_slot	*slots;
	size_t			 slot_mask;

	struct vader_emoji	*emoji;		/* single code point keys */
	size_t			 emoji_mask;
	size_t			 nemoji;	/* usable (single code point) */
	size_t			 nemoji_lines;
	uint32_t		 emoji_min_cp;
};

/* Unrounded scores, as the reference computes them before round(). */
struct vader_scores {
	double		compound;
	double		pos;
	double		neu;
	double		neg;
};

/* vader.c */
int		 vader_score(const struct vader_lexicon *, const char *, size_t,
		    struct vader_scores *);

/* vader_lexicon.c */
int		 vader_lexicon_load(struct vader_lexicon *, const char *,
		    char *, size_t, const char *, char *, size_t, char *,
		    size_t);
int		 vader_lexicon_load_overlay(struct vader_lexicon *,
		    const char *, char *, size_t, const char *, char *, size_t,
		    const char *, char *, size_t, char *, size_t);
void		 vader_lexicon_cleanup(struct vader_lexicon *);
const struct vader_entry *vader_lexicon_lookup(const struct vader_lexicon *,
		    const char *, size_t, uint32_t);
uint32_t	 vader_lexicon_hash(const char *, size_t);
const struct vader_emoji *vader_lexicon_emoji(const struct vader_lexicon *,
		    uint32_t);

/* vader_unicode.c */
int		 vader_unicode_decode(const char *, size_t, size_t *,
		    uint32_t *);
int		 vader_unicode_valid(const char *, size_t);
size_t		 vader_unicode_encode(uint32_t, char *);
int		 vader_unicode_isspace(uint32_t);
int		 vader_unicode_case(uint32_t);
size_t		 vader_unicode_lower(uint32_t, uint32_t [2]);

#define VADER_CASE_NONE		0
#define VADER_CASE_UPPER	1
#define VADER_CASE_LOWER	2	/* lower or title case */

#endif
