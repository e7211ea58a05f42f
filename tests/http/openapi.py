"""openapi.py: checks HTTP responses against src/docs/openapi.json
(Python 3 standard library + Debian's python3-jsonschema).

- DOC: the document; resolve() follows one $ref, inline() replaces every
  $ref by its target (the document has no recursive schema), so plain
  JSON Schema 2020-12 validators (OpenAPI 3.1's dialect) can use it.
- fetch(): one request, returning (status, headers, raw bytes).
- problems(): what is wrong with a response for method + path against
  the document (empty list: as documented).  Unknown paths must answer
  components.responses.NotFound, undocumented methods MethodNotAllowed
  with an Allow naming exactly the documented ones.
- Coverage: every (path, method, status) checked is recorded, so a test
  can say which documented answers it never saw.
"""
import http.client
import json
import os
import re

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from lib import ROOT

DOC_PATH = os.path.join(ROOT, "src", "docs", "openapi.json")
with open(DOC_PATH, encoding="utf-8") as _f:
    DOC = json.load(_f)

METHODS = ("get", "head", "post", "put", "delete", "patch", "options",
           "trace")
seen = set()    # (path, method, status) checked against the document


def resolve(node, doc=None):
    """node, or what its $ref (a chain of them) points to."""
    doc = doc if doc is not None else DOC
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("external $ref %s" % ref)
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(node, doc=None, seen_refs=()):
    """A copy of node with every $ref replaced by its target."""
    doc = doc if doc is not None else DOC
    if isinstance(node, list):
        return [inline(v, doc, seen_refs) for v in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        if ref in seen_refs:
            raise ValueError("recursive $ref %s" % ref)
        target = inline(resolve({"$ref": ref}, doc), doc,
                        seen_refs + (ref,))
        rest = {k: inline(v, doc, seen_refs) for k, v in node.items()
                if k != "$ref"}
        if not rest:
            return target
        rest["allOf"] = [target]    # 3.1: siblings of $ref apply too
        return rest
    return {k: inline(v, doc, seen_refs) for k, v in node.items()}


def schema_errors(schema, value, doc=None):
    """Messages of every way value breaks schema (inlined first); for a
    oneOf/anyOf, why the closest alternative failed too."""
    v = Draft202012Validator(inline(schema, doc))
    out = []
    for e in sorted(v.iter_errors(value), key=lambda e: list(e.path)):
        msg = e.message if len(e.message) < 200 else e.message[:200] + "..."
        if e.context:
            sub = best_match(e.context)
            msg = "%s; closest: %s: %s" % (
                e.validator, "/".join(str(p) for p in sub.absolute_path) or
                "(root)", sub.message)
        out.append("%s: %s" % ("/".join(str(p) for p in e.absolute_path) or
                               "(root)", msg))
    return out


def operations(doc=None):
    """(path, method, operation) of every documented operation."""
    doc = doc if doc is not None else DOC
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m]


def doc_path(path, doc=None):
    """The document's key for a request path: itself, or the templated
    path ("/models/{name}") one of whose segments it fills; None."""
    doc = doc if doc is not None else DOC
    path = path.split("?")[0]
    if path in doc["paths"]:
        return path
    parts = path.split("/")
    for key in doc["paths"]:
        k = key.split("/")
        if "{" in key and len(k) == len(parts) and all(
                a == b or (a.startswith("{") and a.endswith("}") and b)
                for a, b in zip(k, parts)):
            return key
    return None


def allowed(path, doc=None):
    """The methods the document gives path, as an Allow header lists them."""
    doc = doc if doc is not None else DOC
    return {m.upper() for m in METHODS
            if m in doc["paths"][doc_path(path, doc) or path]}


def fetch(port, method, path, body=None, headers=None, raw=None,
          timeout=30, source=None):
    """Returns (status, headers lower-cased, body bytes)."""
    h = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout,
        source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, payload
    finally:
        c.close()


def _header_value(schema, text):
    """A header's text as the type its schema names (for validation)."""
    t = schema.get("type")
    if t == "integer" and re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def problems(method, path, status, headers, payload, doc=None):
    """Everything about this response the document does not allow."""
    doc = doc if doc is not None else DOC
    out = []
    m = method.lower()
    dpath = doc_path(path, doc)
    item = doc["paths"].get(dpath) if dpath else None
    if item is None:
        resp = doc["components"]["responses"]["NotFound"]
        key = ("(unknown path)", m, status)
        if status != 404:
            out.append("an unknown path must answer 404, got %d" % status)
    elif m not in item:
        resp = doc["components"]["responses"]["MethodNotAllowed"]
        key = (dpath, m, status)
        if status != 405:
            out.append("an undocumented method must answer 405, got %d"
                       % status)
        allow = {a.strip() for a in headers.get("allow", "").split(",")
                 if a.strip()}
        if allow != allowed(path.split("?")[0], doc):
            out.append("Allow is %s, the document has %s" % (
                sorted(allow), sorted(allowed(path.split("?")[0], doc))))
    else:
        key = (dpath, m, status)
        responses = item[m]["responses"]
        if str(status) not in responses:
            out.append("status %d is not documented for %s %s (only %s)" % (
                status, method.upper(), dpath,
                ", ".join(sorted(responses))))
            return out
        resp = resolve(responses[str(status)], doc)
    seen.add(key)

    for name, h in (resp.get("headers") or {}).items():
        h = resolve(h, doc)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                out.append("required header %s is missing" % name)
            continue
        sch = h.get("schema", {})
        for e in schema_errors(sch, _header_value(resolve(sch, doc), value),
                               doc):
            out.append("header %s %r: %s" % (name, value, e))

    content = resp.get("content")
    if m == "head" or not content:
        if payload:
            out.append("expected no body, got %d bytes" % len(payload))
        return out

    ctype = headers.get("content-type", "")
    media = ctype.split(";")[0].strip().lower()
    if media not in content:
        out.append("Content-Type %r is not documented (only %s)" % (
            ctype, ", ".join(sorted(content))))
        return out
    schema = content[media].get("schema", {})
    if media == "application/json":
        try:
            value = json.loads(payload.decode("utf-8"))
        except ValueError as e:
            out.append("the body is not JSON: %s" % e)
            return out
    elif media.startswith("text/"):
        try:
            value = payload.decode("utf-8")
        except UnicodeDecodeError:
            out.append("the %s body is not UTF-8" % media)
            return out
    else:
        value = ""      # binary: the schema says string, check the bytes
        if media == "image/png" and not payload.startswith(b"\x89PNG"):
            out.append("the image/png body is not a PNG")
    out.extend(schema_errors(schema, value, doc))
    return out
