"""test_prometheus.py: GET /metrics/prometheus, read by a real Prometheus.

The test sends a known mix: predictions from many clients at once, until
both workers have served some (Kore's accept lock favours one), a client
pushed past its rate limit (429), bad requests (400, 422, 404).  Then a
real Prometheus (Debian's, on loopback) is pointed at the server (a config
reload: nothing else reached the server meanwhile, so each worker's share
is known) and scrapes it every second.  Once a scrape has seen it all,
Prometheus's HTTP API must give back exactly the numbers sent: requests by
route and status, predictions by label, rate-limit rejections, the
histograms' counts, the rows of the group commits, and the per-worker
counters summing to the whole server.  `promtool check metrics` lints the
exposition itself.
"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter

from lib import (OUT, Server, diag, done, eq, free_port, ok, request,
                 reset_data)

LIMIT = 5                       # RATE_LIMIT_PREDICT_PER_MINUTE
CLIENTS = 32                    # concurrent clients per round
PER_CLIENT = 3                  # predictions per client and round
ROUNDS = 15                     # at most, until both workers served
TEXTS = ["I love this product, it is wonderful",
         "This is terrible, I hate it",
         "The box is on the table"]

tmp = tempfile.mkdtemp(prefix="modelserver-prom.")
prom = {}


def _cleanup():
    p = prom.get("proc")
    if p is not None and p.poll() is None:
        p.kill()
        p.wait()
    shutil.rmtree(tmp, ignore_errors=True)


atexit.register(_cleanup)

if not ok(shutil.which("prometheus") and shutil.which("promtool"),
          "prometheus and promtool are installed (make deps)"):
    done()

reset_data()
# The accept lock passes on after every accept (the default 1), so both
# workers get predictions (with Kore's 16 a burst of 32 can stay on one).
srv = Server("prom", env={"RATE_LIMIT_PREDICT_PER_MINUTE": str(LIMIT)})
srv.start()
port = srv.port
with open(srv.conf) as f:
    rendered = f.read()
ok(re.search(r"^worker_accept_threshold\s+1$", rendered, re.M),
   "the runtime kore.conf passes the accept lock on after every accept")
other = Server("prom-threshold", env={"WORKER_ACCEPT_THRESHOLD": "7"})
other.render()
with open(other.conf) as f:
    ok(re.search(r"^worker_accept_threshold\s+7$", f.read(), re.M),
       "WORKER_ACCEPT_THRESHOLD is rendered into the runtime kore.conf")
other.forget_conf()

# ---- Prometheus on loopback, not scraping yet -----------------------------
pport = free_port()
pconf = os.path.join(tmp, "prometheus.yml")
GLOBAL = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
"""
SCRAPE = """scrape_configs:
  - job_name: modelserver
    metrics_path: /metrics/prometheus
    static_configs:
      - targets: ["127.0.0.1:%d"]
""" % port
with open(pconf, "w") as f:
    f.write(GLOBAL)
plog = open(os.path.join(OUT, "prometheus-%d.log" % pport), "wb")
prom["proc"] = subprocess.Popen(
    ["prometheus", "--config.file=" + pconf,
     "--storage.tsdb.path=" + os.path.join(tmp, "data"),
     "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
    stdout=plog, stderr=subprocess.STDOUT, start_new_session=True)


def api(path, **params):
    url = "http://127.0.0.1:%d%s" % (pport, path)
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read().decode())


def query(expr):
    """The values of an instant query: {labels as a tuple: float}."""
    res = api("/api/v1/query", query=expr)
    out = {}
    for s in res["data"]["result"]:
        out[tuple(sorted(s["metric"].items()))] = float(s["value"][1])
    return out


def scalar(expr):
    v = list(query(expr).values())
    return v[0] if len(v) == 1 else None


def ready(timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if prom["proc"].poll() is not None:
            return False
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % pport,
                                        timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


if not ok(ready(), "Prometheus is ready on 127.0.0.1:%d" % pport):
    done()

# ---- the traffic, every response tallied --------------------------------
tally = Counter()               # (route, status) -> responses
labels = Counter()              # label -> 200s on /predict
lock = threading.Lock()


def send(method, path, source, **kw):
    st, h, body = request(port, method, path, source=source, **kw)
    route = path if path in ("/predict", "/health") else "other"
    with lock:
        tally[(route, str(st))] += 1
        if route == "/predict" and st == 200:
            labels[body["sentiment"]] += 1
    return st


def scrape():
    """The server's exposition, read directly: {(name, labels): value}."""
    _, _, text = request(port, "GET", "/metrics/prometheus")
    out = {}
    for m in re.finditer(r"^(\w+)(?:\{(.*)\})? (\S+)$", text, re.M):
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def per_worker(sample):
    return {lbl: v for (n, lbl), v in sample.items()
            if n == "modelserver_worker_requests_total"}


def client(rnd, i):
    for j in range(PER_CLIENT):
        send("POST", "/predict", "127.0.%d.%d" % (10 + rnd, i + 1),
             body={"text": TEXTS[(i + j) % len(TEXTS)]})


# Everything the server counted before (GET / while it started, this read).
base = scrape()
base_workers = per_worker(base)
split = False
for rnd in range(ROUNDS):
    threads = [threading.Thread(target=client, args=(rnd, i))
               for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each read of the exposition counts itself on one worker: after
    # rnd + 1 reads, a worker with more than rnd + 1 new responses served
    # predictions.
    delta = {w: v - base_workers.get(w, 0)
             for w, v in per_worker(scrape()).items()}
    if len(delta) == 2 and all(d > rnd + 1 for d in delta.values()):
        split = True
        break
rounds = rnd + 1
eq(tally[("/predict", "200")], rounds * CLIENTS * PER_CLIENT,
   "%d round(s) of %d clients x %d predictions at once: all 200"
   % (rounds, CLIENTS, PER_CLIENT))
ok(split, "both workers served predictions (new responses per worker: %s)"
   % delta)

# One client past its limit: LIMIT pass, 2 are refused.
got = [send("POST", "/predict", "127.0.2.1", body={"text": TEXTS[0]})
       for _ in range(LIMIT + 2)]
eq(got, [200] * LIMIT + [429, 429], "one client: %d x 200, then 2 x 429"
   % LIMIT)

# Bad requests, from another client.
send("POST", "/predict", "127.0.3.1", raw=b"{not json",
     headers={"Content-Type": "application/json"})
send("POST", "/predict", "127.0.3.1", body={"text": ""})
send("POST", "/predict", "127.0.3.1", body={"txt": "no text field"})
send("GET", "/no/such/path", "127.0.3.1")
ok(tally[("/predict", "400")] >= 1 and tally[("/predict", "422")] >= 1 and
   tally[("other", "404")] == 1, "bad requests: 400, 422 and 404",
   dict(tally))

send("GET", "/health", "127.0.3.1")
t_end = time.time()

n200 = tally[("/predict", "200")]
n429 = tally[("/predict", "429")]
npredict = sum(n for (r, _), n in tally.items() if r == "/predict")
diag("sent: %s" % sorted(tally.items()))

# ---- point Prometheus at the server (SIGHUP reloads its config) ----------
with open(pconf, "w") as f:
    f.write(GLOBAL + SCRAPE)
prom["proc"].send_signal(signal.SIGHUP)

# ---- wait for a scrape that started after the last request ------------------
deadline = time.time() + 20
last = None
while time.time() < deadline:
    last = scalar('timestamp(up{job="modelserver"})')
    if last is not None and last > t_end + 0.05:
        break
    time.sleep(0.3)
ok(last is not None and last > t_end,
   "Prometheus scraped the server after the traffic", (last, t_end))
targets = api("/api/v1/targets")["data"]["activeTargets"]
ok(len(targets) == 1 and targets[0]["health"] == "up" and
   targets[0]["lastError"] == "",
   "the target is up and its exposition parses without error", targets)
eq(scalar('up{job="modelserver"}'), 1.0, "up == 1")

# ---- the counters agree with what was sent ----------------------------------
P = '{job="modelserver"}'
eq(scalar("sum(modelserver_predictions_total%s)" % P), float(n200),
   "modelserver_predictions_total sums to the 200s (%d)" % n200)
by_label = {dict(k)["label"]: v for k, v in query(
    "modelserver_predictions_total%s" % P).items()}
eq(by_label, {k: float(labels.get(k, 0))
              for k in ("positive", "negative", "neutral")},
   "predictions by label = the labels answered")
info = query("modelserver_predictions_total%s" % P)
ok(info and all(dict(k).get("model") == "vader" and
                dict(k).get("version") == "3.3.2" for k in info),
   "predictions carry model and version", list(info))
eq(scalar('modelserver_http_requests_total{route="/predict",status="200"}'),
   float(n200), 'http_requests_total{route="/predict",status="200"}')
eq(scalar('modelserver_http_requests_total{route="/predict",status="429"}'),
   float(n429), 'http_requests_total{route="/predict",status="429"} = 2')
eq(scalar('modelserver_ratelimit_rejections_total{route="/predict"}'),
   float(n429), "rate-limit rejections on /predict = 2")
got = {(dict(k)["route"], dict(k)["status"]): v for k, v in query(
    'modelserver_http_requests_total{route!="/metrics/prometheus"}').items()}
want = Counter({k: int(v) for k, v in tally.items()})
for (name, lbl), v in base.items():
    m = re.fullmatch(r'route="([^"]*)",status="([^"]*)"', lbl)
    if (name == "modelserver_http_requests_total" and m and
            m.group(1) != "/metrics/prometheus"):
        want[(m.group(1), m.group(2))] += int(v)
eq(got, {k: float(v) for k, v in want.items()},
   "every (route, status) count equals the responses received (and the "
   "server's start-up GET /)")
eq(scalar('modelserver_http_request_duration_seconds_count'
          '{route="/predict"}'), float(npredict),
   "request-time histogram counts every /predict response")
eq(scalar("modelserver_inference_duration_seconds_count%s" % P), float(n200),
   "inference-time histogram counts the predictions")
eq(scalar('modelserver_inference_duration_seconds_bucket{le="+Inf"}'),
   float(n200), "... and its +Inf bucket equals its count")
eq(scalar("modelserver_batch_rows_sum%s" % P), float(n200 + n429),
   "batch rows sum to the rows sent to the database (200s + 429s)")
batches = scalar("modelserver_batch_rows_count%s" % P)
eq(scalar("modelserver_db_write_duration_seconds_count%s" % P), batches,
   "one database-write observation per batch")
ok(batches is not None and 1 <= batches <= n200 + n429,
   "batches: between 1 and the rows (%s)" % batches)
eq(scalar("modelserver_batches_failed_total%s" % P), 0.0,
   "no batch failed")
ok(scalar("modelserver_db_write_duration_seconds_sum%s" % P) > 0,
   "database write time is recorded")
eq(len(query("modelserver_gemini_calls_total%s" % P)), 6,
   "Gemini calls by outcome: 6 series")
eq(sorted(dict(k)["result"] for k in query(
    "modelserver_gemini_cache_requests_total%s" % P)), ["hit", "miss"],
   "cache hits and misses are exported")

# ---- the whole server, not one worker --------------------------------------
workers = query("modelserver_worker_requests_total%s" % P)
eq(len(workers), 2, "one worker_requests_total series per worker")
ok(sum(1 for v in workers.values() if v > 0) == 2,
   "both workers' counters are non-zero", workers)
eq(scalar("sum(modelserver_worker_requests_total%s) - "
          "sum(modelserver_http_requests_total%s)" % (P, P)), 0.0,
   "the workers' requests sum to the server's total in the same scrape")
conns = query("modelserver_worker_connections%s" % P)
eq(len(conns), 2, "one worker_connections gauge per worker")
ok(sum(conns.values()) >= 1, "... counting open connections, the "
   "scrape's own among them", conns)

# ---- the exposition itself ----------------------------------------------------
st, h, text = request(port, "GET", "/metrics/prometheus")
eq(st, 200, "GET /metrics/prometheus: 200")
ok(h.get("content-type", "").startswith("text/plain; version=0.0.4"),
   "content type is the text format 0.0.4", h.get("content-type"))
r = subprocess.run(["promtool", "check", "metrics"], input=text,
                   capture_output=True, text=True, timeout=30)
ok(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
   "promtool check metrics: valid and lint-clean", r.stdout + r.stderr)
families = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
names = [n for n, _ in families]
eq(len(names), len(set(names)), "each family is declared once")
for need in ("modelserver_http_requests_total",
             "modelserver_predictions_total",
             "modelserver_inference_duration_seconds",
             "modelserver_http_request_duration_seconds",
             "modelserver_db_write_duration_seconds",
             "modelserver_ratelimit_rejections_total",
             "modelserver_gemini_calls_total",
             "modelserver_gemini_cache_requests_total",
             "modelserver_batch_rows"):
    ok(need in names, "exports %s" % need)

# ---- stop Prometheus by its pid, bounded --------------------------------
p = prom["proc"]
p.send_signal(signal.SIGTERM)
try:
    p.wait(timeout=10)
    stopped = True
except subprocess.TimeoutExpired:
    stopped = False
    p.kill()
    p.wait()
plog.close()
ok(stopped, "Prometheus stops on SIGTERM within 10 s")
srv.stop()
done()
