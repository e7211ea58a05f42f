/*
 * gate.c: the gate every handler passes first, and the worker's share of
 * the connection balance.
 *
 * gate_method() runs at the top of every handler run: it notes the time
 * (so stateless replies can be timed, http_json_count), publishes this
 * worker's open connections (balance.h), and answers 503 while the
 * worker drains or 405 for a method the route does not take.  The
 * balance is also refreshed every BALANCE_TICK_MS (gate_init), so a
 * worker whose peers all went quiet still sees their counts fall.
 *
 * Layer: above http_json.c (it answers through it), below the handlers.
 */
#include <sys/types.h>

#include <stdio.h>

#include "app.h"

static const char	*gate_allow(int, char *, size_t);
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

	if (app.draining) {
		http_response_header(req, "retry-after", "1");
		http_response_header(req, "connection", "close");
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
