"""test_contract.py: every endpoint's real answers against the documented
models of the FastAPI server this one replaces (original.schema.json,
written from its README and Pydantic models), for the clients that move
over unchanged (docs/compat.md).

Two servers on the suite's PostgreSQL: one as a deployment runs it (an
ADMIN_TOKEN, rate limits out of the way), one with no ADMIN_TOKEN and a
limit of one prediction a minute (the 403 and the 429).  Each answer is
validated (success and every error status the server itself gives: 400,
404, 405, 413, 415, 422, 429, 401/403, 503), and checked to carry our
own fields too: the error object beside FastAPI's detail, the aliases
beside the original names with the same values.
"""
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "http"))

from jsonschema import Draft202012Validator     # noqa: E402

from lib import (ROOT, Server, done, eq, ok, pg, pg_start,  # noqa: E402
                 request, reset_data, health_back)

with open(os.path.join(HERE, "original.schema.json"), encoding="utf-8") as f:
    SCHEMA = json.load(f)
VALIDATORS = {name: Draft202012Validator(
    {"$defs": SCHEMA["$defs"], "$ref": "#/$defs/" + name})
    for name in SCHEMA["$defs"]}
TOKEN = "contract-admin-" + os.urandom(8).hex()


def problems(model, body):
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)",
                        e.message)
            for e in VALIDATORS[model].iter_errors(body)]


def conforms(name, model, got, status):
    """The answer has the status and validates against model."""
    st, _, body = got
    errs = problems(model, body) if isinstance(body, (dict, list)) else [
        "not JSON: %r" % (body,)]
    return ok(st == status and not errs, "%s -> %d, a valid %s" % (
        name, status, model), (st, errs, body))


def error_pair(name, got, status, code):
    """An error: FastAPI's detail (a string, our message) and our error
    object, side by side."""
    st, _, body = got
    conforms(name, "HTTPError", got, status)
    err = body.get("error") if isinstance(body, dict) else None
    ok(isinstance(err, dict) and err.get("code") == code and
       body.get("detail") == err.get("message"),
       "%s: our error %s beside detail (the same message)" % (name, code),
       body)


def validation(name, got, loc):
    """A 422: FastAPI's list of {loc, msg, type}, with loc naming the
    field; our error object beside it with the same fields."""
    st, _, body = got
    conforms(name, "HTTPValidationError", got, 422)
    detail = body.get("detail") if isinstance(body, dict) else None
    err = body.get("error", {}) if isinstance(body, dict) else {}
    ok(isinstance(detail, list) and loc in [d.get("loc") for d in detail]
       and err.get("code") == "validation_failed" and
       [d.get("msg") for d in detail] ==
       [d.get("message") for d in err.get("details", [])],
       "%s: detail names %r, our details the same fields" % (name, loc),
       body)


def routes():
    """The exact paths kore.conf routes, Swagger UI's files left out."""
    with open(os.path.join(ROOT, "kore.conf")) as f:
        paths = re.findall(r"^\s*route\s+(/\S*)\s", f.read(), re.M)
    return [p for p in paths if not p.startswith("/docs/")]


def raw(port, method, path, data, ctype="application/json", headers=None):
    h = dict(headers or {})
    if ctype is not None:
        h["Content-Type"] = ctype
    return request(port, method, path, raw=data, headers=h)


reset_data()
srv = Server("contract", env={"ADMIN_TOKEN": TOKEN}).start()
port = srv.port
lone = Server("contract-lone", env={
    "ADMIN_TOKEN": "", "RATE_LIMIT_PREDICT_PER_MINUTE": "1"}).start()

# ---- GET / and GET /health --------------------------------------------------
got = request(port, "GET", "/")
conforms("GET /", "RootResponse", got, 200)
ok(got[2].get("documentation") == "/docs" and
   got[2].get("health_check") == "/health" and
   got[2].get("service") == "modelserver",
   "GET /: the original's links, and ours", got[2])
got = request(port, "GET", "/health")
conforms("GET /health", "HealthResponse", got, 200)
eq(got[2].get("status"), "healthy", "GET /health: healthy")

# ---- POST /predict ----------------------------------------------------------
texts = ["I love this product", "This is terrible and I hate it",
         "The box is brown", "Great, fast and friendly!", "Awful service",
         "a"]
preds = []
for text in texts:
    got = request(port, "POST", "/predict", body={"text": text})
    conforms("POST /predict %r" % text, "PredictResponse", got, 200)
    preds.append(got[2])
m = preds[0].get("metric", {})
ok(m.get("prediction_id") == preds[0].get("prediction_id") and
   all(k in m for k in ("compound", "pos", "neu", "neg", "model_name")),
   "POST /predict: metric carries the original's fields and our scores", m)
got = request(port, "POST", "/predict", body={"text": "hi",
                                               "include_metrics": False})
ok(got[0] == 200 and "metric" not in got[2],
   "POST /predict include_metrics false: no metric (as the original)", got)

validation("POST /predict empty text",
           request(port, "POST", "/predict", body={"text": ""}),
           ["body", "text"])
validation("POST /predict no text",
           request(port, "POST", "/predict", body={}), ["body", "text"])
validation("POST /predict text a number",
           request(port, "POST", "/predict", body={"text": 5}),
           ["body", "text"])
validation("POST /predict body an array",
           request(port, "POST", "/predict", body=[1]), ["body"])
got = request(port, "POST", "/predict", body={})
eq(got[2]["detail"][0].get("type"), "missing",
   "POST /predict no text: type missing, as Pydantic says")
error_pair("POST /predict broken JSON",
           raw(port, "POST", "/predict", b'{"text": '), 400, "invalid_json")
error_pair("POST /predict text/plain",
           raw(port, "POST", "/predict", b'{"text": "hi"}', "text/plain"),
           415, "unsupported_media_type")
error_pair("POST /predict 100 KB (over HTTP_BODY_MAX)",
           raw(port, "POST", "/predict",
               b'{"text": "hi", "x": "' + b"a" * 100000 + b'"}'),
           413, "payload_too_large")
error_pair("GET /predict", request(port, "GET", "/predict"), 405,
           "method_not_allowed")

# ---- /metrics ---------------------------------------------------------------
got = request(port, "POST", "/metrics/aggregated",
              body={"time_window_minutes": 60})
conforms("POST /metrics/aggregated", "AggregatedMetrics", got, 200)
b = got[2]
eq(b.get("total_predictions"), len(texts) + 1,
   "aggregated: the predictions just made")
eq(b.get("sentiment_distribution"), b.get("label_distribution"),
   "aggregated: label_distribution is an alias of sentiment_distribution")
validation("POST /metrics/aggregated window 0",
           request(port, "POST", "/metrics/aggregated",
                   body={"time_window_minutes": 0}),
           ["body", "time_window_minutes"])
error_pair("DELETE /metrics/aggregated",
           request(port, "DELETE", "/metrics/aggregated"), 405,
           "method_not_allowed")

# An empty window: the original's model has no value for its averages
# (its times must be > 0); ours are null there, and that is the only
# difference (docs/compat.md).
got = request(port, "POST", "/metrics/aggregated",
              body={"time_window_minutes": 60, "model_name": "nobody"})
nulls = {"average_confidence", "average_inference_time_ms",
         "min_inference_time_ms", "max_inference_time_ms"}
errs = list(VALIDATORS["AggregatedMetrics"].iter_errors(got[2]))
ok(got[0] == 200 and got[2].get("total_predictions") == 0 and errs and
   {e.absolute_path[0] for e in errs} <= nulls and
   all(e.instance is None for e in errs),
   "aggregated, empty window: valid but for the null averages",
   [(list(e.absolute_path), e.message) for e in errs])

got = request(port, "GET", "/metrics/count")
conforms("GET /metrics/count", "MetricsCount", got, 200)
eq((got[2].get("total_metrics"), got[2].get("total_predictions")),
   (len(texts) + 1, len(texts) + 1),
   "count: total_metrics, and total_predictions its alias")
validation("GET /metrics/count bad version",
           request(port, "GET", "/metrics/count?model_version=x"),
           ["query", "model_version"])
validation("GET /metrics/timeseries bad bucket",
           request(port, "GET", "/metrics/timeseries?window_minutes=60&"
                   "bucket_minutes=0"), ["query", "bucket_minutes"])

got = request(port, "GET", "/metrics/thresholds")
conforms("GET /metrics/thresholds", "MetricThresholds", got, 200)
AUTH = {"Authorization": "Bearer " + TOKEN}
got = request(port, "PUT", "/metrics/thresholds", headers=AUTH,
              body={"min_confidence_warning": 0.55})
conforms("PUT /metrics/thresholds", "MetricThresholds", got, 200)
eq(got[2].get("min_confidence_warning"), 0.55, "PUT: the new value")
validation("PUT /metrics/thresholds critical above warning",
           request(port, "PUT", "/metrics/thresholds", headers=AUTH,
                   body={"min_confidence_warning": 0.4,
                         "min_confidence_critical": 0.6}),
           ["body", "min_confidence_critical"])

# The one intended difference: the admin token (docs/compat.md has these
# bodies word for word).
got = request(port, "PUT", "/metrics/thresholds",
              body={"min_confidence_warning": 0.5})
error_pair("PUT /metrics/thresholds without a token", got, 401,
           "unauthorized")
eq(got[2], {"detail": "this endpoint needs 'Authorization: Bearer "
            "<ADMIN_TOKEN>'", "error": {
                "code": "unauthorized", "message": "this endpoint needs "
                "'Authorization: Bearer <ADMIN_TOKEN>'", "details": []}},
   "401 without a token: the documented body")
got = request(port, "PUT", "/metrics/thresholds",
              headers={"Authorization": "Bearer wrong"},
              body={"min_confidence_warning": 0.5})
eq((got[0], got[2]), (401, {
    "detail": "the bearer token is not the ADMIN_TOKEN", "error": {
        "code": "unauthorized",
        "message": "the bearer token is not the ADMIN_TOKEN",
        "details": []}}), "401 with a wrong token: the documented body")
got = request(lone.port, "PUT", "/metrics/thresholds",
              body={"min_confidence_warning": 0.5})
error_pair("PUT /metrics/thresholds, no ADMIN_TOKEN configured", got, 403,
           "admin_disabled")
MSG403 = ("changing thresholds is disabled because no ADMIN_TOKEN is "
          "configured: set ADMIN_TOKEN in .env or the environment ('make "
          "run' creates .env with a random one) and restart, then send "
          "'Authorization: Bearer <ADMIN_TOKEN>'")
eq(got[2], {"detail": MSG403, "error": {
    "code": "admin_disabled", "message": MSG403, "details": []}},
   "403: the documented body")

# ---- POST /analyze/performance ----------------------------------------------
got = request(port, "POST", "/analyze/performance",
              body={"time_window_minutes": 60})
conforms("POST /analyze/performance", "GeminiAnalysisReport", got, 200)
b = got[2]
ma, cur = b.get("metrics_analyzed", {}), b.get("comparison", {}).get(
    "current", {})
ok(ma.get("total_predictions") == cur.get("total_predictions") ==
   len(texts) + 1 and ma.get("sentiment_distribution") ==
   cur.get("label_distribution"),
   "analyze: metrics_analyzed is the analysed window; comparison ours",
   b)
validation("POST /analyze/performance window 2000",
           request(port, "POST", "/analyze/performance",
                   body={"time_window_minutes": 2000}),
           ["body", "time_window_minutes"])

# ---- 404, 429 ---------------------------------------------------------------
got = request(port, "GET", "/no/such/path")
conforms("GET /no/such/path", "NotFound", got, 404)
eq(got[2].get("available_endpoints"), routes(),
   "404: available_endpoints are kore.conf's routes")
ok(got[2].get("error", {}).get("code") == "not_found" and
   got[2]["error"].get("details"), "404: our error with the endpoint list",
   got[2])
conforms("POST /nope", "NotFound", request(port, "POST", "/nope",
                                            body={}), 404)

first = request(lone.port, "POST", "/predict", body={"text": "one"},
                source="127.0.0.77")
got = request(lone.port, "POST", "/predict", body={"text": "two"},
              source="127.0.0.77")
eq(first[0], 200, "limit 1/min: the first prediction passes")
error_pair("POST /predict over the limit", got, 429, "rate_limited")

# ---- 503: the database stopped ----------------------------------------------
pg("stop", "fast")
try:
    got = request(port, "GET", "/health")
    conforms("GET /health, database stopped", "HealthResponse", got, 503)
    eq(got[2].get("status"), "unhealthy", "GET /health: unhealthy")
    error_pair("POST /predict, database stopped",
               request(port, "POST", "/predict", body={"text": "x"}), 503,
               "database_unavailable")
    error_pair("GET /metrics/count, database stopped",
               request(port, "GET", "/metrics/count"), 503,
               "database_unavailable")
finally:
    pg_start()
back, seen, secs = health_back(port)
ok(back, "the server serves again once the database is back", seen)
done()
