"""scale_pgbouncer.py: the server through PgBouncer in transaction mode.

Run by `tests/run.sh pgbouncer`, which starts PgBouncer in front of the
suite's cluster and points TEST_DB_APP at it (the other files of that
layer are the usual HTTP tests, unchanged).

- The statement timeout holds through the pool: it is the role's setting
  (docker/initdb/10-roles.sh), not a startup option PgBouncer refuses.
  A /predict whose insert waits on a lock gets 503 after the role's
  statement_timeout, well before the recorder's own timeout.
- No session state leaks: the server's SQL runs in transaction-scoped
  form only (checked by grep here, and by every file of this layer
  passing through the pool).
- PgBouncer killed and restarted under load: /predict answers 503 while
  it is down, never a 200 whose row is missing, and serves again
  without a server restart.
"""
import os
import re
import subprocess
import time

from lib import ROOT, Server, db_url, diag, done, eq, ok, request, \
    reset_data, sql
from scale_lib import Load, missing, wait_for

BOUNCER_DIR = os.environ.get("TEST_PGBOUNCER_DIR")
BOUNCER_PORT = os.environ.get("TEST_PGBOUNCER_PORT")
if not BOUNCER_DIR:
    print("1..0 # SKIP run by tests/run.sh pgbouncer")
    raise SystemExit(0)

BOUNCER = [os.path.join(ROOT, "tests/lib/pgbouncer.sh")]


def psql_app(query):
    r = subprocess.run(["psql", db_url("app"), "-X", "-q", "-At", "-c",
                        query], capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


reset_data()

# ---- the statement timeout, through the pool ----------------------------
want = sql("SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r "
           "ON r.oid = s.setrole WHERE r.rolname = 'modelserver_app'")
ok(want and "statement_timeout=5000" in want[0][0],
   "the server's role carries statement_timeout (10-roles.sh)", want)
rc, out, err = psql_app("SHOW statement_timeout")
eq((rc, out), (0, "5s"), "through PgBouncer the server's role gets "
   "statement_timeout 5s")
t0 = time.time()
rc, out, err = psql_app("SELECT pg_sleep(8)")
took = time.time() - t0
ok(rc != 0 and "statement timeout" in err and 4 <= took < 7.5,
   "a slow statement through PgBouncer is cancelled after 5 s "
   "(%.1f s)" % took, err)

srv = Server("pgbouncer", sanitize=False,
             env={"WORKERS": "1", "RECORDER_TIMEOUT_MS": "30000"}).start()
st, _, body = request(srv.port, "GET", "/health")
eq((st, body["database"].get("statement_timeout")), (200, "5s"),
   "/health reports the statement timeout the server's sessions get")
st, _, body = request(srv.port, "POST", "/predict", body={"text": "warm"})
eq(st, 200, "/predict through PgBouncer: 200")
ok(st == 200 and sql("SELECT 1 FROM app.prediction_metrics WHERE "
                     "prediction_id = '%s'" % body["prediction_id"]),
   "... and its row is in the table")

locker = subprocess.Popen(["psql", db_url("super"), "-X", "-q", "-v",
                           "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                          stdout=subprocess.DEVNULL, text=True)
locker.stdin.write("BEGIN;\nLOCK TABLE app.prediction_metrics IN ACCESS "
                   "EXCLUSIVE MODE;\nSELECT pg_sleep(20);\n")
locker.stdin.flush()
wait_for(lambda: sql("SELECT 1 FROM pg_locks WHERE granted AND relation "
                     "= 'app.prediction_metrics'::regclass AND "
                     "mode = 'AccessExclusiveLock'"), 10)
t0 = time.time()
st, _, body = request(srv.port, "POST", "/predict",
                      body={"text": "waits on a lock"}, timeout=40)
took = time.time() - t0
locker.kill()
locker.wait(timeout=30)
eq(st, 503, "a /predict whose insert waits on a lock: 503")
ok(4 <= took < 10, "... after the role's 5 s statement timeout, not the "
   "recorder's 30 s (%.1f s)" % took)
ok("statement timeout" in srv.log_text(),
   "... the server logged PostgreSQL's statement timeout")

# A database set up before the role carried the timeout: /health says
# "0" and the server warns, naming the fix.
sql("ALTER ROLE modelserver_app RESET statement_timeout")
try:
    bare = Server("pgbouncer-notimeout", sanitize=False,
                  env={"WORKERS": "1",
                       "DATABASE_URL": os.environ["TEST_DB_APP_DIRECT"]})
    bare.start()
    st, _, body = request(bare.port, "GET", "/health")
    eq(body["database"].get("statement_timeout"), "0",
       "role without the setting: /health reports statement_timeout 0")
    ok(wait_for(lambda: "db.statement_timeout unset" in bare.log_text(), 5),
       "... and the server warns, naming 10-roles.sh")
    bare.stop()
finally:
    sql("ALTER ROLE modelserver_app SET statement_timeout = 5000")

# ---- nothing session-scoped in the server's SQL ------------------------
# PgBouncer 1.18 in transaction mode cannot carry a session: no named
# prepared statements, session SET, LISTEN/NOTIFY, session advisory
# locks or WITH HOLD cursors.  The server's own statements are unnamed
# (Kore's PQsendQueryParams); the SQL files must not rely on the rest.
# What they do use is transaction- or function-scoped: SET LOCAL,
# set_config(..., true), pg_advisory_xact_lock, and functions' own SET
# clauses (search_path, jit, work_mem), which end with the call.
pat = re.compile(r"\b(PREPARE|LISTEN|NOTIFY|UNLISTEN|pg_advisory_lock|"
                 r"pg_try_advisory_lock|pg_advisory_lock_shared)\b|"
                 r"\bWITH\s+HOLD\b|\bSET\s+SESSION\b|"
                 r"set_config\s*\([^)]*false\s*\)", re.I)
found = []
for d in ("src", "sql"):
    for name in sorted(os.listdir(os.path.join(ROOT, d))):
        if not name.endswith((".c", ".sql")):
            continue
        with open(os.path.join(ROOT, d, name)) as f:
            for n, line in enumerate(f, 1):
                code = line.split("--")[0] if name.endswith(".sql") else line
                if name.endswith(".c") and \
                        line.lstrip().startswith(("*", "/*", "//")):
                    code = ""  # a comment naming them, not a statement
                if pat.search(code):
                    found.append("%s/%s:%d: %s" % (d, name, n, line.strip()))
eq(found, [], "no session-scoped statements in src/ and sql/")

# ---- PgBouncer killed and restarted under load --------------------------
reset_data()
with Load(srv.port, threads=8) as load:
    wait_for(lambda: len(load.ok_ids()) >= 200, 30)
    subprocess.run(BOUNCER + ["kill", BOUNCER_DIR], check=True, timeout=30)
    killed_at = time.time()
    time.sleep(2)
    subprocess.run(BOUNCER + ["start", BOUNCER_DIR, BOUNCER_PORT,
                              os.environ["TEST_PGDIR"],
                              os.environ["TEST_PGPORT"]],
                   check=True, timeout=30)
    started_at = time.time()
    back = wait_for(lambda: any(r[0] == 200 and r[2] > started_at
                                for r in load.snapshot()), 10)
    time.sleep(0.5)
res = load.snapshot()
outage = [r for r in res if killed_at + 0.5 < r[2] < started_at]
first = min([r[2] for r in res if r[0] == 200 and r[2] > started_at] or [0])
diag("PgBouncer down: %s" % load.kinds(killed_at, started_at))
ok(len(outage) > 0, "requests kept coming while PgBouncer was down (%d)" %
   len(outage))
ok(all(r[0] == 503 for r in outage), "... and every one got 503",
   load.kinds(killed_at + 0.5, started_at))
ok(back, "served again %.2f s after PgBouncer restarted, without a "
   "server restart" % (first - started_at if back else -1))
ids = load.ok_ids()
lost = missing(ids, sql)
eq(len(lost), 0, "PgBouncer restart: every one of the %d 200s is in the "
   "table" % len(ids))
srv.stop()

done()
