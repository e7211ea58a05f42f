-- 0006_document_rate_limit_leases.sql: what hits[] holds now that a
-- worker can take a lease of admissions (src/lease.c,
-- app.rate_limit_take's p_hold_ms).  Documentation only.

COMMENT ON COLUMN app.rate_limits.hits IS
    'Times the admitted requests are filed under, oldest first.  A request '
    'decided on its own is filed at the decision; admissions a worker '
    'took as a lease are filed at the end of the lease, which can be up '
    'to RATE_LIMIT_LEASE_MS in the future.  Every hit later than now - '
    'window counts, future ones included.';
