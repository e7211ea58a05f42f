"""test_reload.py: hot reload of MODELS_DIR (POST /models/reload).

A server (two workers) serves a MODELS_DIR in a temporary directory while
a load of /predict runs the whole time.  A new version appears and
reload loads it in every worker; a corrupt one is refused with its file
and line and the others keep serving; a changed artifact replaces the
old one (its scores change); a version with traffic whose directory is
removed is kept loaded, one without traffic is unloaded.  The load sees
no failed request.
"""
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time

from lib import (ROOT, Server, diag, done, eq, ok, request, reset_data)

TOKEN = "reload-test-token"
AUTH = {"Authorization": "Bearer " + TOKEN}
VERSIONS = os.path.join(ROOT, "src", "model", "versions", "vader")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def make_version(root, version, overlay):
    """vader/<version>: the base lexicons (links), overlay, MANIFEST."""
    d = os.path.join(root, "vader", version)
    os.makedirs(d)
    for f in ("vader_lexicon.txt", "emoji_utf8_lexicon.txt"):
        os.symlink(os.path.join(VERSIONS, "3.4.0", f), os.path.join(d, f))
    with open(os.path.join(d, "overlay.txt"), "w") as f:
        f.write(overlay)
    write_manifest(d, version)
    return d


def write_manifest(d, version, overlay_sha=None):
    with open(os.path.join(d, "MANIFEST"), "w") as f:
        f.write("name=vader\nversion=%s\nlexicon=vader_lexicon.txt\n"
                "lexicon_sha256=%s\nemoji_lexicon=emoji_utf8_lexicon.txt\n"
                "emoji_lexicon_sha256=%s\noverlay=overlay.txt\n"
                "overlay_sha256=%s\n" % (
                    version, sha(os.path.join(d, "vader_lexicon.txt")),
                    sha(os.path.join(d, "emoji_utf8_lexicon.txt")),
                    overlay_sha or sha(os.path.join(d, "overlay.txt"))))


def generations(port):
    _, _, text = request(port, "GET", "/metrics/prometheus")
    return [int(g) for g in re.findall(
        r'^modelserver_routing_generation\{worker="\d+"\} (-?\d+)$', text,
        re.M)]


def reload(port):
    """POST /models/reload, then wait until every worker applied its
    generation: no rescan is left pending when the test edits files."""
    st, _, body = request(port, "POST", "/models/reload", headers=AUTH)
    gen = body.get("generation")
    deadline = time.monotonic() + 10
    while gen is not None and time.monotonic() < deadline:
        g = generations(port)
        if len(g) == 2 and all(x == gen for x in g):
            break
        time.sleep(0.02)
    return st, {(c["version"], c["action"]): c.get("error")
                for c in body.get("changes", [])}


def everywhere(port, pred, limit=10):
    """pred(GET /models/vader) true on 20 answers in a row (both workers)."""
    t0 = time.monotonic()
    streak = 0
    while time.monotonic() - t0 < limit:
        _, _, body = request(port, "GET", "/models/vader")
        streak = streak + 1 if pred(body) else 0
        if streak >= 20:
            return True
        time.sleep(0.01)
    return False


def loaded(body):
    return {v["version"] for v in body.get("versions", []) if v["loaded"]}


reset_data()
tmp = tempfile.mkdtemp(prefix="test_reload.")
stop = threading.Event()
failures, answers = [], [0]
try:
    os.makedirs(os.path.join(tmp, "vader"))
    os.symlink(os.path.join(VERSIONS, "3.3.2"),
               os.path.join(tmp, "vader", "3.3.2"))
    srv = Server("reload", env={"MODELS_DIR": tmp, "ADMIN_TOKEN": TOKEN,
                                "RATE_LIMIT_PREDICT_PER_MINUTE": "10000000"})
    srv.start()

    def load():
        i = 0
        while not stop.is_set():
            st, _, body = request(srv.port, "POST", "/predict",
                                  body={"text": "load %d is fine" % i})
            if st != 200:
                failures.append((st, body))
            answers[0] += 1
            i += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()

    st, _ = reload(srv.port)
    eq(st, 200, "reload with nothing new: 200")
    st, _, _ = request(srv.port, "POST", "/models/reload")
    eq(st, 401, "without the token: 401")

    # ---- a new version ----------------------------------------------------
    make_version(tmp, "3.5.0", "flimsy\t-2.5\nsturdy\t2.0\n")
    st, ch = reload(srv.port)
    eq((st, list(ch)), (200, [("3.5.0", "loaded")]), "a new version: loaded")
    ok(everywhere(srv.port, lambda b: "3.5.0" in loaded(b)),
       "every worker holds it")
    st, _, r = request(srv.port, "POST", "/predict",
                       body={"text": "flimsy", "model_version": "3.5.0"})
    eq((st, r.get("model_version"), r.get("sentiment")),
       (200, "3.5.0", "negative"), "and serves it")

    # ---- a corrupt version --------------------------------------------------
    d = make_version(tmp, "3.6.0", "refund\t-1.0\n")
    with open(os.path.join(d, "overlay.txt"), "a") as f:
        f.write("junk\t-2.0\n")                   # after its sha256
    st, ch = reload(srv.port)
    err = ch.get(("3.6.0", "refused")) or ""
    ok(st == 200 and "/vader/3.6.0/overlay.txt:0: sha256 mismatch" in err,
       "a bad sha256 is refused with file and line", ch)
    shutil.rmtree(d)
    d = make_version(tmp, "3.7.0", "refund\tlots\n")
    st, ch = reload(srv.port)
    ok((ch.get(("3.7.0", "refused")) or "").endswith(
        "/vader/3.7.0/overlay.txt:1: valence 'lots' is not a decimal "
        "number"), "a bad line is refused with file and line", ch)
    st, _, r = request(srv.port, "POST", "/predict",
                       body={"text": "x", "model_version": "3.7.0"})
    eq(st, 422, "the refused version does not serve")
    shutil.rmtree(d)

    # ---- a changed artifact ---------------------------------------------------
    d = os.path.join(tmp, "vader", "3.5.0")
    with open(os.path.join(d, "overlay.txt"), "w") as f:
        f.write("flimsy\t2.5\n")
    write_manifest(d, "3.5.0")
    st, ch = reload(srv.port)
    eq(list(ch), [("3.5.0", "replaced")], "a changed artifact: replaced")
    sha_new = sha(os.path.join(d, "MANIFEST"))
    ok(everywhere(srv.port, lambda b: any(
        v["version"] == "3.5.0" and v["sha256"] == sha_new
        for v in b.get("versions", []))), "every worker has the new sha256")
    st, _, r = request(srv.port, "POST", "/predict",
                       body={"text": "flimsy", "model_version": "3.5.0"})
    eq(r.get("sentiment"), "positive", "the new overlay scores")

    # ---- removing versions ----------------------------------------------------
    os.unlink(os.path.join(tmp, "vader", "3.3.2"))
    shutil.rmtree(os.path.join(tmp, "vader", "3.5.0"))
    st, ch = reload(srv.port)
    ok(("3.5.0", "kept") in ch and "traffic" in ch[("3.5.0", "kept")],
       "the version with traffic (the default, 3.5.0) is kept", ch)
    ok(("3.3.2", "unloaded") in ch, "the one without traffic is unloaded",
       ch)
    ok(everywhere(srv.port, lambda b: loaded(b) == {"3.5.0"}),
       "every worker agrees")
    time.sleep(0.5)
finally:
    stop.set()
    for t in threads if "threads" in dir() else []:
        t.join()
    shutil.rmtree(tmp, ignore_errors=True)

eq(failures[:3], [], "the load saw no failed request (%d answers)" %
   answers[0])
ok(answers[0] > 100, "the load ran throughout (%d answers)" % answers[0])
srv.stop()
done()
