-- 0010_create_model_routing.sql: which model versions serve, as data.
--
-- One row per model name: the versions that take traffic with their
-- weights (percent, summing to 100), the default version (answers when
-- no weight picks, and pins by name only), and an optional shadow
-- version that scores every request too, recorded and never returned.
-- The rules are CHECK constraints, so psql and pgAdmin cannot store an
-- inconsistent row either.  A trigger (sql/11_routing.sql) appends every
-- change to model_routing_changes and bumps routing_state.generation,
-- which every server worker polls (a one-row read twice a second) to
-- reload the table when it moved: no LISTEN/NOTIFY, so it works through
-- PgBouncer in transaction mode, and no query per request.

-- ------------------------------------------------------------ model_routing

-- The split's rule, for the CHECK below (immutable: it reads nothing but
-- its arguments): versions distinct, each weight 0..100, the sum 100.
CREATE FUNCTION app.routing_split_ok(p_versions text[], p_weights integer[])
RETURNS boolean
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog
AS $$
    SELECT cardinality(p_versions) = cardinality(p_weights)
       AND (SELECT count(DISTINCT v) FROM unnest(p_versions) AS v)
           = cardinality(p_versions)
       AND (SELECT bool_and(w BETWEEN 0 AND 100) AND sum(w) = 100
              FROM unnest(p_weights) AS w);
$$;

COMMENT ON FUNCTION app.routing_split_ok(text[], integer[]) IS
    'True when versions are distinct and weights (one per version, each '
    '0..100) sum to 100.';

CREATE TABLE app.model_routing (
    model_name      text PRIMARY KEY
                    CHECK (model_name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    versions        text[] NOT NULL,
    weights         integer[] NOT NULL,
    default_version text NOT NULL,
    shadow_version  text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT model_routing_versions_semver CHECK (
        array_to_string(versions, ' ') ~
        '^((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*) ?)+$'
        AND array_position(versions, NULL) IS NULL),
    CONSTRAINT model_routing_versions_count CHECK (
        cardinality(versions) BETWEEN 1 AND 16 AND
        array_ndims(versions) = 1),
    CONSTRAINT model_routing_split CHECK (
        app.routing_split_ok(versions, weights)),
    CONSTRAINT model_routing_weights_shape CHECK (
        array_ndims(weights) = 1 AND
        cardinality(weights) = cardinality(versions) AND
        array_position(weights, NULL) IS NULL),
    CONSTRAINT model_routing_default_serves CHECK (
        default_version = ANY (versions)),
    CONSTRAINT model_routing_shadow_semver CHECK (
        shadow_version IS NULL OR shadow_version ~
        '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$')
);

COMMENT ON TABLE app.model_routing IS
    'Traffic split per model name (docs/models.md): versions[i] gets '
    'weights[i] percent of the requests that do not pin a version, by a '
    'sticky hash of the client (or routing_key); shadow_version also '
    'scores every such request, its row marked shadow and its answer '
    'never returned.  A model without a row is served by its highest '
    'loaded version.  Change it with app.set_model_routing(), PUT '
    '/models/{name}/routing or plain SQL; every change is kept in '
    'model_routing_changes and reaches every server within about a '
    'second.';
COMMENT ON COLUMN app.model_routing.model_name IS
    'Model name as in model_versions.name and the MODELS_DIR directory.';
COMMENT ON COLUMN app.model_routing.versions IS
    'Versions that take traffic (X.Y.Z, distinct, 1 to 16).';
COMMENT ON COLUMN app.model_routing.weights IS
    'Percent of the traffic of each element of versions: 0..100, summing '
    'to 100 (0 keeps a version listed, for pins, without traffic).';
COMMENT ON COLUMN app.model_routing.default_version IS
    'One of versions: answers requests that pin only the model name, and '
    'takes the traffic a server cannot route (a version it does not '
    'hold).';
COMMENT ON COLUMN app.model_routing.shadow_version IS
    'Scores every routed request as well; recorded with '
    'prediction_metrics.shadow_of set, never answered.  NULL: none.';
COMMENT ON COLUMN app.model_routing.updated_at IS
    'When this row last changed.';

-- ---------------------------------------------------- model_routing_changes

CREATE TABLE app.model_routing_changes (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_name          text NOT NULL,
    changed_at          timestamptz NOT NULL DEFAULT now(),
    changed_by          inet,
    db_user             text NOT NULL DEFAULT current_user,
    operation           text NOT NULL
                        CHECK (operation IN ('insert', 'update', 'delete')),
    old_versions        text[],
    old_weights         integer[],
    old_default_version text,
    old_shadow_version  text,
    new_versions        text[],
    new_weights         integer[],
    new_default_version text,
    new_shadow_version  text
);

CREATE INDEX model_routing_changes_model_changed_at_idx
    ON app.model_routing_changes (model_name, changed_at);

COMMENT ON TABLE app.model_routing_changes IS
    'Append-only history of app.model_routing: one row per insert, '
    'value-changing update or delete, written by a trigger, so changes '
    'made with plain SQL are recorded too.';
COMMENT ON COLUMN app.model_routing_changes.id IS
    'Order of the changes.';
COMMENT ON COLUMN app.model_routing_changes.model_name IS
    'The routing row that changed (model_routing.model_name).';
COMMENT ON COLUMN app.model_routing_changes.changed_at IS
    'Start of the transaction that made the change.';
COMMENT ON COLUMN app.model_routing_changes.changed_by IS
    'The HTTP client that asked (PUT /models/{name}/routing, trusted '
    'proxies honoured); for plain SQL the database client''s address, '
    'NULL over a Unix socket.';
COMMENT ON COLUMN app.model_routing_changes.db_user IS
    'The database role that made the change.';
COMMENT ON COLUMN app.model_routing_changes.operation IS
    'insert, update or delete of the model''s routing row.';
COMMENT ON COLUMN app.model_routing_changes.old_versions IS
    'Values before the change (old_*); NULL when the row was created.';
COMMENT ON COLUMN app.model_routing_changes.old_weights IS
    'Weights before the change; NULL when the row was created.';
COMMENT ON COLUMN app.model_routing_changes.old_default_version IS
    'Default version before the change; NULL when the row was created.';
COMMENT ON COLUMN app.model_routing_changes.old_shadow_version IS
    'Shadow version before the change (NULL: none, or a new row).';
COMMENT ON COLUMN app.model_routing_changes.new_versions IS
    'Values after the change (new_*); NULL when the row was deleted.';
COMMENT ON COLUMN app.model_routing_changes.new_weights IS
    'Weights after the change; NULL when the row was deleted.';
COMMENT ON COLUMN app.model_routing_changes.new_default_version IS
    'Default version after the change; NULL when the row was deleted.';
COMMENT ON COLUMN app.model_routing_changes.new_shadow_version IS
    'Shadow version after the change (NULL: none, or a deleted row).';

-- ------------------------------------------------------------ routing_state

CREATE TABLE app.routing_state (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    generation bigint NOT NULL DEFAULT 1
);
INSERT INTO app.routing_state DEFAULT VALUES;

COMMENT ON TABLE app.routing_state IS
    'One row: generation grows with every change to model_routing.  The '
    'servers poll it and reload model_routing only when it moved.';
COMMENT ON COLUMN app.routing_state.id IS
    'Always true: the table has one row.';
COMMENT ON COLUMN app.routing_state.generation IS
    'Bumped in the transaction of each change to model_routing.';
