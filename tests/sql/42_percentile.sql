-- 42_percentile.sql: the grouped P95 of metrics_window and
-- metrics_timeseries equals percentile_cont(0.95) over the rows, on
-- latencies as the server stores them (rounded to the microsecond) inside
-- the exact range (below 2.048 ms), half with many ties (0-300 us), half
-- spread (0-2 ms).  Nothing is folded: every figure comes from the
-- partials (app.rollup_partial) of the rows.
BEGIN;
SELECT plan(6);

CREATE TEMP TABLE t0 AS SELECT timestamptz '2026-03-01 12:00:00+00' AS t;
SELECT setseed(0.42);
SELECT app.partition_ensure('app.prediction_metrics',
    (SELECT t FROM t0) - interval '2 hours', (SELECT t FROM t0));
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
SELECT gen_random_uuid(), app.model_version_id('vader', '3.3.2'),
       (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3],
       -- confidence as the server stores it, to 1e-6
       round(random()::numeric, 6),
       CASE WHEN i % 2 = 0 THEN round((random() * 0.3)::numeric, 3)
            ELSE round((random() * 2.047)::numeric, 3) END,
       5, 0, 0, 1, 0, '10.0.0.1',
       (SELECT t FROM t0) - make_interval(secs => random() * 3600)
  FROM generate_series(1, 20000) AS i;

CREATE TEMP TABLE direct AS
SELECT count(*) AS n, avg(confidence) AS conf,
       avg(inference_time_ms) AS avg_ms,
       min(inference_time_ms) AS min_ms, max(inference_time_ms) AS max_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_time_ms) AS p95
  FROM app.prediction_metrics
 WHERE created_at >= (SELECT t FROM t0) - interval '1 hour'
   AND created_at < (SELECT t FROM t0);
CREATE TEMP TABLE grouped AS
SELECT * FROM app.metrics_window((SELECT t FROM t0) - interval '1 hour',
    (SELECT t FROM t0));

SELECT is((SELECT total_predictions FROM grouped), (SELECT n FROM direct),
    'same count');
SELECT is((SELECT p95_inference_time_ms FROM grouped),
    (SELECT p95 FROM direct), 'P95 is exactly percentile_cont(0.95)');
SELECT ok((SELECT abs(g.average_confidence - d.conf) < 1e-12
             AND abs(g.average_inference_time_ms - d.avg_ms) < 1e-9
             AND g.min_inference_time_ms = d.min_ms
             AND g.max_inference_time_ms = d.max_ms
             FROM grouped g, direct d),
    'averages agree (to rounding of the summation order), min and max exactly');

-- Per bucket, against percentile_cont per bucket.
CREATE TEMP TABLE ts AS
SELECT * FROM app.metrics_timeseries(60, 7, NULL, NULL, (SELECT t FROM t0));
CREATE TEMP TABLE ts_direct AS
SELECT b.bucket, count(p.*) AS n,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY p.inference_time_ms) AS p95
  FROM ts b
  LEFT JOIN app.prediction_metrics p
    ON p.created_at >= b.bucket_start AND p.created_at < b.bucket_end
 GROUP BY b.bucket;
SELECT is((SELECT count(*)::int FROM ts), 9, '60 min in 7-min buckets: 9');
SELECT is_empty($$SELECT t.bucket FROM ts t JOIN ts_direct d USING (bucket)
    WHERE t.total_predictions <> d.n$$, 'every bucket has the right count');
SELECT is_empty($$SELECT t.bucket FROM ts t JOIN ts_direct d USING (bucket)
    WHERE t.p95_inference_time_ms IS DISTINCT FROM d.p95$$,
    'every bucket''s P95 is exactly percentile_cont(0.95)');

SELECT * FROM finish();
ROLLBACK;
