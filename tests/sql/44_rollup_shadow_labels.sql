-- 44_rollup_shadow_labels.sql: the rollups keep shadow rows apart and the
-- per-label sums exact (migration 0012), and what reads them agrees with
-- the raw rows: served totals leave shadow rows out, a comparison counts
-- both, app.label_distribution_hourly's averages per label, and the
-- one-time upgrade (app.rollup_upgrade) rebuilds the levels it added.
BEGIN;
SELECT plan(14);

SELECT setseed(0.44);

INSERT INTO app.model_versions (name, version)
VALUES ('sa', '1.0.0'), ('sa', '2.0.0');

-- Rows as the server stores them (confidence 1e-6, compound 1e-4, whole
-- microseconds; below 2.048 ms, where P95 is exact: 43_rollups has the
-- tail above).  Version 2.0.0 only shadows: each of its rows names an
-- answered row of 1.0.0 in shadow_of, as src/api_predict.c records them.
CREATE FUNCTION pg_temp.add_rows(p_n integer, p_from timestamptz,
    p_span interval)
RETURNS void LANGUAGE sql AS $$
    WITH a AS (
        INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip, created_at)
        SELECT gen_random_uuid(), app.model_version_id('sa', '1.0.0'),
               (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
               round(random()::numeric, 6)::float8,
               (2 + (random() * 2000)::int) / 1000.0,
               5, round((random() * 2 - 1)::numeric, 4)::float8, 0, 1, 0,
               '10.0.0.1', p_from + random() * p_span
          FROM generate_series(1, p_n)
        RETURNING prediction_id, created_at
    )
    INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
        label, confidence, inference_time_ms, input_length, compound, pos,
        neu, neg, client_ip, created_at, shadow_of)
    SELECT gen_random_uuid(), app.model_version_id('sa', '2.0.0'),
           (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
           round(random()::numeric, 6)::float8,
           (2 + (random() * 500)::int) / 1000.0,
           5, round((random() * 2 - 1)::numeric, 4)::float8, 0, 1, 0,
           '10.0.0.1', a.created_at, a.prediction_id
      FROM a WHERE random() < 0.6;
$$;

-- The reference over raw rows, served (false), shadow (true) or both.
CREATE FUNCTION pg_temp.ref(p_s timestamptz, p_e timestamptz,
    p_ids integer[], p_shadow boolean)
RETURNS TABLE (n bigint, conf float8, avg_ms float8, min_ms float8,
               max_ms float8, p95 float8, pos bigint, neg bigint, neu bigint)
LANGUAGE sql AS $$
    SELECT count(*), (sum(confidence::numeric) / count(*))::float8,
           (sum(inference_time_ms::numeric) / count(*))::float8,
           min(inference_time_ms), max(inference_time_ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_time_ms),
           count(*) FILTER (WHERE label = 'positive'),
           count(*) FILTER (WHERE label = 'negative'),
           count(*) FILTER (WHERE label = 'neutral')
      FROM app.prediction_metrics
     WHERE created_at >= p_s AND created_at < p_e
       AND (p_ids IS NULL OR model_version_id = ANY (p_ids))
       AND (p_shadow IS NULL OR (shadow_of IS NOT NULL) = p_shadow);
$$;

CREATE FUNCTION pg_temp.agrees(p_s timestamptz, p_e timestamptz,
    p_ids integer[], p_shadow boolean)
RETURNS boolean LANGUAGE sql AS $$
    SELECT (coalesce(a.total_predictions, 0), a.average_confidence,
            a.average_inference_time_ms, a.min_inference_time_ms,
            a.max_inference_time_ms, a.p95_inference_time_ms,
            coalesce(a.positive, 0), coalesce(a.negative, 0),
            coalesce(a.neutral, 0))
           IS NOT DISTINCT FROM
           (r.n, r.conf, r.avg_ms, r.min_ms, r.max_ms, r.p95, r.pos, r.neg,
            r.neu)
      FROM pg_temp.ref(p_s, p_e, p_ids, p_shadow) r
      LEFT JOIN app.rollup_aggregate(p_s, p_e, p_ids, NULL, false,
                                     p_shadow) a ON true;
$$;

CREATE TEMP TABLE t0 AS
SELECT date_trunc('second', now()) - interval '10 minutes' AS t;
SELECT app.partition_ensure('app.prediction_metrics',
    (SELECT t FROM t0) - interval '4 hours', (SELECT t FROM t0) +
    interval '2 hours') IS NOT NULL AS made \gset

-- Three hours folded, then rows above the watermark (read raw).
SELECT pg_temp.add_rows(6000, (SELECT t FROM t0) - interval '3 hours',
                        interval '3 hours');
SELECT ok(app.rollup_catch_up('100 days') >= (SELECT t FROM t0),
    'rollup_catch_up folds up to about now');
CREATE TEMP TABLE w0 AS SELECT watermark AS w FROM app.rollup_state;
SELECT pg_temp.add_rows(1000, (SELECT w FROM w0), interval '5 minutes');

SELECT ok((SELECT count(*) FROM app.rollup_100ms) > 0 AND
          (SELECT count(*) FROM app.rollup_10s) > 0 AND
          (SELECT count(*) FROM app.rollup_10m) > 0,
    'the 100 ms, 10 s and 10 min levels have rows');
SELECT is((SELECT array[sum(n) FILTER (WHERE shadow),
                        sum(n) FILTER (WHERE NOT shadow)]::bigint[]
             FROM app.rollup_100ms),
          (SELECT array[count(*) FILTER (WHERE shadow_of IS NOT NULL),
                        count(*) FILTER (WHERE shadow_of IS NULL)]
             FROM app.prediction_metrics
            WHERE created_at < (SELECT w FROM w0)),
    'the 100 ms level holds every row below the watermark, shadow rows apart');
SELECT is(app.metrics_count(),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE shadow_of IS NULL),
    '/metrics/count counts answered predictions only');
SELECT is(app.metrics_count('sa', '2.0.0'), 0::bigint,
    'a version that only shadowed has answered none');

-- Random windows with fractional edges, each kind of row.
CREATE TEMP TABLE win AS
SELECT i, e - make_interval(mins => 1 + (random() * 200)::int)
            - random() * interval '1 second' AS s, e
  FROM (SELECT i, (SELECT w FROM w0) + interval '5 minutes'
                  - random() * interval '40 minutes' AS e
          FROM generate_series(1, 12) AS i) g;
SELECT is_empty($$SELECT i FROM win
     WHERE NOT (pg_temp.agrees(s, e, NULL, false)
                AND pg_temp.agrees(s, e, NULL, true)
                AND pg_temp.agrees(s, e, NULL, NULL)
                AND pg_temp.agrees(s, e,
                        ARRAY[app.model_version_id('sa', '2.0.0')], NULL))$$,
    'served, shadow and all rows: every figure as over the raw rows');
SELECT is((SELECT total_predictions FROM app.metrics_window(
              (SELECT w FROM w0) - interval '1 hour 0.37 s',
              (SELECT w FROM w0) + interval '2 minutes 0.05 s')),
          (SELECT n FROM pg_temp.ref((SELECT w FROM w0) - interval '1 hour 0.37 s',
              (SELECT w FROM w0) + interval '2 minutes 0.05 s', NULL, false)),
    'metrics_window (POST /metrics/aggregated) leaves shadow rows out');

-- The label view against the same figures over the raw rows.
CREATE TEMP TABLE lab_ref AS
SELECT date_trunc('hour', p.created_at) AS hour, v.version, p.label,
       count(*) AS predictions,
       count(*)::float8 / sum(count(*)) OVER (
           PARTITION BY date_trunc('hour', p.created_at), v.version) AS share,
       (sum(p.confidence::numeric) / count(*))::float8 AS conf,
       (sum(p.compound::numeric) / count(*))::float8 AS compound
  FROM app.prediction_metrics p
  JOIN app.model_versions v ON v.id = p.model_version_id
 WHERE v.name = 'sa' AND p.shadow_of IS NULL AND p.created_at < now()
 GROUP BY 1, 2, 3;
SELECT results_eq(
    $$SELECT hour, model_version, label, predictions, share,
             average_confidence, average_compound
        FROM app.label_distribution_hourly WHERE model_name = 'sa'
       ORDER BY 1, 2, 3$$,
    $$SELECT hour, version, label, predictions, share, conf, compound
        FROM lab_ref ORDER BY 1, 2, 3$$,
    'label_distribution_hourly: counts, shares and per-label averages exact');

-- The comparison: each side's answered and shadow rows.
CREATE TEMP TABLE cmp AS
SELECT app.compare_versions('sa', '2.0.0', '1.0.0', 90,
           (SELECT w FROM w0) + interval '3 minutes 0.25 s') AS j;
SELECT is((SELECT array[(j->'candidate'->>'predictions')::bigint,
                        (j->'candidate'->>'served')::bigint,
                        (j->'candidate'->>'shadow')::bigint,
                        (j->'baseline'->>'predictions')::bigint,
                        (j->'baseline'->>'shadow')::bigint,
                        (j->'candidate'->'label_distribution'->>'negative')::bigint]
             FROM cmp),
          (SELECT array[count(*) FILTER (WHERE v.version = '2.0.0'),
                        count(*) FILTER (WHERE v.version = '2.0.0'
                                         AND p.shadow_of IS NULL),
                        count(*) FILTER (WHERE v.version = '2.0.0'
                                         AND p.shadow_of IS NOT NULL),
                        count(*) FILTER (WHERE v.version = '1.0.0'),
                        count(*) FILTER (WHERE v.version = '1.0.0'
                                         AND p.shadow_of IS NOT NULL),
                        count(*) FILTER (WHERE v.version = '2.0.0'
                                         AND p.label = 'negative')]
             FROM app.prediction_metrics p
             JOIN app.model_versions v ON v.id = p.model_version_id
            WHERE p.created_at >= (SELECT w FROM w0) + interval '3 minutes 0.25 s'
                                  - interval '90 minutes'
              AND p.created_at < (SELECT w FROM w0) + interval '3 minutes 0.25 s'),
    'compare_versions: predictions, served, shadow and labels per side');
SELECT is((SELECT ((j->'candidate'->>'average_confidence')::float8,
                   (j->'candidate'->>'p95_inference_time_ms')::float8)::text
             FROM cmp),
          (SELECT (r.conf, r.p95)::text FROM pg_temp.ref(
              (SELECT w FROM w0) + interval '3 minutes 0.25 s' - interval '90 minutes',
              (SELECT w FROM w0) + interval '3 minutes 0.25 s',
              ARRAY[app.model_version_id('sa', '2.0.0')], NULL) r),
    'compare_versions: the candidate''s confidence and P95 exact');
SELECT is((SELECT shadow_predictions FROM app.metrics_per_model_version
            WHERE model_name = 'sa' AND model_version = '2.0.0'),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE model_version_id = app.model_version_id('sa', '2.0.0')),
    'metrics_per_model_version counts a shadow version''s rows apart');

-- The upgrade after 0012, replayed: the new coarse levels emptied, the
-- step owed again; it rebuilds them and the kept raw rows are refolded.
DELETE FROM app.rollup_10s;
DELETE FROM app.rollup_10m;
DELETE FROM app.rollup_100ms;
UPDATE app.rollup_state SET upgrade_pending = true;
SELECT app.rollup_upgrade();
SELECT ok(app.rollup_catch_up('100 days') >= (SELECT w FROM w0)
          AND NOT (SELECT upgrade_pending FROM app.rollup_state),
    'rollup_upgrade, then the catch-up: the watermark is back');
SELECT is_empty($$SELECT i FROM win
     WHERE NOT (pg_temp.agrees(s, e, NULL, false)
                AND pg_temp.agrees(s, e, NULL, NULL))$$,
    'after the upgrade: every window exact again');

-- A bucket folded before 0012 whose raw rows are gone has no per-label
-- sums: its averages are unknown (NULL), never a wrong number.
UPDATE app.rollup_1h SET positive_conf_sum_micro = NULL
 WHERE bucket = (SELECT min(bucket) FROM app.rollup_1h);
SELECT is((SELECT count(*) FILTER (WHERE average_confidence IS NULL)
             FROM app.label_distribution_hourly
            WHERE model_name = 'sa'
              AND hour = (SELECT min(bucket) FROM app.rollup_1h)),
          (SELECT count(*) FROM app.label_distribution_hourly
            WHERE model_name = 'sa'
              AND hour = (SELECT min(bucket) FROM app.rollup_1h)),
    'per-label sums unknown in a part: the hour''s averages are NULL');

SELECT * FROM finish();
ROLLBACK;
