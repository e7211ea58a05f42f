-- 60_models.sql: the model versions' SQL (issue 20): the traffic split
-- (migrations/0010, sql/11_routing.sql) and the all-or-nothing rate limit
-- of batch requests (sql/31_prediction_batches.sql).
BEGIN;
SELECT plan(30);

-- ---- model_routing: the rules are CHECKs -----------------------------------
DELETE FROM app.model_routing;
SELECT lives_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m', '{1.0.0,1.1.0}', '{90,10}',
    '1.0.0')$$, 'a 90/10 split is stored');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{1.0.0,1.1.0}', '{90,20}',
    '1.0.0')$$, '23514', NULL, 'weights summing to 110 are refused');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{1.0.0,1.0.0}', '{50,50}',
    '1.0.0')$$, '23514', NULL, 'a repeated version is refused');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{1.0.0,1.1.0}', '{110,-10}',
    '1.0.0')$$, '23514', NULL, 'a weight outside 0..100 is refused');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{1.0.0}', '{100}', '2.0.0')$$,
    '23514', NULL, 'a default outside the versions is refused');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{v1}', '{100}', 'v1')$$,
    '23514', NULL, 'a version that is not X.Y.Z is refused');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version) VALUES ('m2', '{1.0.0}', '{60,40}',
    '1.0.0')$$, '23514', NULL, 'one weight per version');
SELECT throws_ok($$INSERT INTO app.model_routing (model_name, versions,
    weights, default_version, shadow_version) VALUES ('m2', '{1.0.0}',
    '{100}', '1.0.0', 'x')$$, '23514', NULL, 'a bad shadow is refused');

-- ---- history and the generation the servers poll --------------------------
SELECT is((SELECT count(*)::int FROM app.model_routing_changes
            WHERE model_name = 'm'), 1, 'the insert is in the history');
CREATE TEMP TABLE g0 AS SELECT generation FROM app.routing_state;
UPDATE app.model_routing SET weights = weights WHERE model_name = 'm';
SELECT is((SELECT generation FROM app.routing_state),
    (SELECT generation FROM g0), 'a no-op update bumps nothing');
SELECT is((SELECT count(*)::int FROM app.model_routing_changes
            WHERE model_name = 'm'), 1, 'and records nothing');
UPDATE app.model_routing SET weights = '{50,50}' WHERE model_name = 'm';
SELECT is((SELECT generation FROM app.routing_state),
    (SELECT generation + 1 FROM g0), 'a change bumps the generation');
SELECT row_eq($$SELECT operation, old_weights, new_weights FROM
    app.model_routing_changes WHERE model_name = 'm' ORDER BY id DESC
    LIMIT 1$$, ROW('update'::text, '{90,10}'::int[], '{50,50}'::int[]),
    'the update is recorded with old and new weights');

SELECT row_eq($$SELECT versions, weights, default_version, shadow_version
    FROM app.set_model_routing('m', '{1.0.0,1.1.0}', '{0,100}', '1.1.0',
    '1.0.0', '10.1.2.3')$$,
    ROW('{1.0.0,1.1.0}'::text[], '{0,100}'::int[], '1.1.0'::text,
        '1.0.0'::text), 'set_model_routing replaces the split');
SELECT row_eq($$SELECT operation, host(changed_by) FROM
    app.model_routing_changes WHERE model_name = 'm' ORDER BY id DESC
    LIMIT 1$$, ROW('update'::text, '10.1.2.3'::text),
    'attributed to the HTTP client, recorded as one update');
SELECT throws_ok($$SELECT * FROM app.set_model_routing('m', '{1.0.0}',
    '{99}', '1.0.0')$$, '23514', NULL, 'set_model_routing checks weights');
SELECT throws_ok($$SELECT * FROM app.set_model_routing('m', '{1.0.0}',
    '{100}', '2.0.0')$$, '23514', NULL,
    'set_model_routing checks the default');
DELETE FROM app.model_routing WHERE model_name = 'm';
SELECT is((SELECT operation FROM app.model_routing_changes
            WHERE model_name = 'm' ORDER BY id DESC LIMIT 1), 'delete',
    'a delete is recorded');

-- ---- batch admission: all or nothing, every text counted ------------------
DELETE FROM app.rate_limits;
SELECT results_eq($$SELECT admitted, remaining FROM app.predict_batch_admit(
    '{10.0.0.1,10.0.0.1,10.0.0.1}', '{6,5,4}', 10) ORDER BY ord$$,
    $$VALUES (true, 4), (false, 4), (true, 0)$$,
    '6 of 10 admitted; 5 with 4 left refused whole; then 4 admitted');
SELECT is((SELECT sum(c)::int FROM app.rate_limits, unnest(counts) AS c
            WHERE client = '10.0.0.1'), 10,
    'the admitted texts (6 + 4) are counted, the refused ones not');
SELECT results_eq($$SELECT admitted FROM app.predict_batch_admit(
    '{10.0.0.2}', '{11}', 10)$$, $$VALUES (false)$$,
    'a batch larger than the limit is refused');
SELECT is((SELECT coalesce(sum(c), 0)::int FROM app.rate_limits,
            unnest(counts) AS c WHERE client = '10.0.0.2'), 0,
    'and counts nothing');
SELECT throws_ok($$SELECT * FROM app.predict_batch_admit('{10.0.0.3}',
    '{0}', 10)$$, '22023', NULL, 'a request of 0 texts is an error');
SELECT results_eq($$SELECT ord, admitted FROM app.predict_batch_admit(
    '{10.0.0.5,10.0.0.4}', '{3,3}', 5) ORDER BY ord$$,
    $$VALUES (1, true), (2, true)$$,
    'clients are decided apart, results in input order');

-- ---- compare_versions: exact, from the raw rows ----------------------------
-- Partitions for the fixture rows (one of them two hours old).
SELECT app.partition_ensure('app.prediction_metrics',
    now() - interval '3 hours', now() + interval '1 hour') IS NOT NULL;
INSERT INTO app.model_versions (name, version) VALUES ('cmp', '1.0.0'),
    ('cmp', '1.1.0');
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at, shadow_of)
SELECT ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid,
       (SELECT id FROM app.model_versions WHERE name = 'cmp'
         AND version = '1.0.0'),
       (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3],
       (i % 10) / 10.0, i * 0.5, 10, 0.1, 0.1, 0.8, 0.1, '10.9.0.1',
       now() - interval '5 minutes', NULL
  FROM generate_series(1, 30) AS i;
-- 1.1.0 shadowed the first 20 of them: labels agree on i % 2 = 0.
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at, shadow_of)
SELECT ('00000000-0000-7000-9000-' || lpad(i::text, 12, '0'))::uuid,
       (SELECT id FROM app.model_versions WHERE name = 'cmp'
         AND version = '1.1.0'),
       CASE WHEN i % 2 = 0 THEN (ARRAY['positive', 'negative',
           'neutral'])[1 + i % 3] ELSE 'negative' END,
       0.9, i * 0.25, 10, 0.3, 0.1, 0.8, 0.1, '10.9.0.1',
       now() - interval '4 minutes',
       ('00000000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid
  FROM generate_series(1, 20) AS i;
-- An old row outside the window.
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
VALUES ('00000000-0000-7000-a000-000000000001', (SELECT id FROM
    app.model_versions WHERE name = 'cmp' AND version = '1.1.0'),
    'neutral', 0.1, 999, 10, 0, 0, 1, 0, '10.9.0.1', now() - interval '2 hours');
CREATE TEMP TABLE cmp AS
    SELECT app.compare_versions('cmp', '1.1.0', '1.0.0', 60) AS j;
SELECT is((SELECT ((j->'candidate'->>'predictions')::int,
                   (j->'candidate'->>'shadow')::int,
                   (j->'baseline'->>'served')::int)::text FROM cmp),
    '(20,20,30)', 'volumes: 20 shadow rows against 30 answered');
SELECT is((SELECT (j->'baseline'->>'average_confidence')::float8 FROM cmp),
    (SELECT avg(confidence) FROM app.prediction_metrics p
       JOIN app.model_versions v ON v.id = p.model_version_id
      WHERE v.name = 'cmp' AND v.version = '1.0.0'),
    'baseline average confidence equals the raw rows');
-- Within 0.1 %: the latencies are above the exact range (2.048 ms).
SELECT ok((SELECT abs((j->'candidate'->>'p95_inference_time_ms')::float8
                      - d.p95) <= 0.001 * d.p95
             FROM cmp,
                  (SELECT percentile_cont(0.95) WITHIN GROUP
                              (ORDER BY inference_time_ms) AS p95
                     FROM app.prediction_metrics p JOIN app.model_versions v
                       ON v.id = p.model_version_id
                    WHERE v.name = 'cmp' AND v.version = '1.1.0'
                      AND p.created_at > now() - interval '1 hour') d),
    'candidate P95 equals the raw rows within 0.1 % (the old row left out)');
SELECT is((SELECT (j->'difference'->>'average_confidence')::float8 FROM cmp),
    (SELECT (j->'candidate'->>'average_confidence')::float8
          - (j->'baseline'->>'average_confidence')::float8 FROM cmp),
    'difference = candidate - baseline');
SELECT is((SELECT ((j->'paired'->>'pairs')::int,
                   (j->'paired'->>'label_agreement')::float8)::text
             FROM cmp),
    (SELECT (count(*)::int, (count(*) FILTER (WHERE s.label = a.label))
             ::float8 / count(*))::text
       FROM app.prediction_metrics s JOIN app.prediction_metrics a
         ON a.prediction_id = s.shadow_of
      WHERE s.prediction_id::text LIKE '00000000-0000-7000-9000-%'),
    'paired: 20 pairs, agreement as the join of the raw rows gives');
SELECT throws_ok($$SELECT app.compare_versions('cmp', '1.1.0', '1.0.0', 0)$$,
    '23514', NULL, 'a window of 0 minutes is refused');

SELECT * FROM finish();
ROLLBACK;
