"""test_balance.py: keep-alive connections spread over the workers.

Kore's accept lock favours the busier worker: a burst of new connections
can all stay on one (src/balance.h).  With WORKER_BALANCE_SLACK a worker
stops taking new connections while it holds more than the least loaded
one plus the slack.  A burst of keep-alive connections, each of which
sends a request and stays open, must end up split within the slack, as
/metrics/prometheus's per-worker gauge shows; the gauge falls when they
close; with balancing off the gauge is still reported.  When a worker is
killed, the others keep accepting (its count is left out once stale or
replaced by its restarted self's) and the restarted worker takes the new
connections until the split is even again.
"""
import os
import re
import signal
import socket
import time

from lib import Server, diag, done, eq, ok, request

N = 48                          # connections of a burst
SLACK = 2
STALE_S = 0.25                  # BALANCE_STALE_MS


def gauge(port):
    """{worker: open connections} from /metrics/prometheus (a connection
    of its own, counted on the worker that answers)."""
    _, _, text = request(port, "GET", "/metrics/prometheus")
    return {int(w): int(v) for w, v in re.findall(
        r'^modelserver_worker_connections\{worker="(\d+)"\} (\d+)$', text,
        re.M)}


def settle(port, want_total, seconds=5):
    """Polls the gauge until its counts sum to want_total (the other
    worker's count can be a tick old).  Returns the last reading."""
    t0 = time.time()
    g = gauge(port)
    while sum(g.values()) != want_total and time.time() - t0 < seconds:
        time.sleep(0.02)
        g = gauge(port)
    return g


def read_status(s):
    """Reads one HTTP response from s; returns its status (or an error)."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
        need = int(m.group(1)) if m else 0
        while len(body) < need:
            chunk = s.recv(4096)
            if not chunk:
                return "closed"
            body += chunk
        return int(head.split(b" ", 2)[1])
    except OSError as e:
        return repr(e)


def burst(port, n):
    """n connections opened back to back, then one GET / on each; they
    stay open.  Returns (sockets, statuses)."""
    t0 = time.time()
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10)
             for _ in range(n)]
    for s in socks:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    st = [read_status(s) for s in socks]
    diag("burst of %d answered in %.3f s" % (n, time.time() - t0))
    return socks, st


def even_burst(port, n, already):
    """burst(), then the gauge once it counts them all.  A worker that
    stalls for longer than BALANCE_STALE_MS is left out by design, and the
    other takes what arrives meanwhile: such a burst (it takes that long)
    is closed and tried again, twice at most.  Returns (sockets, statuses,
    gauge)."""
    for attempt in range(3):
        t0 = time.time()
        socks, st = burst(port, n)
        took = time.time() - t0
        g = settle(port, already + n + 1)
        if took < STALE_S or attempt == 2:
            return socks, st, g
        diag("a worker stalled (%.2f s): %s; again" % (took, g))
        close_all(socks)
        settle(port, already + 1)


def close_all(socks):
    for s in socks:
        s.close()


def both_live(port, seconds=15):
    """Polls until the gauge lists two workers: a worker is ready (and
    counted) once it published; /health answering means only one is."""
    t0 = time.time()
    while len(gauge(port)) < 2 and time.time() - t0 < seconds:
        time.sleep(0.05)
    return len(gauge(port)) == 2


srv = Server("balance").start()
port = srv.port
ok(both_live(port), "both workers publish their counts")

socks, st, g = even_burst(port, N, 0)
eq(st, [200] * N, "a burst of %d keep-alive connections: all answered" % N)
diag("split with WORKER_BALANCE_SLACK=%d: %s" % (SLACK, g))
eq(sorted(g), [1, 2], "the gauge reports both workers")
eq(sum(g.values()), N + 1, "and counts every open connection (the burst "
   "and the scrape)")
ok(max(g.values()) - min(g.values()) <= SLACK + 1,
   "the burst is split within the slack (+1, the scrape): %s" % g)

# A second burst on top keeps it even.
more, st, g = even_burst(port, N // 2, N)
eq(st, [200] * (N // 2), "a second burst on the open ones: all answered")
ok(max(g.values()) - min(g.values()) <= SLACK + 1 and
   sum(g.values()) == N + N // 2 + 1,
   "still within the slack with %d open: %s" % (N + N // 2, g))
close_all(more)

close_all(socks)
g = settle(port, 1)
eq(sum(g.values()), 1, "closed connections leave the gauge (only the "
   "scrape's is left): %s" % g)

# ---- a worker dies with its connections -----------------------------------
socks, st = burst(port, N)
g = settle(port, N + 1)
workers = srv.pids()[1:]
eq(len(workers), 2, "two workers")
os.kill(workers[0], signal.SIGKILL)
killed = t0 = time.time()
while set(srv.pids()[1:]) == set(workers) and time.time() - t0 < 10:
    time.sleep(0.05)
ok(set(srv.pids()[1:]) != set(workers), "Kore restarted the killed worker")
# At once, whether or not the restarted worker is up yet: the survivor
# keeps accepting (the dead worker's slot is stale or already replaced).
t0 = time.time()
early, st = burst(port, N // 2)
took = time.time() - t0
eq(st, [200] * (N // 2), "after a worker was killed with its connections, "
   "%d new connections are all answered (%.2f s)" % (N // 2, took))
ok(took < 5, "without waiting long for the dead worker's count to go "
   "stale (%.2f s)" % took)
# The dead worker's last count reads as live for BALANCE_STALE_MS.
time.sleep(max(0.0, killed + 0.5 - time.time()))
ok(both_live(port), "the restarted worker publishes its count")
fresh, st = burst(port, N)
eq(st, [200] * N, "a burst once it is up: all answered")
# The survivor holds its half of the first burst and maybe all of the
# early one; the restarted worker must take the new ones until even.
time.sleep(0.1)
g = gauge(port)
diag("after the restart: %s" % g)
ok(len(g) == 2 and max(g.values()) - min(g.values()) <= SLACK + 1,
   "the restarted worker took the new connections until the split was "
   "even: %s" % g)
close_all(early)
close_all(socks)
close_all(fresh)

# The kill's "died from" line is expected: check the rest of the log here.
text = srv.log_text()
bad = [m for m in ("ERROR: AddressSanitizer", "runtime error:",
                   "sandbox violation") if m in text]
eq(bad, [], "no sanitizer reports or seccomp kills in the log")
srv.kill9()

# ---- balancing off: the gauge is still there ------------------------------
off = Server("balance-off", env={"WORKER_BALANCE_SLACK": "0"}).start()
both_live(off.port)
socks, st = burst(off.port, N)
eq(st, [200] * N, "WORKER_BALANCE_SLACK=0: the burst is answered")
g = settle(off.port, N + 1)
diag("split without balancing (Kore's accept lock alone): %s" % g)
eq(sum(g.values()), N + 1, "and the gauge still counts every connection")
close_all(socks)
off.stop()

done()
