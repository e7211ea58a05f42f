#!/usr/bin/env bash
# cppcheck.sh: cppcheck over every C file of the module, the tools and
# the model (make cppcheck, part of make check).
#
# cppcheck reads Kore's, jansson's, libcurl's and libpq's headers, so it
# knows their types and macros (TAILQ_*, KORE_SYSCALL_*), but not glibc's:
# on those it reports syntax errors of its own.  So the include path is a
# directory of links to exactly those headers, plus sys/queue.h, under
# build/cppcheck/.  Findings fail the run; the few that are justified are
# suppressed in the code (// cppcheck-suppress id, with the reason).
# variableScope is off: style(9) declares a function's variables at its
# top, on purpose (STYLE.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
inc=build/cppcheck/include
mkdir -p "$inc/sys"
multi=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
ln -sfn /usr/include/kore "$inc/kore"
ln -sfn "/usr/include/$multi/curl" "$inc/curl"
ln -sf /usr/include/jansson.h /usr/include/jansson_config.h "$inc/"
ln -sf "/usr/include/$multi/sys/queue.h" "$inc/sys/queue.h"

# shellcheck disable=SC2046
exec cppcheck -q --std=c11 --error-exitcode=1 --inline-suppr \
    --enable=warning,style,performance,portability \
    --suppress=missingIncludeSystem --suppress=variableScope \
    -D_GNU_SOURCE $(cat /usr/share/kore/features) \
    -I"$(pg_config --includedir)" -I"$inc" -Isrc -Itests/unit \
    src/*.c src/model/*.c tests/unit/*.c tests/fuzz/*.c "$@"
