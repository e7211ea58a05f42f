#!/bin/sh
# docker/initdb/10-roles.sh: the roles and the database, as
# tests/lib/pgcluster.sh bootstrap makes them, with the passwords from the
# environment (docker-compose.yml passes them from .env).
#
#   modelserver          owns the database and the schema, runs migrations
#   modelserver_app      what the server connects as (sql/90_grants.sql)
#   modelserver_analyst  read-only, for pgAdmin and analysts
#
# The postgres image runs it once, as the superuser, when the data volume
# is empty; changing a password in .env later needs ALTER ROLE (README).
# Idempotent all the same.  The passwords reach psql as variables and are
# quoted by it (:'var'), never pasted into SQL.
#
# The server's statement timeout is a setting of its role, applied on
# every run (DB_STATEMENT_TIMEOUT_MS, default 5000): PgBouncer refuses the
# startup option that used to carry it, and in transaction pooling a
# session SET would leak to other clients.  The role's setting holds for
# every connection, direct or pooled.  It takes effect on new server
# connections.
set -eu

timeout=${DB_STATEMENT_TIMEOUT_MS:-5000}
case "$timeout" in
''|*[!0-9]*) echo "10-roles.sh: DB_STATEMENT_TIMEOUT_MS must be a number" \
	    "of milliseconds" >&2; exit 1 ;;
esac

: "${MODELSERVER_PASSWORD:?}" "${MODELSERVER_APP_PASSWORD:?}"
: "${MODELSERVER_ANALYST_PASSWORD:?}"

psql -X -q -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" \
    --dbname postgres -v owner="$MODELSERVER_PASSWORD" \
    -v app="$MODELSERVER_APP_PASSWORD" \
    -v analyst="$MODELSERVER_ANALYST_PASSWORD" \
    -v timeout="$timeout" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver')
    AS need \gset
\if :need
CREATE ROLE modelserver LOGIN PASSWORD :'owner';
\endif
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'modelserver_app')
    AS need \gset
\if :need
CREATE ROLE modelserver_app LOGIN PASSWORD :'app';
\endif
ALTER ROLE modelserver_app SET statement_timeout = :'timeout';
SELECT NOT EXISTS (SELECT FROM pg_roles
    WHERE rolname = 'modelserver_analyst') AS need \gset
\if :need
CREATE ROLE modelserver_analyst LOGIN PASSWORD :'analyst';
\endif
SELECT NOT EXISTS (SELECT FROM pg_database WHERE datname = 'modelserver')
    AS need \gset
\if :need
CREATE DATABASE modelserver OWNER modelserver;
\endif
SQL
