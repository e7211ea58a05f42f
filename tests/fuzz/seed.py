"""seed.py: writes the fuzzers' starting inputs (Python 3 stdlib only).

    python3 tests/fuzz/seed.py DIR

makes DIR/fuzz_request (request bodies: valid and hostile ones for every
JSON route), DIR/fuzz_model (the smoke set's texts, emoji, invalid UTF-8,
the length limits) and DIR/fuzz_gemini (recorded replies from
tests/unit/fixtures, the fake Gemini's shapes, error bodies, report
texts, Retry-After values).  tests/fuzz/run.sh seeds a new corpus with it
and `run.sh merge` keeps only what adds coverage in tests/fuzz/corpus/.
"""
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

REPORT = {
    "summary": "Confidence fell 12% while latency stayed flat.",
    "identified_issues": [
        {"issue_type": "confidence_drop", "severity": "medium",
         "description": "Average confidence fell from 0.85 to 0.75."},
        {"issue_type": "latency", "severity": "critical",
         "description": "p95 doubled."},
    ],
    "recommendations": ["Review recent low-confidence inputs."],
    "root_cause_hypothesis": "New topics in the input.",
    "confidence_score": 0.7,
}


def smoke_texts():
    path = os.path.join(ROOT, "tests", "data", "sentiment_smoke.tsv")
    texts = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < 2:
                continue
            texts.append(line.rstrip("\n").split("\t")[0])
    return texts


def request_seeds():
    j = lambda o: json.dumps(o).encode()
    s = [
        j({"text": "I love this product"}),
        j({"text": "This is terrible. I hate it.", "include_metrics": False}),
        j({"text": "x" * 1000, "unknown": [1, 2]}),
        j({"text": "\u00e9" * 1000}),
        j({"text": "\U0001F600" * 1000}),
        j({"text": "a" * 1001}),
        j({"text": ""}),
        b'{"text": "a\\u0000b"}',
        b'{"text": "\\ud83d\\ude00 ok"}',
        b'{"text": "\\ud800"}',
        b'{"text": "a", "text": "b"}',
        b'{"text": 42}', b'{"text": null}', b'{"text": ["a"]}',
        b'{"text": "hi", "include_metrics": "yes"}',
        b'["text"]', b'"text"', b'null', b'1e400', b'-1e400', b'1e309',
        b'18446744073709551616', b'NaN', b'Infinity', b'-Infinity',
        b'\xef\xbb\xbf{"text": "bom"}', b'{"text": "x"} trailing',
        b'{"text": "\xc0\xaf"}', b'{"text": "\xe0\x80\xaf"}',
        b'{"text": "\xed\xa0\x80"}', b'{"text": "\x80"}',
        b'{"text": "\xff"}', b'{"text": "a\x00b"}',
        b'[' * 64 + b']' * 64, b'{"a":' * 40 + b'1' + b'}' * 40,
        j({"time_window_minutes": 60, "model_name": "vader"}),
        j({"time_window_minutes": 0}), j({"time_window_minutes": 1441}),
        j({"time_window_minutes": 1.5}), j({"model_name": "Bad Name"}),
        j({"model_name": "a" * 64}), j({"model_name": None}),
        j({"time_window_minutes": 1440, "model_name": "vader",
           "model_version": "3.3.2"}),
        j({"model_version": "03.3.2"}), j({"model_version": "1.2"}),
        b'{"model_name": "a\\u0000b"}',
        j({"min_confidence_warning": 0.6, "min_confidence_critical": 0.4,
           "max_inference_time_warning_ms": 200,
           "max_inference_time_critical_ms": 500}),
        j({"model_name": "vader", "min_confidence_warning": 0.5}),
        j({"min_confidence_warning": 0.4, "min_confidence_critical": 0.6}),
        j({"max_inference_time_warning_ms": 0}),
        b'{"max_inference_time_warning_ms": 1e308}',
        j({"min_confidence_warning": None}), j({}),
        b'1440\x0060\x00vader\x003.3.2',
        b'60\x001\x00\x00', b'1440\x001', b'abc\x00-1',
    ]
    for t in smoke_texts()[:40]:
        s.append(j({"text": t}))
    return s


def model_seeds():
    s = [t.encode() for t in smoke_texts()]
    s += [
        "\U0001F600 \U0001F622 \u2764\ufe0f \U0001F44D\U0001F3FD".encode(),
        "\U0001F600".encode() * 1024,
        b"a" * 4096, b"a" * 4097, b"! " * 2048, b"? " * 2048,
        b"NOT GOOD BUT GREAT!!!", b"kind of " * 300,
        b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
        b"a\x00b", b"", b" \t\n\r\x0b\x0c",
        "\u0130\u1e9e\u00df \u03a3\u039f\u03a6\u039f\u03a3".encode(),
        ":) :( :D <3 :-/ ;)".encode(),
    ]
    return s


def gemini_seeds():
    fix = os.path.join(ROOT, "tests", "unit", "fixtures")
    s = []
    for name in sorted(os.listdir(fix)):
        if name.startswith("gemini_reply"):
            with open(os.path.join(fix, name), "rb") as f:
                s.append(f.read())

    def reply(text):
        return json.dumps({"candidates": [{"content": {"parts": [
            {"text": text}], "role": "model"}, "finishReason": "STOP",
            "index": 0}], "modelVersion": "fake"}).encode()

    def err(status, name, delay=None):
        d = []
        if delay is not None:
            d.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                      "retryDelay": delay})
        return json.dumps({"error": {"code": status, "message": "x",
                                     "status": name, "details": d}}).encode()

    bad = dict(REPORT, confidence_score=1.5)
    s += [
        reply(json.dumps(REPORT)), reply("not json"), reply("{}"),
        reply(json.dumps(bad)),
        reply(json.dumps(dict(REPORT, identified_issues=[{}] * 21))),
        json.dumps(REPORT).encode(),
        json.dumps(dict(REPORT, extra=1)).encode(),
        b'{"candidates": []}',
        b'{"promptFeedback": {"blockReason": "SAFETY"}}',
        b'{"candidates": [{"finishReason": "MAX_TOKENS"}]}',
        err(429, "RESOURCE_EXHAUSTED", "2s"),
        err(429, "RESOURCE_EXHAUSTED", "0.250s"),
        err(503, "UNAVAILABLE", "46.123456789s"),
        err(400, "INVALID_ARGUMENT"), err(500, "internal"),
        b"120\n", b"Sun, 06 Nov 1994 08:49:37 GMT\n",
        b"Fri, 01 Jan 2027 00:00:00 GMT\n", b"1.5s\n",
    ]
    return s


def write(d, seeds):
    os.makedirs(d, exist_ok=True)
    for data in seeds:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seed.py DIR")
    out = sys.argv[1]
    write(os.path.join(out, "fuzz_request"), request_seeds())
    write(os.path.join(out, "fuzz_model"), model_seeds())
    write(os.path.join(out, "fuzz_gemini"), gemini_seeds())


if __name__ == "__main__":
    main()
