"""test_compose.py: the image and docker/docker-compose.yml, built and run.

What a user gets from `make compose-up`, with Podman as the engine
(tests/containers/podman.py) and stand-ins for the two official images
(tests/containers/postgres, tests/containers/pgadmin; docs/containers.md
says what they leave unverified):

- the server image builds from docker/Dockerfile, without a compiler,
  npm or -dev packages in it (sizes printed);
- docker-compose brings up db, pgadmin and modelserver with a .env made
  the way `make compose-up` makes it; the database gets its roles and
  passwords from that .env; the entrypoint migrates as the owner and
  serves as the app role, as uid 10001, with Kore's seccomp sandbox;
  /health and POST /predict through the published port, the row read
  back through the database's published port; pgAdmin's servers.json and
  pgpass log the analyst in;
- the image's HEALTHCHECK turns unhealthy when the database stops and
  healthy again when it is back; `restart modelserver`, and `down` then
  `up`, keep the data; `down -v` removes it.

Everything it makes carries a name of its own (compose project, image
tags, free published ports) and is removed at the end, pass or fail; the
Podman service it starts is stopped by PID.  Kept between runs, so the
next run is fast: the debootstrap rootfs (build/containers/), the base
image localhost/debian:bookworm-slim and Podman's layer cache, the
run's images without their names (layers unused for a few days are
pruned; `make test-containers-clean` removes it all).
"""
import atexit
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "http"))
sys.path.insert(0, HERE)

import podman   # noqa: E402
from lib import OUT, ROOT, diag, done, eq, free_port, ok, request  # noqa

COMPOSE = os.path.join(ROOT, "docker", "docker-compose.yml")
T0 = time.time()

why = podman.prerequisites()
if why:
    print("1..0 # SKIP Podman cannot run here: %s (make test-deps "
          "installs the packages)" % "; ".join(why))
    sys.exit(0)

run_id = "%d%s" % (os.getpid(), secrets.token_hex(3))
project = "mstest" + run_id
tmp = tempfile.mkdtemp(prefix="modelserver-containers.")
os.chmod(tmp, 0o755)
engine = podman.Engine(tmp, project)
tags = {name: "localhost/modelserver-test-%s:%s" % (name, run_id)
        for name in ("server", "postgres", "pgadmin")}
log = open(os.path.join(OUT, "containers-%s.log" % run_id), "w")
state = {"up": False, "builds": [], "before": set()}


def build_containers():
    """Buildah's working containers (a build's, while it runs)."""
    r = engine.podman("ps", "-a", "--external", "--format",
                      "{{.ID}} {{.Status}}")
    return [l.split()[0] for l in r.stdout.splitlines()
            if l.split()[1:] == ["Storage"]]


def say(msg):
    """A figure worth seeing in make test's output: prove shows stderr."""
    diag(msg)
    sys.stderr.write("# %s\n" % msg)
    sys.stderr.flush()


def compose(*args, timeout=300):
    r = podman.run(["docker-compose", "-p", project, "--env-file", envfile,
                    "-f", COMPOSE, "-f", override] + list(args),
                   env=engine.env, timeout=timeout)
    log.write("$ docker-compose %s\n%s%s\n" % (" ".join(args), r.stdout,
                                               r.stderr))
    log.flush()
    return r


def cleanup():
    """Whatever happened: the project's containers, volumes, network,
    the run's images, then the service, then tmp."""
    try:
        # A build still running would tag its image after we are gone;
        # stopped, it leaves its working containers (status "Storage").
        killed = False
        for proc in state["builds"]:
            if proc.poll() is None:
                killed = True
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if killed:
            for c in set(build_containers()) - state["before"]:
                engine.podman("rm", "-f", c)
        if state["up"]:
            compose("down", "-v", "--remove-orphans", "-t", "5",
                    timeout=180)
        label = "label=com.docker.compose.project=" + project
        for kind in ("container", "volume", "network"):
            args = ["ls", "-q"] if kind != "container" else ["ps", "-aq"]
            r = engine.podman(kind, *args, "--filter", label)
            ids = r.stdout.split()
            if ids:
                engine.podman(kind, "rm", "-f", *ids)
        # The names go; the layers stay as Podman's build cache (rmi
        # would delete them), except those older than CACHE_HOURS.
        for tag in tags.values():
            if engine.podman("image", "exists", tag).returncode == 0:
                engine.podman("untag", tag)
        engine.prune_cache()
    finally:
        engine.close()
        shutil.rmtree(tmp, ignore_errors=True)
        log.close()


atexit.register(cleanup)
# SIGTERM (prove interrupted, CI's timeout): through atexit as well.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

problem = engine.check()
if problem:
    print("1..0 # SKIP Podman cannot run here: " + problem)
    sys.exit(0)

# ---- images: the base, the stand-ins, the server --------------------------
try:
    secs, how = engine.base_image(log)
except (RuntimeError, subprocess.TimeoutExpired) as e:
    ok(False, "the base image debian:bookworm-slim, made locally", e)
    done()
say("base image %s: %s (%.1f s)" % (podman.BASE_TAG, how, secs))


def build(tag, context, dockerfile=None):
    args = ["podman", "build", "--format", "docker", "--network=host",
            "--pull=never", "-t", tag]
    if dockerfile:
        args += ["-f", dockerfile]
    proc = subprocess.Popen(args + [context], env=engine.env, stdout=log,
                            stderr=subprocess.STDOUT)
    state["builds"].append(proc)
    return proc


state["before"] = set(build_containers())
t0 = time.time()
# At once: the stand-ins mostly wait for the Debian archive, the server's
# build for the compiler.
builds = {"server": build(tags["server"], ROOT,
                          os.path.join(ROOT, "docker", "Dockerfile")),
          "postgres": build(tags["postgres"], os.path.join(HERE, "postgres")),
          "pgadmin": build(tags["pgadmin"], os.path.join(HERE, "pgadmin"))}
codes = {}
for name, proc in builds.items():
    try:
        codes[name] = proc.wait(timeout=900)
    except subprocess.TimeoutExpired:
        proc.kill()
        codes[name] = proc.wait()
t_build = time.time() - t0
if not ok(all(c == 0 for c in codes.values()),
          "the server image and the two stand-ins build (%.1f s)" % t_build,
          "exit codes %r; the log: %s" % (codes, log.name)):
    done()


def image_mb(tag):
    r = engine.podman("image", "inspect", "--format", "{{.Size}}", tag)
    return int(r.stdout.strip() or 0) / 1e6


size = image_mb(tags["server"])
say("image sizes: server %.0f MB, postgres stand-in %.0f MB, pgAdmin "
     "stand-in %.0f MB" % (size, image_mb(tags["postgres"]),
                           image_mb(tags["pgadmin"])))
r = engine.podman("run", "--rm", "--network=none", "--entrypoint", "/bin/sh",
                  tags["server"], "-c",
                  "for c in cc gcc npm node; do command -v $c; done; "
                  "dpkg-query -W -f '${Package}\\n' | grep -e '-dev$'; "
                  "kore -v", timeout=120)
lines = r.stdout.splitlines()
ok(lines and lines[-1].startswith("4.1") and len(lines) == 1,
   "the image has kore (%s) but no compiler, npm, node or -dev package"
   % (lines[-1] if lines else "?"), r.stdout + r.stderr)

# ---- the .env, made as `make compose-up` makes it -------------------------
envfile = os.path.join(tmp, ".env")
r = podman.run([os.path.join(ROOT, "tests/lib/envfile.sh"),
                os.path.join(ROOT, ".env.example"), envfile])
r2 = podman.run([os.path.join(ROOT, "docker/envsecrets.sh"), envfile])
if not ok(r.returncode == 0 and r2.returncode == 0,
          ".env from .env.example, passwords from docker/envsecrets.sh",
          r.stderr + r2.stderr):
    done()
ports = {"PUBLISH_HTTP_PORT": free_port(), "PUBLISH_PGADMIN_PORT": free_port(),
         "PUBLISH_POSTGRES_PORT": free_port()}
with open(envfile, "a") as f:
    f.write("COMPOSE_PROJECT_NAME=%s\n" % project)
    for k, v in ports.items():
        f.write("%s=%d\n" % (k, v))
env = {}
for line in open(envfile):
    m = re.match(r"([A-Z_][A-Z0-9_]*)=(.*)$", line.rstrip("\n"))
    if m:
        env[m.group(1)] = m.group(2)
HTTP = ports["PUBLISH_HTTP_PORT"]
PGPORT = ports["PUBLISH_POSTGRES_PORT"]
# The project's compose file as it is, with this run's image tags.
override = os.path.join(tmp, "override.yml")
with open(override, "w") as f:
    f.write("services:\n  db:\n    image: %s\n  pgadmin:\n    image: %s\n"
            "  modelserver:\n    image: %s\n"
            % (tags["postgres"], tags["pgadmin"], tags["server"]))


def psql(role, query, password=None):
    """query through the database's published port, as role."""
    pw = password if password is not None else env[
        {"postgres": "POSTGRES_PASSWORD",
         "modelserver": "MODELSERVER_PASSWORD",
         "modelserver_app": "MODELSERVER_APP_PASSWORD",
         "modelserver_analyst": "MODELSERVER_ANALYST_PASSWORD"}[role]]
    return podman.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-w",
                       "-h", "127.0.0.1", "-p", str(PGPORT), "-U", role,
                       "-d", "modelserver", "-c", query],
                      env={"PATH": os.environ["PATH"], "PGPASSWORD": pw,
                           "PGCONNECT_TIMEOUT": "5"}, timeout=60)


def cid(service):
    return compose("ps", "-q", service).stdout.strip()


def health(service):
    c = cid(service)
    if not c:
        return "no container"
    r = engine.podman("inspect", "--format", "{{.State.Health.Status}}", c)
    return r.stdout.strip() or r.stderr.strip()


def wait_health(service, want, timeout):
    """Polls until the container's health is want; returns the seconds
    it took, or None."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if health(service) == want:
            return time.time() - t0
        time.sleep(1)
    return None


def predict(text):
    try:
        st, _, body = request(HTTP, "POST", "/predict", body={"text": text},
                              timeout=20)
    except OSError as e:
        return None, str(e)
    return st, body


def rows():
    r = psql("postgres", "SELECT count(*) FROM app.prediction_metrics")
    return r.stdout.strip() if r.returncode == 0 else r.stderr.strip()


# ---- up ------------------------------------------------------------------
try:
    engine.start(log)
except RuntimeError as e:
    ok(False, "podman system service answers on its socket", e)
    done()
t0 = time.time()
state["up"] = True
r = compose("up", "-d", "--no-build", timeout=400)
t_up = time.time() - t0
if not ok(r.returncode == 0, "docker-compose up -d: db healthy, then "
          "pgadmin and modelserver started (%.1f s)" % t_up,
          r.stderr[-3000:]):
    done()
t_healthy = wait_health("modelserver", "healthy", 180)
ok(t_healthy is not None, "the server container turns healthy (%.1f s "
   "after up)" % (t_healthy or -1),
   compose("logs", "--tail=40", "modelserver").stdout)
say("timings: build %.1f s, up %.1f s, healthy %.1f s later"
     % (t_build, t_up, t_healthy or -1))

# ---- the database: roles and passwords from .env ---------------------------
got = {}
for role in ("postgres", "modelserver", "modelserver_app",
             "modelserver_analyst"):
    r = psql(role, "SELECT current_user")
    got[role] = r.stdout.strip() or r.stderr.strip()
eq(got, {k: k for k in got}, "every role logs in with its password from "
   ".env, over the published port")
r = psql("modelserver_app", "SELECT 1", password="not-" + secrets.token_hex(4))
ok(r.returncode != 0 and "password authentication failed" in r.stderr,
   "a wrong password is refused", r.stderr)
r = psql("postgres", "SELECT string_agg(rolname || ':' || rolsuper, ',' "
         "ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'modelserver%'; "
         "SELECT pg_get_userbyid(datdba) FROM pg_database "
         "WHERE datname = 'modelserver'")
eq(r.stdout.split(), ["modelserver:false,modelserver_analyst:false,"
                      "modelserver_app:false", "modelserver"],
   "docker/initdb made three unprivileged roles; modelserver owns the "
   "database")

# ---- the server: migrated as the owner, serving as the app role ------------
slog = compose("logs", "--no-color", "modelserver").stdout
m = re.search(r"migrate: (\d+) new migration\(s\)", slog)
nmig = len([f for f in os.listdir(os.path.join(ROOT, "migrations"))
            if f.endswith(".sql")])
eq(m and int(m.group(1)), nmig, "the entrypoint applied the %d migrations"
   % nmig)
r = psql("postgres", "SELECT string_agg(DISTINCT tableowner, ',') FROM "
         "pg_tables WHERE schemaname = 'app'; SELECT count(*) FROM "
         "app.schema_migrations")
eq(r.stdout.split(), ["modelserver", str(nmig)],
   "... as the schema owner modelserver (every table is its), all recorded")
ok("seccomp sandbox enabled" in slog and "will not change user" in slog,
   "kore keeps the container's user (-r) with its seccomp sandbox on",
   slog[-2000:])
# Per kore process: uid and seccomp mode.  (Not its environment: kore
# writes its process titles over that memory, so /proc/PID/environ no
# longer shows it.)
r = engine.podman("exec", cid("modelserver"), "sh", "-c",
                  "for p in /proc/[0-9]*; do "
                  "[ \"$(cat $p/comm)\" = kore ] || continue; "
                  "awk '/^Uid:/ {u=$2} /^Seccomp:/ {s=$2} "
                  "END {print u \":\" s}' $p/status; done")
procs = r.stdout.split()
ok(len(procs) >= 3 and set(procs) == {"10001:2"},
   "kore's parent and workers run as uid 10001 with a seccomp filter",
   r.stdout + r.stderr)

# ---- /health, /predict through the published port --------------------------
st, _, body = request(HTTP, "GET", "/health", timeout=20)
ok(st == 200 and body.get("status") == "healthy" and
   body.get("database", {}).get("status") == "up",
   "GET /health on the published port: 200, healthy, database up", body)
st = [request(HTTP, "GET", p, timeout=20)[0]
      for p in ("/docs", "/docs/swagger-ui-bundle.js", "/openapi.json")]
eq(st, [200, 200, 200], "GET /docs, its script and /openapi.json: 200 (the "
   "docs page built in the build stage made it into the image)")
text = "containers built and run for real " + run_id
st, body = predict(text)
pid = body.get("prediction_id") if isinstance(body, dict) else None
eq(st, 200, "POST /predict on the published port: 200")
r = psql("modelserver_analyst", "SELECT count(*) FROM "
         "app.prediction_metrics WHERE prediction_id = '%s'"
         % (pid if pid and re.fullmatch(r"[0-9a-f-]{36}", pid) else
            "00000000-0000-0000-0000-000000000000"))
eq(r.stdout.strip(), "1", "its row is in the database (read as the "
   "analyst through the published port)")
r = psql("postgres", "SELECT DISTINCT usename FROM pg_stat_activity WHERE "
         "datname = 'modelserver' AND backend_type = 'client backend' AND "
         "pid <> pg_backend_pid() AND usename <> 'modelserver_analyst'")
eq(r.stdout.split(), ["modelserver_app"], "the server is connected as "
   "modelserver_app only")

# ---- pgAdmin: servers.json and the pgpass log the analyst in ----------------
try:
    st, _, body = request(ports["PUBLISH_PGADMIN_PORT"], "GET",
                          "/standin/check", timeout=40)
except OSError as e:
    st, body = None, str(e)
eq((st, body), (200, [{"name": "modelserver", "ok": True,
                       "user": "modelserver_analyst",
                       "database": "modelserver"}]),
   "pgAdmin's registered server logs in as modelserver_analyst with the "
   "pgpass its entrypoint wrote")

# ---- HEALTHCHECK follows the database ---------------------------------------
r = compose("stop", "db")
ok(r.returncode == 0, "docker-compose stop db", r.stderr)
secs = wait_health("modelserver", "unhealthy", 150)
ok(secs is not None, "with the database stopped the server container "
   "turns unhealthy (%.1f s)" % (secs or -1), health("modelserver"))
st, body = predict("while the database is down")
eq(st, 503, "... and POST /predict answers 503 (no row lost unsaid)")
r = compose("start", "db")
ok(r.returncode == 0, "docker-compose start db", r.stderr)
secs = wait_health("modelserver", "healthy", 150)
ok(secs is not None, "with the database back it turns healthy again "
   "(%.1f s)" % (secs or -1), health("modelserver"))
st, body = predict("after the database came back")
eq(st, 200, "... and POST /predict answers 200 again")
before = rows()
ok(before.isdigit() and int(before) == 2, "two rows now", before)

# ---- restart, down/up: the data stays; down -v: it goes --------------------
r = compose("restart", "modelserver")
secs = wait_health("modelserver", "healthy", 150)
slog = compose("logs", "--no-color", "--tail=60", "modelserver").stdout
ok(r.returncode == 0 and secs is not None and
   "migrate: 0 new migration(s)" in slog,
   "docker-compose restart modelserver: healthy again, nothing to migrate",
   r.stderr + slog[-1500:])
eq(rows(), before, "... and the rows are kept")

r = compose("down", "-t", "10")
left = engine.podman("ps", "-aq", "--filter",
                     "label=com.docker.compose.project=" + project).stdout
vols = engine.podman("volume", "ls", "-q", "--filter",
                     "label=com.docker.compose.project=" + project).stdout
ok(r.returncode == 0 and not left.split() and
   "%s_pgdata" % project in vols.split(),
   "docker-compose down: the containers go, the volume pgdata stays",
   r.stderr + left + vols)
r = compose("up", "-d", "--no-build", timeout=400)
secs = wait_health("modelserver", "healthy", 180)
ok(r.returncode == 0 and secs is not None, "docker-compose up again: "
   "healthy (%.1f s)" % (secs or -1), r.stderr[-2000:])
eq(rows(), before, "... with the rows of before")
st, body = predict("after down and up")
eq(st, 200, "... and POST /predict works")

r = compose("down", "-v", "-t", "10")
vols = engine.podman("volume", "ls", "-q", "--filter",
                     "label=com.docker.compose.project=" + project).stdout
nets = engine.podman("network", "ls", "-q", "--filter",
                     "label=com.docker.compose.project=" + project).stdout
ok(r.returncode == 0 and not vols.split() and not nets.split(),
   "docker-compose down -v: the volumes and the network are removed",
   r.stderr + vols + nets)
state["up"] = False
say("total %.1f s" % (time.time() - T0))
done()
