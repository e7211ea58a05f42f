/*
 * gate.c: the gate every handler passes first, and the worker's share of
 * the connection balance.
 *
 * gate_method() runs at the top of every handler run: it notes the time
 * (so stateless replies can be timed, http_json_count), publishes this
 * worker's open connections (balance.h), refuses ambiguous framing
 * (gate_framing, docs/http.md), and answers 503 while the worker drains
 * or 405 for a method the route does not take.  The
 * balance is also refreshed every BALANCE_TICK_MS (gate_init), so a
 * worker whose peers all went quiet still sees their counts fall.
 *
 * Layer: above http_json.c (it answers through it), below the handlers.
 */
#include <sys/types.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"

static const char	*gate_allow(int, char *, size_t);
static void		 gate_refuse(struct http_request *, int, const char *,
			    const char *);
static void		 gate_balance_tick(void *, u_int64_t);

/*
 * Starts the balance tick; the worker's slot is bound (balance_bind)
 * before.  Called once per worker from init().
 */
void
gate_init(void)
{
	kore_timer_add(gate_balance_tick, BALANCE_TICK_MS, NULL, 0);
	gate_balance(kore_time_ms());
}

/*
 * The gate every handler passes first.  Answers 503 while the worker
 * shuts down (see kore_worker_teardown), else 405 (JSON, with an Allow
 * header) unless the request's method is in allowed (HTTP_METHOD_* bits;
 * GET implies HEAD).  Returns 1 if the handler may go on, 0 if the
 * response was sent.
 */
int
gate_method(struct http_request *req, int allowed)
{
	char		allow[64], msg[128];
	u_int64_t	now_us;

	now_us = clock_now_us();
	http_json_begin(req, now_us);
	gate_balance(now_us / 1000);	/* the same clock as Kore's */

	if (!gate_framing(req))
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

	gate_allow(allowed, allow, sizeof(allow));
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
gate_framing(struct http_request *req)
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
			gate_refuse(req, 400, "invalid_framing",
			    "more than one Host header line");
			return (0);
		}
		if (strcasecmp(hdr->header, "transfer-encoding") == 0)
			te = 1;
		if (strcasecmp(hdr->header, "content-length") != 0)
			continue;
		if (cl != NULL && strcmp(cl, hdr->value) != 0) {
			gate_refuse(req, 400, "invalid_framing",
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
		gate_refuse(req, 431, "header_fields_too_large", msg);
		return (0);
	}

	if (te && cl != NULL) {
		gate_refuse(req, 400, "invalid_framing",
		    "both Transfer-Encoding and Content-Length");
		return (0);
	}
	if (te) {
		gate_refuse(req, 411, "length_required",
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
		gate_refuse(req, 400, "invalid_framing", msg);
		return (0);
	}
	return (1);
}

/*
 * Publishes this worker's open connections and sets its cap (see
 * balance.h).  Called by the gate every request passes, which keeps the
 * count fresh while connections arrive, and every BALANCE_TICK_MS.  now
 * is Kore's clock (CLOCK_MONOTONIC, milliseconds), which the callers
 * have already read.
 */
void
gate_balance(u_int64_t now)
{
	/* A draining worker has left (balance_leave): it takes no more. */
	if (app.draining)
		return;
	worker_max_connections = balance_publish(worker_active_connections,
	    now);
}

static void
gate_balance_tick(void *arg, u_int64_t now)
{
	(void)arg;
	gate_balance(now);
}

/* A framing error: the answer, then the connection closes (no reuse). */
static void
gate_refuse(struct http_request *req, int status, const char *code,
    const char *message)
{
	req->owner->flags |= CONN_CLOSE_EMPTY;
	http_json_error(req, status, code, message, NULL);
}

static const char *
gate_allow(int allowed, char *buf, size_t len)
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
