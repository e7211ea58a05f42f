/*
 * vader_unicode.c: the few Unicode facts the reference gets from Python's
 * str type: UTF-8 decoding, what str.split() treats as white space, what
 * str.isupper() treats as upper or lower case, and str.lower().
 *
 * The tables in vader_unicode_tab.h come from the Python that produced the
 * reference scores (3.11, Unicode 14.0); ASCII never reaches them.
 */
#include <stddef.h>
#include <stdint.h>

#include "vader.h"
#include "vader_unicode_tab.h"

#define VADER_NELEM(a)		(sizeof(a) / sizeof((a)[0]))

/*
 * Decodes one code point of strict UTF-8 (no overlong forms, surrogates or
 * values above U+10FFFF) at s[*pos], advancing *pos.  Returns 1, or 0 on an
 * invalid or truncated sequence, leaving *pos alone.
 */
int
vader_unicode_decode(const char *s, size_t len, size_t *pos, uint32_t *cp)
{
	const unsigned char	*p;
	size_t			 i, n, avail;
	uint32_t		 c, min;

	p = (const unsigned char *)s + *pos;
	avail = len - *pos;
	if (avail == 0)
		return (0);

	c = p[0];
	if (c < 0x80) {
		*cp = c;
		*pos += 1;
		return (1);
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return (0);
	}
	if (avail < n)
		return (0);
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (0);
		c = (c << 6) | (p[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return (0);

	*cp = c;
	*pos += n;
	return (1);
}

/* Returns 1 if all len bytes of s are strict UTF-8, else 0. */
int
vader_unicode_valid(const char *s, size_t len)
{
	size_t		pos;
	uint32_t	cp;

	pos = 0;
	while (pos < len) {
		if ((unsigned char)s[pos] < 0x80) {
			pos++;
			continue;
		}
		if (!vader_unicode_decode(s, len, &pos, &cp))
			return (0);
	}
	return (1);
}

/* Writes cp as UTF-8 to out (room for 4 bytes); returns the length. */
size_t
vader_unicode_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return (1);
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return (2);
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return (3);
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return (4);
}

/* Python's str.isspace() for one code point: what str.split() splits on. */
int
vader_unicode_isspace(uint32_t cp)
{
	size_t		i;

	if (cp < 0x80)
		return ((cp >= 0x09 && cp <= 0x0d) ||
		    (cp >= 0x1c && cp <= 0x20));
	for (i = 0; i < VADER_NELEM(vader_unicode_space); i++) {
		if (vader_unicode_space[i] == cp)
			return (1);
		if (vader_unicode_space[i] > cp)
			break;
	}
	return (0);
}

/*
 * The part a code point plays in Python's str.isupper(): VADER_CASE_UPPER
 * if it is upper case, VADER_CASE_LOWER if it is lower or title case (which
 * make the word not upper case), VADER_CASE_NONE if it has no case.
 */
int
vader_unicode_case(uint32_t cp)
{
	size_t		lo, hi, mid;

	if (cp < 0x80) {
		if (cp >= 'A' && cp <= 'Z')
			return (VADER_CASE_UPPER);
		if (cp >= 'a' && cp <= 'z')
			return (VADER_CASE_LOWER);
		return (VADER_CASE_NONE);
	}

	/* The last run starting at or before cp; the first starts at 0x80. */
	lo = 0;
	hi = VADER_NELEM(vader_unicode_case_runs);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if ((vader_unicode_case_runs[mid] >> 2) <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return ((int)(vader_unicode_case_runs[lo] & 0x3));
}

/*
 * Python's str.lower() of one code point, written to out; returns the
 * number of code points (2 only for U+0130, which lowers to "i" and a
 * combining dot).  The context-dependent final sigma is not applied: the
 * loader refuses keys containing a sigma, so it cannot change a match.
 */
size_t
vader_unicode_lower(uint32_t cp, uint32_t out[2])
{
	size_t		lo, hi, mid;

	if (cp < 0x80) {
		out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 0x20 : cp;
		return (1);
	}
	if (cp == 0x130) {
		out[0] = 'i';
		out[1] = 0x307;
		return (2);
	}

	out[0] = cp;
	lo = 0;
	hi = VADER_NELEM(vader_unicode_lower_map);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (vader_unicode_lower_map[mid][0] == cp) {
			out[0] = vader_unicode_lower_map[mid][1];
			break;
		}
		if (vader_unicode_lower_map[mid][0] < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (1);
}
