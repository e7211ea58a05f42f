"""test_recorder.py: the group commit (src/recorder.c).

Under concurrent load every prediction_id answered 200 is in the table and
the rows equal the 200s; rows really are grouped; a lone client is not
delayed; a batch whose statement fails answers 503 to every request in it
and stores none of them.
"""
import threading
import time

from lib import (Server, diag, done, eq, ok, prom, request, reset_data, sql,
                 sql_value)


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
sql("ALTER TABLE app.prediction_metrics ADD CONSTRAINT test_poison "
    "CHECK (input_length <> 777)")
try:
    reset_data()
    poison = "p" * 777
    results = load(srv.port, 24, 10,
                   text=lambda i, j: poison if (i, j) == (5, 5)
                   else "fine %d %d" % (i, j))
finally:
    sql("ALTER TABLE app.prediction_metrics DROP CONSTRAINT test_poison")
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

done()
