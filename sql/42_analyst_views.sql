-- 42_analyst_views.sql: more read-only views for analysts: latency
-- percentiles, the label distribution, and the threshold history in long
-- form.  Re-applied after every migrate; dropped and re-created.

DROP VIEW IF EXISTS app.latency_percentiles_hourly;
CREATE VIEW app.latency_percentiles_hourly AS
SELECT a.tb AS hour,
       v.name AS model_name,
       v.version AS model_version,
       a.total_predictions,
       least(greatest(app.rollup_quantile(a.hist_values, a.hist_counts, 0.50),
           a.min_inference_time_ms), a.max_inference_time_ms)
           AS p50_inference_time_ms,
       least(greatest(app.rollup_quantile(a.hist_values, a.hist_counts, 0.90),
           a.min_inference_time_ms), a.max_inference_time_ms)
           AS p90_inference_time_ms,
       a.p95_inference_time_ms,
       least(greatest(app.rollup_quantile(a.hist_values, a.hist_counts, 0.99),
           a.min_inference_time_ms), a.max_inference_time_ms)
           AS p99_inference_time_ms,
       a.max_inference_time_ms
  -- Hour rollups, and for the current hour the finer levels and raw
  -- rows (sql/35_rollups.sql).
  FROM app.rollup_aggregate(app.rollup_floor(now(), interval '1 hour')
           - interval '7 days', now(), NULL, interval '1 hour', true) a
  JOIN app.model_versions v ON v.id = a.model_version_id;

COMMENT ON VIEW app.latency_percentiles_hourly IS
    'Per hour (UTC-aligned) and model version, the last 7 days: '
    'inference-time percentiles (percentile_cont: exact below 2.048 ms, '
    'within 0.05 % above) and the maximum, from the hourly rollups.';
COMMENT ON COLUMN app.latency_percentiles_hourly.hour IS
    'Start of the hour, [hour, hour + 1 h).';
COMMENT ON COLUMN app.latency_percentiles_hourly.model_name IS
    'Model name.';
COMMENT ON COLUMN app.latency_percentiles_hourly.model_version IS
    'Model version.';
COMMENT ON COLUMN app.latency_percentiles_hourly.total_predictions IS
    'Predictions recorded in the hour.';
COMMENT ON COLUMN app.latency_percentiles_hourly.p50_inference_time_ms IS
    'Median inference time in ms.';
COMMENT ON COLUMN app.latency_percentiles_hourly.p90_inference_time_ms IS
    '90th percentile of the inference time in ms.';
COMMENT ON COLUMN app.latency_percentiles_hourly.p95_inference_time_ms IS
    '95th percentile of the inference time in ms (the status rule''s).';
COMMENT ON COLUMN app.latency_percentiles_hourly.p99_inference_time_ms IS
    '99th percentile of the inference time in ms.';
COMMENT ON COLUMN app.latency_percentiles_hourly.max_inference_time_ms IS
    'Slowest inference in ms.';

DROP VIEW IF EXISTS app.label_distribution_hourly;
CREATE VIEW app.label_distribution_hourly AS
SELECT a.tb AS hour,
       v.name AS model_name,
       v.version AS model_version,
       l.label,
       l.n AS predictions,
       l.n::double precision / a.total_predictions AS share,
       (l.conf / l.n)::double precision AS average_confidence,
       (l.compound / l.n)::double precision AS average_compound
  -- Hour rollups, the per-label sums in them; the current hour from the
  -- finer levels and raw rows (sql/35_rollups.sql).
  FROM app.rollup_aggregate(app.rollup_floor(now(), interval '1 hour')
           - interval '7 days', now(), NULL, interval '1 hour', true) a
  JOIN app.model_versions v ON v.id = a.model_version_id
 CROSS JOIN LATERAL (VALUES
           ('positive', a.positive, a.positive_conf_sum,
            a.positive_compound_sum),
           ('negative', a.negative, a.negative_conf_sum,
            a.negative_compound_sum),
           ('neutral', a.neutral, a.neutral_conf_sum,
            a.neutral_compound_sum)) AS l(label, n, conf, compound)
 WHERE l.n > 0;

COMMENT ON VIEW app.label_distribution_hourly IS
    'Per hour, model version and label, the last 7 days: how many '
    'predictions got the label, their share of the hour, and their '
    'average confidence and compound score (served predictions; from the '
    'hourly rollups).  Labels absent in an hour have no row.';
COMMENT ON COLUMN app.label_distribution_hourly.hour IS
    'Start of the hour, [hour, hour + 1 h).';
COMMENT ON COLUMN app.label_distribution_hourly.model_name IS 'Model name.';
COMMENT ON COLUMN app.label_distribution_hourly.model_version IS
    'Model version.';
COMMENT ON COLUMN app.label_distribution_hourly.label IS
    'positive, negative or neutral.';
COMMENT ON COLUMN app.label_distribution_hourly.predictions IS
    'Predictions with this label in the hour.';
COMMENT ON COLUMN app.label_distribution_hourly.share IS
    'Fraction of the hour''s predictions (of this model version) with '
    'this label, 0..1.';
COMMENT ON COLUMN app.label_distribution_hourly.average_confidence IS
    'Mean confidence of these predictions; NULL for an hour folded before '
    'migration 0012 whose raw rows are gone.';
COMMENT ON COLUMN app.label_distribution_hourly.average_compound IS
    'Mean VADER compound score of these predictions (NULL as '
    'average_confidence).';

DROP VIEW IF EXISTS app.threshold_history;
CREATE VIEW app.threshold_history AS
SELECT c.id AS change_id,
       c.changed_at,
       c.model_name,
       c.operation,
       c.changed_by,
       c.db_user,
       f.threshold,
       f.old_value,
       f.new_value
  FROM app.metric_threshold_changes c
 CROSS JOIN LATERAL (VALUES
       ('min_confidence_warning', c.old_min_confidence_warning,
        c.new_min_confidence_warning),
       ('min_confidence_critical', c.old_min_confidence_critical,
        c.new_min_confidence_critical),
       ('max_inference_time_warning_ms',
        c.old_max_inference_time_warning_ms,
        c.new_max_inference_time_warning_ms),
       ('max_inference_time_critical_ms',
        c.old_max_inference_time_critical_ms,
        c.new_max_inference_time_critical_ms))
       AS f(threshold, old_value, new_value)
 WHERE f.old_value IS DISTINCT FROM f.new_value;

COMMENT ON VIEW app.threshold_history IS
    'Every threshold change, one row per value that changed (from '
    'app.metric_threshold_changes): who, when, old and new.';
COMMENT ON COLUMN app.threshold_history.change_id IS
    'metric_threshold_changes.id: values changed together share it.';
COMMENT ON COLUMN app.threshold_history.changed_at IS 'When.';
COMMENT ON COLUMN app.threshold_history.model_name IS
    'Whose thresholds (a model name, or default).';
COMMENT ON COLUMN app.threshold_history.operation IS
    'insert, update or delete.';
COMMENT ON COLUMN app.threshold_history.changed_by IS
    'The HTTP client (or database client) that asked for it.';
COMMENT ON COLUMN app.threshold_history.db_user IS
    'The database role that made the change.';
COMMENT ON COLUMN app.threshold_history.threshold IS
    'Which threshold.';
COMMENT ON COLUMN app.threshold_history.old_value IS
    'Before (NULL for an insert).';
COMMENT ON COLUMN app.threshold_history.new_value IS
    'After (NULL for a delete).';
