#!/bin/sh
# docker/entrypoint.sh: the server container's command (docker/Dockerfile).
#
#   make migrate  as MIGRATE_DATABASE_URL (the schema owner; idempotent),
#   make serve    as DATABASE_URL (the app role), in the foreground.
#
# The image holds the build's results, not its inputs (no compiler, no
# object files): `-o all` tells make they are up to date.
#
# The owner's URL leaves the environment before the server starts, so the
# server process never holds more than the app role's password.  A failed
# migration (database not up yet, an edited migration) exits non-zero;
# compose starts this container once PostgreSQL is healthy.
# Run from the repository root (/app in the image).
set -eu

: "${DATABASE_URL:?DATABASE_URL is not set}"
: "${MIGRATE_DATABASE_URL:=$DATABASE_URL}"
export MIGRATE_DATABASE_URL

make --no-print-directory migrate
unset MIGRATE_DATABASE_URL
exec make --no-print-directory -o all serve
