-- 35_rollups.sql: the rollups of prediction_metrics (tables in
-- migrations 0008, 0012, 0013 and 0014): how they are folded, rebuilt
-- and read.  Re-applied after every migrate (CREATE OR REPLACE).
-- docs/rollups.md has the design and the exactness argument.
--
--   app.rollup_partial_add() and its siblings   triggers: a partial row
--                            per INSERT statement (app.rollup_partial),
--                            or the server's own (rollup_partial_put)
--   app.rollup_fold()        the janitor's job: the partials below a safe
--                            watermark into 100 ms rows, the closed
--                            buckets of the coarser levels from them
--   app.rollup_backfill(from, to)   rebuilds a range from the raw rows
--   app.rollup_parts(start, end, ids, bucket)   what every read uses: the
--                            rollup rows, partials and raw rows that make
--                            up a window exactly, each once
--   app.rollup_summary(start, end, ids, shadow, bucket)   the figures of
--                            a window or of each timeseries bucket, P95
--                            searched over the cumulative histograms
--   app.rollup_aggregate(...)   the same with the merged histogram (the
--                            views' other percentiles)
--   app.rollup_quantile(values, counts, q)   percentile_cont over a
--                            histogram
--
-- Levels: app.rollup_levels(), 100 ms to 1 day, each bucket aligned to
-- UTC.  Level g holds every bucket below date_bin(g, watermark); a window
-- is served by
-- the coarsest level whose bucket fits inside it (and inside its
-- timeseries bucket), the rest by the partials at or above the watermark
-- and by raw rows below it (a fractional start).

-- ------------------------------------------------------------- histogram

-- HDR index of a latency in microseconds: the value itself below 2048,
-- above it 1024 sub-buckets per power of two, so a bucket's width is at
-- most 1/1024 of its lower bound.
-- One expression (no FROM), so the planner inlines it into the fold's
-- scan instead of calling a function per row.  width_bucket over the
-- powers of two is floor(log2(us)) + 1, exactly (integer comparisons).
CREATE OR REPLACE FUNCTION app.rollup_hist_index(p_us bigint)
RETURNS integer
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_us < 2048 THEN p_us::integer
           ELSE ((width_bucket(p_us, ARRAY[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
              2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288,
              1048576, 2097152, 4194304, 8388608, 16777216, 33554432,
              67108864, 134217728, 268435456, 536870912, 1073741824,
              2147483648, 4294967296, 8589934592, 17179869184, 34359738368,
              68719476736, 137438953472, 274877906944, 549755813888,
              1099511627776, 2199023255552, 4398046511104, 8796093022208,
              17592186044416, 35184372088832, 70368744177664,
              140737488355328, 281474976710656, 562949953421312,
              1125899906842624, 2251799813685248, 4503599627370496,
              9007199254740992, 18014398509481984, 36028797018963968,
              72057594037927936, 144115188075855872, 288230376151711744,
              576460752303423488, 1152921504606846976, 2305843009213693952,
              4611686018427387904]::bigint[]) - 11) * 1024
                 + (p_us >> (width_bucket(p_us, ARRAY[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024,
              2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288,
              1048576, 2097152, 4194304, 8388608, 16777216, 33554432,
              67108864, 134217728, 268435456, 536870912, 1073741824,
              2147483648, 4294967296, 8589934592, 17179869184, 34359738368,
              68719476736, 137438953472, 274877906944, 549755813888,
              1099511627776, 2199023255552, 4398046511104, 8796093022208,
              17592186044416, 35184372088832, 70368744177664,
              140737488355328, 281474976710656, 562949953421312,
              1125899906842624, 2251799813685248, 4503599627370496,
              9007199254740992, 18014398509481984, 36028797018963968,
              72057594037927936, 144115188075855872, 288230376151711744,
              576460752303423488, 1152921504606846976, 2305843009213693952,
              4611686018427387904]::bigint[]) - 11)))::integer
           END;
$$;

COMMENT ON FUNCTION app.rollup_hist_index(bigint) IS
    'HDR histogram index of a latency in microseconds: the value itself '
    'below 2048 us (exact), above it 1024 sub-buckets per power of two '
    '(relative width <= 1/1024).  Inverse: app.rollup_hist_value().';

-- The value a histogram bucket stands for, in milliseconds: exact below
-- 2048 us (idx / 1000.0 is the very double the server stored), else the
-- middle of the bucket (at most 0.05 % from any value in it).
CREATE OR REPLACE FUNCTION app.rollup_hist_value(p_idx integer)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN p_idx < 2048 THEN p_idx / 1000.0::float8
           ELSE (((p_idx - (p_idx / 1024 - 1) * 1024)::bigint
                  << (p_idx / 1024 - 1))
                 + ((1::bigint << (p_idx / 1024 - 1)) - 1) / 2.0::float8)
                / 1000.0::float8
           END;
$$;

COMMENT ON FUNCTION app.rollup_hist_value(integer) IS
    'The latency (ms) that histogram bucket p_idx stands for: exactly the '
    'stored value below 2048 us, else the bucket''s midpoint.';

-- percentile_cont(p_q) over a multiset given as distinct values
-- (ascending) and their counts, computed as PostgreSQL does: the values
-- at 0-based positions floor and ceil of p_q * (n - 1), interpolated
-- lo + (hi - lo) * frac.
CREATE OR REPLACE FUNCTION app.rollup_quantile(
    p_values double precision[], p_counts bigint[], p_q double precision)
RETURNS double precision
LANGUAGE plpgsql
IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_n    bigint := 0;
    v_pos  double precision;
    v_lo_k double precision;
    v_hi_k double precision;
    v_cum  bigint := 0;
    v_lo   double precision;
    v_len  integer := coalesce(cardinality(p_values), 0);
    i      integer;
BEGIN
    FOR i IN 1 .. v_len LOOP
        v_n := v_n + p_counts[i];
    END LOOP;
    IF v_n = 0 THEN
        RETURN NULL;
    END IF;
    v_pos := p_q * (v_n - 1);
    v_lo_k := floor(v_pos);
    v_hi_k := ceil(v_pos);
    FOR i IN 1 .. v_len LOOP
        v_cum := v_cum + p_counts[i];
        IF v_lo IS NULL AND v_cum > v_lo_k THEN
            v_lo := p_values[i];
        END IF;
        IF v_cum > v_hi_k THEN
            RETURN v_lo + (p_values[i] - v_lo) * (v_pos - v_lo_k);
        END IF;
    END LOOP;
    RETURN NULL;	-- unreachable: cum reaches n > hi_k
END;
$$;

COMMENT ON FUNCTION app.rollup_quantile(double precision[], bigint[],
    double precision) IS
    'percentile_cont(p_q) of the multiset p_values[i] x p_counts[i] '
    '(p_values ascending and distinct); NULL when it is empty.';

-- ------------------------------------------------------------ the levels

-- The levels, finest first: their table and bucket width.  Each width
-- divides the next, so a bucket of one level is whole buckets of the
-- level below.
CREATE OR REPLACE FUNCTION app.rollup_levels()
RETURNS TABLE (lvl integer, tbl regclass, width interval)
LANGUAGE sql
IMMUTABLE
AS $$
    VALUES (1, 'app.rollup_100ms'::regclass, interval '100 milliseconds'),
           (2, 'app.rollup_1s'::regclass, interval '1 second'),
           (3, 'app.rollup_10s'::regclass, interval '10 seconds'),
           (4, 'app.rollup_1m'::regclass, interval '1 minute'),
           (5, 'app.rollup_10m'::regclass, interval '10 minutes'),
           (6, 'app.rollup_1h'::regclass, interval '1 hour'),
           (7, 'app.rollup_1d'::regclass, interval '1 day');
$$;

COMMENT ON FUNCTION app.rollup_levels() IS
    'The rollup levels, finest first: table and bucket width.';

CREATE OR REPLACE FUNCTION app.rollup_floor(p_ts timestamptz, p_w interval)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT date_bin(p_w, p_ts, timestamptz '2000-01-01 00:00+00');
$$;

CREATE OR REPLACE FUNCTION app.rollup_ceil(p_ts timestamptz, p_w interval)
RETURNS timestamptz
LANGUAGE sql
IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE WHEN b = p_ts THEN b ELSE b + p_w END
      FROM (SELECT date_bin(p_w, p_ts, timestamptz '2000-01-01 00:00+00')
                   AS b) s;
$$;

COMMENT ON FUNCTION app.rollup_floor(timestamptz, interval) IS
    'Start of the UTC-aligned bucket of width p_w holding p_ts.';
COMMENT ON FUNCTION app.rollup_ceil(timestamptz, interval) IS
    'p_ts if it is a bucket boundary of width p_w, else the next one.';

-- ------------------------------------------------------------ partitions

-- The rollup partitions covering [p_from, p_to), through the generic
-- partition maintenance (its app.partition_policy rows are in 0008).
CREATE OR REPLACE FUNCTION app.rollup_partitions(
    p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE sql
SET search_path = app, pg_catalog
AS $$
    SELECT coalesce(sum(partition_ensure(l.tbl, p_from, p_to)), 0)::integer
      FROM rollup_levels() l
     WHERE l.tbl IN (SELECT pp.parent FROM partition_policy pp);
$$;

COMMENT ON FUNCTION app.rollup_partitions(timestamptz, timestamptz) IS
    'Creates the missing partitions of the partitioned rollup levels '
    'covering [p_from, p_to) (app.partition_ensure); returns how many.';

-- ----------------------------------------------------------- building

-- Rebuilds level p_lvl for the buckets in [p_from, p_to) (both aligned
-- to the level) from the next finer level.  Level 0 is app.rollup_partial,
-- rebuilt from the raw rows of [p_from, p_to) (any bounds), one row per
-- created_at; the 100 ms level is built from it.  Deletes what was there
-- first, so it can run again.  Returns the rows written.
CREATE OR REPLACE FUNCTION app.rollup_build(
    p_lvl integer, p_from timestamptz, p_to timestamptz)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = app, pg_catalog
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_tbl regclass;
    v_w   interval;
    v_src regclass;
    v_n   bigint;
BEGIN
    IF p_from >= p_to THEN
        RETURN 0;
    END IF;
    SELECT l.tbl, l.width INTO v_tbl, v_w FROM rollup_levels() l
     WHERE l.lvl = p_lvl;
    SELECT l.tbl INTO v_src FROM rollup_levels() l WHERE l.lvl = p_lvl - 1;
    IF p_lvl = 0 THEN
        v_tbl := 'rollup_partial'::regclass;
    ELSIF p_lvl = 1 THEN
        v_src := 'rollup_partial'::regclass;
    END IF;
    EXECUTE format('DELETE FROM %s WHERE bucket >= $1 AND bucket < $2',
        v_tbl) USING p_from, p_to;
    IF p_lvl = 0 THEN
        -- Group by HDR index first: min, max and the sums come from the
        -- exact values before they are bucketed.  The same query as
        -- rollup_partial_add's, over the table instead of a statement's
        -- rows.
        INSERT INTO rollup_partial (bucket, model_version_id, shadow, n,
            positive, negative, neutral, conf_sum_micro, time_sum_us,
            time_min_us, time_max_us, hist_idx, hist_cnt,
            positive_conf_sum_micro, negative_conf_sum_micro,
            neutral_conf_sum_micro, positive_compound_sum_e4,
            negative_compound_sum_e4, neutral_compound_sum_e4, hist_cum)
        SELECT g.b, g.m, g.s, sum(g.c), sum(g.pos), sum(g.neg), sum(g.neu),
               sum(g.pcs + g.ncs + g.ucs), sum(g.ts), min(g.tmin),
               max(g.tmax), array_agg(g.i ORDER BY g.i),
               array_agg(g.c ORDER BY g.i), sum(g.pcs), sum(g.ncs),
               sum(g.ucs), sum(g.pco), sum(g.nco), sum(g.uco),
               array_agg(g.cum ORDER BY g.i)
          FROM (SELECT g0.*, sum(g0.c) OVER (PARTITION BY g0.b, g0.m, g0.s
                                             ORDER BY g0.i)::bigint AS cum
          FROM (SELECT p.created_at AS b,
                       p.model_version_id AS m,
                       p.shadow_of IS NOT NULL AS s,
                       rollup_hist_index(x.us) AS i,
                       count(*) AS c,
                       count(*) FILTER (WHERE p.label = 'positive') AS pos,
                       count(*) FILTER (WHERE p.label = 'negative') AS neg,
                       count(*) FILTER (WHERE p.label = 'neutral') AS neu,
                       coalesce(sum(x.cm) FILTER (
                           WHERE p.label = 'positive'), 0) AS pcs,
                       coalesce(sum(x.cm) FILTER (
                           WHERE p.label = 'negative'), 0) AS ncs,
                       coalesce(sum(x.cm) FILTER (
                           WHERE p.label = 'neutral'), 0) AS ucs,
                       coalesce(sum(x.ce) FILTER (
                           WHERE p.label = 'positive'), 0) AS pco,
                       coalesce(sum(x.ce) FILTER (
                           WHERE p.label = 'negative'), 0) AS nco,
                       coalesce(sum(x.ce) FILTER (
                           WHERE p.label = 'neutral'), 0) AS uco,
                       sum(x.us) AS ts, min(x.us) AS tmin, max(x.us) AS tmax
                  FROM prediction_metrics p
                 CROSS JOIN LATERAL (SELECT
                       round(p.inference_time_ms * 1000)::bigint AS us,
                       round(p.confidence * 1e6)::bigint AS cm,
                       round(p.compound * 1e4)::bigint AS ce) x
                 WHERE p.created_at >= p_from AND p.created_at < p_to
                 GROUP BY 1, 2, 3, 4) g0) g
         GROUP BY g.b, g.m, g.s;
    ELSE
        -- The per-label sums are NULL (unknown) in a bucket if they are in
        -- any of its parts (rows folded before migration 0012).
        EXECUTE format($q$
        INSERT INTO %1$s (bucket, model_version_id, shadow, n, positive,
            negative, neutral, conf_sum_micro, time_sum_us, time_min_us,
            time_max_us, hist_idx, hist_cnt, positive_conf_sum_micro,
            negative_conf_sum_micro, neutral_conf_sum_micro,
            positive_compound_sum_e4, negative_compound_sum_e4,
            neutral_compound_sum_e4, hist_cum)
        WITH s AS (
            SELECT date_bin($3, r.bucket, timestamptz '2000-01-01 00:00+00')
                       AS b, r.model_version_id AS m, r.shadow AS sh,
                   sum(r.n) AS n, sum(r.positive) AS pos,
                   sum(r.negative) AS neg, sum(r.neutral) AS neu,
                   sum(r.conf_sum_micro) AS cs, sum(r.time_sum_us) AS ts,
                   min(r.time_min_us) AS tmin, max(r.time_max_us) AS tmax,
                   count(*) = count(r.positive_conf_sum_micro) AS known,
                   sum(r.positive_conf_sum_micro) AS pcs,
                   sum(r.negative_conf_sum_micro) AS ncs,
                   sum(r.neutral_conf_sum_micro) AS ucs,
                   sum(r.positive_compound_sum_e4) AS pco,
                   sum(r.negative_compound_sum_e4) AS nco,
                   sum(r.neutral_compound_sum_e4) AS uco
              FROM %2$s r WHERE r.bucket >= $1 AND r.bucket < $2
             GROUP BY 1, 2, 3
        ), h AS (
            SELECT u.b, u.m, u.sh, u.i, sum(u.c)::bigint AS c
              FROM (SELECT date_bin($3, r.bucket,
                               timestamptz '2000-01-01 00:00+00') AS b,
                           r.model_version_id AS m, r.shadow AS sh,
                           unnest(r.hist_idx) AS i, unnest(r.hist_cnt) AS c
                      FROM %2$s r
                     WHERE r.bucket >= $1 AND r.bucket < $2) u
             GROUP BY 1, 2, 3, 4
        ), ha AS (
            SELECT h.b, h.m, h.sh, array_agg(h.i ORDER BY h.i) AS hi,
                   array_agg(h.c ORDER BY h.i) AS hc,
                   array_agg(h.cum ORDER BY h.i) AS hcum
              FROM (SELECT h.*, sum(h.c) OVER (PARTITION BY h.b, h.m, h.sh
                                               ORDER BY h.i)::bigint AS cum
                      FROM h) h
             GROUP BY h.b, h.m, h.sh
        )
        SELECT s.b, s.m, s.sh, s.n, s.pos, s.neg, s.neu, s.cs, s.ts,
               s.tmin, s.tmax, ha.hi, ha.hc,
               CASE WHEN s.known THEN s.pcs END,
               CASE WHEN s.known THEN s.ncs END,
               CASE WHEN s.known THEN s.ucs END,
               CASE WHEN s.known THEN s.pco END,
               CASE WHEN s.known THEN s.nco END,
               CASE WHEN s.known THEN s.uco END, ha.hcum
          FROM s JOIN ha ON ha.b = s.b AND ha.m = s.m AND ha.sh = s.sh$q$,
          v_tbl, v_src)
        USING p_from, p_to, v_w;
    END IF;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END;
$$;

COMMENT ON FUNCTION app.rollup_build(integer, timestamptz, timestamptz) IS
    'Rebuilds rollup level p_lvl (app.rollup_levels; 0: app.rollup_partial, '
    'from the raw rows) for the buckets in [p_from, p_to) from the next '
    'finer level: deletes them, then inserts the aggregates.  Internal to '
    'app.rollup_fold, app.rollup_backfill and the partial triggers.';

-- ------------------------------------------------------------- partials

-- Triggers on app.prediction_metrics keep app.rollup_partial equal to
-- the raw rows at and above rollup_state.partial_from, in the writer's
-- own transaction: one row per INSERT statement (a batch of the server
-- is one statement, its rows share created_at), rebuilt from the raw
-- rows where rows are deleted or updated there, emptied by TRUNCATE.
CREATE OR REPLACE FUNCTION app.rollup_partial_add()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
BEGIN
    -- Not called after rollup_partial_put (the trigger's WHEN): the
    -- server's own sums of the statement are in already.
    INSERT INTO rollup_partial (bucket, model_version_id, shadow, n,
        positive, negative, neutral, conf_sum_micro, time_sum_us,
        time_min_us, time_max_us, hist_idx, hist_cnt,
        positive_conf_sum_micro, negative_conf_sum_micro,
        neutral_conf_sum_micro, positive_compound_sum_e4,
        negative_compound_sum_e4, neutral_compound_sum_e4, hist_cum)
    SELECT g.b, g.m, g.s, sum(g.c), sum(g.pos), sum(g.neg), sum(g.neu),
           sum(g.pcs + g.ncs + g.ucs), sum(g.ts), min(g.tmin),
           max(g.tmax), array_agg(g.i ORDER BY g.i),
           array_agg(g.c ORDER BY g.i), sum(g.pcs), sum(g.ncs),
           sum(g.ucs), sum(g.pco), sum(g.nco), sum(g.uco),
           array_agg(g.cum ORDER BY g.i)
      FROM (SELECT g0.*, sum(g0.c) OVER (PARTITION BY g0.b, g0.m, g0.s
                                         ORDER BY g0.i)::bigint AS cum
      FROM (SELECT p.created_at AS b,
                   p.model_version_id AS m,
                   p.shadow_of IS NOT NULL AS s,
                   rollup_hist_index(x.us) AS i,
                   count(*) AS c,
                   count(*) FILTER (WHERE p.label = 'positive') AS pos,
                   count(*) FILTER (WHERE p.label = 'negative') AS neg,
                   count(*) FILTER (WHERE p.label = 'neutral') AS neu,
                   coalesce(sum(x.cm) FILTER (
                       WHERE p.label = 'positive'), 0) AS pcs,
                   coalesce(sum(x.cm) FILTER (
                       WHERE p.label = 'negative'), 0) AS ncs,
                   coalesce(sum(x.cm) FILTER (
                       WHERE p.label = 'neutral'), 0) AS ucs,
                   coalesce(sum(x.ce) FILTER (
                       WHERE p.label = 'positive'), 0) AS pco,
                   coalesce(sum(x.ce) FILTER (
                       WHERE p.label = 'negative'), 0) AS nco,
                   coalesce(sum(x.ce) FILTER (
                       WHERE p.label = 'neutral'), 0) AS uco,
                   sum(x.us) AS ts, min(x.us) AS tmin, max(x.us) AS tmax
              FROM new_rows p
             CROSS JOIN LATERAL (SELECT
                   round(p.inference_time_ms * 1000)::bigint AS us,
                   round(p.confidence * 1e6)::bigint AS cm,
                   round(p.compound * 1e4)::bigint AS ce) x
             -- Older rows (a late load) no read takes from partials.
             WHERE p.created_at >= (SELECT s.partial_from
                                      FROM rollup_state s)
             GROUP BY 1, 2, 3, 4) g0) g
     GROUP BY g.b, g.m, g.s;
    RETURN NULL;
END;
$$;

-- The server's way (src/partial.c): it sums a statement's rows as it
-- writes them, far cheaper than the trigger's query, and the procedure
-- that inserts them passes the sums here first.  The INSERT that follows
-- does not call the trigger (its WHEN reads the flag set here), and the
-- procedure clears the flag after it.  With the trigger disabled (a
-- benchmark's "off" side) nothing is written.  No SET clause, names
-- qualified: it runs for every statement the server writes.
CREATE OR REPLACE FUNCTION app.rollup_partial_put(
    p_model integer, p_shadow boolean, p_part bigint[], p_hidx integer[],
    p_hcnt bigint[], p_hcum bigint[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid = 'app.prediction_metrics'::regclass
                      AND t.tgname = 'rollup_partial_add'
                      AND t.tgenabled <> 'D') THEN
        RETURN;
    END IF;
    INSERT INTO app.rollup_partial (bucket, model_version_id, shadow, n,
        positive, negative, neutral, conf_sum_micro, time_sum_us,
        time_min_us, time_max_us, hist_idx, hist_cnt,
        positive_conf_sum_micro, negative_conf_sum_micro,
        neutral_conf_sum_micro, positive_compound_sum_e4,
        negative_compound_sum_e4, neutral_compound_sum_e4, hist_cum)
    VALUES (pg_catalog.now(), p_model, p_shadow, p_part[1], p_part[2],
            p_part[3], p_part[4], p_part[5], p_part[6], p_part[7], p_part[8],
            p_hidx, p_hcnt, p_part[9], p_part[10], p_part[11], p_part[12],
            p_part[13], p_part[14], p_hcum);
    PERFORM pg_catalog.set_config('app.rollup_partial', 'sent', true);
END;
$$;

COMMENT ON FUNCTION app.rollup_partial_put(integer, boolean, bigint[],
    integer[], bigint[], bigint[]) IS
    'Inserts the partial row of the INSERT the caller runs next (rows at '
    'now() of model p_model, shadow or not) from the sums the server made '
    '(p_part: n, positive, negative, neutral, conf_sum_micro, time_sum_us, '
    'time_min_us, time_max_us, then the per-label sums as the table''s '
    'columns), so that INSERT''s trigger skips.  Internal to the record '
    'procedures.';

-- A fix of rows at or above the watermark (a DELETE or UPDATE there is
-- rare: a manual fix, a test's clean-up) rebuilds the partials of the
-- span it touched from the raw rows.  Writers wait meanwhile: a row
-- committed between the rebuild's DELETE and INSERT would otherwise be
-- counted twice.
CREATE OR REPLACE FUNCTION app.rollup_partial_fix()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_from timestamptz;
    v_lo   timestamptz;
    v_hi   timestamptz;
BEGIN
    SELECT greatest(s.partial_from, coalesce(s.watermark, '-infinity'))
      INTO v_from FROM rollup_state s;
    IF TG_OP = 'UPDATE' THEN
        SELECT min(x.t), max(x.t) INTO v_lo, v_hi
          FROM (SELECT o.created_at FROM old_rows o
                UNION ALL SELECT n.created_at FROM new_rows n) AS x(t)
         WHERE x.t >= v_from;
    ELSE
        SELECT min(o.created_at), max(o.created_at) INTO v_lo, v_hi
          FROM old_rows o WHERE o.created_at >= v_from;
    END IF;
    IF v_lo IS NOT NULL THEN
        LOCK TABLE prediction_metrics IN SHARE ROW EXCLUSIVE MODE;
        PERFORM rollup_build(0, v_lo, v_hi + interval '1 microsecond');
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION app.rollup_partial_clear()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
BEGIN
    DELETE FROM rollup_partial;
    RETURN NULL;
END;
$$;

-- Once per database (every migrate calls it): the rows already at or
-- above the watermark summed, and the triggers created, with writers
-- held off in between so no statement is missed or counted twice.
CREATE OR REPLACE FUNCTION app.rollup_partial_setup()
RETURNS void
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_from timestamptz;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_trigger t
                    WHERE t.tgrelid = 'prediction_metrics'::regclass
                      AND t.tgname = 'rollup_partial_add') THEN
        LOCK TABLE prediction_metrics IN SHARE ROW EXCLUSIVE MODE;
        v_from := coalesce((SELECT s.watermark FROM rollup_state s),
                           '-infinity');
        PERFORM rollup_build(0, v_from, 'infinity');
        UPDATE rollup_state SET partial_from = v_from;
    END IF;
    -- (Re)created every time: a migrate brings their current definition.
    CREATE OR REPLACE TRIGGER rollup_partial_add AFTER INSERT
        ON prediction_metrics REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT
        WHEN (current_setting('app.rollup_partial', true)
              IS DISTINCT FROM 'sent')
        EXECUTE FUNCTION rollup_partial_add();
    CREATE OR REPLACE TRIGGER rollup_partial_fix_delete AFTER DELETE
        ON prediction_metrics REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION rollup_partial_fix();
    CREATE OR REPLACE TRIGGER rollup_partial_fix_update AFTER UPDATE
        ON prediction_metrics
        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION rollup_partial_fix();
    CREATE OR REPLACE TRIGGER rollup_partial_clear AFTER TRUNCATE
        ON prediction_metrics
        FOR EACH STATEMENT EXECUTE FUNCTION rollup_partial_clear();
END;
$$;

COMMENT ON FUNCTION app.rollup_partial_add() IS
    'Statement trigger (AFTER INSERT on app.prediction_metrics): the '
    'statement''s rows summed into app.rollup_partial, per created_at, '
    'model version and shadow flag.';
COMMENT ON FUNCTION app.rollup_partial_fix() IS
    'Statement trigger (AFTER DELETE or UPDATE on app.prediction_metrics): '
    'rebuilds the partials of the rows'' span at and above the watermark '
    'from the raw rows, writers held off meanwhile.';
COMMENT ON FUNCTION app.rollup_partial_clear() IS
    'Statement trigger (AFTER TRUNCATE on app.prediction_metrics): '
    'empties app.rollup_partial.';
COMMENT ON FUNCTION app.rollup_partial_setup() IS
    'Creates (or replaces) the partial triggers; the first time, after '
    'summing the rows at and above the watermark into app.rollup_partial '
    '(run by every migrate).';

-- ---------------------------------------------------------------- fold

-- The janitor's job.  W, the new watermark, is a multiple of 100 ms at most
-- now() - p_margin such that every transaction that might still write a
-- row below it has ended: each transaction of a role that may insert
-- predictions (in this database) that was open when W was chosen is
-- waited for, by its virtual transaction id in pg_locks (visible to
-- every role, unlike pg_stat_activity.xact_start).  A transaction
-- started after that point stamps its rows with created_at = its start
-- >= W (a row's default created_at is now(), the transaction's start),
-- so none can fall below W; the next statement's snapshot sees every row
-- below W.  Those rows' partials are aggregated into 100 ms rows (from the
-- raw rows where there are none: below partial_from), then deleted, and
-- the watermark moves in the same transaction, so readers see either
-- both or neither.
-- Then the coarser buckets that W closed are folded from the level
-- below.  One caller at a time (the others return at once).
CREATE OR REPLACE FUNCTION app.rollup_fold(
    p_margin interval DEFAULT interval '100 milliseconds',
    p_wait interval DEFAULT interval '200 milliseconds',
    p_max_span interval DEFAULT interval '10 minutes')
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = app, pg_catalog
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_w     timestamptz;
    v_c     timestamptz;
    v_base  timestamptz;
    v_raw   timestamptz;
    v_pf    timestamptz;
    v_vx    text[];
    v_until timestamptz;
    v_l     record;
    v_busy  boolean;
    v_g     interval := interval '100 milliseconds';	-- level 1
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310442160) THEN
        RETURN NULL;
    END IF;
    -- partial_from is moved by folds, which hold the lock taken above.
    SELECT s.watermark, s.partial_from INTO v_w, v_pf FROM rollup_state s;
    v_c := rollup_floor(clock_timestamp() - p_margin, v_g);
    IF v_w IS NOT NULL AND v_c <= v_w THEN
        RETURN v_w;
    END IF;

    -- Idle: no partial in [W, C) and no bucket that C closes holds rows
    -- of the level below, so a fold would write nothing but W itself.  W
    -- stays (every read is as exact either way) and an idle server
    -- commits nothing, ten times a second.  A partial whose transaction
    -- is still open is only put off to a later run.
    IF v_w IS NOT NULL AND v_w >= v_pf
       AND NOT EXISTS (SELECT FROM rollup_partial r
                        WHERE r.bucket >= v_w AND r.bucket < v_c) THEN
        v_busy := false;
        FOR v_l IN SELECT l.width, lag(l.tbl) OVER (ORDER BY l.lvl) AS src
                     FROM rollup_levels() l ORDER BY l.lvl LOOP
            CONTINUE WHEN v_l.src IS NULL OR rollup_floor(v_c, v_l.width)
                          <= rollup_floor(v_w, v_l.width);
            EXECUTE format('SELECT EXISTS (SELECT FROM %s WHERE bucket >= $1 '
                           'AND bucket < $2)', v_l.src)
               INTO v_busy
              USING rollup_floor(v_w, v_l.width), rollup_floor(v_c, v_l.width);
            EXIT WHEN v_busy;
        END LOOP;
        IF NOT v_busy THEN
            RETURN v_w;
        END IF;
    END IF;

    v_vx := rollup_writers();
    v_until := clock_timestamp() + p_wait;
    WHILE EXISTS (SELECT FROM pg_locks l
                   WHERE l.locktype = 'virtualxid' AND l.granted
                     AND l.virtualxid = ANY (v_vx)) LOOP
        IF clock_timestamp() > v_until THEN
            RETURN v_w;		-- still open: the next run tries again
        END IF;
        PERFORM pg_sleep(0.002);
    END LOOP;

    -- A fresh snapshot from here on: every row below v_c is visible.
    -- Rows start at v_raw (empty stretches are skipped); the coarser
    -- levels resume at their own watermark, floor(v_base).  At and above
    -- v_pf the partials stand for the raw rows.
    IF v_w IS NULL THEN
        SELECT rollup_floor(min(p.created_at), v_g)
          INTO v_base FROM prediction_metrics p;
        IF v_base IS NULL THEN
            RETURN NULL;	-- no rows yet: nothing to fold
        END IF;
    ELSE
        v_base := v_w;
    END IF;
    IF v_base >= v_pf THEN
        SELECT rollup_floor(min(r.bucket), v_g) INTO v_raw
          FROM rollup_partial r
         WHERE r.bucket >= v_base AND r.bucket < v_c;
    ELSE
        -- Bounded above too: the partitions made ahead of now are then
        -- pruned when the statement is planned, not planned at every run.
        SELECT rollup_floor(min(p.created_at), v_g) INTO v_raw
          FROM prediction_metrics p
         WHERE p.created_at >= v_base AND p.created_at < v_c;
    END IF;
    v_raw := coalesce(v_raw, v_c);
    -- Bounded work per run: a backlog is caught up over several runs.
    v_c := least(v_c, rollup_floor(v_raw + p_max_span, v_g));
    IF v_c <= v_base THEN
        RETURN v_w;
    END IF;

    -- The partition job keeps partitions ahead of now; a catch-up of old
    -- rows may need older ones.
    IF v_base < now() - interval '1 hour' THEN
        PERFORM rollup_partitions(rollup_floor(v_base, interval '1 day'), v_c);
    END IF;
    -- Below v_pf there are no partials to build from: made from the raw
    -- rows first.
    IF v_raw < v_pf THEN
        PERFORM rollup_build(0, v_raw, least(v_c, v_pf));
    END IF;
    PERFORM rollup_build(1, v_raw, v_c);
    FOR v_l IN SELECT * FROM rollup_levels() WHERE lvl > 1 ORDER BY lvl LOOP
        PERFORM rollup_build(v_l.lvl, rollup_floor(v_base, v_l.width),
                             rollup_floor(v_c, v_l.width));
    END LOOP;
    -- Bounded below too: the partials below v_raw are gone already, and
    -- an open-ended range would walk every deleted one autovacuum has
    -- not removed yet.
    DELETE FROM rollup_partial WHERE bucket >= v_raw AND bucket < v_c;
    UPDATE rollup_state
       SET watermark = v_c, folded_at = clock_timestamp(),
           partial_from = greatest(partial_from, v_c);
    RETURN v_c;
END;
$$;

COMMENT ON FUNCTION app.rollup_fold(interval, interval, interval) IS
    'The janitor''s rollup job: moves app.rollup_state.watermark to a '
    'multiple of 100 ms <= now() - p_margin below which no open transaction can '
    'still add a row (it waits up to p_wait for the transactions that '
    'could), folding the rows in between (their partials) into '
    'app.rollup_100ms and '
    'the closed buckets of the coarser levels; at most '
    'p_max_span per call.  When that would write nothing (no partial '
    'above the watermark, no closed bucket with rows below it) the '
    'watermark stays and nothing is written.  One caller at a time '
    '(others return NULL at once).  Returns the watermark.';

-- The virtual transaction ids of the other sessions of this database
-- whose role may insert predictions: those the fold waits for.
CREATE OR REPLACE FUNCTION app.rollup_writers()
RETURNS text[]
LANGUAGE sql
VOLATILE
SET search_path = app, pg_catalog
AS $$
    SELECT coalesce(array_agg(l.virtualxid), '{}')
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'virtualxid' AND l.granted
       AND l.virtualxid = l.virtualtransaction
       AND l.pid <> pg_backend_pid()
       AND a.datname = current_database()
       AND coalesce(a.backend_type, 'client backend') = 'client backend'
       AND coalesce(has_table_privilege(a.usesysid,
               'app.prediction_metrics', 'INSERT'), true);
$$;

COMMENT ON FUNCTION app.rollup_writers() IS
    'Virtual transaction ids of the open transactions (other sessions of '
    'this database, roles that may insert predictions) that '
    'app.rollup_fold waits for before it moves the watermark.';

-- Folds everything up to now (the end of a migrate; after a long stop):
-- as many app.rollup_fold runs as it takes, each bounded.
CREATE OR REPLACE FUNCTION app.rollup_catch_up(
    p_span interval DEFAULT interval '1 hour')
RETURNS timestamptz
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_prev timestamptz;
    v_w    timestamptz;
BEGIN
    LOOP
        v_w := rollup_fold(interval '100 milliseconds',
                           interval '2 seconds', p_span);
        EXIT WHEN v_w IS NULL OR v_w IS NOT DISTINCT FROM v_prev;
        v_prev := v_w;
    END LOOP;
    RETURN v_w;
END;
$$;

COMMENT ON FUNCTION app.rollup_catch_up(interval) IS
    'Runs app.rollup_fold until the watermark stops moving (it is near '
    'now, or open transactions hold it back); returns it.';

-- ------------------------------------------------------------- backfill

CREATE OR REPLACE FUNCTION app.rollup_backfill(
    p_from timestamptz, p_to timestamptz)
RETURNS TABLE (level interval, range_start timestamptz,
               range_end timestamptz, rows_written bigint)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
SET jit = off
AS $$
DECLARE
    v_w    timestamptz;
    v_l    record;
    v_lo   timestamptz;
    v_hi   timestamptz;
    v_plo  timestamptz;
    v_phi  timestamptz;
BEGIN
    IF p_from IS NULL OR p_to IS NULL OR p_from > p_to THEN
        RAISE EXCEPTION 'rollup_backfill: need p_from <= p_to'
            USING ERRCODE = '22023';
    END IF;
    -- Waits for a fold in progress; the janitor skips while this runs.
    PERFORM pg_advisory_xact_lock(7310442160);
    SELECT s.watermark INTO v_w FROM rollup_state s;
    IF v_w IS NULL THEN
        RETURN;		-- nothing folded: every read uses the raw rows
    END IF;
    PERFORM rollup_partitions(rollup_floor(p_from, interval '1 day'),
                              least(p_to, v_w));
    -- The 100 ms level is built from partials: made from the raw rows
    -- for the range, and dropped again once it is built (below the
    -- watermark no read takes them).
    v_plo := rollup_floor(p_from, interval '100 milliseconds');
    v_phi := least(rollup_ceil(p_to, interval '100 milliseconds'), v_w);
    PERFORM rollup_build(0, v_plo, v_phi);
    FOR v_l IN SELECT * FROM rollup_levels() ORDER BY lvl LOOP
        -- Only buckets below the level's watermark exist; the range
        -- grows to whole buckets of each level, rebuilt from the level
        -- below (which covers them: it was rebuilt first).
        v_lo := rollup_floor(p_from, v_l.width);
        v_hi := least(rollup_ceil(p_to, v_l.width),
                      rollup_floor(v_w, v_l.width));
        CONTINUE WHEN v_lo >= v_hi;
        level := v_l.width;
        range_start := v_lo;
        range_end := v_hi;
        rows_written := rollup_build(v_l.lvl, v_lo, v_hi);
        RETURN NEXT;
    END LOOP;
    DELETE FROM rollup_partial WHERE bucket >= v_plo AND bucket < v_phi;
END;
$$;

COMMENT ON FUNCTION app.rollup_backfill(timestamptz, timestamptz) IS
    'Rebuilds the rollups of [p_from, p_to) from the raw rows, e.g. after '
    'a bulk load of old rows, a restore or a manual fix of '
    'app.prediction_metrics: the 1 s rows of the range, then the '
    'minutes, hours and days that touch it, each from the level below.  '
    'Idempotent; only below the watermark (above it every read uses the '
    'raw rows anyway).  The raw rows of the whole range must still exist: '
    'a range whose raw partitions were dropped would lose its rollups.  '
    'Returns per level the range rebuilt and the rows written.';

-- ------------------------------------------------------------- reading

-- 0012 changed both functions' signatures (shadow, per-label sums): the
-- old ones go, and the views over them (41, 42) are re-created after.
DROP FUNCTION IF EXISTS app.rollup_aggregate(timestamptz, timestamptz,
    integer[], interval, boolean) CASCADE;
DROP FUNCTION IF EXISTS app.rollup_parts(timestamptz, timestamptz,
    integer[], interval) CASCADE;
-- 0013 added hcum to what rollup_parts returns: the older one goes (no
-- view reads it; the functions that call it are re-created below).
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_proc
                WHERE oid = to_regprocedure('app.rollup_parts(timestamptz, '
                    'timestamptz, integer[], interval, boolean)')
                  AND NOT 'hcum' = ANY (proargnames)) THEN
        DROP FUNCTION app.rollup_parts(timestamptz, timestamptz, integer[],
            interval, boolean);
    END IF;
END;
$$;

-- The pieces that make up [p_start, p_end) exactly, each row once:
-- rollup rows of the coarsest level whose bucket fits (inside the window,
-- below the watermark, and, with p_bucket, inside one timeseries bucket
-- of that width aligned to the UTC epoch), the partials at or above the
-- watermark (one row per bucket and model), and raw rows for the rest,
-- grouped by label and latency.  tb is the timeseries bucket (p_start
-- without p_bucket); a rollup row carries its histogram (hidx, hcnt and
-- hcum, the running totals of hcnt), a raw group its latency v.  Sums
-- are exact numerics (the rollups' are
-- of the values at the precision the server stores them: confidence
-- 1e-6, compound 1e-4, time 1 us).  p_shadow: false (served rows), true
-- (shadow rows), NULL (both).
CREATE OR REPLACE FUNCTION app.rollup_parts(
    p_start timestamptz, p_end timestamptz, p_ids integer[] DEFAULT NULL,
    p_bucket interval DEFAULT NULL, p_shadow boolean DEFAULT false)
RETURNS TABLE (tb timestamptz, model_version_id integer, n bigint,
               positive bigint, negative bigint, neutral bigint,
               conf_sum numeric, time_sum numeric,
               time_min double precision, time_max double precision,
               hidx integer[], hcnt bigint[], v double precision,
               positive_conf numeric, negative_conf numeric,
               neutral_conf numeric, positive_compound numeric,
               negative_compound numeric, neutral_compound numeric,
               hcum bigint[])
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_w     timestamptz;
    v_top   timestamptz;	-- min(end, watermark): rollups below it
    v_lv    record;
    v_pw    interval;		-- the parent level's width
    v_lo    timestamptz;
    v_hi    timestamptz;
    v_plo   timestamptz;
    v_phi   timestamptz;
    v_rlo   timestamptz;	-- raw: [p_start, v_rlo) and [v_rhi, p_end)
    v_rhi   timestamptz;
    v_r     tstzrange[] := '{}';
    v_whole boolean;
    v_rng   tstzrange;
    v_o     timestamptz := timestamptz '1970-01-01 00:00+00';
    v_s     timestamptz;	-- partials from here (NULL: none)
    v_q     text;
BEGIN
    IF p_start >= p_end THEN
        RETURN;
    END IF;
    -- Rollup rows (a level's table, or the partials) of [$1, $2).
    v_q := $q$
        SELECT CASE WHEN $4 IS NULL THEN $8
                    ELSE date_bin($4, r.bucket, $5) END,
               r.model_version_id, r.n, r.positive, r.negative,
               r.neutral, r.conf_sum_micro * 0.000001,
               r.time_sum_us * 0.001,
               r.time_min_us / 1000.0::float8,
               r.time_max_us / 1000.0::float8,
               r.hist_idx, r.hist_cnt, NULL::float8,
               r.positive_conf_sum_micro * 0.000001,
               r.negative_conf_sum_micro * 0.000001,
               r.neutral_conf_sum_micro * 0.000001,
               r.positive_compound_sum_e4 * 0.0001,
               r.negative_compound_sum_e4 * 0.0001,
               r.neutral_compound_sum_e4 * 0.0001,
               r.hist_cum
          FROM %s r
         WHERE r.bucket >= $1 AND r.bucket < $2
           AND ($3::integer[] IS NULL OR
                r.model_version_id = ANY ($3))
           AND ($10::boolean IS NULL OR r.shadow = $10)
           -- inside one timeseries bucket
           AND ($4 IS NULL OR date_bin($4, r.bucket, $5) =
                date_bin($4, r.bucket + $6 - interval '1 us', $5))
           -- and not covered by the parent level
           AND NOT ($7::interval IS NOT NULL
                AND date_bin($7, r.bucket, $5) >= $8
                AND date_bin($7, r.bucket, $5) + $7 <= $9
                AND ($4 IS NULL OR
                     date_bin($4, date_bin($7, r.bucket, $5), $5)
                     = date_bin($4, date_bin($7, r.bucket, $5)
                       + $7 - interval '1 us', $5)))$q$;
    SELECT s.watermark, greatest(s.watermark, s.partial_from)
      INTO v_w, v_s FROM rollup_state s;
    v_top := CASE WHEN v_w IS NOT NULL THEN least(p_end, v_w) END;
    v_rlo := p_end;
    v_rhi := p_end;

    IF v_top IS NOT NULL AND v_top > p_start THEN
        FOR v_lv IN SELECT l.lvl, l.tbl, l.width,
                           lead(l.width) OVER (ORDER BY l.lvl) AS pw
                      FROM rollup_levels() l ORDER BY l.lvl LOOP
            v_pw := v_lv.pw;
            v_lo := rollup_ceil(p_start, v_lv.width);
            v_hi := rollup_floor(v_top, v_lv.width);
            EXIT WHEN v_lo >= v_hi;
            IF v_lv.lvl = 1 THEN
                v_rlo := v_lo;
                v_rhi := v_hi;
            END IF;
            -- Where this level serves: at the edges the parent cannot
            -- cover, or everywhere when the timeseries buckets do not
            -- nest in the parent's (then a filter decides per row).
            v_whole := v_pw IS NULL;
            IF NOT v_whole THEN
                v_plo := rollup_ceil(p_start, v_pw);
                v_phi := rollup_floor(v_top, v_pw);
                v_whole := v_plo >= v_phi OR (p_bucket IS NOT NULL AND
                    date_bin(v_pw, v_o + p_bucket, v_o) <> v_o + p_bucket);
            END IF;
            IF v_whole THEN
                v_r := ARRAY[tstzrange(v_lo, v_hi)];
            ELSE
                v_r := ARRAY[tstzrange(v_lo, v_plo), tstzrange(v_phi, v_hi)];
            END IF;
            FOREACH v_rng IN ARRAY v_r LOOP
                CONTINUE WHEN isempty(v_rng);
                RETURN QUERY EXECUTE format(v_q, v_lv.tbl)
                USING lower(v_rng), upper(v_rng), p_ids, p_bucket, v_o,
                      v_lv.width, v_pw, p_start, v_top, p_shadow;
            END LOOP;
        END LOOP;
    END IF;

    -- The rest: the fractional start and everything from the watermark.
    -- At and above v_s the partials (a row per statement) stand for the
    -- raw rows, summed here into one row per bucket and model; below it
    -- the raw rows themselves.
    IF v_rlo >= v_rhi THEN
        v_r := ARRAY[tstzrange(p_start, p_end)];
    ELSE
        v_r := ARRAY[tstzrange(p_start, v_rlo), tstzrange(v_rhi, p_end)];
    END IF;
    FOREACH v_rng IN ARRAY v_r LOOP
        CONTINUE WHEN isempty(v_rng) OR v_s IS NULL
                      OR upper(v_rng) <= v_s;
        RETURN QUERY
            WITH q AS MATERIALIZED (
                SELECT CASE WHEN p_bucket IS NULL THEN p_start
                            ELSE date_bin(p_bucket, r.bucket, v_o) END AS b,
                       r.*
                  FROM rollup_partial r
                 WHERE r.bucket >= greatest(lower(v_rng), v_s)
                   AND r.bucket < upper(v_rng)
                   AND (p_ids IS NULL OR r.model_version_id = ANY (p_ids))
                   AND (p_shadow IS NULL OR r.shadow = p_shadow)
            ), h AS (
                SELECT x.b, x.m, array_agg(x.i ORDER BY x.i) AS hi,
                       array_agg(x.c ORDER BY x.i) AS hc,
                       array_agg(x.cum ORDER BY x.i) AS hcum
                  FROM (SELECT u.b, u.m, u.i, sum(u.c)::bigint AS c,
                               sum(sum(u.c)) OVER (PARTITION BY u.b, u.m
                                                   ORDER BY u.i)::bigint AS cum
                          FROM (SELECT q.b, q.model_version_id AS m,
                                       unnest(q.hist_idx) AS i,
                                       unnest(q.hist_cnt) AS c
                                  FROM q) u
                         GROUP BY u.b, u.m, u.i) x
                 GROUP BY x.b, x.m
            )
            SELECT s.b, s.m, s.n, s.pos, s.neg, s.neu, s.cs * 0.000001,
                   s.ts * 0.001, s.tmin / 1000.0::float8,
                   s.tmax / 1000.0::float8, h.hi, h.hc, NULL::float8,
                   s.pcs * 0.000001, s.ncs * 0.000001, s.ucs * 0.000001,
                   s.pco * 0.0001, s.nco * 0.0001, s.uco * 0.0001, h.hcum
              FROM (SELECT q.b, q.model_version_id AS m, sum(q.n)::bigint AS n,
                           sum(q.positive)::bigint AS pos,
                           sum(q.negative)::bigint AS neg,
                           sum(q.neutral)::bigint AS neu,
                           sum(q.conf_sum_micro) AS cs,
                           sum(q.time_sum_us) AS ts,
                           min(q.time_min_us) AS tmin,
                           max(q.time_max_us) AS tmax,
                           sum(q.positive_conf_sum_micro) AS pcs,
                           sum(q.negative_conf_sum_micro) AS ncs,
                           sum(q.neutral_conf_sum_micro) AS ucs,
                           sum(q.positive_compound_sum_e4) AS pco,
                           sum(q.negative_compound_sum_e4) AS nco,
                           sum(q.neutral_compound_sum_e4) AS uco
                      FROM q GROUP BY q.b, q.model_version_id) s
              JOIN h ON h.b = s.b AND h.m = s.m;
    END LOOP;
    -- Few expressions per raw row (they are what a read pays per row);
    -- the per-label columns are spread per group.  The sums are of the
    -- integer micro-units the rollups hold (exact bigint arithmetic, far
    -- cheaper than a numeric per row), so an answer does not change when
    -- the watermark passes its rows.
    FOREACH v_rng IN ARRAY v_r LOOP
        v_rng := v_rng * tstzrange(NULL, v_s);
        CONTINUE WHEN isempty(v_rng);
        RETURN QUERY
            SELECT g.b, g.m, g.c,
                   CASE WHEN g.l = 'positive' THEN g.c ELSE 0 END,
                   CASE WHEN g.l = 'negative' THEN g.c ELSE 0 END,
                   CASE WHEN g.l = 'neutral' THEN g.c ELSE 0 END,
                   g.cs, g.t::numeric * g.c, g.t, g.t,
                   NULL::integer[], NULL::bigint[], g.t,
                   CASE WHEN g.l = 'positive' THEN g.cs ELSE 0 END,
                   CASE WHEN g.l = 'negative' THEN g.cs ELSE 0 END,
                   CASE WHEN g.l = 'neutral' THEN g.cs ELSE 0 END,
                   CASE WHEN g.l = 'positive' THEN g.ce ELSE 0 END,
                   CASE WHEN g.l = 'negative' THEN g.ce ELSE 0 END,
                   CASE WHEN g.l = 'neutral' THEN g.ce ELSE 0 END,
                   NULL::bigint[]
              FROM (SELECT CASE WHEN p_bucket IS NULL THEN p_start
                                ELSE date_bin(p_bucket, p.created_at, v_o)
                           END AS b,
                           p.model_version_id AS m, p.label AS l,
                           p.inference_time_ms AS t, count(*) AS c,
                           sum(round(p.confidence * 1e6)::bigint)
                               * 0.000001 AS cs,
                           sum(round(p.compound * 1e4)::bigint)
                               * 0.0001 AS ce
                      FROM prediction_metrics p
                     WHERE p.created_at >= lower(v_rng)
                       AND p.created_at < upper(v_rng)
                       AND (p_ids IS NULL OR p.model_version_id = ANY (p_ids))
                       AND (p_shadow IS NULL OR
                            (p.shadow_of IS NOT NULL) = p_shadow)
                     GROUP BY 1, 2, 3, 4) g;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION app.rollup_parts(timestamptz, timestamptz, integer[],
    interval, boolean) IS
    'The rows that make up [p_start, p_end) exactly, each prediction '
    'once: rollup rows (histogram in hidx/hcnt) of the coarsest level '
    'that fits, the partials (app.rollup_partial) above the watermark '
    'summed per bucket and model, and raw rows grouped by label and '
    'latency (v) for a fractional edge below it; p_ids filters models '
    '(NULL: all), p_shadow the rows (false: served, true: shadow, NULL: '
    'both).  With p_bucket, tb is the epoch-aligned bucket of that width '
    'each row belongs to, and no rollup row straddles one (else tb = '
    'p_start).  What every metrics read aggregates.';

-- Aggregates of rollup_parts per tb (and per model with p_by_model):
-- the figures every read reports.  The merged latency histogram comes
-- out too (hist_values ascending, hist_counts) for other percentiles.
CREATE OR REPLACE FUNCTION app.rollup_aggregate(
    p_start timestamptz, p_end timestamptz, p_ids integer[] DEFAULT NULL,
    p_bucket interval DEFAULT NULL, p_by_model boolean DEFAULT false,
    p_shadow boolean DEFAULT false)
RETURNS TABLE (tb timestamptz, model_version_id integer,
               total_predictions bigint, conf_sum numeric,
               average_confidence double precision,
               average_inference_time_ms double precision,
               min_inference_time_ms double precision,
               max_inference_time_ms double precision,
               p95_inference_time_ms double precision,
               positive bigint, negative bigint, neutral bigint,
               hist_values double precision[], hist_counts bigint[],
               positive_conf_sum numeric, negative_conf_sum numeric,
               neutral_conf_sum numeric, positive_compound_sum numeric,
               negative_compound_sum numeric, neutral_compound_sum numeric)
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
SET jit = off
SET work_mem = '64MB'
AS $$
    WITH p AS MATERIALIZED (
        SELECT CASE WHEN p_by_model THEN r.model_version_id
                    ELSE -1 END AS m, r.*
          FROM rollup_parts(p_start, p_end, p_ids, p_bucket, p_shadow) r
    ), vals AS (
        -- One grouping of every latency, raw and histogram alike, on the
        -- value a histogram index stands for (one-to-one, so the same
        -- groups as on the index).  The arrays are unnested in the
        -- select list: a set-returning function there streams, one in
        -- FROM is materialized first.
        SELECT p.tb, p.m, p.v, p.n FROM p WHERE p.v IS NOT NULL
        UNION ALL
        SELECT u.tb, u.m, rollup_hist_value(u.i), u.c
          FROM (SELECT p.tb, p.m, unnest(p.hidx) AS i, unnest(p.hcnt) AS c
                  FROM p WHERE p.hidx IS NOT NULL) u
    ), g AS (
        SELECT vals.tb, vals.m, vals.v, sum(vals.n)::bigint AS n
          FROM vals GROUP BY vals.tb, vals.m, vals.v
    ), h AS (
        SELECT g.tb, g.m, array_agg(g.v ORDER BY g.v) AS hv,
               array_agg(g.n ORDER BY g.v) AS hn
          FROM g GROUP BY g.tb, g.m
    ), t AS (
        SELECT p.tb, p.m, sum(p.n)::bigint AS n, sum(p.conf_sum) AS cs,
               sum(p.time_sum) AS ts, min(p.time_min) AS tmin,
               max(p.time_max) AS tmax, sum(p.positive)::bigint AS pos,
               sum(p.negative)::bigint AS neg, sum(p.neutral)::bigint AS neu,
               -- Unknown (NULL) if unknown in any part.
               count(*) = count(p.positive_conf) AS known,
               sum(p.positive_conf) AS pcs, sum(p.negative_conf) AS ncs,
               sum(p.neutral_conf) AS ucs, sum(p.positive_compound) AS pco,
               sum(p.negative_compound) AS nco,
               sum(p.neutral_compound) AS uco
          FROM p GROUP BY p.tb, p.m
    )
    SELECT t.tb, nullif(t.m, -1), t.n, t.cs, (t.cs / t.n)::float8,
           (t.ts / t.n)::float8, t.tmin, t.tmax,
           -- Clamped to [min, max]: changes nothing where the histogram
           -- is exact, and keeps a midpoint inside the data elsewhere.
           least(greatest(rollup_quantile(h.hv, h.hn, 0.95), t.tmin), t.tmax),
           t.pos, t.neg, t.neu, h.hv, h.hn,
           CASE WHEN t.known THEN t.pcs END, CASE WHEN t.known THEN t.ncs END,
           CASE WHEN t.known THEN t.ucs END, CASE WHEN t.known THEN t.pco END,
           CASE WHEN t.known THEN t.nco END, CASE WHEN t.known THEN t.uco END
      FROM t JOIN h ON h.tb = t.tb AND h.m = t.m;
$$;

COMMENT ON FUNCTION app.rollup_aggregate(timestamptz, timestamptz,
    integer[], interval, boolean, boolean) IS
    'app.rollup_parts aggregated per timeseries bucket tb (= p_start '
    'without p_bucket) and, with p_by_model, per model version (else '
    'model_version_id is NULL); no row where nothing matches.  Count, '
    'exact sums and averages, min, max, P95 (exactly percentile_cont(0.95) '
    'for latencies below 2.048 ms as the server stores them, within '
    '0.05 % above; app.rollup_quantile over hist_values/hist_counts gives '
    'any other percentile alike), the label counts and the per-label '
    'sums of confidence and compound (NULL where rows folded before '
    'migration 0012 are part of it).  p_shadow as app.rollup_parts: '
    'served rows only unless asked.';

-- The figures per timeseries bucket (one window without p_bucket), as
-- app.rollup_aggregate gives them without p_by_model but without the
-- merged histogram: what /metrics/aggregated, /metrics/timeseries, the
-- analyzer and the model comparison read.  P95 is found, not merged: it
-- lies between the smallest and the largest P95 of the parts (of a union
-- of multisets, a quantile lies between the parts' own), so a binary
-- search over the histogram index in that range, each step a
-- width_bucket per part and all buckets at once, finds the index that
-- holds each of the two ranks percentile_cont interpolates.  The same
-- value as app.rollup_quantile over the merged histogram; the cost
-- follows the parts, not the distinct latencies in them.
DROP FUNCTION IF EXISTS app.rollup_summary(timestamptz, timestamptz,
    integer[], boolean);
CREATE OR REPLACE FUNCTION app.rollup_summary(
    p_start timestamptz, p_end timestamptz, p_ids integer[] DEFAULT NULL,
    p_shadow boolean DEFAULT false, p_bucket interval DEFAULT NULL)
RETURNS TABLE (tb timestamptz, total_predictions bigint, conf_sum numeric,
               average_confidence double precision,
               average_inference_time_ms double precision,
               min_inference_time_ms double precision,
               max_inference_time_ms double precision,
               p95_inference_time_ms double precision,
               positive bigint, negative bigint, neutral bigint,
               positive_conf_sum numeric, negative_conf_sum numeric,
               neutral_conf_sum numeric, positive_compound_sum numeric,
               negative_compound_sum numeric, neutral_compound_sum numeric)
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
SET jit = off
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
DECLARE
    -- Per bucket g (1..G, in tb order): its sums, the ranks sought and
    -- the search state; per histogram: its bucket.
    v_s     rollup_sums[];
    v_h     rollup_hist[];
    v_hg    integer[];
    v_rv    double precision[];	-- raw latencies, their counts, buckets
    v_rn    bigint[];
    v_rg    integer[];
    v_pos   double precision[];
    v_k     bigint[];
    v_lo    integer[];
    v_hi    integer[];
    v_top   integer[];
    v_upto  bigint[];
    v_below bigint[];
    v_val   double precision[];
    v_val1  double precision[];
BEGIN
    -- The parts once: per bucket the sums; the rollups' histograms and
    -- the raw rows' (one per bucket, on the same index); the raw values.
    WITH p AS MATERIALIZED (
        SELECT * FROM rollup_parts(p_start, p_end, p_ids, p_bucket, p_shadow)
    ), s AS (
        SELECT p.tb, row_number() OVER (ORDER BY p.tb)::integer AS g,
               sum(p.n)::bigint AS n, sum(p.conf_sum) AS cs,
               sum(p.time_sum) AS ts, min(p.time_min) AS tmin,
               max(p.time_max) AS tmax, sum(p.positive)::bigint AS pos,
               sum(p.negative)::bigint AS neg, sum(p.neutral)::bigint AS neu,
               -- Unknown (NULL) if unknown in any part.
               count(*) = count(p.positive_conf) AS known,
               sum(p.positive_conf) AS pcs, sum(p.negative_conf) AS ncs,
               sum(p.neutral_conf) AS ucs, sum(p.positive_compound) AS pco,
               sum(p.negative_compound) AS nco, sum(p.neutral_compound) AS uco
          FROM p GROUP BY p.tb HAVING sum(p.n) > 0
    ), r AS (
        SELECT s.g, p.v, p.n FROM p JOIN s ON s.tb = p.tb
         WHERE p.v IS NOT NULL
    ), hs AS (
        SELECT s.g, ROW(p.hidx, p.hcum)::rollup_hist AS h
          FROM p JOIN s ON s.tb = p.tb WHERE p.hidx IS NOT NULL
        UNION ALL
        SELECT x.g, ROW(array_agg(x.i ORDER BY x.i),
                        array_agg(x.c ORDER BY x.i))::rollup_hist
          FROM (SELECT r.g, rollup_hist_index(round(r.v * 1000)::bigint)
                           AS i,
                       sum(sum(r.n)) OVER (PARTITION BY r.g ORDER BY
                           rollup_hist_index(round(r.v * 1000)::bigint))
                           ::bigint AS c
                  FROM r GROUP BY r.g, 2) x
         GROUP BY x.g
    )
    SELECT (SELECT array_agg(ROW(s.tb, s.n, s.cs, s.ts, s.tmin, s.tmax,
                    s.pos, s.neg, s.neu, s.known, s.pcs, s.ncs, s.ucs,
                    s.pco, s.nco, s.uco)::rollup_sums ORDER BY s.g) FROM s),
           (SELECT array_agg(hs.h) FROM hs), (SELECT array_agg(hs.g) FROM hs),
           (SELECT array_agg(r.v) FROM r), (SELECT array_agg(r.n) FROM r),
           (SELECT array_agg(r.g) FROM r)
      INTO v_s, v_h, v_hg, v_rv, v_rn, v_rg;
    IF v_s IS NULL THEN
        RETURN;
    END IF;

    -- percentile_cont's own arithmetic (float8), as rollup_quantile's:
    -- the values at ranks floor and ceil of pos, interpolated.  The
    -- parts' own P95 indexes bound each bucket's (a quantile of a union
    -- lies between its parts'); a rank wider on each side, so the bounds
    -- hold whatever the rounding.
    v_pos := ARRAY(SELECT 0.95::float8 * (s.n - 1)
                     FROM unnest(v_s) WITH ORDINALITY AS s ORDER BY s.ordinality);
    SELECT array_agg(b.lo ORDER BY b.g), array_agg(b.hi ORDER BY b.g)
      INTO v_lo, v_top
      FROM (SELECT x.g,
                   min(x.idx[width_bucket(greatest(floor(0.95::float8
                       * (x.n - 1)) - 1, 0)::bigint, x.cum) + 1]) AS lo,
                   max(x.idx[width_bucket(least(ceil(0.95::float8
                       * (x.n - 1)) + 1, x.n - 1)::bigint, x.cum) + 1]) AS hi
              FROM (SELECT u.g, u.idx, u.cum,
                           u.cum[cardinality(u.cum)] AS n
                      FROM unnest(v_h, v_hg) AS u(idx, cum, g)) x
             GROUP BY x.g) b;

    FOR v_j IN 1 .. 2 LOOP
        IF v_j = 1 THEN
            v_k := ARRAY(SELECT floor(x)::bigint FROM unnest(v_pos)
                           WITH ORDINALITY AS u(x, o) ORDER BY o);
            v_hi := v_top;
        ELSE
            -- The second rank: in the first one's bucket, or above it.
            v_k := ARRAY(SELECT ceil(x)::bigint FROM unnest(v_pos)
                           WITH ORDINALITY AS u(x, o) ORDER BY o);
            SELECT array_agg(CASE WHEN u.upto > u.k THEN u.lo ELSE u.lo + 1
                             END ORDER BY u.o),
                   array_agg(CASE WHEN u.upto > u.k THEN u.lo ELSE u.top
                             END ORDER BY u.o)
              INTO v_lo, v_hi
              FROM unnest(v_lo, v_top, v_upto, v_k) WITH ORDINALITY
                   AS u(lo, top, upto, k, o);
        END IF;
        -- Per bucket, the first index at or below which more than k lie:
        -- a binary search, all buckets a step at a time.
        LOOP
            EXIT WHEN NOT EXISTS (SELECT FROM unnest(v_lo, v_hi) AS u(lo, hi)
                                   WHERE u.lo < u.hi);
            WITH st AS (
                SELECT u.o::integer AS g, u.lo, u.hi, u.k,
                       u.lo + (u.hi - u.lo) / 2 AS mid
                  FROM unnest(v_lo, v_hi, v_k) WITH ORDINALITY
                       AS u(lo, hi, k, o)
            ), c AS (
                SELECT st.g, sum(h.cum[w.w]) AS c
                  FROM st
                  JOIN unnest(v_h, v_hg) AS h(idx, cum, g) ON h.g = st.g
                 CROSS JOIN LATERAL (SELECT width_bucket(st.mid, h.idx)
                                     AS w) w
                 WHERE st.lo < st.hi AND w.w > 0
                 GROUP BY st.g
            )
            SELECT array_agg(CASE WHEN st.lo >= st.hi THEN st.lo
                                  WHEN coalesce(c.c, 0) > st.k THEN st.lo
                                  ELSE st.mid + 1 END ORDER BY st.g),
                   array_agg(CASE WHEN st.lo >= st.hi THEN st.hi
                                  WHEN coalesce(c.c, 0) > st.k THEN st.mid
                                  ELSE st.hi END ORDER BY st.g)
              INTO v_lo, v_hi
              FROM st LEFT JOIN c ON c.g = st.g;
        END LOOP;
        -- Counts at or below that index and below it, then inside its
        -- bucket, in order, the raw rows' own values and the rollups'
        -- count at the bucket's value, as a merge would have them.
        SELECT array_agg(coalesce(c.upto, 0) ORDER BY st.g),
               array_agg(coalesce(c.below, 0) ORDER BY st.g)
          INTO v_upto, v_below
          FROM (SELECT u.o::integer AS g, u.lo
                  FROM unnest(v_lo) WITH ORDINALITY AS u(lo, o)) st
          LEFT JOIN (SELECT st.g,
                            sum(h.cum[w.at]) FILTER (WHERE w.at > 0) AS upto,
                            sum(h.cum[w.below]) FILTER (WHERE w.below > 0)
                                AS below
                       FROM (SELECT u.o::integer AS g, u.lo
                               FROM unnest(v_lo) WITH ORDINALITY AS u(lo, o)) st
                       JOIN unnest(v_h, v_hg) AS h(idx, cum, g) ON h.g = st.g
                      CROSS JOIN LATERAL (SELECT
                            width_bucket(st.lo, h.idx) AS at,
                            width_bucket(st.lo - 1, h.idx) AS below) w
                      GROUP BY st.g) c ON c.g = st.g;
        v_val := ARRAY(
            WITH st AS (
                SELECT u.o::integer AS g, u.lo, u.k, u.upto, u.below
                  FROM unnest(v_lo, v_k, v_upto, v_below) WITH ORDINALITY
                       AS u(lo, k, upto, below, o)
            ), rw AS (	-- the raw rows in each bucket's found index
                SELECT st.g, x.v, x.n
                  FROM unnest(v_rv, v_rn, v_rg) AS x(v, n, g)
                  JOIN st ON st.g = x.g
                 WHERE rollup_hist_index(round(x.v * 1000)::bigint) = st.lo
            ), m AS (
                SELECT rw.g, rw.v, rw.n FROM rw
                UNION ALL
                SELECT st.g, rollup_hist_value(st.lo),
                       st.upto - st.below - coalesce((SELECT sum(rw.n)
                           FROM rw WHERE rw.g = st.g), 0)
                  FROM st
            )
            SELECT (SELECT z.v
                      FROM (SELECT m.v, sum(m.n) OVER (ORDER BY m.v) AS cum
                              FROM m WHERE m.g = st.g AND m.n > 0) z
                     WHERE z.cum > st.k - st.below
                     ORDER BY z.v LIMIT 1)
              FROM st ORDER BY st.g);
        IF v_j = 1 THEN
            v_val1 := v_val;
        END IF;
    END LOOP;

    RETURN QUERY
        SELECT s.tb, s.n, s.cs, (s.cs / s.n)::float8, (s.ts / s.n)::float8,
               s.tmin, s.tmax,
               -- Clamped as rollup_aggregate's.
               least(greatest(s.a + (s.b - s.a) * (s.x - floor(s.x)),
                              s.tmin), s.tmax),
               s.pos, s.neg, s.neu,
               CASE WHEN s.known THEN s.pcs END,
               CASE WHEN s.known THEN s.ncs END,
               CASE WHEN s.known THEN s.ucs END,
               CASE WHEN s.known THEN s.pco END,
               CASE WHEN s.known THEN s.nco END,
               CASE WHEN s.known THEN s.uco END
          FROM unnest(v_s, v_val1, v_val, v_pos)
               AS s(tb, n, cs, ts, tmin, tmax, pos, neg, neu, known, pcs,
                    ncs, ucs, pco, nco, uco, a, b, x);
END;
$$;

COMMENT ON FUNCTION app.rollup_summary(timestamptz, timestamptz, integer[],
    boolean, interval) IS
    'The figures of the predictions in [p_start, p_end) (p_ids, p_shadow, '
    'p_bucket as app.rollup_parts), per timeseries bucket tb (p_start '
    'without p_bucket), as app.rollup_aggregate gives them but without '
    'the merged histogram: P95 found by a binary search over the parts'' '
    'cumulative histograms, equal to the merged percentile_cont.  No row '
    'where nothing matches.';

-- The first and the last prediction of a model version, to the finest
-- level that still holds them: exact while its raw rows are kept.
CREATE OR REPLACE FUNCTION app.rollup_first(p_id integer)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_lo timestamptz := '-infinity';
    v_hi timestamptz := 'infinity';
    v_t  timestamptz;
    v_l  record;
BEGIN
    -- Coarse to fine: the oldest rows live longest in the coarse levels.
    FOR v_l IN SELECT * FROM rollup_levels() ORDER BY lvl DESC LOOP
        EXECUTE format('SELECT min(bucket) FROM %s WHERE model_version_id '
            '= $1 AND bucket >= $2 AND bucket < $3', v_l.tbl)
            INTO v_t USING p_id, v_lo, v_hi;
        IF v_t IS NOT NULL THEN
            v_lo := v_t;
            v_hi := v_t + v_l.width;
        END IF;
    END LOOP;
    RETURN coalesce((SELECT min(p.created_at) FROM prediction_metrics p
                      WHERE p.model_version_id = p_id
                        AND p.created_at >= v_lo AND p.created_at < v_hi),
                    nullif(v_lo, '-infinity'));
END;
$$;

CREATE OR REPLACE FUNCTION app.rollup_last(p_id integer)
RETURNS timestamptz
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_w  timestamptz := (SELECT s.watermark FROM rollup_state s);
    v_t  timestamptz;
    v_l  record;
BEGIN
    -- Raw rows above the watermark are the newest; else the finest
    -- level holding the version has its last bucket.
    v_t := (SELECT max(p.created_at) FROM prediction_metrics p
             WHERE p.model_version_id = p_id
               AND p.created_at >= coalesce(v_w, '-infinity'));
    IF v_t IS NOT NULL OR v_w IS NULL THEN
        RETURN v_t;
    END IF;
    FOR v_l IN SELECT * FROM rollup_levels() ORDER BY lvl LOOP
        EXECUTE format('SELECT max(bucket) FROM %s WHERE model_version_id '
            '= $1', v_l.tbl) INTO v_t USING p_id;
        IF v_t IS NOT NULL THEN
            RETURN coalesce((SELECT max(p.created_at)
                               FROM prediction_metrics p
                              WHERE p.model_version_id = p_id
                                AND p.created_at >= v_t
                                AND p.created_at < v_t + v_l.width), v_t);
        END IF;
    END LOOP;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION app.rollup_first(integer) IS
    'created_at of the first prediction of model version p_id: exact '
    'while its raw row is kept, else the start of the finest rollup '
    'bucket that still holds it; NULL without predictions.';
COMMENT ON FUNCTION app.rollup_last(integer) IS
    'created_at of the latest prediction of model version p_id, as '
    'app.rollup_first: exact while its raw row is kept.';

-- ------------------------------------------------------------- upgrade

-- Once, after migration 0012: builds its new coarse levels (10 s from the
-- 1 s rows, 10 min from the minutes) below the watermark, and refolds
-- every range whose raw rows are kept (shadow rows apart, per-label
-- sums): the watermark goes back to the oldest raw row, and the
-- rollup_catch_up that follows folds from there, rebuilding each level.
-- Ranges whose raw rows were dropped keep their rows, shadow rows
-- counted as served and the per-label sums unknown (docs/rollups.md).
CREATE OR REPLACE FUNCTION app.rollup_upgrade()
RETURNS void
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_w   timestamptz;
    v_lo  timestamptz;
    v_raw timestamptz;
    v_l   record;
BEGIN
    PERFORM pg_advisory_xact_lock(7310442160);
    IF NOT (SELECT s.upgrade_pending FROM rollup_state s) THEN
        RETURN;
    END IF;
    SELECT s.watermark INTO v_w FROM rollup_state s;
    IF v_w IS NOT NULL THEN
        -- Each new level (3: 10 s, 5: 10 min) from the level below it,
        -- in partitions as wide as its policy says.
        FOR v_l IN SELECT l.lvl, l.tbl, l.width, f.tbl AS src, pp.width AS pw
                     FROM rollup_levels() l
                     JOIN rollup_levels() f ON f.lvl = l.lvl - 1
                     JOIN partition_policy pp ON pp.parent = l.tbl
                    WHERE l.lvl IN (3, 5) ORDER BY l.lvl LOOP
            EXECUTE format('SELECT min(bucket) FROM %s', v_l.src) INTO v_lo;
            CONTINUE WHEN v_lo IS NULL;
            PERFORM partition_ensure(v_l.tbl, rollup_floor(v_lo, v_l.pw), v_w);
            PERFORM rollup_build(v_l.lvl, rollup_floor(v_lo, v_l.width),
                                 rollup_floor(v_w, v_l.width));
        END LOOP;
        v_raw := (SELECT min(p.created_at) FROM prediction_metrics p);
        IF v_raw IS NOT NULL AND v_raw < v_w THEN
            UPDATE rollup_state SET watermark = NULL;
        END IF;
    END IF;
    UPDATE rollup_state SET upgrade_pending = false;
END;
$$;

COMMENT ON FUNCTION app.rollup_upgrade() IS
    'Run by every migrate; does its work once, after migration 0012: the '
    'new 10 s and 10 min levels below the watermark, then a refold of the '
    'kept raw rows.';

-- The end of every migrate folds the raw rows already there (an upgraded
-- database answers from rollups at once).  An empty database stays
-- unfolded until its first row.
SELECT app.rollup_partial_setup();
SELECT app.rollup_upgrade();
SELECT app.rollup_catch_up();
