/*
 * test_gemini.c: the Gemini client's pure parts (src/gemini.c): the URL
 * and request body, reading replies and error bodies (recorded shapes in
 * tests/unit/fixtures/), server retry delays, the retry policy, and one
 * libcurl call that cannot reach anything.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gemini.h"
#include "tap.h"

static char	*fixture(const char *, size_t *);
static void	 test_url(void);
static void	 test_request(void);
static void	 test_reply_text(void);
static void	 test_durations(void);
static void	 test_server_delay(void);
static void	 test_retryable(void);
static void	 test_backoff(void);
static void	 test_next_delay(void);
static void	 test_reasons(void);
static void	 test_perform(void);

int
main(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_url();
	test_request();
	test_reply_text();
	test_durations();
	test_server_delay();
	test_retryable();
	test_backoff();
	test_next_delay();
	test_reasons();
	test_perform();
	curl_global_cleanup();
	return (tap_done());
}

/* tests/unit/fixtures/name, NUL-terminated (prove runs from the root). */
static char *
fixture(const char *name, size_t *len)
{
	FILE	*fp;
	char	 path[256], *buf;
	long	 n;

	snprintf(path, sizeof(path), "tests/unit/fixtures/%s", name);
	if ((fp = fopen(path, "rb")) == NULL)
		return (NULL);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return (buf);
}

static void
test_url(void)
{
	static const struct {
		const char	*base;
		const char	*model;
		const char	*want;
	} cases[] = {
		{ "https://generativelanguage.googleapis.com",
		    "gemini-2.5-flash-lite",
		    "https://generativelanguage.googleapis.com/v1beta/models/"
		    "gemini-2.5-flash-lite:generateContent" },
		{ "http://127.0.0.1:9999/", "m_1.0",
		    "http://127.0.0.1:9999/v1beta/models/m_1.0:generateContent" },
		{ "http://h//", "m", "http://h/v1beta/models/m:generateContent" },
		{ "http://h", "a/b", NULL },
		{ "http://h", "m?key=x", NULL },
		{ "http://h", "m#x", NULL },
		{ "http://h", "m n", NULL },
		{ "http://h", "", NULL },
		{ "", "m", NULL },
	};
	char	buf[GEMINI_URL_MAX], small[32];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tap_is_str(gemini_url(cases[i].base, cases[i].model, buf,
		    sizeof(buf)), cases[i].want, "url: '%s' + '%s'",
		    cases[i].base, cases[i].model);
	}
	tap_ok(gemini_url("https://generativelanguage.googleapis.com", "m",
	    small, sizeof(small)) == NULL, "url: too long for the buffer");
}

static void
test_request(void)
{
	json_t		*schema, *body, *gc, *part;
	char		*s;

	schema = json_pack("{s:s}", "type", "OBJECT");
	body = gemini_request("the prompt", 0.3, 1024, schema);
	tap_ok(body != NULL, "request: built");
	part = json_array_get(json_object_get(json_array_get(
	    json_object_get(body, "contents"), 0), "parts"), 0);
	tap_is_str(json_string_value(json_object_get(part, "text")),
	    "the prompt", "request: contents[0].parts[0].text is the prompt");
	tap_is_str(json_string_value(json_object_get(json_array_get(
	    json_object_get(body, "contents"), 0), "role")), "user",
	    "request: the turn is the user's");
	gc = json_object_get(body, "generationConfig");
	tap_is_double(json_real_value(json_object_get(gc, "temperature")),
	    0.3, 1e-12, "request: temperature");
	tap_is_int(json_integer_value(json_object_get(gc, "maxOutputTokens")),
	    1024, "request: maxOutputTokens");
	tap_is_str(json_string_value(json_object_get(gc, "responseMimeType")),
	    "application/json", "request: responseMimeType is JSON");
	tap_ok(json_equal(json_object_get(gc, "responseSchema"), schema),
	    "request: responseSchema is the schema given");
	s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15));
	tap_ok(s != NULL && strstr(s, "\"temperature\":0.3,") != NULL,
	    "request: 0.3 goes on the wire as 0.3");
	free(s);
	json_decref(body);
	json_decref(schema);
}

static void
test_reply_text(void)
{
	static const struct {
		const char	*name;
		const char	*body;
		const char	*err;	/* NULL: text expected */
	} cases[] = {
		{ "not JSON", "{\"candidates\": [", "reply is not JSON" },
		{ "no candidates", "{}", "reply has no candidates" },
		{ "empty candidates", "{\"candidates\": []}",
		    "reply has no candidates" },
		{ "text not a string", "{\"candidates\": [{\"content\": "
		    "{\"parts\": [{\"text\": 5}]}}]}", "candidate has no text" },
		{ "no parts", "{\"candidates\": [{\"content\": {}}]}",
		    "candidate has no text" },
		{ "plain text", "{\"candidates\": [{\"content\": {\"parts\": "
		    "[{\"text\": \"x\"}]}}]}", NULL },
	};
	char	*body, *text, err[128];
	size_t	 i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		text = gemini_reply_text(cases[i].body, strlen(cases[i].body),
		    err, sizeof(err));
		if (cases[i].err == NULL)
			tap_is_str(text, "x", "reply: %s", cases[i].name);
		else
			tap_ok(text == NULL && !strcmp(err, cases[i].err),
			    "reply: %s -> '%s'", cases[i].name, err);
		free(text);
	}

	body = fixture("gemini_reply_ok.json", &len);
	text = body != NULL ? gemini_reply_text(body, len, err, sizeof(err)) :
	    NULL;
	tap_ok(text != NULL && strncmp(text, "{\"summary\": ", 12) == 0,
	    "reply: recorded 200 gives candidates[0].content.parts[0].text");
	free(text);
	free(body);

	body = fixture("gemini_reply_blocked.json", &len);
	text = body != NULL ? gemini_reply_text(body, len, err, sizeof(err)) :
	    NULL;
	tap_ok(text == NULL && strstr(err, "SAFETY") != NULL,
	    "reply: a blocked prompt says why (%s)", err);
	free(body);

	body = fixture("gemini_reply_max_tokens.json", &len);
	text = body != NULL ? gemini_reply_text(body, len, err, sizeof(err)) :
	    NULL;
	tap_ok(text == NULL && strstr(err, "MAX_TOKENS") != NULL,
	    "reply: a candidate cut at maxOutputTokens says so (%s)", err);
	free(body);
}

static void
test_durations(void)
{
	static const struct {
		const char	*s;
		long		 want;
	} durations[] = {
		{ "2s", 2000 }, { "1.5s", 1500 }, { "0.250s", 250 },
		{ "46.123456789s", 46124 }, { "0s", 0 }, { "0.0001s", 1 },
		{ "s", -1 }, { "2", -1 }, { "-1s", -1 }, { "1.s", -1 },
		{ "2ms", -1 }, { "2s ", -1 }, { "", -1 },
		{ "99999999999s", -1 },
	};
	static const struct {
		const char	*s;
		long		 want;
	} afters[] = {
		{ "3", 3000 }, { " 7 ", 7000 }, { "0", 0 }, { "abc", -1 },
		{ "3.5", -1 }, { "-1", -1 }, { "", -1 },
		{ "Thu, 26 Nov 2026 12:00:10 GMT", 10000 },
		{ "Thu, 26 Nov 2026 11:00:00 GMT", 0 },
		{ "Thu, 26 Nov 2026 12:00:10 CET", -1 },
	};
	struct tm	tm;
	time_t		now;
	size_t		i;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		tap_is_int(gemini_duration_ms(durations[i].s),
		    durations[i].want, "duration '%s'", durations[i].s);
	}
	tap_is_int(gemini_duration_ms(NULL), -1, "duration NULL");

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 2026 - 1900;
	tm.tm_mon = 10;
	tm.tm_mday = 26;
	tm.tm_hour = 12;
	now = timegm(&tm);
	for (i = 0; i < sizeof(afters) / sizeof(afters[0]); i++) {
		tap_is_int(gemini_retry_after_ms(afters[i].s, now),
		    afters[i].want, "Retry-After '%s'", afters[i].s);
	}
}

static void
test_server_delay(void)
{
	static const char no_retry[] = "{\"error\": {\"code\": 503, "
	    "\"status\": \"UNAVAILABLE\", \"details\": []}}";
	static const char lower[] = "{\"error\": {\"status\": \"oops\"}}";
	char	*body, status[48];
	size_t	 len;

	body = fixture("gemini_reply_429.json", &len);
	tap_is_int(body != NULL ? gemini_server_delay_ms(body, len, NULL, 0) :
	    -2, 46000, "server delay: RetryInfo.retryDelay '46s' of a "
	    "recorded 429");
	tap_is_int(body != NULL ? gemini_server_delay_ms(body, len, "5", 0) :
	    -2, 46000, "server delay: RetryInfo wins over Retry-After");
	tap_is_str(body != NULL ? gemini_error_status(body, len, status,
	    sizeof(status)) : NULL, "RESOURCE_EXHAUSTED",
	    "error status of the recorded 429");
	free(body);

	tap_is_int(gemini_server_delay_ms(no_retry, strlen(no_retry), "5", 0),
	    5000, "server delay: Retry-After when there is no RetryInfo");
	tap_is_int(gemini_server_delay_ms(no_retry, strlen(no_retry), NULL, 0),
	    -1, "server delay: none given");
	tap_is_int(gemini_server_delay_ms("<html>", 6, "", 0), -1,
	    "server delay: an HTML error page gives none");
	tap_is_int(gemini_server_delay_ms(NULL, 0, "2", 0), 2000,
	    "server delay: Retry-After without a body");
	tap_ok(gemini_error_status(lower, strlen(lower), status,
	    sizeof(status)) == NULL, "error status: only UPPER_CASE words");
}

static void
test_retryable(void)
{
	static const struct {
		enum gemini_transport	t;
		long			status;
		int			want;
	} cases[] = {
		{ GEMINI_TRANSPORT_OK, 429, 1 },
		{ GEMINI_TRANSPORT_OK, 500, 1 },
		{ GEMINI_TRANSPORT_OK, 502, 1 },
		{ GEMINI_TRANSPORT_OK, 503, 1 },
		{ GEMINI_TRANSPORT_OK, 504, 1 },
		{ GEMINI_TRANSPORT_OK, 400, 0 },
		{ GEMINI_TRANSPORT_OK, 401, 0 },
		{ GEMINI_TRANSPORT_OK, 403, 0 },
		{ GEMINI_TRANSPORT_OK, 404, 0 },
		{ GEMINI_TRANSPORT_OK, 501, 0 },
		{ GEMINI_TRANSPORT_OK, 200, 0 },
		{ GEMINI_TRANSPORT_TIMEOUT, 0, 1 },
		{ GEMINI_TRANSPORT_CONNECT, 0, 1 },
		{ GEMINI_TRANSPORT_TLS, 0, 0 },
		{ GEMINI_TRANSPORT_TOO_BIG, 200, 0 },
		{ GEMINI_TRANSPORT_OTHER, 0, 0 },
	};
	struct gemini_result	r;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.transport = cases[i].t;
		r.http_status = cases[i].status;
		tap_is_int(gemini_retryable(&r), cases[i].want,
		    "retryable: transport %d status %ld", cases[i].t,
		    cases[i].status);
	}

	tap_is_int(gemini_classify(CURLE_OK, 0), GEMINI_TRANSPORT_OK,
	    "classify: OK");
	tap_is_int(gemini_classify(CURLE_OPERATION_TIMEDOUT, 0),
	    GEMINI_TRANSPORT_TIMEOUT, "classify: timeout");
	tap_is_int(gemini_classify(CURLE_COULDNT_CONNECT, 0),
	    GEMINI_TRANSPORT_CONNECT, "classify: connection refused");
	tap_is_int(gemini_classify(CURLE_COULDNT_RESOLVE_HOST, 0),
	    GEMINI_TRANSPORT_CONNECT, "classify: DNS failure");
	tap_is_int(gemini_classify(CURLE_GOT_NOTHING, 0),
	    GEMINI_TRANSPORT_CONNECT, "classify: empty reply");
	tap_is_int(gemini_classify(CURLE_PEER_FAILED_VERIFICATION, 0),
	    GEMINI_TRANSPORT_TLS, "classify: certificate refused");
	tap_is_int(gemini_classify(CURLE_WRITE_ERROR, 1),
	    GEMINI_TRANSPORT_TOO_BIG, "classify: reply over the cap");
	tap_is_int(gemini_classify(CURLE_URL_MALFORMAT, 0),
	    GEMINI_TRANSPORT_OTHER, "classify: a bad URL is not retried");
}

static void
test_backoff(void)
{
	struct gemini_policy	p = { 4, 1000, 10000, 250 };
	static const struct {
		int	n;
		long	lo;
		long	hi;
	} cases[] = {
		{ 1, 500, 1000 }, { 2, 1000, 2000 }, { 3, 2000, 4000 },
		{ 4, 4000, 8000 }, { 5, 5000, 10000 }, { 40, 5000, 10000 },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tap_is_int(gemini_backoff_ms(&p, cases[i].n, 0.0), cases[i].lo,
		    "backoff after attempt %d: lowest draw", cases[i].n);
		tap_ok(gemini_backoff_ms(&p, cases[i].n, 0.999999) <=
		    cases[i].hi && gemini_backoff_ms(&p, cases[i].n,
		    0.999999) >= cases[i].hi - 1,
		    "backoff after attempt %d: highest draw %ld (cap 10 s)",
		    cases[i].n, gemini_backoff_ms(&p, cases[i].n, 0.999999));
	}
	tap_is_int(gemini_backoff_ms(&p, 2, 0.5), 1500,
	    "backoff: jitter is uniform in the upper half");
}

static void
test_next_delay(void)
{
	struct gemini_policy	 p = { 4, 1000, 10000, 250 };
	struct gemini_result	 r;
	const char		*why;
	long			 d;

	memset(&r, 0, sizeof(r));
	r.transport = GEMINI_TRANSPORT_OK;

	r.http_status = 503;
	d = gemini_next_delay(&p, 1, &r, -1, 30000, 0.0, &why);
	tap_ok(d == 500 && why == NULL, "503 after attempt 1: retry in "
	    "500 ms (%ld)", d);
	d = gemini_next_delay(&p, 3, &r, -1, 30000, 0.0, &why);
	tap_is_int(d, 2000, "503 after attempt 3: retry in 2 s");
	d = gemini_next_delay(&p, 4, &r, -1, 30000, 0.0, &why);
	tap_ok(d == -1 && !strcmp(why, "attempts exhausted"),
	    "503 after attempt 4: stop, 4 attempts at most");
	d = gemini_next_delay(&p, 1, &r, -1, 600, 0.0, &why);
	tap_ok(d == -1 && !strcmp(why, "budget exhausted"),
	    "503 with 600 ms left: the backoff does not fit");

	r.http_status = 429;
	d = gemini_next_delay(&p, 1, &r, 2000, 30000, 0.0, &why);
	tap_is_int(d, 2000, "429 with retryDelay 2 s: waits exactly that");
	d = gemini_next_delay(&p, 1, &r, 46000, 30000, 0.0, &why);
	tap_ok(d == -1 && !strcmp(why, "server retry delay exceeds the "
	    "budget"), "429 with retryDelay 46 s and 30 s left: stop now");

	r.http_status = 400;
	d = gemini_next_delay(&p, 1, &r, 1000, 30000, 0.0, &why);
	tap_ok(d == -1 && !strcmp(why, "not retryable"), "400: never retried");
	r.http_status = 401;
	tap_is_int(gemini_next_delay(&p, 1, &r, -1, 30000, 0.0, &why), -1,
	    "401: never retried");

	r.transport = GEMINI_TRANSPORT_CONNECT;
	r.http_status = 0;
	tap_is_int(gemini_next_delay(&p, 2, &r, -1, 30000, 0.0, &why), 1000,
	    "connection refused after attempt 2: retry in 1 s");
}

static void
test_reasons(void)
{
	static const struct {
		enum gemini_transport	 t;
		long			 status;
		const char		*want;
	} cases[] = {
		{ GEMINI_TRANSPORT_TIMEOUT, 0, "upstream_timeout" },
		{ GEMINI_TRANSPORT_CONNECT, 0, "upstream_unreachable" },
		{ GEMINI_TRANSPORT_TLS, 0, "upstream_tls_error" },
		{ GEMINI_TRANSPORT_TOO_BIG, 200, "invalid_response" },
		{ GEMINI_TRANSPORT_OTHER, 0, "upstream_error" },
		{ GEMINI_TRANSPORT_OK, 200, "invalid_response" },
		{ GEMINI_TRANSPORT_OK, 429, "upstream_rate_limited" },
		{ GEMINI_TRANSPORT_OK, 503, "upstream_unavailable" },
		{ GEMINI_TRANSPORT_OK, 400, "upstream_rejected" },
		{ GEMINI_TRANSPORT_OK, 401, "upstream_rejected" },
	};
	struct gemini_result	r;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.transport = cases[i].t;
		r.http_status = cases[i].status;
		tap_is_str(gemini_failure_reason(&r), cases[i].want,
		    "reason: transport %d status %ld", cases[i].t,
		    cases[i].status);
	}
}

/* One real call to a closed loopback port, and one past its deadline. */
static void
test_perform(void)
{
	struct gemini_call	 call;
	struct gemini_result	 res;
	struct sockaddr_in	 sin;
	socklen_t		 slen;
	char			 reply[64];
	int			 fd, port;

	/* A port that was free a moment ago: connecting is refused. */
	port = 0;
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) != -1) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		slen = sizeof(sin);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sin, &slen) == 0)
			port = ntohs(sin.sin_port);
		close(fd);
	}

	memset(&call, 0, sizeof(call));
	snprintf(call.url, sizeof(call.url),
	    "http://127.0.0.1:%d/v1beta/models/m:generateContent", port);
	snprintf(call.key, sizeof(call.key), "secret-key");
	call.connect_timeout_ms = 1000;
	call.deadline_ms = gemini_now_ms() + 2000;
	call.body_len = 2;
	gemini_perform(&call, "{}", &res, reply, sizeof(reply));
	tap_ok(port != 0 && res.transport == GEMINI_TRANSPORT_CONNECT &&
	    res.curl_code == CURLE_COULDNT_CONNECT && res.http_status == 0 &&
	    res.body_len == 0, "perform: connection refused is a connect "
	    "failure (curl %d)", res.curl_code);

	call.deadline_ms = gemini_now_ms() - 1;
	gemini_perform(&call, "{}", &res, reply, sizeof(reply));
	tap_ok(res.transport == GEMINI_TRANSPORT_TIMEOUT &&
	    res.elapsed_ms < 100, "perform: past the deadline, no call is "
	    "made");
}
