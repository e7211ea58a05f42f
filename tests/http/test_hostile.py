"""test_hostile.py: hostile requests against every JSON endpoint.

A table of raw requests (bytes and headers, sent over a plain socket) for
POST /predict, POST /metrics/aggregated, PUT /metrics/thresholds (with the
admin token) and POST /analyze/performance, each with the answer it must
get: 400 invalid_json, 413 payload_too_large, 415 unsupported_media_type
or 422 validation_failed, always in the envelope
{"error": {"code", "message", "details"}}.  After every case the rows of
the tables the endpoints write (app.prediction_metrics,
app.metric_thresholds and their history, app.gemini_cache,
app.gemini_leases, app.rate_limits) are unchanged and GET /health
answers 200.

The cases: malformed JSON and JSON cut at every byte, trailing garbage, a
BOM, empty bodies, wrong types and ranges for every field, depth bombs,
numbers that overflow (1e400, -1e400, 1e309, 2^63, 2^64), NaN and
Infinity, duplicate keys, invalid and overlong UTF-8, surrogates, NUL
escapes and raw NUL bytes, 0 and 1001 code points (ASCII, two-byte,
emoji, escaped surrogate pairs), bodies at and over HTTP_BODY_MAX,
wrong or missing Content-Type.

Ambiguous framing (RFC 9112; docs/http.md) gets the gate's JSON 400
invalid_framing, 411 length_required or 431 header_fields_too_large and
the connection closed: two Host lines, Content-Length values that
differ, Transfer-Encoding with Content-Length, a body on a GET, more
header lines than Kore parses; oversized header blocks are closed by
Kore without an answer.

Kore answers some requests itself, before our code, with an empty body
(documented exceptions, asserted as such): a body over its own limit
(4 x HTTP_BODY_MAX) gets 413; a POST without a usable Content-Length
(chunked Transfer-Encoding, or a bad value) gets 411; a broken request
line or header gets 400; headers that do not finish in
http_header_timeout (10 s, kore.conf) get 408 and the connection closed;
so do, after the same 10 s, a body longer than its Content-Length and a
request pipelined behind a POST in the same packet (a Kore 4.1 bug, see
OVERLONG below).  The slow-loris part holds such connections open
(headers, and a body that stalls) and checks that they are closed within
15 s while GET /health keeps answering fast.

Positive controls run last: 1000 emoji, 1000 escaped surrogate pairs and
a body of exactly HTTP_BODY_MAX bytes are accepted (200, one row each).
"""
import json
import os
import re
import select
import socket
import threading
import time

from lib import (ROOT, Server, diag, done, eq, ok, request, reset_data,
                 sql)

TOKEN = "hostile-admin-" + os.urandom(8).hex()
BODY_MAX = 65536                # HTTP_BODY_MAX given to the server
KORE_MAX = 4 * BODY_MAX         # http_body_max conftool renders
HEADER_TIMEOUT = 10             # kore.conf http_header_timeout
SLOW_BOUND = 15.0               # a slow client is gone by then

reset_data()
srv = Server("hostile", env={"ADMIN_TOKEN": TOKEN,
                             "HTTP_BODY_MAX": str(BODY_MAX)}).start()
port = srv.port


# ------------------------------------------------------------- raw HTTP

def http_raw(data, timeout=20):
    """Sends data as it is; returns (status, headers, body bytes) of the
    first response, or (None, {}, b"") when the server closed first."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass        # the server may answer and close early
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return None, {}, b""
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        want = int(headers.get("content-length", "0"))
        while len(body) < want:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body[:want]
    finally:
        s.close()


def build(method, path, body, ctype="application/json", extra=None,
          length=None, close=True):
    """A request with Content-Length (length overrides it; False: none);
    close=False leaves out "Connection: close" (keep-alive)."""
    h = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if close:
        h.append("Connection: close")
    if ctype is not None:
        h.append("Content-Type: " + ctype)
    if length is None:
        length = len(body)
    if length is not False:
        h.append("Content-Length: %d" % length)
    h += extra or []
    return ("\r\n".join(h) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------ endpoints

def routes():
    """The paths kore.conf routes (the router is the source of truth)."""
    with open(os.path.join(ROOT, "kore.conf")) as f:
        return set(re.findall(r"^\s*route\s+(/\S*)\s", f.read(), re.M))


AUTH = ["Authorization: Bearer " + TOKEN]
# method, path, extra headers, a valid body, one required key (for
# duplicates), the body's fields: name -> (wrong values, kind)
ENDPOINTS = [
    ("POST", "/predict", [], {"text": "I love this product"}, "text"),
    ("POST", "/metrics/aggregated", [],
     {"time_window_minutes": 60, "model_name": "vader",
      "model_version": "3.3.2"}, "time_window_minutes"),
    ("PUT", "/metrics/thresholds", AUTH,
     {"model_name": "vader", "min_confidence_warning": 0.6,
      "min_confidence_critical": 0.4, "max_inference_time_warning_ms": 200,
      "max_inference_time_critical_ms": 500}, "min_confidence_warning"),
    ("POST", "/analyze/performance", [],
     {"time_window_minutes": 60, "model_name": "vader"},
     "time_window_minutes"),
]

NOT_OBJECT = [b"[]", b'["text"]', b'"text"', b"1", b"-0.5", b"null",
              b"true", b"false"]
# (raw JSON value, what it is): not a string, not a boolean, not a number
V_NUM = [b"42", b"1.5", b"-1", b"0"]
V_BIG_INT = [b"9223372036854775807", b"-9223372036854775808"]
V_OTHER = [b"true", b"false", b"null", b"[]", b"{}", b'["a"]', b'{"a":1}']
V_STR = [b'""', b'"60"', b'"a"', b'"true"']

# Per endpoint: field -> raw values that must give 422.
WRONG = {
    "/predict": {
        "text": V_NUM + V_BIG_INT + [b"true", b"false", b"null", b"[]",
                                     b"{}", b'["hi"]', b'{"t":"hi"}'],
        "include_metrics": V_NUM + V_STR + [b"null", b"[]", b"{}",
                                            b"[true]"],
    },
    "/metrics/aggregated": {
        "time_window_minutes": [b"0", b"-1", b"1441", b"1.5", b"60.0",
                                b"1e2"] + V_BIG_INT + V_STR +
        [b"true", b"false", b"[]", b"{}", b"[60]"],
        "model_name": V_NUM + [b"true", b"[]", b"{}", b'""', b'"Bad"',
                               b'"_x"', b'"a b"', b'"%s"' % (b"a" * 64),
                               b'"vader\\u00e9"'],
        "model_version": V_NUM + [b"true", b"[]", b"{}", b'""', b'"1.2"',
                                  b'"01.2.3"', b'"a.b.c"', b'"1.2.3.4"',
                                  b'"1.2.-3"'],
    },
    "/metrics/thresholds": {
        "min_confidence_warning": V_STR + [b"true", b"[]", b"{}",
                                           b"-0.1", b"1.1"] + V_BIG_INT,
        "min_confidence_critical": V_STR + [b"false", b"[0.4]", b"-1",
                                            b"2"],
        "max_inference_time_warning_ms": V_STR + [b"true", b"{}", b"0",
                                                  b"-5", b"-1e308"],
        "max_inference_time_critical_ms": V_STR + [b"[]", b"0", b"-0.0"],
        "model_name": V_NUM + [b"true", b"[]", b'""', b'"Bad"', b'"-x"'],
    },
    "/analyze/performance": {
        "time_window_minutes": [b"0", b"-1", b"1441", b"2.5"] +
        V_BIG_INT + V_STR + [b"true", b"[]", b"{}"],
        "model_name": V_NUM + [b"true", b"[]", b"{}", b'""', b'"Bad"',
                               b'"a/b"', b'"%s"' % (b"a" * 64)],
    },
}

# Bodies valid as JSON but not as the route's shape, beyond WRONG.
EXTRA_422 = {
    "/predict": [
        ("no text", b'{"include_metrics": true}'),
        ("empty text", b'{"text": ""}'),
        ("1001 ASCII", json.dumps({"text": "a" * 1001}).encode()),
        ("1001 two-byte", json.dumps({"text": "\u00e9" * 1001},
                                     ensure_ascii=False).encode()),
        ("1001 three-byte", json.dumps({"text": "\u20ac" * 1001},
                                       ensure_ascii=False).encode()),
        ("1001 emoji", json.dumps({"text": "\U0001F600" * 1001},
                                  ensure_ascii=False).encode()),
        ("1000 emoji and 1 ASCII",
         json.dumps({"text": "\U0001F600" * 1000 + "a"},
                    ensure_ascii=False).encode()),
        ("1001 escaped surrogate pairs",
         b'{"text": "' + b"\\ud83d\\ude00" * 1001 + b'"}'),
        ("text null", b'{"text": null}'),
    ],
    "/metrics/thresholds": [
        ("no threshold", b"{}"),
        ("only model_name", b'{"model_name": "vader"}'),
        ("all null", b'{"min_confidence_warning": null, '
         b'"max_inference_time_critical_ms": null}'),
        ("critical above warning", b'{"min_confidence_warning": 0.4, '
         b'"min_confidence_critical": 0.6}'),
        ("critical equal warning", b'{"min_confidence_warning": 0.5, '
         b'"min_confidence_critical": 0.5}'),
        ("latency warning above critical",
         b'{"max_inference_time_warning_ms": 900, '
         b'"max_inference_time_critical_ms": 100}'),
    ],
}

# Invalid UTF-8 and forbidden characters inside a string: 400.
BAD_STRINGS = [
    ("lone continuation byte", b"a\x80b"),
    ("byte 0xFF", b"\xff"),
    ("byte 0xFE", b"\xfe\xfe"),
    ("surrogate U+D800 encoded", b"\xed\xa0\x80"),
    ("surrogate U+DFFF encoded", b"\xed\xbf\xbf"),
    ("overlong '/' (2 bytes)", b"\xc0\xaf"),
    ("overlong '/' (3 bytes)", b"\xe0\x80\xaf"),
    ("overlong NUL (2 bytes)", b"\xc0\x80"),
    ("overlong (4 bytes)", b"\xf0\x80\x80\xaf"),
    ("above U+10FFFF", b"\xf4\x90\x80\x80"),
    ("5-byte form", b"\xf8\x88\x80\x80\x80"),
    ("truncated 3-byte sequence", b"\xe2\x82"),
    ("truncated 4-byte sequence", b"\xf0\x9f\x98"),
    ("\\u0000 escape", b"a\\u0000b"),
    ("raw NUL byte", b"a\x00b"),
    ("raw control character", b"a\x01b"),
    ("raw newline", b"a\nb"),
    ("lone high surrogate escape", b"\\ud800"),
    ("lone low surrogate escape", b"\\udc00"),
    ("reversed surrogate escapes", b"\\ude00\\ud83d"),
    ("invalid escape", b"\\x41"),
    ("short \\u escape", b"\\u12"),
    ("\\u escape then a multi-byte character", b"\\u\xc3\xa9"),
]

# Whole bodies that are not JSON (or not one JSON value): 400.
MALFORMED = [
    ("empty body", b""),
    ("only spaces", b"   \r\n\t "),
    ("open brace", b"{"),
    ("close brace", b"}"),
    ("missing value", b'{"text": }'),
    ("missing colon", b'{"text" "hi"}'),
    ("single quotes", b"{'text': 'hi'}"),
    ("unquoted key", b'{text: "hi"}'),
    ("trailing comma in object", b'{"text": "hi",}'),
    ("trailing comma in array", b"[1,]"),
    ("extra close", b'{"text": "hi"}}'),
    ("comment", b'{"text": "hi" /* c */}'),
    ("trailing garbage", b'{"text": "hi"} x'),
    ("two documents", b'{"text": "a"}{"text": "b"}'),
    ("trailing NUL byte", b'{"text": "hi"}\x00'),
    ("leading NUL byte", b'\x00{"text": "hi"}'),
    ("UTF-8 BOM", b'\xef\xbb\xbf{"text": "hi"}'),
    ("UTF-16 BOM", b'\xff\xfe{\x00}\x00'),
    ("UTF-16LE body", '{"text": "hi"}'.encode("utf-16-le")),
    ("form encoding", b"text=hi"),
    ("NaN", b"NaN"),
    ("Infinity", b"Infinity"),
    ("-Infinity", b"-Infinity"),
    ("1e400", b"1e400"),
    ("-1e400", b"-1e400"),
    ("1e309", b"1e309"),
    ("2^64", b"18446744073709551616"),
    ("2^63", b"9223372036854775808"),
    ("-2^63-1", b"-9223372036854775809"),
    ("hex number", b"0x10"),
    ("leading zero", b"01"),
    ("plus sign", b"+1"),
    ("bare dot", b".5"),
    ("depth bomb: %d arrays at the limit" % BODY_MAX, b"[" * BODY_MAX),
    ("depth bomb: closed arrays", b"[" * 30000 + b"]" * 30000),
    ("depth bomb: objects", b'{"a":' * 10000 + b"1" + b"}" * 10000),
]


def key_value(key, raw):
    return b'{"%s": %s}' % (key.encode(), raw)


def cases_for(method, path, extra, valid, dupkey):
    """(name, request bytes, status, error code or None for Kore's own)."""
    good = json.dumps(valid).encode()
    c = []

    def add(name, body, status, code, **kw):
        c.append((name, build(method, path, body, extra=extra +
                              kw.pop("headers", []), **kw), status, code))

    for name, body in MALFORMED:
        add(name, body, 400, "invalid_json")
    # No prefix of an object is a document: cut at every byte of a short
    # body, at 48 points spread over a long one.
    cuts = range(1, len(good))
    if len(cuts) > 48:
        cuts = sorted({1 + i * (len(good) - 2) // 47 for i in range(48)})
    for n in cuts:
        add("truncated at %d/%d" % (n, len(good)), good[:n], 400,
            "invalid_json")
    for name, s in BAD_STRINGS:
        add("%s in a value" % name,
            b'{"%s": "%s"}' % (dupkey.encode(), s), 400, "invalid_json")
    add("invalid UTF-8 in a key", b'{"te\xffxt": "hi"}', 400,
        "invalid_json")
    add("duplicate key", b'{"%s": 1, "%s": 2}' % (dupkey.encode(),
                                                  dupkey.encode()),
        400, "invalid_json")
    add("duplicate key, equal values",
        b'{"a": "x", "a": "x", "%s": 1}' % dupkey.encode(), 400,
        "invalid_json")
    for lit in (b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf",
                b"1e400", b"-1e400", b"1e309", b"18446744073709551616",
                b"9223372036854775808", b"-9223372036854775809"):
        add("%s as %s" % (lit.decode(), dupkey), key_value(dupkey, lit),
            400, "invalid_json")
    add("depth bomb inside a valid body",
        good[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400,
        "invalid_json")

    for raw in NOT_OBJECT:
        add("body %s" % raw.decode(), raw, 422, "validation_failed")
    for field, values in WRONG.get(path, {}).items():
        for raw in values:
            body = dict(valid)
            body.pop(field, None)
            doc = json.dumps(body).encode()
            doc = (doc[:-1] + (b", " if body else b"") +
                   b'"%s": %s}' % (field.encode(), raw))
            add("%s = %s" % (field, raw[:40].decode()), doc, 422,
                "validation_failed")
    for name, body in EXTRA_422.get(path, []):
        add(name, body, 422, "validation_failed")

    # Sizes.  At the limit the body is read and parsed (422: the text is
    # empty), one byte over is our JSON 413, over Kore's limit Kore's own.
    at = b'{"%s": ""}' % b"text" if path == "/predict" else b"[]"
    add("body of exactly HTTP_BODY_MAX bytes (422)",
        at + b" " * (BODY_MAX - len(at)), 422, "validation_failed")
    add("body of HTTP_BODY_MAX + 1 bytes", good + b" " *
        (BODY_MAX + 1 - len(good)), 413, "payload_too_large")
    add("depth bomb: 100000 arrays (over the limit)", b"[" * 100000, 413,
        "payload_too_large")
    add("body of exactly Kore's limit (JSON 413)",
        good + b" " * (KORE_MAX - len(good)), 413, "payload_too_large")
    add("Content-Length of Kore's limit + 1 (Kore: bare 413)", b"", 413,
        None, length=KORE_MAX + 1)
    add("Content-Length 2^63 (Kore: bare 413)", b"", 413, None,
        length=2 ** 63 - 1)

    # Content-Type.
    for ct in (None, "text/plain", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/jsonx",
               "application/json-patch+json", "text/json", "json",
               "application/javascript"):
        add("Content-Type %r" % ct, good, 415, "unsupported_media_type",
            ctype=ct)
    add("empty Content-Type value (Kore: bare 400)", good, 400, None,
        ctype="")
    add("wrong Content-Type with an oversized body", b" " * (BODY_MAX + 1),
        415, "unsupported_media_type", ctype="text/plain")

    # Framing that Kore refuses before our code runs.
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(good), good)
    add("chunked Transfer-Encoding (Kore: bare 411)", chunked, 411, None,
        length=False, headers=["Transfer-Encoding: chunked"])
    add("no Content-Length (Kore: bare 411)", good, 411, None,
        length=False)
    c.append(("Content-Length not a number (Kore: bare 411)",
              build(method, path, b"", extra=extra + [
                  "Content-Length: 12abc"], length=False) + good,
              411, None))
    c.append(("negative Content-Length (Kore: bare 411)",
              build(method, path, b"", extra=extra + [
                  "Content-Length: -1"], length=False) + good, 411, None))
    # Ambiguous framing (RFC 9112 6.1, 6.3, 3.2; docs/http.md): Kore
    # would frame these by its first Content-Length and Host, a proxy in
    # front perhaps otherwise; the gate refuses them.
    add("chunked framing with a Content-Length", chunked, 400,
        "invalid_framing", headers=["Transfer-Encoding: chunked"])
    add("Transfer-Encoding: chunked after a Content-Length", good, 400,
        "invalid_framing", headers=["Transfer-Encoding: chunked"])
    add("Transfer-Encoding: identity with a Content-Length", good, 400,
        "invalid_framing", headers=["Transfer-Encoding: identity"])
    add("two Content-Length values (%d and 3)" % len(good), good, 400,
        "invalid_framing", headers=["Content-Length: 3"])
    add("two Content-Length values (%d and %d)" % (len(good),
                                                   len(good) + 1),
        good, 400, "invalid_framing",
        headers=["Content-Length: %d" % (len(good) + 1)])
    add("two Host header lines", good, 400, "invalid_framing",
        headers=["Host: other.example"])
    add("two Host header lines, same value", good, 400, "invalid_framing",
        headers=["Host: 127.0.0.1"])
    add("30 header lines (over Kore's 24 lines)", good, 431,
        "header_fields_too_large",
        headers=["X-Filler-%d: %d" % (i, i) for i in range(30)])
    add("a Content-Length hidden past Kore's 24 lines", good, 431,
        "header_fields_too_large",
        headers=["X-Filler-%d: %d" % (i, i) for i in range(25)] +
        ["Content-Length: 3"])
    c.append(("header line without a colon (Kore: bare 400)",
              build(method, path, good, extra=extra + ["Broken"]), 400,
              None))
    c.append(("obs-fold continuation line (Kore: bare 400)",
              build(method, path, good, extra=extra + [
                  "X-Folded: a", " b"]), 400, None))
    c.append(("space before the colon (Kore: bare 400)",
              build(method, path, good, extra=extra + [
                  "X-Spaced : a"]), 400, None))
    c.append(("no Host header (Kore: bare 400)",
              build(method, path, good, extra=extra).replace(
                  b"Host: 127.0.0.1\r\n", b""), 400, None))
    c.append(("request line without a version (Kore: bare 400)",
              build(method, path, good, extra=extra).replace(
                  b" HTTP/1.1", b"", 1), 400, None))
    c.append(("request line of one word (Kore: bare 400)",
              build(method, path, good, extra=extra).replace(
                  b"%s %s HTTP/1.1" % (method.encode(), path.encode()),
                  b"GARBAGE", 1), 400, None))
    return c


# ------------------------------------------------------------- the state

TABLES = ["app.prediction_metrics", "app.metric_thresholds",
          "app.metric_threshold_changes", "app.gemini_cache",
          "app.gemini_leases", "app.rate_limits"]
present = [t for t in TABLES
           if sql("SELECT to_regclass('%s') IS NOT NULL" % t)[0][0] == "t"]
diag("tables watched: %s" % ", ".join(present))
STATE_SQL = "SELECT " + ", ".join(
    ["(SELECT count(*) FROM %s)" % t for t in present] +
    ["(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY model_name), "
     "'')) FROM app.metric_thresholds t)"])


def state():
    return sql(STATE_SQL)[0]


def health_fast():
    t0 = time.time()
    try:
        st, _, body = request(port, "GET", "/health", timeout=5)
    except OSError as e:
        return None, str(e)
    return st, time.time() - t0


# ------------------------------------------------------------- the table

known = routes()
table = []
for method, path, extra, valid, dupkey in ENDPOINTS:
    if path not in known:
        diag("SKIP %s %s: not routed in kore.conf" % (method, path))
        continue
    table += [(method, path) + c for c in cases_for(method, path, extra,
                                                     valid, dupkey)]

diag("hostile cases: %d (%s)" % (len(table), ", ".join(
    "%s %d" % (p, sum(1 for c in table if c[1] == p))
    for p in dict.fromkeys(c[1] for c in table))))

t_start = time.time()
before = state()
bare = 0
for method, path, name, data, want, code in table:
    st, h, raw = http_raw(data)
    after = state()
    if code is None:
        bare += 1
        good = st == want and raw == b""
        why = (st, raw[:200])
    else:
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        good = (st == want and h.get("content-type", "").startswith(
            "application/json") and isinstance(err, dict) and
            set(err) == {"code", "message", "details"} and
            err["code"] == code and isinstance(err["message"], str) and
            err["message"] != "" and isinstance(err["details"], list))
        if good and code == "invalid_json":
            # The 400 says where: jansson's message, line and column.
            good = (len(err["details"]) == 1 and
                    isinstance(err["details"][0].get("message"), str) and
                    isinstance(err["details"][0].get("line"), int))
        elif good and want == 422:
            good = len(err["details"]) >= 1 and all(
                isinstance(d.get("field"), str) and
                isinstance(d.get("message"), str) for d in err["details"])
        why = (st, h.get("content-type"), body if body is not None
               else raw[:200])
    unchanged = after == before
    ok(good and unchanged, "%s %s: %s -> %d %s%s" % (
        method, path, name, want, code or "(Kore, empty body)",
        "" if unchanged else " [ROWS CHANGED]"),
       "got %r\nrows before %r after %r" % (why, before, after))
    before = after
    if st is None or st >= 500:
        hs = health_fast()
        ok(hs[0] == 200, "GET /health still 200 after %r" % name, hs)

hs = health_fast()
ok(hs[0] == 200, "GET /health answers 200 after the whole table", hs)
diag("table: %d cases (%d answered by Kore itself) in %.1f s" % (
    len(table), bare, time.time() - t_start))


# ---------------------------------------------------- framing, keep-alive
#
# After refusing ambiguous framing the server must not read on from the
# same connection (where the next request starts is what is in doubt):
# each case is sent without "Connection: close" and the server must
# close after its answer.  The GET cases reach only our gate: Kore reads
# no body on a GET, so the bytes of one would be taken for the next
# request.

def answer_then_close(data, timeout=10):
    """(status, headers, body, closed) of the first answer; closed: the
    server closed the connection after it, within timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        buf = b""
        t0 = time.time()
        closed = False
        while time.time() - t0 < timeout:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1]) if buf else None
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs.setdefault(k.strip().lower(), v.strip())
        return status, hdrs, body, closed
    finally:
        s.close()


PRED = json.dumps({"text": "I love this product"}).encode()
GET_BODY = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
FRAMING = [
    ("POST /predict, Content-Length %d and 3" % len(PRED),
     build("POST", "/predict", PRED, close=False,
           extra=["Content-Length: 3"]), 400, "invalid_framing"),
    ("POST /predict, Content-Length and Transfer-Encoding: chunked",
     build("POST", "/predict", PRED, close=False,
           extra=["Transfer-Encoding: chunked"]), 400, "invalid_framing"),
    ("POST /predict, two Host lines",
     build("POST", "/predict", PRED, close=False,
           extra=["Host: 127.0.0.1"]), 400, "invalid_framing"),
    ("POST /predict, 40 header lines",
     build("POST", "/predict", PRED, close=False,
           extra=["X-F%d: v" % i for i in range(40)]), 431,
     "header_fields_too_large"),
    ("GET /health, Transfer-Encoding: chunked with a request as body",
     build("GET", "/health", b"%x\r\n%s\r\n0\r\n\r\n" % (
         len(GET_BODY), GET_BODY), ctype=None, length=False, close=False,
         extra=["Transfer-Encoding: chunked"]), 411, "length_required"),
    ("GET /metrics/count, Content-Length with a request as body",
     build("GET", "/metrics/count", GET_BODY, ctype=None, close=False),
     400, "invalid_framing"),
    ("DELETE /nope (the 404 route), a body",
     build("DELETE", "/nope", b"xyz", ctype=None, close=False), 400,
     "invalid_framing"),
    ("GET /nope (the 404 route), two Host lines",
     build("GET", "/nope", b"", ctype=None, length=False, close=False,
           extra=["Host: evil.example"]), 400, "invalid_framing"),
    ("GET /health, Content-Length 5 and 6",
     build("GET", "/health", b"", ctype=None, length=False, close=False,
           extra=["Content-Length: 5", "Content-Length: 6"]), 400,
     "invalid_framing"),
]
rows0 = state()
for name, data, want, code in FRAMING:
    st, h, body, closed = answer_then_close(data)
    try:
        b = json.loads(body.decode("utf-8"))
    except ValueError:
        b = None
    err = b.get("error") if isinstance(b, dict) else None
    ok(st == want and isinstance(err, dict) and err.get("code") == code
       and h.get("connection") == "close" and closed and
       body.count(b"HTTP/1.1") == 0,
       "%s -> %d %s, then the connection closed" % (name, want, code),
       (st, h, body[:300], closed))
    hs = health_fast()
    ok(hs[0] == 200, "GET /health still 200 after %s" % name, hs)
eq(state(), rows0, "the framing cases wrote nothing")

# What is framed one way only is still served: equal Content-Length
# values (RFC 9112 6.3 lets a recipient take them as one), Content-Length
# 0 on a GET, and 21 header lines besides Host (the most Kore parses with
# none dropped that the gate can tell apart).
n0 = int(sql("SELECT count(*) FROM app.prediction_metrics")[0][0])
st, h, body, closed = answer_then_close(build(
    "POST", "/predict", PRED, extra=["Content-Length: %d" % len(PRED)]))
n1 = int(sql("SELECT count(*) FROM app.prediction_metrics")[0][0])
ok(st == 200 and n1 == n0 + 1,
   "POST /predict with two equal Content-Length values -> 200, one row",
   (st, body[:200], n0, n1))
st, h, body, closed = answer_then_close(build(
    "GET", "/health", b"", ctype=None, length=0))
eq(st, 200, "GET /health with Content-Length: 0 -> 200")
st, h, body, closed = answer_then_close(build(
    "GET", "/health", b"", ctype=None, length=False,
    extra=["X-F%d: v" % i for i in range(20)]))
eq(st, 200, "GET /health with 21 header lines besides Host -> 200")
st, h, body, closed = answer_then_close(build(
    "GET", "/health", b"", ctype=None, length=False,
    extra=["X-F%d: v" % i for i in range(21)]))
eq(st, 431, "GET /health with 22 header lines besides Host -> 431")


# ----------------------------------------------------------- slow-loris

def slow_headers(result):
    """Sends a header byte a second; notes when the server closed."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.time()
    data = (b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nX-Slow: " + b"a" * 40)
    got = b""
    try:
        s.sendall(data[:20])
        for b in data[20:]:
            # A second between bytes, unless the server speaks first.
            if select.select([s], [], [], 1.0)[0]:
                break
            s.sendall(bytes([b]))
    except OSError:
        pass
    try:
        s.settimeout(max(0.1, 30 - (time.time() - t0)))
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    result.append((time.time() - t0, got))
    s.close()


def slow_body(result):
    """Complete headers, then a body that stops half way."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.time()
    got = b""
    try:
        s.sendall(build("POST", "/predict", b'{"text": "slow', length=200))
        s.settimeout(30)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    result.append((time.time() - t0, got))
    s.close()


def overlong(result, data):
    """Sends data at once (more bytes than its Content-Length says) and
    reads until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.time()
    got = b""
    try:
        s.sendall(data)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    result.append((time.time() - t0, got))
    s.close()


# Kore 4.1 (http.c http_header_recv): when more bytes than Content-Length
# arrive with the headers, "bytes_left = content_length - received"
# wraps around (u_int64_t) and Kore waits for the rest of a body that
# never ends: the handler never runs, and http_body_timeout answers 408.
# So a body longer than declared, and a request pipelined behind a POST in
# the same packet, both get a bare 408 after 10 s.
OVERLONG = [
    ("Content-Length shorter than the body",
     build("POST", "/predict", b'{"text": "I love this product"}',
           length=5)),
    ("a GET pipelined behind a POST in one packet",
     build("POST", "/predict", b'{"text": "I love this product"}') +
     b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
]

loris_n = 20
results_h, results_b = [], []
results_o = {name: [] for name, _ in OVERLONG}
threads = ([threading.Thread(target=slow_headers, args=(results_h,))
            for _ in range(loris_n)] +
           [threading.Thread(target=slow_body, args=(results_b,))
            for _ in range(loris_n)] +
           [threading.Thread(target=overlong, args=(results_o[name], data))
            for name, data in OVERLONG])
rows0 = state()
t0 = time.time()
for t in threads:
    t.start()
time.sleep(0.5)
probes = []
while time.time() - t0 < HEADER_TIMEOUT - 1:
    probes.append(health_fast())
    time.sleep(0.5)
for t in threads:
    t.join(timeout=40)
ok(probes and all(p[0] == 200 and p[1] < 1.0 for p in probes),
   "GET /health answered 200 in < 1 s, %d times, while %d slow clients "
   "held connections" % (len(probes), 2 * loris_n), probes)
ok(len(results_h) == loris_n and all(
    HEADER_TIMEOUT - 1 <= r[0] < SLOW_BOUND for r in results_h),
   "slow headers: every connection closed by the server after %d..%.0f s"
   % (HEADER_TIMEOUT - 1, SLOW_BOUND), [round(r[0], 2) for r in results_h])
diag("slow headers closed after %.1f..%.1f s, %d with a 408; stalled "
     "bodies after %.1f..%.1f s, %d with a 408" % (
         min(r[0] for r in results_h), max(r[0] for r in results_h),
         sum(1 for r in results_h if r[1]), min(r[0] for r in results_b),
         max(r[0] for r in results_b), sum(1 for r in results_b if r[1])))
ok(all(r[1] == b"" or r[1].startswith(b"HTTP/1.1 408") for r in results_h),
   "slow headers: nothing but Kore's bare 408 before the close",
   [r[1][:80] for r in results_h])
ok(len(results_b) == loris_n and all(r[0] < SLOW_BOUND for r in results_b),
   "stalled body: every connection closed within %.0f s" % SLOW_BOUND,
   [round(r[0], 2) for r in results_b])
ok(all(r[1] == b"" or r[1].startswith(b"HTTP/1.1 408") for r in results_b),
   "stalled body: nothing but Kore's bare 408 before the close",
   [r[1][:80] for r in results_b])
for name, _ in OVERLONG:
    r = results_o[name]
    ok(len(r) == 1 and r[0][0] < SLOW_BOUND and
       r[0][1].startswith(b"HTTP/1.1 408") and r[0][1].endswith(
           b"content-length: 0\r\n\r\n") and
       r[0][1].count(b"HTTP/1.1 ") == 1,
       "%s: Kore's bare 408 only (the handler never runs), within %.0f s"
       % (name, SLOW_BOUND), r)
eq(state(), rows0, "the slow clients wrote nothing")

# ---- oversized header blocks ----------------------------------------------
# Past http_header_max (kore.conf) Kore closes the connection before the
# module sees anything: no answer at all (docs/http.md).  Nothing is
# written, and the server goes on serving.
rows0 = state()
for name, extra in [
        ("one 9000-byte header", ["X-Big: " + "a" * 9000]),
        ("a 64 KB header", ["X-Big: " + "a" * 65536]),
        ("10,000 header lines", ["X-H%d: v" % i for i in range(10000)])]:
    st, h, raw = http_raw(build("POST", "/predict", b'{"text": "hi"}',
                                extra=extra))
    diag("%s: %s" % (name, "closed without an answer" if st is None
                     else "%d %r" % (st, raw[:80])))
    ok(st is None or (400 <= st < 500 and raw == b""),
       "headers over http_header_max (%s): closed or a bare 4xx from Kore"
       % name, (st, raw[:100]))
    hs = health_fast()
    ok(hs[0] == 200, "GET /health still 200 after %s" % name, hs)
eq(state(), rows0, "the oversized header blocks wrote nothing")
hs = health_fast()
ok(hs[0] == 200, "GET /health answers 200 after the slow clients", hs)

# ----------------------------------------------------- positive controls

if "/predict" in known:
    def accepted(name, body):
        n0 = int(sql("SELECT count(*) FROM app.prediction_metrics")[0][0])
        st, _, raw = http_raw(build("POST", "/predict", body))
        n1 = int(sql("SELECT count(*) FROM app.prediction_metrics")[0][0])
        try:
            b = json.loads(raw)
        except ValueError:
            b = raw[:200]
        ok(st == 200 and isinstance(b, dict) and
           b.get("metric", {}).get("input_length") == 1000 and n1 == n0 + 1,
           "positive control: %s -> 200, 1000 code points, one row" % name,
           (st, b, n0, n1))

    accepted("1000 emoji", json.dumps({"text": "\U0001F600" * 1000},
                                      ensure_ascii=False).encode())
    accepted("1000 escaped surrogate pairs",
             b'{"text": "' + b"\\ud83d\\ude00" * 1000 + b'"}')
    body = json.dumps({"text": "\u20ac" * 1000}, ensure_ascii=False).encode()
    accepted("1000 three-byte characters in a body of exactly "
             "HTTP_BODY_MAX bytes", body + b" " * (BODY_MAX - len(body)))

diag("hostile suite: %d table cases, %d slow clients, %d overlong "
     "bodies" % (len(table), 2 * loris_n, len(OVERLONG)))
done()
