/*
 * test_lease.c: the worker's rate-limit leases (src/lease.c): who gets
 * one, how large, when tokens stop, what is counted and freed.
 */
#include <stdio.h>

#include "lease.h"
#include "tap.h"

#define HOLD	1000

/* n requests of client at now, each sent to the database as asked. */
static int
demand(struct lease_table *t, const char *client, uint64_t now, int n)
{
	struct lease	*l;
	int		 i, want, rem, rst, asked = 0;

	for (i = 0; i < n; i++) {
		want = lease_want(t, client, now, &l, &rem, &rst);
		if (want > 1)
			asked = want;
		if (l != NULL)
			lease_release(l, want > 1);
	}
	return (asked);
}

int
main(void)
{
	struct lease_table	 t;
	struct lease		*l, *l2;
	int			 want, rem, rst, i, ok;

	/* Small limits never lease: a lease would hold most of the limit. */
	lease_table_init(&t, HOLD, 63, LEASE_DEFAULT_MAX);
	tap_ok(t.cap == 0, "a limit under 64 gets no leases");
	want = lease_want(&t, "10.0.0.1", 5000, &l, &rem, &rst);
	tap_ok(want == 1 && l == NULL && t.n == 0,
	    "... every request asks the database for one, untracked");
	lease_table_free(&t);

	lease_table_init(&t, 0, 1000000, LEASE_DEFAULT_MAX);
	want = lease_want(&t, "10.0.0.1", 5000, &l, &rem, &rst);
	tap_ok(want == 1 && l == NULL, "hold 0 turns leases off");
	lease_table_free(&t);

	/* A limit of 6400 per window: a lease holds at most 100. */
	lease_table_init(&t, HOLD, 6400, LEASE_DEFAULT_MAX);
	tap_ok(t.cap == 100, "the cap is 1/64 of the limit");

	want = lease_want(&t, "10.0.0.1", 10000, &l, &rem, &rst);
	tap_ok(want == 1 && l != NULL && l->refs == 1,
	    "a new client asks for no lease (no demand seen yet)");
	lease_release(l, 0);
	tap_ok(demand(&t, "10.0.0.1", 10100, 29) == 0,
	    "... nor during its first period");

	/* Next period: 30 requests were seen, so it asks for 30 more. */
	want = lease_want(&t, "10.0.0.1", 11000, &l, &rem, &rst);
	tap_ok(want == 31 && l->asking,
	    "the next period asks for 1 + the previous period's demand (31)");
	want = lease_want(&t, "10.0.0.1", 11001, &l2, &rem, &rst);
	tap_ok(want == 1 && l2 == l,
	    "one ask in flight per client: the others ask for 1");
	lease_release(l2, 0);

	/* The database granted 30, after remaining 500 (the batch's rows). */
	lease_note(l, 500);
	lease_grant(&t, l, 30, 45, 11000, 11002);
	lease_release(l, 1);
	tap_ok(!l->asking && l->tokens == 30 && l->refs == 0,
	    "the grant is held, the ask and its reference are done");

	ok = 1;
	for (i = 0; i < 30; i++) {
		want = lease_want(&t, "10.0.0.1", 11100, &l2, &rem, &rst);
		if (want != 0 || l2 != NULL || rem != 500 - 1 - i || rst != 45)
			ok = 0;
	}
	tap_ok(ok, "30 requests are admitted from it, remaining 499..470, "
	    "reset 45 s");
	want = lease_want(&t, "10.0.0.1", 11100, &l2, &rem, &rst);
	tap_ok(want > 1 && l2 == l, "the 31st asks the database again");
	lease_grant(&t, l, 10, 44, 11100, 11101);
	lease_release(l, 1);

	/* A lease ends at sent + hold, whatever it has left. */
	want = lease_want(&t, "10.0.0.1", 12099, &l2, &rem, &rst);
	tap_ok(want == 0, "a token is handed out just before the end");
	want = lease_want(&t, "10.0.0.1", 12100, &l2, &rem, &rst);
	tap_ok(want != 0 && l->tokens == 0,
	    "... not at sent + hold: the rest of the lease is dropped");
	lease_release(l2, want > 1);

	/* The cap. */
	demand(&t, "10.0.0.2", 20000, 1);
	demand(&t, "10.0.0.2", 20001, 5000);
	tap_ok(demand(&t, "10.0.0.2", 21001, 1) == 101,
	    "a busy client asks for no more than the cap (1 + 100)");

	/* A failed ask: nothing is granted, the next request may ask. */
	l = NULL;
	lease_want(&t, "10.0.0.2", 21002, &l, &rem, &rst);
	tap_ok(l != NULL && l->asking, "an ask is in flight");
	lease_release(l, 1);
	tap_ok(!l->asking && l->tokens == 0,
	    "a failed batch leaves no ask and no tokens");
	want = lease_want(&t, "10.0.0.2", 21003, &l, &rem, &rst);
	tap_ok(want > 1, "the next request asks again");
	lease_grant(&t, l, 0, 50, 21003, 21004);
	lease_release(l, 1);
	tap_ok(l->tokens == 0 && !l->asking,
	    "a grant of 0 (the limit is reached) holds nothing");

	/* A batch failure drops every lease. */
	(void)lease_want(&t, "10.0.0.2", 21005, &l, &rem, &rst);
	lease_note(l, 10);
	lease_grant(&t, l, 5, 50, 21005, 21006);
	lease_release(l, 1);
	lease_drop_all(&t);
	want = lease_want(&t, "10.0.0.2", 21007, &l, &rem, &rst);
	tap_ok(want != 0, "after lease_drop_all no token is handed out");
	lease_release(l, want > 1);

	/* Sweeping: idle clients go, referenced or leased ones stay. */
	(void)lease_want(&t, "10.0.0.3", 30000, &l, &rem, &rst);
	tap_ok(t.n == 3, "three clients tracked");
	lease_sweep(&t, 32500);
	tap_ok(t.n == 1 && l->refs == 1,
	    "a sweep frees the idle ones, not one a batch still names");
	lease_release(l, 0);
	lease_sweep(&t, 32600);
	tap_ok(t.n == 1, "sweeps run at most once a period");
	lease_sweep(&t, 33600);
	tap_ok(t.n == 0, "... and then frees it");

	lease_table_free(&t);

	/* A full table tracks no more clients: they are decided exactly. */
	lease_table_init(&t, HOLD, 6400, 2);
	demand(&t, "10.0.1.1", 1000, 1);
	demand(&t, "10.0.1.2", 1000, 1);
	want = lease_want(&t, "10.0.1.3", 1000, &l, &rem, &rst);
	tap_ok(want == 1 && l == NULL && t.n == 2,
	    "past the table's size a client is untracked");
	lease_table_free(&t);

	return (tap_done());
}
