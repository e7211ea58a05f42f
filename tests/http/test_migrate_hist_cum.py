"""test_migrate_hist_cum.py: migration 0013 gives every rollup row already
folded its running totals (hist_cum), and the reads that search them give
the figures of the raw rows, before and after.

A scratch database of the suite's cluster is migrated with the tree at
BASE (0001-0012 and its sql/), given rows over the last three hours and
folded; then the current tree migrates it.  Every row of every level must
have hist_cum equal to the running total of hist_cnt, and windows read
through app.metrics_window (the search of app.rollup_summary) must equal
count, min, max and percentile_cont(0.95) over the raw rows; and a row
without hist_cum is refused.  0014 follows: its partials start at the
watermark.
"""
import os

from lib import ROOT, eq, ok
from scratchdb import ScratchDB

# main before 0013: migrations 0001-0012 and sql/.
BASE = "bb6291c"


# Rows of every level whose hist_cum is not the running total of hist_cnt.
BAD_CUM = """SELECT sum(c.n) FROM app.rollup_levels() l,
    LATERAL (SELECT (xpath('/row/n/text()', query_to_xml(format(
        'SELECT count(*) AS n FROM %s r WHERE r.hist_cum IS DISTINCT FROM
           (SELECT array_agg(c.s ORDER BY c.o) FROM (SELECT sum(u.c) OVER
              (ORDER BY u.o)::bigint AS s, u.o FROM unnest(r.hist_cnt)
              WITH ORDINALITY AS u(c, o)) c)', l.tbl), false, true, '')))[1]
        ::text::bigint AS n) c"""

# Windows with fractional edges over the folded hours: what metrics_window
# reports against the raw rows; one line per window that differs.
DIFF = """SELECT w.i FROM (SELECT i, now() - interval '170 minutes'
        + i * interval '7 minutes 3.3 s' AS s,
        now() - interval '1 minute' - i * interval '2 minutes 1.7 s' AS e
        FROM generate_series(0, 19) AS i) w,
    app.metrics_window(w.s, w.e) m,
    LATERAL (SELECT count(*) AS n, min(inference_time_ms) AS lo,
                    max(inference_time_ms) AS hi,
                    percentile_cont(0.95) WITHIN GROUP
                        (ORDER BY inference_time_ms) AS p95
               FROM app.prediction_metrics
              WHERE created_at >= w.s AND created_at < w.e) r
   WHERE (m.total_predictions, m.min_inference_time_ms,
          m.max_inference_time_ms, m.p95_inference_time_ms)
         IS DISTINCT FROM (r.n, r.lo, r.hi, r.p95)"""


def run(db, tree):
    q, migrate = db.q, db.migrate
    r = migrate(tree)
    ok(r.returncode == 0, "the previous tree migrates (0001-0012)",
       r.stdout + r.stderr)
    eq(db.version(), "0012",
       "the database is at 0012")
    eq(q("SELECT count(*) FROM pg_attribute WHERE attrelid = "
         "'app.rollup_1s'::regclass AND attname = 'hist_cum'")[0][0], "0",
       "no hist_cum before 0013")

    # Three hours of rows as the server stores them (latencies in whole
    # microseconds, a tail above the exact range), folded.
    q("""SELECT app.partition_ensure('app.prediction_metrics',
             now() - interval '4 hours', now() + interval '1 hour')""")
    q("""INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip, created_at)
        SELECT gen_random_uuid(), app.model_version_id('vader', '3.3.2'),
               (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3],
               round(random()::numeric, 6),
               CASE WHEN i % 50 = 0
                    THEN round((2.048 + random() * 40)::numeric, 3)
                    ELSE (2 + floor(-30 * ln(1 - random())))::int / 1000.0
               END,
               5, 0, 0, 1, 0, '10.0.0.1',
               now() - interval '3 hours' * random()
          FROM generate_series(1, 30000) AS i""")
    q("SELECT app.rollup_catch_up('1 day')")
    folded = int(q("SELECT count(*) FROM app.rollup_1s")[0][0])
    ok(folded > 1000, "rows folded at 0012 (%d 1 s rows)" % folded)

    r = migrate(ROOT)
    ok(r.returncode == 0, "the current tree migrates it", r.stdout + r.stderr)
    latest = max(f[:4] for f in os.listdir(os.path.join(ROOT, "migrations"))
                 if f.endswith(".sql"))
    eq(db.version(), latest,
       "the database is at the latest migration (%s)" % latest)
    eq(q("SELECT partial_from = watermark FROM app.rollup_state")[0][0], "t",
       "0014: partials are complete from the watermark on")
    eq(q(BAD_CUM)[0][0], "0",
       "every rollup row has hist_cum, the running total of hist_cnt")
    eq(q(DIFF), [], "20 windows: count, min, max and P95 as the raw rows")

    ok(q("UPDATE app.rollup_1s SET hist_cum = NULL", check=False) is None,
       "a rollup row without hist_cum is refused (NOT NULL)")


if __name__ == "__main__":
    ScratchDB("migrate_cum").run_at(BASE, run)
