"""lib.py: what the HTTP tests share (Python 3 standard library only).

- TAP output (`prove` runs each test_*.py file): ok(), eq(), done().
- Server: starts the real Kore binary with our module (the ASan + UBSan
  build by default) on a free port, against the suite's PostgreSQL, and
  stops it at the end; a sanitizer report in its log fails the test file.
- request(): one HTTP request, returning status, headers and parsed JSON.
- sql(): a query through psql (superuser by default) for checking rows.

The suite's cluster comes from tests/run.sh through TEST_* variables.
"""
import atexit
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "out")
os.makedirs(OUT, exist_ok=True)

_count = 0
_failed = 0
_servers = []

# TEST_SERVER_WRAPPER: a command every server runs under (make
# test-valgrind sets it to valgrind; see tests/valgrind/run.sh).  Wrapped
# servers serve the plain build and get WRAP_SLOW times the time to start
# and stop.
WRAPPER = os.environ.get("TEST_SERVER_WRAPPER", "").split()
WRAP_SLOW = 10 if WRAPPER else 1


# ------------------------------------------------------------------ TAP

def ok(cond, name, diag=None):
    """Records one test; diag (any value) is printed when it fails."""
    global _count, _failed
    _count += 1
    if not cond:
        _failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", _count, name))
    if not cond and diag is not None:
        for line in str(diag).splitlines()[:40]:
            print("#   " + line)
    sys.stdout.flush()
    return bool(cond)


def eq(got, want, name):
    return ok(got == want, name, "got  %r\nwant %r" % (got, want))


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line)
    sys.stdout.flush()


def done():
    """Stops the servers, checks their logs, prints the plan, exits."""
    for s in list(_servers):
        s.stop()
    print("1..%d" % _count)
    sys.stdout.flush()
    sys.exit(1 if _failed else 0)


# ------------------------------------------------------------ database

def db_url(role="super"):
    return os.environ["TEST_DB_" + role.upper()]


def sql(query, role="super", check=True):
    """Runs query; returns a list of rows (lists of strings)."""
    r = subprocess.run(
        ["psql", db_url(role), "-X", "-q", "-At", "-F", "\t",
         "-v", "ON_ERROR_STOP=1", "-c", query],
        capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError("psql failed: %s" % r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def ddl(query, role="super", tries=5):
    """sql() for DDL on the partitioned tables: it locks every partition,
    and so can deadlock with the janitor's partition and rollup jobs,
    which lock them in another order; PostgreSQL then cancels one side,
    and a DDL statement is simply run again."""
    for i in range(tries):
        try:
            return sql(query, role)
        except RuntimeError as e:
            if "deadlock detected" not in str(e) or i == tries - 1:
                raise
            time.sleep(0.2)


def sql_value(query, role="super"):
    rows = sql(query, role)
    return rows[0][0] if rows else None


def truncate_predictions():
    """Empties the raw rows and, with them, every rollup level."""
    # A running janitor folds again from the first row written after this.
    sql("DO $$ BEGIN EXECUTE 'TRUNCATE app.prediction_metrics, ' || "
        "(SELECT string_agg(tbl::text, ', ') FROM app.rollup_levels()); "
        "END $$; "
        "UPDATE app.rollup_state SET watermark = NULL, folded_at = NULL")


def reset_data():
    """Empties the tables the tests write (the schema stays)."""
    truncate_predictions()
    sql("TRUNCATE app.rate_limits")
    sql("DELETE FROM app.model_routing")       # the split (docs/models.md)
    sql("TRUNCATE app.gemini_cache, app.gemini_leases")
    # Thresholds back to the migration's defaults, then no history.
    sql("DELETE FROM app.metric_thresholds WHERE model_name <> 'default'; "
        "UPDATE app.metric_thresholds SET min_confidence_warning = 0.6, "
        "min_confidence_critical = 0.4, max_inference_time_warning_ms = 200, "
        "max_inference_time_critical_ms = 500; "
        "TRUNCATE app.metric_threshold_changes")


def rollup_backfill(hours=48):
    """Rebuilds the rollups of the last hours (after rows were written by
    SQL with an older created_at, below the watermark)."""
    sql("SELECT count(*) FROM app.rollup_backfill(now() - interval "
        "'%d hours', now())" % hours)


def pg(*args):
    """tests/lib/pgcluster.sh ARGS on the suite's cluster."""
    subprocess.run([os.path.join(ROOT, "tests/lib/pgcluster.sh"),
                    args[0], os.environ["TEST_PGDIR"]] + list(args[1:]),
                   check=True, timeout=120)


def pg_start():
    pg("start", os.environ["TEST_PGPORT"])


# --------------------------------------------------------------- network

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, headers=None, raw=None,
            timeout=30, host="127.0.0.1", source=None):
    """Returns (status, headers dict lower-cased, parsed JSON or text).

    body is JSON-encoded with Content-Type application/json; raw sends
    bytes as they are (set the headers yourself); source is the local
    address to connect from (any of 127.0.0.0/8 is a distinct client)."""
    h = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if raw is not None:
        data = raw
    if headers:
        h.update(headers)
    c = http.client.HTTPConnection(
        host, port, timeout=timeout,
        source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        text = payload.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return r.status, hdrs, parsed
    finally:
        c.close()


def health_back(port, seconds=10, streak=3):
    """After a database restart: polls GET /health until `streak` 200s in
    a row or `seconds` pass.  Until then a worker can still answer 503: its
    breaker stays open until the next probe (DB_BREAKER_MS), and each
    pooled connection that died with the restart fails its first query.
    Returns (back, statuses seen, seconds taken)."""
    seen = []
    t0 = time.time()
    while time.time() - t0 < seconds:
        seen.append(request(port, "GET", "/health")[0])
        if seen[-streak:] == [200] * streak:
            return True, seen, time.time() - t0
        time.sleep(0.05)
    return False, seen, time.time() - t0


def predict(port, text="I love this product", **kw):
    return request(port, "POST", "/predict", body={"text": text}, **kw)


def prom(port, name):
    """The value of an unlabelled series in /metrics/prometheus, or None."""
    _, _, text = request(port, "GET", "/metrics/prometheus")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def rows_for(client):
    """Rows of app.prediction_metrics recorded for client."""
    return int(sql_value("SELECT count(*) FROM app.prediction_metrics "
                         "WHERE client_ip = '%s'" % client))


# ---------------------------------------------------------------- server

class Server:
    """One Kore instance serving our module.

    env: settings (strings) on top of the test defaults; sanitize: serve
    build/san/app.so under ASan + UBSan (default) or build/app.so; cwd:
    where kore runs (default the repository; its relative paths, the
    module's and the files read at start, resolve there)."""

    def __init__(self, name, env=None, sanitize=True, port=None, cwd=None):
        self.name = name
        self.cwd = cwd or ROOT
        self.port = port or free_port()
        self.sanitize = sanitize and not WRAPPER
        self.env = {
            "ENV_FILE": "",
            "DATABASE_URL": db_url("app"),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "WORKERS": "2",
            "RATE_LIMIT_PREDICT_PER_MINUTE": "100000",
            "RATE_LIMIT_ANALYZE_PER_MINUTE": "100000",
            "ACCESS_LOG": "",
        }
        self.env.update(env or {})
        self.proc = None
        self.log = os.path.join(OUT, "server-%s-%d.log" % (name, self.port))
        self.rundir = os.path.join(ROOT, "build", "run-test")

    def render(self):
        """Renders the runtime kore.conf (self.conf) with build/conftool,
        as make serve does; returns the environment to run kore with."""
        os.makedirs(self.rundir, exist_ok=True)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("TEST_") or k in ("PGPASSWORD",):
                env.pop(k)
        env.update(self.env)
        r = subprocess.run([os.path.join(ROOT, "build/conftool"), "render",
                            os.path.join(ROOT, "kore.conf"), self.rundir],
                           env=env, cwd=ROOT, capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("conftool: " + r.stderr)
        conf = self.conf = r.stdout.strip()
        if self.sanitize:
            with open(conf) as f:
                text = f.read()
            text = text.replace("./build/app.so", "./build/san/app.so")
            with open(conf, "w") as f:
                f.write(text)
            env["LD_PRELOAD"] = subprocess.run(
                ["gcc", "-print-file-name=libasan.so"],
                capture_output=True, text=True).stdout.strip()
            env["ASAN_OPTIONS"] = ("detect_leaks=0:abort_on_error=1:"
                                   "halt_on_error=1")
            env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
        return env

    def start(self, wait=True):
        env = self.render()
        conf = self.conf
        self.logf = open(self.log, "ab")
        self.log_mark = self.logf.tell()
        # As make serve: with RUN_AS the workers drop to that user.
        flags = ["-f", "-n"] + ([] if self.env.get("RUN_AS") else ["-r"])
        self.proc = subprocess.Popen(
            WRAPPER + ["kore", "-c", conf] + flags, cwd=self.cwd, env=env,
            stdout=self.logf, stderr=subprocess.STDOUT,
            start_new_session=True)
        _servers.append(self)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout * WRAP_SLOW
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server %s exited with %s; see %s" % (
                    self.name, self.proc.returncode, self.log))
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                # The port opens before the workers run init().
                st, _, _ = request(self.port, "GET", "/", timeout=5)
                if st == 200 and self.workers_started():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server %s not ready; see %s" % (self.name,
                                                            self.log))

    def workers_started(self):
        """Whether every worker of this start has logged that it started.
        One worker can answer while another is still starting on a busy
        machine, and Kore 4.1 never stops a worker that starts after the
        parent got SIGTERM (stop() would wait for it in vain)."""
        want = self.env.get("WORKERS", "")
        if not want.isdigit():
            return True
        with open(self.log, "rb") as f:
            f.seek(self.log_mark)
            text = f.read().decode("utf-8", "replace")
        got = set(re.findall(r"^\[wrk (\d+)\]: worker \d+ started", text,
                             re.M))
        return len(got) >= int(want)

    def pids(self):
        """The parent's pid and its workers' pids."""
        r = subprocess.run(["ps", "-o", "pid=", "--ppid",
                            str(self.proc.pid)], capture_output=True,
                           text=True)
        return [self.proc.pid] + [int(p) for p in r.stdout.split()]

    def stop(self, sig=signal.SIGTERM):
        """SIGTERM and wait.  Under ASan a worker that used libcurl can
        hang in exit() (p11-kit's destructor waits on glibc's locale
        lock), so the sanitized build gets 3 s before SIGKILL; the plain
        build must exit by itself."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout=3 if self.sanitize else
                               20 * WRAP_SLOW)
            except subprocess.TimeoutExpired:
                if not self.sanitize:
                    ok(False, "server %s exits on SIGTERM" % self.name)
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None
        self.logf.close()
        if self in _servers:
            _servers.remove(self)
        self.forget_conf()
        self.check_log()

    def kill9(self):
        """SIGKILL the parent and every worker at once."""
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.proc = None
        self.logf.close()
        if self in _servers:
            _servers.remove(self)
        self.forget_conf()

    def forget_conf(self):
        """Removes the rendered config (start() renders it again) and the
        pidfile it names, which a server killed before it could clean up
        leaves behind."""
        conf = getattr(self, "conf", None)
        if not conf or not os.path.exists(conf):
            return
        with open(conf) as f:
            for line in f:
                word = line.split()
                if len(word) == 2 and word[0] == "pidfile":
                    path = os.path.join(self.cwd, word[1])
                    if os.path.exists(path):
                        os.unlink(path)
        os.unlink(conf)

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def check_log(self):
        text = self.log_text()
        bad = [m for m in ("ERROR: AddressSanitizer", "runtime error:",
                           "sandbox violation", "died from",
                           "exited with status")
               if m in text]
        ok(not bad, "server %s: no sanitizer reports, seccomp kills, "
           "worker deaths or fatal exits in its log" % self.name,
           "found %s in %s" % (bad, self.log))


def _cleanup():
    for s in list(_servers):
        try:
            if s.proc is not None and s.proc.poll() is None:
                os.killpg(s.proc.pid, signal.SIGKILL)
                s.proc.wait()
            s.forget_conf()
        except OSError:
            pass


atexit.register(_cleanup)
