#!/usr/bin/env bash
# limits.sh: what holds /predict below three times pgbench on this machine.
# A benchmark, not a test (make bench-limits): it prints figures.
#
# On one throw-away cluster it runs, interleaved for ROUNDS (5) rounds of
# DURATION (10) seconds, pgbench's one row per transaction (16 clients, the
# reference of the round) and the server under wrk (64 connections) in
# these variants (VARIANTS), each on a server started fresh:
#
#   shipped    the server as `make bench` runs it (2 workers, durable)
#   workers1   WORKERS=1: one worker, larger batches (workersN: N workers)
#   no_fk      the foreign key prediction_metrics -> model_versions dropped
#              for the run (restored after): what its per-row check costs.
#              Since migration 0007 there is none (docs/partitions.md), so
#              this is shipped again; kept for older databases.
#   async      synchronous_commit off for the server's role: no answer
#              waits for a WAL flush.  NOT the product (an acknowledged row
#              could be lost in a crash): the ceiling the flush leaves.
#   poolN      DB_POOL_SIZE=N
#   delayN     RECORDER_DELAY_MS=N
#   inflightN  RECORDER_INFLIGHT=N (batches in flight per worker)
#   unix       the server reaches PostgreSQL over its Unix socket, as
#              pgbench does, instead of TCP on 127.0.0.1
#              (these four run only when named in VARIANTS)
#   a+b+...    several at once (workers1+no_fk+async: all three)
#
# For each it prints requests/s, p99, the ratio to the round's pgbench,
# machine time per request (busy CPU over all cores, /proc/stat) and the
# share of CPU left idle, then the medians.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64}
read -r -a variants <<<"${VARIANTS:-shipped workers1 async workers1+async}"

. tests/bench/lib.sh
bench_cluster
mid=$(psql "$super" -X -At -c "SELECT app.model_version_id('vader', '3.3.2')")
fk=$(psql "$super" -X -At -c "SELECT conname FROM pg_constraint
    WHERE conrelid = 'app.prediction_metrics'::regclass AND contype = 'f'")
export RATE_LIMIT_PREDICT_PER_MINUTE=1000000000

sql() { psql "$super" -X -q -v ON_ERROR_STOP=1 -c "$1"; }

# limits_setup / limits_restore VARIANT: the database side of a variant.
# The foreign key comes back NOT VALID: the rows written without it all
# name the one model version, and validating millions of rows each round
# would only slow the script.
limits_setup() {
	sql "ALTER ROLE modelserver_app SET synchronous_commit = on"
	case +$1+ in *+no_fk+*)
		[ -z "$fk" ] ||
		    sql "ALTER TABLE app.prediction_metrics DROP CONSTRAINT $fk" ;;
	esac
	case +$1+ in *+async+*)
		sql "ALTER ROLE modelserver_app SET synchronous_commit = off" ;;
	esac
}
limits_restore() {
	case +$1+ in *+no_fk+*)
		[ -z "$fk" ] ||
		sql "ALTER TABLE app.prediction_metrics ADD CONSTRAINT $fk
		    FOREIGN KEY (model_version_id)
		    REFERENCES app.model_versions (id) NOT VALID" ;;
	esac
	sql "ALTER ROLE modelserver_app SET synchronous_commit = on"
}

# limits_run VARIANT: one timed wrk run against a fresh server; sets
# figures to "rps p99 us_per_request idle_percent".  It runs in this shell,
# not in a $(...): the server it starts must stay in kore_pid for
# bench_cleanup if anything fails.
limits_run() {
	local v=$1 t b0 a0 b1 a1 line
	local w=2 pool=${DB_POOL_SIZE:-4} delay=${RECORDER_DELAY_MS:-1}
	local inflight=${RECORDER_INFLIGHT:-1} url=$appurl
	for t in ${v//+/ }; do
		case $t in
		workers[0-9]*)	w=${t#workers} ;;
		pool[0-9]*)	pool=${t#pool} ;;
		delay[0-9]*)	delay=${t#delay} ;;
		inflight[0-9]*)	inflight=${t#inflight} ;;
		unix)		url="postgresql://modelserver_app@/modelserver?host=$pgdir/run&port=$pgport" ;;
		esac
	done
	limits_setup "$v"
	appurl=$url WORKERS=$w DB_POOL_SIZE=$pool RECORDER_DELAY_MS=$delay \
	    RECORDER_INFLIGHT=$inflight bench_server "limits-$v"
	wrk -t 2 -c "$CONNS" -d 3s -s tests/bench/predict.lua \
	    "http://127.0.0.1:$port/predict" >/dev/null
	bench_checkpoint
	read -r b0 _ a0 < <(bench_stat_ticks)
	line=$(wrk -t 2 -c "$CONNS" -d "${DURATION}s" -s tests/bench/predict.lua \
	    "http://127.0.0.1:$port/predict" | grep '^WRK ' || true)
	read -r b1 _ a1 < <(bench_stat_ticks)
	bench_server_stop
	limits_restore "$v"
	if [ -z "$line" ] || [ "$(bench_field non2xx "$line")" != 0 ] ||
	    [ "$(bench_field errors "$line")" != 0 ]; then
		echo "!! $v: non-2xx answers or errors: $line" >&2
		exit 1
	fi
	figures=$(/usr/bin/python3 -c 'import sys
rps, p99 = float(sys.argv[1]), sys.argv[2]
b0, a0, b1, a1, n = map(float, sys.argv[3:])
busy = (b1 - b0) / max(a1 - a0, 1)
print("%.0f %s %.0f %.0f" % (rps, p99, busy * n * 1e6 / max(rps, 1), 100 * (1 - busy)))' \
	    "$(bench_field rps "$line")" "$(bench_field p99_ms "$line")" \
	    "$b0" "$a0" "$b1" "$a1" "$(nproc)")
}

echo "# machine: $(bench_machine)"
echo "# $ROUNDS rounds of ${DURATION} s, wrk at $CONNS connections; variants: ${variants[*]}"
bench_pgbench 16 >/dev/null		# warm-up
printf "\n%-6s %-26s %9s %8s %7s %11s %6s\n" round variant "req/s" p99_ms ratio "us/request" idle
results="$out/limits.txt"; : >"$results"
for r in $(seq 1 "$ROUNDS"); do
	pg=$(bench_pgbench 16)
	printf "%-6s %-26s %9.0f\n" "$r" "pgbench 1 row/tx, 16c" "$pg"
	# Each round starts at a different variant: the machine warms up and
	# the table grows within a round, and no variant should always run
	# first.
	for i in "${!variants[@]}"; do
		v=${variants[$(( (i + r - 1) % ${#variants[@]} ))]}
		limits_run "$v"
		read -r rps p99 us idle <<<"$figures"
		ratio=$(/usr/bin/python3 -c 'import sys; print("%.2f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$rps" "$pg")
		printf "%-6s %-26s %9s %8s %6sx %11s %5s%%\n" "" "$v" "$rps" "$p99" "$ratio" "$us" "$idle"
		echo "$v $rps $p99 $ratio $us $idle" >>"$results"
	done
done

echo
echo "# medians over the rounds (ratio: to the pgbench of the same round)"
/usr/bin/python3 - "$results" "${variants[@]}" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
base = None
for v in sys.argv[2:]:
    mine = [list(map(float, r[1:])) for r in rows if r[0] == v]
    med = [statistics.median(c) for c in zip(*mine)]
    if base is None:
        base = med[0]
    print("%-20s %7.0f req/s (%+4.0f%% vs %s)  p99 %5.2f ms  %4.2fx pgbench"
          "  %3.0f us/request  idle %2.0f%%"
          % (v, med[0], 100 * (med[0] / base - 1), sys.argv[2], med[1],
             med[2], med[3], med[4]))
PY
