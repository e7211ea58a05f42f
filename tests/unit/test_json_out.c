/*
 * test_json_out.c: the buffer JSON writer (src/json_out.c); what it
 * writes is read back with jansson.
 */
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "json_out.h"
#include "tap.h"

int
main(void)
{
	struct json_out	 o;
	char		 buf[512], tiny[16];
	const char	*text;
	json_t		*v, *m;
	json_error_t	 err;
	size_t		 len;
	int		 i;

	json_out_init(&o, buf, sizeof(buf));
	json_out_open(&o, NULL);
	json_out_str(&o, "sentiment", "positive");
	json_out_fixed(&o, "confidence", 0.652211, 6);
	json_out_fixed(&o, "inference_time_ms", 0.022, 3);
	json_out_open(&o, "metric");
	json_out_fixed(&o, "compound", -0.9999, 4);
	json_out_fixed(&o, "neg", 1.0, 3);
	json_out_int(&o, "input_length", 1000);
	json_out_close(&o);
	json_out_str(&o, "after", "x");
	json_out_close(&o);
	text = json_out_done(&o, &len);
	tap_is_str(text, "{\"sentiment\":\"positive\",\"confidence\":0.652211,"
	    "\"inference_time_ms\":0.022,\"metric\":{\"compound\":-0.9999,"
	    "\"neg\":1.0,\"input_length\":1000},\"after\":\"x\"}",
	    "members in order, commas only between them, nested object");
	tap_is_int((long long)len, (long long)strlen(buf), "length returned");

	v = json_loads(text, JSON_REJECT_DUPLICATES, &err);
	m = json_object_get(v, "metric");
	tap_ok(v != NULL && json_is_real(json_object_get(v, "confidence")) &&
	    json_real_value(json_object_get(v, "confidence")) == 0.652211 &&
	    json_real_value(json_object_get(m, "compound")) == -0.9999 &&
	    json_is_real(json_object_get(m, "neg")) &&
	    json_integer_value(json_object_get(m, "input_length")) == 1000,
	    "jansson reads it back: reals stay reals, same values");
	json_decref(v);

	json_out_init(&o, buf, sizeof(buf));
	json_out_open(&o, NULL);
	json_out_str(&o, "s", "quote \" back \\ nl \n tab \t bell \a del \x7f "
	    "caf\xc3\xa9");
	json_out_str(&o, "k\"ey", "");
	json_out_close(&o);
	text = json_out_done(&o, NULL);
	tap_is_str(text, "{\"s\":\"quote \\\" back \\\\ nl \\n tab \\t bell "
	    "\\u0007 del \x7f caf\xc3\xa9\",\"k\\\"ey\":\"\"}",
	    "strings and keys escaped as JSON requires, UTF-8 kept");
	v = json_loads(text, 0, &err);
	tap_is_str(v != NULL ? json_string_value(json_object_get(v, "s")) :
	    NULL, "quote \" back \\ nl \n tab \t bell \a del \x7f caf\xc3\xa9",
	    "and read back to the same string");
	json_decref(v);

	json_out_init(&o, buf, sizeof(buf));
	json_out_open(&o, NULL);
	json_out_fixed(&o, "x", NAN, 3);
	json_out_close(&o);
	tap_ok(json_out_done(&o, NULL) == NULL,
	    "not a number: no text at all rather than invalid JSON");

	json_out_init(&o, tiny, sizeof(tiny));
	json_out_open(&o, NULL);
	json_out_str(&o, "sentiment", "positive");
	json_out_close(&o);
	tap_ok(json_out_done(&o, NULL) == NULL, "too long for the buffer: NULL");

	/* Every prefix length of a buffer: either the whole text or NULL. */
	for (i = 0; i <= 40; i++) {
		json_out_init(&o, buf, (size_t)i);
		json_out_open(&o, NULL);
		json_out_str(&o, "a", "b\"c");
		json_out_int(&o, "n", -42);
		json_out_close(&o);
		text = json_out_done(&o, &len);
		if (text != NULL && (strcmp(text,
		    "{\"a\":\"b\\\"c\",\"n\":-42}") != 0 || (size_t)i <= len))
			break;
		if (text == NULL && i > 21)
			break;
	}
	tap_is_int(i, 41, "buffers of 0..40 bytes: the full text (21 bytes "
	    "and its NUL) from 22 on, NULL below");
	return (tap_done());
}
