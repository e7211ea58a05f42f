/*
 * uuid.c: UUID version 7 (RFC 9562): 48 bits of Unix time in
 * milliseconds, then 74 random bits.  Time-ordered ids keep inserts into
 * the primary key's B-tree at its right edge instead of all over it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uuid.h"

/* Writes the id for time ms (Unix epoch) into out[UUID_STRLEN]. */
void
uuid_v7(char *out, uint64_t ms)
{
	unsigned char	b[16];
	static const char hex[] = "0123456789abcdef";
	int		i, o;

	arc4random_buf(b + 6, sizeof(b) - 6);
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)(ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));	/* version 7 */
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));	/* variant 10 */

	for (i = 0, o = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0x0f];
	}
	out[o] = '\0';
}

/* The id for the current time. */
void
uuid_v7_now(char *out)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	uuid_v7(out, (uint64_t)ts.tv_sec * 1000 +
	    (uint64_t)ts.tv_nsec / 1000000);
}

/* 1 if s is a canonical lower-case UUID string, else 0. */
int
uuid_valid(const char *s)
{
	int	i;

	if (strlen(s) != UUID_STRLEN - 1)
		return (0);
	for (i = 0; i < UUID_STRLEN - 1; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return (0);
		} else if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f'))) {
			return (0);
		}
	}
	return (1);
}
