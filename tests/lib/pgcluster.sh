#!/usr/bin/env bash
# pgcluster.sh: a private PostgreSQL 15 cluster in a directory, for
# `make run` (kept in .data/postgres) and the test suite (throw-away).
#
#   pgcluster.sh start DIR PORT      initdb on first use, then start
#   pgcluster.sh bootstrap DIR PORT  roles + database (idempotent)
#   pgcluster.sh url DIR PORT ROLE   libpq URL for owner|app|analyst|super
#   pgcluster.sh stop DIR [MODE]     pg_ctl stop (fast by default)
#   pgcluster.sh kill DIR            SIGKILL the postmaster (fault tests)
#   pgcluster.sh status DIR
#
# Layout: DIR/data (PGDATA), DIR/run (Unix socket), DIR/server.log and
# DIR/credentials (generated passwords, mode 600).  Run as root, the
# server runs as the postgres user (PostgreSQL refuses root).  The roles:
#   modelserver          owns the schema, runs the migrations
#   modelserver_app      what the server connects as
#   modelserver_analyst  read-only access for analysts
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,12p' "$0"; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

as_pg() {	# run as the cluster's owner
	if [ "$(id -u)" = 0 ]; then
		# From /: postgres may not be allowed into the caller's directory.
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}


credential() {	# credential ROLE: its password (created on first use)
	local f="$dir/credentials" pw
	touch "$f"; chmod 600 "$f"
	pw=$(sed -n "s/^$1=//p" "$f")
	if [ -z "$pw" ]; then
		pw=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
		echo "$1=$pw" >>"$f"
	fi
	printf '%s' "$pw"
}

case "$cmd" in
start)
	port=${3:?port}
	if [ "$(id -u)" = 0 ]; then
		chown postgres:postgres "$dir"
		if ! runuser -u postgres -- test -x "$dir"; then
			echo "pgcluster: the postgres user cannot reach $dir;" \
			    "make its parent directories traversable" \
			    "(chmod o+x) or set DATA_DIR elsewhere" >&2
			exit 1
		fi
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg mkdir -p "$dir/data" "$dir/run"
		as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -E UTF8 \
		    --locale=C.UTF-8 --auth-local=trust \
		    --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2; exit 1; }
	fi
	as_pg mkdir -p "$dir/run"
	if as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		exit 0
	fi
	# fsync stays on: the suite checks durability, and the benchmark
	# compares against this same configuration.
	opts="-p $port -k $dir/run -c listen_addresses=127.0.0.1"
	opts="$opts -c max_connections=200 -c shared_buffers=256MB"
	opts="$opts -c log_min_messages=warning -c log_min_error_statement=panic"
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
	    -o "$opts ${PGEXTRA:-}" start >/dev/null
	;;
bootstrap)
	port=${3:?port}
	owner=$(credential modelserver)
	app=$(credential modelserver_app)
	analyst=$(credential modelserver_analyst)
	# The same script the PostgreSQL container runs on its first start,
	# fed on stdin: the postgres user may not be able to read the repo.
	export MODELSERVER_PASSWORD="$owner" MODELSERVER_APP_PASSWORD="$app"
	export MODELSERVER_ANALYST_PASSWORD="$analyst"
	export PGHOST="$dir/run" PGPORT="$port" POSTGRES_USER=postgres
	roles=$(cd "$(dirname "$0")/../../docker/initdb" && pwd)/10-roles.sh
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -p -u postgres -- sh -s <"$roles")
	else
		sh -s <"$roles"
	fi
	;;
url)
	port=${3:?port}; role=${4:?role}
	case "$role" in
	owner)	 printf 'postgresql://modelserver:%s@127.0.0.1:%s/modelserver\n' \
		     "$(credential modelserver)" "$port" ;;
	app)	 printf 'postgresql://modelserver_app:%s@127.0.0.1:%s/modelserver\n' \
		     "$(credential modelserver_app)" "$port" ;;
	analyst) printf 'postgresql://modelserver_analyst:%s@127.0.0.1:%s/modelserver\n' \
		     "$(credential modelserver_analyst)" "$port" ;;
	super)	 printf 'postgresql://postgres@/modelserver?host=%s&port=%s\n' \
		     "$dir/run" "$port" ;;
	*)	 echo "pgcluster: unknown role $role" >&2; exit 2 ;;
	esac
	;;
stop)
	if as_pg "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w -t 60 \
		    stop >/dev/null
	fi
	;;
kill)
	pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
	;;
status)
	as_pg "$PGBIN/pg_ctl" -D "$dir/data" status
	;;
*)
	sed -n '2,12p' "$0"; exit 2 ;;
esac
