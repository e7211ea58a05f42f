"""scale_lib.py: what the scale-out tests (scale_*.py) share on top of lib.

- Load: threads posting /predict on keep-alive connections until stopped,
  keeping every outcome (status or exception name, prediction_id, time).
- missing(): the acknowledged prediction_ids a database does not hold.
- Cluster: an extra PostgreSQL cluster in a mktemp -d directory on a free
  loopback port (tests/lib/pgcluster.sh), as a primary (roles, migrations)
  or as a streaming standby of one (pg_basebackup); stopped at exit, by
  pg_ctl or by the postmaster's PID, pass or fail.
- Proc: a helper process (PgBouncer, HAProxy) stopped by PID at exit.
"""
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from lib import ROOT, OUT, free_port

PGCLUSTER = os.path.join(ROOT, "tests/lib/pgcluster.sh")
PGBIN = "/usr/lib/postgresql/15/bin"
BODY = json.dumps({"text": "a steady stream of fairly happy text"})

_clusters = []
_procs = []


def wait_for(pred, timeout, step=0.05):
    """Polls pred() until it is true or timeout seconds pass."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(step)
    return False


class Load:
    """Threads posting /predict until stopped (a with block).

    ports: one port or a list (each thread sticks to one); headers: extra
    request headers, or a function of the thread's index returning them.
    Every outcome is kept in results: (status or exception name,
    prediction_id or None, wall time of the answer, port)."""

    def __init__(self, ports, threads=8, headers=None, timeout=15):
        self.ports = ports if isinstance(ports, list) else [ports]
        self.headers = headers
        self.timeout = timeout
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(threads)]

    def run(self, idx):
        port = self.ports[idx % len(self.ports)]
        h = {"Content-Type": "application/json"}
        if callable(self.headers):
            h.update(self.headers(idx))
        elif self.headers:
            h.update(self.headers)
        conn = None
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(
                        "127.0.0.1", port, timeout=self.timeout)
                conn.request("POST", "/predict", body=BODY, headers=h)
                r = conn.getresponse()
                data = r.read()
                pid = None
                if r.status == 200:
                    pid = json.loads(data)["prediction_id"]
                out = (r.status, pid, time.time(), port)
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                out = (type(e).__name__, None, time.time(), port)
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.01)
            with self.lock:
                self.results.append(out)
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)

    def snapshot(self):
        with self.lock:
            return list(self.results)

    def ok_ids(self):
        return [r[1] for r in self.snapshot() if r[0] == 200]

    def kinds(self, since=0.0, until=None):
        """{status or exception name: count} of answers in [since, until)."""
        out = {}
        for r in self.snapshot():
            if r[2] >= since and (until is None or r[2] < until):
                out[str(r[0])] = out.get(str(r[0]), 0) + 1
        return out


def missing(ids, query):
    """The ids of ids that query(sql) (a function returning rows) does
    not find in app.prediction_metrics."""
    if not ids:
        return []
    found = set()
    for i in range(0, len(ids), 2000):
        chunk = ids[i:i + 2000]
        rows = query("SELECT prediction_id FROM app.prediction_metrics "
                     "WHERE prediction_id = ANY ('{%s}'::uuid[])" %
                     ",".join(chunk))
        found.update(r[0] for r in rows)
    return [x for x in ids if x not in found]


def as_postgres(cmd, **kw):
    """Runs cmd as the clusters' owner (root runs clusters as postgres)."""
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    return subprocess.run(cmd, cwd="/", check=True, timeout=120, **kw)


class Cluster:
    """A PostgreSQL 15 cluster of our own on a free loopback port.

    Cluster("name").primary(extra) initdb's it with our roles and schema;
    Cluster("name").standby_of(primary, extra) copies a primary with
    pg_basebackup and follows it by streaming replication.  extra: server
    options (-c name=value ...)."""

    def __init__(self, name):
        self.name = name
        self.base = tempfile.mkdtemp(prefix="modelserver-%s." % name)
        os.chmod(self.base, 0o755)
        self.dir = os.path.join(self.base, "pg")
        self.port = free_port()
        self.extra = ""
        _clusters.append(self)

    def _pgc(self, *args, env=None):
        e = dict(os.environ)
        e["PGEXTRA"] = self.extra
        e.update(env or {})
        subprocess.run([PGCLUSTER, args[0], self.dir] + list(args[1:]),
                       check=True, timeout=120, env=e)

    def start(self):
        self._pgc("start", str(self.port))
        return self

    def primary(self, extra=""):
        self.extra = extra
        self.start()
        self._pgc("bootstrap", str(self.port))
        r = subprocess.run(
            [os.path.join(ROOT, "migrations/migrate.sh")],
            env=dict(os.environ, MIGRATE_DATABASE_URL=self.url("owner"),
                     ENV_FILE="/dev/null"),
            capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("migrate: " + r.stderr)
        return self

    def standby_of(self, primary, extra=""):
        """Copies primary (pg_basebackup over its Unix socket, WAL
        streamed) and starts as a hot standby named self.name: the name
        synchronous_standby_names lists."""
        self.extra = extra
        self.primary_of = primary
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(os.path.join(self.dir, "run"), "postgres",
                         "postgres")
        data = os.path.join(self.dir, "data")
        as_postgres([PGBIN + "/pg_basebackup", "-h",
                     os.path.join(primary.dir, "run"), "-p",
                     str(primary.port), "-U", "postgres", "-D", data,
                     "-X", "stream", "-c", "fast"])
        conninfo = ("host=%s port=%d user=postgres application_name=%s" %
                    (os.path.join(primary.dir, "run"), primary.port,
                     self.name))
        as_postgres(["sh", "-c", "touch %s/standby.signal && "
                     "echo \"primary_conninfo = '%s'\" >> "
                     "%s/postgresql.auto.conf" % (data, conninfo, data)])
        # The roles' passwords are the primary's.
        shutil.copy(os.path.join(primary.dir, "credentials"),
                    os.path.join(self.dir, "credentials"))
        return self.start()

    def url(self, role):
        r = subprocess.run([PGCLUSTER, "url", self.dir, str(self.port),
                            role], check=True, capture_output=True,
                           text=True, timeout=30)
        return r.stdout.strip()

    def sql(self, query, timeout=60):
        """Rows of query as the superuser (over the Unix socket)."""
        r = subprocess.run(["psql", self.url("super"), "-X", "-q", "-At",
                            "-F", "\t", "-v", "ON_ERROR_STOP=1", "-f", "-"],
                           input=query, capture_output=True, text=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("psql on %s: %s" % (self.name,
                                                   r.stderr.strip()))
        return [ln.split("\t") for ln in r.stdout.splitlines() if ln]

    def value(self, query):
        rows = self.sql(query)
        return rows[0][0] if rows else None

    def promote(self):
        as_postgres([PGBIN + "/pg_ctl", "-D",
                     os.path.join(self.dir, "data"), "-w", "-t", "60",
                     "promote"], stdout=subprocess.DEVNULL)

    def kill9(self):
        self._pgc("kill")

    def stop(self):
        try:
            self._pgc("stop", "immediate")
        except (subprocess.SubprocessError, OSError):
            self.kill9()

    def remove(self):
        log = os.path.join(self.dir, "server.log")
        if os.path.exists(log):
            shutil.copy(log, os.path.join(OUT, "postgres-%s.log" %
                                          self.name))
        shutil.rmtree(self.base, ignore_errors=True)
        if self in _clusters:
            _clusters.remove(self)


class Proc:
    """A helper process started by the test, stopped by its PID."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.log = os.path.join(OUT, "%s.log" % name)
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        _procs.append(self)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        if self in _procs:
            _procs.remove(self)


def _cleanup():
    for p in list(_procs):
        try:
            p.stop(signal.SIGKILL)
        except OSError:
            pass
    for c in list(_clusters):
        try:
            c.stop()
        except Exception:		# noqa: BLE001 (best effort at exit)
            pass
        c.remove()


atexit.register(_cleanup)
