"""test_openapi.py: src/docs/openapi.json tells the truth about the server.

First the document alone: OpenAPI 3.1's required fields, every $ref
resolves, every schema is valid JSON Schema 2020-12, operationIds are
unique, each route of kore.conf is documented and each documented path
routed, every GET has a HEAD twin, GET / lists what is documented, and
the request examples (Swagger UI's pre-filled bodies) pass their schemas.

Then every endpoint, with valid and invalid input, on real servers: one
with Gemini (a loopback fake) and an admin token; one started where the
docs page was never built, with limits of one request a minute and no
admin token (429s, 403, /docs 503); one without its model; and the first
again with PostgreSQL stopped (503s).  Each response is checked against
the document (openapi.py): its status documented for that path and
method, its body valid against that status's schema for its content
type (every object schema says additionalProperties: false), its
required headers present and valid, HEAD bodiless; an undocumented method
gets the documented 405 with an Allow naming exactly the documented
methods, an unknown path the documented 404.

Last, the checks' own teeth: real bodies with a field added, a field
removed or a value of the wrong kind, a missing header and an
undocumented status must each be refused.  The documented answers the
test never produced are listed (as comments).
"""
import copy
import json
import os
import re
import shutil
import socket
import tempfile
import time

from fake_gemini import FakeGemini, error
from jsonschema import Draft202012Validator
from lib import (OUT, ROOT, Server, diag, done, eq, ok, pg, pg_start,
                 reset_data)
from openapi import (DOC, fetch, inline, operations, problems, resolve,
                     schema_errors, seen)

TOKEN = "openapi-test-token-" + os.urandom(6).hex()
AUTH = {"Authorization": "Bearer " + TOKEN}
JSON = {"Content-Type": "application/json"}
BIG = json.dumps({"text": "a", "pad": "x" * 70000}).encode()

# ================================================== the document, alone

eq(bool(re.fullmatch(r"3\.1\.[0-9]+", DOC.get("openapi", ""))), True,
   "openapi is 3.1.x")
with open(os.path.join(ROOT, "src", "app.h")) as f:
    app_version = re.search(r'#define APP_VERSION\s+"([^"]+)"',
                            f.read()).group(1)
info = DOC.get("info", {})
ok(info.get("title") and info.get("version") == app_version,
   "info has a title and the server's version (%s)" % app_version, info)
ok(DOC.get("paths") and DOC.get("components"), "paths and components")

bad_refs = []


def walk_refs(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                try:
                    resolve({"$ref": v})
                except (KeyError, ValueError, TypeError):
                    bad_refs.append("%s: %s" % (where, v))
            else:
                walk_refs(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_refs(v, "%s/%d" % (where, i))


walk_refs(DOC, "#")
ok(not bad_refs, "every $ref resolves inside the document", bad_refs)

bad_schemas = []


def walk_schemas(node, where):
    """Every schema: components.schemas and each 'schema' member."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "schema" or where == "#/components/schemas":
                try:
                    Draft202012Validator.check_schema(inline(v))
                except Exception as e:      # SchemaError, bad $ref
                    bad_schemas.append("%s/%s: %s" % (where, k, e))
            walk_schemas(v, where + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk_schemas(v, "%s/%d" % (where, i))


walk_schemas(DOC, "#")
ok(not bad_schemas, "every schema is valid JSON Schema 2020-12",
   bad_schemas)

ops = list(operations())
ids = [o.get("operationId") for _, _, o in ops]
ok(all(ids) and len(ids) == len(set(ids)),
   "every operation has an operationId, all unique (%d)" % len(ids),
   sorted(i for i in ids if ids.count(i) > 1))
ok(all(o.get("summary") and o.get("responses") and
       all("description" in resolve(r) for r in o["responses"].values())
       for _, _, o in ops),
   "every operation has a summary and described responses")
ok(all(any(c.startswith("2") for c in o["responses"]) for _, _, o in ops),
   "every operation documents a success")
tags = {t["name"] for t in DOC.get("tags", [])}
ok(all(set(o.get("tags", [])) <= tags and o.get("tags") for _, _, o in ops),
   "every operation has a declared tag")
schemes = DOC["components"].get("securitySchemes", {})
ok(all(set(req) <= set(schemes) for _, _, o in ops
       for req in o.get("security", [])),
   "every security requirement names a declared scheme")
put = DOC["paths"]["/metrics/thresholds"]["put"]
eq(put.get("security"), [{"bearerAuth": []}],
   "PUT /metrics/thresholds requires the bearer token")
eq(resolve({"$ref": "#/components/securitySchemes/bearerAuth"}).get(
   "scheme"), "bearer", "bearerAuth is HTTP bearer")

# kore.conf is the router: its exact routes are the documented paths.
routes = []
with open(os.path.join(ROOT, "kore.conf")) as f:
    for line in f:
        m = re.match(r"\s*route\s+(\S+)\s+(\S+)", line)
        if m:
            routes.append(m.group(1))
static = [r for r in routes if r.startswith("/")]
eq(sorted(static), sorted(p for p in DOC["paths"] if "{" not in p),
   "every route of kore.conf is documented, every documented path routed")
# Regex routes (but the catch-all) serve the templated paths: each
# templated path, filled in, matches one, and each matches one filled in.
templated = {p: re.sub(r"\{[^}]+\}", "vader", p) for p in DOC["paths"]
             if "{" in p}
regexes = [r for r in routes if not r.startswith("/") and r != "^/.*$"]
ok(all(sum(bool(re.fullmatch(r.strip("^$"), f)) for r in regexes) == 1
       for f in templated.values()) and
   all(any(re.fullmatch(r.strip("^$"), f) for f in templated.values())
       for r in regexes),
   "every templated path has its one regex route, and each regex route "
   "a documented path", (templated, regexes))
eq(routes[-1:], ["^/.*$"],
   "the catch-all (the documented 404) is kore.conf's last route")

twins = []
for path, item in DOC["paths"].items():
    if "get" not in item:
        continue
    head = item.get("head")
    if head is None:
        twins.append("%s: no HEAD" % path)
        continue
    if sorted(head["responses"]) != sorted(item["get"]["responses"]):
        twins.append("%s: HEAD statuses differ from GET's" % path)
    if any(resolve(r).get("content") for r in head["responses"].values()):
        twins.append("%s: a HEAD response has content" % path)
ok(not twins, "every GET has a HEAD twin: same statuses, no content", twins)

bad_examples = []
for path, m, o in ops:
    for media, mt in o.get("requestBody", {}).get("content", {}).items():
        if "example" in mt:
            errs = schema_errors(mt["schema"], mt["example"])
            if errs:
                bad_examples.append("%s %s: %s" % (m, path, errs))
        else:
            bad_examples.append("%s %s: no example" % (m, path))
ok(not bad_examples, "every request body has an example that passes its "
   "schema (Swagger UI pre-fills it)", bad_examples)

# ================================================== the servers

reset_data()
fake = FakeGemini().start()
srv = Server("openapi", env={
    "ADMIN_TOKEN": TOKEN,
    "GEMINI_API_KEY": "openapi-test-key",
    "GEMINI_BASE_URL": fake.url,
    "GEMINI_TIMEOUT_MS": "3000",
    "GEMINI_RETRY_BASE_MS": "50",
    "GEMINI_RETRY_MAX_MS": "100",
    "GEMINI_MAX_ATTEMPTS": "1",
}).start()
port = srv.port
last = {}     # path -> a body seen, for the checks of the checks


def check(name, method, path, want=None, port_=None, **kw):
    """Sends the request, checks the answer against the document."""
    st, h, payload = fetch(port_ or port, method, path, **kw)
    bad = problems(method, path, st, h, payload)
    if want is not None and st != want:
        bad.insert(0, "status %d, the test wanted %d" % (st, want))
    ok(not bad, "%s: %s %s -> %d as documented" % (name, method, path, st),
       "\n".join(bad) + "\nbody: " + payload[:600].decode("utf-8",
                                                          "replace"))
    if st < 300 and method != "HEAD" and payload:
        last[(method, path.split("?")[0], st)] = (h, payload)
    return st, h, payload


# ---- service -----------------------------------------------------------
st, _, payload = check("root", "GET", "/", 200)
listed = {(e["method"].lower(), e["path"])
          for e in json.loads(payload)["endpoints"]}
documented = {(m, p) for p, m, _ in ops if m != "head"}
PAGE_FILES = ("/docs/", "/dashboard/")
ok(listed <= documented and
   {(m, p) for m, p in documented if not p.startswith(PAGE_FILES)} <= listed,
   "GET / lists the documented operations (the pages' files aside)",
   "listed, undocumented: %s\ndocumented, unlisted: %s" % (
       sorted(listed - documented),
       sorted({(m, p) for m, p in documented
               if not p.startswith(PAGE_FILES)} - listed)))
check("root", "HEAD", "/", 200)
check("health", "GET", "/health", 200)
check("health", "HEAD", "/health", 200)

# ---- predict -----------------------------------------------------------
texts = ["I love this product, it is wonderful!",
         "This is terrible. I hate it and want a refund.",
         "The parcel arrived on Tuesday.", "\u00e9" * 1000]
for t in texts:
    check("predict", "POST", "/predict", 200, body={"text": t})
check("predict without metric", "POST", "/predict", 200,
      body={"text": "Great service", "include_metrics": False})
check("predict, unknown fields ignored", "POST", "/predict", 200,
      body={"text": "fine", "extra": {"a": [1, 2]}, "include_metrics": True})

BAD_BODIES = [
    ("malformed JSON", b'{"text": ', 400),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}', 400),
    ("duplicate keys", b'{"text": "a", "text": "b"}', 400),
    ("NUL escape", b'{"text": "a\\u0000b"}', 400),
    ("empty body", b"", 400),
    ("not an object", b'["text"]', 422),
]
for name, raw, want in BAD_BODIES:
    check("predict, " + name, "POST", "/predict", want, raw=raw,
          headers=JSON)
for name, body in [("missing text", {"include_metrics": True}),
                   ("text not a string", {"text": 42}),
                   ("empty text", {"text": ""}),
                   ("1001 characters", {"text": "a" * 1001}),
                   ("include_metrics not a boolean",
                    {"text": "hi", "include_metrics": "yes"})]:
    check("predict, " + name, "POST", "/predict", 422, body=body)
check("predict, text/plain", "POST", "/predict", 415, raw=b'{"text": "x"}',
      headers={"Content-Type": "text/plain"})
check("predict, no Content-Type", "POST", "/predict", 415,
      raw=b'{"text": "x"}')
check("predict, over HTTP_BODY_MAX", "POST", "/predict", 413, raw=BIG,
      headers=JSON)

# ---- models --------------------------------------------------------------
check("models", "GET", "/models", 200)
check("models", "HEAD", "/models", 200)
check("model", "GET", "/models/vader", 200)
check("model", "HEAD", "/models/vader", 200)
check("model, unknown", "GET", "/models/bert", 404)
check("model, unknown", "HEAD", "/models/bert", 404)
SPLIT = {"versions": [{"version": "3.3.2", "weight": 100}],
         "default_version": "3.3.2"}
check("routing", "PUT", "/models/vader/routing", 200, body=SPLIT,
      headers={"Authorization": "Bearer " + TOKEN})
check("routing, no token", "PUT", "/models/vader/routing", 401, body=SPLIT)
check("routing, weights 90", "PUT", "/models/vader/routing", 422,
      body={"versions": [{"version": "3.3.2", "weight": 90}],
            "default_version": "3.3.2"},
      headers={"Authorization": "Bearer " + TOKEN})
check("routing, unknown model", "PUT", "/models/bert/routing", 404,
      body=SPLIT, headers={"Authorization": "Bearer " + TOKEN})
check("routing, GET", "GET", "/models/vader/routing", 405)
check("predict, pinned", "POST", "/predict", 200,
      body={"text": "fine", "model": "vader", "model_version": "3.3.2",
            "routing_key": "u1"})
check("predict, unknown version", "POST", "/predict", 422,
      body={"text": "fine", "model_version": "9.9.9"})
check("batch", "POST", "/predict/batch", 200,
      body={"texts": ["I love it", "I hate it"]})
check("batch without metric", "POST", "/predict/batch", 200,
      body={"texts": ["fine"], "include_metrics": False})
check("batch, a bad text", "POST", "/predict/batch", 422,
      body={"texts": ["fine", ""]})
check("batch, not JSON", "POST", "/predict/batch", 400, raw=b"{",
      headers=JSON)
check("batch, GET", "GET", "/predict/batch", 405)
check("reload, MODEL_DIR only", "POST", "/models/reload", 409,
      headers={"Authorization": "Bearer " + TOKEN})
check("reload, no token", "POST", "/models/reload", 401)
check("compare", "POST", "/metrics/compare", 200,
      body={"candidate_version": "3.3.2", "baseline_version": "3.3.2"})
check("compare, unknown version", "POST", "/metrics/compare", 200,
      body={"candidate_version": "9.9.9"})
check("compare, no candidate", "POST", "/metrics/compare", 422, body={})

# ---- metrics -----------------------------------------------------------
check("prometheus", "GET", "/metrics/prometheus", 200)
check("prometheus", "HEAD", "/metrics/prometheus", 200)

for body in [{}, {"time_window_minutes": 5},
             {"time_window_minutes": None, "model_name": None},
             {"model_name": "vader", "model_version": "3.3.2"},
             {"model_name": "no-such-model"}, {"time_window_minutes": 1440}]:
    check("aggregated %s" % json.dumps(body), "POST", "/metrics/aggregated",
          200, body=body)
for body in [{"time_window_minutes": 0}, {"time_window_minutes": 1441},
             {"time_window_minutes": "60"}, {"time_window_minutes": 60.0},
             {"model_name": "Bad Name"}, {"model_version": "1.02.3"},
             [1], "x"]:
    check("aggregated %s" % json.dumps(body), "POST", "/metrics/aggregated",
          422, body=body)
check("aggregated, malformed", "POST", "/metrics/aggregated", 400,
      raw=b"{", headers=JSON)
check("aggregated, text/plain", "POST", "/metrics/aggregated", 415,
      raw=b"{}", headers={"Content-Type": "text/plain"})
check("aggregated, too big", "POST", "/metrics/aggregated", 413, raw=BIG,
      headers=JSON)

for q in ["", "?model_name=vader", "?model_name=vader&model_version=3.3.2",
          "?model_name=", "?model_name=" + "a" * 70]:
    check("count", "GET", "/metrics/count" + q, 200)
for q in ["?model_name=Vader", "?model_version=3.3",
          "?model_name=" + "a" * 64]:
    check("count", "GET", "/metrics/count" + q, 422)
check("count", "HEAD", "/metrics/count", 200)
check("count", "HEAD", "/metrics/count?model_name=Vader", 422)

for q in ["", "?model_name=vader", "?model_name=default"]:
    check("thresholds", "GET", "/metrics/thresholds" + q, 200)
check("thresholds", "GET", "/metrics/thresholds?model_name=_x", 422)
check("thresholds", "HEAD", "/metrics/thresholds", 200)
check("thresholds", "HEAD", "/metrics/thresholds?model_name=_x", 422)

T = "/metrics/thresholds"
check("thresholds, no token", "PUT", T, 401,
      body={"min_confidence_warning": 0.65})
check("thresholds, wrong token", "PUT", T, 401,
      body={"min_confidence_warning": 0.65},
      headers={"Authorization": "Bearer nope"})
check("thresholds, set", "PUT", T, 200,
      body={"min_confidence_warning": 0.65}, headers=AUTH)
check("thresholds, the same again", "PUT", T, 200,
      body={"min_confidence_warning": 0.65, "model_name": None},
      headers=AUTH)
check("thresholds, a model's own", "PUT", T, 200,
      body={"model_name": "vader", "max_inference_time_warning_ms": 150,
            "max_inference_time_critical_ms": 400}, headers=AUTH)
check("thresholds, the model's row", "GET", T + "?model_name=vader", 200)
for body in [{}, {"model_name": "vader"}, {"min_confidence_warning": 2},
             {"max_inference_time_warning_ms": 0},
             {"min_confidence_warning": "high"},
             {"min_confidence_warning": 0.3, "min_confidence_critical": 0.5},
             {"model_name": "-bad", "min_confidence_warning": 0.5}, []]:
    check("thresholds %s" % json.dumps(body), "PUT", T, 422, body=body,
          headers=AUTH)
# Only the database can see this one: the stored warning is 0.65.
st, _, payload = check("thresholds, critical above the stored warning",
                       "PUT", T, 422, body={"min_confidence_critical": 0.9},
                       headers=AUTH)
ok(b"min_confidence" in payload, "the database's 422 names the field",
   payload)
check("thresholds, malformed", "PUT", T, 400, raw=b"{", headers=dict(
    AUTH, **JSON))
check("thresholds, text/plain", "PUT", T, 415, raw=b"{}",
      headers=dict(AUTH, **{"Content-Type": "text/plain"}))
check("thresholds, too big", "PUT", T, 413, raw=BIG,
      headers=dict(AUTH, **JSON))

for q in ["", "?window_minutes=5&bucket_minutes=1",
          "?window_minutes=60&bucket_minutes=7",
          "?window_minutes=1440&bucket_minutes=1440",
          "?model_name=no-such-model&model_version=1.0.0"]:
    check("timeseries", "GET", "/metrics/timeseries" + q, 200)
for q in ["?window_minutes=0", "?window_minutes=1441", "?bucket_minutes=abc",
          "?window_minutes=5&bucket_minutes=10", "?window_minutes=-5",
          "?model_version=x"]:
    check("timeseries", "GET", "/metrics/timeseries" + q, 422)
check("timeseries", "HEAD", "/metrics/timeseries?window_minutes=3", 200)
check("timeseries", "HEAD", "/metrics/timeseries?window_minutes=0", 422)

# ---- analyze -----------------------------------------------------------
A = "/analyze/performance"
st, _, payload = check("analyze, Gemini", "POST", A, 200, body={})
eq(json.loads(payload).get("source"), "gemini", "... written by Gemini")
st, _, payload = check("analyze, cached", "POST", A, 200, body={})
eq(json.loads(payload).get("cached"), True, "... from the cache")
fake.script(error(400, "INVALID_ARGUMENT"))
st, _, payload = check("analyze, Gemini refuses: the rules", "POST", A, 200,
                       body={"time_window_minutes": 30,
                             "model_name": "vader"})
eq(json.loads(payload).get("fallback_reason"), "upstream_rejected",
   "... saying why")
check("analyze, no data in the window", "POST", A, 200,
      body={"time_window_minutes": 1, "model_name": "no-such-model"})
for body in [{"time_window_minutes": None}, {"time_window_minutes": 0},
             {"time_window_minutes": 1441}, {"model_name": 5},
             {"model_name": "Bad"}, [], 3]:
    check("analyze %s" % json.dumps(body), "POST", A, 422, body=body)
check("analyze, malformed", "POST", A, 400, raw=b"{\"a\":", headers=JSON)
check("analyze, text/plain", "POST", A, 415, raw=b"{}",
      headers={"Content-Type": "text/plain"})
check("analyze, too big", "POST", A, 413, raw=BIG, headers=JSON)

# ---- the documentation ---------------------------------------------------
FILES = ["/openapi.json", "/docs", "/docs/swagger-init.js",
         "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js",
         "/docs/favicon-32x32.png", "/dashboard", "/dashboard/dashboard.js",
         "/dashboard/dashboard.css", "/dashboard/uPlot.iife.min.js",
         "/dashboard/uPlot.min.css"]
for p in FILES:
    st, h, payload = check("docs", "GET", p, 200)
    st2, h2, _ = check("docs", "HEAD", p, 200)
    eq(h2.get("content-length"), str(len(payload)),
       "HEAD %s: the GET's Content-Length" % p)
    etag = h.get("etag", "")
    check("docs, If-None-Match", "GET", p, 304,
          headers={"If-None-Match": etag})
    check("docs, If-None-Match", "HEAD", p, 304,
          headers={"If-None-Match": etag})
    check("docs, weak If-None-Match in a list", "GET", p, 304,
          headers={"If-None-Match": '"0000000000000000", W/' + etag})
    check("docs, another ETag", "GET", p, 200,
          headers={"If-None-Match": '"0000000000000000"'})
with open(os.path.join(ROOT, "src", "docs", "openapi.json"), "rb") as f:
    eq(fetch(port, "GET", "/openapi.json")[2], f.read(),
       "/openapi.json serves src/docs/openapi.json as it is")

# ---- methods and paths ---------------------------------------------------
for path in DOC["paths"]:
    for m in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        if m.lower() not in DOC["paths"][path]:
            check("undocumented method", m, templated.get(path, path), 405,
                  **({"body": {}} if m in ("POST", "PUT", "PATCH") else {}))
for path in ["/nope", "/docs/", "/docs/nope.js", "/predict/", "/metrics",
             "/openapi.yaml", "/index.html"]:
    check("unknown path", "GET", path, 404)
check("unknown path", "POST", "/nope", 404, body={})

# ---- ambiguous framing (docs/http.md): any operation, these schemas ---------
def framing(head):
    """Sends a raw request head; returns (status, parsed JSON body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        s.sendall(head.encode("latin-1") + b"\r\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    headpart, _, body = buf.partition(b"\r\n\r\n")
    return int(headpart.split()[1]), json.loads(body or b"null")


for name, head, status, schema in [
        ("two Host lines", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
         400, "ErrorBadRequest"),
        ("Transfer-Encoding on a GET", "GET /metrics/count HTTP/1.1\r\n"
         "Host: a\r\nTransfer-Encoding: chunked\r\n", 411,
         "ErrorLengthRequired"),
        ("23 header lines", "GET / HTTP/1.1\r\nHost: a\r\n" + "".join(
            "X-%d: v\r\n" % i for i in range(22)), 431,
         "ErrorHeaderFieldsTooLarge")]:
    st, body = framing(head)
    errs = schema_errors(inline(DOC["components"]["schemas"][schema]), body)
    ok(st == status and not errs, "framing, %s: %d, a valid %s" % (
        name, status, schema), (st, errs, body))

# ---- a second server: no docs page built, limits of 1, no admin token ----
tmp = tempfile.mkdtemp(prefix="openapi-cwd-", dir=OUT)
for rel in ["build/san/app.so", "build/app.so", "src/docs", "src/model"]:
    os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
    os.symlink(os.path.join(ROOT, rel), os.path.join(tmp, rel))
lim = Server("openapi-limited", cwd=tmp, env={
    "RATE_LIMIT_PREDICT_PER_MINUTE": "1",
    "RATE_LIMIT_ANALYZE_PER_MINUTE": "1",
    "ADMIN_TOKEN": "",
}).start()
# The limits hold across instances: a client of its own (127.0.0.0/8).
me = "127.0.0.%d" % (2 + os.getpid() % 250)
check("limited: first prediction", "POST", "/predict", 200,
      port_=lim.port, body={"text": "one"}, source=me)
check("limited: second prediction", "POST", "/predict", 429,
      port_=lim.port, body={"text": "two"}, source=me)
check("limited: first analysis (rules, no key)", "POST", A, 200,
      port_=lim.port, body={}, source=me)
check("limited: second analysis", "POST", A, 429, port_=lim.port, body={},
      source=me)
check("no ADMIN_TOKEN", "PUT", T, 403, port_=lim.port,
      body={"min_confidence_warning": 0.5}, headers=AUTH)
for p in FILES:
    check("docs page not built", "GET", p, 200 if p == "/openapi.json"
          else 503, port_=lim.port)
    check("docs page not built", "HEAD", p, 200 if p == "/openapi.json"
          else 503, port_=lim.port)
st, _, payload = fetch(lim.port, "GET", "/docs")
ok(b"make docs" in payload, "the 503 says to run 'make docs'", payload)
st, _, payload = fetch(lim.port, "GET", "/dashboard")
ok(b"make dashboard" in payload, "... and /dashboard's to run 'make "
   "dashboard'", payload)
lim.stop()
shutil.rmtree(tmp, ignore_errors=True)

# ---- a server with MODELS_DIR: hot reload ------------------------------------
multi = Server("openapi-models", env={
    "MODELS_DIR": "src/model/versions", "ADMIN_TOKEN": TOKEN}).start()
check("reload", "POST", "/models/reload", 200, port_=multi.port,
      headers={"Authorization": "Bearer " + TOKEN})
check("models, two versions", "GET", "/models", 200, port_=multi.port)
multi.stop()

# ---- a server without its model --------------------------------------------
nomodel = Server("openapi-nomodel", env={
    "MODEL_DIR": "/nonexistent", "MODEL_REQUIRED": "false"}).start()
check("no model", "GET", "/health", 503, port_=nomodel.port)
check("no model", "HEAD", "/health", 503, port_=nomodel.port)
check("no model", "POST", "/predict", 503, port_=nomodel.port,
      body={"text": "hello"})
nomodel.stop()

# ---- the database stopped ---------------------------------------------------
pg("stop", "fast")
try:
    check("database down", "GET", "/health", 503)
    for _ in range(2):      # the pooled connection's failure, then breaker
        check("database down", "POST", "/predict", 503, body={"text": "x"})
    check("database down", "POST", "/metrics/aggregated", 503, body={})
    check("database down", "GET", "/metrics/count", 503)
    check("database down", "GET", "/metrics/thresholds", 503)
    check("database down", "PUT", T, 503, body={"min_confidence_warning": 0.6},
          headers=AUTH)
    check("database down", "GET", "/metrics/timeseries", 503)
    check("database down", "POST", A, 503, body={})
    check("database down", "GET", "/openapi.json", 200)
finally:
    pg_start()
# A worker's pooled connections that died with the restart each fail
# once (a documented 503) before it reconnects, and with the accept lock
# passed on after every accept the polls reach either worker: poll until
# a 200 and check that answer.
deadline = time.time() + 15
while True:
    st, h, payload = fetch(port, "GET", "/health")
    if st == 200 or time.time() > deadline:
        break
    time.sleep(0.1)
bad = problems("GET", "/health", st, h, payload)
if st != 200:
    bad.insert(0, "status %d, the test wanted 200" % st)
ok(not bad, "database back: GET /health -> %d as documented" % st,
   "\n".join(bad))

# ================================================== the checks' teeth


def refused(name, method, path, status, headers, payload):
    bad = problems(method, path, status, headers, payload)
    ok(bad, "the check refuses %s" % name, "accepted it")


h, payload = last[("POST", "/predict", 200)]
body = json.loads(payload)
ok(not problems("POST", "/predict", 200, h, payload),
   "the real /predict 200 passes (the base of what follows)")
for name, change in [
        ("an undocumented field", lambda b: b.update(bogus=1)),
        ("a missing required field", lambda b: b.pop("prediction_id")),
        ("a label outside the enum", lambda b: b.update(sentiment="happy")),
        ("a number sent as a string", lambda b: b.update(confidence="0.9")),
        ("a confidence above 1", lambda b: b.update(confidence=1.5)),
        ("a timestamp not in ISO 8601", lambda b: b.update(
            timestamp="26/11/2026 15:04")),
        ("an undocumented field inside metric",
         lambda b: b["metric"].update(extra=True))]:
    b = copy.deepcopy(body)
    change(b)
    refused(name, "POST", "/predict", 200, h, json.dumps(b).encode())
hh = dict(h)
hh.pop("x-ratelimit-remaining")
refused("a 200 without X-RateLimit-Remaining", "POST", "/predict", 200, hh,
        payload)
refused("an undocumented status (418)", "POST", "/predict", 418, h, payload)
refused("a JSON body sent as text/html", "POST", "/predict", 200,
        dict(h, **{"content-type": "text/html"}), payload)
h, payload = last[("POST", "/metrics/aggregated", 200)]
b = json.loads(payload)
b["thresholds"].pop("updated_at")
refused("aggregates whose thresholds lack updated_at", "POST",
        "/metrics/aggregated", 200, h, json.dumps(b).encode())
b = json.loads(payload)
b["status"] = "fine"
refused("a status outside normal/warning/critical", "POST",
        "/metrics/aggregated", 200, h, json.dumps(b).encode())
st, h, payload = fetch(port, "POST", "/predict", body={"text": ""})
b = json.loads(payload)
b["error"]["code"] = "bad_input"
refused("a 422 with an undocumented error code", "POST", "/predict", 422, h,
        json.dumps(b).encode())
b = json.loads(payload)
b["error"]["details"] = []
refused("a 422 that names no field", "POST", "/predict", 422, h,
        json.dumps(b).encode())
st, h, payload = fetch(port, "DELETE", "/health")
refused("a 405 whose Allow misses HEAD", "DELETE", "/health", 405,
        dict(h, allow="GET"), payload)
refused("HEAD with a body", "HEAD", "/health", 200,
        *fetch(port, "GET", "/health")[1:])

# ================================================== what was never seen

never = []
for path, m, o in ops:
    for code in o["responses"]:
        if (path, m, int(code)) not in seen:
            never.append("%s %s %s" % (m.upper(), path, code))
diag("documented answers this test did not produce (%d of %d):" % (
    len(never), sum(len(o["responses"]) for _, _, o in ops)))
for line in never:
    diag("  " + line)
ok(all(any((p, m, int(c)) in seen for c in o["responses"]
           if c.startswith("2")) for p, m, o in ops),
   "every documented operation answered a success at least once")
ok(("(unknown path)", "get", 404) in seen and
   any(k[2] == 405 for k in seen), "the documented 404 and 405 were seen")

fake.stop()
done()
