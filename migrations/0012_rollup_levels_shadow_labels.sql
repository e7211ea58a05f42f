-- 0012_rollup_levels_shadow_labels.sql: three more rollup levels (100 ms,
-- 10 s, 10 min), shadow rows apart from served ones, and per-label sums.
--
-- Why (docs/rollups.md): a read costs what it merges, and with levels
-- 1 s / 1 min / 1 h / 1 day a window's edges took up to 59 rows of each
-- and its raw rows up to a second and a half at each end.  With levels
-- that step by 10 or 6 (100 ms, 1 s, 10 s, 1 min, 10 min, 1 h, 1 day)
-- each edge takes at most a handful of rows per level, and the watermark
-- can follow "now" by a few hundred milliseconds.
--
-- shadow: rows of a shadow version (prediction_metrics.shadow_of set) are
-- folded apart, so the served totals leave them out and a comparison can
-- still read them.
--
-- The per-label sums serve app.label_distribution_hourly.  Rows folded
-- before this migration have them NULL (unknown) where the raw rows are
-- gone; where they are kept, the rollups are rebuilt from them by the
-- first app.rollup_upgrade() (sql/35_rollups.sql, at the end of this same
-- migrate), which also builds the new levels below the watermark.

DO $$
DECLARE
    v_t text;
BEGIN
    FOREACH v_t IN ARRAY ARRAY['1s', '1m', '1h', '1d'] LOOP
        EXECUTE format('ALTER TABLE app.%I
            ADD COLUMN shadow boolean NOT NULL DEFAULT false,
            ADD COLUMN positive_conf_sum_micro bigint,
            ADD COLUMN negative_conf_sum_micro bigint,
            ADD COLUMN neutral_conf_sum_micro bigint,
            ADD COLUMN positive_compound_sum_e4 bigint,
            ADD COLUMN negative_compound_sum_e4 bigint,
            ADD COLUMN neutral_compound_sum_e4 bigint', 'rollup_' || v_t);
        EXECUTE format('ALTER TABLE app.%I DROP CONSTRAINT %I',
            'rollup_' || v_t, 'rollup_' || v_t || '_pkey');
        EXECUTE format('ALTER TABLE app.%I ADD CONSTRAINT %I
            PRIMARY KEY (bucket, model_version_id, shadow)',
            'rollup_' || v_t, 'rollup_' || v_t || '_pkey');
    END LOOP;
END;
$$;

CREATE TABLE app.rollup_100ms (LIKE app.rollup_1s INCLUDING ALL)
    PARTITION BY RANGE (bucket);
CREATE TABLE app.rollup_10s (LIKE app.rollup_1s INCLUDING ALL)
    PARTITION BY RANGE (bucket);
CREATE TABLE app.rollup_10m (LIKE app.rollup_1s INCLUDING ALL)
    PARTITION BY RANGE (bucket);

-- 100 ms rows as long as the 1 s ones (they serve the same edges), 10 s
-- for a week (the analyst views' span), 10 min as long as the minutes.
INSERT INTO app.partition_policy (parent, kind, width, retention)
VALUES ('app.rollup_100ms', 'rollup', interval '1 day', interval '3 days'),
       ('app.rollup_10s', 'rollup', interval '1 day', interval '7 days'),
       ('app.rollup_10m', 'rollup', interval '30 days', NULL);

-- The comments: the new tables' own words, the new columns on all seven.
DO $$
DECLARE
    v_t text;
    v_w text;
BEGIN
    FOREACH v_t IN ARRAY ARRAY['100ms', '1s', '10s', '1m', '10m', '1h',
                               '1d'] LOOP
        v_w := CASE v_t WHEN '100ms' THEN '100 milliseconds'
                        WHEN '1s' THEN 'second' WHEN '10s' THEN '10 seconds'
                        WHEN '1m' THEN 'minute' WHEN '10m' THEN '10 minutes'
                        WHEN '1h' THEN 'hour' ELSE 'day (UTC)' END;
        IF v_t IN ('100ms', '10s', '10m') THEN
            EXECUTE format($c$COMMENT ON TABLE app.%I IS %L$c$,
                'rollup_' || v_t, format(
                'Exact aggregates of app.prediction_metrics per %s, model '
                'version and shadow flag, for the rows with created_at '
                'below app.rollup_state.watermark (folded by the janitor, '
                'rebuilt by app.rollup_backfill).  Read them through '
                'app.metrics_window() and the views, which add the raw '
                'rows above the watermark; P95 from a histogram: '
                'app.rollup_quantile().', v_w));
            EXECUTE format($c$COMMENT ON COLUMN app.%I.bucket IS %L$c$,
                'rollup_' || v_t, format('Start of the bucket, [bucket, '
                'bucket + %s); aligned to UTC.', v_w));
        END IF;
        EXECUTE format($c$COMMENT ON COLUMN app.%I.shadow IS %L$c$,
            'rollup_' || v_t, 'true: rows of a shadow version '
            '(prediction_metrics.shadow_of set), never answered; the '
            'served figures are WHERE NOT shadow.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.positive_conf_sum_micro
            IS %L$c$, 'rollup_' || v_t, 'conf_sum_micro of the positive '
            'predictions alone.  NULL: folded before 0012 and no longer '
            'rebuildable (its raw rows were dropped).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.negative_conf_sum_micro
            IS %L$c$, 'rollup_' || v_t, 'conf_sum_micro of the negative '
            'predictions alone (NULL as positive_conf_sum_micro).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.neutral_conf_sum_micro
            IS %L$c$, 'rollup_' || v_t, 'conf_sum_micro of the neutral '
            'predictions alone (NULL as positive_conf_sum_micro).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.positive_compound_sum_e4
            IS %L$c$, 'rollup_' || v_t, 'Sum of round(compound * 1e4) of '
            'the positive predictions: their exact compound sum in '
            'ten-thousandths (the server stores 4 decimals).');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.negative_compound_sum_e4
            IS %L$c$, 'rollup_' || v_t, 'As positive_compound_sum_e4, of '
            'the negative predictions.');
        EXECUTE format($c$COMMENT ON COLUMN app.%I.neutral_compound_sum_e4
            IS %L$c$, 'rollup_' || v_t, 'As positive_compound_sum_e4, of '
            'the neutral predictions.');
    END LOOP;
END;
$$;

-- The watermark follows the finest level, 100 ms; and an upgrade step is
-- owed (app.rollup_upgrade).
ALTER TABLE app.rollup_state DROP CONSTRAINT rollup_state_watermark_check;
ALTER TABLE app.rollup_state ADD CONSTRAINT rollup_state_watermark_check
    CHECK (watermark = date_bin('100 milliseconds', watermark,
                                timestamptz '2000-01-01 00:00+00'));
ALTER TABLE app.rollup_state ADD COLUMN upgrade_pending boolean NOT NULL
    DEFAULT true;
COMMENT ON COLUMN app.rollup_state.watermark IS
    'Every raw row with created_at below it is in app.rollup_100ms (and, '
    'for closed buckets, in the coarser levels), and no transaction that '
    'could still add such a row was open when it was set.  A multiple of '
    '100 ms.  NULL: nothing folded yet (reads use raw rows only).';
COMMENT ON COLUMN app.rollup_state.upgrade_pending IS
    'true until app.rollup_upgrade() has built the levels added by '
    'migration 0012 and refolded the kept raw rows.';
