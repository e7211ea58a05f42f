#!/usr/bin/env bash
# bench_metrics.sh: how fast the /metrics/* queries answer on big tables.
#
#   tests/bench/bench_metrics.sh [RUNS]       (default 7 runs per query)
#
# Starts a throw-away PostgreSQL 15 cluster (tests/lib/pgcluster.sh, the
# same settings as the test suite), migrates it, loads synthetic rows with
# generate_series and times each endpoint's query with psql's \timing
# (client round trip, result discarded): one warm-up run, then RUNS runs;
# it prints the median, min and max.  Scenarios, cumulative:
#   1M   1,000,000 rows, all of them inside the 60-minute window (the
#        worst case for the aggregate: every row is read and sorted)
#   10M  9,000,000 older rows added over the previous 30 days, so the
#        table holds 10M and the window still 1M; then a 5-minute window
#        (~83k rows)
# The window is pinned (p_now = the load time) so the rows stay in it.
# The cluster is stopped and removed at the end, pass or fail.  It never
# fails on slowness: the figures are for reading, not for a threshold.
# Each header shows the load average: other work on the machine shows up
# as a wide min..max spread.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-7}

dir=$(mktemp -d /tmp/modelserver-bench.XXXXXX)
chmod 755 "$dir"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
	tests/lib/pgcluster.sh stop "$dir" immediate >/dev/null 2>&1 || true
	rm -rf "$dir"
}
trap cleanup EXIT

tests/lib/pgcluster.sh start "$dir" "$port"
tests/lib/pgcluster.sh bootstrap "$dir" "$port"
owner=$(tests/lib/pgcluster.sh url "$dir" "$port" owner)
super=$(tests/lib/pgcluster.sh url "$dir" "$port" super)
MIGRATE_DATABASE_URL="$owner" ENV_FILE=/dev/null migrations/migrate.sh \
    >/dev/null

q() {	# q SQL: run as the superuser, quietly
	psql "$super" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null
}
q1() {	# q1 SQL: one value
	psql "$super" -X -At -v ON_ERROR_STOP=1 -c "$1"
}

echo "# machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' \
    /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", \
    $2 / 1048576}' /proc/meminfo) RAM"
echo "# $(psql "$super" -X -At -c "SELECT version()" | cut -d, -f1);" \
    "shared_buffers $(psql "$super" -X -At -c "SHOW shared_buffers")," \
    "work_mem $(psql "$super" -X -At -c "SHOW work_mem") (the window" \
    "functions set 64MB and jit off themselves)"
echo "# $runs runs per query after one warm-up; times in ms (client round trip)"

t0=$(psql "$super" -X -At -c "SELECT now()")

# Inference times as the server writes them: milliseconds rounded to the
# microsecond.  VADER takes 1-15 us per text (tests/bench/bench_model.sh),
# so the synthetic times are 2 us + an exponential tail (mean 20 us), a few
# hundred distinct values.  The last scenario redoes the 1M-row aggregate
# with 0..50 ms (~50,000 distinct values), the adversarial case for the
# grouped P95 (see app.metrics_window).
LATENCY_EXPR="round((0.002 + 0.02 * -ln(1 - random()))::numeric, 3)"
WIDE_EXPR="round((random() * random() * 50)::numeric, 3)"

# load N START_EXPR SPAN_EXPR: N rows with created_at = START + i/N * SPAN,
# one model version in ten is 'vader 3.4.0', the rest 'vader 3.3.2'.
load() {
	local n=$1 start=$2 span=$3 s
	s=$(date +%s.%N)
	q "INSERT INTO app.prediction_metrics (prediction_id,
	    model_version_id, label, confidence, inference_time_ms,
	    input_length, compound, pos, neu, neg, client_ip, created_at)
	   SELECT gen_random_uuid(),
	          CASE WHEN i % 10 = 0 THEN v2 ELSE v1 END,
	          (ARRAY['positive', 'negative', 'neutral'])[1 + i % 3],
	          random(), $LATENCY_EXPR,
	          1 + i % 1000, 0, 0, 1, 0, '10.0.0.1',
	          $start + (i::float8 / $n) * $span
	     FROM generate_series(0, $n - 1) AS i,
	          app.model_version_id('vader', '3.3.2') AS v1,
	          app.model_version_id('vader', '3.4.0') AS v2"
	q "VACUUM ANALYZE app.prediction_metrics"
	printf '# loaded %s rows in %.1f s (incl. VACUUM ANALYZE)\n' "$n" \
	    "$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
}

# bench NAME SQL: RUNS timed runs (after a warm-up) of SQL; prints
# "NAME  median  min  max".
bench() {
	local name=$1 sql=$2 i script
	script="\\timing on"$'\n'
	for ((i = 0; i <= runs; i++)); do
		script+="$sql;"$'\n'
	done
	psql "$super" -X -q -v ON_ERROR_STOP=1 -o /dev/null -f - \
	    <<<"$script" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' |
	    tail -n +2 | sort -n |
	    awk -v name="$name" '{ t[NR] = $1 } END {
		m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
		printf "%-58s %9.1f %9.1f %9.1f\n", name, m, t[1], t[NR] }'
}

header() {
	echo
	echo "## $1 (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	printf '%-58s %9s %9s %9s\n' "query (endpoint)" median min max
}

now="'$t0'::timestamptz"

all_queries() {	# the endpoints' queries, p_now pinned
	bench "app.metrics_aggregated(60)       POST /metrics/aggregated" \
	    "SELECT app.metrics_aggregated(60, NULL, NULL, $now)"
	bench "  same, model_version 3.4.0 (10% of the rows)" \
	    "SELECT app.metrics_aggregated(60, 'vader', '3.4.0', $now)"
	bench "app.metrics_window(w-60min, w)   (analyzer's input)" \
	    "SELECT * FROM app.metrics_window($now - interval '60 min', $now)"
	bench "app.metrics_timeseries_json(60,1)  GET /metrics/timeseries" \
	    "SELECT app.metrics_timeseries_json(60, 1, NULL, NULL, $now)"
	bench "app.metrics_timeseries_json(60,10)" \
	    "SELECT app.metrics_timeseries_json(60, 10, NULL, NULL, $now)"
	bench "app.metrics_compare(60)          (analyzer, 2 windows)" \
	    "SELECT * FROM app.metrics_compare(60, NULL, $now)"
	bench "metrics_count()                  GET /metrics/count" \
	    "SELECT app.metrics_count()"
	bench "app.thresholds_json()            GET /metrics/thresholds" \
	    "SELECT app.thresholds_json(NULL)"
}

load 1000000 "$now - interval '60 min'" "interval '60 min' - interval '1 us'"
header "1M rows in the table, all 1M in the 60-minute window"
echo "# distinct inference times in the window: $(q1 "SELECT count(DISTINCT inference_time_ms) FROM app.prediction_metrics")"
all_queries

load 9000000 "$now - interval '60 min' - interval '30 days'" \
    "interval '30 days'"
header "10M rows in the table, 1M in the 60-minute window"
all_queries
header "10M rows in the table, 5-minute window (~83k rows)"
bench "app.metrics_aggregated(5)        POST /metrics/aggregated" \
    "SELECT app.metrics_aggregated(5, NULL, NULL, $now)"
bench "app.metrics_timeseries_json(5,1) GET /metrics/timeseries" \
    "SELECT app.metrics_timeseries_json(5, 1, NULL, NULL, $now)"

header "10M rows, the 1M in the window with 0..50 ms times (~50k distinct)"
q "UPDATE app.prediction_metrics SET inference_time_ms = $WIDE_EXPR
    WHERE created_at >= $now - interval '60 min'"
q "VACUUM ANALYZE app.prediction_metrics"
echo "# distinct inference times in the window: $(q1 "SELECT count(DISTINCT inference_time_ms) FROM app.prediction_metrics WHERE created_at >= $now - interval '60 min'")"
bench "app.metrics_aggregated(60)       POST /metrics/aggregated" \
    "SELECT app.metrics_aggregated(60, NULL, NULL, $now)"
bench "app.metrics_timeseries_json(60,1)  GET /metrics/timeseries" \
    "SELECT app.metrics_timeseries_json(60, 1, NULL, NULL, $now)"

echo
echo "## plan of the 60-minute aggregate on 10M rows (inside metrics_window)"
psql "$super" -X -At -c "SET jit = off; SET work_mem = '64MB';
    EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
    SELECT count(*), avg(confidence), avg(inference_time_ms),
           min(inference_time_ms), max(inference_time_ms),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY inference_time_ms),
           count(*) FILTER (WHERE label = 'positive')
      FROM app.prediction_metrics
     WHERE created_at >= $now - interval '60 min' AND created_at < $now" |
    sed 's/^/#   /'
