-- 45_rollup_partials.sql: app.rollup_partial, the row per INSERT
-- statement that reads take instead of the raw rows above the watermark
-- (migration 0014).  Its triggers keep it equal to the raw rows through
-- inserts of every shape, deletes, updates and TRUNCATE; the fold builds
-- the 100 ms level from it and drops it below the watermark; and every
-- read stays equal to the same figure over the raw rows, with the
-- partials, without them (partial_from at infinity) and across a
-- watermark reset.
BEGIN;
SELECT plan(31);

SELECT setseed(0.45);
INSERT INTO app.model_versions (name, version)
VALUES ('pt', '1.0.0'), ('pt', '2.0.0');
SELECT app.partition_ensure('app.prediction_metrics',
    now() - interval '2 hours', now() + interval '1 hour');

-- n rows as the server stores them (confidence 1e-6, compound 1e-4,
-- whole microseconds below 2.048 ms, where P95 is exact), of model
-- version p_v, at p_at (NULL: the column default, the transaction's
-- start) plus a random offset up to p_span.
CREATE FUNCTION pg_temp.add(p_n integer, p_v text, p_at timestamptz,
    p_span interval DEFAULT interval '0')
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF p_at IS NULL THEN
        INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip)
        SELECT gen_random_uuid(), app.model_version_id('pt', p_v),
               (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
               round(random()::numeric, 6)::float8,
               (2 + (random() * 2000)::int) / 1000.0, 5,
               round((random() * 2 - 1)::numeric, 4)::float8, 0, 1, 0,
               '10.0.0.1'
          FROM generate_series(1, p_n);
    ELSE
        INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip, created_at)
        SELECT gen_random_uuid(), app.model_version_id('pt', p_v),
               (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
               round(random()::numeric, 6)::float8,
               (2 + (random() * 2000)::int) / 1000.0, 5,
               round((random() * 2 - 1)::numeric, 4)::float8, 0, 1, 0,
               '10.0.0.1', p_at + random() * p_span
          FROM generate_series(1, p_n);
    END IF;
END;
$$;

-- The partials at and above partial_from against the same sums over the
-- raw rows, per (created_at, model, shadow): the rows that differ.
CREATE FUNCTION pg_temp.part_diff()
RETURNS bigint LANGUAGE sql AS $$
    WITH f AS (SELECT partial_from AS f FROM app.rollup_state),
    r0 AS (
        SELECT p.created_at AS b, p.model_version_id AS m,
               p.shadow_of IS NOT NULL AS s, p.label,
               round(p.confidence * 1e6)::bigint AS cm,
               round(p.inference_time_ms * 1000)::bigint AS us,
               round(p.compound * 1e4)::bigint AS ce
          FROM app.prediction_metrics p, f WHERE p.created_at >= f.f
    ), raw AS (
        SELECT b, m, s, count(*) AS n,
               count(*) FILTER (WHERE label = 'positive') AS pos,
               count(*) FILTER (WHERE label = 'negative') AS neg,
               sum(cm) AS cs, sum(us) AS ts, min(us) AS tmin, max(us) AS tmax,
               coalesce(sum(ce) FILTER (WHERE label = 'negative'), 0) AS nco
          FROM r0 GROUP BY 1, 2, 3
    ), rawh AS (
        SELECT b, m, s, array_agg(i ORDER BY i) AS hi,
               array_agg(c ORDER BY i) AS hc
          FROM (SELECT b, m, s, app.rollup_hist_index(us) AS i,
                       count(*) AS c FROM r0 GROUP BY 1, 2, 3, 4) x
         GROUP BY 1, 2, 3
    ), p0 AS (
        SELECT r.* FROM app.rollup_partial r, f WHERE r.bucket >= f.f
    ), part AS (
        SELECT bucket AS b, model_version_id AS m, shadow AS s,
               sum(n) AS n, sum(positive) AS pos, sum(negative) AS neg,
               sum(conf_sum_micro) AS cs, sum(time_sum_us) AS ts,
               min(time_min_us) AS tmin, max(time_max_us) AS tmax,
               sum(negative_compound_sum_e4) AS nco
          FROM p0 GROUP BY 1, 2, 3
    ), parth AS (
        SELECT b, m, s, array_agg(i ORDER BY i) AS hi,
               array_agg(c ORDER BY i) AS hc
          FROM (SELECT p0.bucket AS b, p0.model_version_id AS m,
                       p0.shadow AS s, u.i, sum(u.c) AS c
                  FROM p0, unnest(p0.hist_idx, p0.hist_cnt) AS u(i, c)
                 GROUP BY 1, 2, 3, 4) x
         GROUP BY 1, 2, 3
    ), a AS (
        SELECT * FROM raw JOIN rawh USING (b, m, s)
    ), z AS (
        SELECT * FROM part JOIN parth USING (b, m, s)
    )
    SELECT count(*) FROM ((SELECT * FROM a EXCEPT SELECT * FROM z)
                          UNION ALL
                          (SELECT * FROM z EXCEPT SELECT * FROM a)) d;
$$;

-- metrics_window against the raw rows, for a window: the figures that
-- differ (P95 exact: every latency is in the exact range).
CREATE FUNCTION pg_temp.win_diff(p_s timestamptz, p_e timestamptz,
    p_ver text DEFAULT NULL)
RETURNS boolean LANGUAGE sql AS $$
    SELECT w.total_predictions = r.n
       AND w.average_confidence IS NOT DISTINCT FROM r.conf
       AND w.average_inference_time_ms IS NOT DISTINCT FROM r.avg_ms
       AND w.min_inference_time_ms IS NOT DISTINCT FROM r.min_ms
       AND w.max_inference_time_ms IS NOT DISTINCT FROM r.max_ms
       AND w.p95_inference_time_ms IS NOT DISTINCT FROM r.p95
       AND (w.positive, w.negative, w.neutral) = (r.pos, r.neg, r.neu)
      FROM app.metrics_window(p_s, p_e, CASE WHEN p_ver IS NOT NULL
                              THEN 'pt' END, p_ver) w,
           (SELECT count(*) AS n,
                   (sum(confidence::numeric) / nullif(count(*), 0))::float8
                       AS conf,
                   (sum(inference_time_ms::numeric) / nullif(count(*), 0))
                       ::float8 AS avg_ms,
                   min(inference_time_ms) AS min_ms,
                   max(inference_time_ms) AS max_ms,
                   percentile_cont(0.95) WITHIN GROUP
                       (ORDER BY inference_time_ms) AS p95,
                   count(*) FILTER (WHERE label = 'positive') AS pos,
                   count(*) FILTER (WHERE label = 'negative') AS neg,
                   count(*) FILTER (WHERE label = 'neutral') AS neu
              FROM app.prediction_metrics p
             WHERE p.created_at >= p_s AND p.created_at < p_e
               AND p.shadow_of IS NULL
               AND (p_ver IS NULL OR p.model_version_id =
                    app.model_version_id('pt', p_ver))) r;
$$;

-- -------------------------------------------------------------- triggers

SELECT is((SELECT array_agg(tgname::text ORDER BY tgname) FROM pg_trigger
            WHERE tgrelid = 'app.prediction_metrics'::regclass
              AND tgname LIKE 'rollup_partial%'),
    ARRAY['rollup_partial_add', 'rollup_partial_clear',
          'rollup_partial_fix_delete', 'rollup_partial_fix_update'],
    'prediction_metrics has the four partial triggers');
SELECT is((SELECT partial_from FROM app.rollup_state), '-infinity',
    'a database set up empty has partials from the start');

-- The server's write: one statement for a batch, its rows at now().
SELECT is(app.insert_predictions(
    ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 40)),
    array_fill('10.0.0.2'::inet, ARRAY[40]),
    ARRAY(SELECT (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3]
            FROM generate_series(1, 40) i),
    ARRAY(SELECT round(random()::numeric, 6)::float8 FROM generate_series(1, 40)),
    ARRAY(SELECT (2 + i * 37) / 1000.0 FROM generate_series(1, 40) i),
    array_fill(5, ARRAY[40]), array_fill(0.5::float8, ARRAY[40]),
    array_fill(0::float8, ARRAY[40]), array_fill(1::float8, ARRAY[40]),
    array_fill(0::float8, ARRAY[40]), array_fill(true, ARRAY[40]),
    'pt', '1.0.0'), 40, 'a batch of 40 through app.insert_predictions');
SELECT is((SELECT (count(*), sum(n), min(bucket) = now())::text
             FROM app.rollup_partial),
    '(1,40,t)', 'one partial row for the batch, at its created_at');
SELECT is(pg_temp.part_diff(), 0::bigint,
    'its counts, sums, min, max and histogram equal the raw rows''');

-- A second statement in the same transaction: a second row, same instant.
SELECT pg_temp.add(25, '1.0.0', NULL);
SELECT is((SELECT (count(*), sum(n))::text FROM app.rollup_partial
            WHERE bucket = now()),
    '(2,65)', 'a second statement at the same instant: a second row');
-- Rows of another version with shadow_of set, in one statement.
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, shadow_of)
SELECT gen_random_uuid(),
       app.model_version_id('pt', CASE WHEN i % 2 = 0 THEN '1.0.0'
                                       ELSE '2.0.0' END),
       'neutral', 0.5, 0.25 + i / 1000.0, 5, 0, 0, 1, 0, '10.0.0.3',
       CASE WHEN i % 2 = 1 THEN gen_random_uuid() END
  FROM generate_series(1, 10) i;
SELECT is((SELECT count(*)::int FROM app.rollup_partial
            WHERE bucket = now() AND shadow), 1,
    'the shadow rows of a statement: a row of their own');
-- A bulk load with a timestamp per row: a row per timestamp.
SELECT pg_temp.add(300, '1.0.0', now() - interval '90 minutes',
                   interval '80 minutes');
SELECT pg_temp.add(200, '2.0.0', now() - interval '90 minutes',
                   interval '80 minutes');
SELECT is(pg_temp.part_diff(), 0::bigint,
    'statements of every shape: the partials equal the raw rows');
SELECT ok(pg_temp.win_diff(now() - interval '2 hours', now() + interval '1 s'),
    'a window read from partials alone equals the raw rows');

-- ------------------------------------------------------ deletes, updates

DELETE FROM app.prediction_metrics
 WHERE created_at < now() - interval '60 minutes' AND label = 'positive';
SELECT is(pg_temp.part_diff(), 0::bigint,
    'a DELETE above the watermark: the partials rebuilt for its span');
UPDATE app.prediction_metrics
   SET inference_time_ms = round((inference_time_ms / 2)::numeric, 3),
       label = 'negative'
 WHERE created_at < now() - interval '40 minutes' AND label = 'neutral';
UPDATE app.prediction_metrics SET created_at = created_at + interval '3 s'
 WHERE created_at < now() - interval '70 minutes';
SELECT is(pg_temp.part_diff(), 0::bigint,
    'UPDATEs of values and of created_at: the partials follow');
SELECT ok(pg_temp.win_diff(now() - interval '75 minutes',
                           now() - interval '20 minutes 0.37 s', '1.0.0'),
    'and a window of one version equals the raw rows');

-- ------------------------------------------------------------------ fold

SELECT pg_sleep(0.3);	-- the rows at now() fall below a watermark
SELECT isnt(app.rollup_catch_up(), NULL, 'the fold moves the watermark');
SELECT is((SELECT count(*)::int FROM app.rollup_partial r, app.rollup_state s
            WHERE r.bucket < s.watermark), 0,
    'no partial is left below the watermark');
SELECT is((SELECT partial_from = watermark FROM app.rollup_state), true,
    'partial_from follows the watermark');
SELECT ok((SELECT s.watermark > now() FROM app.rollup_state s),
    'the rows at now() are folded');
SELECT ok(pg_temp.win_diff(now() - interval '100 minutes', now() + interval '1 s'),
    'the 100 ms level built from the partials: the window equals the raw rows');

-- A late row, below the watermark (a bulk load of old rows): no partial
-- (no read takes one there; app.rollup_backfill folds it).
SELECT pg_temp.add(3, '1.0.0', now() - interval '50 minutes');
SELECT is((SELECT count(*)::int FROM app.rollup_partial), 0,
    'rows below partial_from leave no partial behind');
DELETE FROM app.prediction_metrics WHERE client_ip = '10.0.0.1'
   AND created_at >= now() - interval '50 minutes'
   AND created_at < now() - interval '50 minutes' + interval '1 us';

-- Rows above the new watermark, then a window across it.
SELECT pg_temp.add(120, '1.0.0', (SELECT watermark FROM app.rollup_state),
                   interval '2 seconds');
SELECT is(pg_temp.part_diff(), 0::bigint,
    'rows above the watermark: partials again');
SELECT ok(pg_temp.win_diff(now() - interval '30 minutes 0.123 s',
                           (SELECT watermark + interval '1.5 s'
                              FROM app.rollup_state)),
    'a window across the watermark (rollups, then partials) equals the raw rows');
SELECT is(app.metrics_count('pt'), (SELECT count(*) FROM app.prediction_metrics
                                     WHERE shadow_of IS NULL),
    'metrics_count: rollups plus partials, as many as the raw rows');

-- Without partials (partial_from at infinity) reads take the raw rows.
UPDATE app.rollup_state SET partial_from = 'infinity';
SELECT ok(pg_temp.win_diff(now() - interval '30 minutes 0.123 s',
                           (SELECT watermark + interval '1.5 s'
                              FROM app.rollup_state)),
    'partial_from at infinity: the same window from raw rows, the same figures');
-- A watermark reset (app.rollup_upgrade does one): the fold rebuilds
-- partials from the raw rows below partial_from, then reads them.
UPDATE app.rollup_state
   SET partial_from = watermark, watermark = NULL;
SELECT pg_sleep(0.15);
SELECT isnt(app.rollup_catch_up(), NULL, 'a refold from the oldest raw row');
SELECT ok(pg_temp.win_diff(now() - interval '100 minutes',
                           now() + interval '5 s'),
    'after the refold every figure equals the raw rows');

TRUNCATE app.prediction_metrics;
SELECT is((SELECT count(*)::int FROM app.rollup_partial), 0,
    'TRUNCATE empties the partials');

-- ------------------------------------------------------------------ idle

-- Nothing anywhere, W in the middle of a second more than a second ago:
-- nothing to fold, no closed bucket with rows, so the fold writes nothing.
DO $$
DECLARE
    v_t regclass;
BEGIN
    FOR v_t IN SELECT tbl FROM app.rollup_levels() LOOP
        EXECUTE format('DELETE FROM %s', v_t);
    END LOOP;
END;
$$;
UPDATE app.rollup_state
   SET (watermark, partial_from) = (
       SELECT t.w, t.w
         FROM (SELECT app.rollup_floor(clock_timestamp() - interval '1.5 s',
                                       interval '1 s') + interval '0.5 s') t(w));
CREATE TEMP TABLE st0 AS SELECT ctid AS c, watermark AS w FROM app.rollup_state;
SELECT is(app.rollup_fold(), (SELECT w FROM st0),
    'idle: the fold leaves the watermark where it is');
SELECT is((SELECT ctid FROM app.rollup_state), (SELECT c FROM st0),
    'idle: the fold writes nothing (the state row is not updated)');
-- A 100 ms row in the second W is in, which C has closed: the fold runs.
INSERT INTO app.rollup_100ms (bucket, model_version_id, n, positive,
    negative, neutral, conf_sum_micro, time_sum_us, time_min_us,
    time_max_us, hist_idx, hist_cnt, hist_cum)
SELECT w - interval '100 ms', app.model_version_id('pt', '1.0.0'), 3, 1, 1,
       1, 1500000, 60, 20, 20, ARRAY[20], ARRAY[3]::bigint[],
       ARRAY[3]::bigint[]
  FROM st0;
SELECT ok(app.rollup_fold() > (SELECT w FROM st0),
    'a closed second with a 100 ms row in it: the fold moves the watermark');
SELECT is((SELECT sum(n)::int FROM app.rollup_1s r, st0
            WHERE r.bucket = app.rollup_floor(st0.w, interval '1 s')), 3,
    '... and builds that second');
-- A partial at or above W (a writer's statement): folded at the next run.
CREATE TEMP TABLE st1 AS SELECT watermark AS w FROM app.rollup_state;
INSERT INTO app.rollup_partial (bucket, model_version_id, n, positive,
    negative, neutral, conf_sum_micro, time_sum_us, time_min_us,
    time_max_us, hist_idx, hist_cnt, hist_cum)
SELECT w + interval '1 ms', app.model_version_id('pt', '1.0.0'), 4, 2, 1,
       1, 2000000, 80, 20, 20, ARRAY[20], ARRAY[4]::bigint[],
       ARRAY[4]::bigint[]
  FROM st1;
SELECT pg_sleep(0.25);
SELECT ok(app.rollup_fold() > (SELECT w FROM st1),
    'a partial above the watermark: the fold moves it');
SELECT is((SELECT sum(n)::int FROM app.rollup_100ms r, st1
            WHERE r.bucket = st1.w), 4,
    '... and folds the partial into its 100 ms row');

SELECT * FROM finish();
ROLLBACK;
