/*
 * lease.h: rate-limit leases, so a busy client does not cost a database
 * decision on every batch.
 *
 * The limit lives in PostgreSQL (app.rate_limit_take), shared by every
 * worker and instance.  For a client that keeps a worker busy, the worker
 * asks for a few more admissions than its batch needs; the database
 * counts them at once and files them at the end of the lease (now +
 * hold), and the worker hands them out without asking again until they
 * run out or the lease ends.  The limit still holds exactly (see
 * sql/20_rate_limits.sql); a lease only makes it stricter by the tokens
 * left unused when it ends.  To keep that small a lease is never larger
 * than what the client asked of this worker in the previous period, nor
 * than 1/64 of the limit: clients of a limit under 64 never get one.
 *
 * Pure C (libc only); times are milliseconds of a monotonic clock.  One
 * table per worker process, no locking.
 */
#ifndef LEASE_H
#define LEASE_H

#include <stdint.h>

#define LEASE_KEYLEN	46		/* INET6_ADDRSTRLEN */
#define LEASE_BUCKETS	1024
#define LEASE_DEFAULT_MAX 4096		/* clients tracked per worker */

struct lease {
	struct lease	*next;		/* hash chain */
	char		 client[LEASE_KEYLEN];
	int		 refs;		/* batch rows in flight naming it */
	int		 asking;	/* a batch in flight asks for tokens */

	int		 tokens;	/* left to hand out */
	int		 granted;	/* tokens of the current lease */
	int		 base;		/* "remaining" before the lease's tokens */
	int		 pending_base;	/* base seen by the batch being read */
	uint64_t	 expires;	/* no token is handed out from then on */
	uint64_t	 reset_at;	/* when the oldest counted request leaves */

	uint64_t	 period;	/* start of the demand period */
	int		 seen;		/* requests in this period */
	int		 seen_prev;	/* requests in the previous period */
};

struct lease_table {
	struct lease	*buckets[LEASE_BUCKETS];
	int		 n;
	int		 max;
	int		 hold_ms;	/* lease length; 0: leases off */
	int		 cap;		/* most tokens in one lease */
	uint64_t	 swept;
};

void	lease_table_init(struct lease_table *, int, int, int);
void	lease_table_free(struct lease_table *);
int	lease_want(struct lease_table *, const char *, uint64_t,
	    struct lease **, int *, int *);
void	lease_note(struct lease *, int);
void	lease_grant(struct lease_table *, struct lease *, int, int,
	    uint64_t, uint64_t);
void	lease_release(struct lease *, int);
void	lease_drop_all(struct lease_table *);
void	lease_sweep(struct lease_table *, uint64_t);

#endif
