-- 20_rate_limits.sql: the rate-limit decision, shared by all workers and
-- instances because the state lives in app.rate_limits.
-- Re-applied after every migrate (CREATE OR REPLACE).

-- Admits up to p_requests requests of p_client in p_scope, so that at
-- most p_limit requests are admitted in any p_window_s-second interval.
--
-- p_hold_ms > 0 is a lease: the caller may hand the admitted requests out
-- until p_now + p_hold_ms, so they are filed at that time, the latest at
-- which one can be used.  A check counts every filed hit later than
-- now - window, future ones included; so for any window of use, the last
-- lease taken in it saw all the others, and the limit still holds.
DROP FUNCTION IF EXISTS app.rate_limit_take(text, inet, integer, integer,
    integer, timestamptz);
CREATE OR REPLACE FUNCTION app.rate_limit_take(
    p_scope text, p_client inet, p_requests integer, p_limit integer,
    p_window_s integer DEFAULT 60, p_now timestamptz DEFAULT now(),
    p_hold_ms integer DEFAULT 0,
    OUT admitted integer, OUT used_before integer,
    OUT remaining integer, OUT reset_s integer)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_window  interval := make_interval(secs => p_window_s);
    v_hits    timestamptz[];
    v_counts  integer[];
    v_first   integer := 1;
    v_n       integer;
    v_expires timestamptz;
    v_file    timestamptz;
BEGIN
    IF p_requests < 0 OR p_limit < 1 OR p_window_s < 1 OR p_hold_ms < 0
       OR p_hold_ms / 1000.0 > p_window_s THEN
        RAISE EXCEPTION 'rate_limit_take: bad arguments (requests %, '
            'limit %, window %, hold %)', p_requests, p_limit, p_window_s,
            p_hold_ms USING ERRCODE = '22023';
    END IF;
    v_file := p_now + make_interval(secs => p_hold_ms / 1000.0);

    -- The row lock serialises every decision for this client, across
    -- sessions; callers that lock several clients lock them in order.
    SELECT r.hits, r.counts, r.expires_at INTO v_hits, v_counts, v_expires
      FROM rate_limits r
     WHERE r.scope = p_scope AND r.client = p_client
       FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO rate_limits (scope, client, expires_at)
        VALUES (p_scope, p_client, p_now)
        ON CONFLICT (scope, client) DO NOTHING;
        SELECT r.hits, r.counts, r.expires_at
          INTO v_hits, v_counts, v_expires
          FROM rate_limits r
         WHERE r.scope = p_scope AND r.client = p_client
           FOR UPDATE;
    END IF;

    -- Forget what left the window: a hit at h counts while h > now - w.
    v_n := cardinality(v_hits);
    WHILE v_first <= v_n AND v_hits[v_first] <= p_now - v_window LOOP
        v_first := v_first + 1;
    END LOOP;
    v_hits := v_hits[v_first:v_n];
    v_counts := v_counts[v_first:v_n];

    SELECT coalesce(sum(c), 0)::integer INTO used_before
      FROM unnest(v_counts) AS c;
    admitted := greatest(0, least(p_requests, p_limit - used_before));

    IF admitted > 0 THEN
        v_n := cardinality(v_hits);
        -- now() is the transaction's start, so a session that waited for
        -- the lock can be "earlier" than the last hit (and a lease files
        -- ahead): file it under the last hit, which only ever makes the
        -- limit stricter.
        IF v_n > 0 AND v_hits[v_n] >= v_file THEN
            v_counts[v_n] := v_counts[v_n] + admitted;
        ELSE
            v_hits := v_hits || v_file;
            v_counts := v_counts || admitted;
        END IF;
        -- Bound the state: past 64 entries the two oldest merge under
        -- the newer one's time.  That only delays re-admission, so the
        -- limit still holds; below 64 entries (every limit <= 64) the
        -- log is exact.
        WHILE cardinality(v_hits) > 64 LOOP
            v_counts[2] := v_counts[1] + v_counts[2];
            v_hits := v_hits[2:cardinality(v_hits)];
            v_counts := v_counts[2:cardinality(v_counts)];
        END LOOP;
    END IF;

    remaining := p_limit - used_before - admitted;
    IF cardinality(v_hits) = 0 THEN
        reset_s := 0;
    ELSE
        reset_s := greatest(1, ceil(extract(epoch FROM
            v_hits[1] + v_window - p_now)))::integer;
    END IF;

    -- expires_at (indexed, for pruning) only moves when it must, and
    -- then 30 s further than needed: most updates leave every indexed
    -- column alone and stay heap-only (HOT), cheap on a busy client.
    IF v_expires < coalesce(v_hits[cardinality(v_hits)], p_now) + v_window
    THEN
        v_expires := coalesce(v_hits[cardinality(v_hits)], p_now)
            + v_window + interval '30 s';
    END IF;
    UPDATE rate_limits
       SET hits = v_hits, counts = v_counts, expires_at = v_expires
     WHERE scope = p_scope AND client = p_client;
END;
$$;

COMMENT ON FUNCTION app.rate_limit_take(text, inet, integer, integer,
    integer, timestamptz, integer) IS
    'Rolling-window limiter: admits at most p_limit requests of a client '
    'in any p_window_s-second interval.  Returns how many of p_requests '
    'were admitted, how many were already counted, the slots left, and '
    'the seconds until the oldest counted request leaves the window '
    '(0 when nothing is counted).  Exact for limits up to 64; above that '
    'the log is coalesced and re-admission can come later, never sooner.  '
    'p_hold_ms > 0 files the admitted requests that far ahead (a lease the '
    'caller hands out until then).';

-- Deletes rows whose window has passed, at most p_max per call.
CREATE OR REPLACE FUNCTION app.rate_limit_prune(
    p_max integer DEFAULT 10000, p_now timestamptz DEFAULT now())
RETURNS integer
LANGUAGE sql
SET search_path = app, pg_catalog
AS $$
    WITH gone AS (
        DELETE FROM rate_limits
         WHERE ctid = ANY (ARRAY(
               SELECT ctid FROM rate_limits
                WHERE expires_at <= p_now
                LIMIT p_max
                  FOR UPDATE SKIP LOCKED))
        RETURNING 1)
    SELECT count(*)::integer FROM gone;
$$;

COMMENT ON FUNCTION app.rate_limit_prune(integer, timestamptz) IS
    'Deletes up to p_max rate-limit rows that no longer hold a counted '
    'request; returns how many.  Every server calls it every few seconds, '
    'so the table holds only clients seen within the last window.';
