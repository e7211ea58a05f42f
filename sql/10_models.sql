-- 10_models.sql: the model registry's functions.
-- Re-applied after every migrate (CREATE OR REPLACE); see migrations/.

CREATE OR REPLACE FUNCTION app.model_version_id(
    p_name text, p_version text, p_description text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_id integer;
BEGIN
    SELECT id INTO v_id FROM model_versions
     WHERE name = p_name AND version = p_version;
    IF v_id IS NULL THEN
        INSERT INTO model_versions (name, version, description)
        VALUES (p_name, p_version, p_description)
        ON CONFLICT (name, version) DO NOTHING
        RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            -- Another session registered it between our two statements.
            SELECT id INTO v_id FROM model_versions
             WHERE name = p_name AND version = p_version;
        END IF;
    END IF;
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION app.model_version_id(text, text, text) IS
    'Returns the id of model (name, version), registering it on first use. '
    'Safe under concurrency: two sessions registering the same version '
    'get the same id.';
