"""fake_gemini.py: a scriptable stand-in for Gemini's generateContent
(Python 3 standard library only), for the analyzer's HTTP tests.

In a test:

    fake = FakeGemini().start()            # loopback, a free port
    fake.script(reply_ok(report), error(503, "UNAVAILABLE"), ...)
    ... POST /analyze/performance against a server whose
        GEMINI_BASE_URL is fake.url ...
    fake.calls()                           # what it received, in order
    fake.stop()

Each request takes the next scripted response; when the script is empty
it answers with a valid report.  A response is a dict: status, body (a
dict is sent as JSON, str/bytes as they are), headers, delay (seconds
before answering) or close (drop the connection without an answer).
Every request is recorded: method, path, headers (lower-case), raw body
and the parsed JSON body, and the time it arrived.

With tls=(certfile, keyfile) it serves HTTPS.  Standalone, for manual
runs (answers every request with a valid report, logs to stderr):

    python3 tests/http/fake_gemini.py PORT [CERT KEY]
"""
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPORT = {
    "summary": "The model is healthy; confidence and latency are steady.",
    "identified_issues": [
        {"issue_type": "confidence_drop", "severity": "medium",
         "description": "Average confidence fell slightly."},
    ],
    "recommendations": ["Keep monitoring the confidence trend."],
    "root_cause_hypothesis": "Normal variation in the inputs.",
    "confidence_score": 0.8,
}


def reply_text(text, **kw):
    """A 200 generateContent reply whose candidate text is text."""
    r = {"status": 200, "body": {
        "candidates": [{"content": {"parts": [{"text": text}],
                                    "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 400,
                          "candidatesTokenCount": 90,
                          "totalTokenCount": 490},
        "modelVersion": "fake"}}
    r.update(kw)
    return r


def reply_ok(report=None, **kw):
    """A 200 whose text is report (default REPORT) as JSON."""
    return reply_text(json.dumps(report if report is not None else REPORT),
                      **kw)


def error(status, name, message="fake error", retry_delay=None, **kw):
    """A google.rpc.Status error body; retry_delay adds a RetryInfo."""
    details = []
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": retry_delay})
    r = {"status": status, "body": {"error": {
        "code": status, "message": message, "status": name,
        "details": details}}}
    r.update(kw)
    return r


class FakeGemini:
    def __init__(self, tls=None):
        self.tls = tls
        self._lock = threading.Lock()
        self._script = []
        self._calls = []
        self.srv = None
        self.port = None

    @property
    def url(self):
        scheme = "https" if self.tls else "http"
        host = "localhost" if self.tls else "127.0.0.1"
        return "%s://%s:%d" % (scheme, host, self.port)

    def start(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                fake._handle(self)

            do_GET = do_POST

            def log_message(self, fmt, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass	# clients that time out and leave are expected

        self.srv = Server(("127.0.0.1", 0), Handler)
        self.port = self.srv.server_address[1]
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket,
                                              server_side=True)
        self._thread = threading.Thread(target=self.srv.serve_forever,
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self.srv is not None:
            self.srv.shutdown()
            self.srv.server_close()
            self.srv = None

    def script(self, *responses):
        """Replaces the script and forgets the calls."""
        with self._lock:
            self._script = list(responses)
            self._calls = []

    def calls(self):
        with self._lock:
            return list(self._calls)

    def _handle(self, h):
        n = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(n) if n else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self._calls.append({
                "t": time.time(), "method": h.command, "path": h.path,
                "headers": {k.lower(): v for k, v in h.headers.items()},
                "raw": raw, "body": body})
            r = self._script.pop(0) if self._script else reply_ok()
        if r.get("delay"):
            time.sleep(r["delay"])
        if r.get("close"):
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        data = r.get("body", b"")
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
        elif isinstance(data, str):
            data = data.encode()
        try:
            h.send_response(r.get("status", 200))
            h.send_header("content-type", "application/json; charset=UTF-8")
            for k, v in r.get("headers", {}).items():
                h.send_header(k, v)
            h.send_header("content-length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass	# the client gave up (a timeout test)


def main():
    port = int(sys.argv[1])
    tls = (sys.argv[2], sys.argv[3]) if len(sys.argv) == 4 else None
    fake = FakeGemini(tls=tls)
    fake.port = port
    # Standalone: fixed port, valid reports, one line per call.
    srv_cls = ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            fake._handle(self)
            sys.stderr.write("fake_gemini: %s %s\n" % (self.command,
                                                       self.path))

    srv = srv_cls(("127.0.0.1", port), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
