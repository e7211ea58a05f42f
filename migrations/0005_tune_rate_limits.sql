-- 0005_tune_rate_limits.sql: room for heap-only updates of rate_limits.
--
-- A busy client's row is updated by every batch; with free space on its
-- page (fillfactor) and no indexed column changing (expires_at moves
-- rarely, see app.rate_limit_take) the update stays on the page and
-- touches no index.

ALTER TABLE app.rate_limits SET (fillfactor = 50);

COMMENT ON COLUMN app.rate_limits.expires_at IS
    'At least the newest hit plus the window (moved ahead in 30 s steps): '
    'after it the row holds nothing and may be pruned.';
