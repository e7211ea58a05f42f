-- 30_predictions.sql: how rows of POST /predict are written.
-- Re-applied after every migrate (CREATE OR REPLACE).

-- Records one batch of predictions (the group commit of one worker) and
-- decides the rate limit for each, in one statement: one round trip per
-- batch, not per request.  Arrays are parallel, one element per request,
-- in arrival order.  Returns one row per request, in the same order.
CREATE OR REPLACE FUNCTION app.record_predictions(
    p_ids            uuid[],
    p_clients        inet[],
    p_labels         text[],
    p_confidence     double precision[],
    p_inference_ms   double precision[],
    p_input_length   integer[],
    p_compound       double precision[],
    p_pos            double precision[],
    p_neu            double precision[],
    p_neg            double precision[],
    p_model_name     text,
    p_model_version  text,
    p_limit          integer,
    p_window_s       integer DEFAULT 60)
RETURNS TABLE (ord integer, admitted boolean, remaining integer,
               reset_s integer, created_at text)
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_n         integer := cardinality(p_ids);
    v_model     integer;
    v_admit     boolean[];
    v_remaining integer[];
    v_reset     integer[];
    v_client    record;
    v_take      record;
    j           integer;
BEGIN
    IF v_n IS NULL OR v_n = 0 THEN
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
            p_window_s);
        FOR j IN 1 .. cardinality(v_client.idx) LOOP
            v_reset[v_client.idx[j]] := v_take.reset_s;
            IF j <= v_take.admitted THEN
                v_admit[v_client.idx[j]] := true;
                v_remaining[v_client.idx[j]] :=
                    p_limit - v_take.used_before - j;
            END IF;
        END LOOP;
    END LOOP;

    IF true = ANY (v_admit) THEN
        v_model := model_version_id(p_model_name, p_model_version);
        INSERT INTO prediction_metrics (prediction_id, model_version_id,
            label, confidence, inference_time_ms, input_length, compound,
            pos, neu, neg, client_ip)
        SELECT u.id, v_model, u.label, u.confidence, u.inference_ms,
               u.input_length, u.compound, u.pos, u.neu, u.neg, u.client
          FROM unnest(p_ids, p_clients, p_labels, p_confidence,
                      p_inference_ms, p_input_length, p_compound, p_pos,
                      p_neu, p_neg)
               WITH ORDINALITY AS u(id, client, label, confidence,
                   inference_ms, input_length, compound, pos, neu, neg, i)
         WHERE v_admit[u.i];
    END IF;

    RETURN QUERY
        SELECT i::integer, v_admit[i], v_remaining[i], v_reset[i],
               to_char(now() AT TIME ZONE 'UTC',
                       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
          FROM generate_series(1, v_n) AS i;
END;
$$;

COMMENT ON FUNCTION app.record_predictions(uuid[], inet[], text[],
    double precision[], double precision[], integer[], double precision[],
    double precision[], double precision[], double precision[], text, text,
    integer, integer) IS
    'Writes a batch of predictions and applies the predict rate limit '
    '(scope predict, p_limit per p_window_s seconds per client) in one '
    'transaction.  Rejected requests write no row.  Returns, per request '
    'in input order: admitted, slots remaining, seconds until a slot '
    'frees, and the recorded timestamp (ISO 8601 UTC).';
