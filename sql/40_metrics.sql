-- 40_metrics.sql: the analytics of /metrics/*: windows, time series and
-- the previous-window comparison.
-- Re-applied after every migrate (CREATE OR REPLACE); the thresholds and
-- the status rule are in sql/40_thresholds.sql, the tables in
-- migrations/0003_create_metric_thresholds.sql, the analyst views in
-- sql/41_metrics_views.sql.
--
-- All aggregation happens here; the server passes parameters and sends
-- the JSON documents the *_json functions build.  Windows are half-open,
-- [start, end), and every function that reads "now" takes p_now so tests
-- can pin the boundaries.  The aggregates are exact and read rollups
-- plus raw edges (sql/35_rollups.sql, docs/rollups.md).
--
-- Functions that scan many rows set jit = off (compiling costs more than
-- it saves on these plans: about 100 ms on a 1M-row window) and enough
-- work_mem for the P95 sort of a large window to stay in memory.  The
-- plpgsql ones force custom plans so the planner sees the real window and
-- picks the index for short windows and a sequential scan for huge ones.

-- ------------------------------------------------------------------ helpers

CREATE OR REPLACE FUNCTION app.metrics_iso8601(p_ts timestamptz)
RETURNS text
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = app, pg_catalog
AS $$
    SELECT to_char(p_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
$$;

COMMENT ON FUNCTION app.metrics_iso8601(timestamptz) IS
    'The timestamp as ISO 8601 UTC with microseconds '
    '(2026-11-26T15:04:05.123456Z), the format of every timestamp the '
    'server sends; NULL for NULL.';

-- The model filter shared by every aggregate: the ids of the model
-- versions matching name and/or version, or NULL for "every model".
CREATE OR REPLACE FUNCTION app.metrics_model_ids(
    p_model_name text DEFAULT NULL, p_model_version text DEFAULT NULL)
RETURNS integer[]
LANGUAGE sql
STABLE PARALLEL SAFE
SET search_path = app, pg_catalog
AS $$
    SELECT CASE WHEN p_model_name IS NULL AND p_model_version IS NULL
                THEN NULL
                ELSE ARRAY(SELECT v.id FROM model_versions v
                            WHERE (p_model_name IS NULL OR v.name = p_model_name)
                              AND (p_model_version IS NULL
                                   OR v.version = p_model_version))
           END;
$$;

COMMENT ON FUNCTION app.metrics_model_ids(text, text) IS
    'Ids of the model versions matching p_model_name and p_model_version '
    '(either may be NULL: any); NULL when both are NULL (no filter), an '
    'empty array when nothing matches.';

-- ------------------------------------------------------------------ windows

CREATE OR REPLACE FUNCTION app.metrics_window(
    p_start timestamptz, p_end timestamptz,
    p_model_name text DEFAULT NULL, p_model_version text DEFAULT NULL)
RETURNS TABLE (total_predictions bigint,
               average_confidence double precision,
               average_inference_time_ms double precision,
               min_inference_time_ms double precision,
               max_inference_time_ms double precision,
               p95_inference_time_ms double precision,
               positive bigint, negative bigint, neutral bigint)
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    -- Rollups for the whole buckets inside the window, raw rows for a
    -- fractional start and partials above the watermark
    -- (sql/35_rollups.sql): the cost follows the buckets, not the rows.
    SELECT coalesce(a.total_predictions, 0), a.average_confidence,
           a.average_inference_time_ms, a.min_inference_time_ms,
           a.max_inference_time_ms, a.p95_inference_time_ms,
           coalesce(a.positive, 0), coalesce(a.negative, 0),
           coalesce(a.neutral, 0)
      FROM (SELECT) AS one
      LEFT JOIN rollup_summary(p_start, p_end,
                    metrics_model_ids(p_model_name, p_model_version)) a
        ON true;
$$;

COMMENT ON FUNCTION app.metrics_window(timestamptz, timestamptz, text, text) IS
    'Aggregates of the predictions with created_at in [p_start, p_end), '
    'optionally of one model name and/or version: count, average '
    'confidence, average/min/max inference time, P95 inference time and '
    'the count per label, from app.rollup_summary (rollups for whole '
    'buckets, raw rows or partials for the edges).  Exact: '
    'sums are exact, P95 is percentile_cont(0.95) for latencies as the '
    'server stores them (whole microseconds) below 2.048 ms and within '
    '0.05 % above.  Always one row; averages, min, max and P95 are NULL '
    'when no row matches.';

CREATE OR REPLACE FUNCTION app.metrics_aggregated(
    p_window_minutes integer DEFAULT 60, p_model_name text DEFAULT NULL,
    p_model_version text DEFAULT NULL, p_now timestamptz DEFAULT now())
RETURNS json
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_start timestamptz;
    v_m     record;
    v_t     record;
BEGIN
    IF p_window_minutes IS NULL OR p_window_minutes < 1 THEN
        RAISE EXCEPTION 'time_window_minutes must be at least 1'
            USING ERRCODE = '22023', COLUMN = 'time_window_minutes';
    END IF;
    v_start := p_now - make_interval(mins => p_window_minutes);
    SELECT * INTO v_m FROM metrics_window(v_start, p_now, p_model_name,
                                          p_model_version);
    SELECT * INTO v_t FROM thresholds_for(p_model_name);

    RETURN json_build_object(
        'total_predictions', v_m.total_predictions,
        'average_confidence', v_m.average_confidence,
        'average_inference_time_ms', v_m.average_inference_time_ms,
        'min_inference_time_ms', v_m.min_inference_time_ms,
        'max_inference_time_ms', v_m.max_inference_time_ms,
        'p95_inference_time_ms', v_m.p95_inference_time_ms,
        'label_distribution', json_build_object(
            'positive', v_m.positive,
            'negative', v_m.negative,
            'neutral', v_m.neutral),
        'status', metrics_classify(v_m.average_confidence,
            v_m.p95_inference_time_ms, v_t.min_confidence_warning,
            v_t.min_confidence_critical, v_t.max_inference_time_warning_ms,
            v_t.max_inference_time_critical_ms),
        'time_window_minutes', p_window_minutes,
        'time_window_start', metrics_iso8601(v_start),
        'time_window_end', metrics_iso8601(p_now),
        'model_name', p_model_name,
        'model_version', p_model_version,
        'thresholds', json_build_object(
            'model_name', v_t.model_name,
            'min_confidence_warning', v_t.min_confidence_warning,
            'min_confidence_critical', v_t.min_confidence_critical,
            'max_inference_time_warning_ms',
                v_t.max_inference_time_warning_ms,
            'max_inference_time_critical_ms',
                v_t.max_inference_time_critical_ms,
            'updated_at', metrics_iso8601(v_t.updated_at)));
END;
$$;

COMMENT ON FUNCTION app.metrics_aggregated(integer, text, text, timestamptz) IS
    'The body of POST /metrics/aggregated: app.metrics_window over the '
    'last p_window_minutes before p_now, the label distribution (every '
    'label, zeros included), the status from app.metrics_status''s rule '
    'and the thresholds that produced it (the model''s, else default).';

CREATE OR REPLACE FUNCTION app.metrics_count(
    p_model_name text DEFAULT NULL, p_model_version text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
SET jit = off
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_ids integer[] := metrics_model_ids(p_model_name, p_model_version);
    v_w   timestamptz;
    v_s   timestamptz;	-- the partials stand for the raw rows from here
    v_b   timestamptz[];
BEGIN
    SELECT s.watermark, greatest(s.watermark, s.partial_from)
      INTO v_w, v_s FROM rollup_state s;
    IF v_w IS NULL THEN		-- nothing folded yet
        RETURN (SELECT count(*) FROM prediction_metrics p
                 WHERE p.shadow_of IS NULL
                   AND (v_ids IS NULL OR p.model_version_id = ANY (v_ids)));
    END IF;
    -- Level k (coarse to fine) holds [floor(W, level k-1), floor(W, k)):
    -- each level up to its own watermark, then the partials above W.
    SELECT array_agg(rollup_floor(v_w, l.width) ORDER BY l.lvl DESC)
      INTO v_b FROM rollup_levels() l;
    RETURN coalesce((SELECT sum(r.n) FROM rollup_1d r
                      WHERE r.bucket < v_b[1] AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_1h r
                      WHERE r.bucket >= v_b[1] AND r.bucket < v_b[2]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_10m r
                      WHERE r.bucket >= v_b[2] AND r.bucket < v_b[3]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_1m r
                      WHERE r.bucket >= v_b[3] AND r.bucket < v_b[4]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_10s r
                      WHERE r.bucket >= v_b[4] AND r.bucket < v_b[5]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_1s r
                      WHERE r.bucket >= v_b[5] AND r.bucket < v_b[6]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + coalesce((SELECT sum(r.n) FROM rollup_100ms r
                      WHERE r.bucket >= v_b[6] AND r.bucket < v_b[7]
                        AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0)
         + (SELECT count(*) FROM prediction_metrics p
             WHERE p.created_at >= v_w AND p.created_at < v_s
               AND p.shadow_of IS NULL
               AND (v_ids IS NULL OR p.model_version_id = ANY (v_ids)))
         + coalesce((SELECT sum(r.n) FROM rollup_partial r
                      WHERE r.bucket >= v_s AND NOT r.shadow
                        AND (v_ids IS NULL OR r.model_version_id = ANY (v_ids))), 0);
END;
$$;

COMMENT ON FUNCTION app.metrics_count(text, text) IS
    'Number of predictions ever answered (exact count; shadow rows are '
    'not counted), optionally of one model name and/or version: the daily '
    'rollups (kept for ever), the finer levels up to the watermark, then '
    'the partials (app.rollup_partial) above it.';

-- -------------------------------------------------------------- time series

-- The return type gained "partial": drop and re-create.
DROP FUNCTION IF EXISTS app.metrics_timeseries(integer, integer, text, text,
    timestamptz);
CREATE FUNCTION app.metrics_timeseries(
    p_window_minutes integer DEFAULT 60, p_bucket_minutes integer DEFAULT 1,
    p_model_name text DEFAULT NULL, p_model_version text DEFAULT NULL,
    p_now timestamptz DEFAULT now())
RETURNS TABLE (bucket integer, bucket_start timestamptz,
               bucket_end timestamptz, partial boolean,
               total_predictions bigint,
               average_confidence double precision,
               p95_inference_time_ms double precision,
               positive bigint, negative bigint, neutral bigint,
               total_change bigint,
               average_confidence_change double precision,
               p95_inference_time_change_ms double precision,
               moving_average_total double precision,
               moving_average_confidence double precision,
               average_inference_time_ms double precision)
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
SET jit = off
SET work_mem = '64MB'
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    v_bucket interval := make_interval(mins => p_bucket_minutes);
    v_start  timestamptz := p_now - make_interval(mins => p_window_minutes);
    v_first  timestamptz;
    v_n      integer;
    v_ids    integer[] := metrics_model_ids(p_model_name, p_model_version);
BEGIN
    IF p_window_minutes IS NULL OR p_window_minutes < 1 THEN
        RAISE EXCEPTION 'window_minutes must be at least 1'
            USING ERRCODE = '22023', COLUMN = 'window_minutes';
    END IF;
    IF p_bucket_minutes IS NULL OR p_bucket_minutes < 1 OR
       p_bucket_minutes > p_window_minutes THEN
        RAISE EXCEPTION 'bucket_minutes must be between 1 and window_minutes'
            USING ERRCODE = '22023', COLUMN = 'bucket_minutes';
    END IF;
    IF ceil(p_window_minutes::numeric / p_bucket_minutes) > 10000 THEN
        RAISE EXCEPTION 'at most 10000 buckets (window_minutes / '
            'bucket_minutes)' USING ERRCODE = '22023',
            COLUMN = 'bucket_minutes';
    END IF;

    -- Buckets align to UTC multiples of the bucket width since the epoch
    -- (as Prometheus and Grafana align steps): bucket i covers its
    -- aligned interval cut to the window, so the oldest and the newest
    -- may be partial (the newest is, unless p_now is on a boundary).
    v_first := date_bin(v_bucket, v_start, timestamptz '1970-01-01 00:00+00');
    v_n := ceil(extract(epoch FROM p_now - v_first) /
                extract(epoch FROM v_bucket))::integer;

    RETURN QUERY
    WITH b AS (
        SELECT g.i, v_first + (g.i - 1) * v_bucket AS tb,
               greatest(v_start, v_first + (g.i - 1) * v_bucket) AS bs,
               least(p_now, v_first + g.i * v_bucket) AS be
          FROM generate_series(1, v_n) AS g(i)
    ), a AS (
        SELECT * FROM rollup_summary(v_start, p_now, v_ids, false, v_bucket)
    ), j AS (
        SELECT b.i, b.bs, b.be, b.be - b.bs < v_bucket AS part,
               coalesce(a.total_predictions, 0) AS n, a.conf_sum,
               a.average_confidence AS conf, a.p95_inference_time_ms AS p95,
               a.average_inference_time_ms AS avg_ms,
               coalesce(a.positive, 0) AS pos, coalesce(a.negative, 0) AS neg,
               coalesce(a.neutral, 0) AS neu
          FROM b LEFT JOIN a ON a.tb = b.tb
    )
    SELECT j.i, j.bs, j.be, j.part, j.n, j.conf, j.p95, j.pos, j.neg, j.neu,
           j.n - lag(j.n) OVER w,
           j.conf - lag(j.conf) OVER w,
           j.p95 - lag(j.p95) OVER w,
           (avg(j.n) OVER w3)::double precision,
           (sum(j.conf_sum) OVER w3 / nullif(sum(j.n) OVER w3, 0))::float8,
           j.avg_ms
      FROM j
    WINDOW w AS (ORDER BY j.i),
           w3 AS (ORDER BY j.i ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
     ORDER BY j.i;
END;
$$;

COMMENT ON FUNCTION app.metrics_timeseries(integer, integer, text, text,
    timestamptz) IS
    'One row per bucket of p_bucket_minutes over the last p_window_minutes '
    'before p_now, oldest first, empty buckets included (count 0, NULL '
    'averages).  Buckets align to UTC multiples of the bucket width since '
    '1970-01-01 and are cut to the window: bucket i covers [bucket_start, '
    'bucket_end), and partial says it is shorter than the width (the '
    'newest, still filling, unless p_now is on a boundary; the oldest '
    'when the window does not start on one).  Per bucket: count, average '
    'confidence, P95 and (last column) average inference time, exact as '
    'app.metrics_window, label '
    'counts; the change against the previous bucket (lag: count, average '
    'confidence, P95; NULL for the first bucket or when either side is '
    'empty); and moving averages over this and the two previous buckets '
    '(count, and confidence weighted by count).  At most 10000 buckets '
    'of the window''s length; bad arguments raise 22023 naming the field.';

CREATE OR REPLACE FUNCTION app.metrics_timeseries_json(
    p_window_minutes integer DEFAULT 60, p_bucket_minutes integer DEFAULT 1,
    p_model_name text DEFAULT NULL, p_model_version text DEFAULT NULL,
    p_now timestamptz DEFAULT now())
RETURNS json
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    SELECT json_build_object(
        'window_minutes', p_window_minutes,
        'bucket_minutes', p_bucket_minutes,
        'time_window_start', metrics_iso8601(p_now -
            make_interval(mins => p_window_minutes)),
        'time_window_end', metrics_iso8601(p_now),
        'model_name', p_model_name,
        'model_version', p_model_version,
        'buckets', coalesce(json_agg(json_build_object(
            'bucket_start', metrics_iso8601(s.bucket_start),
            'bucket_end', metrics_iso8601(s.bucket_end),
            'partial', s.partial,
            'total_predictions', s.total_predictions,
            'average_confidence', s.average_confidence,
            'average_inference_time_ms', s.average_inference_time_ms,
            'p95_inference_time_ms', s.p95_inference_time_ms,
            'label_distribution', json_build_object(
                'positive', s.positive, 'negative', s.negative,
                'neutral', s.neutral),
            'change', json_build_object(
                'total_predictions', s.total_change,
                'average_confidence', s.average_confidence_change,
                'p95_inference_time_ms', s.p95_inference_time_change_ms),
            'moving_average', json_build_object(
                'total_predictions', s.moving_average_total,
                'average_confidence', s.moving_average_confidence))
            ORDER BY s.bucket), '[]'::json))
      FROM metrics_timeseries(p_window_minutes, p_bucket_minutes,
               p_model_name, p_model_version, p_now) s;
$$;

COMMENT ON FUNCTION app.metrics_timeseries_json(integer, integer, text, text,
    timestamptz) IS
    'The body of GET /metrics/timeseries: app.metrics_timeseries as one '
    'JSON object with a "buckets" array, oldest first; each bucket says '
    'whether it is partial (shorter than bucket_minutes).';

-- --------------------------------------------------------------- comparison

CREATE OR REPLACE FUNCTION app.metrics_pct_change(
    p_current double precision, p_previous double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE PARALLEL SAFE
SET search_path = app, pg_catalog
AS $$
    SELECT CASE WHEN p_previous IS NULL OR p_previous = 0 THEN NULL
                ELSE 100 * (p_current - p_previous) / abs(p_previous) END;
$$;

COMMENT ON FUNCTION app.metrics_pct_change(double precision,
    double precision) IS
    'Change from p_previous to p_current in percent of |p_previous|; NULL '
    'when either is NULL or p_previous is 0.';

CREATE OR REPLACE FUNCTION app.metrics_compare(
    p_window_minutes integer DEFAULT 60, p_model_name text DEFAULT NULL,
    p_now timestamptz DEFAULT now(), p_model_version text DEFAULT NULL)
RETURNS TABLE (current_start timestamptz, current_end timestamptz,
               previous_start timestamptz, previous_end timestamptz,
               current_total bigint, previous_total bigint,
               total_change_pct double precision,
               current_average_confidence double precision,
               previous_average_confidence double precision,
               average_confidence_change_pct double precision,
               current_average_inference_time_ms double precision,
               previous_average_inference_time_ms double precision,
               average_inference_time_change_pct double precision,
               current_p95_inference_time_ms double precision,
               previous_p95_inference_time_ms double precision,
               p95_inference_time_change_pct double precision,
               current_positive bigint, current_negative bigint,
               current_neutral bigint, previous_positive bigint,
               previous_negative bigint, previous_neutral bigint)
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_w    interval;
    v_cur  record;
    v_prev record;
BEGIN
    IF p_window_minutes IS NULL OR p_window_minutes < 1 THEN
        RAISE EXCEPTION 'window_minutes must be at least 1'
            USING ERRCODE = '22023', COLUMN = 'window_minutes';
    END IF;
    v_w := make_interval(mins => p_window_minutes);
    SELECT * INTO v_cur FROM metrics_window(p_now - v_w, p_now,
        p_model_name, p_model_version);
    SELECT * INTO v_prev FROM metrics_window(p_now - 2 * v_w, p_now - v_w,
        p_model_name, p_model_version);

    current_start := p_now - v_w;
    current_end := p_now;
    previous_start := p_now - 2 * v_w;
    previous_end := p_now - v_w;
    current_total := v_cur.total_predictions;
    previous_total := v_prev.total_predictions;
    total_change_pct := metrics_pct_change(current_total, previous_total);
    current_average_confidence := v_cur.average_confidence;
    previous_average_confidence := v_prev.average_confidence;
    average_confidence_change_pct := metrics_pct_change(
        current_average_confidence, previous_average_confidence);
    current_average_inference_time_ms := v_cur.average_inference_time_ms;
    previous_average_inference_time_ms := v_prev.average_inference_time_ms;
    average_inference_time_change_pct := metrics_pct_change(
        current_average_inference_time_ms,
        previous_average_inference_time_ms);
    current_p95_inference_time_ms := v_cur.p95_inference_time_ms;
    previous_p95_inference_time_ms := v_prev.p95_inference_time_ms;
    p95_inference_time_change_pct := metrics_pct_change(
        current_p95_inference_time_ms, previous_p95_inference_time_ms);
    current_positive := v_cur.positive;
    current_negative := v_cur.negative;
    current_neutral := v_cur.neutral;
    previous_positive := v_prev.positive;
    previous_negative := v_prev.negative;
    previous_neutral := v_prev.neutral;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION app.metrics_compare(integer, text, timestamptz, text) IS
    'The analyzer''s previous-window comparison: app.metrics_window over '
    'the current window [p_now - w, p_now) and the previous one '
    '[p_now - 2w, p_now - w) (adjacent, not overlapping), with the change '
    'in percent of the previous value (NULL when the previous value is '
    'NULL or 0).  One row.';
