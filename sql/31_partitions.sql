-- 31_partitions.sql: time-range partitions, created ahead and retired by
-- whole partitions.  Re-applied after every migrate (CREATE OR REPLACE).
--
-- Interface (other files and the rollups rely on it; keep it stable):
--
--   app.partition_policy (migration 0007): one row per partitioned table
--     parent     regclass PRIMARY KEY  a table PARTITION BY RANGE on one
--                                       timestamptz column
--     kind       'raw' | 'rollup'      which retention setting applies
--     width      interval              partition width (no months/years);
--                                       bounds are multiples of it from
--                                       2000-01-01 00:00 UTC
--     retention  interval NULL         overrides the kind's retention
--   The table belongs to the schema owner (a migration makes it).
--   Register a table: INSERT INTO app.partition_policy VALUES
--     ('app.x', 'rollup', '1 day', NULL); then app.partition_ensure() or
--   the next app.partition_maintain() creates its partitions.
--
--   app.partition_ensure(parent, from, to [, lock_timeout]) -> integer
--     Creates and attaches the missing partitions covering [from, to),
--     aligned to the policy's width.  Tests and bulk loads of old data
--     call it for their range.  Returns how many it created.
--   app.partition_maintain(raw_width, ahead, raw_retention,
--     rollup_retention [, detach]) -> table (parent, created, dropped,
--     skipped)
--     What the janitor runs: for every policy row, partitions up to
--     `ahead` widths past now; with detach true, also detaches and drops
--     those whose upper bound is older than now - retention (the
--     non-concurrent path, see below).  One caller at a time (a
--     transaction advisory lock); a second one returns no rows.
--   app.partition_expired(raw_retention, rollup_retention) -> table
--     (parent, partition, partition_name, statement)
--     The partitions due for retirement, each with the one statement the
--     owner runs outside a transaction: DETACH ... CONCURRENTLY, or
--     DETACH ... FINALIZE for one left pending by an interrupted detach.
--   app.partition_drop_detached(partition text) -> boolean
--     Drops a table that app.partition_expired() named once it is no
--     longer attached.
--   app.partitions (view): every partition with its bounds and size.
--
-- Locks (docs/partitions.md has the details): creating a partition is
-- CREATE TABLE ... (LIKE parent) (ACCESS SHARE on the parent), a CHECK
-- constraint equal to the bounds, then ATTACH PARTITION (SHARE UPDATE
-- EXCLUSIVE on the parent: writers and readers go on; the CHECK lets it
-- skip the validation scan).  Never CREATE TABLE ... PARTITION OF, which
-- takes ACCESS EXCLUSIVE on the parent.  Retiring a partition without an
-- owner connection is a plain DETACH (ACCESS EXCLUSIVE on the parent,
-- held for a catalog update, waited for at most lock_timeout) then DROP.
-- With the owner connection (MAINTENANCE_DATABASE_URL) the janitor runs
-- DETACH ... CONCURRENTLY, which never blocks writers.
--
-- The functions are SECURITY DEFINER: ATTACH and DETACH need the table's
-- owner, which the server's role is not.  They only ever create tables
-- named <parent>_p<UTC start> in the parent's schema and drop partitions
-- of registered parents past their retention.

-- ------------------------------------------------------- partition_bounds

CREATE OR REPLACE FUNCTION app.partition_bounds(p_parent regclass)
RETURNS TABLE (partition regclass, lower_bound timestamptz,
               upper_bound timestamptz, detach_pending boolean)
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    -- The bounds as PostgreSQL prints them, read back in the same
    -- session (so in the same TimeZone).  MINVALUE/MAXVALUE bounds come
    -- out NULL: such a partition is never created nor retired here.
    SELECT c.oid::regclass,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                'FROM \(''([^'']+)''\)'))[1]::timestamptz,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                'TO \(''([^'']+)''\)'))[1]::timestamptz,
           i.inhdetachpending
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = p_parent
$$;

COMMENT ON FUNCTION app.partition_bounds(regclass) IS
    'The partitions of p_parent with their range [lower_bound, '
    'upper_bound) and whether a concurrent detach is pending.';

-- ------------------------------------------------------ partition_ensure

CREATE OR REPLACE FUNCTION app.partition_ensure(
    p_parent regclass, p_from timestamptz, p_to timestamptz,
    p_lock_timeout text DEFAULT '2s')
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = app, pg_catalog
SET lock_timeout = '2s'
AS $$
DECLARE
    v_width   interval;
    v_nsp     name;
    v_rel     name;
    v_key     name;
    v_cur     timestamptz;
    v_next    timestamptz;
    v_hi      timestamptz;
    v_name    text;
    v_made    integer := 0;
BEGIN
    SELECT pp.width INTO v_width FROM partition_policy pp
     WHERE pp.parent = p_parent;
    IF v_width IS NULL THEN
        RAISE EXCEPTION 'partition_ensure: % has no row in '
            'app.partition_policy', p_parent USING ERRCODE = '22023';
    END IF;
    SELECT n.nspname, c.relname INTO v_nsp, v_rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = p_parent;
    SELECT a.attname INTO v_key
      FROM pg_partitioned_table pt
      JOIN pg_attribute a ON a.attrelid = pt.partrelid
           AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent AND pt.partstrat = 'r'
       AND pt.partnatts = 1 AND a.atttypid = 'timestamptz'::regtype;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'partition_ensure: % is not range-partitioned on '
            'one timestamptz column', p_parent USING ERRCODE = '22023';
    END IF;
    -- Local to this call (the function's SET clause scopes it): a
    -- connection pool in transaction mode never sees it leak.
    PERFORM set_config('lock_timeout', p_lock_timeout, true);

    v_cur := date_bin(v_width, p_from, timestamptz '2000-01-01 00:00+00');
    WHILE v_cur < p_to LOOP
        -- Inside an existing partition: skip to its end.
        SELECT b.upper_bound INTO v_hi FROM partition_bounds(p_parent) b
         WHERE b.lower_bound <= v_cur AND v_cur < b.upper_bound;
        IF v_hi IS NOT NULL THEN
            v_cur := v_hi;
            CONTINUE;
        END IF;
        -- Up to the next aligned bound, or to the next partition's start
        -- when one begins sooner (after a width change, or an old one).
        v_next := date_bin(v_width, v_cur, timestamptz '2000-01-01 00:00+00')
                  + v_width;
        SELECT least(v_next, min(b.lower_bound)) INTO v_next
          FROM partition_bounds(p_parent) b
         WHERE b.lower_bound > v_cur;
        v_next := coalesce(v_next, date_bin(v_width, v_cur,
            timestamptz '2000-01-01 00:00+00') + v_width);

        v_name := v_rel || '_p' ||
            to_char(v_cur AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MISS');
        EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS '
            'INCLUDING CONSTRAINTS INCLUDING COMMENTS INCLUDING STORAGE)',
            v_nsp, v_name, p_parent);
        EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK '
            '(%I >= %L AND %I < %L)', v_nsp, v_name, v_name || '_bounds',
            v_key, v_cur, v_key, v_next);
        EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES '
            'FROM (%L) TO (%L)', p_parent, v_nsp, v_name, v_cur, v_next);
        -- The partition bound says the same from now on.
        EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', v_nsp,
            v_name, v_name || '_bounds');
        EXECUTE format('COMMENT ON TABLE %I.%I IS %L', v_nsp, v_name,
            format('Partition of %s: rows with %s in [%s, %s) UTC.  '
                'Created ahead and dropped whole by '
                'app.partition_maintain(); read the parent, not this.',
                p_parent, v_key,
                to_char(v_cur AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                to_char(v_next AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')));
        v_made := v_made + 1;
        v_cur := v_next;
    END LOOP;
    RETURN v_made;
END;
$$;

COMMENT ON FUNCTION app.partition_ensure(regclass, timestamptz, timestamptz,
    text) IS
    'Creates and attaches the missing partitions of p_parent (a row of '
    'app.partition_policy) covering [p_from, p_to), aligned to its width, '
    'without blocking writers (CREATE TABLE LIKE + CHECK + ATTACH, each '
    'lock waited for at most p_lock_timeout).  Returns how many it made.';

-- ----------------------------------------------------- partition_expired

CREATE OR REPLACE FUNCTION app.partition_expired(
    p_raw_retention interval, p_rollup_retention interval)
RETURNS TABLE (parent regclass, partition regclass, partition_name text,
               statement text)
LANGUAGE sql
STABLE
SET search_path = app, pg_catalog
AS $$
    -- Names schema-qualified whatever the caller's search_path.
    SELECT pp.parent, b.partition,
           format('%I.%I', cn.nspname, c.relname),
           format('ALTER TABLE %I.%I DETACH PARTITION %I.%I %s',
               pn.nspname, pc.relname, cn.nspname, c.relname,
               CASE WHEN b.detach_pending THEN 'FINALIZE'
                    ELSE 'CONCURRENTLY' END)
      FROM partition_policy pp
      JOIN pg_class pc ON pc.oid = pp.parent
      JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     CROSS JOIN LATERAL partition_bounds(pp.parent) b
      JOIN pg_class c ON c.oid = b.partition
      JOIN pg_namespace cn ON cn.oid = c.relnamespace
     -- A writer whose transaction began just before the bound may not
     -- have inserted yet: 10 s (twice the default statement timeout)
     -- more, so it never finds its partition gone.
     WHERE b.upper_bound <= now() - interval '10 seconds' - coalesce(
               pp.retention, CASE pp.kind WHEN 'raw' THEN p_raw_retention
                                          ELSE p_rollup_retention END)
    UNION ALL
    -- Detached but not dropped (the drop failed or never ran): only the
    -- drop is left to do.
    SELECT pp.parent, c.oid::regclass,
           format('%I.%I', cn.nspname, c.relname), NULL
      FROM partition_policy pp
      JOIN pg_class pc ON pc.oid = pp.parent
      JOIN pg_class c ON c.relnamespace = pc.relnamespace
           AND c.relkind = 'r' AND NOT c.relispartition
           AND c.relname ~ ('^' || pc.relname || '_p[0-9]{8}_[0-9]{6}$')
      JOIN pg_namespace cn ON cn.oid = c.relnamespace
    ORDER BY 1, 3
$$;

COMMENT ON FUNCTION app.partition_expired(interval, interval) IS
    'Partitions whose whole range is older than now - retention - 10 s '
    '(the policy row''s own retention, else p_raw_retention or '
    'p_rollup_retention by kind), oldest first, each with the DETACH '
    'statement the owner runs on its own, outside any transaction; and '
    'former partitions left detached, with statement NULL (only '
    'app.partition_drop_detached is left to run).';

-- ----------------------------------------------- partition_drop_detached

DROP FUNCTION IF EXISTS app.partition_drop_detached(regclass);
CREATE OR REPLACE FUNCTION app.partition_drop_detached(p_partition text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = app, pg_catalog
SET lock_timeout = '2s'
AS $$
DECLARE
    v_nsp name;
    v_rel name;
    v_ok  boolean;
BEGIN
    -- Only a former partition of a registered parent, by its name, and
    -- only once nothing has it attached.
    SELECT n.nspname, c.relname,
           NOT c.relispartition AND c.relkind = 'r' AND EXISTS (
               SELECT FROM partition_policy pp
                 JOIN pg_class pc ON pc.oid = pp.parent
                WHERE pc.relnamespace = c.relnamespace
                  AND c.relname ~ ('^' || pc.relname ||
                                   '_p[0-9]{8}_[0-9]{6}$'))
      INTO v_nsp, v_rel, v_ok
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = to_regclass(p_partition);
    IF NOT coalesce(v_ok, false) THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I.%I', v_nsp, v_rel);
    RETURN true;
END;
$$;

COMMENT ON FUNCTION app.partition_drop_detached(text) IS
    'Drops the table named p_partition if it is a detached partition of a '
    'table in app.partition_policy (named <parent>_pYYYYMMDD_HHMMSS); '
    'false and nothing done otherwise (still attached, or already gone).';

-- ---------------------------------------------------- partition_maintain

CREATE OR REPLACE FUNCTION app.partition_maintain(
    p_raw_width interval DEFAULT NULL, p_ahead integer DEFAULT 24,
    p_raw_retention interval DEFAULT interval '48 hours',
    p_rollup_retention interval DEFAULT interval '400 days',
    p_detach boolean DEFAULT true)
RETURNS TABLE (parent regclass, created integer, dropped integer,
               skipped integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = app, pg_catalog
SET lock_timeout = '2s'
AS $$
DECLARE
    v_pol   record;
    v_old   record;
    v_made  integer;
    v_gone  integer;
    v_skip  integer;
BEGIN
    -- One maintainer at a time, whichever instance gets there first.
    IF NOT pg_try_advisory_xact_lock(7310442152) THEN
        RETURN;
    END IF;
    -- The server's role calls this with definer's rights: bounded input.
    IF p_raw_width < interval '1 second' OR p_ahead NOT BETWEEN 1 AND 1000
       OR p_raw_retention < interval '0'
       OR p_rollup_retention < interval '1 day' THEN
        RAISE EXCEPTION 'partition_maintain: width >= 1 s, 1..1000 ahead, '
            'raw retention >= 0 and rollup retention >= 1 day'
            USING ERRCODE = '22023';
    END IF;
    IF p_raw_width IS NOT NULL THEN
        UPDATE partition_policy pp SET width = p_raw_width
         WHERE pp.kind = 'raw' AND pp.width <> p_raw_width;
    END IF;

    FOR v_pol IN SELECT pp.parent, pp.width FROM partition_policy pp
                  ORDER BY pp.parent::text LOOP
        v_made := 0;
        v_gone := 0;
        v_skip := 0;
        BEGIN
            v_made := partition_ensure(v_pol.parent, now(),
                now() + v_pol.width * p_ahead, '500ms');
        EXCEPTION WHEN lock_not_available THEN
            -- Someone holds the parent: the next run tries again.
            v_skip := v_skip + 1;
        END;

        IF p_detach THEN
            FOR v_old IN SELECT e.partition, e.partition_name, e.statement
                           FROM partition_expired(p_raw_retention,
                                    p_rollup_retention) e
                          WHERE e.parent = v_pol.parent LOOP
                IF v_old.statement IS NULL THEN
                    IF partition_drop_detached(v_old.partition_name) THEN
                        v_gone := v_gone + 1;
                    END IF;
                    CONTINUE;
                END IF;
                BEGIN
                    -- ACCESS EXCLUSIVE on the parent for a catalog
                    -- update; queued writers wait at most this long.
                    PERFORM set_config('lock_timeout', '200ms', true);
                    IF (SELECT b.detach_pending FROM
                            partition_bounds(v_pol.parent) b
                         WHERE b.partition = v_old.partition) THEN
                        EXECUTE format('ALTER TABLE %s DETACH PARTITION '
                            '%s FINALIZE', v_pol.parent, v_old.partition);
                    ELSE
                        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s',
                            v_pol.parent, v_old.partition);
                    END IF;
                    EXECUTE format('DROP TABLE %s', v_old.partition);
                    v_gone := v_gone + 1;
                EXCEPTION WHEN lock_not_available THEN
                    v_skip := v_skip + 1;
                END;
            END LOOP;
        END IF;

        parent := v_pol.parent;
        created := v_made;
        dropped := v_gone;
        skipped := v_skip;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION app.partition_maintain(interval, integer, interval,
    interval, boolean) IS
    'The janitor''s partition job: sets the raw tables'' width to '
    'p_raw_width (when given; existing partitions keep theirs), creates '
    'partitions up to p_ahead widths past now for every row of '
    'app.partition_policy, and with p_detach retires (DETACH + DROP, '
    'never DELETE) partitions older than their retention.  Returns per '
    'parent how many were created, dropped, and skipped because a lock '
    'was not granted in time.  Runs in one instance at a time.';

-- -------------------------------------------------------------- partitions

DROP VIEW IF EXISTS app.partitions;
CREATE VIEW app.partitions AS
SELECT pp.parent,
       pp.kind,
       b.partition,
       b.lower_bound,
       b.upper_bound,
       b.detach_pending,
       c.reltuples::bigint AS estimated_rows,
       pg_total_relation_size(b.partition) AS total_bytes
  FROM app.partition_policy pp
 CROSS JOIN LATERAL app.partition_bounds(pp.parent) b
  JOIN pg_class c ON c.oid = b.partition;

COMMENT ON VIEW app.partitions IS
    'Every partition of the tables in app.partition_policy, with its '
    'range and size.';
COMMENT ON COLUMN app.partitions.parent IS 'The partitioned table.';
COMMENT ON COLUMN app.partitions.kind IS
    'raw or rollup: which retention applies.';
COMMENT ON COLUMN app.partitions.partition IS 'The partition.';
COMMENT ON COLUMN app.partitions.lower_bound IS
    'First instant it holds (inclusive).';
COMMENT ON COLUMN app.partitions.upper_bound IS
    'End of its range (exclusive).';
COMMENT ON COLUMN app.partitions.detach_pending IS
    'A concurrent detach started and did not finish (finalized on the '
    'next maintenance).';
COMMENT ON COLUMN app.partitions.estimated_rows IS
    'Row estimate from the statistics (-1: never analyzed).';
COMMENT ON COLUMN app.partitions.total_bytes IS
    'Heap, indexes and TOAST in bytes.';

-- Definer's rights: only the roles sql/90_grants.sql names may call them.
REVOKE ALL ON FUNCTION app.partition_ensure(regclass, timestamptz,
    timestamptz, text), app.partition_maintain(interval, integer, interval,
    interval, boolean), app.partition_drop_detached(text) FROM PUBLIC;

-- Every migrate leaves partitions ready for the next day, so a server
-- started right after it can write before its janitor first runs.
SELECT count(*) FROM app.partition_maintain(NULL, 24,
    interval '100 years', interval '100 years', false);
