#!/usr/bin/env bash
# bench_model.sh: builds the model micro-benchmark (-O2, no sanitizers) and
# runs it.  It prints figures and never fails on slowness; the machine's
# load is printed too, since a busy machine skews the tail.
#
#   tests/bench/bench_model.sh [SCALE]    (SCALE multiplies the call counts)
#
# Env: BUILD (default build), MODEL_DIR (default src/model/vader), CC.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build=${BUILD:-build}
bin="$build/bench/bench_model"

# Through the top-level Makefile (src/model/model.mk) when there is one,
# else the same flags by hand.
if ! { [ -f Makefile ] && make -s --no-print-directory BUILD="$build" \
    "$bin" >/dev/null 2>&1; }; then
	mkdir -p "$build/bench"
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -ffp-contract=off -Isrc/model \
	    -o "$bin" tests/bench/bench_model.c src/model/model.c \
	    src/model/vader.c src/model/vader_lexicon.c \
	    src/model/vader_unicode.c src/model/sha256.c -lm
fi

echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) before"
timeout 600 "$bin" "${MODEL_DIR:-src/model/vader}" "${1:-1}"
echo "load:     $(cut -d' ' -f1-3 /proc/loadavg) after"
