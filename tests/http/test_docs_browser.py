"""test_docs_browser.py: GET /docs in a real browser (headless Chromium).

The page loads with nothing but this server's own files (every request
the page makes is to the server; none fails; the Content-Security-Policy
reports nothing; no script error), lists every documented operation
(one block each, every path), and "Try it out" on POST /predict, with a
body typed into Swagger UI's editor, answers 200 in the page: its
prediction is a row in app.prediction_metrics.  A screenshot of the
answered /predict lands in tests/out/docs.png.
"""
import base64
import json
import os
import subprocess
import time

from cdp import CHROMIUM, Browser, CDPError
from lib import OUT, ROOT, Server, diag, done, eq, ok, reset_data, sql
from openapi import DOC, operations

SHOT = os.path.join(OUT, "docs.png")
TEXT = "The documentation page works, and I love it!"

if not ok(os.access(CHROMIUM, os.X_OK),
          "chromium is installed (make test-deps)", CHROMIUM):
    done()
r = subprocess.run(["make", "--no-print-directory", "-s", "docs"], cwd=ROOT,
                   capture_output=True, text=True, timeout=300)
if not ok(r.returncode == 0, "make docs builds the page's files (npm)",
          r.stdout + r.stderr):
    done()

reset_data()
srv = Server("docs-browser").start()
base = "http://127.0.0.1:%d" % srv.port
ops = list(operations())

browser = Browser(os.path.join(OUT, "chromium-%d.log" % srv.port))
page = None
try:
    browser.start()
    page = browser.page()
    for domain in ("Page", "Network", "Runtime", "Log", "Audits"):
        page.call(domain + ".enable")
    page.call("Emulation.setDeviceMetricsOverride", {
        "width": 1280, "height": 1600, "deviceScaleFactor": 1,
        "mobile": False})

    # ---- the page loads, from this server only ------------------------
    mark = len(page.events)
    page.call("Page.navigate", {"url": base + "/docs"})
    page.wait_event("Page.loadEventFired", timeout=30, since=mark)
    n = page.wait_for(
        "document.querySelectorAll('.opblock').length >= %d && "
        "document.querySelectorAll('.opblock').length" % len(ops),
        timeout=30)
    eq(n, len(ops), "the page shows one block per documented operation "
       "(%d, HEAD included)" % len(ops))
    shown = page.evaluate(
        "Array.from(document.querySelectorAll('.opblock-summary-path'))"
        ".map(e => (e.getAttribute('data-path') || e.innerText).trim())")
    eq(sorted(set(shown or [])), sorted(DOC["paths"]),
       "the page lists every documented path")
    methods = page.evaluate(
        "Array.from(document.querySelectorAll('.opblock-summary-method'))"
        ".map(e => e.innerText.trim().toLowerCase())")
    eq(sorted(methods or []), sorted(m for _, m, _ in ops),
       "... with every method")
    title = page.evaluate(
        "(document.querySelector('.info .title') || {}).innerText || ''")
    ok(DOC["info"]["title"] in title, "the page shows the API's title",
       title)

    # ---- Try it out: POST /predict ----------------------------------
    op = "#operations-prediction-predict"
    page.wait_for("!!document.querySelector(%r)" % op, timeout=10)
    page.evaluate("document.querySelector(%r).scrollIntoView(); "
                  "document.querySelector(%r + ' .opblock-summary-control')"
                  ".click()" % (op, op))
    page.wait_for("!!document.querySelector(%r + ' .try-out__btn')" % op)
    page.evaluate("document.querySelector(%r + ' .try-out__btn').click()"
                  % op)
    page.wait_for("!!document.querySelector(%r + ' textarea.body-param__text')"
                  % op)
    # Typed as a person would: select the pre-filled example, type over.
    page.evaluate("(() => { const t = document.querySelector(%r + "
                  "' textarea.body-param__text'); t.focus(); t.select(); "
                  "})()" % op)
    body = json.dumps({"text": TEXT, "include_metrics": True})
    page.call("Input.insertText", {"text": body})
    typed = page.evaluate("document.querySelector(%r + "
                          "' textarea.body-param__text').value" % op)
    eq(typed, body, "the body is typed into Swagger UI's editor")
    mark = len(page.events)
    page.evaluate("document.querySelector(%r + ' button.execute').click()"
                  % op)
    status = page.wait_for(
        "(document.querySelector(%r + ' .live-responses-table tbody "
        ".response-col_status') || {}).innerText" % op, timeout=20)
    eq(status.strip(), "200", "Execute: the page shows the response code "
       "200")
    answer = page.wait_for(
        "(document.querySelector(%r + ' .live-responses-table "
        ".response-col_description pre') || {}).innerText" % op)
    try:
        answer = json.loads(answer)
    except ValueError:
        answer = {}
    ok(answer.get("sentiment") == "positive" and answer.get("prediction_id"),
       "the page shows the prediction", answer)
    rows = sql("SELECT label, input_length FROM app.prediction_metrics "
               "WHERE prediction_id = '%s'" % answer.get(
                   "prediction_id", "00000000-0000-0000-0000-000000000000"))
    eq(rows, [["positive", str(len(TEXT))]],
       "the prediction made from the page is a row in the database")
    sent = [e["params"]["request"] for e in page.events[mark:]
            if e["method"] == "Network.requestWillBeSent"]
    ok(any(q["url"] == base + "/predict" and q["method"] == "POST" and
           json.loads(q.get("postData") or "{}") == json.loads(body)
           for q in sent),
       "the page sent exactly the typed body to POST /predict",
       [(q["method"], q["url"], q.get("postData")) for q in sent])

    # ---- the screenshot: the answered /predict ------------------------
    page.evaluate("document.querySelector(%r).scrollIntoView()" % op)
    page.pump(0.5)
    shot = page.call("Page.captureScreenshot", {"format": "png"},
                     timeout=30)
    with open(SHOT, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    ok(os.path.getsize(SHOT) > 10000, "screenshot saved: %s" % SHOT)

    # ---- everything the page did ---------------------------------------
    page.pump(0.5)
    ev = page.events
    urls = [e["params"]["request"]["url"] for e in ev
            if e["method"] == "Network.requestWillBeSent"]
    outside = [u for u in urls if not u.startswith(base + "/") and
               not u.startswith("data:")]
    ok(urls and not outside, "every request of the page went to this "
       "server (%d requests)" % len(urls), outside)
    failed = [(e["params"].get("errorText"), e["params"].get("requestId"))
              for e in ev if e["method"] == "Network.loadingFailed"]
    ok(not failed, "no request of the page failed", failed)
    statuses = [(e["params"]["response"]["status"], e["params"]["response"][
        "url"]) for e in ev if e["method"] == "Network.responseReceived"]
    ok(statuses and all(s in (200, 304) for s, _ in statuses),
       "every response to the page was 200 (or 304)", statuses)
    for path in ("/docs", "/openapi.json", "/docs/swagger-ui-bundle.js",
                 "/docs/swagger-ui.css", "/docs/swagger-init.js"):
        ok(base + path in urls, "the page loaded %s" % path)
    errors = [e["params"] for e in ev
              if e["method"] == "Runtime.exceptionThrown" or
              (e["method"] == "Log.entryAdded" and
               e["params"]["entry"]["level"] == "error") or
              (e["method"] == "Runtime.consoleAPICalled" and
               e["params"]["type"] == "error")]
    ok(not errors, "no script error, nothing logged as an error",
       json.dumps(errors)[:2000])
    csp = [e["params"] for e in ev if e["method"] == "Audits.issueAdded" and
           "ContentSecurityPolicy" in e["params"]["issue"]["code"]]
    ok(not csp, "the Content-Security-Policy blocked nothing",
       json.dumps(csp)[:2000])
except (CDPError, TimeoutError, OSError) as e:
    ok(False, "driving Chromium: %s" % e)
    if page is not None:
        try:
            with open(os.path.join(OUT, "docs-failed.png"), "wb") as f:
                f.write(base64.b64decode(page.call(
                    "Page.captureScreenshot", {"format": "png"})["data"]))
            diag("screenshot of the failure: tests/out/docs-failed.png")
        except Exception:       # the browser may be gone
            pass
finally:
    if page is not None:
        page.close()
    t0 = time.time()
    browser.stop()
    ok(browser.proc is None and time.time() - t0 < 11,
       "Chromium stopped (%.1f s)" % (time.time() - t0))

done()
