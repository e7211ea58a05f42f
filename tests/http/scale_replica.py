"""scale_replica.py: analytics on a hot standby (ANALYTICS_DATABASE_URL).

A primary, a streaming standby made by pg_basebackup, and the server
with DATABASE_URL on the primary and ANALYTICS_DATABASE_URL on the
standby.

- The read-only endpoints read the standby: with its replay paused, new
  predictions are on the primary but not in /metrics/count,
  /metrics/aggregated or the analyzer's metrics until replay resumes;
  /health shows the replay falling behind, then catching up.
- Everything that writes stays on the primary: /predict, the thresholds
  PUT, the analyzer's rate limit.
- The standby down: the analytics endpoints answer 503 with a JSON error
  naming the analytics database; /predict, the thresholds PUT and /health
  (200, analytics down) are unaffected; back when the standby is.
"""
import time

from lib import Server, done, eq, ok, request
from openapi import fetch, problems
from scale_lib import Cluster, wait_for

TOKEN = "replica-test-token-0123456789abcdef"

primary = Cluster("replica-primary").primary()
standby = Cluster("replica_standby")
standby.standby_of(primary)
srv = Server("replica", env={"DATABASE_URL": primary.url("app"),
                             "ANALYTICS_DATABASE_URL": standby.url("app"),
                             "ADMIN_TOKEN": TOKEN, "WORKERS": "1"}).start()
port = srv.port


def count():
    st, _, body = request(port, "GET", "/metrics/count")
    return st, (body or {}).get("total_predictions")


def primary_rows():
    return int(primary.value("SELECT count(*) FROM app.prediction_metrics"))


def health():
    st, _, body = request(port, "GET", "/health")
    return st, body or {}


def documented(method, path, what, body=None):
    """The answer checked against src/docs/openapi.json."""
    st, hdrs, raw = fetch(port, method, path, body=body)
    bad = problems(method, path, st, hdrs, raw)
    eq(bad, [], "%s %s (%s) answers as documented" % (method, path, what))


def predict_n(n, tag):
    sts = [request(port, "POST", "/predict",
                   body={"text": "%s %d is rather good" % (tag, i)})[0]
           for i in range(n)]
    return sts


eq(predict_n(20, "first"), [200] * 20, "20 predictions: 200")
ok(wait_for(lambda: count() == (200, 20), 20),
   "/metrics/count reaches 20 once the standby replayed them", count())


def caught_up():
    st, h = health()
    a = h.get("analytics", {})
    return (st == 200 and a.get("status") == "up"
            and a.get("in_recovery") is True and a.get("replay_lag_s") == 0
            and a.get("replay_pending_bytes") == 0)


# The janitor's fold writes WAL as the buckets holding those rows close,
# so one look can land between a record's arrival and its replay: caught
# up within a while.
ok(wait_for(caught_up, 10),
   "/health: the analytics database is a standby, caught up", health())
documented("GET", "/health", "analytics up")

# ---- the reads come from the standby ---------------------------------
standby.sql("SELECT pg_wal_replay_pause()")
ok(wait_for(lambda: standby.value("SELECT pg_get_wal_replay_pause_state()")
            == "paused", 10), "the standby's replay is paused")
eq(predict_n(5, "second"), [200] * 5, "5 more predictions while it is "
   "paused: 200 (written to the primary)")
eq(primary_rows(), 25, "the primary holds all 25 rows")
eq(count(), (200, 20), "/metrics/count still says 20: it reads the standby")
st, _, agg = request(port, "POST", "/metrics/aggregated",
                     body={"time_window_minutes": 60})
eq((st, (agg or {}).get("total_predictions")), (200, 20),
   "/metrics/aggregated reads the standby too")
st, _, rep = request(port, "POST", "/analyze/performance",
                     body={"time_window_minutes": 60})
eq((st, (rep or {}).get("comparison", {}).get("current", {})
    .get("total_predictions")), (200, 20),
   "the analyzer's metrics come from the standby")
ok(int(primary.value("SELECT count(*) FROM app.rate_limits WHERE "
                     "scope = 'analyze'") or 0) >= 1,
   "... while its rate limit was taken on the primary")
time.sleep(1.2)
st, h = health()
a = h.get("analytics", {})
ok(st == 200 and a.get("replay_pending_bytes", 0) > 0 and
   a.get("replay_lag_s", 0) >= 1.0,
   "/health shows the standby behind (pending %s bytes, lag %s s)" %
   (a.get("replay_pending_bytes"), a.get("replay_lag_s")), h)
standby.sql("SELECT pg_wal_replay_resume()")
ok(wait_for(lambda: count() == (200, 25), 20),
   "after replay resumes /metrics/count says 25", count())
ok(wait_for(lambda: health()[1].get("analytics", {})
            .get("replay_lag_s") == 0, 20), "/health: caught up again")

# ---- writes stay on the primary --------------------------------------
st, _, body = request(port, "PUT", "/metrics/thresholds",
                      body={"min_confidence_warning": 0.65},
                      headers={"Authorization": "Bearer " + TOKEN})
eq(st, 200, "PUT /metrics/thresholds: 200 (the primary)")
eq(primary.value("SELECT min_confidence_warning FROM "
                 "app.metric_thresholds WHERE model_name = 'default'"),
   "0.65", "... the primary has the new threshold")
ok(wait_for(lambda: (request(port, "GET", "/metrics/thresholds")[2] or {})
            .get("min_confidence_warning") == 0.65, 20),
   "GET /metrics/thresholds shows it once the standby replayed it")

# ---- the standby down ------------------------------------------------
standby.stop()
st, _, body = request(port, "GET", "/metrics/count")
err = (body or {}).get("error", {})
ok(st == 503 and err.get("code") == "database_unavailable" and
   "analytics" in err.get("message", ""),
   "standby down: /metrics/count answers 503 naming the analytics "
   "database", (st, body))
st, _, body = request(port, "POST", "/metrics/aggregated",
                      body={"time_window_minutes": 60})
eq(st, 503, "... /metrics/aggregated: 503")
st, _, body = request(port, "POST", "/analyze/performance",
                      body={"time_window_minutes": 60})
ok(st == 503 and "analytics" in (body or {}).get("error", {})
   .get("message", ""), "... /analyze/performance: 503 naming the "
   "analytics database", (st, body))
eq(predict_n(10, "third"), [200] * 10, "... /predict is unaffected: 200")
eq(primary_rows(), 35, "... and its rows are on the primary")
st, _, body = request(port, "PUT", "/metrics/thresholds",
                      body={"min_confidence_warning": 0.6},
                      headers={"Authorization": "Bearer " + TOKEN})
eq(st, 200, "... the thresholds PUT is unaffected: 200")
st, h = health()
ok(st == 200 and h.get("database", {}).get("status") == "up" and
   h.get("analytics", {}).get("status") == "down" and
   h.get("analytics", {}).get("error"),
   "... /health: 200, the database up, analytics down with the reason", h)
documented("GET", "/health", "analytics down")
documented("GET", "/metrics/count", "analytics down")
documented("POST", "/metrics/aggregated", "analytics down",
           {"time_window_minutes": 60})
standby.start()
ok(wait_for(lambda: count() == (200, 35), 20),
   "the standby back: /metrics/count serves again (35)", count())

srv.stop()
done()
