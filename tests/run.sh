#!/usr/bin/env bash
# run.sh: the test suite, layer by layer (make test runs them all).
#
#   tests/run.sh            unit + sql + http + contract + containers
#   tests/run.sh unit|sql|http|contract|containers [files...]
#
# It starts a throw-away PostgreSQL 15 cluster on a free port under a
# temporary directory, migrates it, and stops and removes it at the end,
# pass or fail.  The HTTP tests start their own servers (the module built
# with ASan + UBSan) and stop them.  Logs land in tests/out/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
layer=${1:-all}
shift || true

out="$root/tests/out"
mkdir -p "$out"
failed=0

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
	    migrations/migrate.sh >"$out/migrate.log"
	psql "$TEST_DB_SUPER" -X -q -c "CREATE EXTENSION IF NOT EXISTS pgtap"
}

cluster_down() {
	if [ -n "${TEST_PGDIR:-}" ]; then
		tests/lib/pgcluster.sh stop "$TEST_PGDIR" immediate || true
		cp "$TEST_PGDIR/server.log" "$out/postgres.log" 2>/dev/null || true
		rm -rf "$TEST_PGDIR"
	fi
}

run_unit() {
	echo "== unit (C, ASan + UBSan)"
	make --no-print-directory -s unit-tests
	local args=()
	for t in build/tests/test_*; do args+=("$t"); done
	# Some tests take arguments (the smoke data set): a wrapper per test.
	prove --exec "$root/tests/lib/unit-exec.sh" "${args[@]}" || failed=1
}

run_sql() {
	echo "== sql (pgTAP)"
	pg_prove -h "$TEST_PGDIR/run" -p "$TEST_PGPORT" -U postgres \
	    -d modelserver ${@:-tests/sql/*.sql} || failed=1
}

run_http() {
	echo "== http (real server + PostgreSQL)"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	prove ${PROVE_FLAGS:-} --exec /usr/bin/python3 ${@:-tests/http/test_*.py} || failed=1
}

# The original server's documented models against our real answers
# (tests/contract/, docs/compat.md).
run_contract() {
	echo "== contract (the original server's schemas, real server)"
	make --no-print-directory -s SANITIZE=1 build/san/app.so
	prove ${PROVE_FLAGS:-} --exec /usr/bin/python3 ${@:-tests/contract/test_*.py} || failed=1
}

# The image and compose with Podman (skips itself where Podman cannot run).
run_containers() {
	echo "== containers (the image, docker-compose on Podman)"
	prove ${PROVE_FLAGS:-} --exec /usr/bin/python3 \
	    ${@:-tests/containers/test_*.py} || failed=1
}

case "$layer" in
unit)	run_unit ;;
sql)	cluster_up; run_sql "$@" ;;
http)	cluster_up; run_http "$@" ;;
contract) cluster_up; run_contract "$@" ;;
containers) run_containers "$@" ;;
all)	run_unit; cluster_up; run_sql; run_http; run_contract; run_containers ;;
*)	echo "usage: tests/run.sh [unit|sql|http|contract|containers]" \
	    "[files...]" >&2; exit 2 ;;
esac

if [ "$failed" != 0 ]; then
	echo "FAILED (logs in tests/out/)"
	exit 1
fi
echo "all tests passed"
