"""test_metrics.py: /metrics/aggregated, /metrics/count, /metrics/thresholds
and /metrics/timeseries against a real server and PostgreSQL.

The figures are checked against an independent computation in Python
from what /predict answered for the rows this test recorded; thresholds
are checked in the table and its history after every refused change.
"""
import datetime
import math

from lib import (Server, done, eq, ok, predict, request, reset_data, sql,
                 sql_value)

TOKEN = "metrics-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}

reset_data()
srv = Server("metrics", env={"ADMIN_TOKEN": TOKEN}).start()
port = srv.port


def pct_cont(values, p):
    """percentile_cont(p) as PostgreSQL computes it."""
    v = sorted(values)
    if not v:
        return None
    pos = p * (len(v) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return v[lo] + (pos - lo) * (v[hi] - v[lo])


def near(a, b, rel=1e-12):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(1.0, abs(a), abs(b))


def status_of(avg_conf, p95, t):
    """The rule of app.metrics_status, written again."""
    if ((avg_conf is not None and avg_conf <= t["min_confidence_critical"])
            or (p95 is not None and
                p95 >= t["max_inference_time_critical_ms"])):
        return "critical"
    if ((avg_conf is not None and avg_conf <= t["min_confidence_warning"])
            or (p95 is not None and
                p95 >= t["max_inference_time_warning_ms"])):
        return "warning"
    return "normal"


def fields(body):
    return [d.get("field") for d in
            (body or {}).get("error", {}).get("details", [])]


def iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def thresholds_rows():
    return sql("SELECT model_name, min_confidence_warning, "
               "min_confidence_critical, max_inference_time_warning_ms, "
               "max_inference_time_critical_ms, updated_at "
               "FROM app.metric_thresholds ORDER BY model_name")


def history_count():
    return int(sql_value("SELECT count(*) FROM app.metric_threshold_changes"))


# ---- GET /metrics/count on an empty table --------------------------------
st, h, body = request(port, "GET", "/metrics/count")
eq(st, 200, "GET /metrics/count answers 200")
ok(h.get("content-type", "").startswith("application/json"), "count is JSON")
eq(body.get("total_predictions"), 0, "count is 0 before any prediction")

# ---- empty window --------------------------------------------------------
st, _, body = request(port, "POST", "/metrics/aggregated", body={})
eq(st, 200, "aggregated on an empty table: 200")
eq(body.get("total_predictions"), 0, "empty: total 0")
ok(all(body.get(k, "missing") is None for k in (
    "average_confidence", "average_inference_time_ms",
    "min_inference_time_ms", "max_inference_time_ms",
    "p95_inference_time_ms")), "empty: every aggregate is null", body)
eq(body.get("label_distribution"),
   {"positive": 0, "negative": 0, "neutral": 0},
   "empty: every label, with zeros")
eq(body.get("status"), "normal", "empty: status normal")

# ---- record predictions through /predict ----------------------------------
texts = [
    "I love this product, it is wonderful!",
    "Absolutely fantastic service and great food.",
    "This is terrible. I hate it.",
    "Worst experience ever, awful and rude staff.",
    "The package arrived on Tuesday.",
    "It is a table.",
    "Good job, well done!",
    "Not bad at all, quite nice actually.",
    "I am very disappointed and angry.",
    "The meeting is at noon.",
    "Happy happy joy joy :)",
    "meh",
]
answers = []
for t in texts:
    st, _, body = predict(port, t)
    if st == 200:
        answers.append(body)
eq(len(answers), len(texts), "every /predict answered 200")

conf = [a["confidence"] for a in answers]
ms = [a["inference_time_ms"] for a in answers]
labels = {"positive": 0, "negative": 0, "neutral": 0}
for a in answers:
    labels[a["sentiment"]] += 1
ok(all(v > 0 for v in labels.values()),
   "the texts cover all three labels", labels)

# ---- GET /metrics/count -------------------------------------------------
st, _, body = request(port, "GET", "/metrics/count")
eq(body.get("total_predictions"), len(texts), "count = predictions recorded")
eq(body.get("total_metrics"), len(texts), "count: total_metrics (the "
   "original's name) = total_predictions")
eq(body.get("total_predictions"),
   int(sql_value("SELECT count(*) FROM app.prediction_metrics")),
   "count = rows in the table")
st, _, body = request(port, "GET", "/metrics/count?model_name=nope")
eq(body.get("total_predictions"), 0, "count with an unknown model: 0")
st, _, body = request(port, "GET", "/metrics/count?model_name=vader"
                      "&model_version=3.3.2")
eq(body.get("total_predictions"), len(texts), "count of vader 3.3.2")

# ---- POST /metrics/aggregated: figures ---------------------------------------
st, h, agg = request(port, "POST", "/metrics/aggregated",
                     body={"time_window_minutes": 60})
eq(st, 200, "aggregated answers 200")
eq(agg.get("total_predictions"), len(texts), "aggregated: total")
ok(near(agg.get("average_confidence"), sum(conf) / len(conf), 1e-12),
   "aggregated: average confidence = mean of the answered confidences",
   (agg.get("average_confidence"), sum(conf) / len(conf)))
ok(near(agg.get("average_inference_time_ms"), sum(ms) / len(ms), 1e-12),
   "aggregated: average inference time = mean of the answered times",
   (agg.get("average_inference_time_ms"), sum(ms) / len(ms)))
ok(near(agg.get("min_inference_time_ms"), min(ms)), "aggregated: min")
ok(near(agg.get("max_inference_time_ms"), max(ms)), "aggregated: max")
ok(near(agg.get("p95_inference_time_ms"), pct_cont(ms, 0.95), 1e-12),
   "aggregated: P95 = percentile_cont(0.95) of the answered times",
   (agg.get("p95_inference_time_ms"), pct_cont(ms, 0.95), sorted(ms)))
eq(agg.get("label_distribution"), labels, "aggregated: label distribution")
eq(agg.get("sentiment_distribution"), labels, "aggregated: "
   "sentiment_distribution (the original's name) = label_distribution")
t = agg.get("thresholds", {})
eq((t.get("model_name"), t.get("min_confidence_warning"),
    t.get("min_confidence_critical"), t.get("max_inference_time_warning_ms"),
    t.get("max_inference_time_critical_ms")),
   ("default", 0.6, 0.4, 200, 500), "aggregated: the default thresholds")
eq(agg.get("status"), status_of(agg.get("average_confidence"),
                                agg.get("p95_inference_time_ms"), t),
   "aggregated: status follows the rule")
start, end = agg.get("time_window_start"), agg.get("time_window_end")
ok(isinstance(start, str) and isinstance(end, str) and
   (iso(end) - iso(start)) == datetime.timedelta(minutes=60),
   "aggregated: the window is 60 minutes, ISO 8601", (start, end))
created = [iso(a["timestamp"]) for a in answers]
ok(all(iso(start) <= c < iso(end) for c in created),
   "aggregated: every recorded row lies in [start, end)")

st, _, body = request(port, "POST", "/metrics/aggregated", body={})
eq(body.get("time_window_minutes"), 60, "the window defaults to 60 minutes")
st, _, body = request(port, "POST", "/metrics/aggregated",
                      body={"time_window_minutes": 1440,
                            "model_name": "vader", "model_version": "3.3.2"})
eq((st, body.get("total_predictions")), (200, len(texts)),
   "aggregated: vader 3.3.2 over 1440 minutes holds every row")
st, _, body = request(port, "POST", "/metrics/aggregated",
                      body={"model_name": "nope"})
eq((st, body.get("total_predictions"), body.get("p95_inference_time_ms"),
    body.get("status")), (200, 0, None, "normal"),
   "aggregated: an unknown model has no rows")
st, _, body = request(port, "POST", "/metrics/aggregated",
                      body={"model_version": "9.9.9"})
eq(body.get("total_predictions"), 0, "aggregated: an unknown version: 0")

# Status moves with the thresholds (set through SQL here; PUT is below).
for want, q in (
        ("normal", "0.002, 0.001, 100000, 200000"),
        ("warning", "0.999, 0.001, 100000, 200000"),
        ("critical", "0.002, 0.001, 0.0001, 0.0002")):
    sql("UPDATE app.metric_thresholds SET (min_confidence_warning, "
        "min_confidence_critical, max_inference_time_warning_ms, "
        "max_inference_time_critical_ms) = (%s) "
        "WHERE model_name = 'default'" % q)
    st, _, body = request(port, "POST", "/metrics/aggregated", body={})
    eq(body.get("status"), want, "aggregated: thresholds (%s) give %s"
       % (q, want))
reset_data_thresholds = ("UPDATE app.metric_thresholds SET "
                         "(min_confidence_warning, min_confidence_critical, "
                         "max_inference_time_warning_ms, "
                         "max_inference_time_critical_ms) = "
                         "(0.6, 0.4, 200, 500); "
                         "TRUNCATE app.metric_threshold_changes")
sql(reset_data_thresholds)

# ---- aggregated: bad input ----------------------------------------------
for name, raw, field in (
        ("window 0", b'{"time_window_minutes": 0}', "time_window_minutes"),
        ("window 1441", b'{"time_window_minutes": 1441}',
         "time_window_minutes"),
        ("window a string", b'{"time_window_minutes": "60"}',
         "time_window_minutes"),
        ("window a fraction", b'{"time_window_minutes": 1.5}',
         "time_window_minutes"),
        ("model_name a number", b'{"model_name": 5}', "model_name"),
        ("model_name with spaces", b'{"model_name": "Bad Name"}',
         "model_name"),
        ("model_version not X.Y.Z", b'{"model_version": "v1"}',
         "model_version"),
        ("not an object", b'[60]', "body")):
    st, h, body = request(port, "POST", "/metrics/aggregated", raw=raw,
                          headers={"Content-Type": "application/json"})
    ok(st == 422 and field in fields(body) and
       body["error"]["code"] == "validation_failed",
       "aggregated, %s: 422 naming %s" % (name, field), (st, body))
st, _, body = request(port, "POST", "/metrics/aggregated", raw=b'{"x":',
                      headers={"Content-Type": "application/json"})
eq(st, 400, "aggregated, malformed JSON: 400")
st, h, body = request(port, "GET", "/metrics/aggregated")
ok(st == 405 and "POST" in h.get("allow", ""), "GET /metrics/aggregated: 405")

# ---- GET /metrics/timeseries ---------------------------------------------
st, _, ts = request(port, "GET", "/metrics/timeseries")
eq(st, 200, "timeseries answers 200")
eq((ts.get("window_minutes"), ts.get("bucket_minutes")), (60, 1),
   "timeseries: defaults window 60, bucket 1")
b = ts.get("buckets", [])
# Aligned to whole minutes: the oldest and the newest are cut to the
# window (one bucket more than 60 unless the window ends on a minute).
aligned = iso(ts["time_window_end"]).second == 0 and \
    iso(ts["time_window_end"]).microsecond == 0
eq(len(b), 60 if aligned else 61,
   "timeseries: 60 buckets (61 cut at both ends), empty ones included")
ok(all(iso(x["bucket_start"]).second == 0 and
       iso(x["bucket_start"]).microsecond == 0 for x in b[1:]),
   "timeseries: buckets start on whole UTC minutes")
ok(b and b[-1]["partial"] == (not aligned) and
   all(not x["partial"] for x in b[1:-1]),
   "timeseries: only the buckets cut to the window are partial")
eq(sum(x["total_predictions"] for x in b), len(texts),
   "timeseries: the buckets add up to the recorded rows")
eq({k: sum(x["label_distribution"][k] for x in b) for k in labels}, labels,
   "timeseries: labels add up")
ok(all(iso(b[i]["bucket_end"]) == iso(b[i + 1]["bucket_start"])
       for i in range(len(b) - 1)), "timeseries: buckets are contiguous")
eq(b[-1]["bucket_end"] if b else None, ts.get("time_window_end"),
   "timeseries: the last bucket ends at the window's end")
empty = [x for x in b if x["total_predictions"] == 0]
ok(empty and all(x["average_confidence"] is None and
                 x["p95_inference_time_ms"] is None for x in empty),
   "timeseries: empty buckets have null averages")
full = [x for x in b if x["total_predictions"] > 0]
if len(full) == 1:
    ok(near(full[0]["p95_inference_time_ms"], pct_cont(ms, 0.95), 1e-12),
       "timeseries: the bucket's P95 = percentile_cont of its rows")
else:
    ok(True, "timeseries: rows span %d buckets (P95 checked in pgTAP)"
       % len(full))
ok(b[0]["change"]["total_predictions"] is None and
   all(b[i]["change"]["total_predictions"] ==
       b[i]["total_predictions"] - b[i - 1]["total_predictions"]
       for i in range(1, len(b))),
   "timeseries: change against the previous bucket")
st, _, ts = request(port, "GET", "/metrics/timeseries?window_minutes=1440"
                    "&bucket_minutes=1&model_name=vader&model_version=3.3.2")
n = len(ts.get("buckets", []))
ok(st == 200 and n in (1440, 1441),
   "timeseries: 1440 one-minute buckets (1441 cut at both ends)", n)
st, _, ts = request(port, "GET", "/metrics/timeseries?window_minutes=50"
                    "&bucket_minutes=20")
eq([x["total_predictions"] for x in ts.get("buckets", [])][-1:],
   [len(texts)], "timeseries 50/20: the last bucket holds the rows")
b = ts.get("buckets", [])
ok(len(b) in (3, 4) and all(iso(x["bucket_start"]).minute % 20 == 0 and
                            iso(x["bucket_start"]).second == 0
                            for x in b[1:]),
   "timeseries 50/20: 3 or 4 buckets on 20-minute boundaries", b)
st, _, ts = request(port, "GET", "/metrics/timeseries?model_name=nope")
eq(sum(x["total_predictions"] for x in ts.get("buckets", [])), 0,
   "timeseries: model filter")
for qs, field in (
        ("window_minutes=0", "window_minutes"),
        ("window_minutes=1441", "window_minutes"),
        ("window_minutes=abc", "window_minutes"),
        ("window_minutes=-5", "window_minutes"),
        ("bucket_minutes=0", "bucket_minutes"),
        ("window_minutes=10&bucket_minutes=11", "bucket_minutes"),
        ("bucket_minutes=1.5", "bucket_minutes"),
        ("model_name=Bad%20Name", "model_name"),
        ("model_version=3", "model_version")):
    st, _, body = request(port, "GET", "/metrics/timeseries?" + qs)
    ok(st == 422 and field in fields(body),
       "timeseries ?%s: 422 naming %s" % (qs, field), (st, body))

# ---- thresholds: read ----------------------------------------------------
st, _, body = request(port, "GET", "/metrics/thresholds")
eq(st, 200, "GET /metrics/thresholds: 200 without a token")
eq((body.get("model_name"), body.get("min_confidence_warning"),
    body.get("min_confidence_critical"),
    body.get("max_inference_time_warning_ms"),
    body.get("max_inference_time_critical_ms")),
   ("default", 0.6, 0.4, 200, 500), "the defaults 0.6 / 0.4 / 200 / 500")

# ---- thresholds: authentication ------------------------------------------
before, hist = thresholds_rows(), history_count()
for name, hdrs in (
        ("no Authorization", {}),
        ("a wrong token", {"Authorization": "Bearer wrong"}),
        ("the token's prefix", {"Authorization": "Bearer " + TOKEN[:-1]}),
        ("the token plus a byte", {"Authorization": "Bearer " + TOKEN + "x"}),
        ("Basic instead of Bearer", {"Authorization": "Basic " + TOKEN}),
        ("an empty bearer", {"Authorization": "Bearer "})):
    st, h, body = request(port, "PUT", "/metrics/thresholds",
                          body={"min_confidence_warning": 0.7}, headers=hdrs)
    ok(st == 401 and h.get("www-authenticate", "").startswith("Bearer") and
       body["error"]["code"] == "unauthorized",
       "PUT with %s: 401 with WWW-Authenticate: Bearer" % name,
       (st, h.get("www-authenticate"), body))
eq(thresholds_rows(), before, "401s changed nothing")
eq(history_count(), hist, "401s wrote no history")

# ---- thresholds: change --------------------------------------------------
st, _, body = request(port, "PUT", "/metrics/thresholds",
                      body={"min_confidence_warning": 0.7}, headers=AUTH)
eq(st, 200, "PUT with the token: 200")
eq((body.get("model_name"), body.get("min_confidence_warning"),
    body.get("min_confidence_critical"),
    body.get("max_inference_time_warning_ms"),
    body.get("max_inference_time_critical_ms"), body.get("changed")),
   ("default", 0.7, 0.4, 200, 500, True),
   "a partial update changes one value and keeps the others")
row = sql("SELECT min_confidence_warning, min_confidence_critical "
          "FROM app.metric_thresholds WHERE model_name = 'default'")
eq(row, [["0.7", "0.4"]], "the table holds the new value")
h = sql("SELECT model_name, host(changed_by), operation, "
        "old_min_confidence_warning, new_min_confidence_warning, "
        "new_min_confidence_critical, changed_at > now() - interval '1 min' "
        "FROM app.metric_threshold_changes")
eq(h, [["default", "127.0.0.1", "update", "0.6", "0.7", "0.4", "t"]],
   "history: client IP, when, old and new values")
st, _, body = request(port, "PUT", "/metrics/thresholds",
                      body={"min_confidence_warning": 0.7}, headers=AUTH)
eq((st, body.get("changed")), (200, False), "the same value again: no change")
eq(history_count(), 1, "a no-op writes no history")
st, _, body = request(port, "GET", "/metrics/thresholds")
eq(body.get("min_confidence_warning"), 0.7, "GET shows the change")
st, _, body = request(port, "PUT", "/metrics/thresholds", headers=AUTH,
                      body={"min_confidence_warning": 0.8,
                            "min_confidence_critical": 0.65,
                            "max_inference_time_warning_ms": 150,
                            "max_inference_time_critical_ms": 450})
eq((st, body.get("min_confidence_warning"), body.get("min_confidence_critical"),
    body.get("max_inference_time_warning_ms"),
    body.get("max_inference_time_critical_ms")), (200, 0.8, 0.65, 150, 450),
   "all four at once")

# Per model: its own row, used by aggregated for that model.
st, _, body = request(port, "PUT", "/metrics/thresholds", headers=AUTH,
                      body={"model_name": "vader",
                            "max_inference_time_warning_ms": 0.0001,
                            "max_inference_time_critical_ms": 0.0002})
eq((st, body.get("model_name"), body.get("min_confidence_warning")),
   (200, "vader", 0.8), "per-model thresholds start from the default row")
st, _, body = request(port, "GET", "/metrics/thresholds?model_name=vader")
eq((body.get("model_name"), body.get("max_inference_time_critical_ms")),
   ("vader", 0.0002), "GET ?model_name=vader reads its row")
st, _, body = request(port, "GET", "/metrics/thresholds?model_name=other")
eq(body.get("model_name"), "default", "a model without a row gets default")
st, _, body = request(port, "POST", "/metrics/aggregated",
                      body={"model_name": "vader"})
eq((body.get("thresholds", {}).get("model_name"), body.get("status")),
   ("vader", "critical"), "aggregated for vader uses vader's thresholds")

# ---- thresholds: every invalid combination is a 422, nothing changes ------
before, hist = thresholds_rows(), history_count()
for name, put, field in (
        ("warning confidence 1.5", {"min_confidence_warning": 1.5},
         "min_confidence_warning"),
        ("critical confidence -0.1", {"min_confidence_critical": -0.1},
         "min_confidence_critical"),
        ("critical = warning", {"min_confidence_warning": 0.5,
                                "min_confidence_critical": 0.5},
         "min_confidence_critical"),
        ("critical > warning", {"min_confidence_warning": 0.3,
                                "min_confidence_critical": 0.5},
         "min_confidence_critical"),
        ("warning below the stored critical (0.65)",
         {"min_confidence_warning": 0.6}, "min_confidence_warning"),
        ("critical above the stored warning (0.8)",
         {"min_confidence_critical": 0.9}, "min_confidence_critical"),
        ("latency warning 0", {"max_inference_time_warning_ms": 0},
         "max_inference_time_warning_ms"),
        ("latency critical negative", {"max_inference_time_critical_ms": -1},
         "max_inference_time_critical_ms"),
        ("latency warning = critical",
         {"max_inference_time_warning_ms": 300,
          "max_inference_time_critical_ms": 300},
         "max_inference_time_warning_ms"),
        ("latency warning > critical",
         {"max_inference_time_warning_ms": 400,
          "max_inference_time_critical_ms": 300},
         "max_inference_time_warning_ms"),
        ("latency warning above the stored critical (450)",
         {"max_inference_time_warning_ms": 500},
         "max_inference_time_warning_ms"),
        ("latency critical below the stored warning (150)",
         {"max_inference_time_critical_ms": 100},
         "max_inference_time_critical_ms"),
        ("a string value", {"min_confidence_warning": "0.7"},
         "min_confidence_warning"),
        ("a boolean value", {"max_inference_time_warning_ms": True},
         "max_inference_time_warning_ms"),
        ("no threshold at all", {}, "body"),
        ("only an unknown field", {"min_confidence": 0.5}, "body"),
        ("a bad model name", {"model_name": "Bad Name",
                              "min_confidence_warning": 0.7}, "model_name")):
    st, _, body = request(port, "PUT", "/metrics/thresholds", body=put,
                          headers=AUTH)
    ok(st == 422 and field in fields(body),
       "PUT %s: 422 naming %s" % (name, field), (st, body))
eq(thresholds_rows(), before, "422s changed nothing in the table")
eq(history_count(), hist, "422s wrote no history")

st, h, body = request(port, "DELETE", "/metrics/thresholds", headers=AUTH)
ok(st == 405 and "PUT" in h.get("allow", ""), "DELETE: 405 naming GET, PUT")
st, _, body = request(port, "POST", "/metrics/count")
eq(st, 405, "POST /metrics/count: 405")

# ---- the endpoint list ---------------------------------------------------
st, _, body = request(port, "GET", "/")
paths = {(e["method"], e["path"]) for e in body.get("endpoints", [])}
ok({("POST", "/metrics/aggregated"), ("GET", "/metrics/count"),
    ("GET", "/metrics/thresholds"), ("PUT", "/metrics/thresholds"),
    ("GET", "/metrics/timeseries")} <= paths,
   "GET / lists the metrics endpoints", paths)

srv.stop()
ok(TOKEN not in srv.log_text(), "the token never appears in the server log")

# ---- no ADMIN_TOKEN: 403 saying how to set one -----------------------------
off = Server("metrics-notoken", env={"ADMIN_TOKEN": ""}).start()
before, hist = thresholds_rows(), history_count()
st, _, body = request(off.port, "PUT", "/metrics/thresholds",
                      body={"min_confidence_warning": 0.7}, headers=AUTH)
ok(st == 403 and "ADMIN_TOKEN" in body["error"]["message"],
   "no ADMIN_TOKEN configured: 403 saying how to set one", (st, body))
eq(thresholds_rows(), before, "403 changed nothing")
eq(history_count(), hist, "403 wrote no history")
st, _, body = request(off.port, "GET", "/metrics/thresholds")
eq(st, 200, "GET /metrics/thresholds still works without a token")
off.stop()

reset_data()
done()
