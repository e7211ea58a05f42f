"""test_routing.py: the traffic split as data (routing.c, api_routing.c).

Two instances (two workers each) serve src/model/versions.  PUT
/models/vader/routing is refused without the token, with bad weights, a
version not loaded or a default outside the versions; accepted, it reaches
every worker of both instances within the bound (each worker's applied
generation, from /metrics/prometheus).  Then: weights are honoured within
statistical bounds over 3000 routing keys; assignment is sticky per key and
per client address; a pinned version is served whatever the weights; a
shadow version's rows are recorded with shadow_of and never returned; a
change made with plain SQL propagates the same way; every change is in the
history.
"""
import re
import threading
import time

from fake_gemini import FakeGemini, reply_ok
from lib import (Server, diag, done, eq, ok, request, reset_data, sql,
                 truncate_predictions,
                 sql_value)

TOKEN = "routing-test-token"
AUTH = {"Authorization": "Bearer " + TOKEN}
BOUND_S = 3.0        # the test's bound; the figure printed is what counts


def generations(port):
    _, _, text = request(port, "GET", "/metrics/prometheus")
    return [int(g) for g in re.findall(
        r'^modelserver_routing_generation\{worker="\d+"\} (-?\d+)$', text,
        re.M)]


def current_generation():
    return int(sql_value("SELECT generation FROM app.routing_state"))


def wait_everywhere(gen, servers, limit=BOUND_S * 3):
    """Seconds until every worker of every server applies gen (None)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if all(g == gen for s in servers for g in generations(s.port)) and \
                all(len(generations(s.port)) == 2 for s in servers):
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def put(port, body, headers=AUTH):
    return request(port, "PUT", "/models/vader/routing", body=body,
                   headers=headers)


def split(a, b, default="3.3.2", shadow=None):
    return {"versions": [{"version": "3.3.2", "weight": a},
                         {"version": "3.4.0", "weight": b}],
            "default_version": default, "shadow_version": shadow}


reset_data()
sql("DELETE FROM app.model_routing; TRUNCATE app.model_routing_changes")
env = {"MODELS_DIR": "src/model/versions", "ADMIN_TOKEN": TOKEN,
       "RATE_LIMIT_PREDICT_PER_MINUTE": "1000000"}
a = Server("routing-a", env=env)
b = Server("routing-b", env=env)
a.start()
b.start()
servers = [a, b]

# ---- validation ----------------------------------------------------------
st, _, _ = put(a.port, split(90, 10), headers={})
eq(st, 401, "no token: 401")
for name, body, field in (
        ("weights summing to 90", split(80, 10), "versions"),
        ("a weight above 100", split(101, -1), "versions[0]"),
        ("a version not loaded",
         {"versions": [{"version": "9.9.9", "weight": 100}],
          "default_version": "9.9.9"}, "versions[0]"),
        ("a default outside the versions", split(100, 0, default="1.0.0"),
         "default_version"),
        ("a shadow not loaded", split(100, 0, shadow="9.9.9"),
         "shadow_version")):
    st, _, body = put(a.port, body)
    fields = [d.get("field") for d in body.get("error", {}).get("details",
                                                                 [])]
    eq((st, fields), (422, [field]), "%s: 422 naming %s" % (name, field))
st, _, _ = request(a.port, "PUT", "/models/bert/routing", body=split(50, 50),
                   headers=AUTH)
eq(st, 404, "a model not held: 404")
eq(int(sql_value("SELECT count(*) FROM app.model_routing_changes")), 0,
   "nothing refused reached the history")

# ---- a change reaches every worker of both instances ---------------------
ok(wait_everywhere(current_generation(), servers) is not None,
   "every worker applies the starting generation")
st, _, body = put(a.port, split(90, 10))
eq(st, 200, "PUT 90/10: 200")
eq((body.get("versions"), body.get("weights"), body.get("default_version")),
   (["3.3.2", "3.4.0"], [90, 10], "3.3.2"), "the stored split is returned")
t = wait_everywhere(body.get("generation"), servers)
ok(t is not None and t <= BOUND_S,
   "the change reaches the 4 workers of 2 instances within %.1f s" % BOUND_S,
   "took %s" % t)
diag("propagation after PUT: %.3f s (ROUTING_POLL_MS 250)" % (t or -1))

# ---- weights honoured ----------------------------------------------------
N = 3000
counts, lock = {}, threading.Lock()


def fire(lo, hi):
    for i in range(lo, hi):
        port = servers[i % 2].port
        _, _, r = request(port, "POST", "/predict", body={
            "text": "fine", "routing_key": "user-%d" % i})
        with lock:
            v = r.get("model_version")
            counts[v] = counts.get(v, 0) + 1


ths = [threading.Thread(target=fire, args=(k * N // 6, (k + 1) * N // 6))
       for k in range(6)]
for th in ths:
    th.start()
for th in ths:
    th.join()
canary = counts.get("3.4.0", 0)
# Binomial(3000, 0.1): mean 300, sd 16.4; 4 sd either side.
ok(234 <= canary <= 366 and counts.get("3.3.2", 0) + canary == N,
   "90/10 over %d keys: %d to 3.4.0 (within 300 +- 66)" % (N, canary),
   counts)

# ---- sticky --------------------------------------------------------------
for key in ("alice", "bob", "carol"):
    seen = set()
    for i in range(20):
        _, _, r = request(servers[i % 2].port, "POST", "/predict",
                          body={"text": "ok", "routing_key": key})
        seen.add(r.get("model_version"))
    eq(len(seen), 1, "routing_key %s: one version over 20 requests, both "
       "instances" % key)
versions = set()
for host in range(2, 42):
    src = "127.0.0.%d" % host
    seen = set()
    for i in range(5):
        _, _, r = request(servers[i % 2].port, "POST", "/predict",
                          body={"text": "ok"}, source=src)
        seen.add(r.get("model_version"))
    versions |= seen
    if len(seen) != 1:
        break
eq(len(seen), 1, "no routing_key: each client address keeps its version")
diag("40 client addresses got %s" % sorted(versions))

# ---- pinning -------------------------------------------------------------
st, _, r = request(a.port, "POST", "/predict",
                   body={"text": "ok", "model_version": "3.4.0",
                         "routing_key": "alice"})
eq((st, r.get("model_version")), (200, "3.4.0"), "a pin beats the split")
st, _, r = request(a.port, "POST", "/predict/batch",
                   body={"texts": ["a", "b"], "model_version": "3.3.2"})
eq((st, r.get("model_version")), (200, "3.3.2"), "a batch can pin too")

# ---- shadow --------------------------------------------------------------
st, _, body = put(b.port, split(100, 0, shadow="3.4.0"))
eq(st, 200, "PUT 100/0 with shadow 3.4.0 (on the other instance)")
t = wait_everywhere(body.get("generation"), servers)
ok(t is not None, "the shadow reaches every worker", t)
truncate_predictions()     # keeps the split, unlike reset_data
answered = []
for i in range(20):
    st, _, r = request(servers[i % 2].port, "POST", "/predict",
                       body={"text": "It arrived cracked and flimsy %d" % i})
    answered.append(r)
eq({r.get("model_version") for r in answered}, {"3.3.2"},
   "every answer comes from the serving version")
eq({r.get("sentiment") for r in answered}, {"neutral"},
   "and carries its result (the shadow's would be negative)")
st, _, br = request(a.port, "POST", "/predict/batch",
                    body={"texts": ["a flimsy refund", "sturdy"]})
eq([p["sentiment"] for p in br.get("predictions", [])],
   ["neutral", "neutral"], "a batch answers with the serving version")
ids = [r["prediction_id"] for r in answered] + \
    [p["prediction_id"] for p in br.get("predictions", [])]
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    n = int(sql_value("SELECT count(*) FROM app.prediction_metrics "
                      "WHERE shadow_of IS NOT NULL"))
    if n >= len(ids):
        break
    time.sleep(0.05)
rows = sql("SELECT s.shadow_of, s.label, v.version FROM "
           "app.prediction_metrics s JOIN app.model_versions v ON "
           "v.id = s.model_version_id WHERE s.shadow_of IS NOT NULL")
eq(sorted(r[0] for r in rows), sorted(ids),
   "one shadow row per answered prediction, naming it")
eq({(r[1], r[2]) for r in rows[:20] if r[0] in ids[:20]},
   {("negative", "3.4.0")}, "shadow rows hold the shadow version's result")
eq(int(sql_value("SELECT count(*) FROM app.prediction_metrics WHERE "
                 "shadow_of IS NULL")), len(ids),
   "served rows (shadow_of IS NULL) are exactly the answers")

# ---- comparison (POST /metrics/compare) ------------------------------------
st, _, c = request(a.port, "POST", "/metrics/compare",
                   body={"model_name": "vader", "candidate_version": "3.4.0"})
eq(st, 200, "compare 3.4.0 with the default version: 200")
eq((c.get("baseline", {}).get("version"),
    c.get("baseline", {}).get("served"),
    c.get("candidate", {}).get("shadow"),
    c.get("candidate", {}).get("served")), ("3.3.2", len(ids), len(ids), 0),
   "the shadow's rows against the answered ones, same window")
eq(c.get("paired", {}).get("pairs"), len(ids), "every pair joined")
eq(c.get("paired", {}).get("label_agreement"), 0.0,
   "no label agrees: every text holds an overlay word")
st, _, c = request(a.port, "POST", "/metrics/compare",
                   body={"candidate_version": "3.4.0", "window_minutes": 0})
eq(st, 422, "a window of 0: 422")

# ---- /analyze/performance: candidate against baseline -------------------
st, _, rep = request(a.port, "POST", "/analyze/performance",
                     body={"model_name": "vader",
                           "candidate_version": "3.4.0"})
types = [i.get("issue_type") for i in rep.get("identified_issues", [])]
eq((st, rep.get("source")), (200, "rules"), "analyze with a candidate: "
   "the rules answer (no Gemini key)")
ok("candidate_disagrees" in types and "candidate_label_shift" in types,
   "the rules report where the candidate differs from its baseline",
   types)
fake = FakeGemini().start()
fake.script(reply_ok())
g = Server("routing-gemini", env=dict(env, GEMINI_API_KEY="k",
                                      GEMINI_BASE_URL=fake.url))
g.start()
st, _, rep = request(g.port, "POST", "/analyze/performance",
                     body={"candidate_version": "3.4.0",
                           "baseline_version": "3.3.2"})
calls = fake.calls()
prompt = ""
if calls:
    prompt = calls[-1]["body"]["contents"][0]["parts"][0]["text"]
eq((st, rep.get("source")), (200, "gemini"), "analyze with Gemini: 200")
ok("candidate version 3.4.0, baseline version 3.3.2" in prompt and
   "Candidate version: %d predictions" % len(ids) in prompt and
   "On %d inputs scored by both" % len(ids) in prompt,
   "the prompt gives the candidate's and the baseline's figures",
   prompt[-1200:])
st, _, _ = request(g.port, "POST", "/analyze/performance",
                   body={"baseline_version": "3.3.2"})
eq(st, 422, "a baseline without a candidate: 422")
g.stop()
fake.stop()

# ---- plain SQL -----------------------------------------------------------
sql("UPDATE app.model_routing SET weights = '{0,100}', shadow_version = NULL "
    "WHERE model_name = 'vader'")
t = wait_everywhere(current_generation(), servers)
ok(t is not None and t <= BOUND_S,
   "a change made with plain SQL reaches every worker within %.1f s" %
   BOUND_S, t)
diag("propagation after SQL: %.3f s" % (t or -1))
got = {request(servers[i % 2].port, "POST", "/predict",
               body={"text": "x", "routing_key": "k%d" % i})[2].get(
                   "model_version") for i in range(40)}
eq(got, {"3.4.0"}, "0/100: everything goes to 3.4.0")
st, _, m = request(a.port, "GET", "/models/vader")
eq([(v["version"], v["traffic_share"], v["shadow"])
    for v in m.get("versions", [])],
   [("3.3.2", 0, False), ("3.4.0", 100, False)],
   "GET /models/vader shows the shares")
hist = sql("SELECT operation, new_weights::text, host(changed_by) FROM "
           "app.model_routing_changes ORDER BY id")
eq([h[0] for h in hist], ["insert", "update", "update"],
   "the history has every change")
eq(hist[0][2], "127.0.0.1", "a PUT is attributed to its HTTP client")
eq(hist[-1][1], "{0,100}", "the SQL change is recorded too")
for s in servers:
    s.stop()
sql("DELETE FROM app.model_routing")
done()
