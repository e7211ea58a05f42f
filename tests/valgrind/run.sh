#!/usr/bin/env bash
# run.sh: the HTTP suite against servers whose processes (the parent and
# the forked workers) run under valgrind's memcheck (make test-valgrind).
#
#   tests/valgrind/run.sh [tests/http/test_X.py ...]    default: the suite
#
# The servers serve the plain build (build/app.so; memcheck and ASan do
# not mix), started by tests/http/lib.py under TEST_SERVER_WRAPPER.  Each
# process writes tests/out/valgrind/vg-<pid>.log; check.py then fails the
# run on any memcheck error and on any definite leak, except those that
# tests/valgrind/kore.supp names (Kore's own allocations, each commented).
#
# Kore's seccomp filter would kill valgrind (see shim.c): the workers
# get the filter with Kore's W^X rules relaxed and valgrind's own system
# calls allowed, through an LD_PRELOAD shim used for this run only.  The
# sandbox itself is exercised by the ASan run (make test-http).
#
# Without arguments every tests/http file runs, but only some must pass
# their TAP checks too: under memcheck a worker is 10-50 times slower, and
# many files time things (Gemini budgets of 3 s, rate windows, recorder
# and statement timeouts, 32 concurrent clients, recovery within 2 s) or
# look for Kore's process titles, which valgrind's command line hides.
# Their TAP failures are printed and do not fail the run; their memcheck
# reports do, like everyone's.  The files in `strict` time nothing that
# memcheck's slowdown should break.  test_recorder.py stays strict on
# purpose: once under valgrind a batch outran RECORDER_TIMEOUT_MS, its
# requests got 503 ("nothing was stored") and its rows were committed
# anyway; that is a bug of the recorder's watchdog, not of the test.
# Files named as arguments are all strict.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/tests/out/valgrind"
strict=(tests/http/test_basics.py tests/http/test_hostile.py
    tests/http/test_metrics.py tests/http/test_analyst.py
    tests/http/test_openapi.py tests/http/test_recorder.py)

make --no-print-directory -s all build/valgrind/shim.so
rm -rf "$out"
mkdir -p "$out"

vg=(valgrind --tool=memcheck --trace-children=yes --track-origins=yes
    --leak-check=full --show-leak-kinds=definite
    --errors-for-leak-kinds=definite --error-exitcode=99 --num-callers=40
    --suppressions="$root/tests/valgrind/kore.supp"
    --log-file="$out/vg-%p.log")
export TEST_SERVER_WRAPPER="env LD_PRELOAD=$root/build/valgrind/shim.so ${vg[*]}"

failed=0
if [ $# -gt 0 ]; then
	tests/run.sh http "$@" || failed=1
else
	lenient=()
	for t in tests/http/test_*.py; do
		case " ${strict[*]} " in
		*" $t "*) ;;
		*) lenient+=("$t") ;;
		esac
	done
	tests/run.sh http "${strict[@]}" || failed=1
	tests/run.sh http "${lenient[@]}" ||
	    echo "note: TAP failures in ${lenient[*]} do not count under" \
		"valgrind (see tests/valgrind/run.sh); memcheck's do"
fi
python3 tests/valgrind/check.py "$out" || failed=1
exit "$failed"
