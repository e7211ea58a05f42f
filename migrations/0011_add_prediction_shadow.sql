-- 0011_add_prediction_shadow.sql: rows of shadow versions.
--
-- A shadow version (app.model_routing.shadow_version) scores a request
-- beside the version that answers it; its row is recorded with the
-- answered row's prediction_id here, and its result is never returned.
-- ADD COLUMN without a default rewrites nothing (and works on a
-- partitioned parent too).

ALTER TABLE app.prediction_metrics ADD COLUMN shadow_of uuid;

COMMENT ON COLUMN app.prediction_metrics.shadow_of IS
    'NULL for a prediction that was answered.  For a shadow row: the '
    'prediction_id of the answered prediction of the same input, by the '
    'version that served it.  Served traffic is WHERE shadow_of IS NULL; '
    'a candidate against its baseline on the same inputs is a join on it.';

-- Partitions that exist already got the column without its comment (new
-- ones copy the parent's, INCLUDING COMMENTS): give it to them.
DO $$
DECLARE
    v_part regclass;
BEGIN
    FOR v_part IN
        SELECT i.inhrelid::regclass FROM pg_inherits i
         WHERE i.inhparent = 'app.prediction_metrics'::regclass
    LOOP
        EXECUTE format('COMMENT ON COLUMN %s.shadow_of IS %L', v_part,
            col_description('app.prediction_metrics'::regclass,
                (SELECT attnum FROM pg_attribute
                  WHERE attrelid = 'app.prediction_metrics'::regclass
                    AND attname = 'shadow_of')));
    END LOOP;
END;
$$;
