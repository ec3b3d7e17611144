#!/usr/bin/env bash
# Quick start 2: set everything up and run the whole test suite. CTest's summary line is last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
cd build
set +e
ctest --output-on-failure -j"${MUCHATOR_JOBS:-$(nproc)}" --timeout 900 > ctest.log 2>&1
status=$?
set -e
grep -v -E "tests passed|tests failed" ctest.log || true
grep -E "tests passed|tests failed" ctest.log | tail -n 1
exit $status
