"""test_analyst.py: the "Querying the metrics" queries of docs/api.md run, as
the read-only analyst role, against data written through the server; and
the analyst can read nothing it should not.
"""
import os
import re
import subprocess

from lib import ROOT, Server, db_url, done, ok, predict, request, reset_data

reset_data()
srv = Server("analyst", sanitize=False,
             env={"ADMIN_TOKEN": "t0ken-for-the-analyst-test"}).start()
for text in ("I love it", "I hate it", "It is a chair", "Great, just great",
             "Terrible service!!"):
    predict(srv.port, text)
request(srv.port, "PUT", "/metrics/thresholds",
        body={"min_confidence_warning": 0.65},
        headers={"Authorization": "Bearer t0ken-for-the-analyst-test"})
srv.stop()

with open(os.path.join(ROOT, "docs", "api.md")) as f:
    doc = f.read()
m = re.search(r"^## Querying the metrics\n(.*?)(?=^## |\Z)", doc, re.S | re.M)
ok(m is not None, "docs/api.md has a 'Querying the metrics' section")
queries = re.findall(r"```sql\n(.*?)```", m.group(1) if m else "", re.S)
ok(len(queries) >= 5, "the section holds example queries (%d)" %
   len(queries))


def as_analyst(q):
    return subprocess.run(["psql", db_url("analyst"), "-X", "-q", "-At",
                           "-v", "ON_ERROR_STOP=1", "-c", q],
                          capture_output=True, text=True, timeout=60)


for q in queries:
    first = q.strip().splitlines()[0]
    r = as_analyst(q)
    ok(r.returncode == 0, "as the analyst: %s" % first, r.stderr)
    ok(r.stdout.strip() != "" or "crossed" in first,
       "... and it returns rows: %s" % first, r.stdout)

for q, what in (("INSERT INTO app.model_versions (name, version) "
                 "VALUES ('x', '9.9.9')", "insert"),
                ("DELETE FROM app.prediction_metrics", "delete"),
                ("SELECT * FROM app.rate_limits", "read rate-limit state"),
                ("CREATE TABLE app.mine (a int)", "create a table")):
    r = as_analyst(q)
    ok(r.returncode != 0 and "permission denied" in r.stderr,
       "the analyst cannot %s" % what, r.stderr)

done()
