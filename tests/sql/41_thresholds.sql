-- 41_thresholds.sql: metric_thresholds (CHECKs, the default row),
-- app.set_thresholds / thresholds_for, the change history and who may
-- change what (migrations/0003, sql/40_thresholds.sql, sql/90_grants.sql).
BEGIN;
SELECT plan(54);

SELECT has_table('app', 'metric_thresholds', 'metric_thresholds exists');
SELECT has_table('app', 'metric_threshold_changes',
    'metric_threshold_changes exists');
SELECT col_is_pk('app', 'metric_thresholds', 'model_name',
    'thresholds are keyed by model name');
SELECT has_trigger('app', 'metric_thresholds', 'metric_thresholds_audit',
    'the audit trigger is installed');
SELECT has_function('app', 'thresholds_for', ARRAY['text'],
    'thresholds_for(text) exists');
SELECT has_function('app', 'metrics_status',
    ARRAY['double precision', 'double precision', 'text'],
    'metrics_status(float8, float8, text) exists');

-- The migration's default row, whatever earlier runs did.
SELECT is((SELECT (min_confidence_warning, min_confidence_critical,
                   max_inference_time_warning_ms,
                   max_inference_time_critical_ms)::text
             FROM app.metric_thresholds WHERE model_name = 'default'),
    '(0.6,0.4,200,500)', 'defaults 0.6 / 0.4 / 200 / 500');
SELECT is((SELECT model_name FROM app.thresholds_for(NULL)), 'default',
    'thresholds_for(NULL) is the default row');
SELECT is((SELECT model_name FROM app.thresholds_for('vader')), 'default',
    'a model without its own row gets the default row');

-- ------------------------------------------------------------- the CHECKs

SELECT throws_ok($$UPDATE app.metric_thresholds SET min_confidence_warning = 1.1
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: a warning confidence above 1 is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds SET min_confidence_critical = -0.1
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: a negative critical confidence is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds SET min_confidence_critical = 0.6
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: critical confidence equal to warning is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds SET min_confidence_critical = 0.7
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: critical confidence above warning is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds SET min_confidence_warning = 'NaN'
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: a NaN confidence is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_warning_ms = 0 WHERE model_name = 'default'$$,
    '23514', NULL, 'CHECK: a latency of 0 is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_warning_ms = -5 WHERE model_name = 'default'$$,
    '23514', NULL, 'CHECK: a negative latency is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_warning_ms = 500 WHERE model_name = 'default'$$,
    '23514', NULL, 'CHECK: latency warning equal to critical is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_critical_ms = 100 WHERE model_name = 'default'$$,
    '23514', NULL, 'CHECK: latency critical below warning is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_critical_ms = 'Infinity'
    WHERE model_name = 'default'$$, '23514', NULL,
    'CHECK: an infinite latency is rejected');
SELECT throws_ok($$UPDATE app.metric_thresholds
    SET max_inference_time_critical_ms = 'NaN' WHERE model_name = 'default'$$,
    '23514', NULL, 'CHECK: a NaN latency is rejected');
SELECT throws_ok($$INSERT INTO app.metric_thresholds (model_name)
    VALUES ('Bad Name')$$, '23514', NULL,
    'CHECK: a model name must look like model_versions.name');
SELECT is_empty($$SELECT 1 FROM app.metric_threshold_changes$$,
    'rejected changes leave no history');
SELECT throws_ok($$DELETE FROM app.metric_thresholds
    WHERE model_name = 'default'$$, '23514', NULL,
    'the default row cannot be deleted');
SELECT throws_ok($$UPDATE app.metric_thresholds SET model_name = 'x'
    WHERE model_name = 'default'$$, '23514', NULL,
    'the default row cannot be renamed');

-- ------------------------------------------------------------ set_thresholds

CREATE TEMP TABLE r1 AS SELECT * FROM app.set_thresholds('default', 0.7, NULL,
    NULL, NULL, '192.0.2.7');
SELECT is((SELECT (model_name, min_confidence_warning, min_confidence_critical,
                   max_inference_time_warning_ms,
                   max_inference_time_critical_ms, changed)::text FROM r1),
    '(default,0.7,0.4,200,500,t)',
    'a partial update changes one value and keeps the others');
SELECT is((SELECT updated_at FROM r1), now(), 'updated_at is set');
SELECT is((SELECT count(*)::int FROM app.metric_threshold_changes), 1,
    'the change is in the history');
SELECT is((SELECT (model_name, changed_by, operation,
                   old_min_confidence_warning, new_min_confidence_warning,
                   old_max_inference_time_critical_ms,
                   new_max_inference_time_critical_ms, db_user = current_user,
                   changed_at = now())::text
             FROM app.metric_threshold_changes),
    '(default,192.0.2.7,update,0.6,0.7,500,500,t,t)',
    'history: who (client IP), when, old and new values');

SELECT is((SELECT changed FROM app.set_thresholds('default', 0.7)), false,
    'setting the same value is not a change');
SELECT is((SELECT count(*)::int FROM app.metric_threshold_changes), 1,
    'a no-op writes no history');

SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', NULL, 0.8)$$,
    '23514', 'min_confidence_critical (0.8) must be below min_confidence_warning (0.7)',
    'a partial update is checked against the stored values, naming both');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', 0.3)$$,
    '23514', 'min_confidence_critical (0.4) must be below min_confidence_warning (0.3)',
    'lowering warning below the stored critical is refused');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', NULL, NULL, 600)$$,
    '23514', NULL, 'latency warning above the stored critical is refused');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', NULL, NULL,
    NULL, 150)$$, '23514', NULL,
    'latency critical below the stored warning is refused');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', 1.5)$$,
    '23514', 'min_confidence_warning must be between 0 and 1',
    'a confidence above 1 is refused by name');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', NULL, NULL,
    0)$$, '23514', NULL, 'a latency of 0 is refused');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', NULL, NULL,
    'NaN')$$, '23514', NULL, 'a NaN latency is refused');
SELECT throws_ok($$SELECT * FROM app.set_thresholds('Bad!')$$, '23514', NULL,
    'a bad model name is refused');
SELECT is((SELECT (min_confidence_warning, min_confidence_critical,
                   max_inference_time_warning_ms,
                   max_inference_time_critical_ms)::text
             FROM app.metric_thresholds WHERE model_name = 'default'),
    '(0.7,0.4,200,500)', 'refused updates changed nothing');
SELECT is((SELECT count(*)::int FROM app.metric_threshold_changes), 1,
    'refused updates wrote no history');

SELECT is((SELECT (min_confidence_warning, min_confidence_critical,
                   max_inference_time_warning_ms,
                   max_inference_time_critical_ms, changed)::text
             FROM app.set_thresholds('default', 0.8, 0.75, 100, 150)),
    '(0.8,0.75,100,150,t)',
    'all four at once may move past the old values');

-- Per model.
CREATE TEMP TABLE r2 AS SELECT * FROM app.set_thresholds('vader', NULL, NULL,
    NULL, 1000, '2001:db8::1');
SELECT is((SELECT (model_name, min_confidence_warning, min_confidence_critical,
                   max_inference_time_warning_ms,
                   max_inference_time_critical_ms)::text FROM r2),
    '(vader,0.8,0.75,100,1000)',
    'a model''s first row starts from the default row');
SELECT is((SELECT model_name FROM app.thresholds_for('vader')), 'vader',
    'thresholds_for returns the model''s own row');
SELECT is((SELECT max_inference_time_critical_ms FROM app.thresholds_for(NULL)),
    150::float8, 'the default row is untouched');
SELECT is((SELECT (operation, changed_by, old_min_confidence_warning,
                   new_max_inference_time_critical_ms)::text
             FROM app.metric_threshold_changes WHERE model_name = 'vader'),
    '(insert,2001:db8::1,,1000)', 'history: an insert has no old values');
SELECT is((SELECT app.thresholds_json('vader')::jsonb - 'updated_at'),
    '{"model_name": "vader", "requested_model_name": "vader",
      "min_confidence_warning": 0.8, "min_confidence_critical": 0.75,
      "max_inference_time_warning_ms": 100,
      "max_inference_time_critical_ms": 1000}'::jsonb,
    'thresholds_json: the GET body');
SELECT is((SELECT (app.set_thresholds_json('vader', 0.9, NULL, NULL, NULL,
    '192.0.2.1')::jsonb)->>'changed'), 'true', 'set_thresholds_json: the PUT body');

-- Plain SQL is recorded too, without an HTTP client.
UPDATE app.metric_thresholds SET max_inference_time_warning_ms = 120
 WHERE model_name = 'default';
SELECT is((SELECT (operation, changed_by IS NULL, old_max_inference_time_warning_ms,
                   new_max_inference_time_warning_ms)::text
             FROM app.metric_threshold_changes ORDER BY id DESC LIMIT 1),
    '(update,t,100,120)',
    'a plain UPDATE is recorded (no HTTP client: the socket has no address)');
DELETE FROM app.metric_thresholds WHERE model_name = 'vader';
SELECT is((SELECT (operation, old_min_confidence_warning,
                   new_min_confidence_warning)::text
             FROM app.metric_threshold_changes ORDER BY id DESC LIMIT 1),
    '(delete,0.9,)', 'a delete is recorded');
SELECT is((SELECT model_name FROM app.thresholds_for('vader')), 'default',
    'after the delete the model falls back to default');

-- ------------------------------------------------------------- privileges

SET LOCAL ROLE modelserver_app;
SELECT lives_ok($$SELECT * FROM app.set_thresholds('default', 0.85)$$,
    'the server''s role may change thresholds (and write the history)');
SELECT throws_ok($$DELETE FROM app.metric_threshold_changes$$, '42501', NULL,
    'the server''s role cannot rewrite the history');
RESET ROLE;
SET LOCAL ROLE modelserver_analyst;
SELECT throws_ok($$SELECT * FROM app.set_thresholds('default', 0.66)$$,
    '42501', NULL, 'analysts cannot change thresholds');
SELECT lives_ok($$SELECT * FROM app.metric_threshold_changes,
    app.metrics_per_model_version, app.metrics_status_last_hour$$,
    'analysts read the history and the views');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
