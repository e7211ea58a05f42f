-- 0001_create_core_tables.sql: the model registry and one row per prediction.
--
-- Applied once, inside one transaction, by migrations/migrate.sh, which
-- records it in app.schema_migrations with its sha256.  Never edit this
-- file after it has been applied anywhere: add a new migration instead.

CREATE SCHEMA IF NOT EXISTS app;
COMMENT ON SCHEMA app IS
    'The model server''s tables, views and functions.';

-- ------------------------------------------------------------ model_versions

CREATE TABLE app.model_versions (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL
                CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    version     text NOT NULL
                CHECK (version ~ '^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$'),
    description text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);

COMMENT ON TABLE app.model_versions IS
    'Every model (name + semantic version) that has served predictions. '
    'A server registers its model here when it first records a row.';
COMMENT ON COLUMN app.model_versions.id IS
    'Surrogate key referenced by prediction_metrics.model_version_id.';
COMMENT ON COLUMN app.model_versions.name IS
    'Model name from the artifact manifest, e.g. vader.';
COMMENT ON COLUMN app.model_versions.version IS
    'Semantic version X.Y.Z from the artifact manifest, e.g. 3.3.2.';
COMMENT ON COLUMN app.model_versions.description IS
    'Free text: what the model is and where it comes from.';
COMMENT ON COLUMN app.model_versions.created_at IS
    'When this model version was first registered.';

-- -------------------------------------------------------- prediction_metrics

CREATE TABLE app.prediction_metrics (
    prediction_id     uuid PRIMARY KEY,
    model_version_id  integer NOT NULL REFERENCES app.model_versions (id),
    label             text NOT NULL
                      CHECK (label IN ('positive', 'negative', 'neutral')),
    confidence        double precision NOT NULL
                      CHECK (confidence >= 0 AND confidence <= 1),
    inference_time_ms double precision NOT NULL
                      CHECK (inference_time_ms >= 0),
    input_length      integer NOT NULL
                      CHECK (input_length BETWEEN 1 AND 1000),
    compound          double precision NOT NULL
                      CHECK (compound >= -1 AND compound <= 1),
    pos               double precision NOT NULL CHECK (pos >= 0 AND pos <= 1),
    neu               double precision NOT NULL CHECK (neu >= 0 AND neu <= 1),
    neg               double precision NOT NULL CHECK (neg >= 0 AND neg <= 1),
    client_ip         inet NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Time-window aggregates scan a range of created_at; the INCLUDE columns
-- let the common aggregates run from the index alone.
CREATE INDEX prediction_metrics_created_at_idx
    ON app.prediction_metrics (created_at)
    INCLUDE (confidence, inference_time_ms, label, model_version_id);
CREATE INDEX prediction_metrics_model_created_at_idx
    ON app.prediction_metrics (model_version_id, created_at);

COMMENT ON TABLE app.prediction_metrics IS
    'One row per acknowledged POST /predict: the row is committed before '
    'the client receives its 200, so every prediction_id a client holds '
    'is here.';
COMMENT ON COLUMN app.prediction_metrics.prediction_id IS
    'The id returned to the client (UUID version 7: time-ordered).';
COMMENT ON COLUMN app.prediction_metrics.model_version_id IS
    'The model that made the prediction (app.model_versions.id).';
COMMENT ON COLUMN app.prediction_metrics.label IS
    'positive (compound >= 0.05), negative (compound <= -0.05) or neutral.';
COMMENT ON COLUMN app.prediction_metrics.confidence IS
    'Distance of compound from the label''s decision boundary, scaled to '
    '0..1 inside the label''s region.';
COMMENT ON COLUMN app.prediction_metrics.inference_time_ms IS
    'Wall time of the model call alone, in milliseconds.';
COMMENT ON COLUMN app.prediction_metrics.input_length IS
    'Length of the input text in Unicode code points (1..1000).';
COMMENT ON COLUMN app.prediction_metrics.compound IS
    'VADER compound score in -1..1 (4 decimals), from which label and '
    'confidence derive; recompute labels with other bands from it.';
COMMENT ON COLUMN app.prediction_metrics.pos IS
    'VADER proportion of positive sentiment (0..1, 3 decimals).';
COMMENT ON COLUMN app.prediction_metrics.neu IS
    'VADER proportion of neutral text (0..1, 3 decimals).';
COMMENT ON COLUMN app.prediction_metrics.neg IS
    'VADER proportion of negative sentiment (0..1, 3 decimals).';
COMMENT ON COLUMN app.prediction_metrics.client_ip IS
    'The client the prediction was made for (TCP peer, or X-Forwarded-For '
    'from a trusted proxy).';
COMMENT ON COLUMN app.prediction_metrics.created_at IS
    'Start time of the transaction that recorded the row; also the '
    'timestamp returned to the client.';
