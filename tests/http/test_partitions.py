"""test_partitions.py: /predict under load while the janitor attaches,
detaches and drops partitions, and what a row without a partition gets.

1. Hourly partitions (nothing for the janitor to do): wrk for a few
   seconds, the p99 to compare with.  The current partition detached by
   hand: /predict answers 503, never a false 200 and never a 4xx; attached
   again: 200.
2. 2-second partitions, retention 0, maintenance every second, retired
   through the server's own role (plain DETACH in the owner's function):
   wrk while partitions come and go; no error, partitions created and
   dropped during the run.
3. The same with MAINTENANCE_DATABASE_URL (the owner), so the janitor runs
   DETACH ... CONCURRENTLY.

p99s are printed, not asserted (this is a shared machine); PARTITION_SAN=0
serves the optimised build instead of ASan's.  The hourly
layout is restored at the end for the files that follow.
"""
import os
import re
import subprocess
import time

from lib import (ROOT, Server, db_url, diag, done, eq, ok, predict, sql,
                 sql_value)

# Partitions expire 10 s after their end (the grace of
# app.partition_expired): 20 s of load sees several go.
WRK_SECONDS = int(os.environ.get("PARTITION_WRK_S", "20"))
# PARTITION_SAN=0 serves the optimised build, for figures without ASan.
SANITIZE = os.environ.get("PARTITION_SAN", "1") == "1"


def layout(width_s, ahead_s):
    """Empties prediction_metrics and rebuilds it as width_s partitions
    from now to now + ahead_s (as the superuser, the server stopped)."""
    sql("TRUNCATE app.prediction_metrics")
    for (p,) in sql("SELECT partition FROM app.partitions "
                    "WHERE parent = 'app.prediction_metrics'::regclass"):
        sql("DROP TABLE %s" % p)
    sql("UPDATE app.partition_policy SET width = interval '%d seconds' "
        "WHERE parent = 'app.prediction_metrics'::regclass" % width_s)
    sql("SELECT app.partition_ensure('app.prediction_metrics', now(), "
        "now() + interval '%d seconds')" % ahead_s)


def wrk(port, seconds):
    r = subprocess.run(
        ["wrk", "-t2", "-c16", "-d%ds" % seconds, "--timeout", "10s",
         "-s", os.path.join(ROOT, "tests/bench/predict.lua"),
         "http://127.0.0.1:%d/predict" % port],
        capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^WRK (.*)$", r.stdout, re.M)
    if m is None:
        raise RuntimeError("wrk: no summary\n" + r.stdout + r.stderr)
    return dict(kv.split("=") for kv in m.group(1).split())


def events(log_text):
    created = sum(int(x) for x in re.findall(r"janitor\.partitions .*"
                                             r"created=(\d+)", log_text))
    dropped = sum(int(x) for x in re.findall(r"janitor\.partitions .*"
                                             r"dropped=(\d+)", log_text))
    retired = len(re.findall(r"janitor\.partitions retire=", log_text))
    failed = re.findall(r"janitor (?:failed|cannot start).*", log_text)
    return created, dropped, retired, failed


LOAD_ENV = {"RATE_LIMIT_PREDICT_PER_MINUTE": "1000000000",
            "WORKERS": "2"}


def main():
    # 1. Hourly: the baseline, and a row without a partition.
    layout(3600, 25 * 3600)
    s = Server("partitions-hourly", env=LOAD_ENV, sanitize=SANITIZE).start()
    base = wrk(s.port, max(4, WRK_SECONDS // 2))
    eq(base["non2xx"] + "/" + base["errors"], "0/0",
       "hourly partitions: no /predict error under load")
    diag("without maintenance: %s req/s, p99 %s ms"
         % (base["rps"], base["p99_ms"]))

    cur = sql_value("SELECT partition FROM app.partitions "
                    "WHERE parent = 'app.prediction_metrics'::regclass "
                    "AND lower_bound <= now() AND upper_bound > now()")
    bounds = sql("SELECT lower_bound, upper_bound FROM app.partitions "
                 "WHERE partition = '%s'::regclass" % cur)[0]
    sql("ALTER TABLE app.prediction_metrics DETACH PARTITION %s" % cur)
    st, _, body = predict(s.port, "no partition for me")
    eq(st, 503, "no partition for now: /predict answers 503")
    ok(isinstance(body, dict) and "prediction_id" not in body,
       "and hands out no prediction_id", body)
    sql("ALTER TABLE app.prediction_metrics ATTACH PARTITION %s "
        "FOR VALUES FROM ('%s') TO ('%s')" % (cur, bounds[0], bounds[1]))
    st, _, body = predict(s.port, "my partition is back")
    eq(st, 200, "attached again: 200")
    eq(sql_value("SELECT count(*) FROM app.prediction_metrics "
                 "WHERE prediction_id = '%s'" % body.get("prediction_id")),
       "1", "and the row is in it")
    s.stop()

    # 2. and 3. Two-second partitions coming and going under load.
    for name, extra in (("plain DETACH (server's role)", {}),
                        ("DETACH CONCURRENTLY (owner)",
                         {"MAINTENANCE_DATABASE_URL": db_url("owner")})):
        layout(2, 10)
        env = dict(LOAD_ENV, RAW_PARTITION_SECONDS="2", PARTITIONS_AHEAD="5",
                   PARTITION_MAINTAIN_S="1", RAW_RETENTION_HOURS="0")
        env.update(extra)
        s = Server("partitions-churn", env=env, sanitize=SANITIZE).start()
        t0 = time.time()
        r = wrk(s.port, WRK_SECONDS)
        time.sleep(1)
        log = s.log_text()
        created, dropped, retired, failed = events(log)
        stale = int(sql_value(
            "SELECT count(*) FROM app.partitions "
            "WHERE parent = 'app.prediction_metrics'::regclass "
            "AND upper_bound <= now() - interval '13 seconds'"))
        s.stop()
        eq(r["non2xx"] + "/" + r["errors"], "0/0",
           "%s: no /predict error while partitions come and go" % name)
        ok(int(r["ok"]) > 0, "%s: requests were answered" % name, r)
        ok(created >= WRK_SECONDS // 2 - 2,
           "%s: partitions were attached during the run (%d)"
           % (name, created), log[-2000:])
        if extra:
            ok(retired >= 2 and stale == 0,
               "%s: expired partitions were detached concurrently and "
               "dropped (%d)" % (name, retired), log[-2000:])
        else:
            ok(dropped >= 2 and stale == 0, "%s: expired partitions were detached and "
               "dropped (%d)" % (name, dropped), log[-2000:])
        eq(failed, [], "%s: no janitor statement failed" % name)
        diag("%s: %s req/s, p99 %s ms over %.0f s (created %d, dropped %d)"
             % (name, r["rps"], r["p99_ms"], time.time() - t0, created,
                max(dropped, retired)))

    layout(3600, 25 * 3600)
    sql("TRUNCATE app.rate_limits")
    done()


main()
