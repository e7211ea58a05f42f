/*
 * lease.c: rate-limit leases of one worker (see lease.h for why).
 *
 * A request of a tracked client is either admitted here, from the
 * client's lease, or sent to the database with "want" = 1 plus the tokens
 * this worker asks for as the next lease.  Only one ask per client is in
 * flight; while it is, the client's requests are decided in the database
 * one by one, exactly as without leases.
 */
#include <stdlib.h>
#include <string.h>

#include "lease.h"

static struct lease	*lease_find(struct lease_table *, const char *);
static unsigned int	 lease_hash(const char *);

/* hold_ms 0 turns leases off; limit is per window; max clients tracked. */
void
lease_table_init(struct lease_table *t, int hold_ms, int limit, int max)
{
	memset(t, 0, sizeof(*t));
	t->hold_ms = hold_ms > 0 ? hold_ms : 0;
	t->cap = t->hold_ms > 0 ? limit / 64 : 0;
	t->max = max;
}

void
lease_table_free(struct lease_table *t)
{
	struct lease	*l, *next;
	int		 i;

	for (i = 0; i < LEASE_BUCKETS; i++) {
		for (l = t->buckets[i]; l != NULL; l = next) {
			next = l->next;
			free(l);
		}
		t->buckets[i] = NULL;
	}
	t->n = 0;
}

/*
 * One request of client at now.  Returns 0 when it is admitted from the
 * client's lease (*remaining and *reset_s are set for its headers).
 * Otherwise returns how many admissions to ask the database for: 1, or
 * 1 + the tokens of a new lease.  *entry is then the client's lease (or
 * NULL when the client is not tracked); the batch holds a reference and
 * gives it back with lease_release().
 */
int
lease_want(struct lease_table *t, const char *client, uint64_t now,
    struct lease **entry, int *remaining, int *reset_s)
{
	struct lease	*l;
	uint64_t	 hold;
	int		 extra;

	*entry = NULL;
	if (t->cap < 1 || (l = lease_find(t, client)) == NULL)
		return (1);

	/* Demand is counted in periods of one lease length. */
	hold = (uint64_t)t->hold_ms;
	if (now - l->period >= hold) {
		l->seen_prev = now - l->period < 2 * hold ? l->seen : 0;
		l->seen = 0;
		l->period = now;
	}
	l->seen++;

	if (l->tokens > 0 && now < l->expires) {
		l->tokens--;
		*remaining = l->base - (l->granted - l->tokens);
		*reset_s = l->reset_at > now ?
		    (int)((l->reset_at - now + 999) / 1000) : 1;
		return (0);
	}
	l->tokens = 0;		/* what an ended lease left is not used */

	l->refs++;
	*entry = l;
	if (l->asking)
		return (1);
	extra = l->seen_prev < t->cap ? l->seen_prev : t->cap;
	if (extra < 1)
		return (1);
	l->asking = 1;
	return (1 + extra);
}

/* An admitted row of l's client in the batch being read: its remaining. */
void
lease_note(struct lease *l, int remaining)
{
	l->pending_base = remaining;
}

/*
 * The database answered the batch that asked (sent at sent, read at now):
 * tokens beyond the client's requests, and the decision's reset_s.  The
 * tokens were filed at the database's now + hold, and its now is later
 * than sent, so handing them out until sent + hold stays inside.
 */
void
lease_grant(struct lease_table *t, struct lease *l, int tokens, int reset_s,
    uint64_t sent, uint64_t now)
{
	l->asking = 0;
	if (tokens < 1)
		return;
	l->tokens = tokens;
	l->granted = tokens;
	l->base = l->pending_base;
	l->expires = sent + (uint64_t)t->hold_ms;
	l->reset_at = now + (uint64_t)(reset_s > 0 ? reset_s : 0) * 1000;
}

/* The batch holding a reference to l ended; asked: it was l's ask. */
void
lease_release(struct lease *l, int asked)
{
	if (l->refs > 0)
		l->refs--;
	if (asked)
		l->asking = 0;
}

/*
 * Forget every token held (a batch failed: the database may have lost
 * its latest decisions, so nothing it granted is relied on).
 */
void
lease_drop_all(struct lease_table *t)
{
	struct lease	*l;
	int		 i;

	for (i = 0; i < LEASE_BUCKETS; i++) {
		for (l = t->buckets[i]; l != NULL; l = l->next)
			l->tokens = 0;
	}
}

/* Frees clients idle for two periods (at most once a period). */
void
lease_sweep(struct lease_table *t, uint64_t now)
{
	struct lease	**pp, *l;
	uint64_t	  hold;
	int		  i;

	hold = (uint64_t)t->hold_ms;
	if (t->cap < 1 || now - t->swept < hold)
		return;
	t->swept = now;

	for (i = 0; i < LEASE_BUCKETS; i++) {
		pp = &t->buckets[i];
		while ((l = *pp) != NULL) {
			if (l->refs == 0 && !l->asking &&
			    (l->tokens == 0 || now >= l->expires) &&
			    now - l->period >= 2 * hold) {
				*pp = l->next;
				free(l);
				t->n--;
			} else {
				pp = &l->next;
			}
		}
	}
}

/* The client's entry, created if there is room (NULL if not). */
static struct lease *
lease_find(struct lease_table *t, const char *client)
{
	struct lease	*l;
	unsigned int	 h;

	h = lease_hash(client) % LEASE_BUCKETS;
	for (l = t->buckets[h]; l != NULL; l = l->next) {
		if (strcmp(l->client, client) == 0)
			return (l);
	}
	if (t->n >= t->max || strlen(client) >= LEASE_KEYLEN)
		return (NULL);
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return (NULL);
	memcpy(l->client, client, strlen(client) + 1);
	l->next = t->buckets[h];
	t->buckets[h] = l;
	t->n++;
	return (l);
}

/* FNV-1a. */
static unsigned int
lease_hash(const char *s)
{
	unsigned int	h = 2166136261u;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return (h);
}
