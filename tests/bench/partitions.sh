#!/usr/bin/env bash
# partitions.sh: what partitioning and the leaner indexes cost or save on
# the write path (make bench-partitions).  A benchmark, not a test.
#
# Two databases in one throw-away cluster:
#   old  the previous release (migrations 0001-0006 and its sql/, from git
#        at BASE): one table, PK (prediction_id), the covering index on
#        created_at, (model_version_id, created_at), the foreign key
#   new  this tree: hourly partitions, PK (prediction_id, created_at), a
#        plain B-tree on created_at, no foreign key
# Ids lead with the time in ms, as the server's UUIDv7 do, so each key's
# B-tree fills at its right edge.
# 1. bytes per row, table and each index, after ROWS rows written by the
#    server's own procedure in batches of 64;
# 2. the raw edge of a window (the newest EDGE rows, by time) with the
#    B-tree and with a BRIN index in its place;
# 3. the database doing the recorder's write (CALL record_predictions, 64
#    rows a call, 8 clients), old and new interleaved for ROUNDS rounds of
#    DURATION seconds: rows/s and latency;
# 4. the same write on the new layout with and without PAST more hourly
#    partitions (empty, before now), interleaved.
# PHASES (default "1 2 3 4") picks some; 2 needs the rows of 1.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
ROWS=${ROWS:-200000}
EDGE=${EDGE:-20000}
BASE=${BASE:-91282df}
PAST=${PAST:-48}
PHASES=${PHASES:-1 2 3 4}
phase() { [[ " $PHASES " == *" $1 "* ]]; }

. tests/bench/lib.sh
bench_cluster
owner=$(tests/lib/pgcluster.sh url "$pgdir" "$pgport" owner)
tree=$(mktemp -d /tmp/modelserver-base.XXXXXX)
cleanup() {
	tests/lib/pgcluster.sh stop "$pgdir" immediate >/dev/null 2>&1 || true
	rm -rf "$pgdir" "$tree"
}
trap cleanup EXIT

# The old layout in database "old", the new one is "modelserver".
git -C "$root" archive "$BASE" migrations sql | tar -x -C "$tree"
psql "$super" -X -q -c "CREATE DATABASE old OWNER modelserver"
MIGRATE_DATABASE_URL="${owner%/modelserver}/old" ENV_FILE= \
    "$tree/migrations/migrate.sh" >/dev/null
db_super() { printf '%s' "${super/\/modelserver\?/\/$1?}"; }
for db in old modelserver; do
	psql "$(db_super "$db")" -X -q -c "ALTER DATABASE $db SET synchronous_commit = on" \
	    -c "CREATE OR REPLACE FUNCTION public.bench_uuids(n integer)
	        RETURNS uuid[] LANGUAGE sql
	        AS \$\$SELECT array_agg((substr(h, 1, 8) || '-' || substr(h, 9, 4)
	               || substr(gen_random_uuid()::text, 14))::uuid)
	             FROM generate_series(1, n),
	                  lpad(to_hex((extract(epoch FROM clock_timestamp())
	                       * 1000)::bigint), 12, '0') AS h\$\$" \
	    -c "SELECT app.model_version_id('vader', '3.3.2')" >/dev/null
done

echo "# machine: $(bench_machine)"
echo "# $(psql --version); old = $BASE (0006), new = this tree"

batch() {	# batch DB CLIENTS SECONDS|-tN: pgbench's summary lines
	pgbench "$(db_super "$1")" -n -M simple -c "$2" -j 2 $3 -D n=64 \
	    -f tests/bench/pgbench_batch.sql 2>/dev/null
}

# ---- 1. bytes per row --------------------------------------------------------
phase 1 && echo && echo "== bytes per row after $ROWS rows (batches of 64)"
phase 1 && for db in old modelserver; do
	batch "$db" 4 "-t $((ROWS / 64 / 4))" >/dev/null
	psql "$(db_super "$db")" -X -q -c "VACUUM ANALYZE app.prediction_metrics"
	psql "$(db_super "$db")" -X -At -F' ' -c "
	    WITH t AS (SELECT c.oid FROM pg_class c
	                WHERE c.oid = 'app.prediction_metrics'::regclass
	               UNION ALL
	               SELECT inhrelid FROM pg_inherits
	                WHERE inhparent = 'app.prediction_metrics'::regclass),
	         n AS (SELECT count(*)::float8 AS n FROM app.prediction_metrics)
	    SELECT 'heap', round(sum(pg_relation_size(t.oid)) / n.n)
	      FROM t, n GROUP BY n.n
	    UNION ALL
	    SELECT regexp_replace(i.relname, '^prediction_metrics(_p[0-9_]+)?_', ''),
	           round(sum(pg_relation_size(x.indexrelid)) / n.n)
	      FROM t JOIN pg_index x ON x.indrelid = t.oid
	      JOIN pg_class i ON i.oid = x.indexrelid, n
	     GROUP BY 1, n.n
	    UNION ALL
	    SELECT 'total', round(sum(pg_total_relation_size(t.oid)) / n.n)
	      FROM t, n GROUP BY n.n" |
	    awk -v db="$db" '{printf "%-12s %-28s %s B\n", (db == "old" ? "old" : "new"), $1, $2}'
done

# ---- 2. the raw edge ---------------------------------------------------------
if phase 2; then
echo
echo "== the newest $EDGE rows by time (the raw edge of a window), median of 9"
edge_ms() {	# edge_ms [SQL]: median ms of the edge query after SQL
	psql "$(db_super modelserver)" -X -q -At -v ON_ERROR_STOP=1 <<SQL | tail -n 1
SELECT set_config('bench.t0', created_at::text, false)
  FROM app.prediction_metrics ORDER BY created_at DESC OFFSET $EDGE LIMIT 1
\\g /dev/null
BEGIN;
${1:-}
CREATE TEMP TABLE ms (v float8);
DO \$\$
DECLARE t timestamptz; n bigint; i int;
BEGIN
    FOR i IN 1 .. 9 LOOP
        t := clock_timestamp();
        SELECT count(*) INTO n FROM app.prediction_metrics
         WHERE created_at >= current_setting('bench.t0')::timestamptz;
        INSERT INTO ms VALUES (extract(epoch FROM clock_timestamp() - t) * 1000);
    END LOOP;
END \$\$;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY v)::numeric, 2) FROM ms;
ROLLBACK;
SQL
}
# The BRIN variant replaces the B-tree inside the transaction.
btree=$(edge_ms)
brin=$(edge_ms "DROP INDEX app.prediction_metrics_created_at_idx;
CREATE INDEX bench_brin ON app.prediction_metrics USING brin (created_at);
ANALYZE app.prediction_metrics;")
brin_bytes=$(psql "$(db_super modelserver)" -X -q -At <<SQL | tail -n 1
BEGIN;
CREATE INDEX bench_brin ON app.prediction_metrics USING brin (created_at);
SELECT round(sum(pg_relation_size(x.indexrelid))::numeric
             / (SELECT count(*) FROM app.prediction_metrics), 3)
  FROM pg_inherits i JOIN pg_index x ON x.indrelid = i.inhrelid
  JOIN pg_class c ON c.oid = x.indexrelid
 WHERE i.inhparent = 'app.prediction_metrics'::regclass
   AND c.relam = (SELECT oid FROM pg_am WHERE amname = 'brin');
ROLLBACK;
SQL
)
echo "btree on created_at: $btree ms"
echo "BRIN on created_at:  $brin ms (${brin_bytes:-?} B a row)"
fi

# ---- 3. the write path -------------------------------------------------------
phase 3 && echo &&
    echo "== CALL record_predictions, 64 rows a call, 8 clients, $ROUNDS x ${DURATION}s interleaved"
phase 3 && for r in $(seq 1 "$ROUNDS"); do
	for db in old modelserver; do
		bench_checkpoint
		out=$(batch "$db" 8 "-T $DURATION")
		tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
		lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
		awk -v r="$r" -v db="$db" -v t="$tps" -v l="$lat" 'BEGIN {
		    printf "round %d %-4s %8.0f rows/s  %6.2f ms a call\n",
		        r, (db == "old" ? "old" : "new"), t * 64, l }'
	done
done
# ---- 4. more partitions ------------------------------------------------------
new() { psql "$(db_super modelserver)" -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
if phase 4; then
	echo
	echo "== the same on the new layout, with and without $PAST more hourly partitions, interleaved"
	for r in $(seq 1 "$ROUNDS"); do
		for k in 0 "$PAST"; do
			if [ "$k" != 0 ]; then
				new "SELECT app.partition_ensure('app.prediction_metrics',
				    now() - interval '$k hours', now())" >/dev/null
			fi
			n=$(new "SELECT count(*) FROM app.partitions")
			bench_checkpoint
			out=$(batch modelserver 8 "-T $DURATION")
			tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
			lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<<"$out")
			awk -v r="$r" -v n="$n" -v t="$tps" -v l="$lat" 'BEGIN {
			    printf "round %d %3d partitions %8.0f rows/s  %6.2f ms a call\n",
			        r, n, t * 64, l }'
			if [ "$k" != 0 ]; then
				for p in $(new "SELECT partition FROM app.partitions
				    WHERE upper_bound <= date_bin('1 hour', now(),
				        '2000-01-01 00:00+00')"); do
					new "DROP TABLE $p"
				done
			fi
		done
	done
fi
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
