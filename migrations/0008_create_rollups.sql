-- 0008_create_rollups.sql: exact rollups of app.prediction_metrics per
-- (time bucket, model version) at four granularities, and the watermark
-- below which raw rows have been folded into them.
--
-- The functions that fill and read them are in sql/35_rollups.sql (they
-- are re-applied after every migrate); docs/rollups.md explains the
-- design.  Existing raw rows are folded in by the first
-- app.rollup_catch_up() that sql/35_rollups.sql runs at the end of this
-- same migrate, so an upgraded database answers from rollups at once.

-- ------------------------------------------------------------- the levels
--
-- One table per granularity, all of the same shape.  Values are integers
-- in the units the server stores (src/api_predict.c rounds confidence to
-- 1e-6 and inference time to 1 us), so sums, averages, min and max are
-- exact and do not depend on summation order.  The latency histogram is
-- sparse: hist_idx[k] is an HDR bucket index (app.rollup_hist_index:
-- exact below 2048 us, then 1024 sub-buckets per power of two, <= 0.05 %
-- from its representative value), hist_cnt[k] its count, idx ascending.

CREATE TABLE app.rollup_1s (
    bucket            timestamptz NOT NULL,
    model_version_id  integer NOT NULL,
    n                 bigint NOT NULL CHECK (n > 0),
    positive          bigint NOT NULL,
    negative          bigint NOT NULL,
    neutral           bigint NOT NULL,
    conf_sum_micro    bigint NOT NULL,
    time_sum_us       bigint NOT NULL,
    time_min_us       bigint NOT NULL,
    time_max_us       bigint NOT NULL,
    hist_idx          integer[] NOT NULL,
    hist_cnt          bigint[] NOT NULL,
    PRIMARY KEY (bucket, model_version_id),
    CHECK (positive + negative + neutral = n),
    CHECK (cardinality(hist_idx) = cardinality(hist_cnt))
) PARTITION BY RANGE (bucket);

CREATE TABLE app.rollup_1m (LIKE app.rollup_1s INCLUDING ALL)
    PARTITION BY RANGE (bucket);
CREATE TABLE app.rollup_1h (LIKE app.rollup_1s INCLUDING ALL)
    PARTITION BY RANGE (bucket);
-- A row per day and model: kept for ever (the all-time count), so not
-- partitioned.
CREATE TABLE app.rollup_1d (LIKE app.rollup_1s INCLUDING ALL);

DO $$
DECLARE
    v_t text;
    v_w text;
BEGIN
    FOREACH v_t IN ARRAY ARRAY['1s', '1m', '1h', '1d'] LOOP
        v_w := CASE v_t WHEN '1s' THEN 'second' WHEN '1m' THEN 'minute'
                        WHEN '1h' THEN 'hour' ELSE 'day (UTC)' END;
        EXECUTE format($c$COMMENT ON TABLE app.%I IS %L$c$,
            'rollup_' || v_t, format(
            'Exact aggregates of app.prediction_metrics per %s and model '
            'version, for the rows with created_at below '
            'app.rollup_state.watermark (folded by the janitor, rebuilt by '
            'app.rollup_backfill).  Read them through app.metrics_window() '
            'and the views, which add the raw rows above the watermark; '
            'P95 from a histogram: app.rollup_quantile().', v_w));
        EXECUTE format($c$COMMENT ON COLUMN app.%I.bucket IS %L$c$,
            'rollup_' || v_t, format('Start of the %s, [bucket, bucket + '
            '1 %s); aligned to UTC.', v_w, split_part(v_w, ' ', 1)));
        EXECUTE format($c$COMMENT ON COLUMN app.%I.model_version_id IS %L$c$,
            'rollup_' || v_t, 'The model (app.model_versions.id).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.n IS %L$c$,
            'rollup_' || v_t, 'Predictions in the bucket (> 0: empty '
            'buckets have no row).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.positive IS %L$c$,
            'rollup_' || v_t, 'Predictions labelled positive.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.negative IS %L$c$,
            'rollup_' || v_t, 'Predictions labelled negative.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.neutral IS %L$c$,
            'rollup_' || v_t, 'Predictions labelled neutral.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.conf_sum_micro IS %L$c$,
            'rollup_' || v_t, 'Sum of round(confidence * 1e6): the exact '
            'sum of the confidences in millionths.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.time_sum_us IS %L$c$,
            'rollup_' || v_t, 'Sum of round(inference_time_ms * 1000): '
            'the exact sum of the inference times in microseconds.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.time_min_us IS %L$c$,
            'rollup_' || v_t, 'Fastest inference in microseconds.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.time_max_us IS %L$c$,
            'rollup_' || v_t, 'Slowest inference in microseconds.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.hist_idx IS %L$c$,
            'rollup_' || v_t, 'Latency histogram: HDR bucket indexes, '
            'ascending (app.rollup_hist_index; below 2048 the index is '
            'the value in microseconds).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.hist_cnt IS %L$c$,
            'rollup_' || v_t, 'Latency histogram: the count of each '
            'hist_idx element.');
    END LOOP;
END;
$$;

-- Partitions and retention (sql/31_partitions.sql): 1 s rows for three
-- days (enough for the edges of a 48-hour comparison), minutes and hours
-- for ROLLUP_RETENTION_DAYS, days for ever.  Coarser levels are kept at
-- least as long as finer ones, so dropping a partition only ever takes
-- the finest detail of a range first.
INSERT INTO app.partition_policy (parent, kind, width, retention)
VALUES ('app.rollup_1s', 'rollup', interval '1 day', interval '3 days'),
       ('app.rollup_1m', 'rollup', interval '7 days', NULL),
       ('app.rollup_1h', 'rollup', interval '30 days', NULL);

-- ------------------------------------------------------------ the state

CREATE TABLE app.rollup_state (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    watermark   timestamptz
                CHECK (watermark = date_bin('1 second', watermark,
                                            timestamptz '2000-01-01 00:00+00')),
    folded_at   timestamptz
);
INSERT INTO app.rollup_state DEFAULT VALUES;

COMMENT ON TABLE app.rollup_state IS
    'One row: how far the rollups reach.  Only the janitor''s fold '
    '(app.rollup_fold) moves it, in the transaction that writes the '
    'rollup rows; writers never touch it.';
COMMENT ON COLUMN app.rollup_state.id IS 'Always true: the one row.';
COMMENT ON COLUMN app.rollup_state.watermark IS
    'Every raw row with created_at below it is in app.rollup_1s (and, for '
    'closed minutes, hours and days, in the coarser levels), and no '
    'transaction that could still add such a row was open when it was '
    'set.  A whole second.  NULL: nothing folded yet (reads use raw '
    'rows only).';
COMMENT ON COLUMN app.rollup_state.folded_at IS
    'When the watermark last moved.';
