#!/usr/bin/env bash
# The whole test suite under the thread sanitizer and under the address sanitizer (with leak
# checking), each in a build folder of its own, the end-to-end tests running the sanitized binary.
# Bounded: the long stress tests stay off; the A/A comparison, which asks two runs for similar
# speed, is skipped (a sanitized binary runs several times slower and less evenly).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup
export PODBENCH_SANITIZED=1
for sanitizer in thread address; do
  scratch=.build-$sanitizer
  echo "sanitizers: swift test --sanitize=$sanitizer" >&2
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >&2
  LSAN_OPTIONS="suppressions=$PWD/Tests/Sanitizers/lsan.supp:print_suppressions=0" \
    TSAN_OPTIONS="halt_on_error=1" \
    PODBENCH_BIN="$PWD/$scratch/debug/podbench" \
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
done
