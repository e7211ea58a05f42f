"""test_faults.py: the promise under faults.

- kill -9 of the Kore parent and every worker under load: every
  prediction answered 200 is in the table afterwards.
- kill -9 of the PostgreSQL postmaster under load, then a restart with the
  server left running: every 200 is in the table, nothing got a 200 during
  the outage, and the server serves again within 2 s of the database
  accepting connections.
- SIGTERM under load: every 200 is in the table; the requests cut off see
  a closed connection, never a false success.
- A database host that accepts and never answers: after the first connect
  times out, requests cost milliseconds, not seconds (circuit breaker).
"""
import http.client
import json
import os
import socket
import threading
import time

from lib import (Server, diag, done, eq, health_back, ok, pg, pg_start,
                 request, reset_data, sql)

BODY = json.dumps({"text": "a steady stream of fairly happy text"})


class Load:
    """Threads posting /predict on keep-alive connections until stopped.

    Every outcome is kept: (status or exception name, prediction_id,
    wall time of the answer)."""

    def __init__(self, port, threads=8):
        self.port = port
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.threads = [threading.Thread(target=self.run)
                        for _ in range(threads)]

    def run(self):
        conn = None
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                      timeout=15)
                conn.request("POST", "/predict", body=BODY,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                pid = None
                if r.status == 200:
                    pid = json.loads(data)["prediction_id"]
                out = (r.status, pid, time.time())
            except (OSError, http.client.HTTPException) as e:
                out = (type(e).__name__, None, time.time())
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            with self.lock:
                self.results.append(out)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)

    def ok_ids(self):
        with self.lock:
            return [pid for st, pid, _ in self.results if st == 200]

    def count(self):
        with self.lock:
            return len(self.results)


def missing(ids):
    """The ids of ids that are not in the table."""
    if not ids:
        return []
    found = set()
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        rows = sql("SELECT prediction_id FROM app.prediction_metrics "
                   "WHERE prediction_id = ANY ('{%s}'::uuid[])" %
                   ",".join(chunk))
        found.update(r[0] for r in rows)
    return [x for x in ids if x not in found]


def wait_for(pred, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


reset_data()

# ---- kill -9 of the whole server under load --------------------------------
srv = Server("crash", sanitize=False).start()
with Load(srv.port) as load:
    wait_for(lambda: len(load.ok_ids()) >= 300, 30)
    srv.kill9()
    time.sleep(0.5)
ids = load.ok_ids()
ok(len(ids) >= 300, "load ran before the crash (%d answered 200)" % len(ids))
lost = missing(ids)
eq(len(lost), 0, "kill -9 of parent and workers: every one of the %d "
   "prediction_ids answered 200 is in the table" % len(ids))
srv = Server("crash-restart", sanitize=False, port=srv.port).start()
st, _, _ = request(srv.port, "POST", "/predict", body={"text": "back"})
eq(st, 200, "the restarted server serves")

# ---- kill -9 of the PostgreSQL postmaster, the server stays up --------------
with Load(srv.port) as load:
    wait_for(lambda: len(load.ok_ids()) >= 300, 30)
    pg("kill")
    killed_at = time.time()
    time.sleep(2)
    during = load.count()
    time.sleep(1)
    with load.lock:
        outage = [r for r in load.results if r[2] > killed_at + 1.0]
    pg_start()                       # returns once it accepts connections
    accepting_at = time.time()
    back = wait_for(lambda: any(r[0] == 200 and r[2] > accepting_at
                                for r in list(load.results)), 10)
    with load.lock:
        first_200 = min([r[2] for r in load.results
                         if r[0] == 200 and r[2] > accepting_at] or [0])
    time.sleep(0.5)
ok(len(outage) > 0, "requests kept coming during the outage (%d)" %
   len(outage))
ok(all(r[0] != 200 for r in outage),
   "no 200 while the database was down",
   [r for r in outage if r[0] == 200][:5])
ok(all(r[0] == 503 for r in outage),
   "requests during the outage got 503",
   sorted(set(str(r[0]) for r in outage)))
ok(back and first_200 - accepting_at <= 2.0,
   "served again %.2f s after the database accepted connections "
   "(no restart)" % (first_200 - accepting_at if back else -1))
ids = load.ok_ids()
lost = missing(ids)
eq(len(lost), 0, "kill -9 of the postmaster: all %d acknowledged rows "
   "survived crash recovery" % len(ids))
back, health, took = health_back(srv.port)
ok(back and set(health) <= {200, 503},
   "/health is 200 after the database came back (%.2f s)" % took, health)

# ---- SIGTERM under load: drain ------------------------------------------------
with Load(srv.port, threads=16) as load:
    wait_for(lambda: len(load.ok_ids()) >= 200, 30)
    term_at = time.time()
    srv.stop()
    stopped_at = time.time()
    time.sleep(0.5)
after = [r for r in load.results if r[2] >= term_at]
kinds = {}
for r in after:
    kinds[str(r[0])] = kinds.get(str(r[0]), 0) + 1
ok(set(kinds) <= {"200", "503", "ConnectionRefusedError",
                  "RemoteDisconnected", "ConnectionResetError",
                  "BrokenPipeError"},
   "after SIGTERM clients saw 200, 503 or a closed connection only", kinds)
ok(stopped_at - term_at < 6, "the server exited within the drain period "
   "(%.2f s)" % (stopped_at - term_at))
diag("after SIGTERM: %s" % kinds)
ids = load.ok_ids()
eq(len(missing(ids)), 0, "SIGTERM: every one of the %d 200s is in the "
   "table" % len(ids))
text = srv.log_text()
ok("shutdown.drain" not in text or "shutdown.drained requests_left=0" in
   text, "the workers drained every admitted request before exiting",
   [l for l in text.splitlines() if "shutdown." in l])

# ---- a database host that accepts and never answers ---------------------------
silent = socket.socket()
silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
silent.bind(("127.0.0.1", 0))
silent.listen(128)
held = []
accepting = threading.Event()


def hold():
    silent.settimeout(0.2)
    while not accepting.is_set():
        try:
            c, _ = silent.accept()
            held.append(c)
        except socket.timeout:
            pass


holder = threading.Thread(target=hold)
holder.start()
url = "postgresql://modelserver_app:x@127.0.0.1:%d/modelserver" % \
    silent.getsockname()[1]
hang = Server("silent-db", sanitize=False,
              env={"DATABASE_URL": url, "WORKERS": "1",
                   "DB_BREAKER_MS": "1000"}).start()
try:
    t0 = time.time()
    st, _, _ = request(hang.port, "POST", "/predict", body={"text": "x"},
                       timeout=15)
    first = time.time() - t0
    eq(st, 503, "first request to a silent database: 503")
    ok(first < 3.5, "... after the connect timeout (%.2f s)" % first)
    times = []
    for i in range(20):
        t0 = time.time()
        st, _, body = request(hang.port, "POST", "/predict",
                              body={"text": "y %d" % i}, timeout=15)
        times.append((st, time.time() - t0))
    ok(all(s == 503 for s, _ in times), "then 503 every time",
       [s for s, _ in times])
    ok(max(t for _, t in times) < 0.1,
       "each costs milliseconds, not seconds (max %.1f ms)" %
       (1000 * max(t for _, t in times)))
    t0 = time.time()
    st, _, body = request(hang.port, "GET", "/health", timeout=15)
    ok(st == 503 and body["database"]["status"] == "down" and
       time.time() - t0 < 0.1,
       "/health says the database is down, at once", (st, body))
finally:
    accepting.set()
    holder.join()
    hang.stop()
    for c in held:
        c.close()
    silent.close()

done()
