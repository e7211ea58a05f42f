#!/usr/bin/env bash
# envfile.sh EXAMPLE TARGET: creates TARGET from EXAMPLE when TARGET is
# missing, with a fresh random ADMIN_TOKEN, and says where it is.  An
# existing TARGET is never touched.
set -euo pipefail
example=$1; target=$2
[ -e "$target" ] && exit 0
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
sed "s/^ADMIN_TOKEN=.*/ADMIN_TOKEN=$token/" "$example" >"$target"
echo "created $target from $example with a random ADMIN_TOKEN" \
    "(PUT /metrics/thresholds needs it as 'Authorization: Bearer ...')"
