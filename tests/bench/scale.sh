#!/usr/bin/env bash
# scale.sh: durable predictions per second across instances (make
# bench-scale).  A benchmark, not a test: it prints figures and only
# fails if rows and 2xx answers disagree.
#
# One PostgreSQL (fsync on), then for 1, 2 and 3 server instances behind
# HAProxy (docker/haproxy.cfg, the same in every case, so the proxy's
# cost is in each figure), each instance connecting either directly or
# through PgBouncer in transaction mode (tests/lib/pgbouncer.sh): wrk
# POSTs /predict through HAProxy for DURATION s.  The six cases run
# interleaved, ROUNDS times, and the table gives requests/s, p50/p99, 2xx
# and the rows written in the same window, as tests/bench/bench.sh does.
#
#   ROUNDS (2) DURATION (8 s) CONNS (64) WORKERS per instance (1)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
WORKERS=${WORKERS:-1}

. tests/bench/lib.sh

pids=()
confs=()
lb_pid=""
bouncer=""

scale_stop() {	# every instance and HAProxy, by PID
	local p
	for p in "${pids[@]}" $lb_pid; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}" $lb_pid; do
		wait "$p" 2>/dev/null || true
	done
	pids=(); lb_pid=""
	rm -f "${confs[@]}"; confs=()
}

scale_cleanup() {
	scale_stop
	if [ -n "$bouncer" ]; then
		tests/lib/pgbouncer.sh stop "$bouncer" || true
		rm -rf "$bouncer"
	fi
	bench_cleanup
}
trap scale_cleanup EXIT

# scale_start N URL: N instances against URL behind HAProxy on $lb_port.
scale_start() {
	local n=$1 url=$2 i p c ports=()
	for i in $(seq 1 "$n"); do
		p=$(bench_free_port)
		c=$(ENV_FILE= DATABASE_URL="$url" HTTP_PORT="$p" ACCESS_LOG= \
		    WORKERS="$WORKERS" TRUSTED_PROXIES=127.0.0.2/32 \
		    RATE_LIMIT_PREDICT_PER_MINUTE=1000000000 \
		    build/conftool render kore.conf build/run-bench)
		confs+=("$c")
		(ENV_FILE= DATABASE_URL="$url" HTTP_PORT="$p" ACCESS_LOG= \
		    WORKERS="$WORKERS" TRUSTED_PROXIES=127.0.0.2/32 \
		    RATE_LIMIT_PREDICT_PER_MINUTE=1000000000 \
		    exec kore -c "$c" -f -n -r) >>"$out/scale-$i.log" 2>&1 &
		pids+=($!)
		ports+=("$p")
	done
	# Fewer instances: the unused server lines point at the first one.
	lb_port=$(bench_free_port)
	(LB_BIND="127.0.0.1:$lb_port" LB_SOURCE=127.0.0.2 \
	    LB_STATS_SOCKET="$out/haproxy.sock" \
	    LB_SERVER1="127.0.0.1:${ports[0]}" \
	    LB_SERVER2="127.0.0.1:${ports[1]:-${ports[0]}}" \
	    LB_SERVER3="127.0.0.1:${ports[2]:-${ports[0]}}" \
	    exec haproxy -db -f docker/haproxy.cfg) >>"$out/haproxy.log" 2>&1 &
	lb_pid=$!
	for p in "${ports[@]}"; do
		for i in $(seq 1 100); do
			curl -sf -o /dev/null "http://127.0.0.1:$p/health" && break
			sleep 0.1
		done
	done
	for i in $(seq 1 100); do
		curl -sf -o /dev/null "http://127.0.0.1:$lb_port/health" &&
		    return 0
		sleep 0.1
	done
	echo "HAProxy did not start; see $out/haproxy.log" >&2
	return 1
}

rows() { psql "$super" -X -At -c "SELECT count(*) FROM app.prediction_metrics"; }

bench_cluster
psql "$super" -X -q -c "ALTER ROLE modelserver_app SET synchronous_commit = on"
bouncer=$(mktemp -d /tmp/modelserver-bench-pgbouncer.XXXXXX)
chmod 755 "$bouncer"
bport=$(bench_free_port)
tests/lib/pgbouncer.sh start "$bouncer" "$bport" "$pgdir" "$pgport"
bouncer_url=$(tests/lib/pgbouncer.sh url "$bouncer" "$bport" "$pgdir" app)

echo "# machine: $(bench_machine)"
echo "# $(kore -v | head -1 | sed 's/^/kore /'), $(psql --version), $(haproxy -v | head -1 | cut -d' ' -f1-3), $(pgbouncer --version | head -1)"
echo "# each instance: $WORKERS worker(s), pool $(build/conftool get DB_POOL_SIZE) per worker; wrk $CONNS connections through HAProxy, $DURATION s a case, $ROUNDS interleaved rounds"
echo "# the machine is shared: other jobs may be running (load average above)"

printf "\n%-6s %-10s %-10s %10s %9s %9s %9s %9s %s\n" round instances db "req/s" p50_ms p99_ms 2xx rows check
fail=0
declare -A best
for r in $(seq 1 "$ROUNDS"); do
	for n in 1 2 3; do
		for via in direct pgbouncer; do
			url=$appurl
			[ "$via" = pgbouncer ] && url=$bouncer_url
			scale_start "$n" "$url"
			# Warm the pools and the model for a second.
			wrk -t 2 -c "$CONNS" -d 1s -s tests/bench/predict.lua \
			    "http://127.0.0.1:$lb_port/predict" >/dev/null
			bench_checkpoint
			before=$(rows)
			line=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency \
			    -s tests/bench/predict.lua \
			    "http://127.0.0.1:$lb_port/predict" | grep '^WRK ')
			# Rows of requests still in flight when wrk stopped
			# commit just after: give them a moment.
			sleep 0.5
			after=$(rows)
			scale_stop
			okn=$(bench_field ok "$line")
			extra=$(( after - before - okn ))
			check="ok (+$extra in flight)"
			if [ "$extra" -lt 0 ] || [ "$extra" -gt "$CONNS" ] ||
			    [ "$(bench_field non2xx "$line")" != 0 ] ||
			    [ "$(bench_field errors "$line")" != 0 ]; then
				check="!! rows $((after - before)) vs 2xx $okn, non2xx $(bench_field non2xx "$line"), errors $(bench_field errors "$line")"
				fail=1
			fi
			printf "%-6s %-10s %-10s %10.0f %9s %9s %9s %9s %s\n" \
			    "$r" "$n" "$via" "$(bench_field rps "$line")" \
			    "$(bench_field p50_ms "$line")" \
			    "$(bench_field p99_ms "$line")" "$okn" \
			    "$((after - before))" "$check"
			k="$n $via"
			best[$k]="${best[$k]:-} $(bench_field rps "$line")"
		done
	done
done

echo
echo "median req/s of the rounds (durable: each 2xx's row was committed):"
for n in 1 2 3; do
	for via in direct pgbouncer; do
		m=$(printf '%s\n' ${best["$n $via"]} | sort -g |
		    awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] :
			(a[NR/2] + a[NR/2+1]) / 2}')
		printf "  %d instance(s), %-9s %8.0f\n" "$n" "$via" "$m"
	done
done
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
