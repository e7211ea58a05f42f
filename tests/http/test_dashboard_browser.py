"""test_dashboard_browser.py: GET /dashboard in a real browser (headless
Chromium), against a real server and PostgreSQL.

- The page loads with nothing but this server's files and JSON (every
  request goes to the server; no script error, nothing logged as an
  error, the Content-Security-Policy blocks nothing).
- Every chart draws its series (pixels of the series' colour on each
  canvas), and the figures the page prints are the API's for the same
  window and selection (count, window total, average confidence, average
  and P95 inference time, the 429 counter, the status).
- Predictions made while the page is open appear after its next refresh.
- Thresholds changed with PUT /metrics/thresholds move the lines (the row
  of the WARNING colour on the confidence canvas moves to where the new
  value is) and turn the badge to WARNING, then CRITICAL, with the reason.
- Keyboard: the window is changed with the arrow keys, the analyzer is
  run with Enter, and says it is rule-based (no Gemini key here).
- Several model versions (a /models answer with two, served to the page
  through the DevTools protocol since the server has one model; rows of
  the second version inserted in SQL): one series each, and a selector.
- The database stopped: the page says so (banner, database "down", badge
  unknown) and recovers by itself when it is back.
- Screenshots at desktop and phone sizes in tests/out/dashboard-*.png.
- Memory: a few hundred refreshes (?refresh_ms=100) with the JS heap
  measured after a forced GC: the late samples are not above the early
  ones by more than a margin, nor the DOM node count.
"""
import base64
import json
import os
import re
import subprocess
import time

from cdp import CHROMIUM, Browser, CDPError
from fake_gemini import REPORT, FakeGemini, error
from lib import (OUT, ROOT, Server, diag, done, eq, ok, pg, pg_start,
                 predict, request, reset_data, sql, sql_value)

TOKEN = "t0ken-for-the-dashboard-test"
AUTH = {"Authorization": "Bearer " + TOKEN}
REFRESH_MS = 300
MEM_REFRESHES = 300
# Okabe-Ito colours the page uses (dashboard.js).
BLUE, ORANGE, VERMILLION, GREEN = ((0, 114, 178), (230, 159, 0),
                                   (213, 94, 0), (0, 158, 115))

if not ok(os.access(CHROMIUM, os.X_OK),
          "chromium is installed (make test-deps)", CHROMIUM):
    done()
r = subprocess.run(["make", "--no-print-directory", "-s", "dashboard"],
                   cwd=ROOT, capture_output=True, text=True, timeout=300)
if not ok(r.returncode == 0, "make dashboard builds the page's files (npm)",
          r.stdout + r.stderr):
    done()

reset_data()
gemini = FakeGemini().start()
srv = Server("dashboard-browser", env={
    "ADMIN_TOKEN": TOKEN, "RATE_LIMIT_ANALYZE_PER_MINUTE": "3",
    "GEMINI_API_KEY": "fake-key-for-the-dashboard-test",
    "GEMINI_BASE_URL": gemini.url, "GEMINI_TIMEOUT_MS": "5000",
    "GEMINI_RETRY_BASE_MS": "50", "GEMINI_RETRY_MAX_MS": "200"}).start()
base = "http://127.0.0.1:%d" % srv.port
# Labels in unequal shares, so that no series hides another.
TEXTS = ["I love this, it is wonderful", "This is awful, I hate it",
         "Great, just great, I like it", "The parcel came on Tuesday",
         "What a lovely day", "Terrible service, very bad"]
seeded = [predict(srv.port, TEXTS[i % 6])[0] for i in range(12)]
eq(seeded, [200] * 12, "12 predictions to start with")


def api(method, path, body=None):
    st, _, b = request(srv.port, method, path, body=body)
    return b if st == 200 else None


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= rel * max(1.0, abs(float(b)))


def stat(page, name):
    """The raw value the page printed for a figure ('' when none)."""
    return page.evaluate("document.getElementById('stat-%s').dataset.value"
                         % name)


def refreshes(page):
    return int(page.evaluate(REFRESHES))


# The refreshes the page finished (0 while it loads).
REFRESHES = "((document.body && Number(document.body.dataset.refreshes)) || 0)"


def next_refresh(page, n=2, timeout=30):
    """Waits until the page has finished n more refreshes."""
    want = refreshes(page) + n
    page.wait_for(REFRESHES + " >= %d" % want,
                  timeout=timeout)


# Per chart: how many pixels of a colour its canvas holds, and on which
# row most of them are (a horizontal threshold line).
PIXELS_JS = r"""
((id, rgb) => {
  const c = document.querySelector('#chart-' + id + ' canvas');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const rows = new Map(); let n = 0;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    const i = (y * c.width + x) * 4;
    if (d[i + 3] > 150 && Math.abs(d[i] - rgb[0]) < 40 &&
        Math.abs(d[i + 1] - rgb[1]) < 40 && Math.abs(d[i + 2] - rgb[2]) < 40) {
      n++; rows.set(y, (rows.get(y) || 0) + 1);
    }
  }
  let best = -1, most = 0, top = c.height, bottom = -1;
  rows.forEach((v, y) => {
    if (v > most) { most = v; best = y; }
    top = Math.min(top, y); bottom = Math.max(bottom, y);
  });
  return {n: n, row: best, most: most, top: top, bottom: bottom,
          height: c.height};
})(%s, %s)
"""


def pixels(page, chart, rgb):
    return page.evaluate(PIXELS_JS % (json.dumps(chart), json.dumps(rgb)))


def console_errors(events, allow_network=False):
    out = []
    for e in events:
        p = e["params"]
        if e["method"] == "Runtime.exceptionThrown":
            out.append(p)
        elif e["method"] == "Runtime.consoleAPICalled" and \
                p["type"] == "error":
            out.append(p)
        elif e["method"] == "Log.entryAdded" and \
                p["entry"]["level"] == "error":
            if allow_network and p["entry"].get("source") == "network" and \
                    "status of 503" in p["entry"].get("text", ""):
                continue
            out.append(p)
    return out


def screenshot(page, name, width, height, mobile):
    page.call("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1,
        "mobile": mobile})
    page.pump(1.5)
    full = page.call("Page.getLayoutMetrics")["cssContentSize"]
    shot = page.call("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width,
                 "height": int(full["height"]), "scale": 1}}, timeout=30)
    path = os.path.join(OUT, "dashboard-%s.png" % name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    return path


browser = Browser(os.path.join(OUT, "chromium-dash-%d.log" % srv.port))
page = None
try:
    browser.start()
    page = browser.page()
    for domain in ("Page", "Network", "Runtime", "Log", "Audits",
                   "Performance"):
        page.call(domain + ".enable")
    page.call("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": 900, "deviceScaleFactor": 1,
        "mobile": False})

    # ---- loads, draws, prints the API's figures -------------------------
    mark = len(page.events)
    page.call("Page.navigate", {"url": base + "/dashboard?refresh_ms=%d" %
                                REFRESH_MS})
    page.wait_event("Page.loadEventFired", timeout=30, since=mark)
    page.wait_for(REFRESHES + " >= 2",
                  timeout=30)
    next_refresh(page, 1)

    # Three 429s from a client of their own (the analyzer's limit is
    # 3/min), while the page samples the counter.
    for i in range(6):
        request(srv.port, "POST", "/analyze/performance", body={},
                source="127.0.0.21")
    next_refresh(page, 2)
    agg = api("POST", "/metrics/aggregated", {"time_window_minutes": 60})
    count = api("GET", "/metrics/count")
    eq(stat(page, "window-total"), str(agg["total_predictions"]),
       "the page prints the window's total of POST /metrics/aggregated "
       "(1 h: %s)" % agg["total_predictions"])
    eq(stat(page, "count"), str(count["total_predictions"]),
       "... the all-time total of GET /metrics/count")
    for name, key in (("confidence", "average_confidence"),
                      ("avg-ms", "average_inference_time_ms"),
                      ("p95-ms", "p95_inference_time_ms")):
        got = stat(page, name)
        ok(close(got or None, agg[key]), "... its %s (%s)" % (key, agg[key]),
           "page %r, API %r" % (got, agg[key]))
    status = page.evaluate("document.getElementById('status').dataset"
                           ".status")
    eq(status, agg["status"], "the badge shows the API's status (%s)"
       % agg["status"])
    reason = page.evaluate("document.getElementById('status-reason')"
                           ".textContent")
    ok("confidence" in reason and "P95" in reason, "... with its reason",
       reason)
    rejected = sum(float(l.split()[-1]) for l in request(
        srv.port, "GET", "/metrics/prometheus")[2].splitlines()
        if l.startswith("modelserver_ratelimit_rejections_total{"))
    ok(rejected >= 3 and stat(page, "429") == str(int(rejected)),
       "the page prints the 429 counter of /metrics/prometheus (%d)" %
       rejected, stat(page, "429"))
    db = page.evaluate("document.getElementById('stat-db').textContent")
    ok(db.startswith("up"), "the database shows as up", db)

    for chart, rgb, what in (("rate", BLUE, "the predictions-per-second "
                              "series"),
                             ("latency", BLUE, "the P95 series"),
                             ("latency", ORANGE, "the WARNING line"),
                             ("latency", VERMILLION, "the CRITICAL line"),
                             ("confidence", BLUE, "the confidence series"),
                             ("confidence", ORANGE, "the WARNING line"),
                             ("labels", GREEN, "the positive share"),
                             ("labels", VERMILLION, "the negative share"),
                             ("429", VERMILLION, "the 429 rate")):
        px = pixels(page, chart, rgb)
        ok(px and px["n"] > 15, "chart %s draws %s (%s px)" % (
            chart, what, px and px["n"]), px)
    px = pixels(page, "429", VERMILLION)
    ok(px["top"] < px["bottom"] - 20, "... and the 429 rate rises above "
       "zero (rows %d..%d)" % (px["top"], px["bottom"]), px)
    described = page.evaluate("document.getElementById('chart-confidence')"
                              ".getAttribute('aria-label')")
    ok(described and "WARNING 0.6" in described and "CRITICAL 0.4" in
       described, "the confidence chart has a text alternative with its "
       "latest values", described)
    rate = page.evaluate("modelserverDashboard.data('rate')")
    ts = api("GET", "/metrics/timeseries?window_minutes=60&bucket_minutes=1")
    eq(len(rate[0]), len(ts["buckets"]), "the rate chart has one point per "
       "bucket of /metrics/timeseries (%d)" % len(ts["buckets"]))
    ok(all(v is not None for v in rate[1]), "... every bucket placed (a "
       "rate each), the partial oldest and newest too", rate[1][-3:])
    empties = page.evaluate("Array.from(document.querySelectorAll('.empty'))"
                            ".filter(e => !e.hidden).map(e => e.textContent)")
    eq(empties, [], "no chart says it is empty or stale")

    # ---- predictions made now appear after the next refresh ---------------
    before = int(stat(page, "window-total"))
    for i in range(5):
        predict(srv.port, TEXTS[i % 6])
    next_refresh(page, 2)
    agg = api("POST", "/metrics/aggregated", {"time_window_minutes": 60})
    eq(int(stat(page, "window-total")), before + 5,
       "5 predictions made now are counted after the next refresh")
    eq(int(stat(page, "window-total")), agg["total_predictions"],
       "... as POST /metrics/aggregated counts them")

    # ---- thresholds move the lines; the badge follows ---------------------
    line0 = pixels(page, "confidence", ORANGE)
    st, _, _ = request(srv.port, "PUT", "/metrics/thresholds", headers=AUTH,
                       body={"min_confidence_warning": 0.95})
    eq(st, 200, "PUT /metrics/thresholds: min_confidence_warning 0.95")
    next_refresh(page, 2)
    line1 = pixels(page, "confidence", ORANGE)
    # y range 0..1 on the canvas: 0.6 -> 0.95 moves the line up by 35 %
    # of the plot's height (the plot is the canvas less its axes).
    moved = line0["row"] - line1["row"]
    ok(line1["most"] > 40 and 0.2 * line0["height"] < moved <
       0.4 * line0["height"], "the WARNING line moved up (row %d -> %d of "
       "%d)" % (line0["row"], line1["row"], line0["height"]),
       (line0, line1))
    eq(page.evaluate("document.getElementById('status').dataset.status"),
       "warning", "the badge turns WARNING")
    reason = page.evaluate("document.getElementById('status-reason')"
                           ".textContent")
    ok("confidence" in reason and "warning 0.95" in reason,
       "... saying average confidence is at or below the warning 0.95",
       reason)
    request(srv.port, "PUT", "/metrics/thresholds", headers=AUTH,
            body={"min_confidence_critical": 0.9})
    next_refresh(page, 2)
    eq(page.evaluate("document.getElementById('status-text').textContent"),
       "CRITICAL", "min_confidence_critical 0.9: the badge says CRITICAL")
    crit = pixels(page, "confidence", VERMILLION)
    ok(crit["row"] < line0["row"], "the CRITICAL line moved up too "
       "(row %d)" % crit["row"], crit)
    request(srv.port, "PUT", "/metrics/thresholds", headers=AUTH,
            body={"min_confidence_critical": 0.4,
                  "min_confidence_warning": 0.6})
    next_refresh(page, 2)
    eq(page.evaluate("document.getElementById('status').dataset.status"),
       "normal", "thresholds back: normal again")

    # ---- keyboard: the window, the analyzer ------------------------------
    def key(name, code, text=None):
        for t in ("keyDown", "keyUp"):
            e = {"type": t, "key": name, "code": name,
                 "windowsVirtualKeyCode": code}
            if text and t == "keyDown":
                e["text"] = text
            page.call("Input.dispatchKeyEvent", e)

    page.evaluate("document.querySelector('input[name=window][value=\"60\"]')"
                  ".focus()")
    mark = len(page.events)
    key("ArrowLeft", 37)
    eq(page.evaluate("document.querySelector('input[name=window]:checked')"
                     ".value"), "5", "ArrowLeft on the window picks 5 min")
    next_refresh(page, 2)
    urls = [e["params"]["request"]["url"] for e in page.events[mark:]
            if e["method"] == "Network.requestWillBeSent"]
    ok(any("/metrics/timeseries?window_minutes=5&bucket_minutes=1" in u
           for u in urls), "... and the page asks for 5 minutes in 1-min "
       "buckets", urls[-8:])
    agg5 = api("POST", "/metrics/aggregated", {"time_window_minutes": 5})
    eq(stat(page, "window-total"), str(agg5["total_predictions"]),
       "the window total is the API's for 5 min")
    calls0 = len(gemini.calls())
    page.evaluate("document.getElementById('analyze').focus()")
    key("Enter", 13, "\r")
    src = page.wait_for("(document.querySelector('#analysis .source') || {})"
                        ".textContent", timeout=30)
    eq(src, "Gemini", "Enter on Analyze: the summary is marked Gemini")
    summary = page.evaluate("document.querySelectorAll('#analysis p')[1]"
                            ".textContent")
    sent = gemini.calls()[calls0:]
    ok(len(sent) == 1 and REPORT["summary"] == summary,
       "... shows Gemini's summary, from one call", (len(sent), summary))
    # Gemini refuses the next one (another window: not cached).
    gemini.script(error(400, "INVALID_ARGUMENT"))
    page.evaluate("document.querySelector('input[name=window]"
                  "[value=\"1440\"]').click()")
    page.evaluate("document.getElementById('analyze').click()")
    src = page.wait_for("(() => { const s = document.querySelector("
                        "'#analysis .source'); return s && s.dataset.source"
                        " === 'rules' && s.textContent; })()", timeout=30)
    eq(src, "rule-based", "Gemini refusing: the summary is marked "
       "rule-based")
    head = page.evaluate("document.querySelector('#analysis p')"
                         ".textContent")
    ok("Gemini" in head, "... saying why", head)
    summary = page.evaluate("document.querySelectorAll('#analysis p')[1]"
                            ".textContent")
    ok("predictions in the last 1440 minutes" in summary,
       "... and shows the rules' summary of the window", summary)
    page.evaluate("document.querySelector('input[name=window]"
                  "[value=\"5\"]').click()")

    # ---- screenshots --------------------------------------------------------
    for name, w, h, mobile in (("desktop", 1280, 900, False),
                               ("phone", 390, 844, True)):
        path = screenshot(page, name, w, h, mobile)
        ok(os.path.getsize(path) > 20000, "screenshot: %s" % path)
    page.call("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": 900, "deviceScaleFactor": 1,
        "mobile": False})
    next_refresh(page, 1)

    # ---- everything so far came from this server, without errors ----------
    ev = page.events
    urls = [e["params"]["request"]["url"] for e in ev
            if e["method"] == "Network.requestWillBeSent"]
    outside = [u for u in urls if not u.startswith(base + "/") and
               not u.startswith("data:")]
    ok(urls and not outside, "every request of the page went to this "
       "server (%d requests)" % len(urls), outside)
    for path in ("/dashboard/uPlot.iife.min.js", "/dashboard/dashboard.js",
                 "/health", "/metrics/thresholds", "/metrics/prometheus"):
        ok(any(u.startswith(base + path) for u in urls),
           "the page loaded %s" % path)
    failed = [e["params"] for e in ev if e["method"] == "Network.loadingFailed"
              and e["params"].get("errorText") != "net::ERR_ABORTED"]
    ok(not failed, "no request of the page failed", failed)
    errors = console_errors(ev)
    ok(not errors, "no script error, nothing logged as an error",
       json.dumps(errors)[:2000])
    csp = [e["params"] for e in ev if e["method"] == "Audits.issueAdded" and
           "ContentSecurityPolicy" in e["params"]["issue"]["code"]]
    ok(not csp, "the Content-Security-Policy blocked nothing",
       json.dumps(csp)[:2000])

    # ---- several versions: one series each, a selector -------------------
    health = api("GET", "/health")
    name, v1 = health["model_name"], health["model_version"]
    v2 = "9.9.9"
    sql("INSERT INTO app.model_versions (name, version) VALUES ('%s', '%s') "
        "ON CONFLICT DO NOTHING" % (name, v2))
    sql("INSERT INTO app.prediction_metrics (prediction_id, model_version_id,"
        " label, confidence, compound, pos, neu, neg, inference_time_ms, "
        "input_length, client_ip, created_at) SELECT gen_random_uuid(), v.id,"
        " 'negative', 0.5, -0.5, 0, 0.5, 0.5, 0.25, 10, '127.0.0.99', "
        "now() - interval '1 minute' "
        "FROM app.model_versions v, generate_series(1, 7) "
        "WHERE v.name = '%s' AND v.version = '%s'" % (name, v2))
    root = api("GET", "/")
    root["endpoints"].append({"method": "GET", "path": "/models",
                              "summary": "the test's"})
    fake = {"/": root, "/models": {"models": [
        {"name": name, "versions": [{"version": v1}, {"version": v2}]}]}}
    page.call("Fetch.enable", {"patterns": [
        {"urlPattern": base + "/", "requestStage": "Request"},
        {"urlPattern": base + "/models", "requestStage": "Request"}]})
    answered = set()

    def fake_wait(expr, timeout=30):
        """page.wait_for, answering the paused requests meanwhile."""
        deadline = time.time() + timeout
        while True:
            for e in page.events:
                if e["method"] != "Fetch.requestPaused" or \
                        e["params"]["requestId"] in answered:
                    continue
                answered.add(e["params"]["requestId"])
                path = e["params"]["request"]["url"][len(base):].split(
                    "?")[0]
                page.call("Fetch.fulfillRequest", {
                    "requestId": e["params"]["requestId"],
                    "responseCode": 200, "responseHeaders": [{
                        "name": "Content-Type",
                        "value": "application/json"}],
                    "body": base64.b64encode(json.dumps(
                        fake[path]).encode()).decode()})
            v = page.evaluate(expr)
            if v:
                return v
            if time.time() >= deadline:
                raise TimeoutError("still false after %s s: %s" % (
                    timeout, expr))
            page.pump(0.1)

    page.call("Page.navigate", {"url": base + "/dashboard?refresh_ms=%d&"
                                "window=5m" % REFRESH_MS})
    labels = fake_wait(
        "(() => { const l = Array.from(document.querySelectorAll("
        "'#chart-rate .u-legend .u-series .u-label')).map(e => e.textContent)"
        "; return l.length >= 3 && l; })()")
    eq(labels[1:], ["%s %s" % (name, v1), "%s %s" % (name, v2)],
       "two versions: one series each on the rate chart", )
    ok(pixels(page, "rate", GREEN)["n"] > 15,
       "... the second drawn in its own colour", pixels(page, "rate", GREEN))
    opts = page.evaluate("Array.from(document.getElementById('scope')"
                         ".options).map(o => o.textContent)")
    ok("%s %s" % (name, v2) in opts and "%s %s" % (name, v1) in opts,
       "the selector offers each version", opts)
    mark = len(page.events)
    page.evaluate("(() => { const s = document.getElementById('scope'); "
                  "s.value = JSON.stringify([%s, %s]); s.dispatchEvent("
                  "new Event('change', {bubbles: true})); })()"
                  % (json.dumps(name), json.dumps(v2)))
    fake_wait(REFRESHES + " >= %d"
              % (refreshes(page) + 2))
    aggv = api("POST", "/metrics/aggregated", {
        "time_window_minutes": 5, "model_name": name, "model_version": v2})
    eq(stat(page, "window-total"), str(aggv["total_predictions"]),
       "%s %s selected: the window total is its own (%s)" % (
           name, v2, aggv["total_predictions"]))
    urls = [e["params"]["request"]["url"] for e in page.events[mark:]
            if e["method"] == "Network.requestWillBeSent"]
    ok(any("model_version=%s" % v2 in u for u in urls),
       "... asked with model_version=%s" % v2, urls[-6:])

    # ---- a partial newest bucket (UTC-aligned buckets, as issue 18's) ----
    def iso(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
            ".000000Z"
    t0 = int(time.time() // 60) * 60 - 240
    fake["/metrics/timeseries"] = {
        "window_minutes": 5, "bucket_minutes": 1,
        "time_window_start": iso(t0 + 20), "time_window_end": iso(t0 + 260),
        "model_name": None, "model_version": None,
        "buckets": [{
            "bucket_start": iso(t0 + 60 * i),
            "bucket_end": iso(t0 + 60 * (i + 1)),
            "partial": i == 4,
            "total_predictions": 30 if i == 4 else 60,
            "average_confidence": 0.7, "p95_inference_time_ms": 1.5,
            "label_distribution": {"positive": 30 if i == 4 else 60,
                                   "negative": 0, "neutral": 0}}
            for i in range(5)]}
    page.call("Fetch.enable", {"patterns": [
        {"urlPattern": base + "/", "requestStage": "Request"},
        {"urlPattern": base + "/models", "requestStage": "Request"},
        {"urlPattern": base + "/metrics/timeseries*",
         "requestStage": "Request"}]})
    fake_wait(REFRESHES + " >= %d" % (refreshes(page) + 2))
    caption = page.evaluate("document.querySelector('#panel-rate .caption')"
                            ".textContent")
    ok("newest bucket is partial (20 s so far)" in caption,
       "a partial newest bucket: the page says so", caption)
    data = page.evaluate("modelserverDashboard.data('rate')")
    eq(data[0], [t0 + 60 * i for i in range(5)], "... plots the buckets at "
       "the starts the API gives")
    eq(data[1], [1.5, 1, 1, 1, 1.5], "... and the rates of the partial "
       "buckets over the seconds they cover: the newest 30 / 20 s, the "
       "oldest (the window starts 20 s into it) 60 / 40 s")
    page.call("Fetch.disable")

    # ---- the database stops, then comes back ------------------------------
    page.call("Page.navigate", {"url": base + "/dashboard?refresh_ms=%d"
                                % REFRESH_MS})
    page.wait_for(REFRESHES + " >= 2",
                  timeout=30)
    mark = len(page.events)
    pg("stop")
    try:
        note = page.wait_for("(() => { const n = document.getElementById("
                             "'notice'); return !n.hidden && n.textContent; "
                             "})()", timeout=30)
        ok(note.startswith("Database down"),
           "database stopped: the page says so", note)
        eq(page.evaluate("document.getElementById('stat-db').textContent"),
           "down", "... shows the database down")
        eq(page.evaluate("document.getElementById('status').dataset.status"),
           "unknown", "... and the status as unknown")
        stale = page.evaluate("Array.from(document.querySelectorAll("
                              "'.panel.stale .empty')).filter(e => !e.hidden)"
                              ".map(e => e.textContent)")
        ok(len(stale) == 4 and all("Database unreachable" in s
                                   for s in stale),
           "... on every chart, not a blank one", stale)
        path = screenshot(page, "db-down", 1280, 900, False)
        ok(os.path.getsize(path) > 20000, "screenshot: %s" % path)
    finally:
        pg_start()
    page.wait_for("document.getElementById('notice').hidden && "
                  "document.getElementById('stat-db').textContent"
                  ".startsWith('up')", timeout=60)
    next_refresh(page, 1)
    agg = api("POST", "/metrics/aggregated", {"time_window_minutes": 60})
    ok(page.evaluate("document.querySelectorAll('.panel.stale').length")
       == 0 and stat(page, "window-total") == str(agg["total_predictions"]),
       "the database is back: the page recovers by itself with the API's "
       "figures")
    errors = console_errors(page.events[mark:], allow_network=True)
    ok(not errors, "no script error while the database was away (503s "
       "aside)", json.dumps(errors)[:2000])

    # ---- memory over a few hundred refreshes ----------------------------
    page.call("Page.navigate", {"url": base + "/dashboard?refresh_ms=100"})
    page.wait_for(REFRESHES + " >= 20",
                  timeout=60)
    samples = []
    t0 = time.time()
    start = refreshes(page)
    while refreshes(page) - start < MEM_REFRESHES and \
            time.time() - t0 < 240:
        page.pump(1.0)
        page.call("HeapProfiler.collectGarbage", timeout=30)
        heap = page.call("Runtime.getHeapUsage")["usedSize"]
        metrics = {m["name"]: m["value"] for m in page.call(
            "Performance.getMetrics")["metrics"]}
        samples.append((refreshes(page) - start, heap, metrics["Nodes"],
                        metrics["JSEventListeners"]))
    done_n = refreshes(page) - start
    diag("refreshes, heap bytes, DOM nodes, listeners: %s" % samples)
    ok(done_n >= MEM_REFRESHES * 0.5, "memory check ran %d refreshes in "
       "%.0f s" % (done_n, time.time() - t0))
    k = max(3, len(samples) // 5)
    early = sorted(s[1] for s in samples[1:1 + k])[k // 2]
    late = sorted(s[1] for s in samples[-k:])[k // 2]
    ok(late <= early * 1.2 + 256 * 1024, "JS heap after GC: %d KB early, "
       "%d KB late (median of %d samples each): no steady growth" % (
           early // 1024, late // 1024, k))
    ok(max(s[2] for s in samples[-k:]) <= max(s[2] for s in samples[1:1 + k])
       * 1.1 + 50, "DOM nodes do not grow (%d -> %d)" % (
           samples[1][2], samples[-1][2]))
    ok(samples[-1][3] <= samples[1][3] + 5, "event listeners do not grow "
       "(%d -> %d)" % (samples[1][3], samples[-1][3]))
except (CDPError, TimeoutError, OSError, KeyError, TypeError) as e:
    ok(False, "driving Chromium: %s: %s" % (type(e).__name__, e))
    if page is not None:
        try:
            with open(os.path.join(OUT, "dashboard-failed.png"), "wb") as f:
                f.write(base64.b64decode(page.call(
                    "Page.captureScreenshot", {"format": "png"})["data"]))
            diag("screenshot of the failure: tests/out/dashboard-failed.png")
        except Exception:       # the browser may be gone
            pass
finally:
    gemini.stop()
    if page is not None:
        page.close()
    t0 = time.time()
    browser.stop()
    ok(browser.proc is None and time.time() - t0 < 11,
       "Chromium stopped (%.1f s)" % (time.time() - t0))
    sql("DELETE FROM app.prediction_metrics WHERE model_version_id IN "
        "(SELECT id FROM app.model_versions WHERE version = '9.9.9')")

done()
