"""test_migrate_partitions.py: migration 0007 turns a database of the
previous release (migrations 0001-0006 and its sql/, taken from git at
BASE) holding rows into the partitioned layout, and every row survives
identically.

The rows are written by that release's own insert procedure
(app.record_predictions, as the server's role) and directly, spread over
three days, with edge values.  A view of the user's own on the table
stops the migration with its name and changes nothing; without it the
migration runs, and the rows, their count, the grants and the insert
path are checked.  Runs in a scratch database of the suite's cluster.
"""
import subprocess

from lib import ROOT, diag, eq, ok
from scratchdb import ScratchDB

# main when the partitions were made: migrations 0001-0006 and sql/.
BASE = "91282df"


# The whole table as text, in a fixed order: what must not change.
SNAPSHOT = """SELECT prediction_id, model_version_id, label, confidence,
    inference_time_ms, input_length, compound, pos, neu, neg, client_ip,
    created_at AT TIME ZONE 'UTC'
  FROM app.prediction_metrics ORDER BY prediction_id"""

# One batch of the real write path, as the server calls it.
RECORD = """CALL app.record_predictions(
    ARRAY[%(ids)s]::uuid[], ARRAY[%(ips)s]::inet[],
    ARRAY['positive', 'negative', 'neutral', 'positive'],
    ARRAY[0, 1, 0.5, 0.123456], ARRAY[0, 0.001, 12.345678, 999.999999],
    ARRAY[1, 1000, 17, 3], ARRAY[0.05, -0.05, 0, 1],
    ARRAY[0, 1, 0.5, 0.25], ARRAY[1, 0, 0.5, 0.75], ARRAY[0, 0, 0, 0],
    'vader', '3.3.2', 1000, NULL, 0)"""


def run(db, tree):
    q, migrate = db.q, db.migrate
    r = migrate(tree)
    ok(r.returncode == 0, "the previous release migrates (0001-0006)",
       r.stdout + r.stderr)
    eq(db.version(), "0006",
       "the database is at 0006")

    # Rows: three batches through the release's procedure as the server's
    # role, now; and 3 days of direct rows, some at hour boundaries.
    for b in range(3):
        ids = ", ".join("'%s'" % x[0] for x in q(
            "SELECT gen_random_uuid() FROM generate_series(1, 4)"))
        ips = ", ".join(["'10.0.0.%d'" % (b + 1), "'::1'",
                         "'2001:db8::%d'" % (b + 1), "'192.0.2.7'"])
        q(RECORD % {"ids": ids, "ips": ips}, role="app")
    q("""INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip, created_at)
        SELECT gen_random_uuid(), app.model_version_id('vader', '3.3.2'),
               (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3],
               (i % 1000) / 1000.0, i * 0.001, 1 + i % 1000,
               ((i % 200) - 100) / 100.0, 0.1, 0.8, 0.1,
               ('10.1.' || (i % 250) || '.' || (i % 7))::inet,
               date_trunc('hour', now()) - interval '72 hours'
                   + (i % 72) * interval '1 hour'
                   + (CASE WHEN i % 5 = 0 THEN 0 ELSE i END)
                     * interval '1 microsecond'
          FROM generate_series(1, 5000) AS i""", role="app")
    before = q(SNAPSHOT)
    eq(len(before), 5012, "5,012 rows before the migration")

    # A view of the user's own: refused, nothing changed.
    q("CREATE VIEW app.my_recent AS SELECT prediction_id, created_at "
      "FROM app.prediction_metrics")
    r = migrate(ROOT)
    ok(r.returncode != 0 and "app.my_recent" in r.stderr,
       "a view of one's own on the table stops the migration, named",
       r.stdout + r.stderr)
    eq(db.version(), "0006",
       "and the database stays at 0006")
    eq(q("SELECT relkind FROM pg_class "
         "WHERE oid = 'app.prediction_metrics'::regclass")[0][0], "r",
       "with the table as it was")
    eq(q(SNAPSHOT), before, "and its rows")
    q("DROP VIEW app.my_recent")

    r = migrate(ROOT)
    ok(r.returncode == 0 and "applied 0007" in r.stdout,
       "migration 0007 and the rest apply", r.stdout + r.stderr)
    eq(q("SELECT relkind FROM pg_class "
         "WHERE oid = 'app.prediction_metrics'::regclass")[0][0], "p",
       "prediction_metrics is partitioned")
    after = q(SNAPSHOT)
    eq(len(after), len(before), "as many rows after as before")
    ok(after == before, "every row is identical, value for value",
       "first difference: %r" % next(
           ((a, b) for a, b in zip(before, after) if a != b), None))
    parts = q("SELECT partition::text, lower_bound AT TIME ZONE 'UTC', "
              "upper_bound AT TIME ZONE 'UTC' FROM app.partitions "
              "WHERE partition IN (SELECT DISTINCT tableoid "
              "FROM app.prediction_metrics)")
    eq(len(parts), 1, "the old rows are one partition (attached, not copied)")
    diag("old rows' partition: %s" % parts)
    eq(q("SELECT count(*) FROM app.prediction_metrics "
         "WHERE NOT client_ip << '10.1.0.0/16' "
         "AND created_at >= now() - interval '1 hour'")[0][0], "12",
       "the procedure's rows are found by time")
    ok(int(q("SELECT count(*) FROM app.partitions WHERE "
             "upper_bound > now() + interval '23 hours'")[0][0]) >= 1,
       "partitions are ready a day ahead")

    # The server's role writes through the procedure as before, and may
    # still not delete.
    ids = ", ".join("'%s'" % x[0] for x in q(
        "SELECT gen_random_uuid() FROM generate_series(1, 4)"))
    q(RECORD % {"ids": ids, "ips": "'10.9.9.9', '10.9.9.9', '10.9.9.9', "
                "'10.9.9.9'"}, role="app")
    eq(q("SELECT count(*) FROM app.prediction_metrics")[0][0], "5016",
       "the insert procedure writes into the new layout")
    r = subprocess.run(["psql", db.url("app"), "-X", "-q", "-c",
                        "DELETE FROM app.prediction_metrics"],
                       capture_output=True, text=True, timeout=60)
    ok(r.returncode != 0 and "permission denied" in r.stderr,
       "the server's role still cannot delete rows", r.stderr)
    eq(q("SELECT count(*) FROM app.prediction_metrics", role="analyst")[0][0],
       "5016", "the analyst still reads them")
    r = migrate(ROOT)
    ok(r.returncode == 0 and "0 new migration" in r.stdout,
       "migrating again is a no-op", r.stdout + r.stderr)


ScratchDB("migrate").run_at(BASE, run)
