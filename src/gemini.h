/*
 * gemini.h: the client of Gemini's generateContent REST API.
 *
 * Kore-free (libc, jansson, libcurl) so the unit tests link it: building
 * the request, reading the reply and the retry policy are pure functions;
 * gemini_perform() is one blocking HTTP call, made from a Kore task
 * thread by api_analyze.c.
 */
#ifndef GEMINI_H
#define GEMINI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#define GEMINI_URL_MAX		1024
#define GEMINI_KEY_MAX		256
#define GEMINI_PATH_MAX		512
#define GEMINI_BODY_MAX		(64 * 1024)	/* request body we send */
#define GEMINI_REPLY_MAX	(64 * 1024)	/* reply body we keep */

/* One upstream call, as the handler hands it to the task thread. */
struct gemini_call {
	char		url[GEMINI_URL_MAX];
	char		key[GEMINI_KEY_MAX];		/* secret */
	char		ca_file[GEMINI_PATH_MAX];	/* "" = system bundle */
	long		connect_timeout_ms;
	uint64_t	deadline_ms;	/* CLOCK_MONOTONIC: done by then */
	uint32_t	body_len;	/* the JSON body follows */
};

/* How the call ended below HTTP. */
enum gemini_transport {
	GEMINI_TRANSPORT_OK,		/* an HTTP response arrived */
	GEMINI_TRANSPORT_TIMEOUT,	/* the budget ran out */
	GEMINI_TRANSPORT_CONNECT,	/* resolve, connect, reset: retried */
	GEMINI_TRANSPORT_TLS,		/* certificate refused: not retried */
	GEMINI_TRANSPORT_TOO_BIG,	/* reply over GEMINI_REPLY_MAX */
	GEMINI_TRANSPORT_OTHER,		/* anything else: not retried */
};

/* What came back, as the task hands it to the handler. */
struct gemini_result {
	enum gemini_transport	transport;
	int			curl_code;
	long			http_status;	/* 0: no response */
	long			elapsed_ms;
	char			retry_after[64]; /* Retry-After, verbatim */
	uint32_t		body_len;	/* the body follows */
};

/* The retry policy of one analysis. */
struct gemini_policy {
	int		max_attempts;	/* 4 */
	long		base_ms;	/* first backoff: 1000 */
	long		cap_ms;		/* longest backoff: 10000 */
	long		min_attempt_ms;	/* no attempt with less budget */
};

char		*gemini_url(const char *, const char *, char *, size_t);
json_t		*gemini_request(const char *, double, int, const json_t *);
char		*gemini_reply_text(const char *, size_t, char *, size_t);
long		 gemini_duration_ms(const char *);
long		 gemini_retry_after_ms(const char *, time_t);
long		 gemini_server_delay_ms(const char *, size_t, const char *,
		    time_t);
const char	*gemini_error_status(const char *, size_t, char *, size_t);
int		 gemini_retryable(const struct gemini_result *);
long		 gemini_backoff_ms(const struct gemini_policy *, int, double);
long		 gemini_next_delay(const struct gemini_policy *, int,
		    const struct gemini_result *, long, long, double,
		    const char **);
const char	*gemini_failure_reason(const struct gemini_result *);
enum gemini_transport	 gemini_classify(int, int);
void		 gemini_perform(const struct gemini_call *, const char *,
		    struct gemini_result *, char *, size_t);
uint64_t	 gemini_now_ms(void);

#endif
