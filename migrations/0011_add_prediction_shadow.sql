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
