#!/usr/bin/env bash
# The test suite under the thread sanitizer and under the address sanitizer (with leak checking),
# each in a build folder of its own, the end-to-end tests running the sanitized binary. The
# end-to-end matrix is sized for each sanitizer: tests say why they skip (docs/robustness.md,
# "Fuzzing and sanitizers"); speed tests are off (a sanitized binary runs slower and less evenly).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup
for sanitizer in thread address; do
  # The end-to-end tests size their matrix by it (Tests/PodBenchEndToEndTests/BinaryProcess.swift).
  export PODBENCH_SANITIZED=$sanitizer
  scratch=.build-$sanitizer
  echo "sanitizers: swift test --sanitize=$sanitizer" >&2
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >&2
  LSAN_OPTIONS="suppressions=$PWD/Tests/Sanitizers/lsan.supp:print_suppressions=0" \
    TSAN_OPTIONS="halt_on_error=1:suppressions=$PWD/Tests/Sanitizers/tsan.supp" \
    PODBENCH_BIN="$PWD/$scratch/debug/podbench" \
    swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
done
