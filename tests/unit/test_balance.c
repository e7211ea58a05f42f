/*
 * test_balance.c: spreading connections over the workers (src/balance.c).
 *
 * The cap itself, the shared slots across fork, and a simulation of
 * Kore's worst case: each new connection goes to the worker holding the
 * most connections among those still below their cap (the busier worker
 * wins the accept lock).
 */
#include <sys/wait.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "balance.h"
#include "tap.h"

#define MAX	1024

static void
test_cap(void)
{
	struct balance_slot	s[4];

	memset(s, 0, sizeof(s));
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), MAX,
	    "no peer has published: kore.conf's cap");

	s[1].conns = 5;
	s[1].beat_ms = 4990;
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), 7,
	    "one live peer with 5: cap 5 + slack 2");
	tap_is_int(balance_cap(s, 4, 0, 5000, 0, MAX), MAX,
	    "slack 0 turns balancing off");
	tap_is_int(balance_cap(s, 4, 1, 5000, 2, MAX), MAX,
	    "a worker's own slot is not its peer");

	s[2].conns = 3;
	s[2].beat_ms = 5000 - BALANCE_STALE_MS;
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), 5,
	    "the least loaded live peer sets the cap");
	s[2].beat_ms = 5000 - BALANCE_STALE_MS - 1;
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), 7,
	    "a peer silent for longer than BALANCE_STALE_MS is left out");
	s[2].beat_ms = 5003;
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), 5,
	    "a beat slightly ahead of this worker's clock counts as live");

	s[3].conns = 0;
	s[3].beat_ms = 4999;
	tap_is_int(balance_cap(s, 4, 0, 5000, 1, MAX), 1,
	    "an idle peer: cap = slack");
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, 2), 2,
	    "never above kore.conf's cap");
	s[3].conns = 4000;
	s[2].conns = 4000;
	s[1].conns = 4000;
	tap_is_int(balance_cap(s, 4, 0, 5000, 2, MAX), MAX,
	    "peers above kore.conf's cap: that cap");
}

static void
test_shared(void)
{
	uint32_t	n;
	pid_t		pid;
	int		status, fds[2];
	char		c;

	tap_ok(!balance_init(0) && !balance_init(BALANCE_WORKERS_MAX + 1),
	    "balance_init refuses 0 or too many workers");
	tap_ok(balance_init(3), "balance_init(3) maps the slots");

	balance_bind(1, MAX, 2);
	tap_is_int(balance_publish(4, 1000), MAX,
	    "worker 1 alone: its cap is kore.conf's");
	tap_ok(balance_read(1, 1000, &n) && n == 4,
	    "worker 1's count is readable");
	tap_ok(!balance_read(2, 1000, &n), "worker 2 has not published");
	tap_ok(!balance_read(1, 1000 + BALANCE_STALE_MS + 1, &n),
	    "a count older than BALANCE_STALE_MS is not reported");
	tap_ok(!balance_read(4, 1000, &n) && !balance_read(0, 1000, &n),
	    "ids outside 1..workers are not read");

	/* Worker 2 in another process publishes 1, then leaves. */
	if (pipe(fds) == -1)
		abort();
	if ((pid = fork()) == 0) {
		close(fds[0]);
		balance_bind(2, MAX, 2);
		balance_publish(1, 1000);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		if (read(fds[1], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		abort();
	tap_is_int(balance_publish(4, 1001), 3,
	    "a peer process's count is seen: cap 1 + 2");
	tap_ok(balance_read(2, 1001, &n) && n == 1,
	    "and reported for worker 2");
	waitpid(pid, &status, 0);
	close(fds[0]);

	balance_bind(2, MAX, 2);
	balance_leave();
	balance_bind(1, MAX, 2);
	tap_is_int(balance_publish(4, 1002), MAX,
	    "after the peer left, the cap is kore.conf's again");

	balance_bind(1, MAX, 0);
	tap_is_int(balance_publish(9, 1003), MAX,
	    "slack 0: nothing is capped");
	balance_bind(9, MAX, 2);
	tap_is_int(balance_publish(9, 1004), MAX,
	    "a worker id beyond the map is not capped");
}

/*
 * n workers, conns connections arriving one at a time; every stride-th
 * arrival the workers publish (a stale view between).  Each arrival goes
 * to the fullest worker still below its cap; at random some connections
 * close.  When no worker is below its cap the arrival waits for the next
 * publication (Kore's backlog until the next tick), counted in *waits;
 * that must never happen right after one.  Returns the largest spread
 * seen after the first arrivals, or -1 if fresh counts left no worker
 * below its cap.
 */
static int
simulate(int n, int conns, int slack, int stride, int closes, int *waits)
{
	struct balance_slot	s[8];
	uint32_t		cap[8], have[8];
	uint64_t		now;
	int			i, k, pick, spread, worst, lo, hi, fresh;

	memset(s, 0, sizeof(s));
	memset(have, 0, sizeof(have));
	worst = 0;
	now = 1;
	*waits = 0;
	for (k = 0; k < conns; k++) {
		fresh = 0;
		for (;;) {
			if (k % stride == 0 || fresh) {
				for (i = 0; i < n; i++) {
					s[i].conns = have[i];
					s[i].beat_ms = now;
				}
				now++;
			}
			for (i = 0; i < n; i++)
				cap[i] = balance_cap(s, n, i, now, slack, MAX);
			pick = -1;
			for (i = 0; i < n; i++) {
				if (have[i] < cap[i] &&
				    (pick == -1 || have[i] > have[pick]))
					pick = i;
			}
			if (pick != -1)
				break;
			if (fresh || k % stride == 0)
				return (-1);
			fresh = 1;
			(*waits)++;
		}
		have[pick]++;
		if (closes && rand() % 3 == 0) {
			i = rand() % n;
			if (have[i] > 0)
				have[i]--;
		}
		lo = hi = (int)have[0];
		for (i = 1; i < n; i++) {
			lo = (int)have[i] < lo ? (int)have[i] : lo;
			hi = (int)have[i] > hi ? (int)have[i] : hi;
		}
		spread = hi - lo;
		if (k >= n * (slack + stride) && spread > worst)
			worst = spread;
	}
	return (worst);
}

static void
test_simulation(void)
{
	int	n, slack, w, waits;

	srand(7);
	for (n = 2; n <= 4; n++) {
		for (slack = 1; slack <= 3; slack++) {
			w = simulate(n, 500, slack, 1, 0, &waits);
			tap_ok(w >= 0 && w <= slack && waits == 0,
			    "%d workers, slack %d, fresh counts: spread %d "
			    "<= slack, no arrival waits", n, slack, w);
		}
		w = simulate(n, 500, 2, 8, 0, &waits);
		tap_ok(w >= 0 && w <= 2 + 8, "%d workers, counts up to 8 "
		    "arrivals old: spread %d <= slack + 8, %d arrivals waited "
		    "for a fresh count, none after one", n, w, waits);
		w = simulate(n, 2000, 2, 1, 1, &waits);
		/* Closes are not steered: only arrivals even them out. */
		tap_ok(w >= 0 && w <= 2 + 4 && waits == 0, "%d workers, "
		    "connections also closing: spread %d <= slack + 4, "
		    "no arrival waits", n, w);
	}
	w = simulate(2, 500, 0, 1, 0, &waits);
	tap_ok(w > 400, "without balancing the worst case piles up on one "
	    "worker (spread %d)", w);
	w = simulate(2, 2000, 0, 1, 1, &waits);
	tap_ok(w > 400, "and with connections closing too (spread %d)", w);
}

int
main(void)
{
	test_cap();
	test_shared();
	test_simulation();
	return (tap_done());
}
