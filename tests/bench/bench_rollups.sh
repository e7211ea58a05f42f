#!/usr/bin/env bash
# bench_rollups.sh: the write path with the rollup fold on and off
# (ROLLUP_FOLD_MS=500 against 0), interleaved, on this machine.  A
# benchmark, not a test: it prints figures and fails only if rows and 2xx
# answers disagree.
#
#   tests/bench/bench_rollups.sh      (ROUNDS=4 DURATION=10 CONNS=64)
#
# Its own PostgreSQL and server as tests/bench/bench.sh (fsync and
# synchronous_commit on); each round runs wrk POSTing /predict once with
# the janitor folding every 500 ms and once with folding off, in
# alternating order, a fresh server each time.  It prints req/s, p50 and
# p99 per run, the median of each side, the loss with the fold on, and
# the spread between rounds of the same side (the noise of a shared
# machine: read the loss against it).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
export WORKERS=${WORKERS:-2} RATE_LIMIT_PREDICT_PER_MINUTE=1000000000

. tests/bench/lib.sh
bench_cluster
psql "$super" -X -q -c "ALTER ROLE modelserver_app SET synchronous_commit = on"
rows() { psql "$super" -X -At -c "SELECT count(*) FROM app.prediction_metrics"; }

echo "# machine: $(bench_machine)"
echo "# $ROUNDS rounds of ${DURATION} s at $CONNS connections, $WORKERS workers"
printf "\n%-6s %-14s %10s %8s %8s %9s %s\n" round fold "req/s" p50_ms p99_ms folded watermark_lag_s

declare -a on_rps off_rps on_p99 off_p99
fail=0
run() {	# run ROUND FOLD_MS
	local before after line lag
	ROLLUP_FOLD_MS=$2 bench_server "rollups-$2"
	wrk -t 2 -c "$CONNS" -d 3s -s tests/bench/predict.lua \
	    "http://127.0.0.1:$port/predict" >/dev/null 2>&1	# warm-up
	bench_checkpoint
	before=$(rows)
	line=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency \
	    -s tests/bench/predict.lua "http://127.0.0.1:$port/predict" |
	    grep '^WRK ')
	after=$(rows)
	lag=$(psql "$super" -X -At -c "SELECT coalesce(round(extract(epoch FROM
	    now() - watermark)::numeric, 2)::text, 'none') FROM app.rollup_state")
	folded=$(psql "$super" -X -At -c "SELECT coalesce(sum(n), 0) FROM app.rollup_1s")
	bench_server_stop
	printf "%-6s %-14s %10.0f %8s %8s %9s %s\n" "$1" "$2 ms" \
	    "$(bench_field rps "$line")" "$(bench_field p50_ms "$line")" \
	    "$(bench_field p99_ms "$line")" "$folded" "$lag"
	extra=$(( after - before - $(bench_field ok "$line") ))
	if [ "$extra" -lt 0 ] || [ "$extra" -gt "$CONNS" ] ||
	    [ "$(bench_field non2xx "$line")" != 0 ]; then
		echo "!! rows written and 2xx answers disagree (or non-2xx seen)"
		fail=1
	fi
	if [ "$2" = 0 ]; then
		off_rps+=("$(bench_field rps "$line")"); off_p99+=("$(bench_field p99_ms "$line")")
	else
		on_rps+=("$(bench_field rps "$line")"); on_p99+=("$(bench_field p99_ms "$line")")
	fi
}
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run "$r" 500; run "$r" 0
	else run "$r" 0; run "$r" 500; fi
	# The next round starts from an empty table and unfolded rollups.
	psql "$super" -X -q -c "TRUNCATE app.prediction_metrics, app.rollup_1s,
	    app.rollup_1m, app.rollup_1h, app.rollup_1d;
	    UPDATE app.rollup_state SET watermark = NULL"
done

/usr/bin/python3 - "${on_rps[*]}" "${off_rps[*]}" "${on_p99[*]}" "${off_p99[*]}" <<'PY'
import statistics as st, sys
on, off, p_on, p_off = ([float(x) for x in a.split()] for a in sys.argv[1:5])
m_on, m_off = st.median(on), st.median(off)
spread = lambda v: 100 * (max(v) - min(v)) / st.median(v)
print()
print("median req/s: fold on %.0f, off %.0f: %+.1f %% with the fold on"
      % (m_on, m_off, 100 * (m_on - m_off) / m_off))
print("median p99: fold on %.2f ms, off %.2f ms" % (st.median(p_on), st.median(p_off)))
print("noise: req/s spread between rounds of one side: on %.0f %%, off %.0f %%"
      % (spread(on), spread(off)))
PY
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
