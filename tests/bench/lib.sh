# lib.sh: what the benchmark scripts share (sourced, not run).
#
#   bench_cluster            a throw-away PostgreSQL (fsync on, as in
#                            production), migrated; sets pgdir pgport super
#                            appurl
#   bench_server NAME        the optimised server against it, in the
#                            background; sets port kore_pid
#   bench_server_stop        stops it and removes its rendered config
#   bench_machine            one line describing the machine
#   bench_checkpoint         a CHECKPOINT before each timed phase
#   bench_pgbench CLIENTS    pgbench inserting /predict's row one per
#                            transaction for DURATION s; prints tps
#   bench_stat_ticks         the machine's busy, softirq and all ticks
#   bench_workers            the server's worker PIDs
#   bench_pg_pids            the cluster's postmaster and its children
#   bench_cpu_ticks PID...   their CPU time so far, in ticks
#   bench_field NAME LINE    the value of NAME=... in a WRK line
# Everything started is stopped and removed on exit.

out="$root/tests/out/bench"
mkdir -p "$out" "$root/build/run-bench"
pgdir=""
kore_pid=""
kore_conf=""

bench_free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

bench_cleanup() {
	bench_server_stop
	if [ -n "$pgdir" ]; then
		"$root/tests/lib/pgcluster.sh" stop "$pgdir" fast >/dev/null \
		    2>&1 || true
		rm -rf "$pgdir"
	fi
}
trap bench_cleanup EXIT

bench_cluster() {
	make -C "$root" -s all >/dev/null
	pgdir=$(mktemp -d /tmp/modelserver-bench.XXXXXX)
	chmod 755 "$pgdir"
	pgport=$(bench_free_port)
	"$root/tests/lib/pgcluster.sh" start "$pgdir" "$pgport"
	"$root/tests/lib/pgcluster.sh" bootstrap "$pgdir" "$pgport"
	super=$("$root/tests/lib/pgcluster.sh" url "$pgdir" "$pgport" super)
	appurl=$("$root/tests/lib/pgcluster.sh" url "$pgdir" "$pgport" app)
	MIGRATE_DATABASE_URL=$("$root/tests/lib/pgcluster.sh" url "$pgdir" \
	    "$pgport" owner) ENV_FILE= "$root/migrations/migrate.sh" >/dev/null
}

# bench_server_stop: stops the server bench_server started, if any, and
# removes the config rendered for it.
bench_server_stop() {
	if [ -n "$kore_pid" ] && kill -0 "$kore_pid" 2>/dev/null; then
		kill "$kore_pid" 2>/dev/null || true
		wait "$kore_pid" 2>/dev/null || true
	fi
	kore_pid=""
	if [ -n "$kore_conf" ]; then
		rm -f "$kore_conf"
		kore_conf=""
	fi
}

# bench_server NAME: settings come from the caller's environment.
bench_server() {
	local i
	port=$(bench_free_port)
	kore_conf=$(cd "$root" && ENV_FILE= DATABASE_URL="$appurl" \
	    HTTP_PORT="$port" ACCESS_LOG= build/conftool render kore.conf \
	    build/run-bench)
	(cd "$root" && ENV_FILE= DATABASE_URL="$appurl" HTTP_PORT="$port" \
	    ACCESS_LOG= exec kore -c "$kore_conf" -f -n -r) >"$out/$1.log" 2>&1 &
	kore_pid=$!
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0
		sleep 0.1
	done
	echo "the server did not start; see $out/$1.log" >&2
	return 1
}

bench_machine() {
	echo "$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' \
	    /proc/cpuinfo | head -n 1), $(uname -r), load average" \
	    "$(cut -d' ' -f1-3 /proc/loadavg)"
}

# Every phase starts right after a CHECKPOINT: a timed checkpoint (5 min)
# would otherwise land in whichever phase runs then, and its writes slow
# every commit's WAL flush (one round's server p99 went from 8 to 15 ms).
bench_checkpoint() { psql "$super" -X -q -c CHECKPOINT; }

# bench_pgbench CLIENTS: the database's own limit for our write (needs
# super, mid and DURATION).
bench_pgbench() {
	bench_checkpoint
	pgbench "$super" -n -M prepared -c "$1" -j 2 -T "$DURATION" \
	    -D mid="$mid" -f "$root/tests/bench/pgbench_insert.sql" \
	    2>/dev/null | sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

# bench_stat_ticks: the machine's "busy softirq all" ticks from /proc/stat
# (busy is all but idle and iowait; guest time is already in user).
# Kernel work for loopback TCP is largely softirq time, which the
# processes' own counters leave out.
bench_stat_ticks() {
	awk '/^cpu / {a = 0; for (i = 2; i <= 9; i++) a += $i;
		print a - $5 - $6, $8, a}' /proc/stat
}

# bench_workers: the PIDs of the worker processes of the server
# bench_server started.
bench_workers() { ps -o pid= --ppid "$kore_pid" | tr -d ' '; }
# bench_pg_pids: the postmaster of bench_cluster's cluster and its
# children.
bench_pg_pids() {
	local pm
	pm=$(head -n 1 "$pgdir/data/postmaster.pid")
	echo "$pm"; ps -o pid= --ppid "$pm" | tr -d ' '
}
# bench_cpu_ticks PID...: the CPU time of those processes in ticks (user
# and system, their reaped children's too: the postmaster's holds every
# backend that has exited).
bench_cpu_ticks() {
	local t=0 p
	for p in "$@"; do
		[ -r "/proc/$p/stat" ] || continue
		t=$((t + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat")))
	done
	echo "$t"
}

bench_field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $2"; }
