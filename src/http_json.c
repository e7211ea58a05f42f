/*
 * http_json.c: JSON in and out of Kore requests, and the one error
 * envelope every route uses:
 *
 *   {"detail": ..., "error": {"code": "...", "message": "...",
 *    "details": [...]}}
 *
 * ("detail" is FastAPI's, for the original server's clients: compat.c).
 *
 * The status mapping lives with the callers' codes: 400 unparsable JSON,
 * 405 wrong method, 413 body too large, 415 not JSON, 422 schema failure,
 * 429 rate limited, 503 database or model unavailable.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "app.h"
#include "compat.h"

/* Doubles come out with 15 significant digits: enough for every value we
 * round before sending, and no 0.30000000000000004 noise. */
#define HTTP_JSON_FLAGS		(JSON_COMPACT | JSON_REAL_PRECISION(15))

static const char	*http_json_allow(int, char *, size_t);
static void		 http_json_refuse(struct http_request *, int,
			    const char *, const char *);

/* When the current handler run passed the gate: times stateless replies. */
static struct http_request	*gate_req;
static u_int64_t		 gate_us;

/*
 * The gate every handler passes first.  Answers 503 while the worker
 * shuts down (see kore_worker_teardown), else 405 (JSON, with an Allow
 * header) unless the request's method is in allowed (HTTP_METHOD_* bits;
 * GET implies HEAD).  Returns 1 if the handler may go on, 0 if the
 * response was sent.
 */
int
http_json_method(struct http_request *req, int allowed)
{
	char		allow[64], msg[128];

	gate_req = req;
	gate_us = http_json_now_us();
	init_balance(gate_us / 1000);	/* the same clock as Kore's */

	if (!http_json_framing(req))
		return (0);

	if (app.draining) {
		http_response_header(req, "retry-after", "1");
		/* Kore then says "connection: close" itself, and closes. */
		req->owner->flags |= CONN_CLOSE_EMPTY;
		http_json_error(req, HTTP_STATUS_SERVICE_UNAVAILABLE,
		    "shutting_down", "the server is shutting down; retry",
		    NULL);
		return (0);
	}

	if (allowed & HTTP_METHOD_GET)
		allowed |= HTTP_METHOD_HEAD;
	if (req->method & allowed)
		return (1);

	http_json_allow(allowed, allow, sizeof(allow));
	http_response_header(req, "allow", allow);
	snprintf(msg, sizeof(msg), "%s is not allowed on %s; allowed: %s",
	    http_method_text(req->method), req->path, allow);
	http_json_error(req, HTTP_STATUS_METHOD_NOT_ALLOWED,
	    "method_not_allowed", msg, NULL);
	return (0);
}

/*
 * The framing rules of RFC 9112 that Kore 4.1 leaves to us (docs/http.md).
 * Kore frames a request by its first Content-Length alone, ignores
 * Transfer-Encoding when a Content-Length is there, reads no body on a
 * GET, HEAD, DELETE or OPTIONS, takes the first Host line and keeps every
 * other header line, a second Host included, in req_headers; and it
 * parses at most HTTP_REQ_HEADER_MAX - 1 lines, dropping the rest without
 * a word.  A proxy in front may frame such a request differently (where
 * the next request starts), so each of these is refused, and the
 * connection closed after the answer: 400 for a second Host, Content-Length
 * values that differ, Transfer-Encoding with Content-Length, a body Kore
 * would not read; 411 for Transfer-Encoding alone; 431 when the header
 * lines reached Kore's limit (lines past it may have been dropped).
 * Returns 1 if the request may go on, 0 if the answer was sent.
 */
int
http_json_framing(struct http_request *req)
{
	struct http_header	*hdr;
	const char		*cl;
	char			 msg[160];
	int			 n, te, body_method;

	n = te = 0;
	cl = NULL;
	TAILQ_FOREACH(hdr, &req->req_headers, list) {
		n++;
		if (strcasecmp(hdr->header, "host") == 0) {
			http_json_refuse(req, 400, "invalid_framing",
			    "more than one Host header line");
			return (0);
		}
		if (strcasecmp(hdr->header, "transfer-encoding") == 0)
			te = 1;
		if (strcasecmp(hdr->header, "content-length") != 0)
			continue;
		if (cl != NULL && strcmp(cl, hdr->value) != 0) {
			http_json_refuse(req, 400, "invalid_framing",
			    "Content-Length header lines with different "
			    "values");
			return (0);
		}
		cl = hdr->value;
	}

	/* Request line + Host + these: Kore parsed as many as it can. */
	if (n + 2 >= HTTP_REQ_HEADER_MAX - 1) {
		snprintf(msg, sizeof(msg), "too many header lines: at most %d, "
		    "Host included", HTTP_REQ_HEADER_MAX - 3);
		http_json_refuse(req, 431, "header_fields_too_large", msg);
		return (0);
	}

	if (te && cl != NULL) {
		http_json_refuse(req, 400, "invalid_framing",
		    "both Transfer-Encoding and Content-Length");
		return (0);
	}
	if (te) {
		http_json_refuse(req, 411, "length_required",
		    "Transfer-Encoding is not supported: send the body with "
		    "a Content-Length");
		return (0);
	}

	body_method = req->method & (HTTP_METHOD_POST | HTTP_METHOD_PUT |
	    HTTP_METHOD_PATCH);
	if (!body_method && cl != NULL && strcmp(cl, "0") != 0) {
		snprintf(msg, sizeof(msg), "a %s request cannot carry a body "
		    "here (Content-Length: 0 or none)",
		    http_method_text(req->method));
		http_json_refuse(req, 400, "invalid_framing", msg);
		return (0);
	}
	return (1);
}

/*
 * Reads the body as a JSON document into *out.  Returns 1, or 0 after
 * answering 415 (not application/json), 413 (over HTTP_BODY_MAX) or 400
 * (not JSON: syntax, invalid UTF-8, NUL escapes, duplicate keys).
 */
int
http_json_read(struct http_request *req, json_t **out)
{
	struct kore_buf		*buf;
	const char		*ctype;
	json_error_t		 jerr;
	json_t			*details;
	ssize_t			 r;
	char			 tmp[4096], msg[256], *p;
	int			 ret;

	*out = NULL;
	buf = NULL;
	ret = 0;

	if (!http_request_header(req, "content-type", &ctype) ||
	    (strncasecmp(ctype, "application/json", 16) != 0 ||
	    (ctype[16] != '\0' && ctype[16] != ';' && ctype[16] != ' '))) {
		http_json_error(req, 415, "unsupported_media_type",
		    "the body must be JSON, sent with "
		    "'Content-Type: application/json'", NULL);
		goto cleanup;
	}

	if (req->http_body_length > (size_t)app.cf.http_body_max) {
		snprintf(msg, sizeof(msg),
		    "the body is %zu bytes; the limit is %d",
		    req->http_body_length, app.cf.http_body_max);
		http_json_error(req, 413, "payload_too_large", msg, NULL);
		goto cleanup;
	}

	buf = kore_buf_alloc(req->http_body_length + 1);
	for (;;) {
		r = http_body_read(req, tmp, sizeof(tmp));
		if (r == -1) {
			http_json_error(req, 400, "bad_request",
			    "the body could not be read", NULL);
			goto cleanup;
		}
		if (r == 0)
			break;
		kore_buf_append(buf, tmp, (size_t)r);
	}

	*out = json_loadb((const char *)buf->data, buf->offset,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (*out == NULL) {
		details = json_pack("[{s:s,s:i,s:i}]", "message", jerr.text,
		    "line", jerr.line, "column", jerr.column);
		if (details == NULL) {
			/* jansson can quote part of a UTF-8 sequence ("\u"
			 * then a multi-byte character), which json_pack
			 * refuses: keep the text's ASCII. */
			for (p = jerr.text; *p != '\0'; p++) {
				if ((unsigned char)*p >= 0x80)
					*p = '?';
			}
			details = json_pack("[{s:s,s:i,s:i}]", "message",
			    jerr.text, "line", jerr.line, "column",
			    jerr.column);
		}
		http_json_error(req, 400, "invalid_json",
		    "the body is not valid JSON", details);
		goto cleanup;
	}

	ret = 1;

cleanup:
	if (buf != NULL)
		kore_buf_free(buf);
	return (ret);
}

/* Sends obj (reference stolen) as the JSON body with status. */
void
http_json_reply(struct http_request *req, int status, json_t *obj)
{
	char	*s;

	s = obj != NULL ? json_dumps(obj, HTTP_JSON_FLAGS) : NULL;
	json_decref(obj);
	http_json_reply_text(req, status, s, s != NULL ? strlen(s) : 0);
	free(s);
}

/*
 * Sends len bytes of JSON text with status; a NULL text (the encoding
 * failed) becomes a 500 with a fixed body.
 */
void
http_json_reply_text(struct http_request *req, int status, const char *s,
    size_t len)
{
	static const char	 fallback[] = "{\"detail\":\"response encoding "
				    "failed\",\"error\":{\"code\":\"internal\","
				    "\"message\":\"response encoding failed\","
				    "\"details\":[]}}";

	if (s == NULL) {
		http_response_header(req, "content-type", "application/json");
		http_response(req, HTTP_STATUS_INTERNAL_ERROR, fallback,
		    sizeof(fallback) - 1);
		return;
	}

	http_response_header(req, "content-type", "application/json");
	http_response_header(req, "cache-control", "no-store");
	http_response(req, status, s, len);
	http_json_count(req, status);
}

/*
 * Creates the request's state (len bytes, starting with struct
 * api_state) and notes when the request started, for its duration.
 */
void *
http_json_state(struct http_request *req, size_t len,
    void (*onfree)(struct http_request *))
{
	struct api_state	*st;

	st = http_state_create(req, len, onfree);
	st->magic = API_STATE_MAGIC;
	st->started_us = http_json_now_us();
	return (st);
}

/* Monotonic microseconds. */
u_int64_t
http_json_now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((u_int64_t)ts.tv_sec * 1000000 + (u_int64_t)ts.tv_nsec / 1000);
}

/* Sends the error envelope; details (stolen) may be NULL. */
void
http_json_error(struct http_request *req, int status, const char *code,
    const char *message, json_t *details)
{
	http_json_reply(req, status, http_json_error_body(req, status, code,
	    message, details));
}

/*
 * The error envelope as a new object, for callers that add to it:
 * FastAPI's "detail" (compat.c; the original server's clients read it)
 * beside ours, {"detail": ..., "error": {code, message, details}}.
 * details (stolen) may be NULL.
 */
json_t *
http_json_error_body(struct http_request *req, int status, const char *code,
    const char *message, json_t *details)
{
	json_t	*detail;

	if (details == NULL)
		details = json_array();
	detail = compat_detail(status, message, details, (req->method &
	    (HTTP_METHOD_POST | HTTP_METHOD_PUT | HTTP_METHOD_PATCH)) != 0);
	return (json_pack("{s:o,s:{s:s,s:s,s:o}}", "detail", detail,
	    "error", "code", code, "message", message, "details", details));
}

/* Formats t as ISO 8601 UTC ("2026-11-26T15:04:05Z") into buf. */
char *
http_json_iso8601(time_t t, char *buf, size_t len)
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "1970-01-01T00:00:00Z");
	return (buf);
}

/* A framing error: the answer, then the connection closes (no reuse). */
static void
http_json_refuse(struct http_request *req, int status, const char *code,
    const char *message)
{
	req->owner->flags |= CONN_CLOSE_EMPTY;
	http_json_error(req, status, code, message, NULL);
}

static const char *
http_json_allow(int allowed, char *buf, size_t len)
{
	static const struct {
		int		 bit;
		const char	*name;
	} methods[] = {
		{ HTTP_METHOD_GET, "GET" },
		{ HTTP_METHOD_HEAD, "HEAD" },
		{ HTTP_METHOD_POST, "POST" },
		{ HTTP_METHOD_PUT, "PUT" },
		{ HTTP_METHOD_DELETE, "DELETE" },
		{ HTTP_METHOD_PATCH, "PATCH" },
	};
	size_t		i, off;

	buf[0] = '\0';
	off = 0;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (!(allowed & methods[i].bit))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
		    off > 0 ? ", " : "", methods[i].name);
		if (off >= len)
			break;
	}
	return (buf);
}

/*
 * Counts the response by route and status and times it: from the state's
 * start when the handler has one, else from when this run of the handler
 * passed http_json_method() (handlers without state answer in the run
 * that passed it).  http_json_reply() calls it; handlers that answer with
 * something else call it themselves.
 */
void
http_json_count(struct http_request *req, int status)
{
	struct stats_worker	*sw;
	struct api_state	*st;
	enum stats_route	 route;
	double			 ms;

	sw = stats_me();
	route = stats_route_of(req->path);
	sw->requests[route][stats_status_index(status)]++;

	st = http_state_get(req);
	if (st != NULL && req->state_len >= sizeof(*st) &&
	    st->magic == API_STATE_MAGIC)
		ms = (double)(http_json_now_us() - st->started_us) / 1000.0;
	else if (req == gate_req)
		ms = (double)(http_json_now_us() - gate_us) / 1000.0;
	else
		ms = (double)(kore_time_ms() - req->start);
	stats_observe(&sw->request_ms[route], STATS_HIST_MS, ms);
}
