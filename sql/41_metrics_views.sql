-- 41_metrics_views.sql: read-only views for analysts (pgAdmin, psql).
-- Re-applied after every migrate.  Views are dropped and re-created, not
-- replaced, so a column can change its type or go away; nothing in the
-- schema depends on them.
--
-- They use the same definitions as the server (half-open windows, exact
-- P95 with percentile_cont(0.95), the status rule of app.metrics_status).

DROP VIEW IF EXISTS app.metrics_per_minute;
CREATE VIEW app.metrics_per_minute AS
SELECT date_trunc('minute', p.created_at) AS minute,
       v.name AS model_name,
       v.version AS model_version,
       count(*) AS total_predictions,
       avg(p.confidence) AS average_confidence,
       avg(p.inference_time_ms) AS average_inference_time_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY p.inference_time_ms)
           AS p95_inference_time_ms,
       max(p.inference_time_ms) AS max_inference_time_ms,
       count(*) FILTER (WHERE p.label = 'positive') AS positive,
       count(*) FILTER (WHERE p.label = 'negative') AS negative,
       count(*) FILTER (WHERE p.label = 'neutral') AS neutral
  FROM app.prediction_metrics p
  JOIN app.model_versions v ON v.id = p.model_version_id
 -- A range on created_at itself, so the index bounds the scan; a filter
 -- on "minute" alone could not use it.
 WHERE p.created_at >= date_trunc('minute', now()) - interval '24 hours'
 GROUP BY 1, 2, 3;

COMMENT ON VIEW app.metrics_per_minute IS
    'Per calendar minute (UTC-aligned) and model version, the last 24 '
    'hours (the current minute is partial): count, confidence, latency '
    '(average, exact P95, max) and labels.  Minutes without predictions '
    'have no row; use app.metrics_timeseries() for gap-free buckets and '
    'app.metrics_window() for other ranges.';
COMMENT ON COLUMN app.metrics_per_minute.minute IS
    'Start of the minute, [minute, minute + 1 min).';
COMMENT ON COLUMN app.metrics_per_minute.model_name IS
    'Model name (model_versions.name).';
COMMENT ON COLUMN app.metrics_per_minute.model_version IS
    'Model version (model_versions.version).';
COMMENT ON COLUMN app.metrics_per_minute.total_predictions IS
    'Predictions recorded in the minute.';
COMMENT ON COLUMN app.metrics_per_minute.average_confidence IS
    'Mean confidence (0..1).';
COMMENT ON COLUMN app.metrics_per_minute.average_inference_time_ms IS
    'Mean inference time in ms.';
COMMENT ON COLUMN app.metrics_per_minute.p95_inference_time_ms IS
    'Exact 95th percentile of the inference time in ms '
    '(percentile_cont(0.95)).';
COMMENT ON COLUMN app.metrics_per_minute.max_inference_time_ms IS
    'Slowest inference in ms.';
COMMENT ON COLUMN app.metrics_per_minute.positive IS
    'Predictions labelled positive.';
COMMENT ON COLUMN app.metrics_per_minute.negative IS
    'Predictions labelled negative.';
COMMENT ON COLUMN app.metrics_per_minute.neutral IS
    'Predictions labelled neutral.';

DROP VIEW IF EXISTS app.metrics_per_model_version;
CREATE VIEW app.metrics_per_model_version AS
SELECT v.name AS model_name,
       v.version AS model_version,
       count(p.prediction_id) AS total_predictions,
       min(p.created_at) AS first_prediction_at,
       max(p.created_at) AS last_prediction_at,
       avg(p.confidence) AS average_confidence,
       avg(p.inference_time_ms) AS average_inference_time_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY p.inference_time_ms)
           AS p95_inference_time_ms,
       count(*) FILTER (WHERE p.label = 'positive') AS positive,
       count(*) FILTER (WHERE p.label = 'negative') AS negative,
       count(*) FILTER (WHERE p.label = 'neutral') AS neutral
  FROM app.model_versions v
  LEFT JOIN app.prediction_metrics p ON p.model_version_id = v.id
 GROUP BY v.id, v.name, v.version;

COMMENT ON VIEW app.metrics_per_model_version IS
    'All-time summary per registered model version (versions without '
    'predictions included, with count 0): count, first and last '
    'prediction, confidence, latency (average, exact P95) and labels.  '
    'Reads every prediction: for recent figures use metrics_per_minute or '
    'app.metrics_window().';
COMMENT ON COLUMN app.metrics_per_model_version.model_name IS
    'Model name (model_versions.name).';
COMMENT ON COLUMN app.metrics_per_model_version.model_version IS
    'Model version (model_versions.version).';
COMMENT ON COLUMN app.metrics_per_model_version.total_predictions IS
    'Predictions ever recorded by this version.';
COMMENT ON COLUMN app.metrics_per_model_version.first_prediction_at IS
    'created_at of its first prediction; NULL without predictions.';
COMMENT ON COLUMN app.metrics_per_model_version.last_prediction_at IS
    'created_at of its latest prediction; NULL without predictions.';
COMMENT ON COLUMN app.metrics_per_model_version.average_confidence IS
    'Mean confidence (0..1).';
COMMENT ON COLUMN app.metrics_per_model_version.average_inference_time_ms IS
    'Mean inference time in ms.';
COMMENT ON COLUMN app.metrics_per_model_version.p95_inference_time_ms IS
    'Exact 95th percentile of the inference time in ms.';
COMMENT ON COLUMN app.metrics_per_model_version.positive IS
    'Predictions labelled positive.';
COMMENT ON COLUMN app.metrics_per_model_version.negative IS
    'Predictions labelled negative.';
COMMENT ON COLUMN app.metrics_per_model_version.neutral IS
    'Predictions labelled neutral.';

DROP VIEW IF EXISTS app.metrics_status_last_hour;
CREATE VIEW app.metrics_status_last_hour AS
SELECT s.scope AS model_name,
       m.total_predictions,
       m.average_confidence,
       m.p95_inference_time_ms,
       app.metrics_classify(m.average_confidence, m.p95_inference_time_ms,
           t.min_confidence_warning, t.min_confidence_critical,
           t.max_inference_time_warning_ms,
           t.max_inference_time_critical_ms) AS status,
       t.model_name AS thresholds_from
  FROM (SELECT NULL::text AS scope
        UNION ALL
        SELECT DISTINCT name FROM app.model_versions) s
 CROSS JOIN LATERAL app.metrics_window(now() - interval '60 minutes', now(),
                                       s.scope) m
 CROSS JOIN LATERAL app.thresholds_for(s.scope) t;

COMMENT ON VIEW app.metrics_status_last_hour IS
    'What POST /metrics/aggregated says now for the default 60-minute '
    'window: one row for all models together (model_name NULL) and one '
    'per model name, with the status and the thresholds row used.';
COMMENT ON COLUMN app.metrics_status_last_hour.model_name IS
    'Model name, or NULL for every model together.';
COMMENT ON COLUMN app.metrics_status_last_hour.total_predictions IS
    'Predictions in [now - 60 min, now).';
COMMENT ON COLUMN app.metrics_status_last_hour.average_confidence IS
    'Mean confidence; NULL without predictions.';
COMMENT ON COLUMN app.metrics_status_last_hour.p95_inference_time_ms IS
    'Exact P95 inference time in ms; NULL without predictions.';
COMMENT ON COLUMN app.metrics_status_last_hour.status IS
    'normal, warning or critical (rule: app.metrics_status).';
COMMENT ON COLUMN app.metrics_status_last_hour.thresholds_from IS
    'The metric_thresholds row applied: the model''s own or default.';
