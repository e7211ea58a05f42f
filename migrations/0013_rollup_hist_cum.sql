-- 0013_rollup_hist_cum.sql: cumulative histogram counts on every rollup row.
--
-- Why (docs/rollups.md, "Finding P95"): a window's P95 was the
-- percentile_cont of the merge of all its rollup rows' histograms, a cost
-- that grows with the distinct latencies in each row (hundreds at high
-- volume).  With the running totals stored next to the counts, how many
-- of a row's predictions lie at or below an index is one binary search
-- (width_bucket) in it, and a window's P95 is found by searching the
-- index instead of merging: the cost follows the rows, not their size.
--
-- hist_cum[i] = hist_cnt[1] + ... + hist_cnt[i], filled here for the rows
-- already folded and written by app.rollup_build from now on (NOT NULL:
-- a row written without it would be read wrong, so it cannot be).

CREATE TYPE app.rollup_hist AS (idx integer[], cum bigint[]);
COMMENT ON TYPE app.rollup_hist IS
    'A histogram as the P95 search reads it: ascending indexes '
    '(app.rollup_hist_index) and the cumulative count at each.';

CREATE TYPE app.rollup_sums AS (tb timestamptz, n bigint, cs numeric,
    ts numeric, tmin double precision, tmax double precision, pos bigint,
    neg bigint, neu bigint, known boolean, pcs numeric, ncs numeric,
    ucs numeric, pco numeric, nco numeric, uco numeric);
COMMENT ON TYPE app.rollup_sums IS
    'One timeseries bucket''s exact sums while app.rollup_summary '
    'searches its P95 (internal).';

DO $$
DECLARE
    v_t text;
BEGIN
    FOREACH v_t IN ARRAY ARRAY['100ms', '1s', '10s', '1m', '10m', '1h',
                               '1d'] LOOP
        EXECUTE format('ALTER TABLE app.%I ADD COLUMN hist_cum bigint[]',
            'rollup_' || v_t);
        EXECUTE format($u$UPDATE app.%I r SET hist_cum = (
            SELECT array_agg(c.s ORDER BY c.o)
              FROM (SELECT sum(u.c) OVER (ORDER BY u.o)::bigint AS s, u.o
                      FROM unnest(r.hist_cnt) WITH ORDINALITY AS u(c, o)) c)$u$,
            'rollup_' || v_t);
        EXECUTE format('ALTER TABLE app.%I ALTER COLUMN hist_cum SET NOT NULL',
            'rollup_' || v_t);
        EXECUTE format($c$COMMENT ON COLUMN app.%I.hist_cum IS %L$c$,
            'rollup_' || v_t, 'Running total of hist_cnt: hist_cum[i] '
            'predictions have a histogram index <= hist_idx[i].  What the '
            'P95 search of app.rollup_summary() reads.');
    END LOOP;
END;
$$;
