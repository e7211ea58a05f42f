#!/usr/bin/env bash
# run.sh: builds and runs the libFuzzer targets (make fuzz runs it).
#
#   tests/fuzz/run.sh [run] [targets...]   each target FUZZ_SECONDS (60)
#   tests/fuzz/run.sh merge [targets...]   minimise into tests/fuzz/corpus/
#   build/fuzz/fuzz_X FILE...              replay inputs (a crash's file)
#
# Targets: fuzz_request (body -> json_loadb -> every validator),
# fuzz_model (bytes -> model_predict + invariants), fuzz_pgarray (the
# recorder's array text, parsed and written), fuzz_gemini (reply ->
# error status, retry delay, reply text -> report validation).  Each run
# reads the committed corpus tests/fuzz/corpus/<t>/ and the seeds
# (tests/fuzz/seed.py) and writes what it finds to build/fuzz/corpus/<t>/,
# so a run never changes the repository; `merge` folds that back in,
# keeping only inputs that add coverage.  FUZZ_JOBS=2 runs two targets at
# a time.  Logs, crash inputs and summary.txt land in tests/out/fuzz/.
# Exits 1 if a target crashed, leaked, timed out or ran out of memory.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

mode=run
case "${1:-}" in
run|merge)	mode=$1; shift ;;
esac
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_request fuzz_model fuzz_gemini fuzz_pgarray)
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
out="$root/tests/out/fuzz"
work="$root/build/fuzz"

mkdir -p "$out" "$work/seeds"
make --no-print-directory -s fuzz-build
python3 tests/fuzz/seed.py "$work/seeds"

# Longest input per target: past the limits the code must enforce.
max_len() {
	case "$1" in
	fuzz_model)	echo 4200 ;;	# MODEL_MAX_INPUT is 4096
	fuzz_gemini)	echo 16384 ;;
	*)		echo 8192 ;;	# 1000 code points, escaped
	esac
}

dict() {
	case "$1" in
	fuzz_model)	echo tests/fuzz/model.dict ;;
	*)		echo tests/fuzz/json.dict ;;
	esac
}

fuzz_one() {
	local t=$1 log="$out/$1.log" rc=0
	mkdir -p "$work/corpus/$t" "tests/fuzz/corpus/$t" "$work/seeds/$t"
	"$work/$t" -max_total_time="$seconds" -print_final_stats=1 \
	    -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
	    -dict="$(dict "$t")" -artifact_prefix="$out/$t-" \
	    "$work/corpus/$t" "tests/fuzz/corpus/$t" "$work/seeds/$t" \
	    >"$log" 2>&1 || rc=$?
	summarize "$t" "$rc" "$log"
	return "$rc"
}

# One line per run: seconds, executions, exec/s, coverage, corpus.
summarize() {
	local t=$1 rc=$2 log=$3 execs rate cov ft corp result
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -1 |
	    cut -d' ' -f2)
	if [ "$rc" = 0 ]; then
		result=ok
	else
		result="FAILED rc=$rc ($(ls "$out/$t-"* 2>/dev/null |
		    tr '\n' ' '))"
	fi
	printf '%s %-13s seconds=%s execs=%s exec/s=%s cov=%s ft=%s corpus=%s %s\n' \
	    "$(date -u +%FT%TZ)" "$t" "$seconds" "${execs:-?}" \
	    "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result" |
	    tee -a "$out/summary.txt"
}

merge_one() {
	local t=$1 new="$work/merged/$1"
	rm -rf "$new"
	mkdir -p "$new" "$work/corpus/$t" "tests/fuzz/corpus/$t" "$work/seeds/$t"
	"$work/$t" -merge=1 -max_len="$(max_len "$t")" "$new" \
	    "tests/fuzz/corpus/$t" "$work/corpus/$t" "$work/seeds/$t" \
	    >"$out/$t-merge.log" 2>&1
	rm -rf "tests/fuzz/corpus/$t"
	mv "$new" "tests/fuzz/corpus/$t"
	echo "$t: $(ls "tests/fuzz/corpus/$t" | wc -l) files," \
	    "$(du -sh "tests/fuzz/corpus/$t" | cut -f1) in tests/fuzz/corpus/$t"
}

if [ "$mode" = merge ]; then
	for t in "${targets[@]}"; do
		merge_one "$t"
	done
	exit 0
fi

rm -f "$out"/*-crash-* "$out"/*-leak-* "$out"/*-timeout-* "$out"/*-oom-*
failed=0
pids=()
for t in "${targets[@]}"; do
	if [ "$jobs" -le 1 ]; then
		fuzz_one "$t" || failed=1
		continue
	fi
	fuzz_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" || failed=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || failed=1
done

if [ "$failed" != 0 ]; then
	echo "fuzzing FAILED: see tests/out/fuzz/ (replay: build/fuzz/<target> FILE)"
	exit 1
fi
echo "fuzzing passed ($seconds s per target); summary in tests/out/fuzz/summary.txt"
