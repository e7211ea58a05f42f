-- 41_metrics_views.sql: read-only views for analysts (pgAdmin, psql).
-- Re-applied after every migrate.  Views are dropped and re-created, not
-- replaced, so a column can change its type or go away; nothing in the
-- schema depends on them.
--
-- They use the same definitions as the server (half-open windows, P95
-- as percentile_cont(0.95), the status rule of app.metrics_status) and
-- read the rollups (sql/35_rollups.sql), not every raw row.

DROP VIEW IF EXISTS app.metrics_per_minute;
CREATE VIEW app.metrics_per_minute AS
SELECT a.tb AS minute,
       v.name AS model_name,
       v.version AS model_version,
       a.total_predictions,
       a.average_confidence,
       a.average_inference_time_ms,
       a.p95_inference_time_ms,
       a.max_inference_time_ms,
       a.positive,
       a.negative,
       a.neutral
  -- Minute rollups, and for the newest minutes the finer levels and the
  -- partials above the watermark (sql/35_rollups.sql).
  FROM app.rollup_aggregate(app.rollup_floor(now(), interval '1 minute')
           - interval '24 hours', now(), NULL, interval '1 minute', true) a
  JOIN app.model_versions v ON v.id = a.model_version_id;

COMMENT ON VIEW app.metrics_per_minute IS
    'Per calendar minute (UTC-aligned) and model version, the last 24 '
    'hours (the current minute is partial): count, confidence, latency '
    '(average, exact P95, max) and labels, from the rollups '
    '(app.rollup_1m) plus the raw rows not folded yet.  Minutes without predictions '
    'have no row; use app.metrics_timeseries() for gap-free buckets and '
    'app.metrics_window() for other ranges.';
COMMENT ON COLUMN app.metrics_per_minute.minute IS
    'Start of the minute, [minute, minute + 1 min).';
COMMENT ON COLUMN app.metrics_per_minute.model_name IS
    'Model name (model_versions.name).';
COMMENT ON COLUMN app.metrics_per_minute.model_version IS
    'Model version (model_versions.version).';
COMMENT ON COLUMN app.metrics_per_minute.total_predictions IS
    'Predictions answered in the minute (shadow rows not included).';
COMMENT ON COLUMN app.metrics_per_minute.average_confidence IS
    'Mean confidence (0..1).';
COMMENT ON COLUMN app.metrics_per_minute.average_inference_time_ms IS
    'Mean inference time in ms.';
COMMENT ON COLUMN app.metrics_per_minute.p95_inference_time_ms IS
    '95th percentile of the inference time in ms: percentile_cont(0.95) '
    'exactly below 2.048 ms, within 0.05 % above (docs/rollups.md).';
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
WITH span AS (
    -- All time: from the first daily rollup (or raw row) to past the
    -- newest raw row.
    SELECT coalesce(least((SELECT min(bucket) FROM app.rollup_1d),
                          (SELECT min(bucket) FROM app.rollup_1h),
                          (SELECT min(created_at) FROM app.prediction_metrics)),
                    now()) AS s,
           greatest(now(), (SELECT max(created_at) FROM app.prediction_metrics))
               + interval '1 microsecond' AS e
), a AS (
    SELECT r.* FROM span, app.rollup_aggregate(span.s, span.e, NULL, NULL,
                                               true) r
), sh AS (
    SELECT r.model_version_id, r.total_predictions
      FROM span, app.rollup_aggregate(span.s, span.e, NULL, NULL, true,
                                      true) r
)
SELECT v.name AS model_name,
       v.version AS model_version,
       coalesce(a.total_predictions, 0) AS total_predictions,
       app.rollup_first(v.id) AS first_prediction_at,
       app.rollup_last(v.id) AS last_prediction_at,
       a.average_confidence,
       a.average_inference_time_ms,
       a.p95_inference_time_ms,
       coalesce(a.positive, 0) AS positive,
       coalesce(a.negative, 0) AS negative,
       coalesce(a.neutral, 0) AS neutral,
       coalesce(sh.total_predictions, 0) AS shadow_predictions
  FROM app.model_versions v
  LEFT JOIN a ON a.model_version_id = v.id
  LEFT JOIN sh ON sh.model_version_id = v.id;

COMMENT ON VIEW app.metrics_per_model_version IS
    'All-time summary per registered model version (versions without '
    'predictions included, with count 0): count, first and last '
    'prediction, confidence, latency (average, P95) and labels.  Reads the '
    'daily and hourly rollups (kept for ever and ROLLUP_RETENTION_DAYS) '
    'plus the finer levels and raw rows of the newest day, not every '
    'prediction.';
COMMENT ON COLUMN app.metrics_per_model_version.model_name IS
    'Model name (model_versions.name).';
COMMENT ON COLUMN app.metrics_per_model_version.model_version IS
    'Model version (model_versions.version).';
COMMENT ON COLUMN app.metrics_per_model_version.total_predictions IS
    'Predictions this version answered (its shadow rows not included; '
    'the figures below are of these).';
COMMENT ON COLUMN app.metrics_per_model_version.shadow_predictions IS
    'Rows it recorded as a shadow version: scored beside the answering '
    'version, never returned.';
COMMENT ON COLUMN app.metrics_per_model_version.first_prediction_at IS
    'created_at of its first prediction, answered or shadow (app.rollup_first: exact while '
    'its raw row is kept, else the start of the finest rollup bucket '
    'holding it); NULL without predictions.';
COMMENT ON COLUMN app.metrics_per_model_version.last_prediction_at IS
    'created_at of its latest prediction (app.rollup_last, as '
    'first_prediction_at); NULL without predictions.';
COMMENT ON COLUMN app.metrics_per_model_version.average_confidence IS
    'Mean confidence (0..1).';
COMMENT ON COLUMN app.metrics_per_model_version.average_inference_time_ms IS
    'Mean inference time in ms.';
COMMENT ON COLUMN app.metrics_per_model_version.p95_inference_time_ms IS
    '95th percentile of the inference time in ms (exact below 2.048 ms, '
    'within 0.05 % above).';
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
