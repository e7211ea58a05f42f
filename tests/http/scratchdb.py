"""scratchdb.py: a scratch database of the suite's cluster, migrated with
the migrations and sql/ of an earlier commit, for the tests that upgrade
a database of an earlier tree to this one (test_migrate_*.py).

    db = ScratchDB("migrate_x")
    db.run_at(BASE, run)     # run(db, tree): the test; skipped without BASE
    db.q(query, role)        # rows, as lists of strings
    db.migrate(tree)         # migrations/migrate.sh of a tree (ROOT: this one)
    db.version()             # the latest migration applied, "0006"
"""
import os
import subprocess
import tempfile

from lib import ROOT, db_url, done, sql


class ScratchDB:
    def __init__(self, prefix):
        self.name = "%s_%d" % (prefix, os.getpid())

    def url(self, role):
        head, _, tail = db_url(role).rpartition("/modelserver")
        return head + "/" + self.name + tail

    def q(self, query, role="owner", check=True):
        """Rows of query; with check=False, None when it fails."""
        r = subprocess.run(["psql", self.url(role), "-X", "-q", "-At",
                            "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", query],
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            if not check:
                return None
            raise RuntimeError("psql failed: %s" % r.stderr.strip())
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def version(self):
        """The latest migration in app.schema_migrations."""
        return self.q("SELECT max(version) FROM app.schema_migrations")[0][0]

    def migrate(self, tree):
        env = dict(os.environ, MIGRATE_DATABASE_URL=self.url("owner"),
                   ENV_FILE="/dev/null")
        return subprocess.run([os.path.join(tree, "migrations/migrate.sh")],
                              env=env, capture_output=True, text=True,
                              timeout=300)

    def run_at(self, base, run):
        """Extracts migrations/ and sql/ at commit base, creates the
        database, runs run(self, tree), drops both, and ends the TAP."""
        tree = tempfile.mkdtemp(prefix="migrate-base.")
        arch = subprocess.run("git -C %s archive %s migrations sql | "
                              "tar -x -C %s" % (ROOT, base, tree),
                              shell=True, capture_output=True, text=True)
        if arch.returncode != 0:
            print("1..0 # SKIP git has no commit %s here: %s"
                  % (base, arch.stderr.strip()))
            return
        sql("CREATE DATABASE %s OWNER modelserver" % self.name)
        try:
            run(self, tree)
        finally:
            sql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
            subprocess.run(["rm", "-rf", tree])
        done()
