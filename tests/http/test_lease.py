"""test_lease.py: rate-limit leases (src/lease.c) keep the limit.

A client busy enough to get leases, hammering two instances (two workers
each) past its limit: the admitted requests never exceed the limit, fall
short of it by at most one lease per worker, every admitted request wrote
its row, and leases really were used.  With leases off the same burst is
decided request by request and ends just as exactly.
"""
import threading
import time

from lib import (Server, done, eq, ok, predict, prom, reset_data, rows_for,
                 sql_value)

LIMIT = 1280                   # a lease holds at most LIMIT / 64 = 20
CAP = LIMIT // 64
WORKERS = 4                    # two instances, two workers each


def hammer(servers, client, total, nthreads=8):
    """total requests of one client, spread over servers; returns the
    (status, headers) of each."""
    results, lock = [], threading.Lock()
    counter = iter(range(total))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            srv = servers[i % len(servers)]
            try:
                st, h, _ = predict(srv.port, "lease %d" % i, source=client)
            except Exception as e:  # noqa: BLE001 - recorded as a failure
                st, h = repr(e), {}
            with lock:
                results.append((st, h))

    threads = [threading.Thread(target=worker) for _ in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def counted(client):
    return int(sql_value("SELECT coalesce(sum(c), 0) FROM app.rate_limits, "
                         "unnest(counts) AS c WHERE scope = 'predict' AND "
                         "client = '%s'" % client))


reset_data()
# Short leases: several lease cycles (and expiries) within the burst.
env = {"RATE_LIMIT_PREDICT_PER_MINUTE": str(LIMIT),
       "RATE_LIMIT_LEASE_MS": "250", "WORKER_ACCEPT_THRESHOLD": "1"}

# ---- leases on (the default) ----------------------------------------------
a = Server("lease-a", env=env).start()
b = Server("lease-b", env=env).start()
client = "127.0.3.1"
t0 = time.time()
res = hammer([a, b], client, 2 * LIMIT)
took = time.time() - t0
statuses = [st for st, _ in res]
admitted = statuses.count(200)
eq(sorted(set(statuses)), [200, 429],
   "a burst past the limit gets only 200 and 429 (%.1f s)" % took)
ok(admitted <= LIMIT,
   "never more than the limit admitted (%d of %d)" % (admitted, LIMIT))
ok(admitted >= LIMIT - WORKERS * CAP,
   "short of the limit by at most one lease per worker (%d >= %d)"
   % (admitted, LIMIT - WORKERS * CAP))
eq(rows_for(client), admitted, "every admitted request wrote its row")
ok(counted(client) <= LIMIT,
   "the database counted no more than the limit (%d)" % counted(client))
leased = sum(prom(s.port, "modelserver_ratelimit_lease_admits_total") for s in
             (a, b))
grants = sum(prom(s.port, "modelserver_ratelimit_lease_grants_total") for s in
             (a, b))
ok(leased > 0 and grants > 0,
   "requests were admitted from leases (%d, %d grants)" % (leased, grants))
rem = [int(h.get("x-ratelimit-remaining", "-1")) for st, h in res
       if st == 200]
ok(all(0 <= r < LIMIT for r in rem),
   "every 200 carries a Remaining in 0..limit-1", sorted(set(rem))[:5])
ok(all(h.get("retry-after", "").isdigit() for st, h in res if st == 429),
   "every 429 carries Retry-After")

# A client under the lease threshold is untouched by leases: exact.
st = [predict(a.port, "other %d" % i, source="127.0.3.2")[0]
      for i in range(3)]
eq(st, [200] * 3, "another client keeps its own limit")
a.stop()
b.stop()

# ---- leases off: every request decided in the database ---------------------
env_off = dict(env, RATE_LIMIT_LEASE_MS="0")
a = Server("lease-off-a", env=env_off).start()
b = Server("lease-off-b", env=env_off).start()
client = "127.0.3.3"
res = hammer([a, b], client, LIMIT + 200)
statuses = [st for st, _ in res]
eq(statuses.count(200), LIMIT,
   "RATE_LIMIT_LEASE_MS=0: exactly the limit admitted")
eq(rows_for(client), LIMIT, "... and written")
eq(sum(prom(s.port, "modelserver_ratelimit_lease_admits_total") for s in (a, b)),
   0, "... and no lease was used")
a.stop()
b.stop()

done()
