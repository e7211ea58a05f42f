-- 0007_partition_prediction_metrics.sql: prediction_metrics becomes
-- range-partitioned on created_at, keeping every row, and the partition
-- policy table the janitor maintains partitions from.
--
-- The rows already there are not copied: the old table becomes one
-- partition covering their time range (aligned to the hour), which its
-- new indexes are built on when it is attached; new rows go to hourly
-- partitions after it.  Retention later drops it whole, like any other
-- partition, once all of it is older than RAW_RETENTION_HOURS.  Copying
-- would write every row and its WAL a second time and need twice the
-- disk while it runs.
--
-- The analyst views of sql/41 and sql/42 read the table, so they are
-- dropped here and re-created by sql/ after the migrations.  Any other
-- view on it stops the migration with its name: it would otherwise stay
-- bound to the old rows' partition alone.
--
-- The primary key becomes (prediction_id, created_at): a unique key of a
-- partitioned table must contain the partition key.  The database then
-- no longer refuses a prediction_id seen before at another time; ids are
-- UUIDv7 with 74 random bits, so a repeat is negligible
-- (docs/partitions.md).  model_version_id is no longer a foreign key
-- (see below).  Indexes: the key and a plain B-tree on created_at.  Reads come from the rollups; the raw rows are read only
-- for the last seconds of a window, by time, which needs neither the
-- covering index nor the per-model one (docs/partitions.md measures it).

-- ------------------------------------------------------- partition_policy

CREATE TABLE app.partition_policy (
    parent     regclass PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('raw', 'rollup')),
    width      interval NOT NULL
               CHECK (width > interval '0'
                      AND date_part('month', width) = 0
                      AND date_part('year', width) = 0),
    retention  interval CHECK (retention >= interval '0')
);

COMMENT ON TABLE app.partition_policy IS
    'The range-partitioned tables the janitor maintains '
    '(app.partition_maintain): partitions are created ahead of time and '
    'dropped whole once older than the retention.';
COMMENT ON COLUMN app.partition_policy.parent IS
    'A table PARTITION BY RANGE on one timestamptz column.';
COMMENT ON COLUMN app.partition_policy.kind IS
    'raw (retention RAW_RETENTION_HOURS) or rollup '
    '(ROLLUP_RETENTION_DAYS).';
COMMENT ON COLUMN app.partition_policy.width IS
    'Width of new partitions; bounds are multiples of it counted from '
    '2000-01-01 00:00 UTC.  Raw tables follow RAW_PARTITION_SECONDS.';
COMMENT ON COLUMN app.partition_policy.retention IS
    'If set, replaces the kind''s retention setting for this table.';

-- --------------------------------------------------- the dependent views

DO $$
DECLARE
    v_views text;
BEGIN
    SELECT string_agg(DISTINCT v.oid::regclass::text, ', ') INTO v_views
      FROM pg_depend d
      JOIN pg_rewrite r ON r.oid = d.objid
      JOIN pg_class v ON v.oid = r.ev_class
     WHERE d.classid = 'pg_rewrite'::regclass
       AND d.refobjid = 'app.prediction_metrics'::regclass
       AND v.oid <> 'app.prediction_metrics'::regclass
       AND v.oid::regclass::text NOT IN ('app.metrics_per_minute',
           'app.metrics_per_model_version', 'app.latency_percentiles_hourly',
           'app.label_distribution_hourly');
    IF v_views IS NOT NULL THEN
        RAISE EXCEPTION 'migration 0007: views read app.prediction_metrics '
            'and would stay bound to its old rows only: %', v_views
            USING HINT = 'Drop them, migrate, and create them again.';
    END IF;
END;
$$;

DROP VIEW IF EXISTS app.metrics_per_minute, app.metrics_per_model_version,
    app.latency_percentiles_hourly, app.label_distribution_hourly;

-- ------------------------------------------------------ the new parent

ALTER TABLE app.prediction_metrics RENAME TO prediction_metrics_old;
-- Its key and indexes make way for the parent's (index names are unique
-- in the schema); attaching builds the parent's on the old rows.
ALTER TABLE app.prediction_metrics_old DROP CONSTRAINT prediction_metrics_pkey;
DROP INDEX app.prediction_metrics_created_at_idx,
    app.prediction_metrics_model_created_at_idx;

-- No foreign key to model_versions any more: dropping a partition that
-- has one takes ACCESS EXCLUSIVE on model_versions (to remove its
-- triggers there), which every writer waits for, and a writer already
-- holding model_versions while waiting for the parent deadlocks with the
-- retirement (docs/partitions.md shows the locks).  The ids stay valid
-- because the one write path takes them from app.model_version_id() and
-- model versions are never deleted (the trigger below).
ALTER TABLE app.prediction_metrics_old
    DROP CONSTRAINT prediction_metrics_model_version_id_fkey;

CREATE TABLE app.prediction_metrics (
    LIKE app.prediction_metrics_old
        INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS
        INCLUDING STORAGE,
    PRIMARY KEY (prediction_id, created_at)
) PARTITION BY RANGE (created_at);

-- The edges of a window that the rollups do not cover yet are read by
-- time.
CREATE INDEX prediction_metrics_created_at_idx
    ON app.prediction_metrics (created_at);

COMMENT ON TABLE app.prediction_metrics IS
    'One row per acknowledged POST /predict: the row is committed before '
    'the client receives its 200, so every prediction_id a client holds '
    'is here until its partition passes RAW_RETENTION_HOURS.  '
    'Range-partitioned on created_at (app.partitions lists them).';
COMMENT ON COLUMN app.prediction_metrics.model_version_id IS
    'The model that made the prediction (app.model_versions.id; not a '
    'foreign key, see migration 0007: versions are never deleted).';
COMMENT ON COLUMN app.prediction_metrics.prediction_id IS
    'The id returned to the client (UUID version 7: time-ordered).  The '
    'key is (prediction_id, created_at): unique in practice by its 74 '
    'random bits, not enforced alone.';

-- The same grants as before, so the server can write between this
-- commit and sql/90_grants.sql's.
DO $$
DECLARE
    v_acl record;
BEGIN
    FOR v_acl IN
        SELECT a.privilege_type, r.rolname
          FROM pg_class c
         CROSS JOIN LATERAL aclexplode(c.relacl) a
          JOIN pg_roles r ON r.oid = a.grantee
         WHERE c.oid = 'app.prediction_metrics_old'::regclass
           AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT %s ON app.prediction_metrics TO %I',
            v_acl.privilege_type, v_acl.rolname);
    END LOOP;
END;
$$;

-- What the foreign key guarded: a version rows point to never goes.
CREATE FUNCTION app.model_versions_keep() RETURNS trigger
LANGUAGE plpgsql
SET search_path = app, pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'model versions are never deleted: predictions refer '
        'to them by id' USING ERRCODE = '23503';
END;
$$;
COMMENT ON FUNCTION app.model_versions_keep() IS
    'Trigger: refuses DELETE and TRUNCATE on app.model_versions, whose ids '
    'prediction_metrics and the rollups hold without a foreign key.';
CREATE TRIGGER model_versions_keep BEFORE DELETE ON app.model_versions
    FOR EACH ROW EXECUTE FUNCTION app.model_versions_keep();
CREATE TRIGGER model_versions_keep_truncate BEFORE TRUNCATE
    ON app.model_versions
    FOR EACH STATEMENT EXECUTE FUNCTION app.model_versions_keep();

INSERT INTO app.partition_policy (parent, kind, width)
VALUES ('app.prediction_metrics', 'raw', interval '1 hour');

-- ---------------------------------------- the old rows: one partition

DO $$
DECLARE
    v_lo   timestamptz;
    v_hi   timestamptz;
    v_name text;
    v_cur  timestamptz;
BEGIN
    SELECT date_bin('1 hour', min(created_at), '2000-01-01 00:00+00'),
           date_bin('1 hour', max(created_at), '2000-01-01 00:00+00')
               + interval '1 hour'
      INTO v_lo, v_hi
      FROM app.prediction_metrics_old;

    IF v_lo IS NULL THEN
        DROP TABLE app.prediction_metrics_old;
        -- From the hour before: a write that began before this hour's
        -- bound still finds its partition.
        v_hi := date_bin('1 hour', now(), '2000-01-01 00:00+00')
                - interval '1 hour';
    ELSE
        v_name := 'prediction_metrics_p' ||
            to_char(v_lo AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MISS');
        EXECUTE format('ALTER TABLE app.prediction_metrics_old RENAME TO %I',
            v_name);
        EXECUTE format('ALTER TABLE app.prediction_metrics ATTACH PARTITION '
            'app.%I FOR VALUES FROM (%L) TO (%L)', v_name, v_lo, v_hi);
        EXECUTE format('COMMENT ON TABLE app.%I IS %L', v_name,
            format('Partition of app.prediction_metrics: the rows recorded '
                'before it was partitioned (migration 0007), created_at in '
                '[%s, %s) UTC.  Dropped whole by app.partition_maintain().',
                to_char(v_lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                to_char(v_hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')));
    END IF;

    -- The next day's partitions, so the server writes on right after
    -- this commit (made as app.partition_ensure makes them, which the
    -- janitor runs from then on; the parent is new and locked by this
    -- transaction, so nobody waits for these).
    v_hi := greatest(v_hi, date_bin('1 hour', now(), '2000-01-01 00:00+00')
                           - interval '1 hour');
    v_cur := v_hi;
    WHILE v_cur < now() + interval '24 hours' LOOP
        v_name := 'prediction_metrics_p' ||
            to_char(v_cur AT TIME ZONE 'UTC', 'YYYYMMDD"_"HH24MISS');
        EXECUTE format('CREATE TABLE app.%I (LIKE app.prediction_metrics '
            'INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING COMMENTS '
            'INCLUDING STORAGE)', v_name);
        EXECUTE format('ALTER TABLE app.prediction_metrics ATTACH PARTITION '
            'app.%I FOR VALUES FROM (%L) TO (%L)', v_name, v_cur,
            v_cur + interval '1 hour');
        EXECUTE format('COMMENT ON TABLE app.%I IS %L', v_name,
            format('Partition of app.prediction_metrics: rows with '
                'created_at in [%s, %s) UTC.  Created ahead and dropped '
                'whole by app.partition_maintain(); read the parent, not '
                'this.',
                to_char(v_cur AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                to_char((v_cur + interval '1 hour') AT TIME ZONE 'UTC',
                        'YYYY-MM-DD HH24:MI:SS')));
        v_cur := v_cur + interval '1 hour';
    END LOOP;
END;
$$;
