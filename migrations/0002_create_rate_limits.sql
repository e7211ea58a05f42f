-- 0002_create_rate_limits.sql: rate-limit state shared by every worker
-- and every instance.
--
-- One row per (scope, client) holds a sliding log of the requests that
-- were admitted in the last window: hits[i] is a time, counts[i] how
-- many requests were admitted at that time.  The decision is made by
-- app.rate_limit_take() (sql/20_rate_limits.sql) under the row's lock.

CREATE TABLE app.rate_limits (
    scope       text NOT NULL CHECK (scope ~ '^[a-z_]{1,32}$'),
    client      inet NOT NULL,
    hits        timestamptz[] NOT NULL DEFAULT '{}',
    counts      integer[] NOT NULL DEFAULT '{}',
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, client),
    CHECK (cardinality(hits) = cardinality(counts))
);

CREATE INDEX rate_limits_expires_at_idx ON app.rate_limits (expires_at);

COMMENT ON TABLE app.rate_limits IS
    'Sliding-window request logs for rate limiting, one row per scope and '
    'client.  Rows whose window has passed are deleted by '
    'app.rate_limit_prune(), which every server runs periodically.';
COMMENT ON COLUMN app.rate_limits.scope IS
    'What is limited: predict, analyze (per client) or gemini (the '
    'deployment''s upstream calls, client 0.0.0.0).';
COMMENT ON COLUMN app.rate_limits.client IS
    'Client address the limit applies to.';
COMMENT ON COLUMN app.rate_limits.hits IS
    'Times of admitted requests inside the window, oldest first.';
COMMENT ON COLUMN app.rate_limits.counts IS
    'Number of requests admitted at the matching hits[] time.';
COMMENT ON COLUMN app.rate_limits.expires_at IS
    'Newest hit plus the window: after it the row holds nothing.';
