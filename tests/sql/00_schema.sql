-- 00_schema.sql: the shape of the schema, its constraints and the
-- migration ledger.  Later files test behaviour.
BEGIN;
SELECT plan(48);

SELECT has_schema('app');
SELECT has_table('app', 'model_versions', 'model_versions exists');
SELECT has_table('app', 'prediction_metrics', 'prediction_metrics exists');
SELECT has_table('app', 'schema_migrations', 'the migration ledger exists');
SELECT has_table('app', 'rate_limits', 'rate_limits exists');

-- model_versions
SELECT col_is_pk('app', 'model_versions', 'id', 'model_versions.id is the key');
SELECT col_type_is('app', 'model_versions', 'name', 'text', 'name is text');
SELECT col_type_is('app', 'model_versions', 'version', 'text', 'version is text');
SELECT col_not_null('app', 'model_versions', 'version', 'version is required');
SELECT col_type_is('app', 'model_versions', 'created_at',
    'timestamp with time zone', 'created_at is timestamptz');
SELECT col_is_unique('app', 'model_versions', ARRAY['name', 'version'],
    '(name, version) is unique');

-- prediction_metrics
SELECT col_is_pk('app', 'prediction_metrics',
    ARRAY['prediction_id', 'created_at'],
    'the key is (prediction_id, created_at): it must hold the partition key');
SELECT col_type_is('app', 'prediction_metrics', 'prediction_id', 'uuid',
    'prediction_id is a uuid');
SELECT hasnt_fk('app', 'prediction_metrics',
    'no foreign key: dropping a partition would lock model_versions');
SELECT col_type_is('app', 'prediction_metrics', 'confidence',
    'double precision', 'confidence is double precision');
SELECT col_type_is('app', 'prediction_metrics', 'inference_time_ms',
    'double precision', 'inference_time_ms is double precision');
SELECT col_type_is('app', 'prediction_metrics', 'client_ip', 'inet',
    'client_ip is inet');
SELECT col_type_is('app', 'prediction_metrics', 'created_at',
    'timestamp with time zone', 'created_at is timestamptz');
SELECT col_default_is('app', 'prediction_metrics', 'created_at', 'now()',
    'created_at defaults to now()');
SELECT columns_are('app', 'prediction_metrics', ARRAY[
    'prediction_id', 'model_version_id', 'label', 'confidence',
    'inference_time_ms', 'input_length', 'compound', 'pos', 'neu', 'neg',
    'client_ip', 'created_at', 'shadow_of'],
    'prediction_metrics has exactly its columns');
SELECT has_index('app', 'prediction_metrics',
    'prediction_metrics_created_at_idx', ARRAY['created_at'],
    'a plain time index for the raw edges of a window');
SELECT hasnt_index('app', 'prediction_metrics',
    'prediction_metrics_model_created_at_idx',
    'no per-model index: the raw edges are read by time');

-- Constraints, on real inserts.
INSERT INTO app.model_versions (name, version) VALUES ('t', '1.2.3');
SELECT throws_ok($$INSERT INTO app.model_versions (name, version)
    VALUES ('t', '1.0')$$, '23514', NULL, 'a version "1.0" is rejected');
SELECT throws_ok($$INSERT INTO app.model_versions (name, version)
    VALUES ('t', '01.2.3')$$, '23514', NULL, 'a leading zero is rejected');
SELECT throws_ok($$INSERT INTO app.model_versions (name, version)
    VALUES ('t', '1.2.3')$$, '23505', NULL, 'a duplicate version is rejected');
SELECT throws_ok($$INSERT INTO app.model_versions (name, version)
    VALUES ('Bad Name', '1.2.3')$$, '23514', NULL, 'a bad name is rejected');

CREATE TEMP TABLE good AS SELECT
    gen_random_uuid() AS prediction_id,
    (SELECT id FROM app.model_versions WHERE name = 't') AS model_version_id,
    'positive'::text AS label, 0.5::float8 AS confidence,
    1.25::float8 AS inference_time_ms, 10 AS input_length,
    0.5::float8 AS compound, 0.5::float8 AS pos, 0.5::float8 AS neu,
    0.0::float8 AS neg, '10.0.0.1'::inet AS client_ip;

SELECT lives_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip) SELECT * FROM good$$,
    'a valid row is accepted');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, label, 1.5,
    inference_time_ms, input_length, compound, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'a confidence of 1.5 is rejected');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, label, -0.01,
    inference_time_ms, input_length, compound, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'a negative confidence is rejected');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, 'happy', confidence,
    inference_time_ms, input_length, compound, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'an unknown label is rejected');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, label, confidence,
    -1, input_length, compound, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'a negative inference time is rejected');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, label, confidence,
    inference_time_ms, 1001, compound, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'an input of 1001 code points is rejected');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip)
    SELECT gen_random_uuid(), model_version_id, label, confidence,
    inference_time_ms, input_length, 1.5, pos, neu, neg, client_ip
    FROM good$$, '23514', NULL, 'a compound outside -1..1 is rejected');
SELECT throws_ok($$DELETE FROM app.model_versions WHERE name = 't'$$,
    '23503', NULL, 'a model version is never deleted (rows hold its id)');
SELECT throws_ok($$TRUNCATE app.model_versions CASCADE$$, '23503', NULL,
    'nor truncated');
SELECT throws_ok($$INSERT INTO app.prediction_metrics (prediction_id,
    model_version_id, label, confidence, inference_time_ms, input_length,
    compound, pos, neu, neg, client_ip) SELECT * FROM good$$,
    '23505', NULL, 'a prediction_id is recorded once at its time');

-- model_version_id registers once and returns the same id.
SELECT is(app.model_version_id('m', '2.0.0'), app.model_version_id('m', '2.0.0'),
    'model_version_id is stable');
SELECT is((SELECT count(*) FROM app.model_versions WHERE name = 'm')::int, 1,
    'model_version_id registers a version once');
SELECT throws_ok($$SELECT app.model_version_id('m', 'x.y')$$, '23514', NULL,
    'model_version_id refuses a bad version');

-- The ledger.
SELECT ok((SELECT count(*) >= 2 FROM app.schema_migrations),
    'the ledger records the migrations');
SELECT is((SELECT name FROM app.schema_migrations WHERE version = '0001'),
    '0001_create_core_tables.sql', 'the ledger names 0001');
SELECT is((SELECT name FROM app.schema_migrations WHERE version = '0002'),
    '0002_create_rate_limits.sql', 'the ledger names 0002');
SELECT is_empty($$SELECT version FROM app.schema_migrations
    WHERE checksum !~ '^[0-9a-f]{64}$'$$, 'every entry has a sha256');
SELECT is_empty($$SELECT version FROM app.schema_migrations
    WHERE name NOT LIKE version || '\_%'$$, 'names start with their version');
SELECT throws_ok($$INSERT INTO app.schema_migrations (version, name, checksum)
    VALUES ('12', 'x.sql', repeat('a', 64))$$, '23514', NULL,
    'a version is four digits');

-- Documentation: analysts read COMMENTs in pgAdmin.
SELECT is_empty($$
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'app' AND c.relkind IN ('r', 'p', 'v', 'm')
       AND obj_description(c.oid, 'pg_class') IS NULL$$,
    'every table and view in app has a COMMENT');
SELECT is_empty($$
    SELECT c.relname || '.' || a.attname
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
           AND NOT a.attisdropped
     WHERE n.nspname = 'app' AND c.relkind IN ('r', 'p', 'v', 'm')
       AND col_description(c.oid, a.attnum) IS NULL$$,
    'every column in app has a COMMENT');
SELECT is_empty($$
    SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname = 'app' AND obj_description(p.oid, 'pg_proc') IS NULL$$,
    'every function in app has a COMMENT');

SELECT * FROM finish();
ROLLBACK;
