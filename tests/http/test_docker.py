"""test_docker.py: docker/ checked without a container engine.

tests/containers/test_compose.py builds and runs it all with Podman where
Podman can run; this checks, on any machine, what needs no engine:

- Compose: Debian's docker-compose renders docker/docker-compose.yml from
  a .env made the way `make compose-up` makes it (envsecrets.sh), and
  refuses one with empty passwords; every ${VAR} is in .env.example; every
  published port binds 127.0.0.1; no secret is written in compose, the
  Dockerfile or servers.json; every setting of src/config.c reaches the
  server container with .env.example's default.
- The Dockerfile builds with `make all` in a build stage; the image has
  no compiler, npm or -dev package, and starts docker/entrypoint.sh,
  which runs `make migrate` then `make serve`.
- The containers' scripts run for real, here: docker/initdb/10-roles.sh
  creates the roles in a new cluster (as the postgres image would); the
  tree the Dockerfile copies is built with its `make all`; the entrypoint
  runs as an unprivileged user with the server container's environment
  (from the rendered compose file, the host `db` replaced by this cluster)
  and serves; the Dockerfile's HEALTHCHECK command passes; the server
  holds no owner password; SIGTERM stops it (docker stop).  pgAdmin's
  entrypoint writes the analyst's pgpass, which logs in read-only.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from lib import OUT, ROOT, diag, done, eq, free_port, ok, request

try:
    import yaml     # python3-yaml: a dependency of Debian's docker-compose
except ImportError:
    yaml = None

DOCKER = os.path.join(ROOT, "docker")
COMPOSE = os.path.join(DOCKER, "docker-compose.yml")
DOCKERFILE = os.path.join(DOCKER, "Dockerfile")
ENTRYPOINT = os.path.join(DOCKER, "entrypoint.sh")
SECRETISH = re.compile(r"(PASSWORD|TOKEN|SECRET|_KEY)$")
# Server settings compose sets itself instead of taking them from .env.
FIXED = {"DATABASE_URL": None, "MIGRATE_DATABASE_URL": None,
         "HTTP_HOST": "0.0.0.0", "HTTP_PORT": "8000", "RUN_AS": ""}

tmp = tempfile.mkdtemp(prefix="modelserver-docker.")
os.chmod(tmp, 0o755)
cleanup = {}


def _cleanup():
    """Whatever happened: the entrypoint's processes, the cluster, tmp."""
    proc = cleanup.get("proc")
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if "pgdir" in cleanup:
        subprocess.run([os.path.join(ROOT, "tests/lib/pgcluster.sh"), "stop",
                        cleanup["pgdir"], "immediate"], timeout=120,
                       capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)


atexit.register(_cleanup)


def read(path):
    with open(path) as f:
        return f.read()


def envfile_vars(path):
    """NAME -> value of every NAME=value line (the last one wins)."""
    out = {}
    for line in read(path).splitlines():
        m = re.match(r"\s*([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def run(args, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(args, **kw)


def compose_config(envfile):
    """docker-compose config with only envfile (no inherited variables)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
    return run(["docker-compose", "--env-file", envfile, "-f", COMPOSE,
                "config"], env=env)


example = envfile_vars(os.path.join(ROOT, ".env.example"))
config_vars = re.findall(r'\{ "([A-Z][A-Z0-9_]*)", CONFIG_',
                         read(os.path.join(ROOT, "src", "config.c")))
ok(len(config_vars) > 20, "read the settings table of src/config.c",
   config_vars)

# ---- compose renders with a .env made like `make compose-up` makes it ----
if not ok(shutil.which("docker-compose") and yaml is not None,
          "docker-compose and python3-yaml are installed (make deps)"):
    done()

envfile = os.path.join(tmp, ".env")
r = run([os.path.join(ROOT, "tests/lib/envfile.sh"),
         os.path.join(ROOT, ".env.example"), envfile])
r2 = run([os.path.join(DOCKER, "envsecrets.sh"), envfile])
ok(r.returncode == 0 and r2.returncode == 0,
   ".env from .env.example, passwords from docker/envsecrets.sh",
   r.stderr + r2.stderr)
env = envfile_vars(envfile)
generated = {k: v for k, v in env.items()
             if k.endswith("PASSWORD") and example.get(k) == ""}
ok(len(generated) >= 5 and
   all(re.fullmatch(r"[0-9a-f]{48}", v) for v in generated.values()),
   "envsecrets.sh filled every empty password with 48 hex digits",
   sorted(generated))
ok(os.stat(envfile).st_mode & 0o077 == 0, "the .env is private (0600)",
   oct(os.stat(envfile).st_mode))
before = read(envfile)
run([os.path.join(DOCKER, "envsecrets.sh"), envfile])
eq(read(envfile), before, "envsecrets.sh never changes a password set")

r = compose_config(envfile)
if not ok(r.returncode == 0, "docker-compose config accepts the compose "
          "file with that .env", r.stderr):
    done()
rendered = yaml.safe_load(r.stdout)
raw = yaml.safe_load(read(COMPOSE))
services = rendered.get("services", {})
eq(sorted(services), ["db", "modelserver", "pgadmin"],
   "services: db, pgadmin, modelserver")

r = compose_config(os.path.join(ROOT, ".env.example"))
ok(r.returncode != 0 and "POSTGRES_PASSWORD" in r.stderr,
   "with .env.example's empty passwords compose refuses to start and "
   "names the variable (no default secret)", r.stderr[-400:])

# ---- every ${VAR} is documented in .env.example -------------------------
text = read(COMPOSE)
used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
ok(used and not (used - set(example)),
   "every ${VAR} of the compose file is in .env.example",
   "missing: %s" % sorted(used - set(example)))
ok(not re.search(r"\$[A-Za-z_]", text.replace("$$", "")),
   "no bare $VAR in the compose file (all ${VAR})")

# ---- ports: loopback only by default --------------------------------------
published = []
for name, svc in services.items():
    for p in svc.get("ports", []):
        if isinstance(p, dict):     # docker compose v2: long syntax
            published.append((name, p.get("host_ip"), p.get("published")))
        else:                       # docker-compose 1.x: "ip:host:ctr/tcp"
            parts = str(p).split(":")
            published.append((name, parts[0] if len(parts) == 3 else None,
                              parts[-2] if len(parts) >= 2 else None))
ok({n for n, _, _ in published} == {"db", "pgadmin", "modelserver"},
   "db, pgadmin and the server publish a port", published)
ok(published and all(ip == "127.0.0.1" for _, ip, _ in published),
   "every published port binds 127.0.0.1", published)
eq(sorted(str(p) for _, _, p in published),
   sorted([example["PUBLISH_HTTP_PORT"], example["PUBLISH_PGADMIN_PORT"],
           example["PUBLISH_POSTGRES_PORT"]]),
   "published ports are .env.example's PUBLISH_*_PORT")

# ---- database, pgAdmin, server: the wiring ------------------------------
db = services["db"]
ok(str(db.get("image", "")).startswith("postgres:15"), "db is PostgreSQL 15",
   db.get("image"))
ok(any(str(v).startswith("pgdata:/var/lib/postgresql/data")
       for v in db.get("volumes", [])) and "pgdata" in rendered["volumes"],
   "db keeps its data in the named volume pgdata", db.get("volumes"))
ok(any(str(v).endswith(":/docker-entrypoint-initdb.d:ro") and
       os.path.join(DOCKER, "initdb") in str(v)
       for v in db.get("volumes", [])),
   "docker/initdb is mounted as the image's init scripts",
   db.get("volumes"))
test = db.get("healthcheck", {}).get("test", [])
ok("pg_isready" in test and "127.0.0.1" in test,
   "db health check: pg_isready over TCP (passes after the init scripts)",
   test)
for name in ("pgadmin", "modelserver"):
    eq((services[name].get("depends_on") or {}).get("db", {}).get(
        "condition"), "service_healthy",
       "%s starts once db is healthy" % name)
ok(str(services["pgadmin"].get("image", "")).startswith("dpage/pgadmin4:"),
   "pgadmin is pgAdmin 4", services["pgadmin"].get("image"))
build = services["modelserver"].get("build", {})
eq((os.path.realpath(build.get("context", "")), build.get("dockerfile")),
   (ROOT, "docker/Dockerfile"),
   "the server is built from the repository with docker/Dockerfile")

# ---- every server setting reaches the container -------------------------
senv_raw = raw["services"]["modelserver"]["environment"]
senv = services["modelserver"]["environment"]
missing = [v for v in config_vars + ["MIGRATE_DATABASE_URL"]
           if v not in senv_raw]
ok(not missing, "every setting of src/config.c is set for the server "
   "container", "add to docker-compose.yml: %s" % missing)
wrong = []
for name in config_vars:
    if name in FIXED or name not in senv_raw:
        continue
    want = "${%s:-%s}" % (name, example.get(name, "?"))
    if senv_raw[name] != want:
        wrong.append("%s: %r, want %r" % (name, senv_raw[name], want))
ok(not wrong, "the server's settings come from .env with .env.example's "
   "defaults", "\n".join(wrong))
for name, want in FIXED.items():
    if want is not None:
        eq(str(senv.get(name)), want, "compose sets %s=%s for the server"
           % (name, want))
ok(str(senv.get("DATABASE_URL", "")).startswith(
       "postgresql://modelserver_app:") and
   str(senv.get("MIGRATE_DATABASE_URL", "")).startswith(
       "postgresql://modelserver:"),
   "the server serves as modelserver_app and migrates as modelserver")

# ---- no literal secrets --------------------------------------------------
bad, urls = [], 0
for sname, svc in raw["services"].items():
    for k, v in (svc.get("environment") or {}).items():
        v = "" if v is None else str(v)
        if SECRETISH.search(k) and v and not re.fullmatch(
                r"\$\{%s(:\?[^}]*|:-)?\}" % k, v):
            bad.append("%s.%s=%s" % (sname, k, v))
        for m in re.finditer(r"://([a-z_]+):(.+?)@[\w.-]+:\d+/", v):
            urls += 1
            if not re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", m.group(2)):
                bad.append("%s.%s has a literal password" % (sname, k))
ok(not bad and urls == 2, "compose: every secret is ${VAR} from .env, "
   "without a default (the 2 database URLs too)", (bad, urls))
dockerfile = read(DOCKERFILE)
ok(not re.search(r"^\s*(ENV|ARG)\b[^\n]*(PASSWORD|TOKEN|SECRET|API_KEY)",
                 dockerfile, re.M | re.I) and
   not re.search(r"://[^:/@\s]+:[^@\s]+@", dockerfile),
   "Dockerfile: no ENV or ARG with a secret, no URL with a password")
leaks = [k for k, v in env.items()
         if SECRETISH.search(k) and len(v) >= 8 and
         any(v in read(os.path.join(d, f))
             for d, _, fs in os.walk(DOCKER) for f in fs)]
ok(not leaks, "no generated secret appears in any file under docker/",
   leaks)
servers_json = yaml.safe_load(read(os.path.join(DOCKER, "pgadmin",
                                                "servers.json")))
srv1 = list(servers_json["Servers"].values())
ok(len(srv1) == 1 and "Password" not in srv1[0] and
   srv1[0].get("PassFile") == "/pgpass",
   "servers.json: one server, no password, PassFile /pgpass", srv1)
srv1 = srv1[0]
eq((srv1.get("Host"), srv1.get("Port"), srv1.get("MaintenanceDB"),
    srv1.get("Username")), ("db", 5432, "modelserver", "modelserver_analyst"),
   "servers.json registers db:5432/modelserver as modelserver_analyst")
ok(not [f for _, _, fs in os.walk(DOCKER) for f in fs
        if "pgpass" in f and not f.endswith(".sh")],
   "no pgpass file is committed under docker/")

# ---- Dockerfile: Debian, two stages, unprivileged, the Makefile targets ---
lines = []
for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
    if line.strip() and not line.lstrip().startswith("#"):
        lines.append(line.strip())
instr = [(l.split(None, 1)[0].upper(), l.split(None, 1)[1]) for l in lines]
froms = [i for i, (k, _) in enumerate(instr) if k == "FROM"]
eq([instr[i][1] for i in froms],
   ["debian:bookworm-slim AS build", "debian:bookworm-slim"],
   "two stages FROM debian:bookworm-slim: build, then the image")
stages = [instr[a:b] for a, b in zip(froms, froms[1:] + [len(instr)])]


def stage_runs(st):
    return " ; ".join(a for i, a in st if i == "RUN")


def stage_pkgs(st):
    m = re.search(r"apt-get install[^;&]*", stage_runs(st))
    return [p for p in (m.group(0).split()[2:] if m else [])
            if not p.startswith("-")]


runs = stage_runs(instr)
ok(all(re.search(r"apt-get install\b", stage_runs(st)) and
       "--no-install-recommends" in stage_runs(st) and
       "rm -rf /var/lib/apt/lists" in stage_runs(st) for st in stages),
   "both stages install from Debian (apt-get, no recommends, lists "
   "removed)")
ok("kore" in stage_pkgs(stages[0]),
   "kore and the libraries come from Debian", stage_pkgs(stages[0]))
ok(re.search(r"\bmake\b[^;&]*\ball\b", stage_runs(stages[0])),
   "the build stage builds with `make all`", stage_runs(stages[0]))
final = stages[-1]
user = [a for i, a in final if i == "USER"]
ok(user and user[-1].split(":")[0] not in ("0", "root"),
   "the container runs as an unprivileged user", user)
ok(any(i == "HEALTHCHECK" and "/health" in a for i, a in final),
   "HEALTHCHECK requests /health")
cmd = [a for i, a in final if i == "CMD"]
eq(cmd, ['["docker/entrypoint.sh"]'], "CMD is docker/entrypoint.sh")
# COPY from the build context (not --from=build: the built files).
copied = [a.split()[:-1] for i, a in instr
          if i == "COPY" and not a.startswith("--from")]
sources = [s for c in copied for s in c]
ok(sources and all(os.path.exists(os.path.join(ROOT, s)) for s in sources)
   and not any(s in (".", "./", ".env") for s in sources),
   "COPY takes named paths that exist (never the whole tree, never .env)",
   sources)
dests = [(a.split()[:-1], a.split()[-1]) for i, a in instr
         if i == "COPY" and not a.startswith("--from")]
ok(all(d == "./" or (len(c) == 1 and d == c[0]) for c, d in dests),
   "COPY keeps the repository's layout under WORKDIR /app", dests)
ign = [l.strip() for l in read(os.path.join(ROOT, ".dockerignore"))
       .splitlines() if l.strip() and not l.startswith("#")]
allowed = [i[1:].rstrip("/") for i in ign if i.startswith("!")]
ok(ign[:1] == ["*"] and all(any(s.rstrip("/") == a or
                                s.startswith(a + "/") for a in allowed)
                            for s in sources),
   ".dockerignore sends only what COPY takes", ign)
ep = [l for l in read(ENTRYPOINT).splitlines()
      if l.strip() and not l.lstrip().startswith("#")]
targets = [re.search(r"\bmake\b.*\b(migrate|serve)$", l) for l in ep]
eq([m.group(1) for m in targets if m], ["migrate", "serve"],
   "the entrypoint runs `make migrate`, then `make serve`")
ok(ep[-1].startswith("exec make"), "... and execs the server (signals)")
makefile = read(os.path.join(ROOT, "Makefile"))
ok(all(re.search(r"^%s:" % t, makefile, re.M)
       for t in ("all", "migrate", "serve", "compose-up")),
   "the Makefile has the targets all, migrate, serve and compose-up")
build_pkgs, pkgs = stage_pkgs(stages[0]), stage_pkgs(final)
need = {"kore", "gcc", "make"}
ok(need <= set(build_pkgs), "the build stage has kore, the compiler and "
   "make (make all)", sorted(need - set(build_pkgs)))
need = {"make", "postgresql-client-15", "python3-minimal", "curl", "tini"}
ok(need <= set(pkgs) and not [p for p in pkgs if p.endswith("-dev") or
                              p in ("gcc", "kore", "npm", "nodejs")],
   "the image has make and psql (make migrate, make serve), curl "
   "(HEALTHCHECK) and tini, and no compiler, npm or -dev package",
   (sorted(need - set(pkgs)), pkgs))
ok(any(i == "COPY" and a.startswith("--from=build /usr/bin/kore ")
       for i, a in final),
   "kore's binary comes from the build stage (its package needs -dev "
   "packages)")
eq([a for i, a in final if i == "ENTRYPOINT"], ['["/usr/bin/tini", "--"]'],
   "tini is PID 1: it forwards docker stop's SIGTERM and reaps")
pkgs = sorted(set(build_pkgs + pkgs))
r = run(["apt-cache", "policy"] + pkgs)
unknown = re.findall(r"^(\S+):\n\s+Installed: \S+\n\s+Candidate: \(none\)",
                     r.stdout, re.M)
if "Candidate:" in r.stdout:
    ok(not unknown and r.stdout.count("Candidate:") == len(pkgs),
       "every package the Dockerfile installs is in Debian 12", unknown)
else:
    ok(True, "packages of the Dockerfile # SKIP no apt lists here")

# ---- the init script, in a new cluster as the postgres image runs it ----
pgdir = os.path.join(tmp, "pg")
pgport = free_port()
pgcluster = os.path.join(ROOT, "tests/lib/pgcluster.sh")
cleanup["pgdir"] = pgdir
r = run([pgcluster, "start", pgdir, str(pgport)], timeout=120)
if not ok(r.returncode == 0, "a new PostgreSQL 15 cluster (no roles)",
          r.stderr):
    done()


def as_postgres(args, env):
    if os.getuid() == 0:
        args = ["runuser", "-u", "postgres", "--"] + args
    e = {"PATH": os.environ["PATH"], "PGHOST": os.path.join(pgdir, "run"),
         "PGPORT": str(pgport), "POSTGRES_USER": "postgres"}
    e.update(env)
    return run(args, env=e, cwd="/")


dbenv = {k: str(v) for k, v in services["db"]["environment"].items()
         if k != "POSTGRES_PASSWORD"}
# A copy the postgres user can read, as the container's mounted volume is.
init = os.path.join(tmp, "10-roles.sh")
shutil.copy2(os.path.join(DOCKER, "initdb", "10-roles.sh"), init)
r = as_postgres([init], dbenv)
r2 = as_postgres([init], dbenv)
ok(r.returncode == 0 and r2.returncode == 0,
   "docker/initdb/10-roles.sh runs, and again (idempotent)",
   r.stderr + r2.stderr)
r = as_postgres(["psql", "-X", "-At", "-d", "postgres", "-c",
                 "SELECT string_agg(rolname || ':' || rolsuper || ':' || "
                 "rolcreaterole || ':' || rolcreatedb, ',' ORDER BY rolname) "
                 "FROM pg_roles WHERE rolname LIKE 'modelserver%'; "
                 "SELECT pg_get_userbyid(datdba) FROM pg_database "
                 "WHERE datname = 'modelserver'"], {})
eq(r.stdout.split(),
   ["modelserver:false:false:false,modelserver_analyst:false:false:false,"
    "modelserver_app:false:false:false", "modelserver"],
   "three login roles without privileges; modelserver owns the database")


def local_url(url):
    """The compose URL with the host db:5432 replaced by this cluster."""
    return url.replace("@db:5432/", "@127.0.0.1:%d/" % pgport)


# ---- the image's tree, built with the Dockerfile's `make all` ------------
app = os.path.join(tmp, "app")
os.makedirs(app)
for c in copied:
    srcs, dest = [s for s in c if not s.startswith("--")], None
    for s in srcs:
        target = os.path.join(app, s.rstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(os.path.join(ROOT, s)):
            shutil.copytree(os.path.join(ROOT, s), target,
                            dirs_exist_ok=True)
        else:
            shutil.copy2(os.path.join(ROOT, s), target)
t0 = time.time()
r = run(["make", "-s", "-j2", "all"], cwd=app, timeout=300)
ok(r.returncode == 0 and os.path.exists(os.path.join(app, "build/app.so")),
   "the copied tree builds with `make all` (%.1f s)" % (time.time() - t0),
   r.stdout[-2000:] + r.stderr[-2000:])

# The container's user: nobody here (uid 10001 in the image).
uid = 65534 if os.getuid() == 0 else os.getuid()
os.makedirs(os.path.join(app, "build/run"), exist_ok=True)
if os.getuid() == 0:
    os.chown(os.path.join(app, "build/run"), uid, uid)


def as_container(args, extra=None, **kw):
    """args as the unprivileged user with the image's environment."""
    e = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:"
                 "/bin", "HOME": app, "ENV_FILE": "",
         "HTTP_HOST": "0.0.0.0", "HTTP_PORT": "8000"}
    e.update({k: "" if v is None else str(v) for k, v in senv.items()})
    e["DATABASE_URL"] = local_url(e["DATABASE_URL"])
    e["MIGRATE_DATABASE_URL"] = local_url(e["MIGRATE_DATABASE_URL"])
    e.update(extra or {})
    if os.getuid() == 0:
        args = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid,
                "--clear-groups", "--"] + args
    return e, args


# ---- the entrypoint: migrate as the owner, serve as the app role -------
port = free_port()
# Loopback here (the container listens on 0.0.0.0 inside its namespace).
# The copy's entrypoint: the unprivileged user may not read the checkout.
e, args = as_container([os.path.join(app, "docker", "entrypoint.sh")],
                      {"HTTP_HOST": "127.0.0.1", "HTTP_PORT": str(port)})
log = os.path.join(OUT, "docker-entrypoint-%d.log" % port)
logf = open(log, "wb")
proc = subprocess.Popen(args, cwd=app, env=e, stdout=logf,
                        stderr=subprocess.STDOUT, start_new_session=True)
cleanup["proc"] = proc


def wait_up(timeout=40):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            st, _, _ = request(port, "GET", "/", timeout=2)
            if st == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def logtext():
    return read(log)


up = ok(wait_up(), "the entrypoint migrates and serves as uid %d" % uid,
        logtext()[-3000:])
if up:
    ok(re.search(r"migrate: \d+ new migration\(s\)", logtext()),
       "make migrate ran first", logtext()[-1500:])
    ok("seccomp sandbox enabled" in logtext() and
       "will not change user" in logtext(),
       "kore keeps the unprivileged user (-r), seccomp stays on")
    st, _, body = request(port, "GET", "/health")
    ok(st == 200 and body.get("database", {}).get("status") == "up",
       "GET /health: 200, database up", body)
    st, _, body = request(port, "POST", "/predict",
                          body={"text": "Containers are great"})
    eq(st, 200, "POST /predict: 200 (written as modelserver_app)")
    hc = [a for i, a in instr if i == "HEALTHCHECK"][0]
    hc = hc.split(" CMD ", 1)[1].replace("${HTTP_PORT}", str(port))
    r = run(["sh", "-c", hc], timeout=10)
    eq(r.returncode, 0, "the Dockerfile's HEALTHCHECK command passes")

    pids = [proc.pid] + [int(p) for p in run(
        ["pgrep", "-s", str(proc.pid)]).stdout.split() if int(p) != proc.pid]
    kore = [p for p in pids if read("/proc/%d/comm" % p).startswith("kore")]
    uids = set()
    for p in kore:
        for line in read("/proc/%d/status" % p).splitlines():
            if line.startswith("Uid:"):
                uids.update(int(x) for x in line.split()[1:])
    ok(len(kore) >= 3 and uids == {uid},
       "kore's parent and workers run as uid %d only" % uid,
       (kore, uids))

    # Kore writes its process titles over its environment (it reads as
    # NULs in /proc/PID/environ), so what `make serve` is started with is
    # checked instead, through a make that records its arguments and
    # environment.
    fake = os.path.join(tmp, "fakebin")
    os.makedirs(fake)
    record = os.path.join(tmp, "make.record")
    with open(os.path.join(fake, "make"), "w") as f:
        f.write('#!/bin/sh\nprintf "make %s\\n" "$*" >>"$RECORD"\n'
                'env >>"$RECORD"\n')
    os.chmod(os.path.join(fake, "make"), 0o755)
    owner_pw = env["MODELSERVER_PASSWORD"]
    r = run(["sh", ENTRYPOINT],
            env={"PATH": fake + ":/usr/bin:/bin", "RECORD": record,
                 "DATABASE_URL": senv["DATABASE_URL"],
                 "MIGRATE_DATABASE_URL": senv["MIGRATE_DATABASE_URL"]})
    calls = re.split(r"^make ", read(record), flags=re.M)[1:] \
        if os.path.exists(record) else []
    eq([(c.split("\n", 1)[0], owner_pw in c) for c in calls],
       [("--no-print-directory migrate", True),
        ("--no-print-directory -o all serve", False)],
       "the entrypoint migrates with the owner's URL, then starts the "
       "server without it in its environment")

    # A second `make migrate`, as a restarted container runs it.
    e2, args2 = as_container(["make", "--no-print-directory", "migrate"])
    r = run(args2, cwd=app, env=e2, timeout=120)
    ok(r.returncode == 0 and "migrate: 0 new migration(s)" in r.stdout,
       "make migrate again: nothing to do", r.stdout + r.stderr)

    # ---- pgAdmin's entrypoint writes the pgpass the analyst logs in with
    penv = services["pgadmin"]["environment"]
    storage = os.path.join(tmp, "pgadmin-storage")
    r = run(["sh", os.path.join(DOCKER, "pgadmin", "pgadmin-entrypoint.sh"),
             "sh", "-c", "env"],
            env={"PATH": os.environ["PATH"], "PGADMIN_STORAGE_DIR": storage,
                 "PGADMIN_DEFAULT_EMAIL": str(penv["PGADMIN_DEFAULT_EMAIL"]),
                 "MODELSERVER_ANALYST_PASSWORD":
                 str(penv["MODELSERVER_ANALYST_PASSWORD"])})
    ok(r.returncode == 0 and "MODELSERVER_ANALYST_PASSWORD" not in r.stdout,
       "pgAdmin's entrypoint runs the image's entrypoint without the "
       "password in its environment", r.stderr)
    userdir = str(penv["PGADMIN_DEFAULT_EMAIL"]).replace("@", "_")
    passfile = os.path.join(storage, userdir, "pgpass")
    ok(os.path.exists(passfile) and
       os.stat(passfile).st_mode & 0o777 == 0o600,
       "pgpass written in the login's storage directory, mode 600",
       passfile)
    fields = read(passfile).rstrip("\n").split(":", 4) if os.path.exists(
        passfile) else []
    eq(fields[:4], [srv1["Host"], str(srv1["Port"]), srv1["MaintenanceDB"],
                    srv1["Username"]],
       "pgpass matches the server servers.json registers")
    # The same line for this cluster, for libpq to read.
    local = os.path.join(tmp, "pgpass.local")
    with open(local, "w") as f:
        f.write("127.0.0.1:%d:%s" % (pgport, ":".join(fields[2:])) + "\n")
    os.chmod(local, 0o600)
    lenv = {"PATH": os.environ["PATH"], "PGPASSFILE": local}
    analyst = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h",
               "127.0.0.1", "-p", str(pgport), "-U", "modelserver_analyst",
               "-d", "modelserver", "-w", "-c"]
    r = run(analyst + ["SELECT count(*) FROM app.prediction_metrics"],
            env=lenv)
    eq((r.returncode, r.stdout.strip()), (0, "1"),
       "the analyst logs in with that pgpass and sees the prediction")
    r = run(analyst + ["DELETE FROM app.prediction_metrics"], env=lenv)
    ok(r.returncode != 0 and "permission denied" in r.stderr,
       "... and cannot change it", r.stderr)

# ---- docker stop: SIGTERM to the entrypoint's process stops everything ---
if proc.poll() is None:
    t0 = time.time()
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
        stopped = True
    except subprocess.TimeoutExpired:
        stopped = False
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    ok(stopped, "SIGTERM stops make serve and kore (%.1f s)"
       % (time.time() - t0), logtext()[-1500:])
    time.sleep(0.2)
    left = run(["pgrep", "-s", str(proc.pid)]).stdout.split()
    ok(not left, "no process of the server is left", left)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
logf.close()
bad = [m for m in ("sandbox violation", "died from") if m in logtext()]
ok(not bad, "no seccomp kill or worker death in the log", bad)

done()
