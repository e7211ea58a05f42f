-- 90_grants.sql: least privilege.  Re-applied after every migrate, last.
--
-- modelserver_app (the server) may append predictions but never change
-- or delete them; it reads the registry and the ledger, and owns the
-- rate-limit state.  modelserver_analyst may only read.  Either role is
-- skipped when it does not exist (a deployment with other roles grants
-- its own).  Functions run with the caller's rights (no SECURITY
-- DEFINER), so these grants are the whole story.

SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver_app')
    AS have_app \gset
\if :have_app
GRANT USAGE ON SCHEMA app TO modelserver_app;
GRANT SELECT ON app.schema_migrations TO modelserver_app;
GRANT SELECT, INSERT ON app.model_versions TO modelserver_app;
GRANT SELECT, INSERT ON app.prediction_metrics TO modelserver_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.rate_limits TO modelserver_app;
\endif

SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver_analyst')
    AS have_analyst \gset
\if :have_analyst
GRANT USAGE ON SCHEMA app TO modelserver_analyst;
GRANT SELECT ON app.schema_migrations, app.model_versions,
    app.prediction_metrics TO modelserver_analyst;
\endif
