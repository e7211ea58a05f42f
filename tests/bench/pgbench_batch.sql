-- pgbench_batch.sql: the database alone doing the server's write, one
-- batch of :n rows per call, through the same procedure the recorder
-- calls.  Every row comes as admitted from a lease (want 0), as nearly
-- all of the benchmark's do, so no rate-limit decision is made.
-- bench_uuids(n) is a helper bench.sh creates in its throw-away cluster
-- (CALL takes no subquery among its arguments).
CALL app.record_predictions(public.bench_uuids(:n),
    array_fill('127.0.0.1'::inet, ARRAY[:n]),
    array_fill('neutral'::text, ARRAY[:n]),
    array_fill(0.1::float8, ARRAY[:n]), array_fill(0.02::float8, ARRAY[:n]),
    array_fill(104, ARRAY[:n]), array_fill(0.0::float8, ARRAY[:n]),
    array_fill(0.2::float8, ARRAY[:n]), array_fill(0.6::float8, ARRAY[:n]),
    array_fill(0.2::float8, ARRAY[:n]), 'vader', '3.3.2', 1000000000,
    array_fill(0, ARRAY[:n]), 1000, NULL, NULL, NULL, NULL, NULL);
