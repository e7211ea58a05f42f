-- pgbench_insert.sql: the database's own limit for our write, one row
-- per transaction: the same row /predict writes, into the same table with
-- the same indexes and constraints (and partitions).
INSERT INTO app.prediction_metrics (prediction_id, model_version_id, label,
    confidence, inference_time_ms, input_length, compound, pos, neu, neg,
    client_ip)
VALUES (gen_random_uuid(), :mid, 'neutral', 0.1, 0.02, 104, 0.0,
    0.2, 0.6, 0.2, '127.0.0.1');
