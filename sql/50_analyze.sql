-- 50_analyze.sql: what POST /analyze/performance asks of the database:
-- its inputs (two windows of metrics and the thresholds), the Gemini
-- report cache, single flight across every worker and instance, and the
-- deployment-wide limit on upstream calls.
-- Re-applied after every migrate (CREATE OR REPLACE).
--
-- Every function touching one cache key first takes a transaction-level
-- advisory lock on it (class GEMINI_LOCK_CLASS below), so a claim, a put
-- and a release of the same key never interleave.  Each is one short
-- statement: no connection is held while Gemini is being asked.

-- The advisory lock of one cache key: class 0x67656d ("gem"), hashed key.
CREATE OR REPLACE FUNCTION app.gemini_lock(p_key text)
RETURNS void
LANGUAGE sql
SET search_path = app, pg_catalog
AS $$
    SELECT pg_advisory_xact_lock(6776173, hashtext(p_key));
$$;

COMMENT ON FUNCTION app.gemini_lock(text) IS
    'Takes the transaction-level advisory lock that serialises every '
    'cache, lease and claim operation on one cache key.';

-- ------------------------------------------------------------------ inputs

-- The statistics of the current window [now - w, now) and the previous
-- one [now - 2w, now - w), the thresholds that apply, and the status the
-- thresholds give, as one JSON document.  Uses the metrics functions of
-- sql/40_metrics.sql and sql/40_thresholds.sql.
CREATE OR REPLACE FUNCTION app.analyze_inputs(
    p_window_minutes integer, p_model_name text DEFAULT NULL,
    p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_w     interval := make_interval(mins => p_window_minutes);
    v_cur   jsonb;
    v_prev  jsonb;
    v_thr   jsonb;
    v_stat  text;
BEGIN
    IF p_window_minutes IS NULL OR p_window_minutes < 1 OR
       p_window_minutes > 1440 THEN
        RAISE EXCEPTION 'analyze_inputs: window of % minutes is not in '
            '1..1440', p_window_minutes USING ERRCODE = '22023';
    END IF;

    SELECT to_jsonb(m) INTO v_cur
      FROM metrics_window(p_now - v_w, p_now, p_model_name) AS m;
    SELECT to_jsonb(m) INTO v_prev
      FROM metrics_window(p_now - 2 * v_w, p_now - v_w, p_model_name) AS m;
    SELECT to_jsonb(t) INTO v_thr
      FROM thresholds_for(p_model_name) AS t;
    IF v_thr IS NULL THEN
        RAISE EXCEPTION 'analyze_inputs: no thresholds for model %',
            coalesce(p_model_name, 'default') USING ERRCODE = 'P0002';
    END IF;
    v_stat := metrics_status((v_cur ->> 'average_confidence')::float8,
        (v_cur ->> 'p95_inference_time_ms')::float8, p_model_name);

    RETURN jsonb_build_object(
        'window_minutes', p_window_minutes,
        'model_name', p_model_name,
        'status', v_stat,
        'current', v_cur || jsonb_build_object(
            'start', analyze_iso8601(p_now - v_w),
            'end', analyze_iso8601(p_now)),
        'previous', v_prev || jsonb_build_object(
            'start', analyze_iso8601(p_now - 2 * v_w),
            'end', analyze_iso8601(p_now - v_w)),
        'thresholds', v_thr - 'updated_at');
END;
$$;

COMMENT ON FUNCTION app.analyze_inputs(integer, text, timestamptz) IS
    'Inputs of one performance analysis as JSON: window_minutes, '
    'model_name, status (app.metrics_status of the current window), '
    'current and previous (app.metrics_window plus start/end, ISO 8601 '
    'UTC) and thresholds (app.thresholds_for the model, else default).';

CREATE OR REPLACE FUNCTION app.analyze_iso8601(p_t timestamptz)
RETURNS text
LANGUAGE sql
IMMUTABLE
SET search_path = app, pg_catalog
AS $$
    SELECT to_char(p_t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
$$;

COMMENT ON FUNCTION app.analyze_iso8601(timestamptz) IS
    'The time as ISO 8601 UTC with seconds, e.g. 2026-01-01T12:00:00Z.';

-- ------------------------------------------------------------------ cache

-- Deletes expired cache rows and leases, at most p_max of each.
CREATE OR REPLACE FUNCTION app.gemini_cache_purge(
    p_max integer DEFAULT 100, p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE sql
SET search_path = app, pg_catalog
AS $$
    WITH c AS (
        DELETE FROM gemini_cache
         WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM gemini_cache
                WHERE created_at + make_interval(secs => ttl_seconds)
                      <= p_now
                ORDER BY created_at
                LIMIT p_max
                  FOR UPDATE SKIP LOCKED))
        RETURNING 1),
    l AS (
        DELETE FROM gemini_leases
         WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM gemini_leases
                WHERE expires_at <= p_now
                LIMIT p_max
                  FOR UPDATE SKIP LOCKED))
        RETURNING 1)
    SELECT ((SELECT count(*) FROM c) + (SELECT count(*) FROM l))::integer;
$$;

COMMENT ON FUNCTION app.gemini_cache_purge(integer, timestamptz) IS
    'Deletes up to p_max expired reports and up to p_max expired leases; '
    'returns how many rows went.  Called by every claim, so the tables '
    'hold only what is alive.';

-- Decides what one analysis does about Gemini, for the canonical input
-- string p_inputs (the cache key is its md5):
--   hit      a fresh report is cached: report, age_s
--   claimed  p_owner now holds the lease and one upstream call was
--            counted against p_egress_limit: call Gemini, then
--            gemini_cache_put() or gemini_cache_release()
--   wait     another request holds the lease: poll again (detail: ms
--            left on its lease)
--   failed   the holder gave up a moment ago: fall back with its reason
--            (detail)
--   limited  the lease was free but the deployment made p_egress_limit
--            upstream calls in the last minute (detail: seconds until a
--            call frees); waiters see failed/egress_limited
-- p_egress_limit 0 means no upstream calls at all.
CREATE OR REPLACE FUNCTION app.gemini_cache_claim(
    p_inputs text, p_owner uuid, p_lease_ms integer, p_egress_limit integer,
    p_hold_ms integer DEFAULT 2000, p_now timestamptz DEFAULT now(),
    OUT outcome text, OUT cache_key text, OUT report jsonb,
    OUT age_s double precision, OUT detail text)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
#variable_conflict use_column
DECLARE
    v_key     text := md5(p_inputs);
    v_lease   record;
    v_claimed boolean;
    v_take    record;
BEGIN
    IF p_lease_ms < 1 OR p_hold_ms < 0 OR p_egress_limit < 0 THEN
        RAISE EXCEPTION 'gemini_cache_claim: bad arguments (lease %, '
            'hold %, limit %)', p_lease_ms, p_hold_ms, p_egress_limit
            USING ERRCODE = '22023';
    END IF;
    gemini_cache_claim.cache_key := v_key;
    PERFORM gemini_cache_purge(100, p_now);
    PERFORM gemini_lock(v_key);

    SELECT c.report, extract(epoch FROM p_now - c.created_at)::float8
      INTO gemini_cache_claim.report, gemini_cache_claim.age_s
      FROM gemini_cache c
     WHERE c.cache_key = v_key
       AND c.created_at + make_interval(secs => c.ttl_seconds) > p_now;
    IF FOUND THEN
        outcome := 'hit';
        RETURN;
    END IF;

    -- Free, expired, or ours already (a retried claim): take it.
    INSERT INTO gemini_leases AS l (cache_key, owner, expires_at,
        created_at)
    VALUES (v_key, p_owner,
        p_now + make_interval(secs => p_lease_ms / 1000.0), p_now)
    ON CONFLICT (cache_key) DO UPDATE
       SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at,
           failed_reason = NULL, created_at = EXCLUDED.created_at
     WHERE l.expires_at <= p_now OR l.owner = p_owner
    RETURNING true INTO v_claimed;

    IF v_claimed THEN
        SELECT * INTO v_take FROM gemini_egress_take(p_egress_limit, p_now);
        IF v_take.admitted THEN
            outcome := 'claimed';
        ELSE
            -- Tell identical requests now waiting, so they do not each
            -- try (and count) in turn.
            UPDATE gemini_leases
               SET failed_reason = 'egress_limited',
                   expires_at = p_now + make_interval(
                       secs => p_hold_ms / 1000.0)
             WHERE cache_key = v_key;
            outcome := 'limited';
            detail := v_take.reset_s::text;
        END IF;
        RETURN;
    END IF;

    SELECT l.failed_reason, l.expires_at INTO v_lease
      FROM gemini_leases l WHERE l.cache_key = v_key;
    IF v_lease.failed_reason IS NOT NULL THEN
        outcome := 'failed';
        detail := v_lease.failed_reason;
    ELSE
        outcome := 'wait';
        detail := greatest(0, ceil(extract(epoch FROM
            v_lease.expires_at - p_now) * 1000))::bigint::text;
    END IF;
END;
$$;

COMMENT ON FUNCTION app.gemini_cache_claim(text, uuid, integer, integer,
    integer, timestamptz) IS
    'Single flight for one analysis input: returns hit (with the cached '
    'report), claimed (call Gemini; one upstream call was counted), wait '
    '(another request is calling), failed (it gave up: detail is its '
    'reason) or limited (the deployment''s upstream limit is used up).';

-- Stores a validated report for p_inputs and ends p_owner's lease.
CREATE OR REPLACE FUNCTION app.gemini_cache_put(
    p_inputs text, p_owner uuid, p_report jsonb, p_ttl_s integer,
    p_prompt_version text, p_gemini_model text,
    p_now timestamptz DEFAULT now())
RETURNS text
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_key text := md5(p_inputs);
BEGIN
    PERFORM gemini_lock(v_key);
    INSERT INTO gemini_cache AS c (cache_key, report, prompt_version,
        gemini_model, created_at, ttl_seconds)
    VALUES (v_key, p_report, p_prompt_version, p_gemini_model, p_now,
        p_ttl_s)
    ON CONFLICT (cache_key) DO UPDATE
       SET report = EXCLUDED.report,
           prompt_version = EXCLUDED.prompt_version,
           gemini_model = EXCLUDED.gemini_model,
           created_at = EXCLUDED.created_at,
           ttl_seconds = EXCLUDED.ttl_seconds;
    DELETE FROM gemini_leases WHERE cache_key = v_key AND owner = p_owner;
    RETURN v_key;
END;
$$;

COMMENT ON FUNCTION app.gemini_cache_put(text, uuid, jsonb, integer, text,
    text, timestamptz) IS
    'Caches a validated Gemini report under md5(p_inputs) for p_ttl_s '
    'seconds and ends the lease of p_owner; returns the key.';

-- p_owner gave up (fallback): identical requests arriving within
-- p_hold_ms fall back with the same reason instead of calling Gemini.
CREATE OR REPLACE FUNCTION app.gemini_cache_release(
    p_inputs text, p_owner uuid, p_reason text, p_hold_ms integer,
    p_now timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_key text := md5(p_inputs);
BEGIN
    PERFORM gemini_lock(v_key);
    IF p_hold_ms <= 0 THEN
        DELETE FROM gemini_leases
         WHERE cache_key = v_key AND owner = p_owner;
    ELSE
        UPDATE gemini_leases
           SET failed_reason = p_reason,
               expires_at = p_now + make_interval(secs => p_hold_ms / 1000.0)
         WHERE cache_key = v_key AND owner = p_owner;
    END IF;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION app.gemini_cache_release(text, uuid, text, integer,
    timestamptz) IS
    'Ends p_owner''s lease after a failure: kept for p_hold_ms with '
    'failed_reason so identical requests share the outcome, or deleted '
    'when p_hold_ms <= 0.  Returns false when the lease was not ours.';

-- ------------------------------------------------------------ egress limit

-- Counts one upstream call against the deployment's limit (scope gemini,
-- client 0.0.0.0, 60 s rolling window).  p_limit 0 admits nothing.
CREATE OR REPLACE FUNCTION app.gemini_egress_take(
    p_limit integer, p_now timestamptz DEFAULT now(),
    OUT admitted boolean, OUT remaining integer, OUT reset_s integer)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_take record;
BEGIN
    IF p_limit < 1 THEN
        admitted := false;
        remaining := 0;
        reset_s := 60;
        RETURN;
    END IF;
    SELECT * INTO v_take
      FROM rate_limit_take('gemini', '0.0.0.0', 1, p_limit, 60, p_now);
    admitted := v_take.admitted > 0;
    remaining := v_take.remaining;
    reset_s := v_take.reset_s;
END;
$$;

COMMENT ON FUNCTION app.gemini_egress_take(integer, timestamptz) IS
    'Admits one upstream Gemini call if the whole deployment made fewer '
    'than p_limit in the last 60 s (GEMINI_RATE_LIMIT_PER_MINUTE; 0: '
    'none).  Every attempt counts, retries included; cache hits never '
    'call it.';
