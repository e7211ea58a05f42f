#!/usr/bin/env bash
# pgbouncer.sh: a private PgBouncer (transaction pooling) in a directory,
# in front of a tests/lib/pgcluster.sh cluster, for the test suite and
# the benchmarks.
#
#   pgbouncer.sh start DIR PORT PGDIR PGPORT   write the config, start
#   pgbouncer.sh url DIR PORT PGDIR ROLE       libpq URL through it
#   pgbouncer.sh stop DIR                      SIGINT, then SIGKILL, by PID
#   pgbouncer.sh kill DIR                      SIGKILL by PID (fault tests)
#
# Clients authenticate against DIR/userlist.txt, written from the
# cluster's credentials (PgBouncer 1.18 keeps them to log in to
# PostgreSQL with SCRAM in turn).  Listens on 127.0.0.1:PORT only.
# Run as root, it runs as the postgres user (PgBouncer refuses root).
# The settings that matter for the server are commented in the config
# below and in docs/deploy.md.
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,16p' "$0"; exit 2; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

pid_of() {
	head -n 1 "$dir/pgbouncer.pid" 2>/dev/null || true
}

alive() {
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null
}

case "$cmd" in
start)
	port=${3:?port}; pgdir=${4:?pgdir}; pgport=${5:?pgport}
	cred="$pgdir/credentials"
	{
		for role in modelserver modelserver_app modelserver_analyst; do
			pw=$(sed -n "s/^$role=//p" "$cred")
			printf '"%s" "%s"\n' "$role" "$pw"
		done
	} >"$dir/userlist.txt"
	chmod 600 "$dir/userlist.txt"
	cat >"$dir/pgbouncer.ini" <<EOF
[databases]
modelserver = host=127.0.0.1 port=$pgport dbname=modelserver

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
; A server that is down must fail queries fast (the server answers 503)
; and be retried soon after it is back: the defaults wait 15 s between
; logins and queue a query for 120 s.  Clients already connected wait
; query_wait_timeout for a server connection, so that bounds how long a
; request waits for its 503 while PostgreSQL is down; the server's pools
; (workers x DB_POOL_SIZE) stay below default_pool_size, so no query
; waits for a server connection otherwise.
server_login_retry = 0.5
server_connect_timeout = 2
query_wait_timeout = 1
log_connections = 0
log_disconnections = 0
EOF
	if [ "$(id -u)" = 0 ]; then
		chown -R postgres:postgres "$dir"
		user=(-u postgres)
	else
		user=()
	fi
	if alive "$(pid_of)"; then
		echo "pgbouncer: already running in $dir" >&2; exit 1
	fi
	rm -f "$dir/pgbouncer.pid"
	(cd / && pgbouncer -d -q "${user[@]}" "$dir/pgbouncer.ini")
	# Ready once it accepts a TCP connection (bounded).
	for _ in $(seq 1 100); do
		if /usr/bin/python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 0.2).close()" 2>/dev/null; then
			exit 0
		fi
		sleep 0.05
	done
	echo "pgbouncer: not listening on $port; see $dir/pgbouncer.log" >&2
	exit 1
	;;
url)
	port=${3:?port}; pgdir=${4:?pgdir}; role=${5:?role}
	# The cluster's URL for the role, with PgBouncer's port.
	"$here/pgcluster.sh" url "$pgdir" "$port" "$role"
	;;
stop|kill)
	pid=$(pid_of)
	if alive "$pid"; then
		if [ "$cmd" = kill ]; then
			kill -9 "$pid"
		else
			kill -INT "$pid"
		fi
		for _ in $(seq 1 100); do
			alive "$pid" || break
			sleep 0.05
		done
		alive "$pid" && kill -9 "$pid"
		for _ in $(seq 1 40); do
			alive "$pid" || break
			sleep 0.05
		done
	fi
	rm -f "$dir/pgbouncer.pid"
	;;
*)
	sed -n '2,16p' "$0"; exit 2 ;;
esac
