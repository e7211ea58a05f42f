#!/bin/sh
# docker/pgadmin/pgadmin-entrypoint.sh: pgAdmin's entrypoint in compose.
#
# Writes the analyst's password file from MODELSERVER_ANALYST_PASSWORD (so
# no password is committed or baked into an image), then runs the image's
# own /entrypoint.sh, which on the first start creates the login
# PGADMIN_DEFAULT_EMAIL and imports servers.json for it.
#
# servers.json says "PassFile": "/pgpass".  pgAdmin runs in server mode
# (with logins), where it reads that path inside the user's storage
# directory: STORAGE_DIR/<login, '@' as '_'>/pgpass.  The file is written
# there on every start (a changed password takes effect on restart), mode
# 600 as libpq requires.  PGADMIN_STORAGE_DIR and arguments (the command
# to run instead of /entrypoint.sh) exist for the tests.
set -eu

: "${PGADMIN_DEFAULT_EMAIL:?}" "${MODELSERVER_ANALYST_PASSWORD:?}"
storage=${PGADMIN_STORAGE_DIR:-/var/lib/pgadmin/storage}

# pgAdmin's preprocess_username(): a login starting with a digit gets a
# prefix; '@' becomes '_', slashes become "slash".
user=$PGADMIN_DEFAULT_EMAIL
case $user in
[0-9]*) user="pga_user_$user" ;;
esac
user=$(printf '%s' "$user" | sed -e 's|@|_|g' -e 's|[/\\]|slash|g')

# pgpass fields escape '\' and ':' with a backslash.
password=$(printf '%s' "$MODELSERVER_ANALYST_PASSWORD" | sed 's/[\\:]/\\&/g')

mask=$(umask)
umask 077
mkdir -p "$storage/$user"
printf 'db:5432:modelserver:modelserver_analyst:%s\n' "$password" \
    >"$storage/$user/pgpass.tmp"
chmod 600 "$storage/$user/pgpass.tmp"
mv -f "$storage/$user/pgpass.tmp" "$storage/$user/pgpass"

umask "$mask"
unset MODELSERVER_ANALYST_PASSWORD password
[ "$#" -gt 0 ] || set -- /entrypoint.sh
exec "$@"
