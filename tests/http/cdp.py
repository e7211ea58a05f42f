"""cdp.py: headless Chromium driven over the DevTools protocol, with the
Python 3 standard library only (a small RFC 6455 WebSocket client).

    b = Browser(os.path.join(OUT, "chromium.log")).start()
    page = b.page()                       # the first tab, a CDP session
    page.call("Page.enable")
    page.call("Page.navigate", {"url": url})
    page.wait_event("Page.loadEventFired", timeout=20)
    page.evaluate("document.title")
    b.stop()

Every wait is bounded; events that arrive while waiting for a reply are
kept in page.events, in order.  Chromium runs in a session of its own and
is stopped by its process id (and that session's process group).
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-extensions", "--disable-default-apps",
         "--mute-audio", "--remote-debugging-port=0"]
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class CDPError(Exception):
    pass


class Session:
    """One WebSocket to a DevTools target (a page)."""

    def __init__(self, ws_url, timeout=10):
        assert ws_url.startswith("ws://")
        hostport, _, path = ws_url[5:].partition("/")
        host, _, port = hostport.rpartition(":")
        self.sock = socket.create_connection((host, int(port)),
                                             timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise CDPError("DevTools closed the handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        want = base64.b64encode(hashlib.sha1(
            (key + WS_GUID).encode()).digest()).decode()
        lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in lines[0] + " " or not any(
                ln.lower().startswith("sec-websocket-accept:") and
                ln.split(":", 1)[1].strip() == want for ln in lines):
            raise CDPError("WebSocket handshake refused: %s" % lines[0])
        self.next_id = 1
        self.events = []

    # -------------------------------------------------------- frames
    def _send(self, payload, opcode=0x1):
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _read(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("DevTools: no data in time")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except socket.timeout:
                raise TimeoutError("DevTools: no data in time")
            if not chunk:
                raise CDPError("DevTools closed the connection")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _message(self, deadline):
        """The next whole text message (pings answered on the way)."""
        parts = []
        while True:
            b0, b1 = self._read(2, deadline)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack("!H", self._read(2, deadline))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8, deadline))[0]
            mask = self._read(4, deadline) if b1 & 0x80 else None
            data = self._read(n, deadline)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            opcode = b0 & 0x0f
            if opcode == 0x9:
                self._send(data, 0xA)
                continue
            if opcode == 0x8:
                raise CDPError("DevTools closed the WebSocket")
            if opcode in (0x0, 0x1, 0x2):
                parts.append(data)
                if b0 & 0x80:
                    return json.loads(b"".join(parts).decode("utf-8"))

    # -------------------------------------------------------- protocol
    def call(self, method, params=None, timeout=10):
        """Sends a command; returns its result (events are kept)."""
        cid = self.next_id
        self.next_id += 1
        self._send(json.dumps({"id": cid, "method": method,
                               "params": params or {}}).encode())
        deadline = time.time() + timeout
        while True:
            msg = self._message(deadline)
            if msg.get("id") == cid:
                if "error" in msg:
                    raise CDPError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds):
        """Collects the events of the next few seconds."""
        deadline = time.time() + seconds
        try:
            while True:
                msg = self._message(deadline)
                if "method" in msg:
                    self.events.append(msg)
        except TimeoutError:
            pass

    def wait_event(self, method, timeout=10, since=0):
        """The first event named method (from index since), waiting for
        it up to timeout seconds."""
        deadline = time.time() + timeout
        while True:
            for ev in self.events[since:]:
                if ev["method"] == method:
                    return ev
            if time.time() >= deadline:
                raise TimeoutError("no %s within %s s" % (method, timeout))
            try:
                msg = self._message(min(deadline, time.time() + 0.5))
                if "method" in msg:
                    self.events.append(msg)
            except TimeoutError:
                pass

    def evaluate(self, expr, timeout=10):
        """The value of a JavaScript expression (awaited if a promise)."""
        r = self.call("Runtime.evaluate", {
            "expression": expr, "returnByValue": True,
            "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            raise CDPError("JavaScript: %s" % json.dumps(
                r["exceptionDetails"])[:800])
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout=15, interval=0.1):
        """Polls expr until it is truthy; returns its value."""
        deadline = time.time() + timeout
        while True:
            v = self.evaluate(expr)
            if v:
                return v
            if time.time() >= deadline:
                raise TimeoutError("still false after %s s: %s" % (timeout,
                                                                   expr))
            self.pump(interval)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """Chromium, headless, with a fresh profile."""

    def __init__(self, log, width=1280, height=1600):
        self.log = log
        self.size = (width, height)
        self.proc = None
        self.profile = None
        self.port = None

    def start(self, timeout=30):
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + self.profile,
                                  "--window-size=%d,%d" % self.size,
                                  "about:blank"],
            stdout=self.logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        # With port 0 Chromium picks one and writes it into the profile.
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited with %s; see %s" % (
                    self.proc.returncode, self.log))
            try:
                with open(active) as f:
                    self.port = int(f.readline().strip())
                break
            except (OSError, ValueError):
                pass
            if time.time() >= deadline:
                raise CDPError("chromium opened no DevTools port in %s s"
                               % timeout)
            time.sleep(0.1)
        return self

    def targets(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list"
                                    % self.port, timeout=10) as r:
            return json.loads(r.read())

    def page(self, timeout=15):
        """A session on the first page target."""
        deadline = time.time() + timeout
        while True:
            pages = [t for t in self.targets() if t.get("type") == "page"]
            if pages:
                return Session(pages[0]["webSocketDebuggerUrl"])
            if time.time() >= deadline:
                raise CDPError("no page target")
            time.sleep(0.1)

    def stop(self):
        """SIGTERM to Chromium's process group, SIGKILL after 5 s."""
        if self.proc is not None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                if self.proc.poll() is not None:
                    break
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=wait)
                except subprocess.TimeoutExpired:
                    pass
            self.proc = None
            self.logf.close()
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None
