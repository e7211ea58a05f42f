"""test_basics.py: the endpoints of the foundation, every status code.

GET /, GET /health, POST /predict (200 with its row in the table, 4xx for
bad input with nothing written, 405, 404, 413, 415), then the database
stopped (503, never 200) and started again (200 without a server restart).
"""
import json
import os
import time

from lib import (ROOT, Server, done, eq, health_back, ok, predict, request,
                 reset_data, sql, sql_value, pg, pg_start)

reset_data()
srv = Server("basics").start()
port = srv.port

# ---- GET / -------------------------------------------------------------
st, h, body = request(port, "GET", "/")
eq(st, 200, "GET / answers 200")
ok(h.get("content-type", "").startswith("application/json"),
   "GET / is JSON")
ok(isinstance(body, dict) and body.get("service") == "modelserver" and
   body.get("links", {}).get("health") == "/health",
   "GET / names the service and links /health", body)
paths = {e["path"] for e in body.get("endpoints", [])}
ok({"/", "/health", "/predict"} <= paths, "GET / lists the endpoints", paths)

# ---- GET /health -------------------------------------------------------
st, h, body = request(port, "GET", "/health")
eq(st, 200, "GET /health answers 200 with the database up")
for key in ("status", "model_loaded", "model_name", "model_version",
            "uptime_seconds", "timestamp", "database"):
    ok(key in body, "health has %s" % key, body)
eq(body.get("status"), "healthy", "health status healthy (the original "
   "server's value)")
eq(body.get("model_loaded"), True, "model_loaded is true")
eq(body.get("model_name"), "vader", "model_name is vader")
eq(body.get("model_version"), "3.3.2", "model_version is 3.3.2")
eq(body.get("database", {}).get("status"), "up", "database is up")
ok(body.get("database", {}).get("schema_version", "0000") >= "0002",
   "health reports the applied schema version", body.get("database"))
ok(isinstance(body.get("uptime_seconds"), int), "uptime is an integer")

# ---- POST /predict: success and durability -------------------------------
st, h, body = predict(port, "The food was great and the staff were lovely!")
eq(st, 200, "POST /predict answers 200")
ok(h.get("content-type", "").startswith("application/json"),
   "predict answer is JSON")
for key in ("sentiment", "confidence", "inference_time_ms", "timestamp",
            "model_version", "prediction_id", "metric"):
    ok(key in body, "predict answer has %s" % key, body)
eq(body.get("sentiment"), "positive", "a happy text is positive")
ok(0 <= body.get("confidence", -1) <= 1, "confidence in 0..1", body)
ok(body.get("inference_time_ms", -1) >= 0, "inference time >= 0", body)
ok(isinstance(body.get("timestamp"), str) and
   body["timestamp"].endswith("Z") and "T" in body["timestamp"],
   "timestamp is ISO 8601 UTC", body.get("timestamp"))
eq(body.get("model_version"), "3.3.2", "model_version X.Y.Z")
m = body.get("metric", {})
for key in ("compound", "pos", "neu", "neg", "input_length"):
    ok(key in m, "metric has %s" % key, m)
# The original server's PredictionMetric inside metric: the same values.
eq([m.get(k) for k in ("prediction_id", "sentiment", "confidence",
                       "inference_time_ms", "timestamp", "model_version")],
   [body.get(k) for k in ("prediction_id", "sentiment", "confidence",
                          "inference_time_ms", "timestamp",
                          "model_version")],
   "metric repeats prediction_id, sentiment, confidence, inference time, "
   "timestamp and version")
ok(body.get("inference_time_ms", 0) > 0, "inference time > 0 (the "
   "original's rule)", body)
pid = body.get("prediction_id")
row = sql("SELECT p.label, p.confidence, p.compound, p.pos, p.neu, p.neg, "
          "p.input_length, v.name, v.version, p.client_ip, "
          "to_char(p.created_at AT TIME ZONE 'UTC', "
          "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
          "FROM app.prediction_metrics p JOIN app.model_versions v "
          "ON v.id = p.model_version_id WHERE prediction_id = '%s'" % pid)
ok(len(row) == 1, "the prediction_id answered 200 is in the table", row)
if row:
    r = row[0]
    eq(r[0], body["sentiment"], "stored label = answered label")
    eq(float(r[1]), body["confidence"], "stored confidence = answered")
    eq(float(r[2]), m["compound"], "stored compound = answered")
    eq([float(x) for x in r[3:6]], [m["pos"], m["neu"], m["neg"]],
       "stored pos/neu/neg = answered")
    eq(int(r[6]), m["input_length"], "stored input length = answered")
    eq((r[7], r[8]), ("vader", "3.3.2"), "row points at vader 3.3.2")
    eq(r[9], "127.0.0.1", "row records the client address")
    eq(r[10], body["timestamp"], "answered timestamp = stored created_at")

# Every smoke text (both signs, zeros, ones, emoji): each number answered
# is the stored one, to the bit (the answer and the row's text are both
# written from the rounded doubles; see src/fixed.c).
smoke = []
with open(os.path.join(ROOT, "tests", "data", "sentiment_smoke.tsv"),
          encoding="utf-8") as f:
    for line in f:
        cols = line.rstrip("\n").split("\t")
        if line.startswith("#") or cols[0] == "text" or not cols[0]:
            continue
        smoke.append(cols[0])
answered = {}
for text in smoke:
    st, _, b = request(port, "POST", "/predict", body={"text": text})
    if st == 200:
        answered[b["prediction_id"]] = b
eq(len(answered), len(smoke), "every smoke text answered 200 (%d)" %
   len(smoke))
stored = sql("SELECT prediction_id, label, confidence, inference_time_ms, "
             "compound, pos, neu, neg, input_length "
             "FROM app.prediction_metrics WHERE prediction_id IN (%s)" %
             ",".join("'%s'" % i for i in answered) if answered else
             "SELECT 1 WHERE false")
diff = []
for r in stored:
    b = answered.get(r[0], {})
    m = b.get("metric", {})
    want = [b.get("sentiment"), b.get("confidence"),
            b.get("inference_time_ms"), m.get("compound"), m.get("pos"),
            m.get("neu"), m.get("neg"), m.get("input_length")]
    got = [r[1]] + [float(x) for x in r[2:8]] + [int(r[8])]
    dup = [m.get("sentiment"), m.get("confidence"),
           m.get("inference_time_ms")]
    if got != want or dup != want[:3]:
        diff.append((r[0], got, want))
ok(len(stored) == len(answered) and not diff,
   "stored = answered for all %d: label, confidence, inference time, "
   "compound, pos, neu, neg, length" % len(stored), diff[:3])
numbers = [x for b in answered.values() for x in
           [b["confidence"], b["inference_time_ms"]] +
           [b["metric"][k] for k in ("compound", "pos", "neu", "neg")]]
ok(all(isinstance(x, float) for x in numbers),
   "every score and time is a JSON real (1.0, not 1)",
   [x for x in numbers if not isinstance(x, float)][:5])

st, _, body = request(port, "POST", "/predict",
                      body={"text": "This is terrible. I hate it.",
                            "include_metrics": False})
eq(st, 200, "include_metrics false: 200")
eq(body.get("sentiment"), "negative", "an angry text is negative")
ok("metric" not in body, "include_metrics false: no metric", body)

st, _, body = request(port, "POST", "/predict",
                      body={"text": "x" * 1000, "unknown": [1, 2]})
eq(st, 200, "1000 characters and an unknown field: 200")

st, _, body = request(port, "POST", "/predict",
                      body={"text": "\u00e9" * 1000})
eq(st, 200, "1000 two-byte code points: 200 (length is in code points)")
eq(body.get("metric", {}).get("input_length"), 1000,
   "input_length counts code points")

# ---- bad input: 4xx JSON, nothing written -------------------------------
before = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
bad = [
    ("malformed JSON", b'{"text": ', 400, "invalid_json"),
    ("not an object", b'["text"]', 422, "validation_failed"),
    ("missing text", b'{"include_metrics": true}', 422, "validation_failed"),
    ("text not a string", b'{"text": 42}', 422, "validation_failed"),
    ("text null", b'{"text": null}', 422, "validation_failed"),
    ("empty text", b'{"text": ""}', 422, "validation_failed"),
    ("1001 characters",
     json.dumps({"text": "a" * 1001}).encode(), 422, "validation_failed"),
    ("include_metrics not a bool",
     b'{"text": "hi", "include_metrics": "yes"}', 422, "validation_failed"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400, "invalid_json"),
    ("NUL escape", b'{"text": "a\\u0000b"}', 400, "invalid_json"),
    ("duplicate keys", b'{"text": "a", "text": "b"}', 400, "invalid_json"),
    ("empty body", b'', 400, "invalid_json"),
]
for name, raw, want, code in bad:
    st, h, body = request(port, "POST", "/predict", raw=raw,
                          headers={"Content-Type": "application/json"})
    ok(st == want and isinstance(body, dict) and
       body.get("error", {}).get("code") == code and
       isinstance(body["error"].get("message"), str) and
       isinstance(body["error"].get("details"), list),
       "%s -> %d %s with the error envelope" % (name, want, code),
       (st, body))
st, _, body = request(port, "POST", "/predict", body={"text": "a" * 1001})
ok(any(d.get("field") == "text" for d in body["error"]["details"]),
   "the 422 names the field", body)

st, _, body = request(port, "POST", "/predict", raw=b'{"text": "hi"}',
                      headers={"Content-Type": "text/plain"})
ok(st == 415 and body["error"]["code"] == "unsupported_media_type",
   "wrong Content-Type -> 415", (st, body))
st, _, body = request(port, "POST", "/predict", raw=b'{"text": "hi"}')
eq(st, 415, "no Content-Type -> 415")

big = json.dumps({"text": "a", "pad": "x" * 70000}).encode()
st, _, body = request(port, "POST", "/predict", raw=big,
                      headers={"Content-Type": "application/json"})
ok(st == 413 and body["error"]["code"] == "payload_too_large",
   "body over HTTP_BODY_MAX -> JSON 413", (st, body))

after = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
eq(after, before, "no bad request wrote a row")

# ---- methods and paths ---------------------------------------------------
st, h, body = request(port, "GET", "/predict")
ok(st == 405 and body["error"]["code"] == "method_not_allowed" and
   "POST" in h.get("allow", ""), "GET /predict -> JSON 405 with Allow",
   (st, h, body))
st, _, body = request(port, "DELETE", "/health")
eq(st, 405, "DELETE /health -> 405")
st, _, body = request(port, "GET", "/no/such/thing")
ok(st == 404 and body["error"]["code"] == "not_found" and
   any(e.get("path") == "/predict" for e in body["error"]["details"]),
   "unknown path -> JSON 404 listing the endpoints", (st, body))

# ---- the server keeps serving ----------------------------------------------
st, _, _ = predict(port)
eq(st, 200, "still serving after the bad requests")

# ---- database down: 503, never 200; back: 200 without restart ------------
rows_before = int(sql_value("SELECT count(*) FROM app.prediction_metrics"))
pg("stop", "fast")
try:
    statuses = []
    for i in range(6):
        st, h, body = predict(port, "db is down %d" % i)
        statuses.append(st)
    ok(all(s == 503 for s in statuses),
       "with the database stopped /predict answers 503 (never 200)",
       statuses)
    ok(body.get("error", {}).get("code") == "database_unavailable",
       "the 503 says the database is unavailable", body)
    st, _, body = request(port, "GET", "/health")
    ok(st == 503 and body.get("database", {}).get("status") == "down" and
       body.get("model_loaded") is True,
       "/health answers 503 with database down", (st, body))
finally:
    pg_start()

t0 = time.time()
st = None
while time.time() - t0 < 10:
    st, _, body = predict(port, "db is back")
    if st == 200:
        break
    time.sleep(0.1)
eq(st, 200, "after the database restarts /predict answers 200 again "
   "(no server restart, %.2f s)" % (time.time() - t0))
back, health, took = health_back(port)
ok(back and set(health) <= {200, 503},
   "/health is 200 again without a server restart (%.2f s; 503s until "
   "the breaker's probe and once per stale pooled connection)" % took,
   health)
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics")),
   rows_before + 1, "the outage wrote nothing: one new row, the 200")

done()
