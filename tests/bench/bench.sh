#!/usr/bin/env bash
# bench.sh: durable predictions per second, against the database's own
# limit, on this machine.  A benchmark, not a test: it prints figures and
# only fails if the server loses or invents rows.
#
#   tests/bench/bench.sh                 three interleaved rounds (make bench)
#   tests/bench/bench.sh --soak SECONDS  one long wrk run, RSS sampled (make soak)
#   PAST_PARTITIONS=48 tests/bench/bench.sh  the same with 48 more hourly
#                                        partitions of prediction_metrics
#                                        (before now; 24 ahead exist anyway)
#
# It starts its own PostgreSQL (fsync and synchronous_commit on, as in
# production) and its own server (the optimised build, rate limiter on with
# a limit high enough never to reject), warms up, then runs, interleaved:
#   (a) pgbench inserting the same row one per transaction, 16 and 64 clients
#   (b) wrk POSTing /predict at 64 connections
#   (c) wrk POSTing /predict/batch, BATCH_TEXTS texts a request, at
#       BATCH_CONNS connections (durable rows/s = 2xx x BATCH_TEXTS / s)
# for ROUNDS rounds of DURATION seconds each, and reports requests/s,
# p50/p99, rows written versus 2xx answers, the server/pgbench ratio, the
# workers' peak RSS, the CPU split and the requests and connections per
# worker.  Then each side alone (HTTP without model or database; the
# database doing the recorder's batches without HTTP), to show which one
# sets the limit.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
CONNS=${CONNS:-64}
BATCH_TEXTS=${BATCH_TEXTS:-100}
BATCH_CONNS=${BATCH_CONNS:-16}
WORKERS=${WORKERS:-2}
PAST_PARTITIONS=${PAST_PARTITIONS:-0}
SOAK=0
if [ "${1:-}" = "--soak" ]; then
	SOAK=${2:-600}
fi

. tests/bench/lib.sh
bench_cluster
psql "$super" -X -q -c "ALTER ROLE modelserver_app SET synchronous_commit = on"
# The WAL syncs each side makes, and their time (pg_stat_wal): every
# durable answer waits for one.  Timing them costs two clock reads a sync.
psql "$super" -X -q -c "ALTER SYSTEM SET track_wal_io_timing = on" \
    -c "SELECT pg_reload_conf()" >/dev/null
mid=$(psql "$super" -X -At -c "SELECT app.model_version_id('vader', '3.3.2')")
if [ "$PAST_PARTITIONS" -gt 0 ]; then
	psql "$super" -X -q -At -c "SELECT app.partition_ensure(
	    'app.prediction_metrics', now() - interval '$PAST_PARTITIONS hours',
	    now())" >/dev/null
fi

# ---- the server (rate limiter on, a limit it never reaches) ---------------
export WORKERS RATE_LIMIT_PREDICT_PER_MINUTE=1000000000
bench_server server

# worker_series NAME: a per-worker series of /metrics/prometheus, comma
# separated in worker order.
worker_series() {
	curl -s "http://127.0.0.1:$port/metrics/prometheus" |
	    sed -n "s/^$1{worker=\"\([0-9]*\)\"} \([0-9]*\).*/\1 \2/p" |
	    sort -n | awk '{printf "%s%s", (NR > 1 ? "," : ""), $2}'
}
# Requests answered by each worker so far.
worker_counts() { worker_series modelserver_worker_requests_total; }
# Open connections of each worker (balance.c); the scrape's own is one.
worker_conns() { worker_series modelserver_worker_connections; }
rows() { psql "$super" -X -At -c "SELECT count(*) FROM app.prediction_metrics"; }
# WAL syncs so far and their total time in ms.  Backends report these
# about once a second, so a window of DURATION s is right within a
# second's worth at each end.
wal_syncs() { psql "$super" -X -At -F' ' -c "SELECT wal_sync, wal_sync_time FROM pg_stat_wal"; }
# wal_line SYNCS0 MS0 SYNCS1 MS1 OPS SECONDS WHAT: syncs a second, OPS per
# sync, average sync time, and the share of the time one was under way.
wal_line() {
	/usr/bin/python3 -c 'import sys
n0, t0, n1, t1, ops, secs = map(float, sys.argv[1:7])
n, t = max(n1 - n0, 1), t1 - t0
print("%.0f/s, %.1f %s each, %.3f ms average, a sync under way %.0f%% of the time"
      % (n / secs, ops / n, sys.argv[7], t / n, 100 * t / (secs * 1000)))' "$@"
}

run_wrk() {	# run_wrk CONNS SECONDS THREADS [PATH] -> the WRK line, plus CPU and rows
	local c=$1 d=$2 th=$3 path=${4:-/predict} before after p0 k0 p1 k1 line wt
	bench_checkpoint
	before=$(rows)
	w0=$(worker_counts)
	k0=$(bench_cpu_ticks "$kore_pid" $(bench_workers)); p0=$(bench_cpu_ticks $(bench_pg_pids))
	read -r b0 s0 a0 < <(bench_stat_ticks)
	read -r y0 yt0 < <(wal_syncs)
	# Halfway through, how wrk's connections sit on the workers.
	(sleep "$((d / 2))"; worker_conns >"$out/conns.txt") &
	cpid=$!
	# wrk's own CPU time comes from its rusage (wait4) in ticks.
	wt=$(/usr/bin/python3 -c '
import os, subprocess, sys
p = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1], "w"),
                     stderr=subprocess.STDOUT)
_, _, ru = os.wait4(p.pid, 0)
print(int((ru.ru_utime + ru.ru_stime) * os.sysconf("SC_CLK_TCK")))
' "$out/wrk.txt" wrk -t "$th" -c "$c" -d "${d}s" --latency \
	    -s tests/bench/predict.lua "http://127.0.0.1:$port$path")
	read -r b1 s1 a1 < <(bench_stat_ticks)
	read -r y1 yt1 < <(wal_syncs)
	k1=$(bench_cpu_ticks "$kore_pid" $(bench_workers)); p1=$(bench_cpu_ticks $(bench_pg_pids))
	after=$(rows)
	w1=$(worker_counts)
	wait "$cpid"
	line=$(grep '^WRK ' "$out/wrk.txt")
	echo "$line conns=$(cat "$out/conns.txt") workers=$(awk -v a="$w1" -v b="$w0" 'BEGIN { n = split(a, x, ","); split(b, y, ","); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? "," : ""), x[i] - y[i] }') rows=$((after - before)) server_ticks=$((k1 - k0)) pg_ticks=$((p1 - p0)) wrk_ticks=$wt busy_ticks=$((b1 - b0)) sirq_ticks=$((s1 - s0)) all_ticks=$((a1 - a0)) wal_syncs=$y0,$yt0,$y1,$yt1"
}

# per_op B0 A0 B1 A1 RATE: microseconds of machine time (all cores, busy
# per /proc/stat) per operation at RATE operations/s, and the busy share.
per_op() {
	/usr/bin/python3 -c 'import sys
b0, a0, b1, a1, r = map(float, sys.argv[1:6]); n = int(sys.argv[6])
busy = (b1 - b0) / max(a1 - a0, 1)
print("%.0f us of machine time each, %.0f%% busy" % (busy * n * 1e6 / max(r, 1), 100 * busy))' "$@" "$(nproc)"
}

echo "# machine: $(bench_machine)"
echo "# $(kore -v | head -1 | sed 's/^/kore /'), $(psql --version), wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}')"
echo "# prediction_metrics: $(psql "$super" -X -At -c "SELECT count(*) FROM app.partitions WHERE parent = 'app.prediction_metrics'::regclass") partitions"
echo "# server: $WORKERS workers, pool $(build/conftool get DB_POOL_SIZE), batch max $(build/conftool get RECORDER_BATCH_MAX), delay $(build/conftool get RECORDER_DELAY_MS) ms, $(build/conftool get RECORDER_INFLIGHT) batch(es) in flight per worker, rate limiter on"

# The /predict/batch body: BATCH_TEXTS different review-like texts.
batch_body=$(/usr/bin/python3 -c 'import json, sys
words = ["great", "awful", "the staff", "was", "friendly", "slow", "refund",
         "food", "not", "very", "good", "noisy", "room", "love", "hate"]
texts = [" ".join(words[(i * 7 + k * 3) % len(words)] for k in range(12))
         + " %d" % i for i in range(int(sys.argv[1]))]
print(json.dumps({"texts": texts, "include_metrics": False}))' "$BATCH_TEXTS")
run_batch() {	# run_batch SECONDS -> run_wrk's line for /predict/batch
	WRK_BODY=$batch_body run_wrk "$BATCH_CONNS" "$1" 2 /predict/batch
}

# ---- warm-up ------------------------------------------------------------------
run_wrk "$CONNS" 5 2 >/dev/null
run_batch 3 >/dev/null
bench_pgbench 16 >/dev/null

if [ "$SOAK" != 0 ]; then
	echo "# soak: $SOAK s at $CONNS connections; RSS (kB) of each worker every 10 s"
	wrk -t 2 -c "$CONNS" -d "${SOAK}s" --latency -s tests/bench/predict.lua \
	    "http://127.0.0.1:$port/predict" >"$out/wrk-soak.txt" 2>&1 &
	wpid=$!
	samples="$out/rss.txt"; : >"$samples"
	while kill -0 "$wpid" 2>/dev/null; do
		line="$(date +%s)"
		for w in $(bench_workers); do
			line="$line $(awk '/^VmRSS/ {print $2}' /proc/$w/status)"
		done
		echo "$line" >>"$samples"
		sleep 10
	done
	wait "$wpid" || true
	line=$(grep '^WRK ' "$out/wrk-soak.txt")
	echo "$line"
	soak=0
	/usr/bin/python3 - "$samples" <<'PY' || soak=1
import sys
rows = [list(map(int, l.split()[1:])) for l in open(sys.argv[1]) if l.strip()]
rows = [r for r in rows if r]
if len(rows) < 7:
    print("too few samples"); sys.exit(0)
first = rows[6]          # one minute in: after the warm caches and pools
last = rows[-1]
for i, (a, b) in enumerate(zip(first, last)):
    grew = 100.0 * (b - a) / a
    print("worker %d: RSS %d kB at 1 min, %d kB at the end: %+.1f%%, peak %d kB"
          % (i + 1, a, b, grew, max(r[i] for r in rows)))
    if abs(grew) > 10:
        print("!! worker %d: RSS moved more than 10%%" % (i + 1)); sys.exit(1)
PY
	if [ "$(bench_field non2xx "$line")" != 0 ] || [ "$(bench_field errors "$line")" != 0 ]; then
		echo "!! non-2xx answers or errors during the soak; see $out/server.log"
		soak=1
	fi
	exit $soak
fi

# ---- the rounds -------------------------------------------------------------
printf "\n%-6s %-22s %12s %10s %10s %10s %10s\n" round what "req/s" p50_ms p99_ms 2xx rows
declare -a pg16 pg64 srv ratios bsrv
fail=0
for r in $(seq 1 "$ROUNDS"); do
	read -r y0 yt0 < <(wal_syncs)
	t=$(bench_pgbench 16); pg16+=("$t")
	read -r y1 yt1 < <(wal_syncs)
	printf "%-6s %-22s %12.0f\n" "$r" "pgbench 1 row/tx, 16c" "$t"
	printf "%-6s %-22s %s\n" "" "WAL syncs" "$(wal_line "$y0" "$yt0" \
	    "$y1" "$yt1" "$(/usr/bin/python3 -c "print($t * $DURATION)")" \
	    "$DURATION" transactions)"
	t=$(bench_pgbench 64); pg64+=("$t")
	printf "%-6s %-22s %12.0f\n" "$r" "pgbench 1 row/tx, 64c" "$t"
	line=$(run_wrk "$CONNS" "$DURATION" 2)
	srv+=("$(bench_field rps "$line")")
	printf "%-6s %-22s %12.0f %10s %10s %10s %10s\n" "$r" \
	    "server /predict, ${CONNS}c" "$(bench_field rps "$line")" \
	    "$(bench_field p50_ms "$line")" "$(bench_field p99_ms "$line")" \
	    "$(bench_field ok "$line")" "$(bench_field rows "$line")"
	echo "$line" >>"$out/rounds.txt"
	# The machine's speed drifts (a shared VM): the fairest ratio is the
	# one against pgbench of the same round.
	ratio=$(/usr/bin/python3 -c 'import sys; s, a, b = map(float, sys.argv[1:]); print("%.2f" % (s / max(a, b)))' \
	    "$(bench_field rps "$line")" "${pg16[-1]}" "${pg64[-1]}")
	ratios+=("$ratio")
	printf "%-6s %-22s %sx (server / the better pgbench of this round)\n" \
	    "" "ratio" "$ratio"
	# wrk stops counting at the deadline with up to one request per
	# connection in flight; those rows commit after it stopped looking.
	extra=$(( $(bench_field rows "$line") - $(bench_field ok "$line") ))
	if [ "$extra" -lt 0 ] || [ "$extra" -gt "$CONNS" ] ||
	    [ "$(bench_field non2xx "$line")" != 0 ]; then
		echo "!! rows written and 2xx answers disagree (or non-2xx seen)"
		fail=1
	else
		printf "%-6s %-22s rows - 2xx = %d (in flight when wrk stopped; at most one per connection)\n" \
		    "" "rows vs 2xx" "$extra"
	fi
	# Batches: durable rows/s, p99 of a request of BATCH_TEXTS texts.
	bline=$(run_batch "$DURATION")
	echo "$bline" >>"$out/rounds-batch.txt"
	brows=$(/usr/bin/python3 -c "print('%.0f' % ($(bench_field ok "$bline") * $BATCH_TEXTS / $DURATION))")
	bsrv+=("$brows")
	printf "%-6s %-22s %12.0f %10s %10s %10s %10s\n" "$r" \
	    "batch x$BATCH_TEXTS, ${BATCH_CONNS}c rows/s" "$brows" \
	    "$(bench_field p50_ms "$bline")" "$(bench_field p99_ms "$bline")" \
	    "$(bench_field ok "$bline")" "$(bench_field rows "$bline")"
	bextra=$(( $(bench_field rows "$bline") - BATCH_TEXTS * $(bench_field ok "$bline") ))
	if [ "$bextra" -lt 0 ] || [ "$bextra" -gt $((BATCH_CONNS * BATCH_TEXTS)) ] ||
	    [ "$(bench_field non2xx "$bline")" != 0 ]; then
		echo "!! batch: rows written and 2xx x $BATCH_TEXTS disagree (or non-2xx seen)"
		fail=1
	fi
	printf "%-6s %-22s %s req/s, CPU server %d%%, postgres %d%%, idle %d%%\n" "" \
	    "batch requests" "$(bench_field rps "$bline")" \
	    $((100 * $(bench_field server_ticks "$bline") / $(bench_field all_ticks "$bline"))) \
	    $((100 * $(bench_field pg_ticks "$bline") / $(bench_field all_ticks "$bline"))) \
	    $((100 - 100 * $(bench_field busy_ticks "$bline") / $(bench_field all_ticks "$bline")))
	st=$(bench_field server_ticks "$line"); pt=$(bench_field pg_ticks "$line")
	wt=$(bench_field wrk_ticks "$line")
	total=$(bench_field all_ticks "$line"); bt=$(bench_field busy_ticks "$line")
	printf "%-6s %-22s %s\n" "" "requests per worker" \
	    "$(bench_field workers "$line" | tr , ' ')"
	printf "%-6s %-22s %s (halfway; one is the count's own scrape)\n" "" \
	    "connections per worker" "$(bench_field conns "$line" | tr , ' ')"
	printf "%-6s %-22s server %d%%, postgres %d%%, wrk %d%%, kernel softirq %d%%, idle %d%% (of %d cores; busy per /proc/stat)\n" \
	    "" "CPU split" $((100 * st / total)) $((100 * pt / total)) \
	    $((100 * wt / total)) $((100 * $(bench_field sirq_ticks "$line") / total)) \
	    $((100 - 100 * bt / total)) "$(nproc)"
	printf "%-6s %-22s %s\n" "" "per request" \
	    "$(per_op 0 0 "$bt" "$total" "$(bench_field rps "$line")")"
	printf "%-6s %-22s %s\n" "" "WAL syncs" "$(wal_line \
	    $(bench_field wal_syncs "$line" | tr , ' ') \
	    "$(bench_field rows "$line")" "$DURATION" rows)"
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
m16=$(median "${pg16[@]}"); m64=$(median "${pg64[@]}"); ms=$(median "${srv[@]}")
echo
printf "median: pgbench 16c %.0f/s, pgbench 64c %.0f/s, server %.0f/s\n" "$m16" "$m64" "$ms"
printf "median: /predict/batch x%d, %dc: %.0f durable rows/s (rounds: %s)\n" \
    "$BATCH_TEXTS" "$BATCH_CONNS" "$(median "${bsrv[@]}")" "${bsrv[*]}"
/usr/bin/python3 -c "import sys; s,a,b=map(float,sys.argv[1:]); print('ratio server/pgbench: %.2fx (16c), %.2fx (64c), %.2fx (best pgbench)' % (s/a, s/b, s/max(a,b)))" "$ms" "$m16" "$m64"
echo "ratio per round (server / the better pgbench of its round): ${ratios[*]}; median $(median "${ratios[@]}")x"

# ---- where the limit is -----------------------------------------------------------
# Each side alone, to show which one bounds the figures above:
#  - the HTTP side: POST /predict with an empty text answers 422 after the
#    same reading, parsing and validation and a JSON answer, without the
#    model or the database;
#  - the database: pgbench calling app.record_predictions (the recorder's
#    statement) with batches of the average size the server made, and of
#    RECORDER_BATCH_MAX, on as many connections as the recorder uses.
psql "$super" -X -q -c "CREATE OR REPLACE FUNCTION public.bench_uuids(n integer)
    RETURNS uuid[] LANGUAGE sql
    AS 'SELECT array_agg(gen_random_uuid()) FROM generate_series(1, n)'"
bench_checkpoint
read -r b0 _ a0 < <(bench_stat_ticks)
line=$(WRK_BODY='{"text": ""}' wrk -t 2 -c "$CONNS" -d 10s --latency \
    -s tests/bench/predict.lua "http://127.0.0.1:$port/predict" | grep '^WRK ')
read -r b1 _ a1 < <(bench_stat_ticks)
echo
echo "where the limit is (each side alone, on the same machine):"
printf "  %-44s %8.0f req/s, p99 %s ms, %s answers, all 422\n" \
    "HTTP only: /predict with an empty text, ${CONNS}c" "$(bench_field rps "$line")" \
    "$(bench_field p99_ms "$line")" "$(bench_field non2xx "$line")"
printf "  %-44s %s\n" "" "$(per_op "$b0" "$a0" "$b1" "$a1" "$(bench_field rps "$line")")"
avg=$(curl -s "http://127.0.0.1:$port/metrics/prometheus" | awk '
    /^modelserver_batch_rows_sum/ {s = $2} /^modelserver_batch_rows_count/ {c = $2}
    END {n = (c > 0 ? int(s / c + 0.5) : 1); print (n < 1 ? 1 : n)}')
# The recorder's batches in flight per worker, as recorder_init() counts
# them: RECORDER_INFLIGHT, at most half the pool, 1 to 8.
per=$(build/conftool get RECORDER_INFLIGHT)
half=$(( $(build/conftool get DB_POOL_SIZE) / 2 ))
per=$(( per > half ? half : per ))
per=$(( per < 1 ? 1 : (per > 8 ? 8 : per) ))
rconns=$(( WORKERS * per ))
for n in "$avg" "$(build/conftool get RECORDER_BATCH_MAX)"; do
	bench_checkpoint
	read -r b0 _ a0 < <(bench_stat_ticks)
	tps=$(pgbench "$super" -n -c "$rconns" -j 2 -T 10 -D n="$n" \
	    -f tests/bench/pgbench_batch.sql 2>/dev/null |
	    sed -n 's/^tps = \([0-9.]*\) .*/\1/p')
	read -r b1 _ a1 < <(bench_stat_ticks)
	rps=$(/usr/bin/python3 -c "print(${tps:-0} * $n)")
	printf "  %-44s %8.0f rows/s, %.0f batches/s\n" \
	    "database only: batches of $n rows, ${rconns}c" "$rps" "${tps:-0}"
	printf "  %-44s %s\n" "" "$(per_op "$b0" "$a0" "$b1" "$a1" "$rps")"
done

# ---- one client, sequential ------------------------------------------------------
line=$(run_wrk 1 5 1)
echo "single client, sequential: $(bench_field rps "$line") req/s, p50 $(bench_field p50_ms "$line") ms, p99 $(bench_field p99_ms "$line") ms"

# ---- memory and spread -----------------------------------------------------------
for w in $(bench_workers); do
	echo "worker pid $w: peak RSS $(awk '/^VmHWM/ {print $2, $3}' /proc/$w/status), now $(awk '/^VmRSS/ {print $2, $3}' /proc/$w/status)"
done
curl -s "http://127.0.0.1:$port/metrics/prometheus" |
    grep -E '^modelserver_worker_requests_total|^modelserver_batch_rows_(sum|count)|^modelserver_ratelimit_lease' |
    sed 's/^/  /'
exit $fail
