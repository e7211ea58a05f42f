#!/usr/bin/env bash
# migrate.sh: applies migrations/NNNN_name.sql in order, then sql/*.sql.
#
#   MIGRATE_DATABASE_URL=postgresql://owner@host/db migrations/migrate.sh
#
# The URL is MIGRATE_DATABASE_URL, else DATABASE_URL, from the environment
# or else from .env.  Migrations run as the schema owner.
#
# Each migration runs in one transaction together with its row in
# app.schema_migrations (version, name, sha256).  A migration that was
# applied and then edited stops the run with an error naming the file;
# re-running is a no-op.  Two runners at once are safe: each transaction
# takes an advisory lock and re-checks the ledger.  Then every file of
# sql/ (functions, views, grants: CREATE OR REPLACE) is applied in name
# order, all in one transaction.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
LOCK_KEY=7310442151	# pg_advisory_xact_lock key for migrations

envget() {	# envget NAME: the environment first, then the last NAME= in .env
	local v="${!1-}"
	if [ -z "$v" ] && [ -f "${ENV_FILE:-$root/.env}" ]; then
		v=$(sed -n "s/^[[:space:]]*\(export[[:space:]]\+\)\?$1=//p" \
		    "${ENV_FILE:-$root/.env}" | tail -n 1)
		v="${v%\"}"; v="${v#\"}"; v="${v%\'}"; v="${v#\'}"
	fi
	printf '%s' "$v"
}

url=$(envget MIGRATE_DATABASE_URL)
[ -n "$url" ] || url=$(envget DATABASE_URL)
if [ -z "$url" ]; then
	echo "migrate: set MIGRATE_DATABASE_URL or DATABASE_URL" >&2
	exit 1
fi

# The password goes to psql through the environment, not its command line
# (which any user on the host can read in ps): a URL's password moves to
# PGPASSWORD, and psql gets the URL without it.
if [[ "$url" == postgres://* || "$url" == postgresql://* ]]; then
	split=$(MIGRATE_URL="$url" /usr/bin/python3 -c '
import os, urllib.parse
u = urllib.parse.urlsplit(os.environ["MIGRATE_URL"])
pw = urllib.parse.unquote(u.password) if u.password is not None else ""
host = u.netloc.rsplit("@", 1)[-1]
user = u.username or ""
netloc = (user + "@" if user else "") + host
print(pw)
print(urllib.parse.urlunsplit((u.scheme, netloc, u.path, u.query, u.fragment)))
')
	pw=$(sed -n 1p <<<"$split")
	url=$(sed -n 2p <<<"$split")
	[ -n "$pw" ] && export PGPASSWORD="$pw"
	unset pw split
fi

# Keep NOTICEs ("already exists, skipping") out of the output.
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

psql_q() {	# psql_q SQL: one value, quiet
	psql "$url" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

psql_q "CREATE SCHEMA IF NOT EXISTS app;
CREATE TABLE IF NOT EXISTS app.schema_migrations (
    version     text PRIMARY KEY CHECK (version ~ '^[0-9]{4}\$'),
    name        text NOT NULL,
    checksum    text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}\$'),
    applied_at  timestamptz NOT NULL DEFAULT now());
COMMENT ON TABLE app.schema_migrations IS
    'Ledger of applied migrations (migrations/NNNN_name.sql): version, '
    'file name and sha256 of its contents when it was applied.';
COMMENT ON COLUMN app.schema_migrations.version IS
    'The four-digit number that orders the migration.';
COMMENT ON COLUMN app.schema_migrations.name IS
    'File name of the migration.';
COMMENT ON COLUMN app.schema_migrations.checksum IS
    'sha256 of the file when applied; a different file is an error.';
COMMENT ON COLUMN app.schema_migrations.applied_at IS
    'When the migration was applied.';" >/dev/null

declare -A seen
applied=0
for f in "$here"/[0-9][0-9][0-9][0-9]_*.sql; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	if ! [[ "$name" =~ ^([0-9]{4})_[a-z0-9_]+\.sql$ ]]; then
		echo "migrate: $name: name must be NNNN_lower_case.sql" >&2
		exit 1
	fi
	version=${BASH_REMATCH[1]}
	if [ -n "${seen[$version]-}" ]; then
		echo "migrate: $name: version $version is used twice" >&2
		exit 1
	fi
	seen[$version]=1
	sum=$(sha256sum "$f" | cut -d' ' -f1)
	known=$(psql_q "SELECT checksum FROM app.schema_migrations
	    WHERE version = '$version'")
	if [ -n "$known" ]; then
		if [ "$known" != "$sum" ]; then
			echo "migrate: migrations/$name was changed after it" \
			    "was applied (applied sha256 $known, file $sum);" \
			    "add a new migration instead" >&2
			exit 1
		fi
		continue
	fi
	psql "$url" -X -q -v ON_ERROR_STOP=1 -v version="$version" \
	    -v name="$name" -v checksum="$sum" -v file="$f" <<'SQL'
BEGIN;
SELECT pg_advisory_xact_lock(7310442151) IS NULL AS locked \gset
SELECT count(*) > 0 AS already FROM app.schema_migrations
 WHERE version = :'version' \gset
\if :already
\echo migrate: :name was applied concurrently
\else
\i :file
INSERT INTO app.schema_migrations (version, name, checksum)
VALUES (:'version', :'name', :'checksum');
\endif
COMMIT;
SQL
	echo "migrate: applied $name"
	applied=$((applied + 1))
done

# Applied migrations whose file is gone: the history was rewritten.
for version in $(psql_q "SELECT version FROM app.schema_migrations
    ORDER BY version"); do
	if [ -z "${seen[$version]-}" ]; then
		echo "migrate: migration $version is applied but its file" \
		    "is missing from migrations/" >&2
		exit 1
	fi
done

# Repeatable objects, all or nothing.
args=()
for f in "$root"/sql/*.sql; do
	[ -e "$f" ] && args+=(-f "$f")
done
if [ ${#args[@]} -gt 0 ]; then
	psql "$url" -X -q -v ON_ERROR_STOP=1 --single-transaction \
	    -c "SELECT pg_advisory_xact_lock($LOCK_KEY)" "${args[@]}" >/dev/null
fi
echo "migrate: $applied new migration(s); sql/ re-applied ($(( ${#args[@]} / 2 )) files)"
