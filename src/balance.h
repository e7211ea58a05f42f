/*
 * balance.h: spreading keep-alive connections over the workers.
 *
 * Kore 4.1's accept lock stays with a worker until it accepts
 * worker_accept_threshold connections in one turn or fills up.  At 1 it
 * moves after every accept, but the busier worker, turning its event loop
 * more often, takes it back more often, so one worker can end up
 * serving nearly every request (the measured splits are in
 * docs/performance.md, "Connections spread over the workers").
 *
 * The remedy uses the one gate Kore has: a worker does not take the lock
 * while worker_max_connections <= its open connections.  Every worker
 * publishes its open connections in a shared slot, and lowers its own
 * worker_max_connections to "the least loaded live peer's count plus a
 * slack" (never above kore.conf's value).  With fresh counts the least
 * loaded worker is always below its cap, so some worker accepts; the
 * others stop taking new connections until the spread is within the
 * slack again.  Counts are published by every request and every
 * BALANCE_TICK_MS, so a count read between two of them can be a few
 * connections old: at worst a new connection waits in the listen
 * backlog for the next tick.  A peer that has not published for
 * BALANCE_STALE_MS (restarting, or blocked) is left out.  Connections
 * already open are never moved: closes are evened out by later arrivals
 * only.
 *
 * Pure C (libc only): the unit test links it.  Times are milliseconds.
 */
#ifndef BALANCE_H
#define BALANCE_H

#include <stdint.h>

#define BALANCE_WORKERS_MAX	64
#define BALANCE_STALE_MS	250	/* a peer silent this long is left out */
#define BALANCE_TICK_MS		10	/* how often an idle worker publishes */

struct balance_slot {
	uint32_t	conns;		/* open client connections */
	uint64_t	beat_ms;	/* when conns was written; 0: never */
};

int		balance_init(int);
void		balance_bind(unsigned int, uint32_t, int);
uint32_t	balance_publish(uint32_t, uint64_t);
void		balance_leave(void);
int		balance_read(unsigned int, uint64_t, uint32_t *);
uint32_t	balance_cap(const struct balance_slot *, int, int, uint64_t,
		    int, uint32_t);

#endif
