"""test_security.py: privilege separation and secrets.

- Started as root with RUN_AS, the workers run as that user (Kore's
  privilege separation) and still serve; seccomp stays on (a forbidden
  syscall would kill a worker: the log check below would see it).
- No secret (Gemini key, admin token, database password) reaches a log, an
  error body, a header or /health, across a run that exercises every path
  that reports errors: bad tokens, a failing Gemini, the database down.
"""
import os
import re
import subprocess
import urllib.parse

from fake_gemini import FakeGemini, error
from lib import (OUT, Server, db_url, done, eq, ok, pg, pg_start, predict,
                 request, reset_data)

reset_data()

# ---- privilege separation ---------------------------------------------------
srv = Server("runas", sanitize=False, env={"RUN_AS": "nobody"}).start()
users = {}
for pid in srv.pids():
    r = subprocess.run(["ps", "-o", "user=,args=", "-p", str(pid)],
                       capture_output=True, text=True)
    users[pid] = r.stdout.strip()
workers = [u for u in users.values() if "[wrk" in u]
ok(len(workers) == 2 and all(u.startswith("nobody ") for u in workers),
   "with RUN_AS=nobody the workers run as nobody", users)
st, _, body = predict(srv.port, "privileges dropped, still happy")
eq(st, 200, "an unprivileged worker still records predictions")
st, _, body = request(srv.port, "GET", "/health")
eq(st, 200, "and reports health")
srv.stop()

# ---- secrets -----------------------------------------------------------------
KEY = "AIzaSy-test-secret-gemini-key-0123456789"
TOKEN = "admin-token-secret-9f8e7d6c5b4a"
app_url = db_url("app")
DBPASS = urllib.parse.urlparse(app_url).password
ok(DBPASS and len(DBPASS) >= 16, "the app role has a real password")

fake = FakeGemini().start()
fake.script(*[error(500, "INTERNAL", "boom")] * 4,
            *[error(401, "UNAUTHENTICATED", "API key not valid")] * 2)
seen = []     # every status line, header and body the server sent
srv = Server("secrets", sanitize=False, env={
    "GEMINI_API_KEY": KEY, "ADMIN_TOKEN": TOKEN,
    "GEMINI_BASE_URL": fake.url, "GEMINI_RETRY_BASE_MS": "10",
    "ACCESS_LOG": os.path.join(OUT, "access-secrets.log")}).start()


def call(*a, **kw):
    st, h, body = request(srv.port, *a, **kw)
    seen.append("%s %s %s" % (st, h, body))
    return st, h, body


call("POST", "/predict", body={"text": "fine"})
call("GET", "/health")
call("PUT", "/metrics/thresholds", body={"min_confidence_warning": 0.7},
     headers={"Authorization": "Bearer wrong-" + TOKEN[:8]})
call("PUT", "/metrics/thresholds", body={"min_confidence_warning": 0.7},
     headers={"Authorization": "Bearer " + TOKEN})
call("PUT", "/metrics/thresholds", body={"min_confidence_warning": 2},
     headers={"Authorization": "Bearer " + TOKEN})
st, _, body = call("POST", "/analyze/performance",
                   body={"time_window_minutes": 5})
ok(st == 200 and body.get("source") == "rules",
   "a failing Gemini falls back to the rules", (st, body))
call("POST", "/analyze/performance", body={"time_window_minutes": 6})
ok(len(fake.calls()) >= 2 and
   all(c["headers"].get("x-goog-api-key") == KEY for c in fake.calls()),
   "the key did go upstream, in its header")
call("GET", "/metrics/prometheus")
call("GET", "/no/such/path")
pg("stop", "fast")
try:
    call("POST", "/predict", body={"text": "db down"})
    call("POST", "/predict", body={"text": "db down again"})
    st, _, body = call("GET", "/health")
    ok(st == 503 and "error" in body.get("database", {}),
       "/health reports the database error", body)
finally:
    pg_start()
call("POST", "/predict", body={"text": "db back"})
srv.stop()
fake.stop()

secrets = {"Gemini key": KEY, "admin token": TOKEN,
           "database password": DBPASS}
texts = {"responses": "\n".join(seen), "server log": srv.log_text()}
for path in (os.path.join(OUT, "access-secrets.log"),
             os.path.join(os.environ["TEST_PGDIR"], "server.log")):
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            texts[os.path.basename(path)] = f.read()
ok(len(texts["server log"]) > 0 and "secrets" in srv.log, "logs collected")
for sname, secret in secrets.items():
    for tname, text in texts.items():
        ok(secret not in text, "the %s is not in the %s" % (sname, tname))
# Not even a recognisable part of a secret (e.g. a prefix in an error).
ok(not re.search(re.escape(KEY[:12]), texts["server log"]),
   "no prefix of the key in the server log")

done()
