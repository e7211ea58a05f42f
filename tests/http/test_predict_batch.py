"""test_predict_batch.py: POST /predict/batch (src/api_predict_batch.c).

Results come in input order, one row per text, all from one transaction
(the rows share one created_at, the answer's timestamp); scores equal
/predict's for the same text and version; a bad text is a 422 naming its
index with nothing written; every text counts against the rate limit and
a batch is admitted whole or refused whole; a database failure in the
middle of the INSERT leaves no row of the batch and answers 503, and the
server goes on serving; concurrent batches and single predictions all
commit.
"""
import threading

from lib import (Server, ddl, done, eq, ok, request, reset_data, sql,
                 sql_value)


def batch(port, texts, source=None, **kw):
    body = {"texts": texts}
    body.update(kw)
    return request(port, "POST", "/predict/batch", body=body, source=source)


def rows_of(ids):
    if not ids:
        return 0
    return int(sql_value("SELECT count(*) FROM app.prediction_metrics "
                         "WHERE prediction_id = ANY ('{%s}'::uuid[])" %
                         ",".join(ids)))


reset_data()
srv = Server("batch", env={"MODELS_DIR": "src/model/versions",
                           "RATE_LIMIT_PREDICT_PER_MINUTE": "100000"})
srv.start()
port = srv.port

# ---- order, rows, one transaction ----------------------------------------
texts = ["text %d is %s" % (i, ("great", "awful", "a flimsy refund",
                                "on the table")[i % 4]) for i in range(100)]
st, h, body = batch(port, texts, model_version="3.4.0")
eq(st, 200, "a batch of 100 texts: 200")
preds = body.get("predictions", [])
eq([p.get("index") for p in preds], list(range(100)), "results in order")
eq((body.get("model"), body.get("model_version"), body.get("count")),
   ("vader", "3.4.0", 100), "the answer names the version and the count")
ids = [p.get("prediction_id") for p in preds]
eq(len(set(ids)), 100, "100 distinct prediction ids")
eq(rows_of(ids), 100, "one row per text")
stamps = sql("SELECT DISTINCT to_char(created_at AT TIME ZONE 'UTC', "
             "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM "
             "app.prediction_metrics WHERE prediction_id = ANY "
             "('{%s}'::uuid[])" % ",".join(ids))
stamps = [r[0] for r in stamps]
eq(stamps, [body.get("timestamp")],
   "every row has the one transaction's timestamp, the answer's")
got = sql("SELECT p.prediction_id, p.label, p.compound, v.version "
          "FROM app.prediction_metrics p JOIN "
          "app.model_versions v ON v.id = p.model_version_id WHERE "
          "p.prediction_id = ANY ('{%s}'::uuid[])" % ",".join(ids))
stored = {}
for pid, label, comp, ver in got:
    stored[pid] = (label, float(comp), ver)
eq([stored.get(p["prediction_id"]) for p in preds],
   [(p["sentiment"], p["metric"]["compound"], "3.4.0") for p in preds],
   "each row holds what its result says, for the version that answered")
for i in (0, 1, 2, 3):
    s1, _, one = request(port, "POST", "/predict",
                         body={"text": texts[i], "model_version": "3.4.0"})
    eq((one.get("sentiment"), one.get("metric", {}).get("compound")),
       (preds[i]["sentiment"], preds[i]["metric"]["compound"]),
       "text %d scores as /predict scores it" % i)
eq(h.get("x-ratelimit-limit"), "100000", "rate-limit headers")

st, _, body = batch(port, ["flimsy"], model_version="3.3.2",
                    include_metrics=False)
eq((st, body.get("model_version")), (200, "3.3.2"), "pinned 3.3.2")
ok("metric" not in body["predictions"][0], "include_metrics false")

# ---- 422 naming the index, nothing written --------------------------------
before = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
for name, bad, field in (
        ("an empty text", ["ok", "fine", "good", ""], "texts[3]"),
        ("a number", ["ok", 7], "texts[1]"),
        ("1001 characters", ["a" * 1001], "texts[0]"),
        ("257 texts", ["x"] * 257, "texts"),
        ("no texts", [], "texts")):
    st, _, body = batch(port, bad)
    fields = [d.get("field") for d in body.get("error", {}).get("details",
                                                                 [])]
    eq((st, fields), (422, [field]), "%s: 422 naming %s" % (name, field))
st, _, body = request(port, "POST", "/predict/batch", body={"text": "x"})
eq(st, 422, "no texts field: 422")
st, _, body = batch(port, ["x"], model_version="9.9.9")
eq(st, 422, "a version not held: 422")
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics")), before,
   "no row written by any refused batch")
st, _, _ = request(port, "GET", "/predict/batch")
eq(st, 405, "GET /predict/batch: 405")

# ---- a database failure in the middle of the INSERT ---------------------
ddl("CREATE FUNCTION app.test_fail_777() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN RAISE EXCEPTION 'test failure at row of length 777'; "
    "END $$; CREATE TRIGGER test_fail_777 BEFORE INSERT ON "
    "app.prediction_metrics FOR EACH ROW WHEN (NEW.input_length = 777) "
    "EXECUTE FUNCTION app.test_fail_777()")
try:
    before = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
    mixed = ["row %d" % i for i in range(50)]
    mixed[30] = "z" * 777
    st, h, body = batch(port, mixed)
    eq(st, 503, "a failure at row 31 of 50: 503")
    eq(h.get("retry-after"), "1", "with Retry-After")
    eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics")), before,
       "no row of the batch was stored")
    st, _, body = batch(port, ["after the failure"])
    eq(st, 200, "the server goes on serving")
finally:
    ddl("DROP TRIGGER test_fail_777 ON app.prediction_metrics; "
        "DROP FUNCTION app.test_fail_777()")

# ---- concurrent batches and single predictions ---------------------------
results, lock = [], threading.Lock()


def fire(k):
    for j in range(6):
        if k % 2:
            st, _, body = batch(port, ["c %d %d %d" % (k, j, i)
                                       for i in range(20)])
            got = [p["prediction_id"] for p in body.get("predictions", [])]
        else:
            st, _, body = request(port, "POST", "/predict",
                                  body={"text": "s %d %d" % (k, j)})
            got = [body.get("prediction_id")]
        with lock:
            results.append((st, got))


threads = [threading.Thread(target=fire, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ids = [i for st, got in results if st == 200 for i in got]
eq(sorted(st for st, _ in results), [200] * 48,
   "24 batches and 24 predictions at once: all 200")
eq(len(ids), 24 * 20 + 24, "every text answered")
eq(rows_of(ids), len(ids), "every answered text has its row")
srv.stop()

# ---- rate limit: every text counts, all or nothing ------------------------
reset_data()
lim = Server("batch-limited", env={"RATE_LIMIT_PREDICT_PER_MINUTE": "10",
                                   "RATE_LIMIT_LEASE_MS": "0"})
lim.start()
a = "127.0.0.21"
st, h, body = batch(lim.port, ["one"] * 6, source=a)
eq((st, h.get("x-ratelimit-remaining")), (200, "4"),
   "6 texts of 10: 200, 4 left")
st, h, body = batch(lim.port, ["two"] * 5, source=a)
eq(st, 429, "5 more texts with 4 left: 429, the whole batch")
ok(h.get("retry-after") is not None, "with Retry-After")
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics "
                 "WHERE client_ip = '%s'" % a)), 6,
   "the refused batch wrote nothing")
st, h, _ = batch(lim.port, ["three"] * 4, source=a)
eq((st, h.get("x-ratelimit-remaining")), (200, "0"), "4 texts: 200, 0 left")
st, _, _ = request(lim.port, "POST", "/predict", body={"text": "x"},
                   source=a)
eq(st, 429, "then /predict is refused: the batch's texts counted")
st, _, body = batch(lim.port, ["x"] * 11, source="127.0.0.22")
eq(st, 429, "a batch larger than the limit: 429")
ok("more than the rate limit" in body.get("error", {}).get("message", ""),
   "saying it can never pass", body)
lim.stop()
done()
