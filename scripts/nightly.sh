#!/usr/bin/env bash
# The nightly job: the mutation self-test (the checkers must still catch every planted bug),
# then a long stress run (DURATION, default 60m), then the sanitizer suites. Failures are written
# to stress-failures/ as replayable seeds with their reports; the exit status is non-zero if
# anything failed.
#
# Usage: scripts/nightly.sh [DURATION]     e.g. scripts/nightly.sh 2h
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
duration="${1:-${DURATION:-60m}}"
status=0
make mutants || status=1
make stress DURATION="$duration" || status=1
make asan || status=1
make tsan || status=1
if [ -d stress-failures ] && [ -n "$(ls -A stress-failures)" ]; then
    echo "nightly: failures recorded in stress-failures/:"
    ls -1 stress-failures
fi
echo "nightly: $([ $status -eq 0 ] && echo passed || echo FAILED)"
exit $status
