-- 40_metrics.sql: windows, P95, status, time series, comparison, count
-- and the analyst views (sql/40_metrics.sql, sql/41_metrics_views.sql).
--
-- The fixture lives in 2030 so no other row falls into its windows.  The
-- expected figures below are computed by hand: percentile_cont(0.95)
-- over n sorted values v[0..n-1] is v[lo] + f * (v[lo+1] - v[lo]) with
-- lo + f = 0.95 * (n - 1).
BEGIN;
SELECT plan(93);

-- ------------------------------------------------------------- the fixture
--
-- tm 1.0.0: ten rows r1..r10 with inference time i ms, confidence i/10,
-- labels r1-r5 positive, r6-r8 negative, r9-r10 neutral, at
--   r1 11:00:00 (exactly the window start)   r6 11:25
--   r2 11:05                                 r7 11:30
--   r3 11:10                                 r8 11:45
--   r4 11:19:59.999999                       r9 11:50
--   r5 11:20:00 (exactly a bucket boundary)  r10 11:59:59.999999
-- plus two 1000 ms rows just outside [11:00, 12:00): 10:59:59.999999
-- and 12:00:00 (the end is excluded).
-- tm 2.0.0: 11:15 100 ms conf 0.9 positive; 11:55 200 ms conf 0.7 neutral.
-- other 1.0.0: 11:35 50 ms conf 0.3 negative.
-- A version registered without predictions: tm 3.0.0.

INSERT INTO app.model_versions (name, version)
VALUES ('tm', '1.0.0'), ('tm', '2.0.0'), ('other', '1.0.0'), ('tm', '3.0.0');
-- Rows go to a partition of their time: the fixture's, and the last two
-- days' (rows 25 hours old below).
SELECT app.partition_ensure('app.prediction_metrics',
    '2030-01-01 10:00+00', '2030-01-01 13:00+00');
SELECT app.partition_ensure('app.prediction_metrics',
    now() - interval '26 hours', now());

CREATE TEMP TABLE fx (t text, ms float8, conf float8, label text,
                      name text, version text);
INSERT INTO fx VALUES
    ('11:00:00',         1, 0.1, 'positive', 'tm', '1.0.0'),
    ('11:05:00',         2, 0.2, 'positive', 'tm', '1.0.0'),
    ('11:10:00',         3, 0.3, 'positive', 'tm', '1.0.0'),
    ('11:19:59.999999',  4, 0.4, 'positive', 'tm', '1.0.0'),
    ('11:20:00',         5, 0.5, 'positive', 'tm', '1.0.0'),
    ('11:25:00',         6, 0.6, 'negative', 'tm', '1.0.0'),
    ('11:30:00',         7, 0.7, 'negative', 'tm', '1.0.0'),
    ('11:45:00',         8, 0.8, 'negative', 'tm', '1.0.0'),
    ('11:50:00',         9, 0.9, 'neutral',  'tm', '1.0.0'),
    ('11:59:59.999999', 10, 1.0, 'neutral',  'tm', '1.0.0'),
    ('10:59:59.999999', 1000, 0.5, 'neutral', 'tm', '1.0.0'),
    ('12:00:00',      1000, 0.5, 'neutral',  'tm', '1.0.0'),
    ('11:15:00',       100, 0.9, 'positive', 'tm', '2.0.0'),
    ('11:55:00',       200, 0.7, 'neutral',  'tm', '2.0.0'),
    ('11:35:00',        50, 0.3, 'negative', 'other', '1.0.0');

SELECT app.metrics_count() AS count_before \gset

INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
SELECT gen_random_uuid(), v.id, fx.label, fx.conf, fx.ms, 10, 0, 0, 1, 0,
       '10.0.0.1', ('2030-01-01 ' || fx.t || '+00')::timestamptz
  FROM fx JOIN app.model_versions v
    ON v.name = fx.name AND v.version = fx.version;

CREATE FUNCTION pg_temp.near(double precision, double precision)
RETURNS boolean LANGUAGE sql AS $$ SELECT abs($1 - $2) < 1e-9 $$;
-- A P95 among latencies above the exact range (2.048 ms): the promise is
-- 0.1 % of the exact figure (docs/rollups.md), for raw rows above the
-- watermark too (their partials hold the same histogram).
CREATE FUNCTION pg_temp.p95near(double precision, double precision)
RETURNS boolean LANGUAGE sql AS $$ SELECT abs($1 - $2) <= 0.001 * abs($2) $$;

-- ------------------------------------------------------------ metrics_window

SELECT has_function('app', 'metrics_window',
    ARRAY['timestamp with time zone', 'timestamp with time zone', 'text',
          'text'], 'metrics_window(start, end, name, version) exists');

CREATE TEMP TABLE w AS SELECT * FROM app.metrics_window(
    '2030-01-01 11:00+00', '2030-01-01 12:00+00');
SELECT is((SELECT total_predictions FROM w), 13::bigint,
    'window: exactly the 13 rows of [start, end) (start in, end out)');
SELECT ok((SELECT pg_temp.p95near(p95_inference_time_ms, 140) FROM w),
    'window: P95 of 1..10,50,100,200 is 140 (100 + 0.4 * 100)');
SELECT ok((SELECT pg_temp.near(average_confidence, 7.4 / 13) FROM w),
    'window: average confidence 7.4 / 13');
SELECT ok((SELECT pg_temp.near(average_inference_time_ms, 405.0 / 13) FROM w),
    'window: average inference time 405 / 13');
SELECT is((SELECT (min_inference_time_ms, max_inference_time_ms)::text FROM w),
    '(1,200)', 'window: min 1, max 200 (the 1000 ms rows outside)');
SELECT is((SELECT (positive, negative, neutral)::text FROM w), '(6,4,3)',
    'window: label counts 6/4/3');
SELECT ok(pg_temp.p95near((SELECT p95_inference_time_ms FROM w),
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY ms) FROM fx
      WHERE t >= '11:00' AND t < '12:00')),
    'window: P95 within 0.1 % of percentile_cont(0.95) over the same rows');

SELECT ok((SELECT pg_temp.p95near(p95_inference_time_ms, 145) AND
                  total_predictions = 12
             FROM app.metrics_window('2030-01-01 11:00+00',
                  '2030-01-01 12:00+00', 'tm')),
    'model name filter: 12 rows, P95 145 (100 + 0.45 * 100)');
SELECT ok((SELECT pg_temp.p95near(p95_inference_time_ms, 9.55) AND
                  total_predictions = 10 AND
                  pg_temp.near(average_confidence, 0.55)
             FROM app.metrics_window('2030-01-01 11:00+00',
                  '2030-01-01 12:00+00', 'tm', '1.0.0')),
    'name + version filter: 10 rows, P95 9.55, average confidence 0.55');
SELECT ok((SELECT pg_temp.p95near(p95_inference_time_ms, 30) AND
                  total_predictions = 11
             FROM app.metrics_window('2030-01-01 11:00+00',
                  '2030-01-01 12:00+00', NULL, '1.0.0')),
    'version filter alone: 11 rows of two models, P95 30 (10 + 0.5 * 40)');
SELECT is((SELECT total_predictions FROM app.metrics_window(
    '2030-01-01 11:00+00', '2030-01-01 12:00+00', 'nope')), 0::bigint,
    'an unknown model matches nothing');

SELECT is((SELECT total_predictions FROM app.metrics_window(
    '2030-01-01 12:00+00', '2030-01-01 12:00:00.000001+00')), 1::bigint,
    'a one-microsecond window at 12:00:00 holds the end row');
SELECT is((SELECT total_predictions FROM app.metrics_window(
    '2030-01-01 11:00+00', '2030-01-01 11:00:00.000001+00', 'tm', '1.0.0')),
    1::bigint, 'the row at the start instant is in');
SELECT is((SELECT (p95_inference_time_ms, min_inference_time_ms)::text
             FROM app.metrics_window('2030-01-01 11:50+00',
                  '2030-01-01 11:50:00.000001+00')), '(9,9)',
    'one row: P95 = min = that value');

SELECT is((SELECT (total_predictions, average_confidence,
                   average_inference_time_ms, min_inference_time_ms,
                   max_inference_time_ms, p95_inference_time_ms, positive,
                   negative, neutral)::text
             FROM app.metrics_window('2031-01-01 00:00+00',
                  '2031-01-01 01:00+00')),
    '(0,,,,,,0,0,0)', 'empty window: count 0, NULL aggregates, zero labels');
SELECT is((SELECT count(*)::int FROM app.metrics_window('2031-01-01+00',
    '2031-01-01 01:00+00')), 1, 'an empty window still returns one row');

-- --------------------------------------------------------------- the status

SELECT is(app.metrics_status(0.7, 100), 'normal', 'status: 0.7 / 100 ms normal');
SELECT is(app.metrics_status(0.6, 100), 'warning',
    'status: confidence equal to the warning threshold is a warning');
SELECT is(app.metrics_status(0.61, 200), 'warning',
    'status: P95 equal to the warning threshold is a warning');
SELECT is(app.metrics_status(0.61, 199.999), 'normal',
    'status: just inside both warning thresholds is normal');
SELECT is(app.metrics_status(0.4, 10), 'critical',
    'status: confidence equal to the critical threshold is critical');
SELECT is(app.metrics_status(0.9, 500), 'critical',
    'status: P95 equal to the critical threshold is critical');
SELECT is(app.metrics_status(0.3, 300), 'critical',
    'status: critical wins over warning');
SELECT is(app.metrics_status(0.5, 600), 'critical',
    'status: a warning confidence with a critical P95 is critical');
SELECT is(app.metrics_status(NULL, NULL), 'normal',
    'status: no data (NULLs) is normal');
SELECT is(app.metrics_status(0.5, NULL), 'warning',
    'status: a NULL P95 does not hide a low confidence');
SELECT is(app.metrics_status(NULL, 250), 'warning',
    'status: a NULL confidence does not hide a slow P95');
SELECT is(app.metrics_classify(0.7, 100, 0.8, 0.5, 50, 90), 'critical',
    'classify: explicit thresholds are used');

UPDATE app.metric_thresholds SET min_confidence_warning = 0.6
 WHERE model_name = 'default';
INSERT INTO app.metric_thresholds (model_name, min_confidence_warning,
    min_confidence_critical, max_inference_time_warning_ms,
    max_inference_time_critical_ms)
VALUES ('tm', 0.8, 0.5, 50, 90);
SELECT is(app.metrics_status(0.7, 10, 'tm'), 'warning',
    'status: a model''s own thresholds apply to it');
SELECT is(app.metrics_status(0.7, 95, 'tm'), 'critical',
    'status: its latency thresholds too');
SELECT is(app.metrics_status(0.7, 95, 'unknown'), 'normal',
    'status: a model without thresholds uses the default row');
SELECT is(app.metrics_status(0.7, 95), 'normal',
    'status: no model uses the default row');
SELECT ok(obj_description('app.metrics_status(double precision, double precision, text)'::regprocedure,
    'pg_proc') ~ 'critical if average confidence <= min_confidence_critical OR P95',
    'the rule is documented in the function''s COMMENT');

-- ------------------------------------------------------ metrics_aggregated

CREATE TEMP TABLE agg AS SELECT app.metrics_aggregated(60, NULL, NULL,
    '2030-01-01 12:00+00')::jsonb AS j;
SELECT is((SELECT (j->>'total_predictions')::int FROM agg), 13,
    'aggregated: total 13');
SELECT ok((SELECT pg_temp.p95near((j->>'p95_inference_time_ms')::float8, 140)
             FROM agg), 'aggregated: P95 140');
SELECT is((SELECT j->'label_distribution' FROM agg),
    '{"positive": 6, "negative": 4, "neutral": 3}'::jsonb,
    'aggregated: the label distribution');
SELECT is((SELECT j->>'status' FROM agg), 'warning',
    'aggregated: average confidence 0.569 <= 0.6 is a warning');
SELECT is((SELECT (j->>'time_window_start') || ' ' || (j->>'time_window_end')
             FROM agg),
    '2030-01-01T11:00:00.000000Z 2030-01-01T12:00:00.000000Z',
    'aggregated: the window, ISO 8601 UTC');
SELECT is((SELECT j->'thresholds'->>'model_name' FROM agg), 'default',
    'aggregated: the thresholds that applied');
SELECT ok((SELECT j ?& ARRAY['average_confidence', 'average_inference_time_ms',
                  'min_inference_time_ms', 'max_inference_time_ms',
                  'model_name', 'model_version', 'time_window_minutes']
             FROM agg), 'aggregated: every field is present');
SELECT is((SELECT j->>'status' FROM (SELECT app.metrics_aggregated(60, 'tm',
    NULL, '2030-01-01 12:00+00')::jsonb AS j) s), 'critical',
    'aggregated per model: tm''s thresholds (P95 145 >= 90) give critical');

CREATE TEMP TABLE agg0 AS SELECT app.metrics_aggregated(5, NULL, NULL,
    '2031-01-01 00:00+00')::jsonb AS j;
SELECT is((SELECT (j->>'total_predictions')::int FROM agg0), 0,
    'aggregated, empty window: total 0');
SELECT is((SELECT j->'p95_inference_time_ms' FROM agg0), 'null'::jsonb,
    'aggregated, empty window: P95 null');
SELECT is((SELECT j->'average_confidence' FROM agg0), 'null'::jsonb,
    'aggregated, empty window: average confidence null');
SELECT is((SELECT j->'label_distribution' FROM agg0),
    '{"positive": 0, "negative": 0, "neutral": 0}'::jsonb,
    'aggregated, empty window: every label, zeros included');
SELECT is((SELECT j->>'status' FROM agg0), 'normal',
    'aggregated, empty window: normal');
SELECT throws_ok($$SELECT app.metrics_aggregated(0)$$, '22023', NULL,
    'aggregated: a 0-minute window is refused');

-- -------------------------------------------------------------- time series

CREATE TEMP TABLE ts AS SELECT * FROM app.metrics_timeseries(60, 20, NULL,
    NULL, '2030-01-01 12:00+00');
SELECT is((SELECT array_agg(total_predictions ORDER BY bucket) FROM ts),
    ARRAY[5, 4, 4]::bigint[],
    'timeseries 60/20: 5, 4, 4 (11:20:00 opens the second bucket)');
SELECT is((SELECT array_agg(bucket_start ORDER BY bucket) FROM ts),
    ARRAY['2030-01-01 11:00+00', '2030-01-01 11:20+00',
          '2030-01-01 11:40+00']::timestamptz[],
    'timeseries: buckets start at 11:00, 11:20, 11:40');
SELECT is((SELECT max(bucket_end) FROM ts), '2030-01-01 12:00+00'::timestamptz,
    'timeseries: the last bucket ends at p_now');
SELECT ok((SELECT bool_and(pg_temp.p95near(p95_inference_time_ms, x))
             FROM ts JOIN unnest(ARRAY[80.8, 43.55, 171.5])
                  WITH ORDINALITY AS e(x, i) ON e.i = ts.bucket),
    'timeseries: P95 per bucket 80.8, 43.55, 171.5');
SELECT ok((SELECT bool_and(pg_temp.near(average_confidence, x))
             FROM ts JOIN unnest(ARRAY[0.38, 0.525, 0.85])
                  WITH ORDINALITY AS e(x, i) ON e.i = ts.bucket),
    'timeseries: average confidence per bucket 0.38, 0.525, 0.85');
SELECT is((SELECT array_agg((positive, negative, neutral)::text ORDER BY bucket)
             FROM ts), ARRAY['(5,0,0)', '(1,3,0)', '(0,1,3)'],
    'timeseries: labels per bucket');
SELECT is((SELECT array_agg(total_change ORDER BY bucket) FROM ts),
    ARRAY[NULL, -1, 0]::bigint[],
    'timeseries: change of count against the previous bucket (lag)');
SELECT ok((SELECT average_confidence_change IS NULL FROM ts WHERE bucket = 1)
      AND (SELECT pg_temp.near(average_confidence_change, 0.145) FROM ts
            WHERE bucket = 2)
      AND (SELECT pg_temp.near(average_confidence_change, 0.325) FROM ts
            WHERE bucket = 3),
    'timeseries: change of average confidence NULL, 0.145, 0.325');
SELECT ok((SELECT bool_and(pg_temp.near(p95_inference_time_change_ms,
                    p95_inference_time_ms - prev)) FILTER (WHERE bucket > 1)
             FROM (SELECT *, lag(p95_inference_time_ms) OVER (ORDER BY bucket)
                             AS prev FROM ts) x)
      AND (SELECT abs(p95_inference_time_change_ms + 37.25) < 0.2 FROM ts
            WHERE bucket = 2)
      AND (SELECT abs(p95_inference_time_change_ms - 127.95) < 0.3 FROM ts
            WHERE bucket = 3),
    'timeseries: change of P95 -37.25, 127.95 (the difference of the two)');
SELECT ok((SELECT bool_and(pg_temp.near(moving_average_total, x))
             FROM ts JOIN unnest(ARRAY[5, 4.5, 13.0 / 3])
                  WITH ORDINALITY AS e(x, i) ON e.i = ts.bucket),
    'timeseries: moving average of the count over 3 buckets');
SELECT ok((SELECT bool_and(pg_temp.near(moving_average_confidence, x))
             FROM ts JOIN unnest(ARRAY[0.38, 4.0 / 9, 7.4 / 13])
                  WITH ORDINALITY AS e(x, i) ON e.i = ts.bucket),
    'timeseries: moving average of confidence, weighted by count');

CREATE TEMP TABLE ts2 AS SELECT * FROM app.metrics_timeseries(120, 20, NULL,
    NULL, '2030-01-01 12:00+00');
SELECT is((SELECT array_agg(total_predictions ORDER BY bucket) FROM ts2),
    ARRAY[0, 0, 1, 5, 4, 4]::bigint[],
    'timeseries 120/20: empty buckets included (10:59:59.999999 in the third)');
SELECT ok((SELECT average_confidence IS NULL AND p95_inference_time_ms IS NULL
                  AND (positive, negative, neutral) = (0, 0, 0)
             FROM ts2 WHERE bucket = 1),
    'timeseries: an empty bucket has NULL averages and zero labels');
SELECT is((SELECT total_change FROM ts2 WHERE bucket = 2), 0::bigint,
    'timeseries: change between two empty buckets is 0');

CREATE TEMP TABLE ts3 AS SELECT * FROM app.metrics_timeseries(50, 20, NULL,
    NULL, '2030-01-01 12:00+00');
SELECT is((SELECT array_agg(bucket_start ORDER BY bucket) FROM ts3),
    ARRAY['2030-01-01 11:10+00', '2030-01-01 11:20+00',
          '2030-01-01 11:40+00']::timestamptz[],
    'timeseries 50/20: the oldest bucket is cut at the window start');
SELECT is((SELECT array_agg(total_predictions ORDER BY bucket) FROM ts3),
    ARRAY[3, 4, 4]::bigint[], 'timeseries 50/20: counts 3, 4, 4');

SELECT is((SELECT sum(total_predictions)::int FROM app.metrics_timeseries(60,
    1, NULL, NULL, '2030-01-01 12:00+00')), 13,
    'timeseries 60/1: the buckets add up to the window''s total');
SELECT is((SELECT count(*)::int FROM app.metrics_timeseries(60, 1, NULL,
    NULL, '2030-01-01 12:00+00')), 60, 'timeseries 60/1: 60 buckets');
SELECT is((SELECT array_agg(total_predictions ORDER BY bucket)
             FROM app.metrics_timeseries(60, 20, 'other', NULL,
                  '2030-01-01 12:00+00')),
    ARRAY[0, 1, 0]::bigint[], 'timeseries: model filter');
SELECT is((SELECT array_agg(total_predictions ORDER BY bucket)
             FROM app.metrics_timeseries(60, 20, 'tm', '2.0.0',
                  '2030-01-01 12:00+00')),
    ARRAY[1, 0, 1]::bigint[], 'timeseries: name + version filter');
SELECT throws_ok($$SELECT * FROM app.metrics_timeseries(60, 0)$$, '22023',
    'bucket_minutes must be between 1 and window_minutes',
    'timeseries: bucket 0 is refused');
SELECT throws_ok($$SELECT * FROM app.metrics_timeseries(60, 61)$$, '22023',
    NULL, 'timeseries: a bucket larger than the window is refused');
SELECT throws_ok($$SELECT * FROM app.metrics_timeseries(0, 1)$$, '22023',
    NULL, 'timeseries: a 0-minute window is refused');
SELECT throws_ok($$SELECT * FROM app.metrics_timeseries(20000, 1)$$, '22023',
    NULL, 'timeseries: more than 10000 buckets are refused');

CREATE TEMP TABLE tsj AS SELECT app.metrics_timeseries_json(60, 20, NULL,
    NULL, '2030-01-01 12:00+00')::jsonb AS j;
SELECT is((SELECT jsonb_array_length(j->'buckets') FROM tsj), 3,
    'timeseries JSON: three buckets');
SELECT is((SELECT j->'buckets'->1->'change'->>'total_predictions' FROM tsj),
    '-1', 'timeseries JSON: the change object');
SELECT is((SELECT j->'buckets'->0->>'bucket_start' FROM tsj),
    '2030-01-01T11:00:00.000000Z', 'timeseries JSON: ISO 8601 bounds');

-- --------------------------------------------------------------- comparison

CREATE TEMP TABLE cmp AS SELECT * FROM app.metrics_compare(30, NULL,
    '2030-01-01 12:00+00');
SELECT is((SELECT (current_start, current_end, previous_start,
                   previous_end)::text FROM cmp),
    ('("2030-01-01 11:30:00+00","2030-01-01 12:00:00+00",'
     '"2030-01-01 11:00:00+00","2030-01-01 11:30:00+00")'),
    'compare: [now-2w, now-w) and [now-w, now)');
SELECT is((SELECT (current_total, previous_total)::text FROM cmp), '(6,7)',
    'compare: 11:30:00 counts in the current window only (6 + 7 = 13)');
SELECT ok((SELECT pg_temp.near(total_change_pct, -100.0 / 7) FROM cmp),
    'compare: count change -14.29 %');
SELECT ok((SELECT pg_temp.p95near(current_p95_inference_time_ms, 162.5)
              AND pg_temp.p95near(previous_p95_inference_time_ms, 71.8)
              AND pg_temp.near(p95_inference_time_change_pct,
                               100 * (current_p95_inference_time_ms
                                      - previous_p95_inference_time_ms)
                               / previous_p95_inference_time_ms) FROM cmp),
    'compare: P95 162.5 (7,8,9,10,50,200) against 71.8 (1..6,100)');
SELECT ok((SELECT pg_temp.near(current_average_confidence, 4.4 / 6)
              AND pg_temp.near(previous_average_confidence, 3.0 / 7) FROM cmp),
    'compare: average confidence of both windows');
SELECT is((SELECT (current_positive, current_negative, current_neutral,
                   previous_positive, previous_negative,
                   previous_neutral)::text FROM cmp), '(0,3,3,6,1,0)',
    'compare: labels of both windows');
SELECT is((SELECT (current_total, previous_total, total_change_pct,
                   average_confidence_change_pct)::text
             FROM app.metrics_compare(10, NULL, '2030-01-01 11:00+00')),
    '(1,0,,)', 'compare: an empty previous window gives NULL changes');
SELECT is((SELECT current_total FROM app.metrics_compare(60, 'other',
    '2030-01-01 12:00+00')), 1::bigint, 'compare: model filter');

-- -------------------------------------------------------------------- count

SELECT is(app.metrics_count() - :count_before, 15::bigint,
    'count: every recorded row, all time');
SELECT is(app.metrics_count('tm'), 14::bigint, 'count: per model name');
SELECT is(app.metrics_count('tm', '2.0.0'), 2::bigint,
    'count: per model version');
SELECT is(app.metrics_count('nope'), 0::bigint, 'count: unknown model 0');

-- -------------------------------------------------------------------- views

INSERT INTO app.model_versions (name, version) VALUES ('viewtest', '1.0.0');
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
SELECT gen_random_uuid(), v.id, 'positive', 0.5, x, 10, 0, 0, 1, 0,
       '10.0.0.1', date_trunc('minute', now()) - interval '5 minutes' +
       x * interval '1 second'
  FROM app.model_versions v, (VALUES (1.0::float8), (3.0)) AS s(x)
 WHERE v.name = 'viewtest';
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
SELECT gen_random_uuid(), v.id, 'negative', 0.5, 1, 10, 0, 0, 1, 0,
       '10.0.0.1', now() - interval '25 hours'
  FROM app.model_versions v WHERE v.name = 'viewtest';

SELECT is((SELECT (total_predictions, pg_temp.p95near(p95_inference_time_ms, 2.9),
                   minute = date_trunc('minute', now()) - interval '5 minutes')::text
             FROM app.metrics_per_minute WHERE model_name = 'viewtest'),
    '(2,t,t)', 'metrics_per_minute: one row per minute and model (P95 2.9)');
SELECT is((SELECT sum(negative)::int FROM app.metrics_per_minute
            WHERE model_name = 'viewtest'), 0,
    'metrics_per_minute: only the last 24 hours');
SELECT is((SELECT (total_predictions, first_prediction_at)::text
             FROM app.metrics_per_model_version
            WHERE model_name = 'tm' AND model_version = '1.0.0'),
    '(12,"2030-01-01 10:59:59.999999+00")',
    'metrics_per_model_version: all-time count and first prediction');
SELECT is((SELECT (total_predictions, positive, last_prediction_at)::text
             FROM app.metrics_per_model_version
            WHERE model_name = 'tm' AND model_version = '3.0.0'),
    '(0,0,)', 'metrics_per_model_version: a version without predictions');
SELECT is((SELECT (total_predictions, status, thresholds_from)::text
             FROM app.metrics_status_last_hour WHERE model_name = 'viewtest'),
    '(2,warning,default)', 'metrics_status_last_hour: per model, with status');
SELECT ok((SELECT count(*) = 1 FROM app.metrics_status_last_hour
            WHERE model_name IS NULL),
    'metrics_status_last_hour: one row for all models');

SELECT * FROM finish();
ROLLBACK;
