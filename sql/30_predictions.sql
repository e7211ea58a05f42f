-- 30_predictions.sql: how rows of POST /predict are written.
-- Re-applied after every migrate (CREATE OR REPLACE).
--
-- One call per batch (the group commit of one worker), in two
-- transactions:
--   1. predict_admit(): the rate-limit decision for every request of the
--      batch.  It row-locks each client's log, so it commits with
--      synchronous_commit off: the locks are held for microseconds, not
--      for a WAL flush, and batches of one busy client don't queue
--      behind each other's disk writes.  After a crash the last few
--      milliseconds of counted requests may be forgotten (a short
--      leniency, never a lost prediction).
--   2. insert_predictions(): the admitted rows, committed durably.  The
--      server answers only after this commit.
-- A request whose batch fails after step 1 got a 503 and still counts
-- against its client's limit.

DROP FUNCTION IF EXISTS app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, integer);

-- Step 1: which requests of the batch are admitted.
--
-- p_want, one element per request (NULL: all 1), carries the worker's
-- leases (src/lease.c): 0 is a request the worker already admitted from
-- a lease it holds (not counted again here); n >= 1 is the request plus
-- n - 1 tokens the worker asks for as a new lease, good for p_hold_ms.
-- The tokens granted beyond a client's requests come back in "lease", on
-- that client's first request.
DROP FUNCTION IF EXISTS app.predict_admit(inet[], integer, integer,
    timestamptz);
CREATE OR REPLACE FUNCTION app.predict_admit(
    p_clients inet[], p_limit integer, p_window_s integer DEFAULT 60,
    p_now timestamptz DEFAULT now(), p_want integer[] DEFAULT NULL,
    p_hold_ms integer DEFAULT 0)
RETURNS TABLE (ord integer, admitted boolean, remaining integer,
               reset_s integer, lease integer)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_n         integer := coalesce(cardinality(p_clients), 0);
    v_admit     boolean[];
    v_remaining integer[];
    v_reset     integer[];
    v_lease     integer[];
    v_client    record;
    v_take      record;
    v_rows      integer;
    j           integer;
BEGIN
    IF v_n = 0 THEN
        RETURN;
    END IF;
    IF p_want IS NOT NULL AND (cardinality(p_want) <> v_n
       OR EXISTS (SELECT FROM unnest(p_want) AS w WHERE w IS NULL OR w < 0))
    THEN
        RAISE EXCEPTION 'predict_admit: p_want needs one element >= 0 per '
            'request' USING ERRCODE = '22023';
    END IF;
    -- Requests admitted from a lease (want 0) are in already.
    v_admit := array_fill(true, ARRAY[v_n]);
    v_remaining := array_fill(0, ARRAY[v_n]);
    v_reset := array_fill(0, ARRAY[v_n]);
    v_lease := array_fill(0, ARRAY[v_n]);

    -- One decision per distinct client, in address order so that two
    -- batches never wait for each other's locks in a cycle.  Within a
    -- client, earlier requests are admitted first, then the lease.
    FOR v_client IN
        SELECT u.client, array_agg(u.i ORDER BY u.i) AS idx,
               sum(u.want)::integer AS want
          FROM unnest(p_clients, coalesce(p_want, array_fill(1, ARRAY[v_n])))
               WITH ORDINALITY AS u(client, want, i)
         WHERE u.want > 0
         GROUP BY u.client
         ORDER BY u.client
    LOOP
        v_rows := cardinality(v_client.idx);
        SELECT * INTO v_take FROM rate_limit_take('predict',
            v_client.client, v_client.want, p_limit, p_window_s, p_now,
            CASE WHEN v_client.want > v_rows THEN p_hold_ms ELSE 0 END);
        v_lease[v_client.idx[1]] := greatest(0, v_take.admitted - v_rows);
        FOR j IN 1 .. v_rows LOOP
            v_reset[v_client.idx[j]] := v_take.reset_s;
            IF j <= v_take.admitted THEN
                v_remaining[v_client.idx[j]] :=
                    p_limit - v_take.used_before - j;
            ELSE
                v_admit[v_client.idx[j]] := false;
            END IF;
        END LOOP;
    END LOOP;

    RETURN QUERY
        SELECT i::integer, v_admit[i], v_remaining[i], v_reset[i], v_lease[i]
          FROM generate_series(1, v_n) AS i;
END;
$$;

COMMENT ON FUNCTION app.predict_admit(inet[], integer, integer, timestamptz,
    integer[], integer) IS
    'The predict rate limit (p_limit per p_window_s seconds per client) '
    'for a batch of requests, one element per request in arrival order.  '
    'Counts the admitted ones; returns, per request in input order: '
    'admitted, slots remaining, seconds until a slot frees, and the lease '
    'tokens granted (see p_want: requests already admitted from a lease '
    'are passed as 0 and come back admitted).';

-- Step 2: the admitted rows.  Arrays are parallel, one element per
-- request; rows whose p_admit element is false are skipped.
CREATE OR REPLACE FUNCTION app.insert_predictions(
    p_ids uuid[], p_clients inet[], p_labels text[],
    p_confidence double precision[], p_inference_ms double precision[],
    p_input_length integer[], p_compound double precision[],
    p_pos double precision[], p_neu double precision[],
    p_neg double precision[], p_admit boolean[], p_model_name text,
    p_model_version text)
RETURNS integer
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_rows  integer := 0;
    v_model integer;
BEGIN
    IF true = ANY (p_admit) THEN
        v_model := model_version_id(p_model_name, p_model_version);
        INSERT INTO prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip)
        SELECT u.id, v_model, u.label, u.confidence, u.inference_ms, u.input_length,
               u.compound, u.pos, u.neu, u.neg, u.client
          FROM unnest(p_ids, p_clients, p_labels, p_confidence,
                      p_inference_ms, p_input_length, p_compound, p_pos,
                      p_neu, p_neg, p_admit)
               AS u(id, client, label, confidence, inference_ms,
                    input_length, compound, pos, neu, neg, admit)
         WHERE u.admit;
        GET DIAGNOSTICS v_rows = ROW_COUNT;
    END IF;
    RETURN v_rows;
END;
$$;

COMMENT ON FUNCTION app.insert_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], boolean[],
    text, text) IS
    'Inserts the admitted rows of a batch (p_admit true) for model '
    '(p_model_name, p_model_version), registering the model on first use; '
    'returns how many rows it wrote.';

-- Both steps, as the server calls them: CALL at top level (not inside a
-- transaction block, because it commits).  The INOUT parameters carry the
-- outcome back as arrays in input order, and created_at is the recorded
-- timestamp of the rows (ISO 8601 UTC).  When every request of the batch
-- was admitted from a lease, step 1 and its commit are skipped.
DROP PROCEDURE IF EXISTS app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, boolean[], integer[], integer[], text);
-- Before the partial (p_part .. p_hcum).
DROP PROCEDURE IF EXISTS app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, integer[], integer, boolean[], integer[], integer[], integer[],
    text);
CREATE OR REPLACE PROCEDURE app.record_predictions(
    p_ids uuid[], p_clients inet[], p_labels text[],
    p_confidence double precision[], p_inference_ms double precision[],
    p_input_length integer[], p_compound double precision[],
    p_pos double precision[], p_neu double precision[],
    p_neg double precision[], p_model_name text, p_model_version text,
    p_limit integer, p_want integer[], p_hold_ms integer,
    p_part bigint[] DEFAULT NULL, p_hidx integer[] DEFAULT NULL,
    p_hcnt bigint[] DEFAULT NULL, p_hcum bigint[] DEFAULT NULL,
    INOUT admitted boolean[] DEFAULT NULL,
    INOUT remaining integer[] DEFAULT NULL,
    INOUT reset_s integer[] DEFAULT NULL,
    INOUT lease integer[] DEFAULT NULL,
    INOUT created_at text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_n    integer := coalesce(cardinality(p_ids), 0);
    v_rows integer;
BEGIN
    IF p_want IS NULL OR 0 < ANY (p_want) THEN
        SET LOCAL synchronous_commit = off;
        SELECT array_agg(a.admitted ORDER BY a.ord),
               array_agg(a.remaining ORDER BY a.ord),
               array_agg(a.reset_s ORDER BY a.ord),
               array_agg(a.lease ORDER BY a.ord)
          INTO admitted, remaining, reset_s, lease
          FROM app.predict_admit(p_clients, p_limit, 60, now(), p_want,
                                 p_hold_ms) AS a;
        COMMIT;
    ELSE
        admitted := array_fill(true, ARRAY[v_n]);
        remaining := array_fill(0, ARRAY[v_n]);
        reset_s := array_fill(0, ARRAY[v_n]);
        lease := array_fill(0, ARRAY[v_n]);
    END IF;

    -- The server's own sums of the rows, when every one is written.
    IF p_part IS NOT NULL AND NOT false = ANY (admitted) THEN
        PERFORM app.rollup_partial_put(
            app.model_version_id(p_model_name, p_model_version), false,
            p_part, p_hidx, p_hcnt, p_hcum);
    END IF;
    v_rows := app.insert_predictions(p_ids, p_clients, p_labels,
        p_confidence, p_inference_ms, p_input_length, p_compound, p_pos,
        p_neu, p_neg, admitted, p_model_name, p_model_version);
    PERFORM set_config('app.rollup_partial', '', true);
    created_at := to_char(now() AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END;
$$;

COMMENT ON PROCEDURE app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, integer[], integer, bigint[], integer[], bigint[], bigint[],
    boolean[], integer[], integer[], integer[], text) IS
    'The write of one group commit of POST /predict: the rate-limit '
    'decision (committed asynchronously: its row locks are released '
    'without waiting for the disk), then the admitted rows (committed '
    'durably).  Rejected requests write no row.  p_want / p_hold_ms carry '
    'the worker''s leases (see predict_admit); p_part .. p_hcum the '
    'rows'' partial rollup row as the server summed them (NULL: the '
    'trigger sums them; see app.rollup_partial_put).  Returns per-request '
    'arrays (admitted, remaining, reset_s, lease) and the rows'' timestamp.';
