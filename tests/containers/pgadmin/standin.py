"""standin.py: what the pgAdmin stand-in does in place of pgAdmin 4.

pgAdmin 4's container, as documented: on the first start (no
DATA_DIR/pgadmin4.db) it needs PGADMIN_DEFAULT_EMAIL and
PGADMIN_DEFAULT_PASSWORD, creates that login and imports
PGADMIN_SERVER_JSON_FILE (default /pgadmin4/servers.json) for it; later
starts keep what was imported.  In server mode a server's PassFile is a
path inside the login's storage directory, STORAGE_DIR/<login>, the login
with '@' as '_' (prefixed with pga_user_ when it starts with a digit);
the connection takes Host, Port, MaintenanceDB, Username and SSLMode.

Here, each registered server is connected to with exactly those libpq
parameters (psql, passfile=...), as pgAdmin's first click on it would,
and the outcome is served on PGADMIN_LISTEN_PORT (default 80):
  GET /misc/ping      PING (pgAdmin's own liveness URL)
  GET /standin/check  JSON: per server, the user it got in as, or the error
"""
import http.server
import json
import os
import signal
import subprocess
import sys
import time

DATA_DIR = "/var/lib/pgadmin"
STORAGE_DIR = os.path.join(DATA_DIR, "storage")
STATE = os.path.join(DATA_DIR, "pgadmin4.db")


def log(msg):
    print("pgadmin-standin: " + msg, flush=True)


def storage_name(login):
    if not login or login[0].isdigit():
        login = "pga_user_" + login
    return login.replace("@", "_").replace("/", "slash").replace(
        "\\", "slash")


def first_start():
    email = os.environ.get("PGADMIN_DEFAULT_EMAIL", "")
    password = os.environ.get("PGADMIN_DEFAULT_PASSWORD", "")
    if not email or not password:
        log("You need to define the PGADMIN_DEFAULT_EMAIL and "
            "PGADMIN_DEFAULT_PASSWORD environment variables.")
        sys.exit(1)
    path = os.environ.get("PGADMIN_SERVER_JSON_FILE",
                          "/pgadmin4/servers.json")
    servers = []
    if os.path.exists(path):
        with open(path) as f:
            servers = list(json.load(f)["Servers"].values())
        log("imported %d server(s) from %s for %s"
            % (len(servers), path, email))
    # Never the password: pgAdmin keeps only a hash of it.
    state = {"login": email, "servers": servers}
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.rename(tmp, STATE)


def connect(login, server):
    """Logs in as pgAdmin would; returns {name, ok, user | error}."""
    passfile = server.get("PassFile")
    params = {"host": server.get("Host"), "port": server.get("Port"),
              "dbname": server.get("MaintenanceDB"),
              "user": server.get("Username"),
              "sslmode": server.get("SSLMode", "prefer"),
              "connect_timeout": 5}
    if passfile:
        params["passfile"] = os.path.join(STORAGE_DIR, storage_name(login),
                                          passfile.lstrip("/"))
    conninfo = " ".join("%s='%s'" % (k, str(v).replace("\\", "\\\\")
                                     .replace("'", "\\'"))
                        for k, v in params.items() if v is not None)
    r = subprocess.run(["psql", "-X", "-At", "-w", "-v", "ON_ERROR_STOP=1",
                        "-d", conninfo, "-c",
                        "SELECT current_user, current_database()"],
                       capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    out = {"name": server.get("Name"), "ok": r.returncode == 0}
    if r.returncode == 0:
        out["user"], out["database"] = r.stdout.strip().split("|")
    else:
        out["error"] = r.stderr.strip()
    return out


def check():
    with open(STATE) as f:
        state = json.load(f)
    return [connect(state["login"], s) for s in state["servers"]]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/misc/ping":
            body, ctype = b"PING", "text/plain"
        elif self.path == "/standin/check":
            body, ctype = json.dumps(check()).encode(), "application/json"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        log(fmt % args)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if not os.path.exists(STATE):
        first_start()
    # As a user clicking on each server once it is up.
    for attempt in range(30):
        results = check()
        if all(r["ok"] for r in results):
            break
        time.sleep(1)
    for r in results:
        log("server %s: %s" % (r["name"], "logged in as %s" % r["user"]
                               if r["ok"] else "failed: " + r["error"]))
    port = int(os.environ.get("PGADMIN_LISTEN_PORT", "80"))
    http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler) \
        .serve_forever()


if __name__ == "__main__":
    main()
