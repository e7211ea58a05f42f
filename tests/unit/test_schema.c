/*
 * test_schema.c: request validation (src/schema.c) and UTF-8 counting.
 */
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "tap.h"

static int
details_name(json_t *details, const char *field)
{
	size_t	 i;
	json_t	*d;

	json_array_foreach(details, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "field")),
		    field) == 0)
			return (1);
	}
	return (0);
}

static void
test_utf8(void)
{
	static const struct {
		const char	*s;
		size_t		 len;
		long		 want;
		const char	*name;
	} cases[] = {
		{ "", 0, 0, "empty" },
		{ "abc", 3, 3, "ASCII" },
		{ "\xc3\xa9t\xc3\xa9", 5, 3, "two-byte code points" },
		{ "\xe2\x82\xac", 3, 1, "three-byte code point (euro)" },
		{ "\xf0\x9f\x98\x80", 4, 1, "four-byte code point (emoji)" },
		{ "\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF" },
		{ "\xff", 1, -1, "0xff is never UTF-8" },
		{ "\xc3", 1, -1, "truncated sequence" },
		{ "\xc0\xaf", 2, -1, "overlong '/' (2 bytes)" },
		{ "\xe0\x80\xaf", 3, -1, "overlong '/' (3 bytes)" },
		{ "\xf0\x80\x80\xaf", 4, -1, "overlong '/' (4 bytes)" },
		{ "\xed\xa0\x80", 3, -1, "UTF-16 surrogate" },
		{ "\xf4\x90\x80\x80", 4, -1, "above U+10FFFF" },
		{ "a\x80", 2, -1, "stray continuation byte" },
		{ "a\0b", 3, 3, "NUL counts as a code point (schema refuses it)" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tap_is_int(schema_utf8_count(cases[i].s, cases[i].len),
		    cases[i].want, "utf8: %s", cases[i].name);
	}
}

static void
check_predict(const char *json, int want_ok, const char *field,
    const char *name)
{
	json_t			*body, *details;
	json_error_t		 jerr;
	struct schema_predict	 in;
	int			 r;

	body = json_loads(json, JSON_DECODE_ANY, &jerr);
	if (body == NULL) {
		tap_ok(0, "%s: fixture parses: %s", name, jerr.text);
		return;
	}
	details = json_array();
	r = schema_predict(body, &in, details);
	if (want_ok) {
		tap_ok(r == 1 && json_array_size(details) == 0, "%s", name);
	} else {
		tap_ok(r == 0 && details_name(details, field),
		    "%s: refused, naming '%s'", name, field);
	}
	json_decref(details);
	json_decref(body);
}

static void
test_predict(void)
{
	json_t			*body, *details;
	struct schema_predict	 in;
	char			 buf[8192];
	size_t			 i, o;

	check_predict("{\"text\": \"hello\"}", 1, NULL, "text only");
	check_predict("{\"text\": \"hi\", \"include_metrics\": false, "
	    "\"extra\": {\"a\": 1}}", 1, NULL, "unknown fields are ignored");
	check_predict("[1]", 0, "body", "array body");
	check_predict("\"text\"", 0, "body", "string body");
	check_predict("{}", 0, "text", "missing text");
	check_predict("{\"text\": null}", 0, "text", "null text");
	check_predict("{\"text\": 1}", 0, "text", "number text");
	check_predict("{\"text\": [\"a\"]}", 0, "text", "array text");
	check_predict("{\"text\": \"\"}", 0, "text", "empty text");
	check_predict("{\"text\": \"a\", \"include_metrics\": 1}", 0,
	    "include_metrics", "include_metrics as a number");
	check_predict("{\"text\": \"a\", \"include_metrics\": null}", 0,
	    "include_metrics", "include_metrics null");

	/* 1000 and 1001 code points, counted as code points not bytes. */
	for (o = 0, i = 0; i < 1000; i++) {
		memcpy(buf + o, "\xc3\xa9", 2);
		o += 2;
	}
	buf[o] = '\0';
	body = json_pack("{s:s}", "text", buf);
	details = json_array();
	tap_ok(schema_predict(body, &in, details) && in.codepoints == 1000 &&
	    in.len == 2000 && in.include_metrics == 1,
	    "1000 two-byte code points pass (2000 bytes)");
	json_decref(body);
	json_decref(details);

	memcpy(buf + o, "a", 2);
	body = json_pack("{s:s}", "text", buf);
	details = json_array();
	tap_ok(!schema_predict(body, &in, details) &&
	    details_name(details, "text"), "1001 code points are refused");
	json_decref(body);
	json_decref(details);

	/* A NUL inside the string (jansson can carry one with ALLOW_NUL). */
	body = json_loads("{\"text\": \"a\\u0000b\"}", JSON_ALLOW_NUL, NULL);
	details = json_array();
	tap_ok(body != NULL && !schema_predict(body, &in, details) &&
	    details_name(details, "text"), "NUL inside text is refused");
	json_decref(body);
	json_decref(details);

	/* Several problems are all reported. */
	body = json_loads("{\"text\": 3, \"include_metrics\": \"x\"}", 0,
	    NULL);
	details = json_array();
	tap_ok(!schema_predict(body, &in, details) &&
	    json_array_size(details) == 2, "every problem is reported");
	json_decref(body);
	json_decref(details);
}

int
main(void)
{
	test_utf8();
	test_predict();
	return (tap_done());
}
