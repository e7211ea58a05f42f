#!/usr/bin/env bash
# bench_rollups.sh: the write path with rollups on and off, interleaved,
# on this machine: on is the partial trigger (a row per INSERT statement)
# and the janitor's fold every ROLLUP_FOLD_MS=100 ms, the default; off is
# neither (the trigger disabled, ROLLUP_FOLD_MS=0).  A benchmark, not a
# test: it prints figures and fails only if rows and 2xx answers disagree.
#
#   tests/bench/bench_rollups.sh  (ROUNDS=4 DURATION=10 CONNS=64 FOLD_MS=100)
#   PAST_PARTITIONS=48 tests/bench/bench_rollups.sh   with 48 more hourly
#                                 partitions of prediction_metrics before now
#
# Its own PostgreSQL and server as tests/bench/bench.sh (fsync and
# synchronous_commit on); each round runs wrk POSTing /predict once with
# rollups on (the janitor folding every FOLD_MS ms) and once off, in
# alternating order, a fresh server and an empty table each time.  It
# prints req/s, p50 and p99 per run, the CPU time of the server and
# PostgreSQL and the WAL bytes per request, the rows per INSERT statement
# (the batches the recorder made: rows per distinct created_at), the
# median of each side, the loss with rollups on, each round's own change
# (its two runs back to back), the spread between rounds of the same side
# (the noise of a shared machine: read the loss against it), and the time
# spent in the trigger, the fold and its builds per second of load; then
# the WAL an idle server with rollups on writes in 10 s.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
FOLD_MS=${FOLD_MS:-100}
PAST_PARTITIONS=${PAST_PARTITIONS:-0}
export WORKERS=${WORKERS:-2} RATE_LIMIT_PREDICT_PER_MINUTE=1000000000

. tests/bench/lib.sh
bench_cluster
psql "$super" -X -q -c "ALTER ROLE modelserver_app SET synchronous_commit = on"
# The time spent inside app.rollup_fold: a figure the round-to-round noise
# of wrk on a shared machine does not drown.
psql "$super" -X -q -c "ALTER SYSTEM SET track_functions = 'pl'" \
    -c "SELECT pg_reload_conf()" >/dev/null
rows() { psql "$super" -X -At -c "SELECT count(*) FROM app.prediction_metrics"; }
if [ "$PAST_PARTITIONS" -gt 0 ]; then
	psql "$super" -X -q -At -c "SELECT app.partition_ensure(
	    'app.prediction_metrics', now() - interval '$PAST_PARTITIONS hours',
	    now())" >/dev/null
fi
partitions=$(psql "$super" -X -At -c "SELECT count(*) FROM app.partitions
    WHERE parent = 'app.prediction_metrics'::regclass")

echo "# machine: $(bench_machine)"
echo "# $ROUNDS rounds of ${DURATION} s at $CONNS connections, $WORKERS workers;" \
    "$partitions partitions of prediction_metrics"
printf "\n%-6s %-9s %8s %7s %7s %10s %9s %9s %6s %9s %9s %10s %11s %s\n" round fold "req/s" \
    p50_ms p99_ms cpu_us/req wal_B/req folded lag_s fold_runs "fold_ms/s" "build_ms/s" \
    "trigger_ms/s" "rows/stmt"

declare -a on_rps off_rps on_p99 off_p99 on_cpu off_cpu on_wal off_wal \
    on_fold on_build on_trig on_batch
fail=0
run() {	# run ROUND FOLD_MS (0: rollups off, the partial trigger too)
	local before after line lag batch k0 k1 p0 p1 cpu w0 w1 wal
	# Every run starts from an empty table and no rollups.
	psql "$super" -X -q -c "DO \$\$ BEGIN EXECUTE 'TRUNCATE app.prediction_metrics, '
	    || (SELECT string_agg(tbl::text, ', ') FROM app.rollup_levels()); END \$\$;
	    UPDATE app.rollup_state SET watermark = NULL"
	psql "$super" -X -q -c "ALTER TABLE app.prediction_metrics
	    $([ "$2" = 0 ] && echo DISABLE || echo ENABLE) TRIGGER rollup_partial_add"
	ROLLUP_FOLD_MS=$2 bench_server "rollups-$2"
	wrk -t 2 -c "$CONNS" -d 3s -s tests/bench/predict.lua \
	    "http://127.0.0.1:$port/predict" >/dev/null 2>&1	# warm-up
	bench_checkpoint
	psql "$super" -X -q -c "SELECT pg_stat_reset()" >/dev/null
	before=$(rows)
	k0=$(bench_cpu_ticks "$kore_pid" $(bench_workers))
	p0=$(bench_cpu_ticks $(bench_pg_pids))
	w0=$(psql "$super" -X -At -c "SELECT wal_bytes FROM pg_stat_wal")
	line=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" --latency \
	    -s tests/bench/predict.lua "http://127.0.0.1:$port/predict" |
	    grep '^WRK ')
	k1=$(bench_cpu_ticks "$kore_pid" $(bench_workers))
	p1=$(bench_cpu_ticks $(bench_pg_pids))
	w1=$(psql "$super" -X -At -c "SELECT wal_bytes FROM pg_stat_wal")
	after=$(rows)
	# CPU time of the server and PostgreSQL per request answered, in us:
	# what the work costs, whatever else the shared host does meanwhile
	cpu=$(awk -v t=$((k1 - k0 + p1 - p0)) -v hz="$(getconf CLK_TCK)" \
	    -v n="$(bench_field ok "$line")" 'BEGIN {
	    printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }')
	# WAL bytes per request: the write's own size, which no neighbour
	# changes (backends report their WAL about once a second)
	wal=$(awk -v a="$w0" -v b="$w1" -v n="$(bench_field ok "$line")" \
	    'BEGIN { printf "%.0f", (n > 0 ? (b - a) / n : 0) }')
	lag=$(psql "$super" -X -At -c "SELECT coalesce(round(extract(epoch FROM
	    now() - watermark)::numeric, 2)::text, 'none') FROM app.rollup_state")
	folded=$(psql "$super" -X -At -c "SELECT coalesce(sum(n), 0) FROM app.rollup_100ms")
	batch=$(psql "$super" -X -At -c "SELECT round(count(*)::numeric
	    / nullif(count(DISTINCT created_at), 0), 1) FROM app.prediction_metrics")
	bench_server_stop
	# calls and ms inside rollup_fold per second of the run (its waits
	# for open transactions included: an upper bound of its CPU), and in
	# the rollup_build calls it made (the folding itself, no waits); read
	# once the server is gone, its sessions having flushed their counts
	fold=$(psql "$super" -X -At -F ' ' -c "SELECT
	    coalesce(sum(calls) FILTER (WHERE funcname = 'rollup_fold'), 0),
	    round(coalesce(sum(total_time) FILTER (WHERE funcname =
	        'rollup_fold'), 0)::numeric / $DURATION, 1),
	    round(coalesce(sum(total_time) FILTER (WHERE funcname =
	        'rollup_build'), 0)::numeric / $DURATION, 1),
	    round(coalesce(sum(total_time) FILTER (WHERE funcname =
	        'rollup_partial_add'), 0)::numeric / $DURATION, 1)
	    FROM pg_stat_user_functions WHERE schemaname = 'app'")
	printf "%-6s %-9s %8.0f %7s %7s %10s %9s %9s %6s %9s %9s %9s %10s %11s\n" "$1" "$2 ms" \
	    "$(bench_field rps "$line")" "$(bench_field p50_ms "$line")" \
	    "$(bench_field p99_ms "$line")" "$cpu" "$wal" "$folded" "$lag" $fold "$batch"
	extra=$(( after - before - $(bench_field ok "$line") ))
	if [ "$extra" -lt 0 ] || [ "$extra" -gt "$CONNS" ] ||
	    [ "$(bench_field non2xx "$line")" != 0 ]; then
		echo "!! rows written and 2xx answers disagree (or non-2xx seen)"
		fail=1
	fi
	if [ "$2" = 0 ]; then
		off_rps+=("$(bench_field rps "$line")"); off_p99+=("$(bench_field p99_ms "$line")")
		off_cpu+=("$cpu"); off_wal+=("$wal")
	else
		on_rps+=("$(bench_field rps "$line")"); on_p99+=("$(bench_field p99_ms "$line")")
		on_cpu+=("$cpu"); on_wal+=("$wal")
		read -r _ f b t <<<"$fold"
		on_fold+=("$f"); on_build+=("$b"); on_trig+=("$t")
		on_batch+=("$batch")
	fi
}
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then run "$r" "$FOLD_MS"; run "$r" 0
	else run "$r" 0; run "$r" "$FOLD_MS"; fi
done
psql "$super" -X -q -c "ALTER TABLE app.prediction_metrics
    ENABLE TRIGGER rollup_partial_add"

# Idle, rollups on: what the fold writes once requests have stopped (a
# few buckets closing; nothing after that).  A handful of requests, not
# a load, and the rounds' leftovers vacuumed first: autovacuum's work
# would be counted too.
psql "$super" -X -q -c "VACUUM ANALYZE"
ROLLUP_FOLD_MS=$FOLD_MS bench_server "rollups-idle"
for i in $(seq 1 20); do
	curl -s -o /dev/null -X POST -H 'Content-Type: application/json' \
	    -d '{"text": "idle test"}' "http://127.0.0.1:$port/predict"
done
sleep 2
idle0=$(psql "$super" -X -At -F ' ' -c "SELECT wal_records, wal_bytes FROM pg_stat_wal")
sleep 10
idle1=$(psql "$super" -X -At -F ' ' -c "SELECT wal_records, wal_bytes FROM pg_stat_wal")
bench_server_stop

/usr/bin/python3 - "${on_rps[*]}" "${off_rps[*]}" "${on_p99[*]}" "${off_p99[*]}" \
    "${on_fold[*]}" "${on_build[*]}" "${on_trig[*]}" "${on_batch[*]}" \
    "$(nproc)" "${on_cpu[*]}" "${off_cpu[*]}" "${on_wal[*]}" "${off_wal[*]}" <<'PY'
import statistics as st, sys
on, off, p_on, p_off, f_on, b_on, t_on, n_on = (
    [float(x) for x in a.split()] for a in sys.argv[1:9])
cores = int(sys.argv[9])
c_on, c_off, w_on, w_off = ([float(x) for x in a.split()]
                            for a in sys.argv[10:14])
m_on, m_off = st.median(on), st.median(off)
spread = lambda v: 100 * (max(v) - min(v)) / st.median(v)
print()
print("median req/s: rollups on %.0f, off %.0f: %+.1f %% with rollups on"
      % (m_on, m_off, 100 * (m_on - m_off) / m_off))
print("median p99: rollups on %.2f ms, off %.2f ms" % (st.median(p_on), st.median(p_off)))
print("noise: req/s spread between rounds of one side: on %.0f %%, off %.0f %%"
      % (spread(on), spread(off)))
# Paired: each round ran both sides back to back, so its own change is
# the estimate least moved by the machine's drift between rounds.
d_rps = sorted(100 * (a - b) / b for a, b in zip(on, off))
d_p99 = sorted(a - b for a, b in zip(p_on, p_off))
print("paired by round: req/s change median %+.1f %% (rounds %s), p99 change "
      "median %+.2f ms (rounds %s)"
      % (st.median(d_rps), " ".join("%+.1f" % x for x in d_rps),
         st.median(d_p99), " ".join("%+.2f" % x for x in d_p99)))
d_cpu = sorted(100 * (a - b) / b for a, b in zip(c_on, c_off))
print("CPU of the server and PostgreSQL per request: on %.1f us, off %.1f us; "
      "paired change median %+.1f %% (rounds %s)"
      % (st.median(c_on), st.median(c_off), st.median(d_cpu),
         " ".join("%+.1f" % x for x in d_cpu)))
print("WAL per request: on %.0f bytes, off %.0f bytes (%+.1f %%)"
      % (st.median(w_on), st.median(w_off),
         100 * (st.median(w_on) - st.median(w_off)) / st.median(w_off)))
print("inside rollup_fold: median %.1f ms per second of load, %.1f %% of the "
      "machine's %d cores (its waits for open transactions included)"
      % (st.median(f_on), st.median(f_on) / 10 / cores, cores))
print("inside rollup_build (the folding itself): median %.1f ms per second, "
      "%.1f %% of the machine" % (st.median(b_on), st.median(b_on) / 10 / cores))
print("inside the partial trigger: median %.1f ms per second, %.1f %% of the "
      "machine; %.1f rows per INSERT statement"
      % (st.median(t_on), st.median(t_on) / 10 / cores, st.median(n_on)))
PY
read -r r0 b0 <<<"$idle0"
read -r r1 b1 <<<"$idle1"
echo "idle 10 s with rollups on (from 2 s after 20 requests): $((r1 - r0)) WAL" \
    "records, $((b1 - b0)) bytes"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $fail
