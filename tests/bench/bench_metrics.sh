#!/usr/bin/env bash
# bench_metrics.sh: how fast the /metrics/* queries answer at any volume.
#
#   tests/bench/bench_metrics.sh [RUNS]       (default 11 runs per query)
#
# Starts a throw-away PostgreSQL 15 cluster (tests/lib/pgcluster.sh, the
# same settings as the test suite), migrates it and, for each volume
# (1 million, 100 million and 1.7 billion predictions a day: 11.6, 1,157
# and 19,676 a second, nine in ten for one model version, one in ten for
# another), builds what a server that has run for two days at that rate
# holds (docs/rollups.md):
#   - the old part generated directly as rollups, in their partitions:
#     1 min, 10 min, 1 h and 1 day rows over 49 hours, 1 s and 10 s rows
#     over the 6 hours the queries' edges touch (histograms drawn from the latency
#     distribution of tests/bench/bench_model.sh: 2 us plus an
#     exponential tail of mean 20 us, 0.05 % of 2-60 ms);
#   - real raw rows (in time order, as the server writes them: in
#     statements of BENCH_STMT_MS worth of rows sharing created_at and a
#     model, each with its partial row), in their
#     hourly partitions, for the recent edge (the
#     last 60 s) and around each window start (+-2 s), folded with
#     app.rollup_backfill, the watermark 0.35 s behind "now", the
#     janitor's worst case (ROLLUP_FOLD_MS=100), so each query also reads
#     the raw rows above it.
# "now" is pinned at a fractional second so every window has raw edges.
# Each volume is a database of its own (a copy of the migrated one), so
# that, once all are built, it times each endpoint's query with psql's
# \timing (client round trip) on the volumes in turn: BENCH_ROUNDS
# (default 3) rounds, each a session per volume with one warm-up and its
# share of the RUNS runs; per volume the median, min and max, and the
# ratio of the largest to the smallest volume's median.  Taking turns,
# a minute in which the machine is slower (other tenants, the host)
# slows every volume, not the one that happened to run then.  It also
# prints bytes per raw row, rollup bytes per day, and the time of a fixed
# CPU-bound query before and after (how fast the machine ran).  It never
# fails on slowness: the figures are for reading.  The headers show the
# load average: others' work on the machine shows up as a wide min..max
# spread.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
runs=${1:-11}
rounds=${BENCH_ROUNDS:-3}

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

# Each volume has its own database, a copy of the migrated one ($db: the
# one q and q1 use), so the timings can take turns between volumes.
db=$super
q() {	# q SQL: run as the superuser, quietly
	psql "$db" -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null
}
q1() {	# q1 SQL: one value
	psql "$db" -X -At -v ON_ERROR_STOP=1 -c "$1"
}
vdb() {	# vdb VOLUME: the superuser's URL of that volume's database
	printf '%s\n' "$super" | sed "s|/modelserver?|/bench_${1//./_}?|"
}

echo "# machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' \
    /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.0f GiB", \
    $2 / 1048576}' /proc/meminfo) RAM; load average at start:" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $(psql "$super" -X -At -c "SELECT version()" | cut -d, -f1);" \
    "shared_buffers $(psql "$super" -X -At -c "SHOW shared_buffers")"
echo "# times in ms (client round trip), each session after one warm-up"

# Rows per INSERT statement (one created_at each, one model): the
# recorder's batches.  bench_rollups.sh measured 15.2 rows a statement at
# 17,500 req/s on this machine (64 connections, 2 workers): a statement
# every 0.87 ms, so 17 rows at 1.7B a day, 1 at 100M and 1M.
stmt_s=$(awk -v m="${BENCH_STMT_MS:-0.87}" 'BEGIN { print m / 1000 }')

# "now" for every query: a fractional second, so windows have raw edges.
T=$(q1 "SELECT date_trunc('second', now())")
# The watermark 0.35 s behind it: the janitor's worst case with
# ROLLUP_FOLD_MS=100 (its 100 ms margin, the 100 ms grid, the period).
now="('$T'::timestamptz + interval '0.65 s')"
W="('$T'::timestamptz + interval '0.3 s')"

# Histogram templates: for a bucket of n predictions, drawn (n <= 20000)
# or as expected counts with random rounding (larger n), then HDR-indexed.
q "CREATE SCHEMA bench;
CREATE TABLE bench.tpl (lvl int, model int, variant int, n bigint,
    ts bigint, tmin bigint, tmax bigint, idx int[], cnt bigint[],
    cum bigint[]);
CREATE FUNCTION bench.latencies(p_n bigint) RETURNS TABLE (us bigint, c bigint)
LANGUAGE sql VOLATILE AS \$\$
    SELECT x.us, count(*) FROM (
        SELECT CASE WHEN random() < 0.0005
                    THEN 2000 + (random() * 58000)::bigint
                    ELSE 2 + floor(-20 * ln(1 - random()))::bigint END AS us
          FROM generate_series(1, p_n) WHERE p_n <= 20000) x GROUP BY 1
    UNION ALL
    SELECT k, floor(p_n * 0.9995 * (exp(-(k - 2) / 20.0) -
                    exp(-(k - 1) / 20.0)) + random())::bigint
      FROM generate_series(2, 700) AS k WHERE p_n > 20000
    UNION ALL
    SELECT 2000 + (random() * 58000)::bigint,
           floor(p_n * 0.0005 / 64 + random())::bigint
      FROM generate_series(1, 64) WHERE p_n > 20000
\$\$;
CREATE FUNCTION bench.tpl_make(p_lvl int, p_model int, p_rate float8,
    p_width float8) RETURNS void LANGUAGE sql AS \$\$
    INSERT INTO bench.tpl
    SELECT p_lvl, p_model, v, sum(h.c), sum(h.c * h.us), min(h.us), max(h.us),
           array_agg(h.i ORDER BY h.i), array_agg(h.c ORDER BY h.i),
           array_agg(h.s ORDER BY h.i)
      FROM generate_series(0, 7) AS v
     CROSS JOIN LATERAL (
           SELECT h.*, sum(h.c) OVER (ORDER BY h.i)::bigint AS s
             FROM (SELECT app.rollup_hist_index(l.us) AS i,
                          sum(l.c)::bigint AS c, min(l.us) AS us
                     FROM bench.latencies(floor(p_rate * p_width
                                                + random())::bigint) l
                    WHERE l.c > 0 GROUP BY 1) h) h
     GROUP BY v
\$\$;
CREATE FUNCTION bench.rows(p_tbl regclass) RETURNS bigint
LANGUAGE plpgsql AS \$\$
DECLARE
    v bigint;
BEGIN
    EXECUTE format('SELECT count(*) FROM %s', p_tbl) INTO v;
    RETURN v;
END;
\$\$;
CREATE FUNCTION bench.fill(p_lvl int, p_from timestamptz, p_to timestamptz)
RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE
    v_tbl regclass;
    v_w   interval;
BEGIN
    SELECT tbl, width INTO v_tbl, v_w FROM app.rollup_levels() WHERE lvl = p_lvl;
    EXECUTE format(\$f\$
        INSERT INTO %s (bucket, model_version_id, n, positive, negative,
            neutral, conf_sum_micro, time_sum_us, time_min_us, time_max_us,
            hist_idx, hist_cnt, hist_cum)
        SELECT b.b, t.model, t.n, t.n * 45 / 100, t.n * 30 / 100,
               t.n - t.n * 45 / 100 - t.n * 30 / 100, t.n * 550000, t.ts,
               t.tmin, t.tmax, t.idx, t.cnt, t.cum
          FROM generate_series(app.rollup_floor(\$1, \$3),
                   \$2 - interval '1 us', \$3) WITH ORDINALITY AS b(b, i)
          JOIN bench.tpl t ON t.lvl = \$4 AND t.variant = mod(b.i, 8)
         WHERE t.n > 0
        ON CONFLICT DO NOTHING\$f\$, v_tbl) USING p_from, p_to, v_w, p_lvl;
END;
\$\$;"

# timed URL SQL N: in one session, SQL once to warm up, then N times;
# prints the N times in ms (psql's \timing, client round trip).
timed() {
	local script i
	script="\\timing on"$'\n'
	for ((i = 0; i <= $3; i++)); do
		script+="$2;"$'\n'
	done
	psql "$1" -X -q -v ON_ERROR_STOP=1 -o /dev/null -f - <<<"$script" |
	    sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | tail -n +2
}

# bench NAME SQL: RUNS timed runs of SQL per volume, in ROUNDS rounds
# that take turns between the volumes (each a session: a warm-up, then
# its share of the runs), so a machine that slows down for a minute
# slows every volume alike and the ratio stays honest; prints per volume
# "median [min-max]" and the ratio of the medians, largest / smallest
# volume.
times=$(mktemp)
bench() {
	local name=$1 sql=$2 r v
	: >"$times"
	for ((r = 0; r < rounds; r++)); do
		for v in $vols; do
			timed "$(vdb "$v")" "$sql" $(((runs + rounds - 1) / rounds)) |
			    sed "s/^/$v\t/" >>"$times"
		done
	done
	sort -t $'\t' -k1,1 -k2,2n "$times" | awk -F'\t' -v name="$name" \
	    -v vols="$vols" '
	    { t[$1, ++k[$1]] = $2 }
	    END {
		nv = split(vols, v, " ")
		printf "%-44s", name
		for (i = 1; i <= nv; i++) {
			c = k[v[i]]
			if (c % 2)
				m[i] = t[v[i], (c + 1) / 2]
			else
				m[i] = (t[v[i], c / 2] + t[v[i], c / 2 + 1]) / 2
			printf " %-22s", sprintf("%6.1f [%.1f-%.1f]", m[i],
			    t[v[i], 1], t[v[i], c])
		}
		printf " %6.2f\n", (m[1] > 0 ? m[nv] / m[1] : 0)
	    }'
}

# volume NAME ROWS_PER_DAY
volume() {
	local name=$1 perday=$2 rate s e batch
	rate=$(awk -v d="$perday" 'BEGIN { printf "%.6f", d / 86400 }')
	batch=$(awk -v r="$rate" -v s="$stmt_s" 'BEGIN {
	    b = int(r * s + 0.5); print (b < 1 ? 1 : b) }')
	s=$(date +%s.%N)
	db=$super
	q "CREATE DATABASE \"bench_${name//./_}\" TEMPLATE modelserver"
	db=$(vdb "$name")
	# The templates, per level and model (9 in 10 for v1).
	q "SELECT bench.tpl_make(l.lvl, m.id, $rate * m.share,
	        extract(epoch FROM l.width))
	     FROM app.rollup_levels() l,
	          (VALUES (app.model_version_id('vader', '3.3.2'), 0.9),
	                  (app.model_version_id('vader', '3.4.0'), 0.1))
	              AS m(id, share)"
	# Partitions, then the old part as rollups.
	q "SELECT app.partition_ensure(p, $now - interval '50 hours',
	        $now + interval '1 hour')
	     FROM unnest(ARRAY['app.prediction_metrics']::regclass[] ||
	                 ARRAY(SELECT pp.parent FROM app.partition_policy pp
	                        WHERE pp.kind = 'rollup')) AS p"
	# Levels: 1 100 ms, 2 1 s, 3 10 s, 4 1 min, 5 10 min, 6 1 h, 7 1 day;
	# 100 ms rows come from the raw edges (rollup_backfill below).
	q "SELECT bench.fill(7, $now - interval '49 hours', app.rollup_floor($W, '1 day'));
	   SELECT bench.fill(6, app.rollup_floor($now - interval '49 hours', '1 day'),
	                     app.rollup_floor($W, '1 hour'));
	   SELECT bench.fill(5, app.rollup_floor($now - interval '49 hours', '1 hour'),
	                     app.rollup_floor($W, '10 minutes'));
	   SELECT bench.fill(4, app.rollup_floor($now - interval '49 hours', '1 hour'),
	                     app.rollup_floor($W, '1 minute'));
	   SELECT bench.fill(l, r.a, r.b)
	     FROM (VALUES (3), (2)) AS lv(l),
	          (VALUES ($now - interval '49 hours', $now - interval '47 hours'),
	                  ($now - interval '25 hours', $now - interval '23 hours'),
	                  ($now - interval '2 hours', $now - interval '60 s')) AS r(a, b)"
	# Raw rows: the last 60 s up to now, and +-2 s around each window start.
	q "INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
	    label, confidence, inference_time_ms, input_length, compound, pos,
	    neu, neg, client_ip, created_at)
	   SELECT gen_random_uuid(),
	          -- one model per statement, as the recorder writes them
	          CASE WHEN (floor(g.i / $batch)::bigint * 7919) % 10 < 9
	               THEN v1 ELSE v2 END,
	          (ARRAY['positive', 'negative', 'neutral'])[1 + floor(random() * 3)::int],
	          round(random()::numeric, 6)::float8,
	          round((0.002 + 0.02 * -ln(1 - random()))::numeric, 3)::float8,
	          100, 0, 0, 1, 0, '10.0.0.1',
	          r.a + (floor(g.i / $batch) * $batch / g.n) * (r.b - r.a)
	     FROM app.model_version_id('vader', '3.3.2') AS v1,
	          app.model_version_id('vader', '3.4.0') AS v2,
	          (VALUES ($now - interval '60 s', $now),
	                  ($now - interval '60 min 2 s', $now - interval '59 min 58 s'),
	                  ($now - interval '24 h 2 s', $now - interval '23 h 59 min 58 s'),
	                  ($now - interval '48 h 2 s', $now - interval '47 h 59 min 58 s'))
	              AS r(a, b),
	          LATERAL (SELECT greatest(1, ($rate * extract(epoch FROM
	              r.b - r.a))::bigint) AS n) c,
	          LATERAL (SELECT i, c.n FROM generate_series(0, c.n - 1) AS i) g
	    -- in time order, as the server writes them
	    ORDER BY r.a, g.i"
	# As a fold leaves it: partials only at and above the watermark.
	q "UPDATE app.rollup_state SET watermark = $W, partial_from = $W;
	   DELETE FROM app.rollup_partial WHERE bucket < $W"
	e=$(date +%s.%N)
	q "VACUUM ANALYZE"
	s2=$(date +%s.%N)
	q "SELECT count(*) FROM (VALUES ($now - interval '60 s', $now),
	        ($now - interval '60 min 2 s', $now - interval '59 min 58 s'),
	        ($now - interval '24 h 2 s', $now - interval '23 h 59 min 58 s'),
	        ($now - interval '48 h 2 s', $now - interval '47 h 59 min 58 s'))
	        AS r(a, b), app.rollup_backfill(r.a, r.b)"
	e2=$(date +%s.%N)
	q "VACUUM ANALYZE"
	# The load's dirty pages written now, not by a checkpoint mid-timing.
	q "CHECKPOINT"
	echo
	echo "## $name predictions a day ($(printf "%.1f" "$rate")/s; load average: $(cut -d' ' -f1-3 /proc/loadavg))"
	printf '# generated in %.1f s; the raw edges folded by rollup_backfill in %.0f ms\n' \
	    "$(awk -v a="$s" -v b="$e" 'BEGIN { print b - a }')" \
	    "$(awk -v a="$s2" -v b="$e2" 'BEGIN { print (b - a) * 1000 }')"
	echo "# $(q1 "SELECT format('raw rows %s (%s above the watermark, in %s partials of %s rows); rollup rows: %s',
	    (SELECT count(*) FROM app.prediction_metrics),
	    (SELECT count(*) FROM app.prediction_metrics WHERE created_at >= $W),
	    (SELECT count(*) FROM app.rollup_partial), $batch,
	    (SELECT string_agg(format('%s %s', l.width, c.n), ', ' ORDER BY l.lvl)
	       FROM app.rollup_levels() l,
	            LATERAL (SELECT bench.rows(l.tbl) AS n) c))")"
	echo "# $(q1 "SELECT format('bytes per raw row %s; rollup bytes (49 h of 1 min and coarser, 6 h of 1 s and 10 s): %s',
	    round((SELECT sum(pg_total_relation_size(p.partition))
	             FROM app.partitions p
	            WHERE p.parent = 'app.prediction_metrics'::regclass)
	          / (SELECT count(*) FROM app.prediction_metrics)),
	    (SELECT string_agg(format('%s %s', l.width, pg_size_pretty(coalesce(
	        (SELECT sum(pg_total_relation_size(p.partition)) FROM app.partitions p
	          WHERE p.parent = l.tbl), pg_total_relation_size(l.tbl)))), ', '
	        ORDER BY l.lvl) FROM app.rollup_levels() l))")"
}

# The median of 5 runs of a fixed CPU-bound query: how fast the machine
# runs now.  The same figure in two runs says their times compare; this
# machine's (a shared host's) has moved by half within an hour.
calibrate() {
	timed "$super" "SELECT count(*) FROM generate_series(1, 2000000)" 5 |
	    sort -n | sed -n 3p
}

# The queries, each timed on every volume in turn.
queries() {
	printf '%-44s' "query (endpoint), ms"
	for v in $vols; do
		printf ' %-22s' "$v: median [min-max]"
	done
	printf ' %6s\n' ratio
	bench "aggregated(1440)  POST /metrics/aggregated" \
	    "SELECT app.metrics_aggregated(1440, NULL, NULL, $now)"
	bench "aggregated(60)" \
	    "SELECT app.metrics_aggregated(60, NULL, NULL, $now)"
	bench "aggregated(60), model 3.4.0" \
	    "SELECT app.metrics_aggregated(60, 'vader', '3.4.0', $now)"
	bench "timeseries(1440, 60)  GET /metrics/timeseries" \
	    "SELECT app.metrics_timeseries_json(1440, 60, NULL, NULL, $now)"
	bench "timeseries(60, 1)" \
	    "SELECT app.metrics_timeseries_json(60, 1, NULL, NULL, $now)"
	bench "count  GET /metrics/count" \
	    "SELECT app.metrics_count()"
	bench "compare(1440)  (analyzer's input)" \
	    "SELECT * FROM app.metrics_compare(1440, NULL, $now)"
}

# BENCH_VOLUMES (e.g. "1M") runs only those; BENCH_KEEP=1 leaves the
# cluster running (its URL printed) for EXPLAIN.
vols=${BENCH_VOLUMES:-1M 100M 1.7B}
for v in $vols; do
	case $v in
	1M)	volume 1M 1000000 ;;
	100M)	volume 100M 100000000 ;;
	1.7B)	volume 1.7B 1700000000 ;;
	*)	echo "bench_metrics: unknown volume $v" >&2; exit 2 ;;
	esac
done
db=$super
q "CHECKPOINT"
echo
echo "## the queries: $runs runs per volume in $rounds rounds taking turns" \
    "between the volumes; ratio: $(set -- $vols; echo "${!#} / $1")" \
    "(load average: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "# machine speed: the fixed query (2M-row generate_series) in $(calibrate) ms"
queries
echo "# machine speed after: $(calibrate) ms"
if [ -n "${BENCH_KEEP:-}" ]; then
	echo "# kept: $(for v in $vols; do vdb "$v"; done | tr '\n' ' ')(stop:" \
	    "tests/lib/pgcluster.sh stop $dir)"
	trap - EXIT
fi
rm -f "$times"
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
