"""test_analyze.py: POST /analyze/performance against a fake Gemini.

A scripted fake (tests/http/fake_gemini.py, loopback) answers: a valid
report; malformed JSON; JSON missing fields; 400; 401; 429 with a retry
delay (honoured, and one beyond the budget); 500 then success; 503 four
times; an answer slower than the budget; connection refused; TLS with and
without the fake's CA.  Each case checks what the fake received (path,
model, key header, body, generationConfig) and how many calls it got.
Then the cache (a hit makes no call; after the TTL it calls again), single
flight (20 identical requests on 2 instances -> 1 call; a failure is
shared too), the deployment's upstream limit (the 11th call in a minute
falls back), /health and /predict staying fast while Gemini is slow, the
rule-based analyzer without a key, input validation, the analyze rate
limit, and that no log line holds the key, the prompt or model output.
"""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

from fake_gemini import FakeGemini, REPORT, error, reply_ok, reply_text
from lib import (OUT, Server, diag, done, eq, free_port, ok, request,
                 reset_data, rollup_backfill, sql, sql_value)

KEY = "test-key-" + os.urandom(8).hex()
MODEL = "gemini-test-model"
BUDGET_MS = 3000
FIELDS = {"summary", "identified_issues", "recommendations",
          "root_cause_hypothesis", "confidence_score", "generated_at",
          "metrics_analyzed", "comparison", "source", "cached"}
REQUIRED = ["summary", "identified_issues", "recommendations",
            "root_cause_hypothesis", "confidence_score"]


def analyze(port, body=None, **kw):
    t0 = time.time()
    st, h, b = request(port, "POST", "/analyze/performance",
                       body=body if body is not None else {}, **kw)
    return st, h, b, time.time() - t0


def seed(current=20, previous=20, conf=0.8, prev_conf=0.9, ms=2.0):
    """Rows well inside the current and previous 60-minute windows."""
    sql("INSERT INTO app.model_versions (name, version) "
        "VALUES ('vader', '3.3.2') ON CONFLICT DO NOTHING")
    rows = []
    labels = ("positive", "negative", "neutral")
    for i in range(current):
        rows.append((5 + i % 40, labels[i % 3], conf, ms))
    for i in range(previous):
        rows.append((70 + i % 40, labels[i % 2], prev_conf, ms))
    if not rows:
        return
    values = ",".join(
        "(gen_random_uuid(), (SELECT id FROM app.model_versions WHERE "
        "name = 'vader' AND version = '3.3.2'), '%s', %r, %r, 10, 0.5, "
        "0.5, 0.5, 0, '10.0.0.1', now() - interval '%d minutes')"
        % (label, c, m, ago) for ago, label, c, m in rows)
    # Partitions for the past hours (the janitor makes them ahead only).
    sql("SELECT app.partition_ensure('app.prediction_metrics', "
        "now() - interval '3 hours', now())")
    sql("INSERT INTO app.prediction_metrics (prediction_id, "
        "model_version_id, label, confidence, inference_time_ms, "
        "input_length, compound, pos, neu, neg, client_ip, created_at) "
        "VALUES " + values)
    # Written in the past, maybe below the janitor's watermark.
    rollup_backfill(3)


def fresh(fake=None, *script, **seedargs):
    reset_data()
    seed(**seedargs)
    if fake is not None:
        fake.script(*script)


def egress_used():
    return int(sql_value("SELECT coalesce(sum(c), 0) FROM app.rate_limits, "
                         "unnest(counts) c WHERE scope = 'gemini'"))


def check_calls(fake, n, name, temperature=0.3, max_tokens=1024):
    """n calls, each a well-formed generateContent request."""
    calls = fake.calls()
    eq(len(calls), n, "%s: %d upstream call%s" % (name, n,
                                                  "" if n == 1 else "s"))
    good = True
    why = None
    for c in calls:
        b = c["body"] or {}
        gc = b.get("generationConfig", {})
        try:
            text = b["contents"][0]["parts"][0]["text"]
        except (KeyError, IndexError, TypeError):
            text = ""
        checks = [
            (c["method"] == "POST", "method"),
            (c["path"] == "/v1beta/models/%s:generateContent" % MODEL,
             "path " + c["path"]),
            (c["headers"].get("x-goog-api-key") == KEY, "key header"),
            (c["headers"].get("content-type", "").startswith(
                "application/json"), "content-type"),
            ("Current window:" in text and "Previous window:" in text and
             "Thresholds:" in text, "prompt"),
            (gc.get("temperature") == temperature, "temperature"),
            (gc.get("maxOutputTokens") == max_tokens, "maxOutputTokens"),
            (gc.get("responseMimeType") == "application/json", "mime"),
            (sorted(gc.get("responseSchema", {}).get("required", [])) ==
             sorted(REQUIRED), "responseSchema"),
            ("key=" not in c["path"], "no key in the URL"),
        ]
        for cond, what in checks:
            if not cond:
                good, why = False, what
    if n > 0:
        ok(good, "%s: each request has the path, model, key header, prompt "
           "and generationConfig" % name, why)
    return calls


def is_rules(b, reason, name):
    return ok(isinstance(b, dict) and b.get("source") == "rules" and
              b.get("fallback_reason") == reason and
              b.get("cached") is False and FIELDS <= set(b),
              "%s: rules answer with fallback_reason %s" % (name, reason),
              b)


def is_gemini(b, name, cached=False):
    return ok(isinstance(b, dict) and b.get("source") == "gemini" and
              b.get("cached") is cached and "fallback_reason" not in b and
              FIELDS <= set(b) and b.get("summary") == REPORT["summary"],
              "%s: Gemini's report, cached=%s" % (name, cached), b)


def make_cert(d):
    os.makedirs(d, exist_ok=True)
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gem_env(base, **extra):
    env = {
        "GEMINI_API_KEY": KEY,
        "GEMINI_BASE_URL": base,
        "GEMINI_MODEL": MODEL,
        "GEMINI_TIMEOUT_MS": str(BUDGET_MS),
        "GEMINI_CONNECT_TIMEOUT_MS": "1000",
        "GEMINI_RETRY_BASE_MS": "50",
        "GEMINI_RETRY_MAX_MS": "200",
        "TASK_THREADS": "4",
    }
    env.update(extra)
    return env


fake = FakeGemini().start()
tlsdir = os.path.join(OUT, "tls-%d" % os.getpid())
cert, certkey = make_cert(tlsdir)
tlsfake = FakeGemini(tls=(cert, certkey)).start()
reset_data()

srv = Server("analyze", env=gem_env(fake.url)).start()
srv2 = Server("analyze2", env=gem_env(fake.url,
                                      GEMINI_CACHE_TTL="2")).start()
nokey = Server("analyze-nokey",
               env={"RATE_LIMIT_ANALYZE_PER_MINUTE": "5"}).start()
port = srv.port

# ---- the endpoint is listed ---------------------------------------------
st, _, body = request(port, "GET", "/")
ok(any(e.get("path") == "/analyze/performance" and e.get("method") == "POST"
       for e in body.get("endpoints", [])),
   "GET / lists POST /analyze/performance", body)

# ---- a valid report, then the cache --------------------------------------
fresh(fake)
st, h, b, secs = analyze(port, {"time_window_minutes": 60})
eq(st, 200, "valid report: 200")
is_gemini(b, "valid report")
calls = check_calls(fake, 1, "valid report")
text = calls[0]["body"]["contents"][0]["parts"][0]["text"] if calls else ""
ok("Current window: 20 predictions" in text and
   "Previous window: 20 predictions" in text and
   "at or below 0.6 is a warning" in text and "(all models)" in text,
   "the prompt gives both windows and the thresholds", text[:600])
ok("-11.1%" in text, "the prompt gives the changes in percent "
   "(confidence 0.9 -> 0.8)", text[:900])
issues = b.get("identified_issues", [])
ok(len(issues) == 1 and issues[0].get("issue_type") == "confidence_drop" and
   issues[0].get("detected_at") == b.get("generated_at"),
   "Gemini's issues are kept, stamped detected_at", issues)
g = b.get("generated_at", "")
ok(len(g) == 20 and g.endswith("Z") and g[10] == "T",
   "generated_at is ISO 8601 UTC", g)
m = b.get("comparison", {})
ok(m.get("current", {}).get("total_predictions") == 20 and
   m.get("previous", {}).get("total_predictions") == 20 and
   abs(m.get("current", {}).get("average_confidence", 0) - 0.8) < 1e-9 and
   abs(m.get("changes", {}).get("average_confidence_pct", 0) + 11.1) < 1e-9,
   "comparison has current, previous and the changes", m)
# The original server's metrics_analyzed: the analysed window alone.
a = b.get("metrics_analyzed", {})
cur = m.get("current", {})
ok(a.get("total_predictions") == 20 and
   abs(a.get("average_confidence", 0) - 0.8) < 1e-9 and
   a.get("sentiment_distribution") == cur.get("label_distribution") and
   a.get("time_window_start") == cur.get("window_start") and
   a.get("time_window_end") == cur.get("window_end") and
   a.get("status") == b.get("status") and "current" not in a,
   "metrics_analyzed is the current window as an AggregatedMetrics", a)
ok(h.get("x-ratelimit-limit") is not None and
   h.get("x-ratelimit-remaining") is not None,
   "the answer carries the X-RateLimit headers", h)
eq(int(sql_value("SELECT count(*) FROM app.gemini_cache")), 1,
   "the report was cached")
eq(sql_value("SELECT ttl_seconds FROM app.gemini_cache"), "300",
   "... with GEMINI_CACHE_TTL (300 s)")
eq(sql_value("SELECT cache_key ~ '^[0-9a-f]{32}$' FROM app.gemini_cache"),
   "t", "... under an md5 key")

st, _, b2, _ = analyze(port, {"time_window_minutes": 60})
is_gemini(b2, "same request again", cached=True)
eq(len(fake.calls()), 1, "a cache hit makes no upstream call")
eq(b2.get("generated_at"), b.get("generated_at"),
   "the cached report keeps its generation time")
st, _, b3, _ = analyze(port, {"time_window_minutes": 30})
is_gemini(b3, "another window")
eq(len(fake.calls()), 2, "another window is another key: one more call")

# ---- TTL: after it, the next request calls again -------------------------
fresh(fake)
st, _, b, _ = analyze(srv2.port)
is_gemini(b, "TTL 2 s: first")
st, _, b, _ = analyze(srv2.port)
is_gemini(b, "TTL 2 s: within the TTL", cached=True)
eq(len(fake.calls()), 1, "TTL: one call within the TTL")
time.sleep(2.3)
st, _, b, _ = analyze(srv2.port)
is_gemini(b, "TTL 2 s: after it")
eq(len(fake.calls()), 2, "TTL: past it, the next request calls again")

# ---- invalid answers: no retry, the rules answer -------------------------
cases = [
    ("malformed JSON", reply_text("{\"summary\": \"cut off"),
     "invalid_response"),
    ("JSON missing fields", reply_text(json.dumps({"summary": "only"})),
     "invalid_response"),
    ("severity outside the enum", reply_ok(dict(REPORT, identified_issues=[
        {"issue_type": "x", "severity": "urgent", "description": "d"}])),
     "invalid_response"),
    ("confidence_score 1.5", reply_ok(dict(REPORT, confidence_score=1.5)),
     "invalid_response"),
    ("HTML instead of JSON", {"status": 200, "body": "<html></html>"},
     "invalid_response"),
    ("a reply over 64 KiB", reply_text("x" * 70000), "invalid_response"),
    ("400", error(400, "INVALID_ARGUMENT"), "upstream_rejected"),
    ("401", error(401, "UNAUTHENTICATED"), "upstream_rejected"),
    ("403", error(403, "PERMISSION_DENIED"), "upstream_rejected"),
    ("404", error(404, "NOT_FOUND"), "upstream_rejected"),
]
for name, resp, reason in cases:
    fresh(fake, resp, reply_ok())
    st, _, b, _ = analyze(port)
    eq(st, 200, "%s: still 200" % name)
    is_rules(b, reason, name)
    check_calls(fake, 1, name)
eq(int(sql_value("SELECT count(*) FROM app.gemini_cache")), 0,
   "fallback reports are never cached")
fresh(fake, error(401, "UNAUTHENTICATED"))
st, _, b, _ = analyze(port)
ok("HTTP 401 (UNAUTHENTICATED)" in b.get("fallback_detail", "") and
   KEY not in json.dumps(b), "401: the detail names the status, never the "
   "key", b.get("fallback_detail"))

# ---- retries -------------------------------------------------------------
fresh(fake, error(429, "RESOURCE_EXHAUSTED", retry_delay="1s"), reply_ok())
st, _, b, secs = analyze(port)
is_gemini(b, "429 with retryDelay 1s, then 200")
calls = check_calls(fake, 2, "429 then 200")
if len(calls) == 2:
    gap = calls[1]["t"] - calls[0]["t"]
    ok(1.0 <= gap < 1.8, "429: the server's retryDelay of 1 s is honoured "
       "(%.2f s between the calls)" % gap)

fresh(fake, error(429, "RESOURCE_EXHAUSTED", retry_delay="60s"),
      reply_ok())
st, _, b, secs = analyze(port)
is_rules(b, "upstream_rate_limited", "429 with retryDelay 60s")
check_calls(fake, 1, "429 with a delay beyond the budget")
ok(secs < 1.5 and "exceeds the budget" in b.get("fallback_detail", ""),
   "429 beyond the budget: gives up at once (%.2f s)" % secs,
   b.get("fallback_detail"))

fresh(fake, error(429, "RESOURCE_EXHAUSTED", headers={"Retry-After": "1"}),
      reply_ok())
st, _, b, _ = analyze(port)
is_gemini(b, "429 with Retry-After: 1, then 200")
calls = check_calls(fake, 2, "429 (Retry-After) then 200")
if len(calls) == 2:
    ok(calls[1]["t"] - calls[0]["t"] >= 1.0, "Retry-After is honoured")

fresh(fake, error(500, "INTERNAL"), reply_ok())
st, _, b, _ = analyze(port)
is_gemini(b, "500 then 200")
check_calls(fake, 2, "500 then 200 (retry works)")

fresh(fake, error(502, "BAD_GATEWAY"), error(504, "DEADLINE_EXCEEDED"),
      reply_ok())
st, _, b, _ = analyze(port)
is_gemini(b, "502, 504 then 200")
check_calls(fake, 3, "502, 504 then 200")

fresh(fake, *[error(503, "UNAVAILABLE")] * 5)
st, _, b, secs = analyze(port)
is_rules(b, "upstream_unavailable", "503 four times")
check_calls(fake, 4, "503 four times (at most 4 attempts)")
ok("after 4 attempts" in b.get("fallback_detail", ""),
   "503: the detail says 4 attempts", b.get("fallback_detail"))
eq(egress_used(), 4, "every attempt counted against the upstream limit")

fresh(fake, {"close": True}, reply_ok())
st, _, b, _ = analyze(port)
is_gemini(b, "connection dropped, then 200")
check_calls(fake, 2, "connection dropped then 200")

# ---- slower than the budget; Gemini never blocks other routes ------------
fresh(fake, reply_ok(delay=BUDGET_MS / 1000 + 2))
result = {}


def slow():
    result["r"] = analyze(port)


th = threading.Thread(target=slow)
th.start()
time.sleep(0.5)
t0 = time.time()
st_h, _, _ = request(port, "GET", "/health")
health_s = time.time() - t0
t0 = time.time()
st_p, _, _ = request(port, "POST", "/predict", body={"text": "still fast"})
predict_s = time.time() - t0
t0 = time.time()
st_m, _, _ = request(port, "POST", "/metrics/aggregated", body={})
metrics_s = time.time() - t0
th.join(30)
ok(st_h == 200 and health_s < 0.5, "/health answers in %.3f s while Gemini "
   "is slow" % health_s)
ok(st_p == 200 and predict_s < 0.5, "/predict answers in %.3f s while "
   "Gemini is slow" % predict_s)
ok(st_m == 200 and metrics_s < 0.5, "POST /metrics/aggregated answers in "
   "%.3f s while Gemini is slow" % metrics_s, st_m)
st, _, b, secs = result.get("r", (0, {}, {}, 99))
is_rules(b, "upstream_timeout", "slower than the budget")
check_calls(fake, 1, "slower than the budget")
ok(BUDGET_MS / 1000 - 0.2 <= secs < BUDGET_MS / 1000 + 1.5,
   "the answer comes at the budget (%.2f s for %d ms)" % (secs, BUDGET_MS))

# ---- single flight: 20 identical requests on 2 instances -> 1 call --------
fresh(fake, reply_ok(delay=1.0))
results = [None] * 20


def one(i):
    results[i] = analyze(srv.port if i % 2 == 0 else srv2.port,
                         {"time_window_minutes": 45})


threads = [threading.Thread(target=one, args=(i,)) for i in range(20)]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
ok(all(r is not None and r[0] == 200 for r in results),
   "single flight: all 20 answered 200",
   [r[0] if r else None for r in results])
srcs = [r[2].get("source") for r in results if r]
eq(srcs.count("gemini"), 20, "single flight: all 20 got Gemini's report")
eq([r[2].get("cached") for r in results if r].count(False), 1,
   "single flight: one made the call, 19 were served from the cache")
check_calls(fake, 1, "single flight, 20 concurrent across 2 instances")
eq(len({r[2].get("generated_at") for r in results if r}), 1,
   "single flight: everyone got the same report")

fresh(fake, error(400, "INVALID_ARGUMENT", delay=0.8))
results = [None] * 6
threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join(30)
ok(all(r is not None and r[2].get("fallback_reason") == "upstream_rejected"
       for r in results), "single flight in failure: all 6 fall back with "
   "the holder's reason", [r[2].get("fallback_reason") if r else None
                           for r in results])
check_calls(fake, 1, "single flight in failure")

# ---- the deployment's upstream limit ---------------------------------------
fresh(fake)
got = [analyze(port, {"time_window_minutes": w})[2] for w in range(1, 11)]
ok(all(b.get("source") == "gemini" for b in got),
   "egress: 10 distinct analyses in a minute all reach Gemini",
   [b.get("fallback_reason") for b in got])
st, _, b, _ = analyze(port, {"time_window_minutes": 11})
is_rules(b, "egress_limited", "the 11th uncached call in a minute")
eq(len(fake.calls()), 10, "egress: the 11th made no upstream call")
ok("GEMINI_RATE_LIMIT_PER_MINUTE" in b.get("fallback_detail", ""),
   "egress: the detail names the setting", b.get("fallback_detail"))
st, _, b, _ = analyze(port, {"time_window_minutes": 5})
is_gemini(b, "egress: a cache hit still answers", cached=True)
eq(len(fake.calls()), 10, "egress: cache hits do not count")

# ---- a waiter never waits past its own deadline ---------------------------
# Another instance with a longer budget holds the lease; ours answers with
# the rules at GEMINI_TIMEOUT_MS + 2 s, the holder still gets Gemini's.
longer = Server("analyze-long", env=gem_env(fake.url,
                                            GEMINI_TIMEOUT_MS="9000")).start()
fresh(fake, reply_ok(delay=6.5))
th = threading.Thread(target=lambda: result.update(r=analyze(longer.port)))
th.start()
# The holder's call on the wire (it took the lease first), however slow
# the machine: a fixed sleep let ours take the lease itself under load.
until = time.time() + 10
while not fake.calls() and time.time() < until:
    time.sleep(0.02)
st, _, b, secs = analyze(port)
is_rules(b, "deadline", "waiting on a slower identical analysis")
ok(BUDGET_MS / 1000 + 1.5 <= secs < BUDGET_MS / 1000 + 3,
   "the waiter answered at its own deadline (%.2f s)" % secs,
   b.get("fallback_detail"))
th.join(30)
is_gemini(result.get("r", (0, {}, {}, 0))[2], "the lease holder")
check_calls(fake, 1, "a waiter that gave up")
longer.stop()

# ---- a client that leaves while its call is on the wire ---------------------
fresh(fake, reply_ok(delay=1.5))
c = socket.create_connection(("127.0.0.1", port))
c.sendall(b"POST /analyze/performance HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
time.sleep(0.4)
c.close()
time.sleep(1.6)
eq(len(fake.calls()), 1, "client gone: its call was made")
st, _, _ = request(port, "GET", "/health")
eq(st, 200, "client gone mid-call: the server is fine")
reset_data()
seed()
fake.script()
st, _, b, _ = analyze(port)
is_gemini(b, "after a client left mid-call")

# ---- connection refused, TLS -------------------------------------------------
refused = Server("analyze-refused", env=gem_env(
    "http://127.0.0.1:%d" % closed_port())).start()
fresh()
st, _, b, secs = analyze(refused.port)
is_rules(b, "upstream_unreachable", "connection refused")
eq(egress_used(), 4, "connection refused: 4 attempts were made")
ok(secs < 2, "connection refused: retried fast and gave up (%.2f s)" % secs)
refused.stop()

tls = Server("analyze-tls", env=gem_env(
    tlsfake.url, GEMINI_CA_FILE=cert, GEMINI_TEMPERATURE="0.5",
    GEMINI_MAX_TOKENS="512")).start()
fresh(tlsfake)
st, _, b, _ = analyze(tls.port)
is_gemini(b, "HTTPS with GEMINI_CA_FILE")
check_calls(tlsfake, 1, "HTTPS with GEMINI_CA_FILE", temperature=0.5,
            max_tokens=512)
tls.stop()

badtls = Server("analyze-badtls", env=gem_env(tlsfake.url)).start()
fresh(tlsfake)
st, _, b, _ = analyze(badtls.port)
is_rules(b, "upstream_tls_error", "HTTPS without the CA (verification on)")
eq(len(tlsfake.calls()), 0, "an unverified server never gets the request")
eq(egress_used(), 1, "a refused certificate is not retried")
badtls.stop()

# ---- no key: the rule-based analyzer ---------------------------------------
np = nokey.port
fresh(current=30, previous=30, conf=0.55, prev_conf=0.9, ms=250.0)
st, h, b, _ = analyze(np, {"time_window_minutes": 60})
eq(st, 200, "no key: 200")
is_rules(b, "not_configured", "no key")
types = {i.get("issue_type"): i.get("severity")
         for i in b.get("identified_issues", [])}
ok(types.get("low_confidence") == "medium" and
   types.get("high_latency") == "medium" and
   types.get("confidence_drop") == "high",
   "rules: warning levels are medium, a 39%% drop is high", types)
ok(all(i.get("detected_at") == b.get("generated_at")
       for i in b.get("identified_issues", [])), "rules: detected_at")
ok(b.get("recommendations") and b.get("root_cause_hypothesis") and
   0 <= b.get("confidence_score", -1) <= 1, "rules: the full report shape")
eq(b.get("comparison", {}).get("thresholds", {}).get(
    "min_confidence_warning"), 0.6, "rules: the thresholds table is used")

sql("UPDATE app.metric_thresholds SET min_confidence_warning = 0.5, "
    "min_confidence_critical = 0.3, max_inference_time_warning_ms = 300, "
    "max_inference_time_critical_ms = 600 WHERE model_name = 'default'")
st, _, b, _ = analyze(np, {"time_window_minutes": 60})
types = {i.get("issue_type") for i in b.get("identified_issues", [])}
ok("low_confidence" not in types and "high_latency" not in types,
   "rules: with other thresholds the same numbers are fine", types)

fresh(current=3, previous=0)
st, _, b, _ = analyze(np)
ok(any(i.get("issue_type") == "insufficient_data" and
       "Only 3 predictions" in i.get("description", "")
       for i in b.get("identified_issues", [])),
   "rules: too few predictions is said plainly", b.get("identified_issues"))
st, _, b, _ = analyze(np, {"model_name": "no-such-model"})
eq(b.get("comparison", {}).get("current", {}).get(
    "total_predictions"), 0, "model_name filters the statistics")
eq(b.get("metrics_analyzed", {}).get("total_predictions"), 0,
   "model_name filters metrics_analyzed too")
eq(b.get("model_name"), "no-such-model", "the report names the filter")

# ---- validation, methods, rate limit ----------------------------------------
bad = [
    ("window 0", {"time_window_minutes": 0}, "time_window_minutes"),
    ("window 1441", {"time_window_minutes": 1441}, "time_window_minutes"),
    ("window as text", {"time_window_minutes": "60"}, "time_window_minutes"),
    ("window 1.5", {"time_window_minutes": 1.5}, "time_window_minutes"),
    ("model_name a number", {"model_name": 5}, "model_name"),
    ("model_name with a space", {"model_name": "a b"}, "model_name"),
    ("not an object", [1], "body"),
]
for name, body, field in bad:
    st, _, b, _ = analyze(np, body)
    ok(st == 422 and b["error"]["code"] == "validation_failed" and
       any(d.get("field") == field for d in b["error"]["details"]),
       "%s -> 422 naming %s" % (name, field), (st, b))
st, _, b = request(np, "POST", "/analyze/performance", raw=b"{",
                   headers={"Content-Type": "application/json"})
eq((st, b["error"]["code"]), (400, "invalid_json"), "malformed JSON -> 400")
st, _, b = request(np, "POST", "/analyze/performance", raw=b"{}",
                   headers={"Content-Type": "text/plain"})
eq(st, 415, "not JSON -> 415")
st, h, b = request(np, "GET", "/analyze/performance")
ok(st == 405 and "POST" in h.get("allow", ""), "GET -> 405 with Allow",
   (st, h))

reset_data()
statuses = []
for i in range(6):
    st, h, b, _ = analyze(np, source="127.0.0.9")
    statuses.append(st)
eq(statuses, [200] * 5 + [429],
   "RATE_LIMIT_ANALYZE_PER_MINUTE=5: the 6th request of a client is 429")
ok(h.get("retry-after") and b["error"]["code"] == "rate_limited",
   "the 429 has Retry-After and the JSON envelope", (h, b))
st, _, _, _ = analyze(np, source="127.0.0.10")
eq(st, 200, "another client is not limited")

# ---- logs: never the key, the prompt or the model's output ----------------
for s in (srv, srv2):
    s.stop()
nokey.stop()
leaks = []
for s in (srv, srv2, nokey):
    log = s.log_text()
    for secret, what in ((KEY, "key"), ("site reliability engineer",
                                        "prompt"),
                         (REPORT["summary"], "model output"),
                         (REPORT["root_cause_hypothesis"], "model output")):
        if secret in log:
            leaks.append((s.name, what))
ok(not leaks, "no log line holds the key, the prompt or the model output",
   leaks)
ok("analyze.gemini rid=" in srv.log_text(),
   "attempts are logged (codes, sizes, times)")

fake.stop()
tlsfake.stop()
shutil.rmtree(tlsdir, ignore_errors=True)
done()
