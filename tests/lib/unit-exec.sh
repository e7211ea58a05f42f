#!/usr/bin/env bash
# unit-exec.sh BINARY: how prove runs one C unit test.  Tests that read
# fixtures get their arguments here.
set -euo pipefail
case "$(basename "$1")" in
test_vader_smoke) exec "$1" tests/data/sentiment_smoke.tsv src/model/vader ;;
*) exec "$1" ;;
esac
