-- 31_prediction_batches.sql: how rows of POST /predict/batch are written.
-- Re-applied after every migrate (CREATE OR REPLACE).
--
-- One call per statement of the recorder (src/recorder.c), which carries
-- the texts of one or more batch requests, all for one model version.
-- Like app.record_predictions (30_predictions.sql), in two transactions:
--   1. the rate-limit decision, per request and all or nothing: a request
--      of n texts is admitted only if its client has n slots left, and
--      then counts n; committed with synchronous_commit off;
--   2. one INSERT of every row of the admitted requests, committed
--      durably.  The server answers only after it: a request's rows are
--      all committed or none is (a failing INSERT rolls back every row of
--      the statement, and every request in it gets 503).

-- Step 1: which requests are admitted.  p_clients has one element per
-- request (its client), p_sizes its number of texts.  Clients are
-- decided in address order (as predict_admit, so two statements never
-- wait for each other's locks in a cycle), each client's requests in
-- input order.
CREATE OR REPLACE FUNCTION app.predict_batch_admit(
    p_clients inet[], p_sizes integer[], p_limit integer,
    p_window_s integer DEFAULT 60, p_now timestamptz DEFAULT now())
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
    v_req       record;
    v_peek      record;
    v_take      record;
BEGIN
    IF v_n = 0 THEN
        RETURN;
    END IF;
    IF cardinality(p_sizes) IS DISTINCT FROM v_n
       OR EXISTS (SELECT FROM unnest(p_sizes) AS s WHERE s IS NULL OR s < 1)
    THEN
        RAISE EXCEPTION 'predict_batch_admit: p_sizes needs one element '
            '>= 1 per request' USING ERRCODE = '22023';
    END IF;
    v_admit := array_fill(false, ARRAY[v_n]);
    v_remaining := array_fill(0, ARRAY[v_n]);
    v_reset := array_fill(0, ARRAY[v_n]);

    FOR v_req IN
        SELECT u.client, u.size, u.i::integer AS i
          FROM unnest(p_clients, p_sizes) WITH ORDINALITY AS u(client, size, i)
         ORDER BY u.client, u.i
    LOOP
        -- Taking 0 locks the client's row and says what is used.
        SELECT * INTO v_peek FROM rate_limit_take('predict', v_req.client,
            0, p_limit, p_window_s, p_now);
        IF p_limit - v_peek.used_before >= v_req.size THEN
            SELECT * INTO v_take FROM rate_limit_take('predict',
                v_req.client, v_req.size, p_limit, p_window_s, p_now);
            v_admit[v_req.i] := true;
            v_remaining[v_req.i] := v_take.remaining;
            v_reset[v_req.i] := v_take.reset_s;
        ELSE
            v_remaining[v_req.i] := greatest(0, v_peek.remaining);
            v_reset[v_req.i] := greatest(1, v_peek.reset_s);
        END IF;
    END LOOP;

    RETURN QUERY
        SELECT i::integer, v_admit[i], v_remaining[i], v_reset[i]
          FROM generate_series(1, v_n) AS i;
END;
$$;

COMMENT ON FUNCTION app.predict_batch_admit(inet[], integer[], integer,
    integer, timestamptz) IS
    'The predict rate limit for batch requests, all or nothing: request i '
    '(client p_clients[i], p_sizes[i] texts) is admitted, and counts '
    'p_sizes[i], only when its client has that many slots left in the '
    'rolling window.  Returns per request: admitted, slots remaining, '
    'seconds until a slot frees.';

-- Both steps.  Row arrays are parallel, one element per text, grouped by
-- request: p_request[k] is the (1-based) request of row k.  Request
-- arrays (p_clients, INOUT results) have one element per request.
-- p_shadow_of, when given (one element per row), makes these the rows of
-- a shadow version (app.model_routing.shadow_version): each names the
-- answered prediction it shadows, and they skip the rate limit (the
-- answered requests were counted).
DROP PROCEDURE IF EXISTS app.record_prediction_batches(uuid[], integer[],
    text[], double precision[], double precision[], integer[],
    double precision[], double precision[], double precision[],
    double precision[], inet[], text, text, integer, boolean[], integer[],
    integer[], text);
-- Before the partial (p_part .. p_hcum).
DROP PROCEDURE IF EXISTS app.record_prediction_batches(uuid[], integer[],
    text[], double precision[], double precision[], integer[],
    double precision[], double precision[], double precision[],
    double precision[], inet[], text, text, integer, uuid[], boolean[],
    integer[], integer[], text);
CREATE OR REPLACE PROCEDURE app.record_prediction_batches(
    p_ids uuid[], p_request integer[], p_labels text[],
    p_confidence double precision[], p_inference_ms double precision[],
    p_input_length integer[], p_compound double precision[],
    p_pos double precision[], p_neu double precision[],
    p_neg double precision[], p_clients inet[], p_model_name text,
    p_model_version text, p_limit integer, p_shadow_of uuid[] DEFAULT NULL,
    p_part bigint[] DEFAULT NULL, p_hidx integer[] DEFAULT NULL,
    p_hcnt bigint[] DEFAULT NULL, p_hcum bigint[] DEFAULT NULL,
    INOUT admitted boolean[] DEFAULT NULL,
    INOUT remaining integer[] DEFAULT NULL,
    INOUT reset_s integer[] DEFAULT NULL,
    INOUT created_at text DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
    v_sizes integer[];
    v_model integer;
BEGIN
    SELECT array_agg(coalesce(c.n, 0) ORDER BY g.i) INTO v_sizes
      FROM generate_series(1, coalesce(cardinality(p_clients), 0)) AS g(i)
      LEFT JOIN (SELECT r, count(*)::integer AS n
                   FROM unnest(p_request) AS r GROUP BY r) AS c
             ON c.r = g.i;

    IF p_shadow_of IS NULL THEN
        SET LOCAL synchronous_commit = off;
        SELECT array_agg(a.admitted ORDER BY a.ord),
               array_agg(a.remaining ORDER BY a.ord),
               array_agg(a.reset_s ORDER BY a.ord)
          INTO admitted, remaining, reset_s
          FROM app.predict_batch_admit(p_clients, v_sizes, p_limit) AS a;
        COMMIT;
    ELSE
        admitted := array_fill(true, ARRAY[cardinality(p_clients)]);
        remaining := array_fill(0, ARRAY[cardinality(p_clients)]);
        reset_s := array_fill(0, ARRAY[cardinality(p_clients)]);
    END IF;

    IF true = ANY (admitted) THEN
        v_model := app.model_version_id(p_model_name, p_model_version);
        -- The server's own sums of the rows, when every one is written.
        IF p_part IS NOT NULL AND NOT false = ANY (admitted) THEN
            PERFORM app.rollup_partial_put(v_model, p_shadow_of IS NOT NULL,
                p_part, p_hidx, p_hcnt, p_hcum);
        END IF;
        INSERT INTO app.prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip, shadow_of)
        SELECT u.id, v_model, u.label, u.confidence, u.inference_ms,
               u.input_length, u.compound, u.pos, u.neu, u.neg,
               p_clients[u.req], p_shadow_of[u.k]
          FROM unnest(p_ids, p_request, p_labels, p_confidence,
                      p_inference_ms, p_input_length, p_compound, p_pos,
                      p_neu, p_neg) WITH ORDINALITY
               AS u(id, req, label, confidence, inference_ms,
                    input_length, compound, pos, neu, neg, k)
         WHERE admitted[u.req];
        PERFORM set_config('app.rollup_partial', '', true);
    END IF;
    created_at := to_char(now() AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END;
$$;

COMMENT ON PROCEDURE app.record_prediction_batches(uuid[], integer[],
    text[], double precision[], double precision[], integer[],
    double precision[], double precision[], double precision[],
    double precision[], inet[], text, text, integer, uuid[], bigint[],
    integer[], bigint[], bigint[], boolean[], integer[], integer[], text) IS
    'The write of POST /predict/batch requests (one or more, one model '
    'version): the all-or-nothing rate-limit decision per request '
    '(committed asynchronously), then every row of the admitted requests '
    'in one durable transaction.  With p_shadow_of, rows of a shadow '
    'version: no rate limit, each row''s shadow_of set.  Returns '
    'per-request arrays (admitted, remaining, reset_s) and the rows'' '
    'timestamp.';
