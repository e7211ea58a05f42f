#!/usr/bin/env bash
# flood.sh: the rate-limit state stays bounded under a flood of distinct
# client addresses.  A benchmark script, not a test (make bench-flood).
#
# The server trusts 127.0.0.1 as a proxy; wrk sends /predict with a new
# X-Forwarded-For address on every request (tests/bench/flood.lua) until
# FLOOD_REQUESTS (default 1,000,000) distinct addresses were seen.  Every
# 10 s it prints the rows and size of app.rate_limits; after the flood it
# waits one window (60 s) plus the janitor's period and prints them again.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
TARGET=${FLOOD_REQUESTS:-1000000}
out="$root/tests/out/bench"
mkdir -p "$out" build/run-bench

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pgdir=$(mktemp -d /tmp/modelserver-flood.XXXXXX)
chmod 755 "$pgdir"
pgport=$(free_port); port=$(free_port); kore_pid=""; wrk_pid=""
cleanup() {
	[ -n "$wrk_pid" ] && kill "$wrk_pid" 2>/dev/null || true
	if [ -n "$kore_pid" ]; then kill "$kore_pid" 2>/dev/null || true; wait "$kore_pid" 2>/dev/null || true; fi
	tests/lib/pgcluster.sh stop "$pgdir" fast >/dev/null 2>&1 || true
	rm -rf "$pgdir"
}
trap cleanup EXIT

make -s all >/dev/null
tests/lib/pgcluster.sh start "$pgdir" "$pgport"
tests/lib/pgcluster.sh bootstrap "$pgdir" "$pgport"
MIGRATE_DATABASE_URL=$(tests/lib/pgcluster.sh url "$pgdir" "$pgport" owner) \
    ENV_FILE= migrations/migrate.sh >/dev/null
super=$(tests/lib/pgcluster.sh url "$pgdir" "$pgport" super)

export ENV_FILE= HTTP_PORT="$port" TRUSTED_PROXIES=127.0.0.1 ACCESS_LOG=
export DATABASE_URL=$(tests/lib/pgcluster.sh url "$pgdir" "$pgport" app)
conf=$(build/conftool render kore.conf build/run-bench)
kore -c "$conf" -f -n -r >"$out/flood-server.log" 2>&1 &
kore_pid=$!
for i in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done

state() {
	psql "$super" -X -At -F ' ' -c "SELECT count(*),
	    round(pg_total_relation_size('app.rate_limits') / 1048576.0, 1),
	    (SELECT count(*) FROM app.prediction_metrics)
	    FROM app.rate_limits"
}

echo "# $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
echo "# flood: $TARGET distinct client addresses through a trusted proxy"
printf "%8s %12s %14s %12s\n" seconds state_rows "state_MB" rows_written
FLOOD_THREADS=2 wrk -t 2 -c 64 -d 3600s -s tests/bench/flood.lua \
    "http://127.0.0.1:$port/predict" >"$out/flood-wrk.txt" 2>&1 &
wrk_pid=$!
t0=$(date +%s)
while :; do
	sleep 10
	read -r n size written <<<"$(state)"
	printf "%8d %12d %14s %12d\n" $(( $(date +%s) - t0 )) "$n" "$size" "$written"
	[ "$written" -ge "$TARGET" ] && break
done
kill "$wrk_pid"; wait "$wrk_pid" 2>/dev/null || true; wrk_pid=""
echo "# flood over; rows expire one window (60 s) + 30 s of slack after their"
echo "# last request, and the janitor deletes them within its 5 s period"
for i in $(seq 1 11); do
	sleep 10
	read -r n size written <<<"$(state)"
	printf "%8d %12d %14s %12d\n" $(( $(date +%s) - t0 )) "$n" "$size" "$written"
done
psql "$super" -X -q -c "VACUUM app.rate_limits"
read -r n size written <<<"$(state)"
echo "# after VACUUM: $n rows, $size MB (the freed pages are reused by the next clients)"
