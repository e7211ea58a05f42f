-- 90_privileges.sql: least privilege (sql/90_grants.sql).  Each role has
-- exactly the table privileges it needs, and what it must not do fails.
BEGIN;
SELECT plan(36);

-- The server's role: append predictions, never change or delete them.
SELECT table_privs_are('app', 'prediction_metrics', 'modelserver_app',
    ARRAY['SELECT', 'INSERT'], 'app: predictions are append-only');
SELECT table_privs_are('app', 'model_versions', 'modelserver_app',
    ARRAY['SELECT', 'INSERT'], 'app: registers model versions, no more');
SELECT table_privs_are('app', 'schema_migrations', 'modelserver_app',
    ARRAY['SELECT'], 'app: reads the migration ledger only');
SELECT table_privs_are('app', 'rate_limits', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    'app: owns the rate-limit state');
SELECT table_privs_are('app', 'metric_thresholds', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE'], 'app: reads and sets thresholds');
SELECT table_privs_are('app', 'metric_threshold_changes', 'modelserver_app',
    ARRAY['SELECT', 'INSERT'], 'app: threshold history is append-only');
SELECT table_privs_are('app', 'gemini_cache', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'app: owns the cache');
SELECT table_privs_are('app', 'gemini_leases', 'modelserver_app',
    ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'], 'app: owns the leases');

-- The analyst: SELECT and nothing else, on the documented relations.
SELECT table_privs_are('app', t, 'modelserver_analyst', ARRAY['SELECT'],
    'analyst: SELECT only on ' || t)
  FROM unnest(ARRAY['prediction_metrics', 'model_versions',
      'schema_migrations', 'metric_thresholds', 'metric_threshold_changes',
      'metrics_per_minute', 'metrics_per_model_version',
      'metrics_status_last_hour', 'gemini_cache', 'latency_percentiles_hourly',
      'label_distribution_hourly', 'threshold_history']) AS t;
SELECT table_privs_are('app', 'rate_limits', 'modelserver_analyst',
    ARRAY[]::text[], 'analyst: no access to rate-limit state (client IPs)');
SELECT table_privs_are('app', 'gemini_leases', 'modelserver_analyst',
    ARRAY[]::text[], 'analyst: no access to the leases');

-- Neither may create objects or own anything.
SELECT ok(NOT has_schema_privilege('modelserver_app', 'app', 'CREATE'),
    'app cannot create objects in schema app');
SELECT ok(NOT has_schema_privilege('modelserver_analyst', 'app', 'CREATE'),
    'analyst cannot create objects in schema app');
SELECT ok(NOT has_database_privilege('modelserver_app', current_database(),
    'CREATE'), 'app cannot create schemas');
SELECT is_empty($$SELECT c.relname FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'app' AND pg_get_userbyid(c.relowner) <> 'modelserver'$$,
    'the owner role owns every relation in app');
SELECT ok(NOT r.rolsuper AND NOT r.rolcreaterole AND NOT r.rolcreatedb AND
    NOT r.rolbypassrls, 'app has no special attributes')
  FROM pg_roles r WHERE r.rolname = 'modelserver_app';
SELECT ok(NOT r.rolsuper AND NOT r.rolcreaterole AND NOT r.rolcreatedb AND
    NOT r.rolbypassrls, 'analyst has no special attributes')
  FROM pg_roles r WHERE r.rolname = 'modelserver_analyst';

-- Behaviour: what the roles try and the database refuses (42501).
-- (SET LOCAL ROLE inside throws_ok is undone with its subtransaction.)
INSERT INTO app.model_versions (name, version) VALUES ('p', '1.0.0');
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip)
SELECT gen_random_uuid(), id, 'neutral', 1, 0.1, 3, 0, 0, 1, 0, '10.9.9.9'
  FROM app.model_versions WHERE name = 'p';
SELECT throws_ok($$SET LOCAL ROLE modelserver_app;
    DELETE FROM app.prediction_metrics$$, '42501', NULL,
    'app cannot delete predictions');
SELECT throws_ok($$SET LOCAL ROLE modelserver_app;
    UPDATE app.prediction_metrics SET label = 'positive'$$, '42501', NULL,
    'app cannot rewrite predictions');
SELECT throws_ok($$SET LOCAL ROLE modelserver_app;
    TRUNCATE app.prediction_metrics$$, '42501', NULL,
    'app cannot truncate predictions');
SELECT throws_ok($$SET LOCAL ROLE modelserver_app;
    DROP TABLE app.rate_limits$$, '42501', NULL, 'app cannot drop tables');
SELECT throws_ok($$SET LOCAL ROLE modelserver_analyst;
    INSERT INTO app.model_versions (name, version) VALUES ('x', '1.0.0')$$,
    '42501', NULL, 'analyst cannot insert');
SELECT throws_ok($$SET LOCAL ROLE modelserver_analyst;
    UPDATE app.metric_thresholds SET min_confidence_warning = 0.9$$,
    '42501', NULL, 'analyst cannot change thresholds');
SELECT throws_ok($$SET LOCAL ROLE modelserver_analyst;
    SELECT * FROM app.rate_limits$$, '42501', NULL,
    'analyst cannot read client rate-limit state');
SELECT throws_ok($$SET LOCAL ROLE modelserver_analyst;
    SELECT app.rate_limit_prune()$$, '42501', NULL,
    'analyst cannot prune (the function runs with its rights)');

SELECT * FROM finish();
ROLLBACK;
