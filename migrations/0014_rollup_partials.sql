-- 0014_rollup_partials.sql: a partial rollup row per INSERT statement.
--
-- Why (docs/rollups.md, "Partials"): every read took the raw rows above
-- the watermark one by one, the last few hundred milliseconds, which at
-- 1.7 billion rows a day is thousands of rows and most of a short
-- window's cost.  The server writes a batch of rows in one statement,
-- and the rows of a transaction share created_at (now()), so the same
-- figures fit in one row per statement: its count, exact sums, min, max
-- and latency histogram, in the shape of the rollup levels, with bucket
-- the exact created_at.  A statement trigger on app.prediction_metrics
-- (sql/35_rollups.sql) writes it in the same transaction as the rows, so
-- a reader sees both or neither; reads take these rows instead of the raw
-- ones above the watermark, and the fold builds the 100 ms level from
-- them and deletes them below the new watermark.
--
-- No primary key: two statements of one transaction may write the same
-- (bucket, model_version_id, shadow); every read adds them up.

CREATE TABLE app.rollup_partial (LIKE app.rollup_100ms INCLUDING DEFAULTS
    INCLUDING CONSTRAINTS)
    WITH (autovacuum_vacuum_scale_factor = 0,
          autovacuum_vacuum_threshold = 20000,
          autovacuum_vacuum_insert_scale_factor = 0,
          autovacuum_vacuum_insert_threshold = 20000);
CREATE INDEX rollup_partial_bucket ON app.rollup_partial (bucket);

COMMENT ON TABLE app.rollup_partial IS
    'Exact aggregates of app.prediction_metrics per INSERT statement (or '
    'per created_at, where app.rollup_build(0, ...) rebuilt them), model '
    'version and shadow flag, the columns of the rollup levels; kept only '
    'at and above app.rollup_state.partial_from (the fold deletes them '
    'below the watermark).  Written by triggers on app.prediction_metrics; '
    'internal to the metrics reads, which add them to the rollups.';
COMMENT ON COLUMN app.rollup_partial.bucket IS
    'created_at of the rows (exact, not a bucket start).';
-- The other columns mean what they mean in the levels.
DO $$
DECLARE
    v_c record;
BEGIN
    FOR v_c IN SELECT a.attname,
                      col_description(a.attrelid, a.attnum) AS d
                 FROM pg_attribute a
                WHERE a.attrelid = 'app.rollup_100ms'::regclass
                  AND a.attnum > 0 AND NOT a.attisdropped
                  AND a.attname <> 'bucket' LOOP
        EXECUTE format('COMMENT ON COLUMN app.rollup_partial.%I IS %L',
            v_c.attname, v_c.d);
    END LOOP;
END;
$$;

ALTER TABLE app.rollup_state ADD COLUMN partial_from timestamptz NOT NULL
    DEFAULT 'infinity';
COMMENT ON COLUMN app.rollup_state.partial_from IS
    'Every raw row with created_at at or above it is in '
    'app.rollup_partial.  infinity: not yet (the triggers are created, and '
    'the rows above the watermark summed, by app.rollup_partial_setup()).';
