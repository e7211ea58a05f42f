"""test_ratelimit.py: the per-client limit on /predict holds for the whole
deployment: across requests, workers, two instances on one database,
concurrent bursts; X-Forwarded-For only from trusted proxies.
"""
import re
import threading

from lib import (Server, done, eq, ok, predict, request, reset_data,
                 rows_for, sql_value)

LIMIT = 10


def per_worker(srv):
    """{worker: requests answered} from the instance's own counters."""
    _, _, text = request(srv.port, "GET", "/metrics/prometheus")
    return {int(w): float(v) for w, v in re.findall(
        r'^modelserver_worker_requests_total\{worker="(\d+)"\} (\S+)$',
        text, re.M)}


reset_data()
# The accept lock passes on after every accept, so a burst reaches every
# worker (with Kore's own default, 16, it may stay on one).
env = {"RATE_LIMIT_PREDICT_PER_MINUTE": str(LIMIT),
       "WORKER_ACCEPT_THRESHOLD": "1"}
a = Server("rl-a", env=env).start()
b = Server("rl-b", env=env).start()

# ---- 10 pass, the 11th is 429 with the headers ---------------------------
statuses, remaining = [], []
for i in range(LIMIT):
    st, h, body = predict(a.port, "request %d" % i, source="127.0.0.11")
    statuses.append(st)
    remaining.append(h.get("x-ratelimit-remaining"))
    if i == 0:
        eq(h.get("x-ratelimit-limit"), str(LIMIT),
           "a 200 carries X-RateLimit-Limit")
        ok(h.get("x-ratelimit-reset", "").isdigit() and
           0 < int(h["x-ratelimit-reset"]) <= 60,
           "a 200 carries X-RateLimit-Reset in seconds", h)
eq(statuses, [200] * LIMIT, "the first 10 requests of a client pass")
eq(remaining, [str(LIMIT - 1 - i) for i in range(LIMIT)],
   "X-RateLimit-Remaining counts down 9..0")
st, h, body = predict(a.port, "one too many", source="127.0.0.11")
eq(st, 429, "the 11th request in the minute is 429")
eq(h.get("x-ratelimit-limit"), str(LIMIT), "429 carries X-RateLimit-Limit")
eq(h.get("x-ratelimit-remaining"), "0", "429 carries Remaining 0")
ok(h.get("retry-after", "").isdigit() and 1 <= int(h["retry-after"]) <= 60,
   "429 carries Retry-After in delay-seconds", h)
eq(h.get("x-ratelimit-reset"), h.get("retry-after"),
   "Reset and Retry-After agree")
ok(isinstance(body, dict) and body["error"]["code"] == "rate_limited" and
   ("retry in %s s" % h.get("retry-after")) in body["error"]["message"],
   "the 429 body says when to retry", body)
eq(rows_for("127.0.0.11"), LIMIT, "the rejected request wrote no row")

# ---- another client is unaffected ------------------------------------------
st, h, _ = predict(a.port, "hello", source="127.0.0.12")
eq(st, 200, "another client still gets 200")
eq(h.get("x-ratelimit-remaining"), str(LIMIT - 1),
   "... with its own count")

# ---- two instances on one database ------------------------------------------
statuses = []
for i in range(LIMIT + 2):
    srv = a if i % 2 == 0 else b
    st, _, _ = predict(srv.port, "alternating %d" % i, source="127.0.0.13")
    statuses.append(st)
eq(statuses, [200] * LIMIT + [429, 429],
   "alternating between two instances: 10 pass, then 429 on both")
eq(rows_for("127.0.0.13"), LIMIT, "exactly 10 rows from the two instances")

# ---- concurrent bursts over every worker of both instances ----------------
# Kore's accept lock decides which worker accepts, so a burst can land on
# one worker per instance: bursts repeat (a new client each) until every
# worker of both instances has answered some, and each must be exact.
lock = threading.Lock()


def fire(i, client, results):
    srv = a if i % 2 == 0 else b
    try:
        st, _, _ = predict(srv.port, "burst %d" % i, source=client)
    except Exception as e:  # noqa: BLE001 - recorded as a failure
        st = repr(e)
    with lock:
        results.append(st)


BURSTS = 10                     # at most
before = {srv.name: per_worker(srv) for srv in (a, b)}
outcomes = []
for rnd in range(BURSTS):
    client = "127.0.1.%d" % (rnd + 1)
    results = []
    threads = [threading.Thread(target=fire, args=(i, client, results))
               for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes.append((client, results.count(200), results.count(429),
                     rows_for(client)))
    # Each read of the counters counts itself on one worker: a worker
    # with more new answers than reads so far took part in a burst.
    spread = {srv.name: {w: n - before[srv.name].get(w, 0)
                         for w, n in per_worker(srv).items()}
              for srv in (a, b)}
    reached = all(len(d) == 2 and all(n > rnd + 2 for n in d.values())
                  for d in spread.values())
    if reached:
        break
ok(reached, "%d burst(s) reached every worker of both instances" % (rnd + 1),
   spread)
eq([o[1:] for o in outcomes], [(LIMIT, 50 - LIMIT, LIMIT)] * len(outcomes),
   "each burst of 50 simultaneous requests from one client: exactly 10 "
   "admitted, 40 refused with 429, 10 rows written")

# ---- X-Forwarded-For from an untrusted peer is ignored ---------------------
statuses = []
for i in range(LIMIT + 1):
    st, _, _ = predict(a.port, "spoof %d" % i, source="127.0.0.15",
                       headers={"X-Forwarded-For": "203.0.113.%d" % i})
    statuses.append(st)
eq(statuses, [200] * LIMIT + [429],
   "a spoofed X-Forwarded-For does not change the identity")
eq(rows_for("127.0.0.15"), LIMIT, "rows record the TCP peer, not the header")
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics WHERE "
                 "client_ip << '203.0.113.0/24'")), 0,
   "no row carries the spoofed address")
a.stop()
b.stop()

# ---- from a trusted proxy it does -------------------------------------------
p = Server("rl-proxy", env=dict(env, TRUSTED_PROXIES="127.0.0.16/32, ::1"))
p.start()
statuses = []
for i in range(LIMIT + 1):
    st, _, _ = predict(p.port, "via proxy %d" % i, source="127.0.0.16",
                       headers={"X-Forwarded-For": "198.51.100.7"})
    statuses.append(st)
eq(statuses, [200] * LIMIT + [429],
   "behind a trusted proxy the forwarded client is limited")
st, _, _ = predict(p.port, "other forwarded client", source="127.0.0.16",
                   headers={"X-Forwarded-For": "198.51.100.8"})
eq(st, 200, "another forwarded client behind the same proxy is not")
eq(rows_for("198.51.100.7"), LIMIT,
   "rows record the forwarded client address")
st, _, _ = predict(p.port, "prepended", source="127.0.0.16",
                   headers={"X-Forwarded-For": "9.9.9.9, 198.51.100.7"})
eq(st, 429, "a client-prepended address does not reset the identity")
st, _, _ = predict(p.port, "ipv6 client", source="127.0.0.16",
                   headers={"X-Forwarded-For": "2001:db8::42"})
eq(st, 200, "an IPv6 forwarded client is accepted")
eq(rows_for("2001:db8::42"), 1, "and recorded as IPv6")

done()
