#!/bin/sh
# tests/containers/pgadmin/entrypoint.sh: the stand-in's /entrypoint.sh
# (docker/pgadmin/pgadmin-entrypoint.sh execs it, as it would pgAdmin's).
exec python3 /pgadmin4/standin.py
