-- 0003_create_metric_thresholds.sql: the thresholds that turn metrics
-- into a status (normal / warning / critical), kept as data, and the
-- history of every change to them.
--
-- The rules live in CHECK constraints, so no client (the server, psql,
-- pgAdmin) can store an inconsistent set.  Every INSERT or UPDATE that
-- changes a value is appended to metric_threshold_changes by a trigger,
-- so the history holds changes made outside the server too.  The
-- functions that read and write them are in sql/40_metrics.sql.

-- --------------------------------------------------------- metric_thresholds

CREATE TABLE app.metric_thresholds (
    model_name                     text PRIMARY KEY
                                   CHECK (model_name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    min_confidence_warning         double precision NOT NULL DEFAULT 0.6,
    min_confidence_critical        double precision NOT NULL DEFAULT 0.4,
    max_inference_time_warning_ms  double precision NOT NULL DEFAULT 200,
    max_inference_time_critical_ms double precision NOT NULL DEFAULT 500,
    updated_at                     timestamptz NOT NULL DEFAULT now(),
    -- NaN compares greater than every number in PostgreSQL, so the
    -- ranges are written to fail for NaN and Infinity too.
    CONSTRAINT metric_thresholds_confidence_range CHECK (
        min_confidence_warning >= 0 AND min_confidence_warning <= 1 AND
        min_confidence_critical >= 0 AND min_confidence_critical <= 1),
    CONSTRAINT metric_thresholds_confidence_order CHECK (
        min_confidence_critical < min_confidence_warning),
    CONSTRAINT metric_thresholds_latency_range CHECK (
        max_inference_time_warning_ms > 0 AND
        max_inference_time_critical_ms > 0 AND
        max_inference_time_warning_ms < 'Infinity' AND
        max_inference_time_critical_ms < 'Infinity'),
    CONSTRAINT metric_thresholds_latency_order CHECK (
        max_inference_time_warning_ms < max_inference_time_critical_ms)
);

COMMENT ON TABLE app.metric_thresholds IS
    'Alert thresholds per model name; the row ''default'' applies to every '
    'model without its own row.  Status rule: critical when the average '
    'confidence <= min_confidence_critical or the P95 inference time >= '
    'max_inference_time_critical_ms; else warning with the warning '
    'thresholds; else normal (see app.metrics_status).  Change it with '
    'app.set_thresholds() or PUT /metrics/thresholds; every change is '
    'kept in metric_threshold_changes.';
COMMENT ON COLUMN app.metric_thresholds.model_name IS
    'Model name as in model_versions.name, or ''default''.';
COMMENT ON COLUMN app.metric_thresholds.min_confidence_warning IS
    'Average confidence at or below this (0..1) is a warning.';
COMMENT ON COLUMN app.metric_thresholds.min_confidence_critical IS
    'Average confidence at or below this (0..1, below the warning '
    'threshold) is critical.';
COMMENT ON COLUMN app.metric_thresholds.max_inference_time_warning_ms IS
    'P95 inference time at or above this many milliseconds (> 0) is a '
    'warning.';
COMMENT ON COLUMN app.metric_thresholds.max_inference_time_critical_ms IS
    'P95 inference time at or above this many milliseconds (above the '
    'warning threshold) is critical.';
COMMENT ON COLUMN app.metric_thresholds.updated_at IS
    'When a value of this row last changed.';

INSERT INTO app.metric_thresholds (model_name) VALUES ('default');

-- -------------------------------------------------- metric_threshold_changes

CREATE TABLE app.metric_threshold_changes (
    id                                 bigint GENERATED ALWAYS AS IDENTITY
                                       PRIMARY KEY,
    model_name                         text NOT NULL,
    changed_at                         timestamptz NOT NULL DEFAULT now(),
    changed_by                         inet,
    db_user                            text NOT NULL DEFAULT current_user,
    operation                          text NOT NULL
                                       CHECK (operation IN ('insert', 'update', 'delete')),
    old_min_confidence_warning         double precision,
    old_min_confidence_critical        double precision,
    old_max_inference_time_warning_ms  double precision,
    old_max_inference_time_critical_ms double precision,
    new_min_confidence_warning         double precision,
    new_min_confidence_critical        double precision,
    new_max_inference_time_warning_ms  double precision,
    new_max_inference_time_critical_ms double precision
);

-- "What changed for this model, latest first" is the one question asked
-- of the history; the table only grows by admin actions.
CREATE INDEX metric_threshold_changes_model_changed_at_idx
    ON app.metric_threshold_changes (model_name, changed_at);

COMMENT ON TABLE app.metric_threshold_changes IS
    'Append-only history of app.metric_thresholds: one row per insert, '
    'update that changed a value, or delete, written by a trigger, so '
    'changes made with plain SQL are recorded too.';
COMMENT ON COLUMN app.metric_threshold_changes.id IS
    'Order of the changes.';
COMMENT ON COLUMN app.metric_threshold_changes.model_name IS
    'The thresholds row that changed (metric_thresholds.model_name).';
COMMENT ON COLUMN app.metric_threshold_changes.changed_at IS
    'Start of the transaction that made the change.';
COMMENT ON COLUMN app.metric_threshold_changes.changed_by IS
    'The HTTP client that asked for the change (PUT /metrics/thresholds, '
    'trusted proxies honoured); for plain SQL the database client''s '
    'address, NULL over a Unix socket.';
COMMENT ON COLUMN app.metric_threshold_changes.db_user IS
    'The database role that made the change.';
COMMENT ON COLUMN app.metric_threshold_changes.operation IS
    'insert (a model got its own thresholds), update or delete.';
COMMENT ON COLUMN app.metric_threshold_changes.old_min_confidence_warning IS
    'Value before the change; NULL when the row was created.';
COMMENT ON COLUMN app.metric_threshold_changes.old_min_confidence_critical IS
    'Value before the change; NULL when the row was created.';
COMMENT ON COLUMN app.metric_threshold_changes.old_max_inference_time_warning_ms IS
    'Value before the change; NULL when the row was created.';
COMMENT ON COLUMN app.metric_threshold_changes.old_max_inference_time_critical_ms IS
    'Value before the change; NULL when the row was created.';
COMMENT ON COLUMN app.metric_threshold_changes.new_min_confidence_warning IS
    'Value after the change; NULL when the row was deleted.';
COMMENT ON COLUMN app.metric_threshold_changes.new_min_confidence_critical IS
    'Value after the change; NULL when the row was deleted.';
COMMENT ON COLUMN app.metric_threshold_changes.new_max_inference_time_warning_ms IS
    'Value after the change; NULL when the row was deleted.';
COMMENT ON COLUMN app.metric_threshold_changes.new_max_inference_time_critical_ms IS
    'Value after the change; NULL when the row was deleted.';
