"""test_rollups.py: the rollups under a running server (docs/rollups.md).

- Real time: a prediction answered 200 is in the very next /metrics/count
  and /metrics/aggregated, while the janitor folds every 100 ms.
- A write transaction held open across janitor runs holds the watermark
  back (no fold may pass its start); its row, committed late, is counted
  exactly once.
- Rows written by concurrent clients while the janitor folds: afterwards
  every figure of several windows equals the same query over the raw
  rows.
- The partials the server sums itself (src/partial.c), for POST /predict
  and POST /predict/batch, with the fold off so none is dropped: equal to
  the same sums over the raw rows, statement by statement.
"""
import subprocess
import threading
import time

from lib import (Server, db_url, done, eq, ok, predict, request, reset_data,
                 sql, sql_value, truncate_predictions)

reset_data()
srv = Server("rollups", env={"ROLLUP_FOLD_MS": "100"}).start()
port = srv.port


def count():
    st, _, body = request(port, "GET", "/metrics/count")
    return body.get("total_predictions") if st == 200 else None


def watermark():
    return sql_value("SELECT watermark FROM app.rollup_state")


def wait_for(cond, seconds=30):
    """Polls cond() until it holds or seconds pass (a loaded machine)."""
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


# The figures of a window, over the rollups and over the raw rows, as
# text: exact equality (the test data is below 2.048 ms: P95 exact).
REF = """
SELECT (count(*), (sum(confidence::numeric) / count(*))::float8,
        (sum(inference_time_ms::numeric) / count(*))::float8,
        min(inference_time_ms), max(inference_time_ms),
        percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_time_ms),
        count(*) FILTER (WHERE label = 'positive'),
        count(*) FILTER (WHERE label = 'negative'),
        count(*) FILTER (WHERE label = 'neutral'))::text
  FROM app.prediction_metrics
 WHERE created_at >= %(s)s AND created_at < %(e)s"""
GOT = """
SELECT row(m.*)::text FROM app.metrics_window(%(s)s, %(e)s) m"""


def same_window(s, e):
    args = {"s": s, "e": e}
    got = sql_value(GOT % args)
    want = sql_value(REF % args)
    return got == want, (got, want)


# ---- real time ----------------------------------------------------------
texts = ["good", "bad", "fine", "I love it", "terrible", "meh"]
good = True
why = None
for i in range(60):
    st, _, _ = predict(port, texts[i % len(texts)])
    n = count()
    st2, _, agg = request(port, "POST", "/metrics/aggregated",
                          body={"time_window_minutes": 5})
    if st != 200 or n != i + 1 or agg.get("total_predictions") != i + 1:
        good = False
        why = (i, st, n, agg.get("total_predictions"))
        break
    time.sleep(0.02)
ok(good, "each 200 is in the very next /metrics/count and aggregate", why)
ok(wait_for(lambda: watermark() is not None),
   "the janitor folds: the watermark moves")
w1 = watermark()
ok(wait_for(lambda: watermark() != w1, 10), "and keeps moving")

# ---- a transaction that commits late -------------------------------------
# The server's role, as the recorder writes: created_at = now(), the
# transaction's start.
held = subprocess.Popen(
    ["psql", db_url("app"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    text=True)
held.stdin.write(
    "BEGIN;\n"
    "SELECT now();\n"
    "INSERT INTO app.prediction_metrics (prediction_id, model_version_id, "
    "label, confidence, inference_time_ms, input_length, compound, pos, neu, "
    "neg, client_ip) SELECT gen_random_uuid(), id, 'neutral', 0.123456, "
    "0.777, 5, 0, 0, 1, 0, '10.9.9.9' FROM app.model_versions LIMIT 1;\n")
held.stdin.flush()
t_start = held.stdout.readline().strip()
ok(t_start != "", "a write transaction is open", t_start)
# Predictions go on around it; the janitor runs many times.
for i in range(20):
    predict(port, "still here")
    time.sleep(0.1)
w_held = watermark()
ok(sql_value("SELECT %s::timestamptz <= %s::timestamptz" %
             (repr(w_held), repr(t_start))) == "t",
   "the watermark stays at or below the open transaction's start",
   (w_held, t_start))
before = count()
held.stdin.write("COMMIT;\n\\q\n")
held.stdin.flush()
held.wait(timeout=30)
eq(held.returncode, 0, "the late transaction commits")
eq(count(), before + 1, "its row is counted as soon as it commits")
ok(wait_for(lambda: sql_value(
    "SELECT watermark > %s::timestamptz FROM app.rollup_state"
    % repr(t_start)) == "t"),
   "after the commit the watermark passes it")
eq(int(sql_value("SELECT sum(n) FROM app.rollup_1s WHERE bucket = "
                 "date_bin('1 second', %s::timestamptz, "
                 "'2000-01-01 00:00+00')" % repr(t_start)) or 0),
   int(sql_value("SELECT count(*) FROM app.prediction_metrics WHERE "
                 "date_bin('1 second', created_at, '2000-01-01 00:00+00') = "
                 "date_bin('1 second', %s::timestamptz, "
                 "'2000-01-01 00:00+00')" % repr(t_start))),
   "the late row is in its 1 s rollup, exactly once")
eq(count(), int(sql_value("SELECT count(*) FROM app.prediction_metrics")),
   "count: as over the raw rows")

# ---- rows written while the janitor folds ----------------------------------
stop = time.time() + 4
errors = []


def client(k):
    while time.time() < stop:
        st, _, _ = predict(port, texts[k % len(texts)] + " %d" % k,
                           source="127.0.0.%d" % (10 + k))
        if st != 200:
            errors.append(st)


threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
folds = set()
while time.time() < stop:
    folds.add(watermark())
    time.sleep(0.2)
for t in threads:
    t.join()
eq(errors, [], "every prediction under load answered 200")
ok(len(folds) >= 3, "the watermark moved during the load", sorted(folds))
eq(count(), int(sql_value("SELECT count(*) FROM app.prediction_metrics")),
   "count after the load: as over the raw rows")
now = "'%s'::timestamptz" % sql_value("SELECT now()")
windows = ((now + " - interval '1 hour'", now),
           (now + " - interval '2.5 s'", now),
           (now + " - interval '3.3 s'", now + " - interval '1.1 s'"))
for s, e in windows:
    same, why = same_window(s, e)
    ok(same, "window [%s, %s): every figure as over the raw rows" % (s, e),
       why)
ok(wait_for(lambda: sql_value(
    "SELECT watermark > %s FROM app.rollup_state" % now) == "t"),
   "the watermark passes the load")
for s, e in windows:
    same, why = same_window(s, e)
    ok(same, "folded: window [%s, %s) still as over the raw rows" % (s, e),
       why)

done()
