-- 11_routing.sql: the traffic split's history, its change counter and the
-- function the server calls to change it (tables: migrations/0010).
-- Re-applied after every migrate (CREATE OR REPLACE).

-- Every writer (the server, psql, pgAdmin) leaves a history row and bumps
-- the generation the servers poll, in the transaction of the change.
CREATE OR REPLACE FUNCTION app.model_routing_audit()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_by inet;
BEGIN
    IF TG_OP = 'UPDATE' AND
       (NEW.model_name, NEW.versions, NEW.weights, NEW.default_version,
        NEW.shadow_version) IS NOT DISTINCT FROM
       (OLD.model_name, OLD.versions, OLD.weights, OLD.default_version,
        OLD.shadow_version) THEN
        RETURN NEW;		-- nothing changed: no history, no reload
    END IF;
    v_by := coalesce(nullif(current_setting('modelserver.changed_by', true),
                            '')::inet, inet_client_addr());
    UPDATE routing_state SET generation = generation + 1;

    IF TG_OP = 'DELETE' THEN
        INSERT INTO model_routing_changes (model_name, changed_by,
            operation, old_versions, old_weights, old_default_version,
            old_shadow_version)
        VALUES (OLD.model_name, v_by, 'delete', OLD.versions, OLD.weights,
            OLD.default_version, OLD.shadow_version);
        RETURN OLD;
    END IF;
    NEW.updated_at := now();
    INSERT INTO model_routing_changes (model_name, changed_by, operation,
        old_versions, old_weights, old_default_version, old_shadow_version,
        new_versions, new_weights, new_default_version, new_shadow_version)
    VALUES (NEW.model_name, v_by, lower(TG_OP),
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.versions END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.weights END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.default_version END,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.shadow_version END,
        NEW.versions, NEW.weights, NEW.default_version, NEW.shadow_version);
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION app.model_routing_audit() IS
    'Trigger on model_routing: sets updated_at, appends every insert, '
    'delete and value-changing update to model_routing_changes '
    '(attributed to the setting modelserver.changed_by, else '
    'inet_client_addr()) and bumps routing_state.generation.';

-- BEFORE, so a change a CHECK rejects leaves no history and no bump.
CREATE OR REPLACE TRIGGER model_routing_audit
    BEFORE INSERT OR UPDATE OR DELETE ON app.model_routing
    FOR EACH ROW EXECUTE FUNCTION app.model_routing_audit();

-- The server's change: validated (a violation is SQLSTATE 23514 whose
-- COLUMN names the field), stored, returned.  Loaded versions are the
-- server's to check: only it knows what it holds.
CREATE OR REPLACE FUNCTION app.set_model_routing(
    p_model_name text, p_versions text[], p_weights integer[],
    p_default_version text, p_shadow_version text DEFAULT NULL,
    p_changed_by inet DEFAULT NULL)
RETURNS TABLE (model_name text, versions text[], weights integer[],
               default_version text, shadow_version text,
               updated_at timestamptz, generation bigint)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
BEGIN
    IF NOT routing_split_ok(p_versions, p_weights) THEN
        RAISE EXCEPTION 'weights must be one per version, distinct '
            'versions, each 0..100, summing to 100'
            USING ERRCODE = '23514', COLUMN = 'weights';
    END IF;
    IF p_default_version IS NULL OR NOT (p_default_version = ANY (p_versions))
    THEN
        RAISE EXCEPTION 'default_version must be one of the weighted '
            'versions' USING ERRCODE = '23514', COLUMN = 'default_version';
    END IF;
    PERFORM set_config('modelserver.changed_by',
        coalesce(p_changed_by::text, ''), true);
    -- UPDATE, else INSERT: an INSERT ... ON CONFLICT would fire the
    -- BEFORE INSERT trigger, and record an insert, before it updates.
    UPDATE model_routing AS r
       SET versions = p_versions, weights = p_weights,
           default_version = p_default_version,
           shadow_version = p_shadow_version
     WHERE r.model_name = p_model_name;
    IF NOT FOUND THEN
        INSERT INTO model_routing (model_name, versions, weights,
            default_version, shadow_version)
        VALUES (p_model_name, p_versions, p_weights, p_default_version,
            p_shadow_version);
    END IF;
    PERFORM set_config('modelserver.changed_by', '', true);
    RETURN QUERY
        SELECT r.model_name, r.versions, r.weights, r.default_version,
               r.shadow_version, r.updated_at, s.generation
          FROM model_routing r, routing_state s
         WHERE r.model_name = p_model_name;
END;
$$;

COMMENT ON FUNCTION app.set_model_routing(text, text[], integer[], text,
    text, inet) IS
    'Sets the traffic split of a model (insert or replace), recorded in '
    'model_routing_changes attributed to p_changed_by.  Returns the '
    'stored row and the new generation.';
