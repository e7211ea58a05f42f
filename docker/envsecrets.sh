#!/bin/sh
# docker/envsecrets.sh ENVFILE: gives every compose password that is empty
# or missing in ENVFILE a random value (48 hex digits: safe in a URL and in
# a pgpass file) and says which.  Values already set are never changed, so
# it is safe to run before every `make compose-up`.
set -eu

envfile=${1:?usage: docker/envsecrets.sh ENVFILE}
[ -f "$envfile" ] || { echo "envsecrets: $envfile is missing" >&2; exit 1; }

for name in POSTGRES_PASSWORD MODELSERVER_PASSWORD MODELSERVER_APP_PASSWORD \
    MODELSERVER_ANALYST_PASSWORD PGADMIN_DEFAULT_PASSWORD; do
	current=$(sed -n "s/^$name=//p" "$envfile" | tail -n 1)
	[ -n "$current" ] && continue
	value=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
	if grep -q "^$name=" "$envfile"; then
		# In place, so the comments above it stay with it; through a
		# private copy (no sed -i: BSD's differs), keeping the mode.
		tmp=$(umask 077 && mktemp "$envfile.XXXXXX")
		sed "s/^$name=\$/$name=$value/" "$envfile" >"$tmp"
		cat "$tmp" >"$envfile"
		rm -f "$tmp"
	else
		printf '%s=%s\n' "$name" "$value" >>"$envfile"
	fi
	echo "envsecrets: generated $name in $envfile"
done
