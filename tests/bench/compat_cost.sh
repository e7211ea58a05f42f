#!/usr/bin/env bash
# compat_cost.sh: what the original server's fields (docs/compat.md) cost
# /predict's 200: the server built from BEFORE (a commit without them)
# against this tree, on one throw-away cluster, ROUNDS interleaved wrk runs
# of DURATION s at CONNS connections each.  A benchmark, not a test: it
# prints requests/s, p99 and the answer's size, with the machine's load.
#
#   tests/bench/compat_cost.sh [BEFORE]    (default: the parent of the
#                                           commit that added the fields)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BEFORE=${1:-1f0c2aa}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}

. tests/bench/lib.sh
old=$(mktemp -d /tmp/modelserver-before.XXXXXX)
trap 'bench_cleanup; rm -rf "$old"' EXIT
git archive "$BEFORE" | tar -x -C "$old"
make -C "$old" -s all >/dev/null
bench_cluster
export RATE_LIMIT_PREDICT_PER_MINUTE=1000000000

# serve DIR NAME: the server of the tree in DIR (its build/app.so).
serve() {
	port=$(bench_free_port)
	kore_conf=$(cd "$1" && ENV_FILE= DATABASE_URL="$appurl" \
	    HTTP_PORT="$port" ACCESS_LOG= "$root/build/conftool" render \
	    kore.conf "$root/build/run-bench")
	(cd "$1" && ENV_FILE= DATABASE_URL="$appurl" HTTP_PORT="$port" \
	    ACCESS_LOG= exec kore -c "$kore_conf" -f -n -r) \
	    >"$out/compat-$2.log" 2>&1 &
	kore_pid=$!
	for _ in $(seq 1 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0
		sleep 0.1
	done
	echo "the $2 server did not start" >&2
	return 1
}

echo "# $(bench_machine)"
echo "# before: $BEFORE; after: $(git rev-parse --short HEAD)$(git diff \
    --quiet || echo ' + changes')"
for r in $(seq 1 "$ROUNDS"); do
	for v in before after; do
		dir=$root
		[ "$v" = before ] && dir=$old
		serve "$dir" "$v"
		size=$(curl -s -X POST "http://127.0.0.1:$port/predict" \
		    -H 'Content-Type: application/json' \
		    -d '{"text": "The staff were friendly"}' | wc -c)
		bench_checkpoint
		line=$(wrk -t2 -c"$CONNS" -d"${DURATION}s" \
		    -s tests/bench/predict.lua "http://127.0.0.1:$port/predict" |
		    grep '^WRK')
		printf 'round %d %-6s rps=%s p99_ms=%s non2xx=%s body=%dB load=%s\n' \
		    "$r" "$v" "$(bench_field rps "$line")" \
		    "$(bench_field p99_ms "$line")" \
		    "$(bench_field non2xx "$line")" "$size" \
		    "$(cut -d' ' -f1 /proc/loadavg)"
		bench_server_stop
	done
done
