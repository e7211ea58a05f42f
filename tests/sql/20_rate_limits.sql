-- 20_rate_limits.sql: the rolling-window limiter (sql/20_rate_limits.sql)
-- and the batch writer that folds it in (sql/30_predictions.sql).
BEGIN;
SELECT plan(49);

-- Times are explicit (p_now) so the window can be walked through.
CREATE TEMP TABLE t0 AS SELECT timestamptz '2026-01-01 00:00:00+00' AS t;

-- Ten requests, one a second: all admitted, remaining counts down.
-- (LATERAL: "(f()).*" would call the function once per column.)
CREATE TEMP TABLE takes AS
SELECT i, r.*
  FROM generate_series(0, 9) AS i
 CROSS JOIN LATERAL app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
           (SELECT t FROM t0) + make_interval(secs => i)) AS r;
SELECT is((SELECT sum(admitted)::int FROM takes), 10,
    'the first 10 requests in a window are admitted');
SELECT results_eq($$SELECT remaining FROM takes ORDER BY i$$,
    $$VALUES (9), (8), (7), (6), (5), (4), (3), (2), (1), (0)$$,
    'remaining counts down 9..0');
SELECT is((SELECT reset_s FROM takes WHERE i = 9), 51,
    'reset: seconds until the oldest counted request leaves (60 - 9)');

-- The 11th and 12th inside the window are refused.
SELECT is((app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '30 s')).admitted, 0,
    'the 11th request inside the window is refused');
SELECT row_eq($$SELECT admitted, used_before, remaining, reset_s FROM
    app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '59.5 s')$$,
    ROW(0, 10, 0, 1), 'refused: 10 used, 0 remaining, a slot frees in 1 s');

-- The window slides: the hit at t0 leaves at exactly t0 + 60 s.
SELECT is((app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '60 s')).admitted, 1,
    'admitted again once the oldest request left the window');
SELECT is((app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '60.5 s')).admitted, 0,
    '... but only one slot freed (t0+1 s is still inside)');
SELECT is((app.rate_limit_take('predict', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '61 s')).admitted, 1,
    'the next slot frees when t0+1 s leaves');

-- Other clients and other scopes are independent.
SELECT is((app.rate_limit_take('predict', '192.0.2.2', 1, 10, 60,
    (SELECT t FROM t0) + interval '30 s')).admitted, 1,
    'another client is unaffected');
SELECT is((app.rate_limit_take('analyze', '192.0.2.1', 1, 10, 60,
    (SELECT t FROM t0) + interval '30 s')).admitted, 1,
    'another scope is unaffected');
SELECT is((app.rate_limit_take('predict', '2001:db8::1', 1, 10, 60,
    (SELECT t FROM t0))).admitted, 1, 'IPv6 clients are limited too');

-- Several requests at once: exactly what fits is admitted.
SELECT row_eq($$SELECT admitted, used_before, remaining FROM
    app.rate_limit_take('predict', '192.0.2.3', 15, 10, 60,
    (SELECT t FROM t0))$$, ROW(10, 0, 0), '15 at once: 10 admitted');
SELECT row_eq($$SELECT admitted, used_before, remaining, reset_s FROM
    app.rate_limit_take('predict', '192.0.2.4', 0, 10, 60,
    (SELECT t FROM t0))$$, ROW(0, 0, 10, 0),
    'asking for 0 reports the state without taking');
SELECT throws_ok($$SELECT app.rate_limit_take('predict', '192.0.2.4', 1, 0)$$,
    '22023', NULL, 'a limit of 0 is an error');

-- In any 60 s interval never more than the limit, whatever the pattern
-- (a burst, then requests every 7 s for 10 minutes, limit 5).
CREATE TEMP TABLE walk (n serial, s int, admitted int);
DO $$
DECLARE s int;
BEGIN
    FOREACH s IN ARRAY ARRAY[0, 0, 1] || ARRAY(SELECT generate_series(2, 600, 7))
    LOOP
        INSERT INTO walk (s, admitted) SELECT s, (app.rate_limit_take('predict',
            '192.0.2.5', 1, 5, 60, timestamptz '2026-01-01 00:00:00+00'
            + make_interval(secs => s))).admitted;
    END LOOP;
END $$;
SELECT is_empty($$SELECT a.n FROM walk a
    WHERE (SELECT sum(b.admitted) FROM walk b
           WHERE b.s > a.s - 60 AND b.n <= a.n) > 5$$,
    'never more than 5 admitted in any 60 s window');
SELECT ok((SELECT sum(admitted) FROM walk) >= 45,
    'and the limit is used: admissions resume as the window slides');

-- Above 64 distinct times the log is coalesced: bounded, still safe.
CREATE TEMP TABLE many (i int, admitted int);
DO $$
BEGIN
    FOR i IN 0 .. 299 LOOP
        INSERT INTO many SELECT i, (app.rate_limit_take('predict',
            '192.0.2.6', 1, 1000, 60, timestamptz '2026-01-01 00:00:00+00'
            + make_interval(secs => i * 0.1))).admitted;
    END LOOP;
END $$;
SELECT is((SELECT sum(admitted)::int FROM many), 300,
    '300 requests under a limit of 1000 are all admitted');
SELECT ok((SELECT cardinality(hits) <= 64 FROM app.rate_limits
    WHERE scope = 'predict' AND client = '192.0.2.6'),
    'the log holds at most 64 entries');
SELECT is((SELECT sum(c)::int FROM app.rate_limits,
    unnest(counts) AS c WHERE scope = 'predict' AND client = '192.0.2.6'),
    300, 'coalescing keeps every counted request');
SELECT is((app.rate_limit_take('predict', '192.0.2.6', 1000, 1000, 60,
    (SELECT t FROM t0) + interval '30 s')).admitted, 700,
    'after coalescing the limit still holds exactly');

-- Pruning: only rows whose window has passed go.
SELECT is(app.rate_limit_prune(100000, (SELECT t FROM t0) + interval '30 s'),
    0, 'nothing is pruned while windows are open');
SELECT ok(app.rate_limit_prune(100000, (SELECT t FROM t0) + interval '1 day')
    >= 7, 'a day later every row is pruned');
SELECT is_empty($$SELECT 1 FROM app.rate_limits WHERE client <<= '192.0.2.0/24'$$,
    'no state is left for those clients');
INSERT INTO app.rate_limits (scope, client, expires_at)
SELECT 'predict', ('10.' || (i / 65536) || '.' || (i / 256 % 256) || '.'
       || (i % 256))::inet, (SELECT t FROM t0)
  FROM generate_series(1, 5000) AS i;
SELECT is(app.rate_limit_prune(2000, (SELECT t FROM t0) + interval '1 s'), 2000,
    'prune removes at most p_max rows per call');
SELECT is(app.rate_limit_prune(100000, (SELECT t FROM t0) + interval '1 s'), 3000,
    '... and the rest on the next call');

-- Leases (p_hold_ms): the admitted requests are filed at now + hold, the
-- latest time the caller may hand one out.
SELECT is((app.rate_limit_take('predict', '192.0.2.7', 100, 100, 60,
    (SELECT t FROM t0), 1000)).admitted, 100,
    'a lease of the whole limit is granted');
SELECT is((SELECT hits FROM app.rate_limits WHERE scope = 'predict'
    AND client = '192.0.2.7'), ARRAY[(SELECT t FROM t0) + interval '1 s'],
    'it is filed at now + hold');
-- Its last token may be used at t0 + 0.99 s: 60.5 s later is still
-- inside one window with that use.
SELECT is((app.rate_limit_take('predict', '192.0.2.7', 1, 100, 60,
    (SELECT t FROM t0) + interval '60.5 s')).admitted, 0,
    'a window that can hold a leased use still counts the lease');
SELECT is((app.rate_limit_take('predict', '192.0.2.7', 1, 100, 60,
    (SELECT t FROM t0) + interval '61 s')).admitted, 1,
    'after hold + window the lease has left');
SELECT throws_ok($$SELECT app.rate_limit_take('predict', '192.0.2.7', 1, 10,
    60, now(), -1)$$, '22023', NULL, 'a negative hold is an error');
SELECT throws_ok($$SELECT app.rate_limit_take('predict', '192.0.2.7', 1, 10,
    60, now(), 61000)$$, '22023', NULL, 'a hold longer than the window is an '
    'error');

-- Leases every 0.7 s, each token used as late as it may be (just before
-- its lease ends) or as early: never more than the limit in 60 s of use.
CREATE TEMP TABLE leased (k int, used_at timestamptz, n int);
DO $$
DECLARE
    k int;
    s timestamptz;
    a int;
BEGIN
    FOR k IN 0 .. 300 LOOP
        s := timestamptz '2026-01-01 00:00:00+00'
            + make_interval(secs => k * 0.7);
        a := (app.rate_limit_take('predict', '192.0.2.8', 4, 50, 60, s,
            1000)).admitted;
        INSERT INTO leased VALUES (k, CASE WHEN k % 3 = 0 THEN s
            ELSE s + interval '999 ms' END, a);
    END LOOP;
END $$;
SELECT is_empty($$SELECT a.k FROM leased a
    WHERE (SELECT sum(b.n) FROM leased b
           WHERE b.used_at >= a.used_at
             AND b.used_at < a.used_at + interval '60 s') > 50$$,
    'leased uses: never more than 50 in any 60 s');
SELECT ok((SELECT sum(n) FROM leased) >= 150,
    'and leases resume as the window slides (' ||
    (SELECT sum(n) FROM leased) || ' in 210 s)');

-- predict_admit with p_want: 0 is a request admitted from a lease (not
-- counted again), n > 1 asks for n - 1 tokens beyond the request.
CREATE TEMP TABLE wanted AS
SELECT * FROM app.predict_admit(
    ARRAY['198.51.100.21', '198.51.100.21', '198.51.100.22',
          '198.51.100.21']::inet[], 100, 60, (SELECT t FROM t0),
    ARRAY[0, 5, 1, 1], 1000);
SELECT results_eq($$SELECT ord, admitted, remaining, lease FROM wanted
    ORDER BY ord$$,
    $$VALUES (1, true, 0, 0), (2, true, 99, 4), (3, true, 99, 0),
             (4, true, 98, 0)$$,
    'a leased request passes; an ask of 5 + 1 request grants 2 rows and a '
    'lease of 4 on the client''s first row');
SELECT is((SELECT sum(c)::int FROM app.rate_limits, unnest(counts) AS c
    WHERE client = '198.51.100.21'), 6,
    'the client is counted for its two requests and the lease, not the '
    'leased request');
SELECT is((SELECT hits FROM app.rate_limits WHERE client = '198.51.100.22'),
    ARRAY[(SELECT t FROM t0)],
    'a client that asked for no lease is filed at now');
SELECT results_eq($$SELECT admitted, lease FROM app.predict_admit(
    ARRAY['198.51.100.23', '198.51.100.23']::inet[], 3, 60,
    (SELECT t FROM t0), ARRAY[3, 1], 1000) ORDER BY ord$$,
    $$VALUES (true, 1), (true, 0)$$,
    'near the limit the lease gets what is left after the requests');
SELECT results_eq($$SELECT admitted, lease FROM app.predict_admit(
    ARRAY['198.51.100.23']::inet[], 3, 60, (SELECT t FROM t0), ARRAY[9],
    1000)$$, $$VALUES (false, 0)$$,
    'at the limit: refused, no lease');
SELECT throws_ok($$SELECT * FROM app.predict_admit(ARRAY['198.51.100.24']::inet[],
    3, 60, now(), ARRAY[1, 1])$$, '22023', NULL,
    'p_want must have one element per request');
SELECT throws_ok($$SELECT * FROM app.predict_admit(ARRAY['198.51.100.24']::inet[],
    3, 60, now(), ARRAY[-1])$$, '22023', NULL,
    'p_want elements are >= 0');

-- The batch writer, step 1 (the decision) and step 2 (the rows).  The
-- procedure that runs both commits in between, so it cannot run inside
-- this test's transaction: the HTTP tests cover it.
TRUNCATE app.prediction_metrics;
CREATE TEMP TABLE clients AS
SELECT array_agg(CASE WHEN i % 7 = 0 THEN '198.51.100.2'
                      ELSE '198.51.100.1' END ORDER BY i)::inet[] AS c
  FROM generate_series(1, 14) AS i;
CREATE TEMP TABLE batch AS
SELECT * FROM app.predict_admit((SELECT c FROM clients), 10);
SELECT is((SELECT count(*)::int FROM batch), 14, 'one decision per request');
SELECT results_eq($$SELECT ord FROM batch$$,
    $$SELECT generate_series(1, 14)$$, 'decisions come in input order');
SELECT results_eq($$SELECT ord FROM batch WHERE NOT admitted$$,
    $$VALUES (12), (13)$$,
    'client .1 sent 12: its first 10 are admitted, the last two refused');
SELECT is((SELECT count(*)::int FROM batch WHERE admitted AND ord IN (7, 14)), 2,
    'client .2 (2 requests) is admitted independently');
SELECT results_eq($$SELECT remaining FROM batch WHERE ord IN (1, 11, 12, 7, 14)
    ORDER BY ord$$, $$VALUES (9), (9), (0), (0), (8)$$,
    'remaining is per client, counting down in arrival order');
SELECT is(app.insert_predictions(
    (SELECT array_agg(gen_random_uuid()) FROM generate_series(1, 14)),
    (SELECT c FROM clients),
    array_fill('positive'::text, ARRAY[14]), array_fill(0.5::float8, ARRAY[14]),
    array_fill(1.0::float8, ARRAY[14]), array_fill(5, ARRAY[14]),
    array_fill(0.5::float8, ARRAY[14]), array_fill(0.5::float8, ARRAY[14]),
    array_fill(0.5::float8, ARRAY[14]), array_fill(0.0::float8, ARRAY[14]),
    (SELECT array_agg(admitted ORDER BY ord) FROM batch), 'vader', '3.3.2'),
    12, 'insert_predictions writes the admitted rows');
SELECT is((SELECT count(*)::int FROM app.prediction_metrics), 12,
    'only admitted requests wrote a row');
SELECT is((SELECT count(DISTINCT model_version_id)::int
    FROM app.prediction_metrics), 1, 'all rows point at one model version');
SELECT has_function('app', 'record_predictions', 'the procedure exists');

SELECT * FROM finish();
ROLLBACK;
