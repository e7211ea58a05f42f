#!/usr/bin/env bash
# run.sh: the test suite, layer by layer (make test runs them all).
#
#   tests/run.sh            unit + sql + http + contract + containers +
#                           pgbouncer + scale
#   tests/run.sh unit|sql|http|contract|containers|pgbouncer|scale [files...]
#
# pgbouncer: the HTTP files that touch the database, again, with the
# servers connecting through PgBouncer in transaction mode (TEST_DB_APP
# points at it), plus tests/http/scale_pgbouncer.py.  scale: the
# tests/http/scale_*.py files that start their own clusters (standby,
# failover) or several servers (HAProxy).
#
# It starts a throw-away PostgreSQL 15 cluster on a free port under a
# temporary directory, migrates it, and stops and removes it at the end,
# pass or fail.  With no layer it runs the unit tests, then the other
# layers in three lanes side by side, each step with a cluster of its own
# (run_lanes below; TEST_LANES=1 runs them one after the other).  The
# HTTP tests start their own servers (the module built with ASan +
# UBSan) and stop them.  Logs land in tests/out/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
layer=${1:-all}
shift || true

out="$root/tests/out"
mkdir -p "$out"
failed=0
# TEST_LANE (set by the `all` run for each of its lanes) names this run's
# cluster logs, so that runs side by side keep theirs apart.
tag=${TEST_LANE:+-$TEST_LANE}

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cluster_up() {
	TEST_PGDIR=$(mktemp -d /tmp/modelserver-test.XXXXXX)
	chmod 755 "$TEST_PGDIR"
	TEST_PGPORT=$(free_port)
	export TEST_PGDIR TEST_PGPORT
	trap cluster_down EXIT
	echo "# PostgreSQL: $TEST_PGDIR port $TEST_PGPORT"
	tests/lib/pgcluster.sh start "$TEST_PGDIR" "$TEST_PGPORT"
	tests/lib/pgcluster.sh bootstrap "$TEST_PGDIR" "$TEST_PGPORT"
	TEST_DB_OWNER=$(tests/lib/pgcluster.sh url "$TEST_PGDIR" "$TEST_PGPORT" owner)
	TEST_DB_APP=$(tests/lib/pgcluster.sh url "$TEST_PGDIR" "$TEST_PGPORT" app)
	TEST_DB_ANALYST=$(tests/lib/pgcluster.sh url "$TEST_PGDIR" "$TEST_PGPORT" analyst)
	TEST_DB_SUPER=$(tests/lib/pgcluster.sh url "$TEST_PGDIR" "$TEST_PGPORT" super)
	export TEST_DB_OWNER TEST_DB_APP TEST_DB_ANALYST TEST_DB_SUPER
	MIGRATE_DATABASE_URL="$TEST_DB_OWNER" ENV_FILE=/dev/null \
	    migrations/migrate.sh >"$out/migrate$tag.log"
	psql "$TEST_DB_SUPER" -X -q -c "CREATE EXTENSION IF NOT EXISTS pgtap"
}

cluster_down() {
	if [ -n "${TEST_PGBOUNCER_DIR:-}" ]; then
		tests/lib/pgbouncer.sh stop "$TEST_PGBOUNCER_DIR" || true
		cp "$TEST_PGBOUNCER_DIR/pgbouncer.log" "$out/pgbouncer$tag.log" \
		    2>/dev/null || true
		rm -rf "$TEST_PGBOUNCER_DIR"
		TEST_PGBOUNCER_DIR=
	fi
	if [ -n "${TEST_PGDIR:-}" ]; then
		tests/lib/pgcluster.sh stop "$TEST_PGDIR" immediate || true
		cp "$TEST_PGDIR/server.log" "$out/postgres$tag.log" 2>/dev/null || true
		rm -rf "$TEST_PGDIR"
	fi
}

run_unit() {
	echo "== unit (C, ASan + UBSan)"
	make --no-print-directory -s unit-tests
	local args=()
	for t in build/tests/test_*; do args+=("$t"); done
	# Some tests take arguments (the smoke data set): a wrapper per test.
	prove --timer --exec "$root/tests/lib/unit-exec.sh" "${args[@]}" || failed=1
}

run_sql() {
	echo "== sql (pgTAP)"
	pg_prove --timer -h "$TEST_PGDIR/run" -p "$TEST_PGPORT" -U postgres \
	    -d modelserver ${@:-tests/sql/*.sql} || failed=1
}

run_http() {
	echo "== http (real server + PostgreSQL)"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	prove --timer ${PROVE_FLAGS:-} --exec /usr/bin/python3 ${@:-tests/http/test_*.py} || failed=1
}

# The files whose servers use the database, for the PgBouncer run.
PGBOUNCER_TESTS="tests/http/test_basics.py tests/http/test_recorder.py
    tests/http/test_ratelimit.py tests/http/test_metrics.py
    tests/http/test_analyze.py tests/http/test_faults.py
    tests/http/scale_pgbouncer.py"

run_pgbouncer() {
	echo "== pgbouncer (the same servers through PgBouncer, transaction mode)"
	TEST_PGBOUNCER_DIR=$(mktemp -d /tmp/modelserver-pgbouncer.XXXXXX)
	chmod 755 "$TEST_PGBOUNCER_DIR"
	TEST_PGBOUNCER_PORT=$(free_port)
	tests/lib/pgbouncer.sh start "$TEST_PGBOUNCER_DIR" \
	    "$TEST_PGBOUNCER_PORT" "$TEST_PGDIR" "$TEST_PGPORT"
	echo "# PgBouncer: $TEST_PGBOUNCER_DIR port $TEST_PGBOUNCER_PORT"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	(
		export TEST_PGBOUNCER_DIR TEST_PGBOUNCER_PORT
		export TEST_DB_APP_DIRECT="$TEST_DB_APP"
		TEST_DB_APP=$(tests/lib/pgbouncer.sh url "$TEST_PGBOUNCER_DIR" \
		    "$TEST_PGBOUNCER_PORT" "$TEST_PGDIR" app)
		export TEST_DB_APP
		# shellcheck disable=SC2086
		prove --timer ${PROVE_FLAGS:-} --exec /usr/bin/python3 \
		    ${@:-$PGBOUNCER_TESTS}
	) || failed=1
}

# The files that start their own clusters or several servers.
SCALE_TESTS="tests/http/scale_haproxy.py tests/http/scale_replica.py
    tests/http/scale_failover.py"

run_scale() {
	echo "== scale (standby, failover, several servers behind HAProxy)"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	# shellcheck disable=SC2086
	prove --timer ${PROVE_FLAGS:-} --exec /usr/bin/python3 \
	    ${@:-$SCALE_TESTS} || failed=1
}

# The original server's documented models against our real answers
# (tests/contract/, docs/compat.md).
run_contract() {
	echo "== contract (the original server's schemas, real server)"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	prove --timer ${PROVE_FLAGS:-} --exec /usr/bin/python3 ${@:-tests/contract/test_*.py} || failed=1
}

# The image and compose with Podman (skips itself where Podman cannot run).
run_containers() {
	echo "== containers (the image, docker-compose on Podman)"
	prove --timer ${PROVE_FLAGS:-} --exec /usr/bin/python3 \
	    ${@:-tests/containers/test_*.py} || failed=1
}

# Each layer's wall time, after its results (prove --timer gives each
# file's).
timed() {
	local t0=$SECONDS
	"$@"
	echo "# layer ${1#run_}: $((SECONDS - t0)) s"
}

# ------------------------------------------------------------ all, in lanes
#
# Most of the suite waits (timeouts, refresh periods, load durations,
# apt and debootstrap inside the containers), so `all` runs three lanes
# side by side.  Each step of a lane is a tests/run.sh of its own: its own
# cluster (and PgBouncer) on free ports, its own servers, its own logs
# (TEST_LANE); the files of one layer stay in order within their lane,
# and no two lanes share a database.  A lane's output is printed whole
# when it ends (and kept in tests/out/lane-NAME.log); any failed step
# fails the run.  TEST_LANES=1 runs the layers one after the other
# instead, on one cluster.

# Lane a: the containers (apt and debootstrap inside), then the scale
# layer.  Lane b: the http files that take longest (a browser's
# refreshes, hundreds of hostile requests) with the two browser files
# together (each runs make docs / make dashboard in the tree), then
# test_analyze.py through PgBouncer (a minute of Gemini timeouts).  Lane
# c: sql, every other http file, the rest of the pgbouncer layer, and the
# contract.  Then, alone: the files that load the machine on purpose and assert on what
# keeps up under that load (test_partitions.py: the janitor attaches and
# drops partitions under wrk).
HTTP_LANE_B="tests/http/test_dashboard_browser.py tests/http/test_hostile.py
    tests/http/test_docs_browser.py tests/http/test_lease.py
    tests/http/test_routing.py tests/http/test_openapi.py
    tests/http/test_rollups.py tests/http/test_docker.py
    tests/http/test_prometheus.py tests/http/test_models.py"
HTTP_SOLO="tests/http/test_partitions.py"

http_lane_c() {
	local f
	for f in tests/http/test_*.py; do
		case " $(echo $HTTP_LANE_B $HTTP_SOLO) " in
		*" $f "*) ;;
		*) echo "$f" ;;
		esac
	done
}

# lane NAME STEP...: each STEP ("layer [files]") as a tests/run.sh of its
# own; fails when any step failed, after running them all.
lane() {
	local name=$1 step rc=0 child
	shift
	for step in "$@"; do
		# shellcheck disable=SC2086
		TEST_LANE="$name-${step%% *}" "$root/tests/run.sh" $step &
		child=$!
		trap 'kill -TERM $child 2>/dev/null; wait $child; exit 1' TERM
		wait $child || { rc=$?; echo "# lane $name: '${step%% *}' failed (exit $rc)"; }
		trap - TERM
	done
	return $rc
}

run_lanes() {
	local -A pid=() started=()
	local name p rc
	local pgb_b=tests/http/test_analyze.py pgb_c=() f
	for f in $PGBOUNCER_TESTS; do
		[ "$f" = "$pgb_b" ] || pgb_c+=("$f")
	done
	local -a a=(containers "scale")
	local -a b=("http $(echo $HTTP_LANE_B)" "pgbouncer $pgb_b")
	local -a c=("sql" "http $(echo $(http_lane_c))" "pgbouncer ${pgb_c[*]}"
	    "contract")
	# Built once here, not by three makes at once.
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	trap 'kill -TERM "${pid[@]}" 2>/dev/null; wait; exit 1' TERM
	for name in a b c; do
		local -n steps=$name
		lane "$name" "${steps[@]}" >"$out/lane-$name.log" 2>&1 &
		pid[$name]=$!
		started[$name]=$SECONDS
		echo "# lane $name (log tests/out/lane-$name.log): ${steps[*]%% *}"
		unset -n steps
	done
	while [ ${#pid[@]} -gt 0 ]; do
		rc=0
		wait -n -p p "${pid[@]}" || rc=$?
		for name in "${!pid[@]}"; do
			[ "${pid[$name]}" = "$p" ] || continue
			echo "== lane $name"
			cat "$out/lane-$name.log"
			if [ "$rc" = 0 ]; then
				echo "# lane $name passed: $((SECONDS - started[$name])) s"
			else
				echo "# lane $name FAILED (exit $rc): $((SECONDS - started[$name])) s"
				failed=1
			fi
			unset "pid[$name]"
		done
	done
	trap - TERM
	echo "== alone: $HTTP_SOLO"
	# shellcheck disable=SC2086
	lane solo "http $(echo $HTTP_SOLO)" || failed=1
}

case "$layer" in
unit)	timed run_unit ;;
sql)	cluster_up; timed run_sql "$@" ;;
http)	cluster_up; timed run_http "$@" ;;
contract) cluster_up; timed run_contract "$@" ;;
containers) timed run_containers "$@" ;;
pgbouncer) cluster_up; timed run_pgbouncer "$@" ;;
scale)	cluster_up; timed run_scale "$@" ;;
all)	timed run_unit
	if [ "${TEST_LANES:-3}" = 1 ]; then
		cluster_up; timed run_sql; timed run_http; timed run_contract
		timed run_containers; timed run_pgbouncer; timed run_scale
	else
		timed run_lanes
	fi ;;
*)	echo "usage: tests/run.sh" \
	    "[unit|sql|http|contract|containers|pgbouncer|scale] [files...]" >&2
	exit 2 ;;
esac

if [ "$failed" != 0 ]; then
	echo "FAILED (logs in tests/out/)"
	exit 1
fi
echo "all tests passed"
