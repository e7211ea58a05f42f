-- 43_rollups.sql: the rollups (sql/35_rollups.sql) give the same figures
-- as the raw rows.  26 hours of rows are folded (app.rollup_fold, via
-- rollup_catch_up), more rows are written above the watermark, and then
-- random windows with fractional edges and random model filters, time
-- series, counts and the analyst views are compared with the same
-- queries over the raw rows (windows cross hourly raw partitions and
-- the daily ones of the 1 s level): exact (count, labels, sums, min, max, P95
-- below 2.048 ms), P95 within 0.1 % above.  Latencies are adversarial per
-- model: a few values with many ties, many distinct values below the
-- exact range, a long tail above it, one constant value above it.
BEGIN;
SELECT plan(32);

SELECT setseed(0.18);

INSERT INTO app.model_versions (name, version)
VALUES ('ra', '1.0.0'), ('ra', '2.0.0'), ('rb', '1.0.0'), ('rc', '1.0.0');

-- As the server stores them: confidence in millionths, latency in whole
-- microseconds.
CREATE FUNCTION pg_temp.add_rows(p_n integer, p_from timestamptz,
    p_span interval)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
        label, confidence, inference_time_ms, input_length, compound, pos,
        neu, neg, client_ip, created_at)
    SELECT gen_random_uuid(), v.id,
           (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
           round(random()::numeric, 6)::float8,
           CASE v.name || v.version
               WHEN 'ra1.0.0' THEN (5 + (random() * 20)::int) / 1000.0
               WHEN 'ra2.0.0' THEN (random() * 2047)::int / 1000.0
               WHEN 'rb1.0.0' THEN round((2.048 + exp(random() * 6))::numeric, 3)::float8
               ELSE 7.5 END,
           5, 0, 0, 1, 0, '10.0.0.1',
           p_from + random() * p_span
      FROM generate_series(1, p_n) AS i
      JOIN app.model_versions v ON v.id = (SELECT id FROM app.model_versions
           WHERE name IN ('ra', 'rb', 'rc')
           ORDER BY id OFFSET (i % 4) LIMIT 1);
$$;

-- The reference: the same figures straight from the raw rows.
CREATE FUNCTION pg_temp.ref(p_s timestamptz, p_e timestamptz, p_ids integer[])
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
       AND (p_ids IS NULL OR model_version_id = ANY (p_ids));
$$;

-- Agreement of one window: 'ok', or what differs.
CREATE FUNCTION pg_temp.check_window(p_s timestamptz, p_e timestamptz,
    p_name text, p_version text)
RETURNS text LANGUAGE sql AS $$
    SELECT CASE
        WHEN (w.total_predictions, w.positive, w.negative, w.neutral)
             IS DISTINCT FROM (r.n, r.pos, r.neg, r.neu) THEN 'counts'
        WHEN (w.average_confidence, w.average_inference_time_ms,
              w.min_inference_time_ms, w.max_inference_time_ms)
             IS DISTINCT FROM (r.conf, r.avg_ms, r.min_ms, r.max_ms)
             THEN 'sums/min/max'
        WHEN (r.p95 IS NULL) <> (w.p95_inference_time_ms IS NULL) THEN 'p95 null'
        WHEN r.p95 < 2.048 AND w.p95_inference_time_ms <> r.p95 THEN 'p95 exact'
        WHEN abs(w.p95_inference_time_ms - r.p95) > 0.001 * r.p95
             THEN 'p95 bound'
        ELSE 'ok' END
           || ' ' || p_s || ' ' || p_e || ' ' || coalesce(p_name, '-') || ' '
           || coalesce(p_version, '-') || ' ' || r.n || ' ' || w.total_predictions
           || ' ' || coalesce(r.p95::text, '') || ' '
           || coalesce(w.p95_inference_time_ms::text, '')
      FROM app.metrics_window(p_s, p_e, p_name, p_version) w,
           pg_temp.ref(p_s, p_e, app.metrics_model_ids(p_name, p_version)) r;
$$;

CREATE TEMP TABLE t0 AS
SELECT date_trunc('second', now()) - interval '10 minutes' AS t;

-- Raw partitions for the fixture's range (the janitor keeps only the
-- hours ahead of now).
SELECT app.partition_ensure('app.prediction_metrics',
    (SELECT t FROM t0) - interval '27 hours', (SELECT t FROM t0) +
    interval '3 hours') IS NOT NULL AS made \gset

SELECT is((SELECT watermark FROM app.rollup_state), NULL,
    'nothing folded in an empty database: the watermark is NULL');

-- 26 hours of rows, folded; they cross midnight, so windows cross
-- partition boundaries of every partitioned level.
SELECT pg_temp.add_rows(40000, (SELECT t FROM t0) - interval '26 hours',
                        interval '26 hours');
SELECT ok(app.rollup_catch_up('100 days') >= (SELECT t FROM t0),
    'rollup_catch_up folds up to about now');
SELECT ok((SELECT count(*) FROM app.rollup_1s) > 0 AND
          (SELECT count(*) FROM app.rollup_1m) > 0 AND
          (SELECT count(*) FROM app.rollup_1h) > 0,
    'the 1 s, 1 min and 1 h levels have rows');
SELECT is((SELECT sum(n)::bigint FROM app.rollup_1s
            WHERE bucket < (SELECT watermark FROM app.rollup_state)),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE created_at < (SELECT watermark FROM app.rollup_state)),
    'the 1 s level holds every raw row below the watermark');
SELECT is((SELECT sum(n)::bigint FROM app.rollup_1m),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE created_at < app.rollup_floor(
                  (SELECT watermark FROM app.rollup_state), '1 minute')),
    'the 1 min level holds every closed minute');
SELECT ok((SELECT count(*) FROM app.rollup_1d) <= 8,
    'days: at most one row per model and day');

-- Rows above the watermark (read raw), up to an hour past it.
CREATE TEMP TABLE w0 AS SELECT watermark AS w FROM app.rollup_state;
SELECT pg_temp.add_rows(4000, (SELECT w FROM w0), interval '1 hour');

-- Random windows: any length 1..1440 minutes, fractional edges, ending
-- anywhere from 2 h before the watermark to an hour past it.
CREATE TEMP TABLE win AS
SELECT i, e - make_interval(mins => 1 + (random() * 1439)::int)
            - random() * interval '1 second' AS s, e,
       (ARRAY[NULL, 'ra', 'ra', 'rb', 'rc', 'nope'])[1 + floor(random() * 6)::int]
           AS name,
       (ARRAY[NULL, NULL, '1.0.0', '2.0.0'])[1 + floor(random() * 4)::int]
           AS version
  FROM (SELECT i, (SELECT w FROM w0) - interval '2 hours'
                  + random() * interval '3 hours' AS e
          FROM generate_series(1, 60) AS i) x;
SELECT is_empty($$SELECT pg_temp.check_window(s, e, name, version) AS r
                    FROM win WHERE pg_temp.check_window(s, e, name, version)
                          NOT LIKE 'ok %'$$,
    '60 random windows and model filters: every figure as over the raw rows');

-- P95 found by search (rollup_summary, what metrics_window reads) is the
-- merged histogram's (rollup_aggregate, what the time series read), to
-- the last bit, and every folded row's running totals are its counts'.
SELECT is_empty($$SELECT w.i FROM win w
     WHERE (SELECT (s.total_predictions, s.conf_sum, s.min_inference_time_ms,
                    s.max_inference_time_ms, s.p95_inference_time_ms,
                    s.positive, s.negative, s.neutral)
              FROM app.rollup_summary(w.s, w.e,
                       app.metrics_model_ids(w.name, w.version)) s)
           IS DISTINCT FROM
           (SELECT (a.total_predictions, a.conf_sum, a.min_inference_time_ms,
                    a.max_inference_time_ms, a.p95_inference_time_ms,
                    a.positive, a.negative, a.neutral)
              FROM app.rollup_aggregate(w.s, w.e,
                       app.metrics_model_ids(w.name, w.version)) a)$$,
    'rollup_summary''s searched P95 and sums equal rollup_aggregate''s merge');
CREATE FUNCTION pg_temp.bad_cum() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_l record;
    v_n bigint;
    v_bad bigint := 0;
BEGIN
    FOR v_l IN SELECT * FROM app.rollup_levels() LOOP
        EXECUTE format($q$SELECT count(*) FROM %s r
            WHERE r.hist_cum IS DISTINCT FROM (SELECT array_agg(c.s ORDER BY c.o)
                FROM (SELECT sum(u.c) OVER (ORDER BY u.o)::bigint AS s, u.o
                        FROM unnest(r.hist_cnt) WITH ORDINALITY AS u(c, o)) c)$q$,
            v_l.tbl) INTO v_n;
        v_bad := v_bad + v_n;
    END LOOP;
    RETURN v_bad;
END;
$$;
SELECT is(pg_temp.bad_cum(), 0::bigint,
    'every rollup row: hist_cum is the running total of hist_cnt');

SELECT is_empty($$SELECT x FROM (VALUES
        (pg_temp.check_window((SELECT w FROM w0) - interval '1 day 0.25 s',
             (SELECT w FROM w0) + interval '0.5 s', NULL, NULL)),
        (pg_temp.check_window((SELECT w FROM w0) - interval '1 day',
             (SELECT w FROM w0), NULL, NULL)),
        (pg_temp.check_window((SELECT w FROM w0) - interval '3 minutes',
             (SELECT w FROM w0) - interval '1 minute', 'ra', '1.0.0')),
        (pg_temp.check_window((SELECT w FROM w0) - interval '2 hours',
             (SELECT w FROM w0) + interval '1 hour', 'rb', NULL)),
        (pg_temp.check_window((SELECT w FROM w0) - interval '0.3 s',
             (SELECT w FROM w0) + interval '0.3 s', NULL, NULL))) AS t(x)
     WHERE x NOT LIKE 'ok %'$$,
    'windows on, across and just around the watermark are exact');

SELECT is((SELECT min_inference_time_ms || ' ' || p95_inference_time_ms
             FROM app.metrics_window((SELECT w FROM w0) - interval '20 hours',
                  (SELECT w FROM w0), 'rc')),
    '7.5 7.5', 'one value above the exact range: P95 is that value');
SELECT is((SELECT (total_predictions, p95_inference_time_ms)::text
             FROM app.metrics_window('2020-01-01', '2020-01-02')),
    '(0,)', 'an empty window: count 0, P95 NULL');
SELECT is((SELECT (total_predictions, p95_inference_time_ms)::text
             FROM app.metrics_window((SELECT w FROM w0) - interval '5 hours',
                  (SELECT w FROM w0), 'nope')),
    '(0,)', 'an unknown model in a full window: empty');

-- metrics_aggregated and metrics_compare read the same windows.
SELECT is((SELECT (app.metrics_aggregated(1440, 'ra', NULL,
                  (SELECT w FROM w0) + interval '17.5 minutes')::jsonb
                  ->>'total_predictions')::bigint),
          (SELECT n FROM pg_temp.ref((SELECT w FROM w0) + interval '17.5 minutes'
               - interval '1440 minutes', (SELECT w FROM w0) +
               interval '17.5 minutes', app.metrics_model_ids('ra'))),
    'aggregated(1440) counts what the raw rows hold');
SELECT is((SELECT (current_total, previous_total, current_p95_inference_time_ms)
             ::text FROM app.metrics_compare(600, 'ra',
                  (SELECT w FROM w0) + interval '0.7 s')),
          (SELECT (c.n, p.n, c.p95)::text
             FROM pg_temp.ref((SELECT w FROM w0) + interval '0.7 s'
                  - interval '600 minutes', (SELECT w FROM w0) +
                  interval '0.7 s', app.metrics_model_ids('ra')) c,
                  pg_temp.ref((SELECT w FROM w0) + interval '0.7 s'
                  - interval '1200 minutes', (SELECT w FROM w0) +
                  interval '0.7 s' - interval '600 minutes',
                  app.metrics_model_ids('ra')) p),
    'compare: both windows as over the raw rows');

-- Counts: every level up to the watermark plus the raw rows above it.
SELECT is(app.metrics_count(), (SELECT count(*) FROM app.prediction_metrics),
    'count: all time, exact');
SELECT is(app.metrics_count('ra', '2.0.0'),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE model_version_id = ANY (app.metrics_model_ids('ra', '2.0.0'))),
    'count: one model version, exact');

-- Time series: aligned buckets, each as over the raw rows.
CREATE TEMP TABLE tsw AS
SELECT i, (ARRAY[1440, 60, 1440, 90, 200, 7])[i] AS wmin,
       (ARRAY[60, 1, 1440, 90, 7, 7])[i] AS bmin,
       (ARRAY[NULL, 'ra', NULL, 'rb', NULL, 'rc'])[i] AS name,
       (SELECT w FROM w0) - interval '1 hour' + random() * interval '2 hours'
           AS now
  FROM generate_series(1, 6) AS i;
CREATE TEMP TABLE tsr AS
SELECT tsw.i, tsw.wmin, tsw.bmin, tsw.name, tsw.now, t.*
  FROM tsw, app.metrics_timeseries(tsw.wmin, tsw.bmin, tsw.name, NULL,
                                   tsw.now) t;
SELECT is_empty($$SELECT i, bucket FROM tsr
     WHERE (SELECT x FROM pg_temp.check_window(bucket_start, bucket_end, name,
            NULL) x) NOT LIKE 'ok %'
        OR (total_predictions, p95_inference_time_ms,
            average_inference_time_ms) IS DISTINCT FROM
           (SELECT (w.total_predictions, w.p95_inference_time_ms,
                    w.average_inference_time_ms)
              FROM app.metrics_window(bucket_start, bucket_end, name) w)$$,
    'timeseries: every bucket of six series as over the raw rows');
SELECT is_empty($$SELECT t.i FROM tsw t,
        LATERAL (SELECT s.tb, s.total_predictions, s.conf_sum,
                        s.min_inference_time_ms, s.max_inference_time_ms,
                        s.p95_inference_time_ms
                   FROM app.rollup_summary(t.now - make_interval(mins => t.wmin),
                            t.now, app.metrics_model_ids(t.name), false,
                            make_interval(mins => t.bmin)) s
                 EXCEPT ALL
                 SELECT a.tb, a.total_predictions, a.conf_sum,
                        a.min_inference_time_ms, a.max_inference_time_ms,
                        a.p95_inference_time_ms
                   FROM app.rollup_aggregate(t.now - make_interval(mins => t.wmin),
                            t.now, app.metrics_model_ids(t.name),
                            make_interval(mins => t.bmin)) a) d$$,
    'timeseries: the searched P95 of every bucket is the merged one');
SELECT is_empty($$SELECT i, bucket FROM tsr
     WHERE bucket > 1 AND extract(epoch FROM bucket_start)::bigint
                          % (bmin * 60) <> 0$$,
    'timeseries: buckets start on UTC multiples of their width');
SELECT is_empty($$SELECT i FROM tsr GROUP BY i, now, wmin
    HAVING min(bucket_start) <> now - make_interval(mins => wmin)
        OR max(bucket_end) <> now$$,
    'timeseries: the buckets cover exactly the window');
SELECT is_empty($$SELECT i, bucket FROM tsr
     WHERE partial <> (bucket_end - bucket_start <
                       make_interval(mins => bmin))
        OR (bucket = (SELECT max(bucket) FROM tsr t WHERE t.i = tsr.i)
            AND NOT partial)$$,
    'timeseries: partial marks the short buckets, the newest among them');

-- The analyst views read the rollups too.
SELECT is_empty($$
    SELECT m.minute, m.model_name FROM app.metrics_per_minute m
      JOIN app.model_versions v ON (v.name, v.version) =
           (m.model_name, m.model_version)
     CROSS JOIN LATERAL pg_temp.ref(m.minute, least(m.minute +
           interval '1 minute', now()), ARRAY[v.id]) r
     WHERE m.model_name IN ('ra', 'rb', 'rc')
       AND ((m.total_predictions, m.average_confidence,
             m.average_inference_time_ms, m.max_inference_time_ms,
             m.positive, m.negative, m.neutral) IS DISTINCT FROM
            (r.n, r.conf, r.avg_ms, r.max_ms, r.pos, r.neg, r.neu)
            OR abs(m.p95_inference_time_ms - r.p95) > 0.001 * r.p95
            OR (r.p95 < 2.048 AND m.p95_inference_time_ms <> r.p95))$$,
    'metrics_per_minute: every minute as over the raw rows');
SELECT is((SELECT sum(total_predictions)::bigint FROM app.metrics_per_minute
            WHERE model_name IN ('ra', 'rb', 'rc')),
          (SELECT count(*) FROM app.prediction_metrics
            WHERE created_at >= app.rollup_floor(now(), '1 minute')
                                - interval '24 hours' AND created_at < now()),
    'metrics_per_minute: the last 24 hours, every row once');
SELECT is_empty($$
    SELECT h.hour, h.model_name FROM app.latency_percentiles_hourly h
      JOIN app.model_versions v ON (v.name, v.version) =
           (h.model_name, h.model_version)
     CROSS JOIN LATERAL (SELECT count(*) AS n,
           percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP
               (ORDER BY p.inference_time_ms) AS q
          FROM app.prediction_metrics p
         WHERE p.model_version_id = v.id AND p.created_at >= h.hour
           AND p.created_at < least(h.hour + interval '1 hour', now())) r
     WHERE h.model_name IN ('ra', 'rb', 'rc')
       AND (h.total_predictions <> r.n
            OR abs(h.p50_inference_time_ms - r.q[1]) > 0.001 * r.q[1]
            OR abs(h.p90_inference_time_ms - r.q[2]) > 0.001 * r.q[2]
            OR abs(h.p95_inference_time_ms - r.q[3]) > 0.001 * r.q[3]
            OR abs(h.p99_inference_time_ms - r.q[4]) > 0.001 * r.q[4]
            OR (r.q[4] < 2.048 AND (h.p50_inference_time_ms, h.p90_inference_time_ms,
                h.p95_inference_time_ms, h.p99_inference_time_ms)
                <> (r.q[1], r.q[2], r.q[3], r.q[4])))$$,
    'latency_percentiles_hourly: P50/P90/P95/P99 per hour as percentile_cont');
SELECT is_empty($$
    SELECT m.model_name, m.model_version
      FROM app.metrics_per_model_version m
      JOIN app.model_versions v ON (v.name, v.version) =
           (m.model_name, m.model_version)
     CROSS JOIN LATERAL (SELECT count(*) AS n, min(created_at) AS f,
           max(created_at) AS l,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_time_ms) AS p95
          FROM app.prediction_metrics WHERE model_version_id = v.id) r
     WHERE m.model_name IN ('ra', 'rb', 'rc')
       AND ((m.total_predictions, m.first_prediction_at, m.last_prediction_at)
            IS DISTINCT FROM (r.n, r.f, r.l)
            OR abs(m.p95_inference_time_ms - r.p95) > 0.001 * r.p95)$$,
    'metrics_per_model_version: all-time count, first, last and P95');

-- Backfill: rows written below the watermark after the fold (a bulk
-- load) are missing until app.rollup_backfill rebuilds their range.
SELECT pg_temp.add_rows(500, (SELECT w FROM w0) - interval '5 hours',
                        interval '1 hour');
SELECT isnt(app.metrics_count(), (SELECT count(*) FROM app.prediction_metrics),
    'rows loaded below the watermark are not in the rollups yet');
SELECT ok((SELECT count(*) > 0 FROM app.rollup_backfill(
               (SELECT w FROM w0) - interval '5 hours',
               (SELECT w FROM w0) - interval '4 hours'))
      AND (SELECT count(*) > 0 FROM app.rollup_backfill(
               (SELECT w FROM w0) - interval '5 hours',
               (SELECT w FROM w0) - interval '4 hours')),
    'rollup_backfill rebuilds the range, and can run again');
SELECT is_empty($$SELECT x FROM (VALUES
        (app.metrics_count() = (SELECT count(*) FROM app.prediction_metrics)),
        (pg_temp.check_window((SELECT w FROM w0) - interval '1 day 0.4 s',
             (SELECT w FROM w0) - interval '0.3 s', NULL, NULL) LIKE 'ok %'),
        (pg_temp.check_window((SELECT w FROM w0) - interval '4.5 hours',
             (SELECT w FROM w0) - interval '4 hours 0.1 s', 'ra', NULL)
             LIKE 'ok %')) AS t(x)
     WHERE NOT x$$,
    'after the backfill: counts and windows exact again');

-- Retention inside a window: raw partitions dropped after their rows
-- were folded.  Whole buckets are still answered from the rollups, so a
-- window keeps every figure; only a fractional edge (below the finest
-- level, 100 ms) whose raw rows are gone is left out (the rollups hold
-- that 100 ms whole).
CREATE TEMP TABLE rw AS
SELECT (SELECT w FROM w0) - interval '20 hours' + interval '0.35 s' AS s,
       (SELECT w FROM w0) - interval '2 hours' AS e;
-- Rows in the window's fractional first 100 ms (bulk-loaded: backfilled).
SELECT pg_temp.add_rows(8, (SELECT s FROM rw), interval '0.05 s');
SELECT count(*) FROM app.rollup_backfill((SELECT s FROM rw) - interval '1 s',
    (SELECT s FROM rw) + interval '1 s') \gset
CREATE TEMP TABLE before_whole AS
SELECT r.* FROM rw, pg_temp.ref(rw.s, rw.e, NULL) r;
CREATE TEMP TABLE before_cut AS
SELECT r.* FROM rw, pg_temp.ref(app.rollup_ceil(rw.s, '100 ms'), rw.e, NULL) r;
-- The window now against a reference taken before: all exact, P95 (here
-- above the exact range) within 0.1 %.
CREATE FUNCTION pg_temp.same_as(p_ref text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_ok boolean;
BEGIN
    EXECUTE format($q$
        SELECT (m.total_predictions, m.average_confidence,
                m.average_inference_time_ms, m.min_inference_time_ms,
                m.max_inference_time_ms, m.positive, m.negative, m.neutral)
               IS NOT DISTINCT FROM
               (r.n, r.conf, r.avg_ms, r.min_ms, r.max_ms, r.pos, r.neg,
                r.neu)
           AND abs(m.p95_inference_time_ms - r.p95) <= 0.001 * r.p95
          FROM rw, app.metrics_window(rw.s, rw.e) m, %I r$q$, p_ref)
        INTO v_ok;
    RETURN v_ok;
END;
$$;
CREATE FUNCTION pg_temp.drop_raw(p_at timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v regclass;
BEGIN
    SELECT b.partition INTO v
      FROM app.partition_bounds('app.prediction_metrics') b
     WHERE b.lower_bound <= p_at AND p_at < b.upper_bound;
    EXECUTE format('ALTER TABLE app.prediction_metrics DETACH PARTITION %s', v);
    EXECUTE format('DROP TABLE %s', v);
END;
$$;
SELECT ok((SELECT w.n > c.n FROM before_whole w, before_cut c),
    'the fixture: the window''s first fractional 100 ms holds rows');
SELECT pg_temp.drop_raw((SELECT w FROM w0) - interval '10 hours');
SELECT ok(pg_temp.same_as('before_whole'),
    'a raw partition dropped inside the window: every figure unchanged');
SELECT pg_temp.drop_raw((SELECT s FROM rw));
SELECT ok(pg_temp.same_as('before_cut'),
    'the partition of its fractional start dropped too: exact from the next '
    '100 ms boundary');

SELECT * FROM finish();
ROLLBACK;
