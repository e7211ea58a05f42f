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
CREATE OR REPLACE FUNCTION app.predict_admit(
    p_clients inet[], p_limit integer, p_window_s integer DEFAULT 60,
    p_now timestamptz DEFAULT now())
RETURNS TABLE (ord integer, admitted boolean, remaining integer,
               reset_s integer)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_n         integer := coalesce(cardinality(p_clients), 0);
    v_admit     boolean[];
    v_remaining integer[];
    v_reset     integer[];
    v_client    record;
    v_take      record;
    j           integer;
BEGIN
    IF v_n = 0 THEN
        RETURN;
    END IF;
    v_admit := array_fill(false, ARRAY[v_n]);
    v_remaining := array_fill(0, ARRAY[v_n]);
    v_reset := array_fill(0, ARRAY[v_n]);

    -- One decision per distinct client, in address order so that two
    -- batches never wait for each other's locks in a cycle.  Within a
    -- client, earlier requests are admitted first.
    FOR v_client IN
        SELECT u.client, array_agg(u.i ORDER BY u.i) AS idx
          FROM unnest(p_clients) WITH ORDINALITY AS u(client, i)
         GROUP BY u.client
         ORDER BY u.client
    LOOP
        SELECT * INTO v_take FROM rate_limit_take('predict',
            v_client.client, cardinality(v_client.idx), p_limit,
            p_window_s, p_now);
        FOR j IN 1 .. cardinality(v_client.idx) LOOP
            v_reset[v_client.idx[j]] := v_take.reset_s;
            IF j <= v_take.admitted THEN
                v_admit[v_client.idx[j]] := true;
                v_remaining[v_client.idx[j]] :=
                    p_limit - v_take.used_before - j;
            END IF;
        END LOOP;
    END LOOP;

    RETURN QUERY
        SELECT i::integer, v_admit[i], v_remaining[i], v_reset[i]
          FROM generate_series(1, v_n) AS i;
END;
$$;

COMMENT ON FUNCTION app.predict_admit(inet[], integer, integer, timestamptz) IS
    'The predict rate limit (p_limit per p_window_s seconds per client) '
    'for a batch of requests, one element per request in arrival order.  '
    'Counts the admitted ones; returns, per request in input order: '
    'admitted, slots remaining, seconds until a slot frees.';

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
-- timestamp of the rows (ISO 8601 UTC).
CREATE OR REPLACE PROCEDURE app.record_predictions(
    p_ids uuid[], p_clients inet[], p_labels text[],
    p_confidence double precision[], p_inference_ms double precision[],
    p_input_length integer[], p_compound double precision[],
    p_pos double precision[], p_neu double precision[],
    p_neg double precision[], p_model_name text, p_model_version text,
    p_limit integer,
    INOUT admitted boolean[] DEFAULT NULL,
    INOUT remaining integer[] DEFAULT NULL,
    INOUT reset_s integer[] DEFAULT NULL,
    INOUT created_at text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_rows integer;
BEGIN
    SET LOCAL synchronous_commit = off;
    SELECT array_agg(a.admitted ORDER BY a.ord),
           array_agg(a.remaining ORDER BY a.ord),
           array_agg(a.reset_s ORDER BY a.ord)
      INTO admitted, remaining, reset_s
      FROM app.predict_admit(p_clients, p_limit) AS a;
    COMMIT;

    v_rows := app.insert_predictions(p_ids, p_clients, p_labels,
        p_confidence, p_inference_ms, p_input_length, p_compound, p_pos,
        p_neu, p_neg, admitted, p_model_name, p_model_version);
    created_at := to_char(now() AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END;
$$;

COMMENT ON PROCEDURE app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, boolean[], integer[], integer[], text) IS
    'The write of one group commit of POST /predict: the rate-limit '
    'decision (committed asynchronously: its row locks are released '
    'without waiting for the disk), then the admitted rows (committed '
    'durably).  Rejected requests write no row.  Returns per-request '
    'arrays (admitted, remaining, reset_s) and the rows'' timestamp.';
