-- 50_analyze.sql: the analyzer's tables and functions (migration 0004,
-- sql/50_analyze.sql): the inputs of one analysis, the report cache and
-- its TTL, single flight (claim / wait / put / release / takeover), the
-- deployment's upstream limit, and the server role's privileges.
BEGIN;
SELECT plan(65);

-- ------------------------------------------------------------------ shape

SELECT has_table('app', 'gemini_cache', 'gemini_cache exists');
SELECT has_table('app', 'gemini_leases', 'gemini_leases exists');
SELECT columns_are('app', 'gemini_cache', ARRAY['cache_key', 'report',
    'prompt_version', 'gemini_model', 'created_at', 'ttl_seconds'],
    'gemini_cache has exactly its columns');
SELECT col_is_pk('app', 'gemini_cache', 'cache_key', 'cache_key is the key');
SELECT col_type_is('app', 'gemini_cache', 'report', 'jsonb',
    'the report is jsonb');
SELECT col_type_is('app', 'gemini_cache', 'ttl_seconds', 'integer',
    'ttl_seconds is an integer');
SELECT col_default_is('app', 'gemini_cache', 'ttl_seconds', '300',
    'ttl_seconds defaults to GEMINI_CACHE_TTL''s default, 300');
SELECT col_type_is('app', 'gemini_cache', 'created_at',
    'timestamp with time zone', 'created_at is timestamptz');
SELECT col_is_pk('app', 'gemini_leases', 'cache_key',
    'one lease per cache key');
SELECT col_type_is('app', 'gemini_leases', 'owner', 'uuid',
    'the lease owner is a request id');
SELECT has_index('app', 'gemini_cache', 'gemini_cache_created_at_idx',
    'purge index exists');
SELECT throws_ok($$INSERT INTO app.gemini_cache (cache_key, report,
    prompt_version, gemini_model) VALUES ('not-md5', '{}', 'p', 'm')$$,
    '23514', NULL, 'a cache key that is not md5 hex is refused');
SELECT throws_ok($$INSERT INTO app.gemini_cache (cache_key, report,
    prompt_version, gemini_model) VALUES (md5('x'), '[]', 'p', 'm')$$,
    '23514', NULL, 'a report that is not an object is refused');
SELECT throws_ok($$INSERT INTO app.gemini_cache (cache_key, report,
    prompt_version, gemini_model, ttl_seconds)
    VALUES (md5('x'), '{}', 'p', 'm', 0)$$,
    '23514', NULL, 'a TTL of 0 is refused');

-- ----------------------------------------------------------------- inputs

CREATE TEMP TABLE t0 AS SELECT timestamptz '2026-01-01 12:00:00+00' AS t;
SELECT app.partition_ensure('app.prediction_metrics',
    (SELECT t FROM t0) - interval '3 hours', (SELECT t FROM t0) + interval '1 hour');
INSERT INTO app.model_versions (name, version) VALUES ('vader', '3.3.2'),
    ('other', '1.0.0');
-- Current hour: 4 vader rows (+1 of another model); previous: 2 rows.
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip, created_at)
SELECT gen_random_uuid(), (SELECT id FROM app.model_versions
        WHERE name = v.model), v.label, v.conf, v.ms, 10, 0.5, 0.5, 0.5,
       0, '10.0.0.1', (SELECT t FROM t0) + v.at
  FROM (VALUES
    ('vader', 'positive', 0.9, 1.0, interval '-5 min'),
    ('vader', 'positive', 0.8, 2.0, interval '-10 min'),
    ('vader', 'negative', 0.7, 3.0, interval '-20 min'),
    ('vader', 'neutral', 0.6, 4.0, interval '-59 min'),
    ('other', 'neutral', 0.1, 9.0, interval '-30 min'),
    ('vader', 'positive', 0.95, 1.0, interval '-61 min'),
    ('vader', 'negative', 0.85, 1.0, interval '-119 min'),
    ('vader', 'negative', 0.5, 1.0, interval '-121 min'),
    ('vader', 'positive', 0.5, 1.0, interval '0 min')
  ) AS v(model, label, conf, ms, at);

CREATE TEMP TABLE inp AS
SELECT app.analyze_inputs(60, 'vader', (SELECT t FROM t0)) AS j;

SELECT is((SELECT (j -> 'current' ->> 'total_predictions')::int FROM inp),
    4, 'current window [now - 60 min, now): 4 rows of vader');
SELECT is((SELECT (j -> 'previous' ->> 'total_predictions')::int FROM inp),
    2, 'previous window [now - 120 min, now - 60 min): 2 rows');
SELECT is((SELECT round((j -> 'current' ->> 'average_confidence')::numeric,
    3) FROM inp), 0.750, 'current average confidence');
SELECT is((SELECT (j -> 'current' ->> 'positive')::int FROM inp), 2,
    'current label counts');
SELECT is((SELECT j -> 'current' ->> 'start' FROM inp),
    '2026-01-01T11:00:00Z', 'current window start, ISO 8601 UTC');
SELECT is((SELECT j -> 'previous' ->> 'end' FROM inp),
    '2026-01-01T11:00:00Z', 'previous window ends where current starts');
SELECT is((SELECT j -> 'thresholds' ->> 'model_name' FROM inp), 'default',
    'vader has no own thresholds: the default row');
SELECT is((SELECT j ->> 'status' FROM inp), 'normal',
    'status from app.metrics_status');
SELECT is((SELECT j ->> 'model_name' FROM inp), 'vader', 'model filter');
SELECT is((SELECT (app.analyze_inputs(60, NULL, (SELECT t FROM t0))
    -> 'current' ->> 'total_predictions')::int), 5,
    'without a filter: every model');
SELECT is((SELECT (app.analyze_inputs(1, NULL, (SELECT t FROM t0))
    -> 'previous' ->> 'total_predictions')::int), 0,
    'an empty window counts 0');
SELECT ok((SELECT app.analyze_inputs(1, NULL, (SELECT t FROM t0))
    -> 'previous' -> 'average_confidence' = 'null'::jsonb),
    '... and has null averages');
SELECT throws_ok($$SELECT app.analyze_inputs(0)$$, '22023', NULL,
    'a window of 0 minutes is refused');

-- ------------------------------------------------------ claim, wait, put

CREATE TEMP TABLE o AS SELECT
    'a0000000-0000-7000-8000-000000000001'::uuid AS a,
    'b0000000-0000-7000-8000-000000000002'::uuid AS b,
    'c0000000-0000-7000-8000-000000000003'::uuid AS c;

SELECT row_eq($$SELECT outcome, cache_key FROM app.gemini_cache_claim(
    'inputs-1', (SELECT a FROM o), 5000, 100, 2000, (SELECT t FROM t0))$$,
    ROW('claimed'::text, md5('inputs-1')),
    'the first request claims the key (md5 of the inputs)');
SELECT row_eq($$SELECT outcome, detail FROM app.gemini_cache_claim(
    'inputs-1', (SELECT b FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '1 s')$$,
    ROW('wait'::text, '4000'::text),
    'an identical request waits (4000 ms left on the lease)');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-1',
    (SELECT a FROM o), 5000, 100, 2000, (SELECT t FROM t0))), 'claimed',
    'the holder claiming again keeps its lease');
SELECT is((SELECT count(*)::int FROM app.rate_limits
    WHERE scope = 'gemini' AND client = '0.0.0.0'), 1,
    'claims count against the deployment-wide gemini scope');

SELECT is(app.gemini_cache_put('inputs-1', (SELECT a FROM o),
    '{"summary": "s", "generated_at": "2026-01-01T12:00:02Z"}', 300, 'v1',
    'gemini-x', (SELECT t FROM t0) + interval '2 s'), md5('inputs-1'),
    'the holder stores its report');
SELECT is_empty($$SELECT 1 FROM app.gemini_leases
    WHERE cache_key = md5('inputs-1')$$, 'storing ends the lease');
SELECT row_eq($$SELECT outcome, report ->> 'summary', age_s FROM
    app.gemini_cache_claim('inputs-1', (SELECT b FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '3 s')$$,
    ROW('hit'::text, 's'::text, 1::float8),
    'the waiter polls and gets the report (1 s old)');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-1',
    (SELECT c FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '301 s')), 'hit',
    'still a hit just before created_at + ttl_seconds');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-1',
    (SELECT c FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '302 s')), 'claimed',
    'past the TTL it is a miss: claimed again');
SELECT is_empty($$SELECT 1 FROM app.gemini_cache
    WHERE cache_key = md5('inputs-1')$$, 'the expired report was purged');
SELECT is_empty($$SELECT 1 FROM app.gemini_cache$$,
    'nothing else was cached');

-- ------------------------------------------------- failure, takeover

SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-2',
    (SELECT a FROM o), 5000, 100, 2000, (SELECT t FROM t0))), 'claimed',
    'a claims inputs-2');
SELECT ok(app.gemini_cache_release('inputs-2', (SELECT a FROM o),
    'upstream_unavailable', 2000, (SELECT t FROM t0) + interval '1 s'),
    'a gives up and shares why');
SELECT row_eq($$SELECT outcome, detail FROM app.gemini_cache_claim(
    'inputs-2', (SELECT b FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '2 s')$$,
    ROW('failed'::text, 'upstream_unavailable'::text),
    'within the hold, an identical request falls back with that reason');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-2',
    (SELECT b FROM o), 5000, 100, 2000,
    (SELECT t FROM t0) + interval '3 s')), 'claimed',
    'after the hold it may try again');
SELECT ok(NOT app.gemini_cache_release('inputs-2', (SELECT a FROM o),
    'deadline', 2000, (SELECT t FROM t0) + interval '4 s'),
    'a stale holder cannot release a lease it lost');
SELECT is((SELECT failed_reason FROM app.gemini_leases
    WHERE cache_key = md5('inputs-2')), NULL, '... and b''s lease is intact');

SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-3',
    (SELECT a FROM o), 1000, 100, 2000, (SELECT t FROM t0))), 'claimed',
    'a claims inputs-3 with a 1 s lease');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('inputs-3',
    (SELECT b FROM o), 1000, 100, 2000,
    (SELECT t FROM t0) + interval '1.5 s')), 'claimed',
    'a holder that died: its expired lease is taken over');
SELECT app.gemini_cache_put('inputs-3', (SELECT a FROM o), '{"summary": "a"}',
    300, 'v1', 'm', (SELECT t FROM t0) + interval '2 s');
SELECT is((SELECT owner FROM app.gemini_leases
    WHERE cache_key = md5('inputs-3')), (SELECT b FROM o),
    'a late put by the old holder leaves the new lease alone');
SELECT is((SELECT report ->> 'summary' FROM app.gemini_cache
    WHERE cache_key = md5('inputs-3')), 'a', '... but its report is kept');

SELECT ok(app.gemini_cache_release('inputs-2', (SELECT b FROM o), 'x', 0,
    (SELECT t FROM t0) + interval '5 s'), 'a hold of 0 deletes the lease');
SELECT is_empty($$SELECT 1 FROM app.gemini_leases
    WHERE cache_key = md5('inputs-2')$$, '... it is gone');

-- ------------------------------------------------------------ egress limit

DELETE FROM app.rate_limits WHERE scope = 'gemini';
CREATE TEMP TABLE claims AS
SELECT i, c.outcome, c.detail
  FROM generate_series(1, 3) AS i
 CROSS JOIN LATERAL app.gemini_cache_claim('egress-' || i,
       (SELECT a FROM o), 5000, 2, 2000,
       (SELECT t FROM t0) + make_interval(secs => i)) AS c;
SELECT results_eq($$SELECT outcome FROM claims ORDER BY i$$,
    $$VALUES ('claimed'::text), ('claimed'), ('limited')$$,
    'a limit of 2 a minute: the third distinct analysis is limited');
SELECT is((SELECT detail FROM claims WHERE i = 3), '58',
    'limited says when a call frees up (seconds)');
SELECT row_eq($$SELECT outcome, detail FROM app.gemini_cache_claim(
    'egress-3', (SELECT b FROM o), 5000, 2, 2000,
    (SELECT t FROM t0) + interval '3.5 s')$$,
    ROW('failed'::text, 'egress_limited'::text),
    'identical requests share the limited outcome, without counting');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('egress-1',
    (SELECT b FROM o), 5000, 2, 2000,
    (SELECT t FROM t0) + interval '4 s')), 'wait',
    'waiting on a holder does not count either');
SELECT is((SELECT (app.gemini_egress_take(2,
    (SELECT t FROM t0) + interval '5 s')).admitted), false,
    'a retry beyond the limit is refused');
SELECT is((SELECT (app.gemini_egress_take(2,
    (SELECT t FROM t0) + interval '61 s')).admitted), true,
    'a minute later a call is admitted again');
SELECT is((SELECT outcome FROM app.gemini_cache_claim('egress-9',
    (SELECT a FROM o), 5000, 0, 2000, (SELECT t FROM t0))), 'limited',
    'a limit of 0 means no upstream calls at all');
SELECT is((SELECT (app.gemini_egress_take(0)).admitted), false,
    'egress_take with 0 admits nothing');
SELECT throws_ok($$SELECT * FROM app.gemini_cache_claim('x',
    gen_random_uuid(), 0, 1)$$, '22023', NULL, 'a lease of 0 ms is refused');

-- ---------------------------------------------------------------- purge

INSERT INTO app.gemini_cache (cache_key, report, prompt_version,
    gemini_model, created_at, ttl_seconds)
VALUES (md5('old'), '{}', 'v', 'm', (SELECT t FROM t0) - interval '1 h', 60),
       (md5('new'), '{}', 'v', 'm', (SELECT t FROM t0), 60);
SELECT ok(app.gemini_cache_purge(100, (SELECT t FROM t0)) >= 1,
    'purge deletes expired rows');
SELECT results_eq($$SELECT cache_key FROM app.gemini_cache
    WHERE cache_key IN (md5('old'), md5('new'))$$,
    $$VALUES (md5('new'))$$, '... and keeps live ones');

-- ------------------------------------------------------------ privileges

SELECT table_privs_are('app', 'gemini_cache', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'the server reads, writes and purges the cache');
SELECT table_privs_are('app', 'gemini_leases', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'the server owns the leases');
SELECT table_privs_are('app', 'gemini_cache', 'modelserver_analyst',
    ARRAY['SELECT'], 'analysts may read cached reports');
SET LOCAL ROLE modelserver_app;
SELECT lives_ok($$SELECT * FROM app.gemini_cache_claim('as-app',
    gen_random_uuid(), 5000, 10)$$, 'the server role can claim');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
