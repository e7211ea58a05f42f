/*
 * balance.c: each worker's share of the open connections (see
 * balance.h).  The parent maps the slots before the workers fork; each
 * worker writes only its own slot and reads the others' without locks:
 * a count a few milliseconds old only moves the split by a connection.
 */
#include <sys/mman.h>

#include <string.h>

#include "balance.h"

static struct balance_slot	*slots;		/* [0] unused; ids 1..n */
static int			 nslots;
static int			 self;		/* 0: not bound */
static int			 slack;		/* 0: balancing off */
static uint32_t			 cap_max;	/* kore.conf's value */

static int	balance_live(uint64_t, uint64_t);

/* In the parent, before fork: maps the shared slots.  Returns 1 or 0. */
int
balance_init(int nworkers)
{
	void	*p;

	if (nworkers < 1 || nworkers > BALANCE_WORKERS_MAX)
		return (0);
	p = mmap(NULL, sizeof(*slots) * (BALANCE_WORKERS_MAX + 1),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return (0);
	slots = p;
	memset(slots, 0, sizeof(*slots) * (BALANCE_WORKERS_MAX + 1));
	nslots = nworkers;
	return (1);
}

/*
 * In a worker: publish to slot id from now on, with max as the cap that
 * is never exceeded and s the slack (0: always max).
 */
void
balance_bind(unsigned int id, uint32_t max, int s)
{
	self = (slots != NULL && id >= 1 && id <= (unsigned int)nslots) ?
	    (int)id : 0;
	cap_max = max;
	slack = s;
}

/*
 * Writes this worker's count of open connections (also with slack 0:
 * GET /metrics/prometheus reports them) and returns the cap for its
 * worker_max_connections.
 */
uint32_t
balance_publish(uint32_t conns, uint64_t now)
{
	if (self == 0)
		return (cap_max);
	__atomic_store_n(&slots[self].conns, conns, __ATOMIC_RELAXED);
	__atomic_store_n(&slots[self].beat_ms, now, __ATOMIC_RELAXED);
	if (slack == 0)
		return (cap_max);
	return (balance_cap(slots + 1, nslots, self - 1, now, slack,
	    cap_max));
}

/* In a worker that stops: peers leave it out from now on. */
void
balance_leave(void)
{
	if (self != 0)
		__atomic_store_n(&slots[self].beat_ms, 0, __ATOMIC_RELAXED);
}

/*
 * Worker id's published count into *out, for GET /metrics/prometheus.
 * Returns 0 when it has never published or is stale.
 */
int
balance_read(unsigned int id, uint64_t now, uint32_t *out)
{
	uint64_t	beat;

	if (slots == NULL || id < 1 || id > (unsigned int)nslots)
		return (0);
	beat = __atomic_load_n(&slots[id].beat_ms, __ATOMIC_RELAXED);
	if (!balance_live(beat, now))
		return (0);
	*out = __atomic_load_n(&slots[id].conns, __ATOMIC_RELAXED);
	return (1);
}

/*
 * The cap for worker me (index into s[0..n-1]): the fewest connections
 * of a live peer plus slack, at most max.  Without live peers, or with
 * slack 0, max.
 */
uint32_t
balance_cap(const struct balance_slot *s, int n, int me, uint64_t now,
    int slk, uint32_t max)
{
	uint64_t	beat, least;
	uint32_t	conns;
	int		i;

	if (slk <= 0)
		return (max);
	least = UINT64_MAX;
	for (i = 0; i < n; i++) {
		if (i == me)
			continue;
		beat = __atomic_load_n(&s[i].beat_ms, __ATOMIC_RELAXED);
		if (!balance_live(beat, now))
			continue;
		conns = __atomic_load_n(&s[i].conns, __ATOMIC_RELAXED);
		if (conns < least)
			least = conns;
	}
	if (least == UINT64_MAX || least + (uint64_t)slk >= max)
		return (max);
	return ((uint32_t)(least + (uint64_t)slk));
}

/*
 * 1 if a slot last written at beat is live at now.  A beat in the future
 * (another CPU's clock read a moment later) counts as live.
 */
static int
balance_live(uint64_t beat, uint64_t now)
{
	return (beat != 0 && (now <= beat || now - beat <= BALANCE_STALE_MS));
}
