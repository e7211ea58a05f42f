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
. tests/bench/lib.sh
wrk_pid=""
trap 'if [ -n "$wrk_pid" ]; then kill "$wrk_pid" 2>/dev/null || true; fi; bench_cleanup' EXIT
bench_cluster
TRUSTED_PROXIES=127.0.0.1 bench_server flood-server

state() {
	psql "$super" -X -At -F ' ' -c "SELECT count(*),
	    round(pg_total_relation_size('app.rate_limits') / 1048576.0, 1),
	    (SELECT count(*) FROM app.prediction_metrics)
	    FROM app.rate_limits"
}

echo "# machine: $(bench_machine)"
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
