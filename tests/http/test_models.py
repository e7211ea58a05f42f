"""test_models.py: several model versions in one server (docs/models.md).

MODELS_DIR=src/model/versions serves vader 3.3.2 and 3.4.0 (the
product-review overlay): GET /models lists both with their sha256, loaded
and traffic share; GET /models/vader one model, 404 for another name; a
request may pin a version, the answer says which answered and the row
records it; a pinned version that is not held is a 422 naming the field;
a corrupt version stops the start with file:line, or with
MODEL_REQUIRED=false is listed with its error while the others serve;
MODEL_DIR alone still serves its one version.
"""
import hashlib
import os
import re
import shutil
import tempfile

from lib import (ROOT, Server, done, eq, ok, request, reset_data,
                 sql_value)

VERSIONS = os.path.join(ROOT, "src", "model", "versions")


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


reset_data()
srv = Server("models", env={"MODELS_DIR": "src/model/versions",
                            "RATE_LIMIT_PREDICT_PER_MINUTE": "100000"})
srv.start()

st, _, body = request(srv.port, "GET", "/models")
eq(st, 200, "GET /models 200")
vs = {(m["name"], m["version"]): m for m in body.get("models", [])}
eq(sorted(vs), [("vader", "3.3.2"), ("vader", "3.4.0")],
   "both versions listed")
for v in ("3.3.2", "3.4.0"):
    m = vs.get(("vader", v), {})
    eq(m.get("loaded"), True, "vader %s loaded" % v)
    eq(m.get("sha256"), sha(os.path.join(VERSIONS, "vader", v, "MANIFEST")),
       "vader %s sha256 is its MANIFEST's" % v)
eq([vs[("vader", v)].get("traffic_share") for v in ("3.3.2", "3.4.0")],
   [0, 100], "the highest version takes the traffic by default")
ok("overlay" in (vs.get(("vader", "3.4.0"), {}).get("description") or ""),
   "description from the MANIFEST")

st, _, body = request(srv.port, "GET", "/models/vader")
eq(st, 200, "GET /models/vader 200")
eq(body.get("default_version"), "3.4.0", "default version")
eq([v["version"] for v in body.get("versions", [])], ["3.3.2", "3.4.0"],
   "its versions, in order")
st, _, body = request(srv.port, "GET", "/models/bert")
eq(st, 404, "unknown model name: 404")
eq(body.get("error", {}).get("code"), "not_found", "JSON 404")
st, _, _ = request(srv.port, "POST", "/models")
eq(st, 405, "POST /models: 405")

text = "The case is flimsy and I want a refund"
st, _, base = request(srv.port, "POST", "/predict",
                      body={"text": text, "model_version": "3.3.2"})
eq(st, 200, "pinned 3.3.2: 200")
eq(base.get("model_version"), "3.3.2",
   "the answer names the version that answered")
st, _, over = request(srv.port, "POST", "/predict",
                      body={"text": text, "model": "vader",
                            "model_version": "3.4.0"})
eq((st, over.get("model_version")), (200, "3.4.0"), "pinned 3.4.0")
eq((base.get("sentiment"), over.get("sentiment")), ("positive", "negative"),
   "the overlay changes this review's label")
st, _, dflt = request(srv.port, "POST", "/predict", body={"text": text})
eq(dflt.get("model_version"), "3.4.0", "unpinned: the default version")
for pid, want in ((base.get("prediction_id"), "3.3.2"),
                  (over.get("prediction_id"), "3.4.0")):
    eq(sql_value("SELECT v.version FROM app.prediction_metrics p JOIN "
                 "app.model_versions v ON v.id = p.model_version_id "
                 "WHERE p.prediction_id = '%s'" % pid), want,
       "row recorded with version %s" % want)

# Prometheus: every loaded version has its series, counting its answers.
st, _, b = request(srv.port, "POST", "/predict/batch",
                   body={"texts": ["a", "b", "c"], "model_version": "3.3.2"})
_, _, prom = request(srv.port, "GET", "/metrics/prometheus")
per = {}
for line in prom.splitlines():
    m = re.match(r'modelserver_predictions_total\{model="vader",'
                 r'version="([0-9.]+)",label="\w+"\} (\d+)$', line)
    if m:
        per[m.group(1)] = per.get(m.group(1), 0) + int(m.group(2))
eq(per, {"3.3.2": 4, "3.4.0": 2},
   "modelserver_predictions_total by version: 1 + 3 and 2 answers")
ok(re.search(r'^modelserver_inference_duration_seconds_count\{model="vader",'
             r'version="3.4.0"\} 2$', prom, re.M),
   "inference histogram by version")

st, _, body = request(srv.port, "POST", "/predict",
                      body={"text": text, "model_version": "9.9.9"})
eq(st, 422, "a version not held: 422")
eq([d.get("field") for d in body.get("error", {}).get("details", [])],
   ["model_version"], "the 422 names model_version")
st, _, body = request(srv.port, "POST", "/predict",
                      body={"text": text, "model": "bert"})
eq(st, 422, "a model not held: 422")
st, _, body = request(srv.port, "POST", "/predict",
                      body={"text": text, "model_version": "v1"})
eq(st, 422, "a malformed version: 422")
srv.stop()

# ---- a corrupt version ---------------------------------------------------
tmp = tempfile.mkdtemp(prefix="test_models.")
try:
    os.makedirs(os.path.join(tmp, "vader"))
    os.symlink(os.path.join(VERSIONS, "vader", "3.3.2"),
               os.path.join(tmp, "vader", "3.3.2"))
    bad = os.path.join(tmp, "vader", "3.5.0")
    shutil.copytree(os.path.join(VERSIONS, "vader", "3.4.0"), bad,
                    symlinks=False)
    with open(os.path.join(bad, "MANIFEST")) as f:
        mf = f.read().replace("version=3.4.0", "version=3.5.0")
    with open(os.path.join(bad, "MANIFEST"), "w") as f:
        f.write(mf)
    with open(os.path.join(bad, "reviews_overlay.txt"), "a") as f:
        f.write("sturdy\t9\n")      # changes the file: sha256 mismatch

    srv = Server("models-bad", env={"MODELS_DIR": tmp})
    srv.start(wait=False)
    code = srv.proc.wait(timeout=60)
    log = srv.log_text()
    ok(code != 0 and "reviews_overlay.txt:0: sha256 mismatch" in log,
       "a corrupt version stops the start, naming the file",
       log[-2000:])
    srv.forget_conf()

    srv = Server("models-degraded", env={"MODELS_DIR": tmp,
                                         "MODEL_REQUIRED": "false"})
    srv.start()
    st, _, body = request(srv.port, "GET", "/models/vader")
    vs = {v["version"]: v for v in body.get("versions", [])}
    eq((vs.get("3.5.0", {}).get("loaded"), vs.get("3.3.2", {}).get("loaded")),
       (False, True), "MODEL_REQUIRED=false: listed, not loaded")
    ok("reviews_overlay.txt:0: sha256 mismatch" in
       (vs.get("3.5.0", {}).get("error") or ""), "its error names the file",
       vs.get("3.5.0"))
    st, _, body = request(srv.port, "POST", "/predict", body={"text": text})
    eq((st, body.get("model_version")), (200, "3.3.2"),
       "the versions that loaded serve")
    srv.stop()
finally:
    shutil.rmtree(tmp)

# ---- MODEL_DIR alone ------------------------------------------------------
srv = Server("models-single", env={"MODEL_DIR": "src/model/vader"})
srv.start()
st, _, body = request(srv.port, "GET", "/models")
eq([(m["name"], m["version"], m["traffic_share"])
    for m in body.get("models", [])], [("vader", "3.3.2", 100)],
   "MODEL_DIR: one version, all the traffic")
st, _, body = request(srv.port, "POST", "/predict", body={"text": text})
eq((st, body.get("model_version")), (200, "3.3.2"), "MODEL_DIR serves")
srv.stop()
done()
