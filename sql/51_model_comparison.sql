-- 51_model_comparison.sql: a candidate version against its baseline over
-- the same window (POST /metrics/compare, /analyze/performance).
-- Re-applied after every migrate (CREATE OR REPLACE).
--
-- Each side is every row of that version in the window: the ones it
-- answered (shadow_of IS NULL) and, for a version that shadowed, its
-- shadow rows, counted apart.  From the rollups, exact as
-- app.metrics_window is (P95 percentile_cont(0.95) below 2.048 ms).
-- "paired" joins raw rows: it is bounded by the raw retention.  When the
-- candidate shadowed the baseline, "paired" compares the two on the very
-- same inputs (shadow_of joins a shadow row to the answered one).

CREATE OR REPLACE FUNCTION app.compare_side(
    p_model_name text, p_version text, p_from timestamptz, p_to timestamptz)
RETURNS json
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    -- From the rollups (sql/35_rollups.sql): every row of the version,
    -- then its served ones for the split.
    SELECT json_build_object(
        'version', p_version,
        'predictions', coalesce(a.total_predictions, 0),
        'served', coalesce(s.total_predictions, 0),
        'shadow', coalesce(a.total_predictions, 0)
                  - coalesce(s.total_predictions, 0),
        'label_distribution', json_build_object(
            'positive', coalesce(a.positive, 0),
            'negative', coalesce(a.negative, 0),
            'neutral', coalesce(a.neutral, 0)),
        'label_share', json_build_object(
            'positive', a.positive::float8 / a.total_predictions,
            'negative', a.negative::float8 / a.total_predictions,
            'neutral', a.neutral::float8 / a.total_predictions),
        'average_confidence', a.average_confidence,
        'p95_inference_time_ms', a.p95_inference_time_ms)
      FROM model_versions v
      LEFT JOIN rollup_summary(p_from, p_to, ARRAY[v.id], NULL) a ON true
      LEFT JOIN rollup_summary(p_from, p_to, ARRAY[v.id], false) s ON true
     WHERE v.name = p_model_name AND v.version = p_version;
$$;

COMMENT ON FUNCTION app.compare_side(text, text, timestamptz, timestamptz)
    IS 'One side of app.compare_versions: volume (answered and shadow), '
    'label counts and shares, average confidence and P95 inference time '
    'of a model version over [p_from, p_to).  NULL when the version was '
    'never registered.';

CREATE OR REPLACE FUNCTION app.compare_versions(
    p_model_name text, p_candidate text, p_baseline text,
    p_window_minutes integer DEFAULT 60, p_now timestamptz DEFAULT now())
RETURNS json
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_from  timestamptz := p_now - make_interval(mins => p_window_minutes);
    v_c     json;
    v_b     json;
    v_pair  json;
BEGIN
    IF p_window_minutes IS NULL OR p_window_minutes < 1
       OR p_window_minutes > 1440 THEN
        RAISE EXCEPTION 'window_minutes must be between 1 and 1440'
            USING ERRCODE = '23514', COLUMN = 'window_minutes';
    END IF;
    v_c := compare_side(p_model_name, p_candidate, v_from, p_now);
    v_b := compare_side(p_model_name, p_baseline, v_from, p_now);

    SELECT json_build_object(
        'pairs', count(*),
        'label_agreement', CASE WHEN count(*) > 0 THEN
            (count(*) FILTER (WHERE s.label = a.label))::float8 / count(*)
            END,
        'average_compound_difference', avg(s.compound - a.compound))
      INTO v_pair
      FROM prediction_metrics s
      JOIN model_versions sv ON sv.id = s.model_version_id
      JOIN prediction_metrics a ON a.prediction_id = s.shadow_of
      JOIN model_versions av ON av.id = a.model_version_id
     WHERE s.shadow_of IS NOT NULL
       AND s.created_at >= v_from AND s.created_at < p_now
       AND sv.name = p_model_name AND sv.version = p_candidate
       AND av.name = p_model_name AND av.version = p_baseline;

    RETURN json_build_object(
        'model_name', p_model_name,
        'window_minutes', p_window_minutes,
        'window_start', to_char(v_from AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'window_end', to_char(p_now AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'candidate', v_c,
        'baseline', v_b,
        'difference', json_build_object(
            'predictions', (v_c->>'predictions')::bigint
                - (v_b->>'predictions')::bigint,
            'average_confidence', (v_c->>'average_confidence')::float8
                - (v_b->>'average_confidence')::float8,
            'p95_inference_time_ms', (v_c->>'p95_inference_time_ms')::float8
                - (v_b->>'p95_inference_time_ms')::float8,
            'label_share', json_build_object(
                'positive', (v_c->'label_share'->>'positive')::float8
                    - (v_b->'label_share'->>'positive')::float8,
                'negative', (v_c->'label_share'->>'negative')::float8
                    - (v_b->'label_share'->>'negative')::float8,
                'neutral', (v_c->'label_share'->>'neutral')::float8
                    - (v_b->'label_share'->>'neutral')::float8)),
        'paired', v_pair);
END;
$$;

COMMENT ON FUNCTION app.compare_versions(text, text, text, integer,
    timestamptz) IS
    'Candidate against baseline version of one model over the last '
    'p_window_minutes: each side''s volume (answered and shadow rows), '
    'label mix, average confidence and P95 inference time, the '
    'differences (candidate - baseline; NULL where a side has no rows), '
    'and, for a candidate that shadowed the baseline, the label agreement '
    'and compound difference on the same inputs.  A side never registered '
    'is NULL.';

-- ------------------------------------------------ /analyze/performance

-- One version's figures over [p_from, p_to) in the shape of
-- app.metrics_window (the analyzer reads both the same way).
CREATE OR REPLACE FUNCTION app.compare_window(
    p_model_name text, p_version text, p_from timestamptz, p_to timestamptz)
RETURNS jsonb
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    SELECT jsonb_build_object(
        'total_predictions', coalesce(a.total_predictions, 0),
        'positive', coalesce(a.positive, 0),
        'negative', coalesce(a.negative, 0),
        'neutral', coalesce(a.neutral, 0),
        'average_confidence', a.average_confidence,
        'average_inference_time_ms', a.average_inference_time_ms,
        'min_inference_time_ms', a.min_inference_time_ms,
        'max_inference_time_ms', a.max_inference_time_ms,
        'p95_inference_time_ms', a.p95_inference_time_ms,
        'start', analyze_iso8601(p_from), 'end', analyze_iso8601(p_to))
      FROM (SELECT) AS one
      LEFT JOIN rollup_summary(p_from, p_to, ARRAY[(SELECT v.id
                    FROM model_versions v WHERE v.name = p_model_name
                     AND v.version = p_version)], NULL) a
        ON true;
$$;

COMMENT ON FUNCTION app.compare_window(text, text, timestamptz, timestamptz)
    IS 'A model version''s rows over [p_from, p_to) (answered and shadow) '
    'shaped as app.metrics_window''s output, for the analyzer.';

-- app.analyze_inputs plus "comparison": the candidate and baseline
-- versions over the current window, and their agreement on shadowed
-- inputs.
CREATE OR REPLACE FUNCTION app.analyze_compare_inputs(
    p_window_minutes integer, p_model_name text, p_candidate text,
    p_baseline text, p_now timestamptz DEFAULT now())
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = app, pg_catalog
AS $$
DECLARE
    v_from  timestamptz := p_now - make_interval(mins => p_window_minutes);
    v_pair  json;
BEGIN
    v_pair := compare_versions(p_model_name, p_candidate, p_baseline,
        p_window_minutes, p_now) -> 'paired';
    RETURN analyze_inputs(p_window_minutes, p_model_name, p_now)
        || jsonb_build_object('comparison', jsonb_build_object(
            'candidate_version', p_candidate,
            'baseline_version', p_baseline,
            'candidate', compare_window(p_model_name, p_candidate, v_from,
                p_now),
            'baseline', compare_window(p_model_name, p_baseline, v_from,
                p_now),
            'pairs', (v_pair ->> 'pairs')::bigint,
            'label_agreement', (v_pair ->> 'label_agreement')::float8));
END;
$$;

COMMENT ON FUNCTION app.analyze_compare_inputs(integer, text, text, text,
    timestamptz) IS
    'app.analyze_inputs with a "comparison" of a candidate version and '
    'its baseline over the current window (compare_window each, and the '
    'pairs and label agreement of app.compare_versions).';
