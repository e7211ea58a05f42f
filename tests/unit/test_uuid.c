/*
 * test_uuid.c: UUID version 7 ids (src/uuid.c).
 */
#include <string.h>

#include "tap.h"
#include "uuid.h"

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

	uuid_v7_now(b);
	tap_ok(uuid_valid(b) && b[14] == '7', "uuid_v7_now is a v7 id");

	tap_ok(!uuid_valid("01234567-89ab-7cde-8f01-23456789abc"), "too short");
	tap_ok(!uuid_valid("01234567-89AB-7cde-8f01-23456789abcd"),
	    "upper case is not canonical");
	tap_ok(!uuid_valid("0123456789ab-7cde-8f01-23456789abcd-"),
	    "dashes in the wrong places");
	return (tap_done());
}
