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

/* When the current handler run passed the gate: times stateless replies. */
static struct http_request	*begun_req;
static u_int64_t		 begun_us;

/*
 * Notes that this run of req's handler began at now_us (clock_now_us),
 * for http_json_count.  The gate (gate_method) calls it.
 */
void
http_json_begin(struct http_request *req, u_int64_t now_us)
{
	begun_req = req;
	begun_us = now_us;
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
	st->started_us = clock_now_us();
	return (st);
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

/*
 * Counts the response by route and status and times it: from the state's
 * start when the handler has one, else from when this run of the handler
 * passed gate_method() (handlers without state answer in the run
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
		ms = (double)(clock_now_us() - st->started_us) / 1000.0;
	else if (req == begun_req)
		ms = (double)(clock_now_us() - begun_us) / 1000.0;
	else
		ms = (double)(kore_time_ms() - req->start);
	stats_observe(&sw->request_ms[route], STATS_HIST_MS, ms);
}
