"""test_durable.py: a 200 from /predict means the row's commit is on disk.

record_predictions commits twice: the rate-limit decision asynchronously
(synchronous_commit off), then the rows durably.  If the second commit
were asynchronous too, the 200 would leave while its WAL still sat in
PostgreSQL's buffers, and a crash of the machine would lose an
acknowledged prediction.  A kill -9 test cannot see that (the kernel keeps
what was written), so this test looks at the WAL itself: with the WAL
writer slowed to 10 s, an asynchronous commit stays unflushed
(pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()) for seconds,
while a synchronous one is flushed before it returns.  A control run of an
asynchronous insert shows the check can fail.
"""
import atexit

from lib import Server, done, ok, predict, sql, sql_value

ROUNDS = 10


def unflushed():
    """1 when WAL has been written that is not yet flushed."""
    return sql_value("SELECT (pg_current_wal_flush_lsn() < "
                     "pg_current_wal_insert_lsn())::int") == "1"


def restore():
    sql("ALTER SYSTEM RESET wal_writer_delay")
    sql("ALTER SYSTEM RESET autovacuum")
    sql("SELECT pg_reload_conf()")


# Nothing else writes WAL while we look: no autovacuum, a sleepy WAL writer.
atexit.register(restore)
sql("ALTER SYSTEM SET wal_writer_delay = '10s'")
sql("ALTER SYSTEM SET autovacuum = off")
sql("SELECT pg_reload_conf()")
sql("CREATE TABLE IF NOT EXISTS public.durable_probe (n integer)")

# ---- control: an asynchronous commit is seen as unflushed ------------------
seen = 0
for i in range(ROUNDS):
    r = sql("SET synchronous_commit = off; "
            "INSERT INTO public.durable_probe VALUES (%d); "
            "SELECT (pg_current_wal_flush_lsn() < "
            "pg_current_wal_insert_lsn())::int" % i)
    seen += r[-1][0] == "1"
    sql("INSERT INTO public.durable_probe VALUES (-1)")   # flushes it all
ok(seen >= ROUNDS - 1,
   "control: %d of %d asynchronous commits were still unflushed when "
   "checked" % (seen, ROUNDS))

# ---- /predict: every 200 comes after its rows' WAL is flushed --------------
srv = Server("durable", env={"WORKERS": "1",
                             "RATE_LIMIT_PREDICT_PER_MINUTE": "1000"}).start()
predict(srv.port, "warm up the connections")
flushed, answered = 0, 0
for i in range(ROUNDS):
    sql("INSERT INTO public.durable_probe VALUES (-1)")   # start flushed
    st, _, body = predict(srv.port, "durable %d" % i)
    answered += st == 200
    flushed += st == 200 and not unflushed()
ok(answered == ROUNDS, "%d of %d predictions answered 200"
   % (answered, ROUNDS))
# One miss is allowed for WAL PostgreSQL writes on its own (a standby
# snapshot every 15 s); an asynchronous commit would miss every time.
ok(flushed >= ROUNDS - 1,
   "%d of %d 200s found all WAL flushed: the rows' commit was synchronous"
   % (flushed, ROUNDS))
srv.stop()
sql("DROP TABLE public.durable_probe")
done()
