/*
 * fuzz_gemini.c: libFuzzer target for everything that reads what Gemini
 * sends back, in the order api_analyze.c uses it: gemini_error_status()
 * and gemini_server_delay_ms() on any reply, gemini_reply_text() on a
 * 200's body, then analyzer_report_parse() on the text it returns.  The
 * input also goes to analyzer_report_parse() directly (so the fuzzer
 * reaches the report's rules without wrapping them in a reply), and, cut
 * at the first newline, to the Retry-After and Duration parsers.
 *
 * Properties (abort() when broken):
 * - a parser that fails says why (err is a non-empty string);
 * - the status is a plain upper-case word shorter than 40 bytes;
 * - delays are -1 or 0..one year in milliseconds;
 * - a report that passes has exactly the five fields, in their ranges
 *   (summary 1..4000 bytes, at most 20 issues of a known severity, at
 *   most 20 recommendations, confidence_score finite in 0..1), and
 *   encodes as JSON.
 *
 * Build and run: make fuzz (tests/fuzz/run.sh).
 */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "analyzer.h"
#include "gemini.h"

#define FUZZ_NOW		((time_t)1767225600)	/* 2026-01-01 */
#define FUZZ_YEAR_MS		(86400L * 365 * 1000)
#define FUZZ_HEADER_MAX		64	/* struct gemini_result's copy */

int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_check(int, const char *);
static void	fuzz_report(const char *, size_t);
static void	fuzz_delay(long);
static void	fuzz_header(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*body, *st;
	char		 err[128], status[48], *text;
	size_t		 i;

	body = (const char *)data;
	if (size > GEMINI_REPLY_MAX)
		return (0);		/* gemini_perform() keeps no more */

	if ((st = gemini_error_status(body, size, status,
	    sizeof(status))) != NULL) {
		fuzz_check(st == status && *st != '\0' && strlen(st) < 40,
		    "status: a short word");
		for (i = 0; st[i] != '\0'; i++)
			fuzz_check(isupper((unsigned char)st[i]) ||
			    st[i] == '_', "status: upper case");
	}
	fuzz_delay(gemini_server_delay_ms(body, size, NULL, FUZZ_NOW));
	fuzz_delay(gemini_server_delay_ms(body, size, "120", FUZZ_NOW));

	err[0] = '\0';
	text = gemini_reply_text(body, size, err, sizeof(err));
	if (text == NULL) {
		fuzz_check(err[0] != '\0', "reply: a reason");
	} else {
		fuzz_report(text, strlen(text));
		free(text);
	}

	fuzz_report(body, size);
	fuzz_header(data, size);
	return (0);
}

static void
fuzz_check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_gemini: property broken: %s\n", what);
	abort();
}

static void
fuzz_report(const char *text, size_t len)
{
	json_t		*r, *v, *item;
	const char	*key, *sev;
	char		 err[128], *s;
	size_t		 i;
	double		 d;

	err[0] = '\0';
	if ((r = analyzer_report_parse(text, len, err, sizeof(err))) == NULL) {
		fuzz_check(err[0] != '\0', "report: a reason");
		return;
	}
	fuzz_check(json_is_object(r) && json_object_size(r) == 5,
	    "report: five fields");
	json_object_foreach(r, key, v) {
		fuzz_check(strcmp(key, "summary") == 0 ||
		    strcmp(key, "identified_issues") == 0 ||
		    strcmp(key, "recommendations") == 0 ||
		    strcmp(key, "root_cause_hypothesis") == 0 ||
		    strcmp(key, "confidence_score") == 0, "report: known keys");
	}
	v = json_object_get(r, "summary");
	fuzz_check(json_is_string(v) && json_string_length(v) >= 1 &&
	    json_string_length(v) <= 4000, "report: summary 1..4000 bytes");
	v = json_object_get(r, "root_cause_hypothesis");
	fuzz_check(json_is_string(v) && json_string_length(v) >= 1 &&
	    json_string_length(v) <= 2000, "report: hypothesis 1..2000");
	v = json_object_get(r, "identified_issues");
	fuzz_check(json_is_array(v) && json_array_size(v) <= 20,
	    "report: at most 20 issues");
	json_array_foreach(v, i, item) {
		fuzz_check(json_object_size(item) == 3, "issue: three fields");
		sev = json_string_value(json_object_get(item, "severity"));
		fuzz_check(sev != NULL && (strcmp(sev, "low") == 0 ||
		    strcmp(sev, "medium") == 0 || strcmp(sev, "high") == 0 ||
		    strcmp(sev, "critical") == 0), "issue: known severity");
		fuzz_check(json_is_string(json_object_get(item,
		    "issue_type")) && json_is_string(json_object_get(item,
		    "description")), "issue: strings");
	}
	v = json_object_get(r, "recommendations");
	fuzz_check(json_is_array(v) && json_array_size(v) <= 20,
	    "report: at most 20 recommendations");
	json_array_foreach(v, i, item) {
		fuzz_check(json_is_string(item) &&
		    json_string_length(item) >= 1 &&
		    json_string_length(item) <= 2000,
		    "recommendation: 1..2000 bytes");
	}
	v = json_object_get(r, "confidence_score");
	d = json_number_value(v);
	fuzz_check(json_is_real(v) && isfinite(d) && d >= 0 && d <= 1,
	    "report: confidence_score in 0..1");

	s = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(15));
	fuzz_check(s != NULL, "report: encodes");
	free(s);
	json_decref(r);
}

static void
fuzz_delay(long ms)
{
	fuzz_check(ms == -1 || (ms >= 0 && ms <= FUZZ_YEAR_MS + 1000),
	    "delay: -1 or 0..a year");
}

/*
 * The first line of the input, as a header value of at most 63 bytes
 * (what gemini_perform() keeps), to the Retry-After and Duration parsers.
 */
static void
fuzz_header(const uint8_t *data, size_t size)
{
	char	value[FUZZ_HEADER_MAX];
	size_t	n;

	for (n = 0; n < size && n < sizeof(value) - 1; n++) {
		if (data[n] == '\n' || data[n] == '\0')
			break;
		value[n] = (char)data[n];
	}
	value[n] = '\0';
	fuzz_delay(gemini_retry_after_ms(value, FUZZ_NOW));
	fuzz_delay(gemini_duration_ms(value));
	fuzz_delay(gemini_server_delay_ms(NULL, 0, value, FUZZ_NOW));
}
