-- 30_partitions.sql: the partitioned raw table and its maintenance
-- (migrations/0007, sql/31_partitions.sql): partitions made ahead and
-- aligned, no catch-all, whole partitions retired past their retention,
-- the rollups' policy rows honoured, and who may do it.
BEGIN;
SELECT plan(49);

-- ---------------------------------------------------------------- layout

SELECT is((SELECT c.relkind::text FROM pg_class c
            WHERE c.oid = 'app.prediction_metrics'::regclass), 'p',
    'prediction_metrics is a partitioned table');
SELECT is((SELECT pg_get_partkeydef('app.prediction_metrics'::regclass)),
    'RANGE (created_at)', 'partitioned by range of created_at');
SELECT is((SELECT partdefid FROM pg_partitioned_table
            WHERE partrelid = 'app.prediction_metrics'::regclass), 0::oid,
    'no DEFAULT partition');
SELECT results_eq($$SELECT kind, width, retention FROM app.partition_policy
                    WHERE parent = 'app.prediction_metrics'::regclass$$,
    $$VALUES ('raw'::text, interval '1 hour', NULL::interval)$$,
    'the raw table is in the policy, hourly, with the setting''s retention');

-- The migration and every migrate leave 24 hours ready.
SELECT ok((SELECT count(*) FROM app.partitions
            WHERE parent = 'app.prediction_metrics'::regclass
              AND lower_bound <= now() AND upper_bound > now()) = 1,
    'a partition holds now');
SELECT ok((SELECT max(upper_bound) FROM app.partitions
            WHERE parent = 'app.prediction_metrics'::regclass)
          >= now() + interval '23 hours',
    'partitions are ready at least 23 hours ahead');
SELECT is_empty($$
    SELECT partition FROM app.partitions
     WHERE parent = 'app.prediction_metrics'::regclass
       AND lower_bound >= date_bin('1 hour', now(), '2000-01-01 00:00+00')
       AND (lower_bound <> date_bin('1 hour', lower_bound,
                                    '2000-01-01 00:00+00')
            OR upper_bound <> lower_bound + interval '1 hour')$$,
    'every partition from this hour on is one whole UTC hour');
SELECT is_empty($$
    SELECT a.partition FROM app.partitions a JOIN app.partitions b
        ON a.parent = b.parent AND a.partition <> b.partition
       AND a.lower_bound < b.upper_bound AND b.lower_bound < a.upper_bound
     WHERE a.parent = 'app.prediction_metrics'::regclass$$,
    'no two partitions overlap');
SELECT is_empty($$
    SELECT p.partition FROM app.partitions p
      JOIN pg_class c ON c.oid = p.partition
     WHERE pg_get_userbyid(c.relowner) <>
           pg_get_userbyid((SELECT relowner FROM pg_class
                             WHERE oid = 'app.prediction_metrics'::regclass))$$,
    'partitions belong to the table''s owner');

-- ------------------------------------------------------- no partition

INSERT INTO app.model_versions (name, version) VALUES ('pt', '1.0.0');
CREATE TEMP TABLE row1 AS SELECT
    (SELECT id FROM app.model_versions WHERE name = 'pt') AS model_version_id,
    'positive'::text AS label, 0.5::float8 AS confidence,
    1.0::float8 AS inference_time_ms, 10 AS input_length,
    0.5::float8 AS compound, 0.5::float8 AS pos, 0.5::float8 AS neu,
    0.0::float8 AS neg, '10.0.0.1'::inet AS client_ip;
CREATE FUNCTION pg_temp.put(timestamptz) RETURNS void LANGUAGE sql AS $$
    INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
        label, confidence, inference_time_ms, input_length, compound, pos,
        neu, neg, client_ip, created_at)
    SELECT gen_random_uuid(), model_version_id, label, confidence,
           inference_time_ms, input_length, compound, pos, neu, neg,
           client_ip, $1
      FROM row1
$$;

SELECT throws_ok($$SELECT pg_temp.put('2001-02-03 04:05:06+00')$$, '23514',
    NULL, 'a row whose time has no partition is an error, not a catch-all');
SELECT throws_ok($$SELECT pg_temp.put(now() + interval '400 days')$$,
    '23514', NULL, 'so is a row far in the future');
SELECT lives_ok($$SELECT pg_temp.put(now())$$,
    'a row of now goes to the current partition');

-- -------------------------------------------------------- partition_ensure

-- Creating one takes no lock that would stop writers or readers: the
-- strongest this transaction holds on the parent afterwards is SHARE
-- UPDATE EXCLUSIVE (ATTACH), never ACCESS EXCLUSIVE (PARTITION OF).
SELECT is(app.partition_ensure('app.prediction_metrics',
    '2001-02-03 04:00+00', '2001-02-03 06:00+00'), 2,
    'partition_ensure makes the two missing hours of [04:00, 06:00)');
SELECT is_empty($$
    SELECT mode FROM pg_locks
     WHERE relation IN ('app.prediction_metrics'::regclass,
                        'app.model_versions'::regclass)
       AND pid = pg_backend_pid()
       AND mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock',
                    'AccessExclusiveLock')$$,
    'attaching took nothing stronger than SHARE UPDATE EXCLUSIVE on the '
    'parent, nor on model_versions');
SELECT is(app.partition_ensure('app.prediction_metrics',
    '2001-02-03 04:30+00', '2001-02-03 05:10+00'), 0,
    'partition_ensure again: nothing to do');
SELECT lives_ok($$SELECT pg_temp.put('2001-02-03 04:05:06+00')$$,
    'the row of 04:05:06 is accepted now');
SELECT results_eq($$
    SELECT lower_bound, upper_bound FROM app.partitions
     WHERE parent = 'app.prediction_metrics'::regclass
       AND lower_bound < '2001-02-04+00' ORDER BY 1$$,
    $$VALUES (timestamptz '2001-02-03 04:00+00', timestamptz '2001-02-03 05:00+00'),
             ('2001-02-03 05:00+00', '2001-02-03 06:00+00')$$,
    'bounds are whole hours, from an unaligned start');
SELECT is((SELECT tableoid::regclass::text FROM app.prediction_metrics
            WHERE created_at = '2001-02-03 04:05:06+00'),
    'app.prediction_metrics_p20010203_040000',
    'the partition is named after its UTC start and holds the row');
SELECT isnt(obj_description('app.prediction_metrics_p20010203_040000'::regclass,
    'pg_class'), NULL, 'a new partition has a COMMENT');
SELECT is(col_description('app.prediction_metrics_p20010203_040000'::regclass,
    1), col_description('app.prediction_metrics'::regclass, 1),
    'and its columns the parent''s comments');
SELECT is_empty($$
    SELECT conname FROM pg_constraint
     WHERE conrelid = 'app.prediction_metrics_p20010203_040000'::regclass
       AND conname LIKE '%\_bounds'$$,
    'the CHECK that let ATTACH skip its scan is gone afterwards');
SELECT throws_ok($$SELECT app.partition_ensure('app.model_versions',
    now(), now() + interval '1 hour')$$, '22023', NULL,
    'a table outside the policy is refused');

-- A width change applies from the next bound on: the hour that is
-- already there stays, the new width fills up to the next partition.
UPDATE app.partition_policy SET width = interval '20 minutes'
 WHERE parent = 'app.prediction_metrics'::regclass;
SELECT is(app.partition_ensure('app.prediction_metrics',
    '2001-02-03 03:00+00', '2001-02-03 07:00+00'), 6,
    'at 20 minutes: three partitions before 04:00, three after 06:00');
SELECT is((SELECT count(*)::int FROM app.partitions
            WHERE parent = 'app.prediction_metrics'::regclass
              AND lower_bound >= '2001-02-03 03:00+00'
              AND upper_bound <= '2001-02-03 07:00+00'), 8,
    'and the two hours in between are unchanged');
UPDATE app.partition_policy SET width = interval '1 hour'
 WHERE parent = 'app.prediction_metrics'::regclass;

-- ------------------------------------------------------------ retention

-- Three days of hourly partitions, one row each, a quarter past.
SELECT app.partition_ensure('app.prediction_metrics',
    now() - interval '72 hours', now());
SELECT pg_temp.put(date_bin('1 hour', now(), '2000-01-01 00:00+00')
                   - h * interval '1 hour' + interval '15 minutes')
  FROM generate_series(1, 71) AS h;
CREATE TEMP TABLE kept AS
SELECT prediction_id, created_at FROM app.prediction_metrics
 WHERE created_at >= now() - interval '48 hours';

SELECT ok((SELECT count(*) FROM app.partition_expired(interval '48 hours',
            interval '400 days')
            WHERE parent = 'app.prediction_metrics'::regclass) >= 23,
    'partition_expired lists the partitions older than 48 hours');
SELECT is_empty($$
    SELECT statement FROM app.partition_expired(interval '48 hours',
        interval '400 days')
     WHERE statement !~ '^ALTER TABLE app\.prediction_metrics DETACH PARTITION '
                        'app\.prediction_metrics_p[0-9_]+ CONCURRENTLY$'$$,
    'each with its DETACH ... CONCURRENTLY statement');
SELECT is_empty($$
    SELECT e.partition FROM app.partition_expired(interval '48 hours',
        interval '400 days') e
      JOIN app.partitions p ON p.partition = e.partition
     WHERE p.upper_bound > now() - interval '48 hours'$$,
    'none of them holds a row younger than the retention');

CREATE TEMP TABLE m AS
SELECT * FROM app.partition_maintain(interval '1 hour', 24,
    interval '48 hours', interval '400 days', true);
SELECT ok((SELECT dropped FROM m
            WHERE parent = 'app.prediction_metrics'::regclass) >= 23,
    'partition_maintain dropped the expired partitions');
SELECT is((SELECT skipped FROM m
            WHERE parent = 'app.prediction_metrics'::regclass), 0,
    'none was skipped for a lock');
SELECT is_empty($$
    SELECT mode FROM pg_locks
     WHERE relation = 'app.model_versions'::regclass
       AND pid = pg_backend_pid()
       AND mode IN ('ShareRowExclusiveLock', 'ExclusiveLock',
                    'AccessExclusiveLock')$$,
    'retiring them never locked model_versions against its readers '
    '(no foreign key to remove)');
SELECT is_empty($$SELECT partition FROM app.partitions
    WHERE parent = 'app.prediction_metrics'::regclass
      AND upper_bound <= now() - interval '48 hours 10 seconds'$$,
    'no partition older than 48 hours (and the 10 s grace) is left');
SELECT is((SELECT count(*) FROM app.prediction_metrics
            WHERE created_at < (SELECT min(lower_bound) FROM app.partitions
                                 WHERE parent = 'app.prediction_metrics'::regclass
                                   AND lower_bound > '2002-01-01+00')
              AND model_version_id = (SELECT model_version_id FROM row1)),
    0::bigint, 'their rows are gone with them');
SELECT set_eq($$SELECT prediction_id, created_at FROM app.prediction_metrics
                 WHERE created_at >= now() - interval '48 hours'$$,
    $$SELECT * FROM kept$$,
    'every younger row is still there (whole partitions only)');
SELECT is((SELECT count(*) FROM app.prediction_metrics
            WHERE created_at >= date_bin('1 hour', now() - interval '48 hours',
                                         '2000-01-01 00:00+00')
              AND created_at < date_bin('1 hour', now() - interval '47 hours',
                                        '2000-01-01 00:00+00')
              AND model_version_id = (SELECT model_version_id FROM row1)),
    1::bigint,
    'the partition straddling the cutoff stays whole, its older row too');

-- ------------------------------------------------------ a rollup table

-- Made by the schema owner, as a migration would.
SET LOCAL ROLE modelserver;
CREATE TABLE app.pt_rollup (bucket timestamptz NOT NULL, n bigint NOT NULL)
    PARTITION BY RANGE (bucket);
COMMENT ON TABLE app.pt_rollup IS 'test rollup';
RESET ROLE;
INSERT INTO app.partition_policy (parent, kind, width)
VALUES ('app.pt_rollup', 'rollup', interval '1 day');
SELECT app.partition_ensure('app.pt_rollup', now() - interval '10 days',
    now());
SELECT * FROM app.partition_maintain(interval '1 hour', 3,
    interval '48 hours', interval '7 days', true);
SELECT is((SELECT count(*)::int FROM app.partitions
            WHERE parent = 'app.pt_rollup'::regclass
              AND lower_bound > now()), 3,
    'a rollup table gets its partitions ahead (up to now + 3 days)');
SELECT is_empty($$SELECT partition FROM app.partitions
    WHERE parent = 'app.pt_rollup'::regclass
      AND (upper_bound <= now() - interval '7 days 10 seconds'
           OR lower_bound <> date_bin('1 day', lower_bound,
                                      '2000-01-01 00:00+00'))$$,
    'rollups keep ROLLUP_RETENTION_DAYS, in whole UTC days');
SELECT ok((SELECT min(lower_bound) FROM app.partitions
            WHERE parent = 'app.pt_rollup'::regclass)
          <= now() - interval '7 days',
    'the rollup day straddling the cutoff stays');
SELECT ok(EXISTS (SELECT FROM app.partitions
            WHERE parent = 'app.prediction_metrics'::regclass
              AND upper_bound <= now() - interval '6 days') IS FALSE,
    'while raw keeps its own (shorter) retention');
-- Its own retention wins over the kind's.
UPDATE app.partition_policy SET retention = interval '2 days'
 WHERE parent = 'app.pt_rollup'::regclass;
SELECT * FROM app.partition_maintain(NULL, 3, interval '48 hours',
    interval '7 days', true);
SELECT is_empty($$SELECT partition FROM app.partitions
    WHERE parent = 'app.pt_rollup'::regclass
      AND upper_bound <= now() - interval '2 days 10 seconds'$$,
    'a policy row''s own retention replaces its kind''s');

-- -------------------------------------------------- drop_detached, rights

SELECT is(app.partition_drop_detached(
    (SELECT partition::text FROM app.partitions
      WHERE parent = 'app.pt_rollup'::regclass LIMIT 1)), false,
    'partition_drop_detached leaves an attached partition alone');
SELECT is(app.partition_drop_detached('app.model_versions'), false,
    'and any table that was never a partition');
SELECT partition AS oldest FROM app.partitions
 WHERE parent = 'app.pt_rollup'::regclass ORDER BY lower_bound LIMIT 1 \gset
ALTER TABLE app.pt_rollup DETACH PARTITION :oldest;
SELECT ok(app.partition_drop_detached(:'oldest'), 'once detached, it is dropped');
SELECT hasnt_table('app', substr(:'oldest', 5), 'and gone');
SELECT is(app.partition_drop_detached(:'oldest'), false,
    'a second drop finds nothing to do');

-- A partition detached whose drop never ran (the owner's connection
-- lost in between) is found and dropped by the next maintenance.
SELECT partition AS left_over FROM app.partitions
 WHERE parent = 'app.pt_rollup'::regclass ORDER BY lower_bound LIMIT 1 \gset
ALTER TABLE app.pt_rollup DETACH PARTITION :left_over;
SELECT results_eq($$SELECT partition_name, statement
    FROM app.partition_expired(interval '48 hours', interval '7 days')
   WHERE parent = 'app.pt_rollup'::regclass AND statement IS NULL$$,
    format($$VALUES (%L, NULL::text)$$, :'left_over'),
    'partition_expired lists a left-over detached table, drop only');
SELECT * FROM app.partition_maintain(NULL, 3, interval '48 hours',
    interval '7 days', true);
SELECT hasnt_table('app', substr(:'left_over', 5),
    'partition_maintain drops it');

SELECT throws_ok($$SELECT * FROM app.partition_maintain(interval '1 ms', 24,
    interval '1 hour', interval '1 day', true)$$, '22023', NULL,
    'a width under a second is refused');
SELECT throws_ok($$SELECT * FROM app.partition_maintain(NULL, 100000,
    interval '1 hour', interval '1 day', true)$$, '22023', NULL,
    'so is more than 1000 partitions ahead');

SET LOCAL ROLE modelserver_analyst;
SELECT throws_ok($$SELECT * FROM app.partition_maintain(NULL, 24,
    interval '0 hours', interval '1 day', true)$$, '42501', NULL,
    'an analyst cannot run the maintenance (it drops data)');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
