"""scale_haproxy.py: three instances behind HAProxy (docker/haproxy.cfg).

HAProxy 2.6 runs the repository's config on loopback, in front of three
servers sharing the suite's database, with /health checks and
X-Forwarded-For trusted from HAProxy's source address only.

- The rate limit stays exact across instances: a client's requests,
  spread round-robin over the three, get exactly the limit's 200s, in
  order and concurrently; each instance answered some.
- X-Forwarded-For: HAProxy's is trusted (the row has the client's
  address); a client's own is dropped by HAProxy, and ignored when sent
  to an instance directly.
- kill -9 of one instance under load: only requests in flight on it
  fail, HAProxy marks it down and stops sending it anything, and every
  prediction answered 200 is in the table.
"""
import atexit
import os
import shutil
import socket
import tempfile
import threading
import time

from lib import Server, diag, done, eq, free_port, ok, request, \
    reset_data, sql
from scale_lib import Load, Proc, ROOT, missing, wait_for

PROXY_SOURCE = "127.0.0.2"	# HAProxy connects to the instances from here
LIMIT = 30

tmp = tempfile.mkdtemp(prefix="modelserver-haproxy.")
atexit.register(shutil.rmtree, tmp, True)
stats_path = os.path.join(tmp, "stats.sock")
lb_port = free_port()


def start_instances(limit):
    return [Server("lb%d" % i, sanitize=False,
                   env={"WORKERS": "1", "TRUSTED_PROXIES": PROXY_SOURCE +
                        "/32", "RATE_LIMIT_PREDICT_PER_MINUTE": str(limit)})
            .start() for i in (1, 2, 3)]


def start_haproxy(servers):
    env = dict(os.environ, LB_BIND="127.0.0.1:%d" % lb_port,
               LB_SOURCE=PROXY_SOURCE, LB_STATS_SOCKET=stats_path)
    for i, s in enumerate(servers, 1):
        env["LB_SERVER%d" % i] = "127.0.0.1:%d" % s.port
    p = Proc("haproxy-%d" % lb_port,
             ["haproxy", "-db", "-f", os.path.join(ROOT,
                                                   "docker/haproxy.cfg")],
             env=env)
    return p


def stats():
    """{server name: (status, total sessions)} from HAProxy's socket."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(stats_path)
        s.sendall(b"show stat\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    lines = data.decode().splitlines()
    head = lines[0].lstrip("# ").split(",")
    out = {}
    for ln in lines[1:]:
        f = dict(zip(head, ln.split(",")))
        if f.get("pxname") == "modelserver" and f.get("svname", "").startswith("s"):
            out[f["svname"]] = (f["status"], int(f["stot"] or 0))
    return out


def all_up():
    try:
        st = stats()
    except OSError:
        return False
    return len(st) == 3 and all(v[0] == "UP" for v in st.values())


reset_data()

# ---- the rate limit across instances ----------------------------------
servers = start_instances(LIMIT)
lb = start_haproxy(servers)
ok(wait_for(all_up, 20), "HAProxy sees the three instances UP", stats()
   if os.path.exists(stats_path) else None)

before = stats()
sts = [request(lb_port, "POST", "/predict", body={"text": "limited %d" % i},
               source="127.0.0.5")[0] for i in range(LIMIT + 15)]
after = stats()
eq((sts.count(200), sts.count(429)), (LIMIT, 15),
   "one client, %d requests over three instances: exactly %d 200s, then "
   "429" % (LIMIT + 15, LIMIT))
eq(sts[:LIMIT], [200] * LIMIT, "... the first %d are the 200s" % LIMIT)
ok(all(after[k][1] - before[k][1] >= 5 for k in after),
   "... each instance answered a share of them",
   {k: after[k][1] - before[k][1] for k in after})
eq(int(sql("SELECT count(*) FROM app.prediction_metrics WHERE client_ip "
           "= '127.0.0.5'")[0][0]), LIMIT,
   "... the rows carry the client's address (HAProxy's X-Forwarded-For "
   "is trusted)")

res = []
lock = threading.Lock()


def burst():
    for i in range(20):
        st = request(lb_port, "POST", "/predict", body={"text": "burst"},
                     source="127.0.0.6")[0]
        with lock:
            res.append(st)


ths = [threading.Thread(target=burst) for _ in range(3)]
for t in ths:
    t.start()
for t in ths:
    t.join(60)
eq((res.count(200), res.count(429), len(res)), (LIMIT, 60 - LIMIT, 60),
   "three concurrent clients from one address, 60 requests: exactly %d "
   "200s" % LIMIT)

st, _, _ = request(lb_port, "POST", "/predict", body={"text": "spoof"},
                   source="127.0.0.7",
                   headers={"X-Forwarded-For": "10.9.9.9"})
eq(st, 200, "a client's own X-Forwarded-For through HAProxy: 200")
eq(sql("SELECT host(client_ip) FROM app.prediction_metrics WHERE "
       "client_ip IN ('10.9.9.9', '127.0.0.7')"),
   [["127.0.0.7"]], "... HAProxy dropped it: the row has the real address")
st, _, _ = request(servers[0].port, "POST", "/predict",
                   body={"text": "direct"}, source="127.0.0.8",
                   headers={"X-Forwarded-For": "10.8.8.8"})
eq(st, 200, "X-Forwarded-For sent to an instance directly: 200")
eq(sql("SELECT host(client_ip) FROM app.prediction_metrics WHERE "
       "client_ip IN ('10.8.8.8', '127.0.0.8')"), [["127.0.0.8"]],
   "... not trusted: the row has the TCP peer's address")
lb.stop()
for s in servers:
    s.stop()

# ---- kill -9 of one instance under load -------------------------------
reset_data()
servers = start_instances(100000)
lb = start_haproxy(servers)
ok(wait_for(all_up, 20), "again three instances UP")
with Load(lb_port, threads=8) as load:
    wait_for(lambda: len(load.ok_ids()) >= 600, 30)
    victim = servers[1]
    victim.kill9()
    killed_at = time.time()
    down = wait_for(lambda: stats().get("s2", ("",))[0].startswith("DOWN"),
                    10)
    down_at = time.time()
    time.sleep(0.5)
    n1 = stats()["s2"][1]
    time.sleep(2)
    n2 = stats()["s2"][1]
    after_down = len([r for r in load.snapshot() if r[2] > down_at])
res = load.snapshot()
fails = [r for r in res if r[0] != 200]
diag("kill -9 of s2: answers %s; from the kill on %s; marked down after "
     "%.2f s" % (load.kinds(), load.kinds(killed_at - 0.2),
                 down_at - killed_at))
ok(down, "HAProxy marked the killed instance DOWN (%.2f s)" %
   (down_at - killed_at))
eq(n2, n1, "... and sent it nothing more (%d requests after it was "
   "down went to the others)" % after_down)
ok(after_down > 50, "load went on through the other two (%d)" % after_down)
ok(len(fails) <= 8 and all(killed_at - 0.2 <= r[2] <= killed_at + 2
                           for r in fails),
   "only requests in flight on it failed (%d, at most one per client "
   "connection, all at the kill)" % len(fails),
   [(r[0], round(r[2] - killed_at, 3)) for r in fails])
ids = load.ok_ids()
lost = missing(ids, sql)
eq(len(lost), 0, "every one of the %d prediction_ids answered 200 is in "
   "the table" % len(ids))
lb.stop()
for s in servers:
    if s is not victim:
        s.stop()

done()
