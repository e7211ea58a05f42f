#!/bin/sh
# tests/containers/postgres/docker-entrypoint.sh: the stand-in postgres
# image's entrypoint, following the official image's documentation:
#
# - PGDATA (default /var/lib/postgresql/data) holds the cluster; when it
#   has no PG_VERSION the cluster is created: superuser POSTGRES_USER
#   (default postgres) with POSTGRES_PASSWORD (required), database
#   POSTGRES_DB (default: POSTGRES_USER), password (scram-sha-256) logins
#   from any host, local socket connections trusted.
# - On that first start only, /docker-entrypoint-initdb.d/ runs in name
#   order: *.sh executable ones are run, the others sourced; *.sql through
#   psql, against a server that listens only on its socket; then that
#   server stops and the real one starts.  A later start skips all this.
# - Started as root it becomes the postgres user; `postgres` (the
#   command) is then exec'd, so it is PID 1 and gets the stop signal.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

if [ "$(id -u)" = 0 ]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 700 "$PGDATA"
	exec setpriv --reuid=postgres --regid=postgres --init-groups \
	    /bin/sh "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ]; then
		echo "Error: the database is uninitialized and POSTGRES_PASSWORD" \
		    "is not set" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
	initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
	    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
	rm -f "$pwfile"
	printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
	printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.auto.conf"

	# Socket only while the init scripts run: clients that connect over
	# TCP (the health check) wait until the database is complete.
	pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
	export PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql
	if [ "$POSTGRES_DB" != postgres ]; then
		psql -X -q -v ON_ERROR_STOP=1 -d postgres \
		    -v db="$POSTGRES_DB" <<-'SQL'
		CREATE DATABASE :"db";
		SQL
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		[ -e "$f" ] || continue
		case $f in
		*.sh)
			echo "docker-entrypoint: running $f"
			if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
		*.sql)
			echo "docker-entrypoint: running $f"
			psql -X -q -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f" ;;
		*)
			echo "docker-entrypoint: ignoring $f" ;;
		esac
	done
	unset PGUSER PGHOST
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	echo "docker-entrypoint: PostgreSQL init process complete"
fi

exec "$@"
