#!/usr/bin/env bash
# Runs the package-benchmark micro benchmarks in Benchmarks/ (release build, malloc interposer)
# and fails if any hot path allocates: every benchmark but the results codec must count zero
# mallocs at every percentile. Allocation counts are deterministic, so this is a CI gate; the
# timing figures it prints are for reading, never asserted.
set -euo pipefail
cd "$(dirname "$0")/../Benchmarks"
out=$(swift package benchmark --format markdown --no-progress 2>&1) || { echo "$out" >&2; exit 1; }
echo "$out" | grep -E '^### |Malloc \(total\)|Throughput|wall clock' || true
echo "$out" | awk '
  /^### / { name = substr($0, 5) }
  /Malloc \(total\)/ && name !~ /results codec/ {
    seen++
    n = split($0, cells, "|")
    for (i = 3; i < n - 1; i++) if (cells[i] + 0 != 0) { bad = bad "\n  " name ": " cells[i] + 0 " mallocs"; break }
  }
  END {
    if (seen == 0) { print "check-allocations: no malloc counts found in the benchmark output" > "/dev/stderr"; exit 1 }
    if (bad != "") { print "check-allocations: hot paths allocate:" bad > "/dev/stderr"; exit 1 }
    print "check-allocations: " seen " hot-path benchmarks, zero mallocs"
  }'
