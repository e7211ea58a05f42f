-- 0004_create_gemini_cache.sql: the analyzer's cache of Gemini reports and
-- the leases that make identical analyses share one upstream call.
--
-- A report is cached under the MD5 of its canonical inputs (rounded
-- statistics, window, model filter, prompt version, Gemini model: see
-- src/analyzer.c).  Only validated Gemini reports are stored; the
-- rule-based fallback is cheap and never cached.  The functions that read
-- and write both tables are in sql/50_analyze.sql.

-- -------------------------------------------------------------- gemini_cache

CREATE TABLE app.gemini_cache (
    cache_key      text PRIMARY KEY CHECK (cache_key ~ '^[0-9a-f]{32}$'),
    report         jsonb NOT NULL CHECK (jsonb_typeof(report) = 'object'),
    prompt_version text NOT NULL,
    gemini_model   text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    ttl_seconds    integer NOT NULL DEFAULT 300 CHECK (ttl_seconds > 0)
);

-- Purging walks the oldest rows first.
CREATE INDEX gemini_cache_created_at_idx ON app.gemini_cache (created_at);

COMMENT ON TABLE app.gemini_cache IS
    'Validated Gemini performance reports, one per distinct analysis '
    'input.  A row answers while created_at + ttl_seconds > now(); expired '
    'rows are deleted by app.gemini_cache_purge().';
COMMENT ON COLUMN app.gemini_cache.cache_key IS
    'md5 (hex) of the canonical input string the report was made from.';
COMMENT ON COLUMN app.gemini_cache.report IS
    'The model''s part of the report (summary, identified_issues, '
    'recommendations, root_cause_hypothesis, confidence_score), validated.';
COMMENT ON COLUMN app.gemini_cache.prompt_version IS
    'Version of the prompt that produced the report (also in the key).';
COMMENT ON COLUMN app.gemini_cache.gemini_model IS
    'Gemini model that produced the report (also in the key).';
COMMENT ON COLUMN app.gemini_cache.created_at IS
    'When the report was stored.';
COMMENT ON COLUMN app.gemini_cache.ttl_seconds IS
    'Seconds the report stays valid (GEMINI_CACHE_TTL when stored).';

-- ------------------------------------------------------------- gemini_leases

CREATE TABLE app.gemini_leases (
    cache_key     text PRIMARY KEY CHECK (cache_key ~ '^[0-9a-f]{32}$'),
    owner         uuid NOT NULL,
    expires_at    timestamptz NOT NULL,
    failed_reason text CHECK (failed_reason ~ '^[a-z_]{1,40}$'),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX gemini_leases_expires_at_idx ON app.gemini_leases (expires_at);

COMMENT ON TABLE app.gemini_leases IS
    'Single flight: the request holding the lease of a cache key is the '
    'only one calling Gemini for it; identical requests poll the cache '
    'until the report appears, the holder gives up (failed_reason) or the '
    'lease expires.  No database connection is held while waiting.';
COMMENT ON COLUMN app.gemini_leases.cache_key IS
    'The gemini_cache key being computed.';
COMMENT ON COLUMN app.gemini_leases.owner IS
    'Id of the request holding the lease.';
COMMENT ON COLUMN app.gemini_leases.expires_at IS
    'The holder''s budget plus a margin; past it anyone may claim the key '
    '(the holder died or hangs).';
COMMENT ON COLUMN app.gemini_leases.failed_reason IS
    'Set when the holder fell back to the rules: until expires_at, '
    'identical requests fall back with the same reason instead of calling.';
COMMENT ON COLUMN app.gemini_leases.created_at IS
    'When the lease was claimed.';
