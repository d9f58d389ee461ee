#!/usr/bin/env bash
# Run every benchmark; each prints its ratios against a reference measured in the same run.
# Not part of the test suite (figures, not asserts). Usage: bash benchmarks/run_all.sh [PY]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for bench in benchmarks/bench_*.py; do
  echo "=== $bench"
  "$PY" "$bench"
done
