/*
 * test_uuid.c: UUID version 7 ids (src/uuid.c).
 */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "uuid.h"

#define MANY	100000

static int
cmp_id(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* Value of hex digit c. */
static int
hexval(char c)
{
	return (c <= '9' ? c - '0' : c - 'a' + 10);
}

int
main(void)
{
	char	a[UUID_STRLEN], b[UUID_STRLEN];
	int	i, distinct;

	uuid_v7(a, 0x0123456789abULL);
	tap_ok(uuid_valid(a), "a v7 id is a canonical UUID: %s", a);
	tap_ok(strncmp(a, "01234567-89ab-7", 15) == 0,
	    "48-bit time first, then version 7: %s", a);
	tap_ok(strchr("89ab", a[19]) != NULL, "RFC 9562 variant (10xx)");

	uuid_v7(b, 0x0123456789acULL);
	tap_ok(strcmp(a, b) < 0, "a later millisecond sorts after");

	distinct = 1;
	for (i = 0; i < 1000; i++) {
		uuid_v7(b, 0x0123456789abULL);
		if (strcmp(a, b) == 0)
			distinct = 0;
	}
	tap_ok(distinct, "ids within one millisecond differ (random bits)");

	/*
	 * The primary key is (prediction_id, created_at), so the database no
	 * longer refuses a repeated id on its own: the 74 random bits must
	 * keep ids of one millisecond apart.  Every one of them takes both
	 * values, and 100,000 ids of one millisecond are all distinct.
	 */
	{
		static char	ids[MANY][UUID_STRLEN];
		int		seen0[128], seen1[128], bit, n, dup, stuck;

		memset(seen0, 0, sizeof(seen0));
		memset(seen1, 0, sizeof(seen1));
		for (n = 0; n < MANY; n++) {
			uuid_v7(ids[n], 0x0123456789abULL);
			for (i = 0, bit = 0; ids[n][i] != '\0'; i++) {
				int	v, k;

				if (ids[n][i] == '-')
					continue;
				v = hexval(ids[n][i]);
				for (k = 3; k >= 0; k--, bit++) {
					if (v & (1 << k))
						seen1[bit]++;
					else
						seen0[bit]++;
				}
			}
		}
		/* Bits 48-51 are the version, 64-65 the variant. */
		stuck = 0;
		for (bit = 48; bit < 128; bit++) {
			if (bit < 52 || bit == 64 || bit == 65)
				continue;
			if (seen0[bit] == 0 || seen1[bit] == 0)
				stuck++;
		}
		tap_ok(stuck == 0, "each of the 74 random bits varies "
		    "(%d stuck)", stuck);
		qsort(ids, MANY, UUID_STRLEN, cmp_id);
		for (n = 1, dup = 0; n < MANY; n++)
			if (strcmp(ids[n - 1], ids[n]) == 0)
				dup++;
		tap_ok(dup == 0, "%d ids of one millisecond: %d repeated",
		    MANY, dup);
	}

	uuid_v7_now(b);
	tap_ok(uuid_valid(b) && b[14] == '7', "uuid_v7_now is a v7 id");

	tap_ok(!uuid_valid("01234567-89ab-7cde-8f01-23456789abc"), "too short");
	tap_ok(!uuid_valid("01234567-89AB-7cde-8f01-23456789abcd"),
	    "upper case is not canonical");
	tap_ok(!uuid_valid("0123456789ab-7cde-8f01-23456789abcd-"),
	    "dashes in the wrong places");
	return (tap_done());
}
