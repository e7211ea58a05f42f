-- 40_thresholds.sql: the thresholds of /metrics/*: the audit trigger
-- that keeps their history, app.set_thresholds() (PUT /metrics/thresholds),
-- and the status rule (app.metrics_classify, app.metrics_status).
-- Re-applied after every migrate (CREATE OR REPLACE); the tables are in
-- migrations/0003_create_metric_thresholds.sql, the tests in
-- tests/sql/41_thresholds.sql.
--
-- Order: after 40_metrics.sql (app.thresholds_json uses its
-- app.metrics_iso8601) and before 41_metrics_views.sql (its status view
-- calls app.metrics_classify and app.thresholds_for).

-- --------------------------------------------------------------- thresholds

-- Keeps the history and updated_at honest for every writer, not only the
-- server: plain UPDATEs in psql are recorded the same way.
CREATE OR REPLACE FUNCTION app.metric_thresholds_audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_by inet;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.model_name = 'default' AND
       (TG_OP = 'DELETE' OR NEW.model_name <> 'default') THEN
        RAISE EXCEPTION 'the ''default'' thresholds row cannot be deleted '
            'or renamed' USING ERRCODE = '23514',
            COLUMN = 'model_name', TABLE = 'metric_thresholds';
    END IF;
    IF TG_OP = 'UPDATE' AND
       (NEW.model_name, NEW.min_confidence_warning,
        NEW.min_confidence_critical, NEW.max_inference_time_warning_ms,
        NEW.max_inference_time_critical_ms) IS NOT DISTINCT FROM
       (OLD.model_name, OLD.min_confidence_warning,
        OLD.min_confidence_critical, OLD.max_inference_time_warning_ms,
        OLD.max_inference_time_critical_ms) THEN
        RETURN NEW;		-- nothing changed: no history, same updated_at
    END IF;

    -- set_thresholds() passes the HTTP client; plain SQL records the
    -- database client's address.
    v_by := coalesce(nullif(current_setting('modelserver.changed_by', true),
                            '')::inet, inet_client_addr());

    IF TG_OP = 'DELETE' THEN
        INSERT INTO metric_threshold_changes (model_name, changed_by,
            operation, old_min_confidence_warning,
            old_min_confidence_critical, old_max_inference_time_warning_ms,
            old_max_inference_time_critical_ms)
        VALUES (OLD.model_name, v_by, 'delete', OLD.min_confidence_warning,
            OLD.min_confidence_critical, OLD.max_inference_time_warning_ms,
            OLD.max_inference_time_critical_ms);
        RETURN OLD;
    END IF;

    NEW.updated_at := now();
    INSERT INTO metric_threshold_changes (model_name, changed_by, operation,
        old_min_confidence_warning, old_min_confidence_critical,
        old_max_inference_time_warning_ms,
        old_max_inference_time_critical_ms,
        new_min_confidence_warning, new_min_confidence_critical,
        new_max_inference_time_warning_ms,
        new_max_inference_time_critical_ms)
    VALUES (NEW.model_name, v_by, lower(TG_OP),
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.min_confidence_warning END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.min_confidence_critical END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.max_inference_time_warning_ms END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.max_inference_time_critical_ms END,
        NEW.min_confidence_warning, NEW.min_confidence_critical,
        NEW.max_inference_time_warning_ms,
        NEW.max_inference_time_critical_ms);
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION app.metric_thresholds_audit() IS
    'Trigger on metric_thresholds: refuses to delete or rename the '
    '''default'' row, sets updated_at and appends to '
    'metric_threshold_changes on every insert, delete and value-changing '
    'update (a no-op update records nothing).  The change is attributed to '
    'the setting modelserver.changed_by (set by app.set_thresholds) or '
    'else to inet_client_addr().';

-- BEFORE, so the history row and the change share one fate: a change
-- that a CHECK rejects leaves no history either.
CREATE OR REPLACE TRIGGER metric_thresholds_audit
    BEFORE INSERT OR UPDATE OR DELETE ON app.metric_thresholds
    FOR EACH ROW EXECUTE FUNCTION app.metric_thresholds_audit();

CREATE OR REPLACE FUNCTION app.thresholds_for(p_model_name text DEFAULT NULL)
RETURNS TABLE (model_name text, min_confidence_warning double precision,
               min_confidence_critical double precision,
               max_inference_time_warning_ms double precision,
               max_inference_time_critical_ms double precision,
               updated_at timestamptz)
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    SELECT t.model_name, t.min_confidence_warning, t.min_confidence_critical,
           t.max_inference_time_warning_ms, t.max_inference_time_critical_ms,
           t.updated_at
      FROM metric_thresholds t
     WHERE t.model_name IN (coalesce(p_model_name, 'default'), 'default')
     ORDER BY t.model_name = 'default'
     LIMIT 1;
$$;

COMMENT ON FUNCTION app.thresholds_for(text) IS
    'The thresholds that apply to model p_model_name: its own row of '
    'metric_thresholds, else the ''default'' row (also for NULL).  '
    'model_name says which row it was.';

-- The status rule, on explicit thresholds (pure: no table access).
CREATE OR REPLACE FUNCTION app.metrics_classify(
    p_average_confidence double precision, p_p95_ms double precision,
    p_min_confidence_warning double precision,
    p_min_confidence_critical double precision,
    p_max_inference_time_warning_ms double precision,
    p_max_inference_time_critical_ms double precision)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = app, pg_catalog
AS $$
    SELECT CASE
        WHEN p_average_confidence <= p_min_confidence_critical
          OR p_p95_ms >= p_max_inference_time_critical_ms THEN 'critical'
        WHEN p_average_confidence <= p_min_confidence_warning
          OR p_p95_ms >= p_max_inference_time_warning_ms THEN 'warning'
        ELSE 'normal'
    END;
$$;

COMMENT ON FUNCTION app.metrics_classify(double precision, double precision,
    double precision, double precision, double precision, double precision) IS
    'The status rule of app.metrics_status with the thresholds given '
    'explicitly: critical if average confidence <= min_confidence_critical '
    'or P95 latency >= max_inference_time_critical_ms; else warning if '
    'average confidence <= min_confidence_warning or P95 latency >= '
    'max_inference_time_warning_ms; else normal.  A NULL input (no data) '
    'never triggers its criterion.';

CREATE OR REPLACE FUNCTION app.metrics_status(
    p_average_confidence double precision, p_p95_ms double precision,
    p_model_name text DEFAULT NULL)
RETURNS text
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    SELECT metrics_classify(p_average_confidence, p_p95_ms,
               t.min_confidence_warning, t.min_confidence_critical,
               t.max_inference_time_warning_ms,
               t.max_inference_time_critical_ms)
      FROM thresholds_for(p_model_name) t;
$$;

COMMENT ON FUNCTION app.metrics_status(double precision, double precision,
    text) IS
    'normal, warning or critical for an average confidence and a P95 '
    'inference time (ms), with the thresholds of app.thresholds_for('
    'p_model_name).  Rule: critical if average confidence <= '
    'min_confidence_critical OR P95 latency >= '
    'max_inference_time_critical_ms; else warning if average confidence '
    '<= min_confidence_warning OR P95 latency >= '
    'max_inference_time_warning_ms; else normal.  Latency uses the P95, '
    'not the mean, so a slow tail is seen.  NULL inputs mean no data and '
    'count as normal.';

-- Writes thresholds: NULL arguments keep the stored value (a model
-- without its own row starts from the 'default' row).  Validates the
-- merged set first so the error names the field, before the CHECKs do.
CREATE OR REPLACE FUNCTION app.set_thresholds(
    p_model_name text DEFAULT 'default',
    p_min_confidence_warning double precision DEFAULT NULL,
    p_min_confidence_critical double precision DEFAULT NULL,
    p_max_inference_time_warning_ms double precision DEFAULT NULL,
    p_max_inference_time_critical_ms double precision DEFAULT NULL,
    p_changed_by inet DEFAULT NULL)
RETURNS TABLE (model_name text, min_confidence_warning double precision,
               min_confidence_critical double precision,
               max_inference_time_warning_ms double precision,
               max_inference_time_critical_ms double precision,
               updated_at timestamptz, changed boolean)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_model text := coalesce(p_model_name, 'default');
    v_cur   metric_thresholds;
    v_new   metric_thresholds;
    v_found boolean;
    v_n     integer;
BEGIN
    IF v_model !~ '^[a-z0-9][a-z0-9_.-]{0,62}$' THEN
        RAISE EXCEPTION 'model_name must be 1..63 characters of a-z, 0-9, '
            '"_", "." or "-", starting with a letter or digit'
            USING ERRCODE = '23514', COLUMN = 'model_name';
    END IF;
    IF NOT (p_min_confidence_warning >= 0 AND p_min_confidence_warning <= 1) THEN
        RAISE EXCEPTION 'min_confidence_warning must be between 0 and 1'
            USING ERRCODE = '23514', COLUMN = 'min_confidence_warning';
    END IF;
    IF NOT (p_min_confidence_critical >= 0 AND p_min_confidence_critical <= 1) THEN
        RAISE EXCEPTION 'min_confidence_critical must be between 0 and 1'
            USING ERRCODE = '23514', COLUMN = 'min_confidence_critical';
    END IF;
    IF NOT (p_max_inference_time_warning_ms > 0 AND
            p_max_inference_time_warning_ms < 'Infinity') THEN
        RAISE EXCEPTION 'max_inference_time_warning_ms must be a finite '
            'number above 0' USING ERRCODE = '23514',
            COLUMN = 'max_inference_time_warning_ms';
    END IF;
    IF NOT (p_max_inference_time_critical_ms > 0 AND
            p_max_inference_time_critical_ms < 'Infinity') THEN
        RAISE EXCEPTION 'max_inference_time_critical_ms must be a finite '
            'number above 0' USING ERRCODE = '23514',
            COLUMN = 'max_inference_time_critical_ms';
    END IF;

    -- The history trigger attributes the change to the HTTP client.
    PERFORM set_config('modelserver.changed_by',
        coalesce(host(p_changed_by), ''), true);

    -- Upsert loop: lock the row, or create it from 'default'; if another
    -- session creates it first, go round and lock theirs.
    LOOP
        SELECT * INTO v_cur FROM metric_thresholds t
         WHERE t.model_name = v_model FOR UPDATE;
        v_found := FOUND;
        IF NOT v_found THEN
            SELECT * INTO v_cur FROM metric_thresholds t
             WHERE t.model_name = 'default';
        END IF;

        v_new := v_cur;
        v_new.model_name := v_model;
        v_new.min_confidence_warning :=
            coalesce(p_min_confidence_warning, v_cur.min_confidence_warning);
        v_new.min_confidence_critical :=
            coalesce(p_min_confidence_critical, v_cur.min_confidence_critical);
        v_new.max_inference_time_warning_ms :=
            coalesce(p_max_inference_time_warning_ms,
                     v_cur.max_inference_time_warning_ms);
        v_new.max_inference_time_critical_ms :=
            coalesce(p_max_inference_time_critical_ms,
                     v_cur.max_inference_time_critical_ms);

        IF NOT (v_new.min_confidence_critical < v_new.min_confidence_warning) THEN
            RAISE EXCEPTION 'min_confidence_critical (%) must be below '
                'min_confidence_warning (%)', v_new.min_confidence_critical,
                v_new.min_confidence_warning
                USING ERRCODE = '23514', COLUMN = CASE
                    WHEN p_min_confidence_critical IS NOT NULL
                    THEN 'min_confidence_critical'
                    ELSE 'min_confidence_warning' END;
        END IF;
        IF NOT (v_new.max_inference_time_warning_ms <
                v_new.max_inference_time_critical_ms) THEN
            RAISE EXCEPTION 'max_inference_time_warning_ms (%) must be below '
                'max_inference_time_critical_ms (%)',
                v_new.max_inference_time_warning_ms,
                v_new.max_inference_time_critical_ms
                USING ERRCODE = '23514', COLUMN = CASE
                    WHEN p_max_inference_time_warning_ms IS NOT NULL
                    THEN 'max_inference_time_warning_ms'
                    ELSE 'max_inference_time_critical_ms' END;
        END IF;

        IF v_found THEN
            UPDATE metric_thresholds t
               SET min_confidence_warning = v_new.min_confidence_warning,
                   min_confidence_critical = v_new.min_confidence_critical,
                   max_inference_time_warning_ms =
                       v_new.max_inference_time_warning_ms,
                   max_inference_time_critical_ms =
                       v_new.max_inference_time_critical_ms
             WHERE t.model_name = v_model
               AND (t.min_confidence_warning, t.min_confidence_critical,
                    t.max_inference_time_warning_ms,
                    t.max_inference_time_critical_ms)
                   IS DISTINCT FROM
                   (v_new.min_confidence_warning,
                    v_new.min_confidence_critical,
                    v_new.max_inference_time_warning_ms,
                    v_new.max_inference_time_critical_ms);
            GET DIAGNOSTICS v_n = ROW_COUNT;
            EXIT;
        END IF;
        INSERT INTO metric_thresholds AS t (model_name,
            min_confidence_warning, min_confidence_critical,
            max_inference_time_warning_ms, max_inference_time_critical_ms)
        VALUES (v_model, v_new.min_confidence_warning,
            v_new.min_confidence_critical,
            v_new.max_inference_time_warning_ms,
            v_new.max_inference_time_critical_ms)
        ON CONFLICT ON CONSTRAINT metric_thresholds_pkey DO NOTHING;
        GET DIAGNOSTICS v_n = ROW_COUNT;
        EXIT WHEN v_n = 1;
    END LOOP;

    PERFORM set_config('modelserver.changed_by', '', true);

    RETURN QUERY
        SELECT t.model_name, t.min_confidence_warning,
               t.min_confidence_critical, t.max_inference_time_warning_ms,
               t.max_inference_time_critical_ms, t.updated_at, v_n = 1
          FROM metric_thresholds t
         WHERE t.model_name = v_model;
END;
$$;

COMMENT ON FUNCTION app.set_thresholds(text, double precision,
    double precision, double precision, double precision, inet) IS
    'Sets the thresholds of p_model_name (''default'' when NULL); NULL '
    'values keep the stored ones, and a model without its own row starts '
    'from the ''default'' row.  Rules: confidences in 0..1 with critical < '
    'warning; latencies finite, > 0, with warning < critical.  A violation '
    'raises SQLSTATE 23514 whose COLUMN names the field.  The change is '
    'recorded in metric_threshold_changes, attributed to p_changed_by.  '
    'Returns the stored row and whether anything changed.';

CREATE OR REPLACE FUNCTION app.thresholds_json(p_model_name text DEFAULT NULL)
RETURNS json
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    SELECT json_build_object(
        'model_name', t.model_name,
        'min_confidence_warning', t.min_confidence_warning,
        'min_confidence_critical', t.min_confidence_critical,
        'max_inference_time_warning_ms', t.max_inference_time_warning_ms,
        'max_inference_time_critical_ms', t.max_inference_time_critical_ms,
        'updated_at', metrics_iso8601(t.updated_at),
        'requested_model_name', coalesce(p_model_name, 'default'))
      FROM thresholds_for(p_model_name) t;
$$;

COMMENT ON FUNCTION app.thresholds_json(text) IS
    'The body of GET /metrics/thresholds: app.thresholds_for(p_model_name) '
    'as a JSON object; model_name names the row that applies (the model''s '
    'own or ''default''), requested_model_name what was asked for.';

CREATE OR REPLACE FUNCTION app.set_thresholds_json(
    p_model_name text, p_min_confidence_warning double precision,
    p_min_confidence_critical double precision,
    p_max_inference_time_warning_ms double precision,
    p_max_inference_time_critical_ms double precision,
    p_changed_by inet)
RETURNS json
LANGUAGE sql
VOLATILE
SET search_path = app, pg_catalog
AS $$
    SELECT json_build_object(
        'model_name', s.model_name,
        'min_confidence_warning', s.min_confidence_warning,
        'min_confidence_critical', s.min_confidence_critical,
        'max_inference_time_warning_ms', s.max_inference_time_warning_ms,
        'max_inference_time_critical_ms', s.max_inference_time_critical_ms,
        'updated_at', metrics_iso8601(s.updated_at),
        'changed', s.changed)
      FROM set_thresholds(p_model_name, p_min_confidence_warning,
               p_min_confidence_critical, p_max_inference_time_warning_ms,
               p_max_inference_time_critical_ms, p_changed_by) s;
$$;

COMMENT ON FUNCTION app.set_thresholds_json(text, double precision,
    double precision, double precision, double precision, inet) IS
    'The body of PUT /metrics/thresholds: app.set_thresholds() and the '
    'stored row as a JSON object, with changed = false for a no-op.';
