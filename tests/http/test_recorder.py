"""test_recorder.py: the group commit (src/recorder.c).

Under concurrent load every prediction_id answered 200 is in the table and
the rows equal the 200s; rows really are grouped; a lone client is not
delayed; a batch whose statement fails answers 503 to every request in it
and stores none of them; rows queued behind a batch in flight leave when it
completes, not when RECORDER_DELAY_MS runs out.
"""
import subprocess
import threading
import time

from lib import (Server, db_url, ddl, diag, done, eq, ok, prom, request,
                 reset_data, sql, sql_value)


def fire(port, texts, results, lock):
    for t in texts:
        st, _, body = request(port, "POST", "/predict", body={"text": t})
        with lock:
            results.append((st, body.get("prediction_id")
                            if isinstance(body, dict) else None, t))


def load(port, nthreads, per_thread, text=lambda i, j: "text %d %d" % (i, j)):
    results, lock = [], threading.Lock()
    threads = [threading.Thread(target=fire, args=(
        port, [text(i, j) for j in range(per_thread)], results, lock))
        for i in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


reset_data()
srv = Server("recorder", sanitize=False,
             env={"RECORDER_DELAY_MS": "2", "RECORDER_BATCH_MAX": "32"})
srv.start()

# ---- concurrent load: 200s == rows, every id present --------------------
results = load(srv.port, 32, 40)
ids = [pid for st, pid, _ in results if st == 200]
eq(len(ids), 32 * 40, "1280 concurrent requests all answered 200")
eq(len(set(ids)), len(ids), "every prediction_id is distinct")
rows = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
eq(rows, len(ids), "rows in the table = 200s answered")
found = int(sql_value("SELECT count(*) FROM app.prediction_metrics "
                      "WHERE prediction_id = ANY ('{%s}'::uuid[])" %
                      ",".join(ids)))
eq(found, len(ids), "every prediction_id answered 200 is in the table")
batches = prom(srv.port, "modelserver_batch_rows_count")
rowsum = prom(srv.port, "modelserver_batch_rows_sum")
ok(batches is not None and batches < rowsum,
   "rows were grouped: %s rows in %s commits" % (rowsum, batches))
diag("average batch: %.1f rows" % (rowsum / batches))

# ---- a lone client is not delayed by the batching timer ------------------
# (A figure, not an assertion: the benchmark reports it on a quiet machine.)
lat, sts = [], []
for i in range(50):
    t0 = time.time()
    st, _, _ = request(srv.port, "POST", "/predict", body={"text": "solo"})
    lat.append(time.time() - t0)
    sts.append(st)
lat.sort()
diag("single client p50 %.2f ms" % (1000 * lat[25]))
eq(sts, [200] * 50, "a lone client's sequential requests are each answered")

# ---- a failing batch: 503 to each of its requests, nothing stored --------
# A constraint that rejects one input length poisons the batch that holds
# such a row: the whole statement fails, so every request in it must get
# 503 and none of its rows may be stored.
ddl("ALTER TABLE app.prediction_metrics ADD CONSTRAINT test_poison "
    "CHECK (input_length <> 777)")
try:
    reset_data()
    poison = "p" * 777
    results = load(srv.port, 24, 10,
                   text=lambda i, j: poison if (i, j) == (5, 5)
                   else "fine %d %d" % (i, j))
finally:
    ddl("ALTER TABLE app.prediction_metrics DROP CONSTRAINT test_poison")
statuses = {}
for st, _, _ in results:
    statuses[st] = statuses.get(st, 0) + 1
diag("with one poisoned row: %s" % statuses)
ok(set(statuses) <= {200, 503}, "answers are 200 or 503 only", statuses)
eq([st for st, _, t in results if t == poison], [503],
   "the poisoned request got 503")
ids = [pid for st, pid, _ in results if st == 200]
rows = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
eq(rows, len(ids), "rows = 200s: the failed batch stored nothing")
failed = prom(srv.port, "modelserver_batches_failed_total")
ok(failed is not None and failed >= 1, "the failed batch is counted")
text = srv.log_text()
ok("recorder.batch failed" in text and "status=503" in text,
   "the failure is logged once per batch with its status")
srv.stop()

# ---- holding batches in flight --------------------------------------------
# A lock on the table holds every batch's insert in flight; each waiting
# batch shows as one lock not granted.


def locks(granted):
    return int(sql_value(
        "SELECT count(*) FROM pg_locks WHERE relation = "
        "'app.prediction_metrics'::regclass AND granted = %s" % granted))


def until(cond, seconds=10):
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        time.sleep(0.02)
    return cond()


def hold():
    locker = subprocess.Popen(["psql", db_url("super"), "-X", "-q",
                               "-v", "ON_ERROR_STOP=1"],
                              stdin=subprocess.PIPE, text=True)
    locker.stdin.write("BEGIN;\nLOCK TABLE app.prediction_metrics "
                       "IN SHARE MODE;\n")
    locker.stdin.flush()
    ok(until(lambda: locks("true") > 0), "the test holds a lock on the table")
    return locker


def release(locker):
    locker.stdin.write("COMMIT;\n")
    locker.stdin.close()
    locker.wait(timeout=30)


# ---- batches in flight per worker: RECORDER_INFLIGHT ---------------------
# Twelve concurrent requests to one worker while inserts cannot finish: the
# worker sends at most RECORDER_INFLIGHT batches (never more than half its
# DB_POOL_SIZE connections) and the rest wait; all are answered once the
# lock goes.
for env, want in (({}, 1), ({"RECORDER_INFLIGHT": "2"}, 2),
                  ({"RECORDER_INFLIGHT": "8", "DB_POOL_SIZE": "4"}, 2)):
    reset_data()
    env = dict(env, WORKERS="1", RECORDER_DELAY_MS="5")
    s = Server("recorder-inflight", env=env).start()
    locker = hold()
    results = []
    th = threading.Thread(target=lambda: results.extend(load(s.port, 12, 1)))
    th.start()
    until(lambda: locks("false") >= want)
    time.sleep(0.3)			# 60 delays: any further batch would be out
    name = " ".join("%s=%s" % kv for kv in sorted(env.items())
                    if kv[0] in ("RECORDER_INFLIGHT", "DB_POOL_SIZE"))
    eq(locks("false"), want, "%s: %d batch(es) in flight" %
       (name or "default", want))
    release(locker)
    th.join(30)
    eq(sorted(st for st, _, _ in results), [200] * 12,
       "%s: all twelve answered 200 after the lock" % (name or "default"))
    eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics")), 12,
       "%s: twelve rows" % (name or "default"))
    s.stop()

# ---- rows queued behind a batch leave when it completes ------------------
# One worker, RECORDER_DELAY_MS at its maximum.  A's batch is held in
# flight by a lock on the table; B arrives meanwhile and queues (a batch is
# in flight, so B waits for the delay or for that batch).  When the lock
# goes, A's batch completes and B must leave at once: a delay timer armed
# before A completed must not hold it for the rest of the second.
reset_data()
slow = Server("recorder-delay", env={"WORKERS": "1",
                                     "RECORDER_DELAY_MS": "1000"}).start()
eq(request(slow.port, "POST", "/predict", body={"text": "warm"})[0], 200,
   "the one-worker server answers")

locker = hold()
ends = {}


def timed(name):
    st, _, _ = request(slow.port, "POST", "/predict",
                       body={"text": "queued " + name}, timeout=30)
    ends[name] = (st, time.time())


a = threading.Thread(target=timed, args=("A",))
a.start()
ok(until(lambda: locks("false") > 0), "A's batch is in flight, waiting "
   "for the lock")
b = threading.Thread(target=timed, args=("B",))
b.start()
time.sleep(0.2)			# B is queued behind A's batch by now
ok("B" not in ends and "A" not in ends, "neither is answered while the "
   "lock holds")
release(locker)
a.join(30)
b.join(30)
eq([ends.get("A", (None,))[0], ends.get("B", (None,))[0]], [200, 200],
   "A and B are answered 200")
if "A" in ends and "B" in ends:
    gap = ends["B"][1] - ends["A"][1]
    diag("B answered %.0f ms after A" % (1000 * gap))
    ok(gap < 0.5, "B left when A's batch completed, not after the "
       "1000 ms delay (%.0f ms after A)" % (1000 * gap))
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics")), 3,
   "three rows: warm, A, B")

done()
