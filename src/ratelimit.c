/*
 * ratelimit.c: who a request counts against, and how limits are told.
 *
 * The decision itself is SQL (app.rate_limit_take in sql/20_rate_limits.sql)
 * so that it holds across every worker and instance: /predict folds it
 * into the statement that records the row (recorder.c), other routes
 * call it in their own first query.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <string.h>

#include "app.h"

/*
 * Writes the client address of req into buf: the TCP peer, or what a
 * trusted proxy says in X-Forwarded-For (see cidr_client()).
 */
const char *
ratelimit_client(struct http_request *req, char *buf, size_t len)
{
	struct cidr_addr	 peer, client;
	const char		*xff;

	memset(&peer, 0, sizeof(peer));
	switch (req->owner->family) {
	case AF_INET:
		peer.v4 = 1;
		peer.a[10] = peer.a[11] = 0xff;
		memcpy(peer.a + 12, &req->owner->addr.ipv4.sin_addr, 4);
		break;
	case AF_INET6:
		memcpy(peer.a, &req->owner->addr.ipv6.sin6_addr, 16);
		peer.v4 = (memcmp(peer.a, "\0\0\0\0\0\0\0\0\0\0\xff\xff",
		    12) == 0);
		break;
	default:
		/* Unix socket listener: one local client. */
		snprintf(buf, len, "127.0.0.1");
		return (buf);
	}

	if (!http_request_header(req, "x-forwarded-for", &xff))
		xff = NULL;
	cidr_client(&app.trusted, &peer, xff, &client);
	cidr_addr_format(&client, buf, len);
	return (buf);
}

/* Adds the X-RateLimit-* headers every limited response carries. */
void
ratelimit_headers(struct http_request *req, int limit, int remaining,
    int reset_s)
{
	char	v[32];

	snprintf(v, sizeof(v), "%d", limit);
	http_response_header(req, "x-ratelimit-limit", v);
	snprintf(v, sizeof(v), "%d", remaining > 0 ? remaining : 0);
	http_response_header(req, "x-ratelimit-remaining", v);
	snprintf(v, sizeof(v), "%d", reset_s > 0 ? reset_s : 0);
	http_response_header(req, "x-ratelimit-reset", v);
}

/* Answers 429 with Retry-After (RFC 9110 delay-seconds) and a JSON body. */
void
ratelimit_reject(struct http_request *req, int limit, int reset_s)
{
	char	v[32], msg[160];

	if (reset_s < 1)
		reset_s = 1;
	ratelimit_headers(req, limit, 0, reset_s);
	snprintf(v, sizeof(v), "%d", reset_s);
	http_response_header(req, "retry-after", v);
	snprintf(msg, sizeof(msg), "rate limit of %d requests per minute "
	    "exceeded; retry in %d s", limit, reset_s);
	http_json_error(req, 429, "rate_limited", msg,
	    json_pack("[{s:i,s:i}]", "limit", limit,
	    "retry_after_seconds", reset_s));
}
