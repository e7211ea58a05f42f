-- 90_grants.sql: least privilege.  Re-applied after every migrate, last.
--
-- modelserver_app (the server) may append predictions but never change
-- or delete them; it reads the registry and the ledger, and owns the
-- rate-limit state.  modelserver_analyst may only read.  Either role is
-- skipped when it does not exist (a deployment with other roles grants
-- its own).  Functions run with the caller's rights (no SECURITY
-- DEFINER), except the partition maintenance of sql/31_partitions.sql:
-- attaching and detaching partitions needs the tables' owner.  Those
-- run for the server's role only (31 revokes them from PUBLIC).

SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver_app')
    AS have_app \gset
\if :have_app
GRANT USAGE ON SCHEMA app TO modelserver_app;
GRANT SELECT ON app.schema_migrations TO modelserver_app;
GRANT SELECT, INSERT ON app.model_versions TO modelserver_app;
GRANT SELECT, INSERT ON app.prediction_metrics TO modelserver_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.rate_limits TO modelserver_app;
-- Metrics (40_thresholds.sql): read and change thresholds; the history is
-- written by the audit trigger, as the caller, and never changed.
GRANT SELECT, INSERT, UPDATE ON app.metric_thresholds TO modelserver_app;
GRANT SELECT, INSERT ON app.metric_threshold_changes TO modelserver_app;
-- Analyzer (50_analyze.sql): the report cache and its single-flight
-- leases are the server's own state, purged as they expire.
GRANT SELECT, INSERT, UPDATE, DELETE ON app.gemini_cache, app.gemini_leases
    TO modelserver_app;
-- Routing (11_routing.sql): the server changes the split (PUT
-- /models/{name}/routing) and polls the generation; the trigger writes
-- the history and bumps the generation as the caller.
GRANT SELECT, INSERT, UPDATE, DELETE ON app.model_routing TO modelserver_app;
GRANT SELECT, INSERT ON app.model_routing_changes TO modelserver_app;
GRANT SELECT, UPDATE ON app.routing_state TO modelserver_app;
-- Partitions (31_partitions.sql): the janitor creates them ahead and
-- retires old ones through the owner's functions.
GRANT SELECT ON app.partition_policy, app.partitions TO modelserver_app;
GRANT EXECUTE ON FUNCTION app.partition_ensure(regclass, timestamptz,
    timestamptz, text), app.partition_maintain(interval, integer, interval,
    interval, boolean), app.partition_drop_detached(text)
    TO modelserver_app;
-- Rollups (35_rollups.sql): the janitor's fold writes them and moves the
-- watermark; backfill rebuilds (delete + insert) a range; the partials
-- are written by the triggers in the writer's own transaction.
GRANT SELECT, INSERT, DELETE ON app.rollup_100ms, app.rollup_1s, app.rollup_10s,
    app.rollup_1m, app.rollup_10m, app.rollup_1h,
    app.rollup_1d, app.rollup_partial TO modelserver_app;
GRANT SELECT, UPDATE ON app.rollup_state TO modelserver_app;
\endif

SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver_analyst')
    AS have_analyst \gset
\if :have_analyst
GRANT USAGE ON SCHEMA app TO modelserver_analyst;
GRANT SELECT ON app.schema_migrations, app.model_versions,
    app.prediction_metrics TO modelserver_analyst;
GRANT SELECT ON app.metric_thresholds, app.metric_threshold_changes,
    app.metrics_per_minute, app.metrics_per_model_version,
    app.metrics_status_last_hour TO modelserver_analyst;
GRANT SELECT ON app.gemini_cache TO modelserver_analyst;
GRANT SELECT ON app.model_routing, app.model_routing_changes,
    app.routing_state TO modelserver_analyst;
GRANT SELECT ON app.latency_percentiles_hourly, app.label_distribution_hourly,
    app.threshold_history TO modelserver_analyst;
GRANT SELECT ON app.partition_policy, app.partitions TO modelserver_analyst;
GRANT SELECT ON app.rollup_100ms, app.rollup_1s, app.rollup_10s, app.rollup_1m,
    app.rollup_10m, app.rollup_1h, app.rollup_1d, app.rollup_partial,
    app.rollup_state TO modelserver_analyst;
\endif
