"""test_grafana.py: the Grafana dashboard (docs/grafana/) without Grafana,
which Debian does not package: every panel's SQL, with Grafana's macros
expanded as its PostgreSQL data source expands them, runs as
modelserver_analyst (the provisioned role) over 5 min, 1 h and 24 h.

- Each panel answers the columns its visualisation reads (time/metric/
  value for a time series, the named fields of the status), with rows.
- The SQL reads the metrics functions and the model registry only, never
  app.prediction_metrics itself (the rollups take over behind the
  functions, issue 18).
- The figures are exact: the status panel's count and average are the
  raw rows' over the same range; the per-version rates times the bucket
  seconds give each version's row count; the threshold lines are the
  stored thresholds; a single selected version shows only that one.
- The 429 panel's PromQL names a counter GET /metrics/prometheus exports.
- The provisioning file names the analyst role and no password.
"""
import csv
import datetime
import io
import json
import os
import re
import subprocess
import time

from lib import ROOT, done, eq, ok, reset_data, sql, sql_value

GRAFANA = os.path.join(ROOT, "docs", "grafana")
with open(os.path.join(GRAFANA, "dashboards", "modelserver.json")) as f:
    DASH = json.load(f)
NAME = "grafana-test"
VERSIONS = ["1.0.0", "2.0.0"]

# What each panel's visualisation reads from its query.
SERIES = ["time", "metric", "value"]
EXPECT = {
    "Status": ["status", "total_predictions", "average_confidence",
               "average_inference_time_ms", "p95_inference_time_ms"],
    "Predictions per second": SERIES,
    "Inference time (P95, average) and thresholds": SERIES,
    "Average confidence and thresholds": SERIES,
    "Label mix, % of each bucket": ["time", "positive", "negative",
                                    "neutral"],
}
# Functions and relations the panels may read (none scans raw rows).
ALLOWED = {"metrics_timeseries", "metrics_window", "metrics_classify",
           "thresholds_for", "model_versions"}


def expand(text, t_from, t_to, interval_ms, versions):
    """Grafana's PostgreSQL macros and the $version variable (multi-value:
    a list of quoted strings), as Grafana renders them."""
    def rfc(t):
        return "'%s'" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    out = text.replace("$__timeFrom()", rfc(t_from))
    out = out.replace("$__timeTo()", rfc(t_to))
    out = re.sub(r"\$__timeFilter\(([^)]+)\)", lambda m: "%s BETWEEN %s "
                 "AND %s" % (m.group(1), rfc(t_from), rfc(t_to)), out)
    out = out.replace("$__unixEpochFrom()", str(int(t_from)))
    out = out.replace("$__unixEpochTo()", str(int(t_to)))
    out = out.replace("$__interval_ms", str(interval_ms))
    out = out.replace("$__interval", "'%ds'" % (interval_ms // 1000))
    out = out.replace("$version", ",".join(
        "'%s'" % v.replace("'", "''") for v in versions))
    return out


def run(query):
    """The query as the analyst: (columns, rows of strings)."""
    r = subprocess.run(["psql", os.environ["TEST_DB_ANALYST"], "-X", "-q",
                        "--csv", "-v", "ON_ERROR_STOP=1", "-c", query],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, r.stderr.strip()
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return rows[0], rows[1:]


def epoch(s):
    """A timestamptz as psql prints it, to Unix seconds."""
    return datetime.datetime.fromisoformat(s).timestamp()


def num(s):
    return float(s) if s not in ("", None) else None


# ---- the files --------------------------------------------------------------
with open(os.path.join(GRAFANA, "provisioning", "datasources",
                       "modelserver.yaml")) as f:
    ds = f.read()
ok("user: modelserver_analyst" in ds and
   "${MODELSERVER_ANALYST_PASSWORD}" in ds and
   "type: grafana-postgresql-datasource" in ds,
   "the data source connects as modelserver_analyst, its password from "
   "the environment")
panels = DASH["panels"]
uids = set(re.findall(r"^\s+uid: (\S+)$", ds, re.M))
ok(all(p["datasource"]["uid"] in uids and
       all(t["datasource"]["uid"] == p["datasource"]["uid"]
           for t in p["targets"]) for p in panels) and
   DASH["templating"]["list"][0]["datasource"]["uid"] in uids,
   "every panel and the variable use a provisioned data source (%s)"
   % sorted(uids))
pg_panels = [p for p in panels if p["datasource"]["uid"] == "modelserver-pg"]
eq(sorted(p["title"] for p in pg_panels), sorted(EXPECT),
   "every PostgreSQL panel has its expected columns listed here")
for p in pg_panels:
    q = p["targets"][0]["rawSql"]
    used = set(re.findall(r"\bapp\.(\w+)", q))
    ok(used and used <= ALLOWED and "prediction_metrics" not in q,
       "%s: reads %s only (functions, the registry)" % (p["title"],
                                                         sorted(used)),
       sorted(used - ALLOWED))
prom = [p for p in panels if p["datasource"]["uid"] == "modelserver-prom"]
with open(os.path.join(ROOT, "src", "api_prometheus.c")) as f:
    exported = f.read()
ok(len(prom) == 1 and all(re.search(r"(modelserver_\w+)", p["targets"][0][
    "expr"]).group(1) in exported for p in prom),
   "the 429 panel's PromQL names a counter of /metrics/prometheus",
   [p["targets"][0]["expr"] for p in prom])
var = DASH["templating"]["list"][0]
cols, rows = run(var["query"])
ok(cols is not None, "the version variable's query runs as the analyst",
   rows)

# ---- fixture rows: two versions, known values --------------------------------
reset_data()
# Versions are never deleted (0007): registered once, kept.
for v in VERSIONS:
    sql("INSERT INTO app.model_versions (name, version) VALUES ('%s', '%s') "
        "ON CONFLICT DO NOTHING" % (NAME, v))
# Version 1: 30 rows over the last 50 minutes; version 2: 12 over the
# last 20, slower and less confident; labels cycle.
for v, n, span, conf, ms in (("1.0.0", 30, 50, 0.8, 2.0),
                             ("2.0.0", 12, 20, 0.5, 40.0)):
    sql("INSERT INTO app.prediction_metrics (prediction_id, "
        "model_version_id, label, confidence, compound, pos, neu, neg, "
        "inference_time_ms, input_length, client_ip, created_at) "
        "SELECT gen_random_uuid(), v.id, (ARRAY['positive', 'negative', "
        "'neutral'])[1 + i %% 3], %s + (i %% 5) * 0.01, 0, 0, 1, 0, "
        "%s + (i %% 7) * 0.5, 10, '127.0.0.50', "
        "now() - make_interval(secs => i * %d * 60.0 / %d + 1) "
        "FROM app.model_versions v, generate_series(0, %d) AS g(i) "
        "WHERE v.name = '%s' AND v.version = '%s'"
        % (conf, ms, span, n, n - 1, NAME, v))
labels = ["%s %s" % (NAME, v) for v in VERSIONS]
now = int(time.time()) + 1
thresholds = sql("SELECT max_inference_time_warning_ms, "
                 "min_confidence_critical FROM app.thresholds_for(NULL)")[0]

# ---- every panel, three ranges --------------------------------------------
for rng, seconds, interval_ms in (("5 min", 300, 1000),
                                  ("1 h", 3600, 5000),
                                  ("24 h", 86400, 60000)):
    t_from, t_to = now - seconds, now
    got = {}
    for p in pg_panels:
        q = expand(p["targets"][0]["rawSql"], t_from, t_to, interval_ms,
                   labels)
        ok("$" not in q.replace("$$", ""), "%s, %s: every macro expanded"
           % (p["title"], rng), q)
        cols, rows = run(q)
        eq(cols, EXPECT[p["title"]], "%s, %s: runs as the analyst, "
           "columns %s" % (p["title"], rng, EXPECT[p["title"]]))
        ok(cols is not None and len(rows) > 0, "... with rows (%d)" %
           (len(rows) if cols else 0), rows)
        got[p["title"]] = rows if cols else []

    # Exact against the raw rows of the same half-open range.
    raw = sql("SELECT count(*), avg(confidence) FROM app.prediction_metrics "
              "WHERE created_at >= to_timestamp(%d) AND created_at < "
              "to_timestamp(%d)" % (t_from, t_to))[0]
    status = got["Status"][0] if got["Status"] else [None] * 5
    eq(status[1], raw[0], "%s: the status panel counts the raw rows (%s)"
       % (rng, raw[0]))
    ok(raw[1] == "" and status[2] == "" or
       abs(num(status[2]) - num(raw[1])) < 1e-12,
       "... and their average confidence", (status, raw))
    ok(status[0] in ("normal", "warning", "critical"),
       "... with a status", status)

    th = {r[1]: {num(r[2])} for r in got["Inference time (P95, average) "
                                          "and thresholds"]
          if r[1] in ("WARNING", "CRITICAL")}
    eq(th.get("WARNING"), {float(thresholds[0])},
       "%s: the WARNING line of the latency panel is the stored "
       "threshold" % rng)
    conf_th = {num(r[2]) for r in got["Average confidence and thresholds"]
               if r[1] == "CRITICAL"}
    eq(conf_th, {float(thresholds[1])}, "%s: the CRITICAL line of the "
       "confidence panel is the stored threshold" % rng)

    if rng == "1 h":
        # rate x the seconds of the range each bucket covers = the rows
        # (buckets are contiguous: one ends where the next starts).
        for v in VERSIONS:
            pts = [(epoch(r[0]), num(r[2]))
                   for r in got["Predictions per second"]
                   if r[1] == "%s %s" % (NAME, v)]
            ends = [t for t, _ in pts[1:]] + [t_to]
            series = [y * (min(e, t_to) - max(t, t_from))
                      for (t, y), e in zip(pts, ends)]
            want = int(sql_value(
                "SELECT count(*) FROM app.prediction_metrics p JOIN "
                "app.model_versions v ON v.id = p.model_version_id WHERE "
                "v.name = '%s' AND v.version = '%s' AND p.created_at >= "
                "to_timestamp(%d) AND p.created_at < to_timestamp(%d)"
                % (NAME, v, t_from, t_to)))
            ok(len(series) in (60, 61) and abs(sum(series) - want) < 1e-6,
               "1 h: %s %s's rate over its buckets sums to its %d rows" %
               (NAME, v, want), (len(series), sum(series)))
        mix = got["Label mix, % of each bucket"]
        ok(all(abs(sum(num(x) for x in r[1:]) - 100) < 1e-9
               for r in mix if r[1] != ""),
           "1 h: the label shares of each bucket add up to 100 %")

# ---- one version selected ----------------------------------------------------
p = [p for p in pg_panels if p["title"] == "Predictions per second"][0]
cols, rows = run(expand(p["targets"][0]["rawSql"], now - 3600, now, 5000,
                        labels[1:]))
eq(sorted({r[1] for r in rows}), labels[1:],
   "$version = one version: only its series")

sql("DELETE FROM app.prediction_metrics WHERE model_version_id IN "
    "(SELECT id FROM app.model_versions WHERE name = '%s')" % NAME)
done()
