/*
 * gemini.c: the Gemini generateContent client.
 *
 * - gemini_url() and gemini_request() build the call: POST
 *   {base}/v1beta/models/{model}:generateContent with a JSON body holding
 *   the prompt and the generationConfig (JSON output under a schema).
 * - gemini_reply_text() reads candidates[0].content.parts[0].text out of
 *   a reply; gemini_error_status() and gemini_server_delay_ms() read an
 *   error reply (google.rpc.Status, RetryInfo) and the Retry-After header.
 * - gemini_next_delay() is the retry policy: which failures are retried,
 *   the exponential backoff with jitter, the server's own delay, the
 *   budget.
 * - gemini_perform() makes one blocking call with libcurl.  It runs in a
 *   task thread, so it uses malloc (not Kore's allocator) and touches
 *   nothing shared.
 *
 * The API key only ever goes into one request header; it is never part
 * of a URL, an error text or a log line.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "gemini.h"

/* Dumped with 15 significant digits: 0.3 stays 0.3 on the wire. */
#define GEMINI_JSON_FLAGS	(JSON_COMPACT | JSON_REAL_PRECISION(15))
#define GEMINI_USER_AGENT	"modelserver-analyzer/1"

struct gemini_sink {
	char		*buf;
	size_t		 max;
	size_t		 len;
	int		 too_big;
};

static size_t	gemini_write_cb(char *, size_t, size_t, void *);
static size_t	gemini_header_cb(char *, size_t, size_t, void *);
static int	gemini_model_ok(const char *);

/*
 * Writes {base}/v1beta/models/{model}:generateContent into buf.  base may
 * end with '/'.  Returns buf, or NULL when the model name holds anything
 * but [A-Za-z0-9._-] or the URL does not fit.
 */
char *
gemini_url(const char *base, const char *model, char *buf, size_t len)
{
	size_t	blen;
	int	n;

	if (base == NULL || *base == '\0' || !gemini_model_ok(model))
		return (NULL);
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	n = snprintf(buf, len, "%.*s/v1beta/models/%s:generateContent",
	    (int)blen, base, model);
	if (n < 0 || (size_t)n >= len)
		return (NULL);
	return (buf);
}

/*
 * The generateContent body for prompt: one user turn, and a
 * generationConfig asking for JSON that follows schema (borrowed).
 * Returns a new reference, or NULL.
 */
json_t *
gemini_request(const char *prompt, double temperature, int max_tokens,
    const json_t *schema)
{
	return (json_pack("{s:[{s:s,s:[{s:s}]}],s:{s:f,s:i,s:s,s:O}}",
	    "contents", "role", "user", "parts", "text", prompt,
	    "generationConfig",
	    "temperature", temperature,
	    "maxOutputTokens", max_tokens,
	    "responseMimeType", "application/json",
	    "responseSchema", schema));
}

/*
 * Returns a malloc'd copy of candidates[0].content.parts[0].text of a
 * 200 reply, or NULL with the reason in err (the reply's content is never
 * copied into err).
 */
char *
gemini_reply_text(const char *body, size_t len, char *err, size_t errlen)
{
	json_t		*root, *cand, *part, *text;
	json_error_t	 jerr;
	const char	*finish, *block;
	char		*out;

	out = NULL;
	if ((root = json_loadb(body, len, 0, &jerr)) == NULL) {
		snprintf(err, errlen, "reply is not JSON");
		return (NULL);
	}

	cand = json_array_get(json_object_get(root, "candidates"), 0);
	if (!json_is_object(cand)) {
		block = json_string_value(json_object_get(
		    json_object_get(root, "promptFeedback"), "blockReason"));
		if (block != NULL && strlen(block) < 40)
			snprintf(err, errlen, "no candidates (blocked: %s)",
			    block);
		else
			snprintf(err, errlen, "reply has no candidates");
		goto cleanup;
	}
	part = json_array_get(json_object_get(json_object_get(cand,
	    "content"), "parts"), 0);
	text = json_object_get(part, "text");
	if (!json_is_string(text)) {
		finish = json_string_value(json_object_get(cand,
		    "finishReason"));
		if (finish != NULL && strlen(finish) < 40)
			snprintf(err, errlen, "candidate has no text "
			    "(finishReason %s)", finish);
		else
			snprintf(err, errlen, "candidate has no text");
		goto cleanup;
	}
	if ((out = strndup(json_string_value(text),
	    json_string_length(text))) == NULL)
		snprintf(err, errlen, "out of memory");

cleanup:
	json_decref(root);
	return (out);
}

/*
 * Parses a protobuf Duration as JSON writes it ("2s", "1.5s",
 * "0.250s", "46.123456789s") into milliseconds, rounded up.  Returns -1
 * when s is not one.
 */
long
gemini_duration_ms(const char *s)
{
	long long	secs, frac;
	int		digits;
	const char	*p;

	if (s == NULL || !isdigit((unsigned char)*s))
		return (-1);
	secs = 0;
	for (p = s; isdigit((unsigned char)*p); p++) {
		secs = secs * 10 + (*p - '0');
		if (secs > 86400LL * 365)
			return (-1);
	}
	frac = 0;
	digits = 0;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++) {
			if (digits < 9) {
				frac = frac * 10 + (*p - '0');
				digits++;
			}
		}
		if (digits == 0)
			return (-1);
	}
	if (p[0] != 's' || p[1] != '\0')
		return (-1);
	while (digits < 9) {
		frac *= 10;
		digits++;
	}
	/* nanoseconds -> milliseconds, rounded up: never retry early. */
	return ((long)(secs * 1000 + (frac + 999999) / 1000000));
}

/*
 * Parses a Retry-After header (RFC 9110: delay-seconds or an HTTP-date)
 * into milliseconds from now.  Returns -1 when it is neither; a date in
 * the past gives 0.
 */
long
gemini_retry_after_ms(const char *v, time_t now)
{
	struct tm	 tm;
	const char	*p, *end;
	long long	 secs;
	time_t		 t;

	if (v == NULL)
		return (-1);
	while (*v == ' ' || *v == '\t')
		v++;
	if (*v == '\0')
		return (-1);

	if (isdigit((unsigned char)*v)) {
		secs = 0;
		for (p = v; isdigit((unsigned char)*p); p++) {
			secs = secs * 10 + (*p - '0');
			if (secs > 86400LL * 365)
				return (-1);
		}
		while (*p == ' ' || *p == '\t')
			p++;
		return (*p == '\0' ? (long)(secs * 1000) : -1);
	}

	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm)) == NULL)
		return (-1);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end != '\0' || (t = timegm(&tm)) == (time_t)-1)
		return (-1);
	if (t <= now)
		return (0);
	if (t - now > 86400L * 365)
		return (-1);
	return ((long)(t - now) * 1000);
}

/*
 * The delay the server asked for: the RetryInfo detail of an error body
 * ({"error": {"details": [{"@type": ".../google.rpc.RetryInfo",
 * "retryDelay": "2s"}]}}) first, else the Retry-After header.  Returns
 * milliseconds, or -1 when the server said nothing usable.
 */
long
gemini_server_delay_ms(const char *body, size_t len, const char *retry_after,
    time_t now)
{
	json_t		*root, *details, *d;
	const char	*type;
	size_t		 i;
	long		 ms;

	ms = -1;
	if (body != NULL && len > 0 &&
	    (root = json_loadb(body, len, 0, NULL)) != NULL) {
		details = json_object_get(json_object_get(root, "error"),
		    "details");
		json_array_foreach(details, i, d) {
			type = json_string_value(json_object_get(d, "@type"));
			if (type == NULL || strstr(type, "RetryInfo") == NULL)
				continue;
			ms = gemini_duration_ms(json_string_value(
			    json_object_get(d, "retryDelay")));
			if (ms >= 0)
				break;
		}
		json_decref(root);
	}
	if (ms < 0 && retry_after != NULL && *retry_after != '\0')
		ms = gemini_retry_after_ms(retry_after, now);
	return (ms);
}

/*
 * Copies the status of an error body ({"error": {"status":
 * "RESOURCE_EXHAUSTED"}}) into buf if it is a plain upper-case word, for
 * logs and fallback details.  Returns buf or NULL.
 */
const char *
gemini_error_status(const char *body, size_t len, char *buf, size_t buflen)
{
	json_t		*root;
	const char	*s, *p;
	const char	*ret;

	ret = NULL;
	if (body == NULL || len == 0 ||
	    (root = json_loadb(body, len, 0, NULL)) == NULL)
		return (NULL);
	s = json_string_value(json_object_get(json_object_get(root, "error"),
	    "status"));
	if (s != NULL && *s != '\0' && strlen(s) < buflen && strlen(s) < 40) {
		for (p = s; *p != '\0'; p++) {
			if (!isupper((unsigned char)*p) && *p != '_')
				break;
		}
		if (*p == '\0') {
			snprintf(buf, buflen, "%s", s);
			ret = buf;
		}
	}
	json_decref(root);
	return (ret);
}

/*
 * 1 if the call may succeed when tried again: 429, 500, 502, 503, 504,
 * timeouts and connection failures.  Never 400, 401, 403, 404, a refused
 * certificate or a reply we could not read.
 */
int
gemini_retryable(const struct gemini_result *r)
{
	switch (r->transport) {
	case GEMINI_TRANSPORT_TIMEOUT:
	case GEMINI_TRANSPORT_CONNECT:
		return (1);
	case GEMINI_TRANSPORT_OK:
		switch (r->http_status) {
		case 429:
		case 500:
		case 502:
		case 503:
		case 504:
			return (1);
		default:
			return (0);
		}
	default:
		return (0);
	}
}

/*
 * The backoff before attempt n + 1 after attempt n (1-based) failed:
 * base * 2^(n-1), at most cap, with "equal jitter" (a uniform draw in
 * the upper half), so that clients failing together do not retry
 * together.  rnd is uniform in [0, 1).
 */
long
gemini_backoff_ms(const struct gemini_policy *p, int n, double rnd)
{
	long	d;
	int	i;

	d = p->base_ms;
	for (i = 1; i < n && d < p->cap_ms; i++)
		d *= 2;
	if (d > p->cap_ms)
		d = p->cap_ms;
	if (rnd < 0)
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	return (d / 2 + (long)((double)(d - d / 2) * rnd));
}

/*
 * After attempt n (1-based) ended with r, and with remaining_ms of the
 * budget left, returns the milliseconds to wait before attempt n + 1, or
 * -1 to stop with the reason in *why.  A delay the server gave
 * (server_ms >= 0) is honoured when it fits in the budget, and ends the
 * analysis when it does not: retrying sooner would only be refused.
 */
long
gemini_next_delay(const struct gemini_policy *p, int n,
    const struct gemini_result *r, long server_ms, long remaining_ms,
    double rnd, const char **why)
{
	long	delay;

	*why = NULL;
	if (!gemini_retryable(r)) {
		*why = "not retryable";
		return (-1);
	}
	if (n >= p->max_attempts) {
		*why = "attempts exhausted";
		return (-1);
	}
	if (server_ms >= 0) {
		if (server_ms + p->min_attempt_ms > remaining_ms) {
			*why = "server retry delay exceeds the budget";
			return (-1);
		}
		return (server_ms);
	}
	delay = gemini_backoff_ms(p, n, rnd);
	if (delay + p->min_attempt_ms > remaining_ms) {
		*why = "budget exhausted";
		return (-1);
	}
	return (delay);
}

/*
 * The fallback reason after the last attempt ended with r (the reply,
 * if any, could not be used).
 */
const char *
gemini_failure_reason(const struct gemini_result *r)
{
	switch (r->transport) {
	case GEMINI_TRANSPORT_TIMEOUT:
		return ("upstream_timeout");
	case GEMINI_TRANSPORT_CONNECT:
		return ("upstream_unreachable");
	case GEMINI_TRANSPORT_TLS:
		return ("upstream_tls_error");
	case GEMINI_TRANSPORT_TOO_BIG:
		return ("invalid_response");
	case GEMINI_TRANSPORT_OK:
		break;
	default:
		return ("upstream_error");
	}
	if (r->http_status == 200)
		return ("invalid_response");
	if (r->http_status == 429)
		return ("upstream_rate_limited");
	if (r->http_status >= 500)
		return ("upstream_unavailable");
	return ("upstream_rejected");
}

/* Maps a CURLcode (and whether the reply overflowed) to a transport. */
enum gemini_transport
gemini_classify(int code, int too_big)
{
	switch (code) {
	case CURLE_OK:
		return (GEMINI_TRANSPORT_OK);
	case CURLE_OPERATION_TIMEDOUT:
		return (GEMINI_TRANSPORT_TIMEOUT);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return (GEMINI_TRANSPORT_CONNECT);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return (GEMINI_TRANSPORT_TLS);
	case CURLE_WRITE_ERROR:
		return (too_big ? GEMINI_TRANSPORT_TOO_BIG :
		    GEMINI_TRANSPORT_OTHER);
	default:
		return (GEMINI_TRANSPORT_OTHER);
	}
}

/*
 * One blocking POST of body to call->url, ending by call->deadline_ms.
 * Fills res and up to max bytes of the reply into reply (not
 * terminated).  Never fails silently: every outcome is in res.  Runs in
 * a task thread: no Kore calls, malloc only.
 */
void
gemini_perform(const struct gemini_call *call, const char *body,
    struct gemini_result *res, char *reply, size_t max)
{
	CURL			*c;
	struct curl_slist	*hdrs, *h;
	struct gemini_sink	 sink;
	char			 keyhdr[GEMINI_KEY_MAX + 32];
	uint64_t		 start, now;
	long			 timeout, connect;
	CURLcode		 rc;

	memset(res, 0, sizeof(*res));
	memset(&sink, 0, sizeof(sink));
	sink.buf = reply;
	sink.max = max;
	hdrs = NULL;
	c = NULL;
	start = gemini_now_ms();

	if (start >= call->deadline_ms) {
		res->transport = GEMINI_TRANSPORT_TIMEOUT;
		res->curl_code = CURLE_OPERATION_TIMEDOUT;
		goto cleanup;
	}
	timeout = (long)(call->deadline_ms - start);
	connect = call->connect_timeout_ms < timeout ?
	    call->connect_timeout_ms : timeout;

	res->transport = GEMINI_TRANSPORT_OTHER;
	if ((c = curl_easy_init()) == NULL)
		goto cleanup;

	snprintf(keyhdr, sizeof(keyhdr), "x-goog-api-key: %s", call->key);
	if ((h = curl_slist_append(hdrs, "content-type: application/json"))
	    == NULL)
		goto cleanup;
	hdrs = h;
	if ((h = curl_slist_append(hdrs, keyhdr)) == NULL)
		goto cleanup;
	hdrs = h;
	if ((h = curl_slist_append(hdrs, "expect:")) == NULL)
		goto cleanup;
	hdrs = h;

	if (curl_easy_setopt(c, CURLOPT_URL, call->url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http") !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE,
	    (long)call->body_len) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, GEMINI_USER_AGENT) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, gemini_write_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, gemini_header_cb) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, res) != CURLE_OK ||
	    /* Threads: no SIGALRM for timeouts. */
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect) !=
	    CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout) != CURLE_OK ||
	    /* A redirect would carry the key elsewhere: never follow. */
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK)
		goto cleanup;
	if (call->ca_file[0] != '\0' &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, call->ca_file) != CURLE_OK)
		goto cleanup;

	rc = curl_easy_perform(c);
	res->curl_code = (int)rc;
	res->transport = gemini_classify((int)rc, sink.too_big);
	if (rc == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->http_status) !=
	    CURLE_OK)
		res->transport = GEMINI_TRANSPORT_OTHER;
	res->body_len = (uint32_t)sink.len;

cleanup:
	/* Wipe our copy of the key header. */
	memset(keyhdr, 0, sizeof(keyhdr));
	curl_slist_free_all(hdrs);
	if (c != NULL)
		curl_easy_cleanup(c);
	now = gemini_now_ms();
	res->elapsed_ms = (long)(now - start);
}

/* CLOCK_MONOTONIC in milliseconds (the clock of kore_time_ms()). */
uint64_t
gemini_now_ms(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* Keeps the reply up to sink->max bytes; past that the call fails. */
static size_t
gemini_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gemini_sink	*sink = arg;
	size_t			 n;

	n = size * nmemb;
	if (n > sink->max - sink->len) {
		sink->too_big = 1;
		return (0);
	}
	memcpy(sink->buf + sink->len, ptr, n);
	sink->len += n;
	return (n);
}

/* Keeps the value of a Retry-After header of the final response. */
static size_t
gemini_header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gemini_result	*res = arg;
	size_t			 n, vlen;
	const char		*v;

	n = size * nmemb;
	if (n > 12 && strncasecmp(ptr, "retry-after:", 12) == 0) {
		v = ptr + 12;
		vlen = n - 12;
		while (vlen > 0 && (*v == ' ' || *v == '\t')) {
			v++;
			vlen--;
		}
		while (vlen > 0 && (v[vlen - 1] == '\r' ||
		    v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof(res->retry_after)) {
			memcpy(res->retry_after, v, vlen);
			res->retry_after[vlen] = '\0';
		}
	} else if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
		/* A new response (after a 100 Continue): forget the old. */
		res->retry_after[0] = '\0';
	}
	return (n);
}

static int
gemini_model_ok(const char *model)
{
	const char	*p;

	if (model == NULL || *model == '\0' || strlen(model) > 128)
		return (0);
	for (p = model; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    *p != '_')
			return (0);
	}
	return (1);
}
