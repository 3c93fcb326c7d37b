#!/usr/bin/env bash
# The test suite under the thread sanitizer and under the address sanitizer (with leak checking),
# each in a build folder of its own, the end-to-end tests running the sanitized binary. The
# end-to-end matrix is sized for each sanitizer: tests say why they skip (docs/robustness.md,
# "Fuzzing and sanitizers"); speed tests are off (a sanitized binary runs slower and less evenly).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup
# The end-to-end suites run one test at a time (Tests/PodBenchEndToEndTests/EndToEnd.swift: the
# plain pass times peers and A/A runs), mostly waiting on the processes they drive; the unit tests
# keep both cores busy and, in one process, hold the threads the end-to-end tests wait on (under
# TSan in one process: 357 s; the end-to-end tests alone, 254 s for 140 s of CPU). Under a
# sanitizer nothing is timed, so each pass runs three processes at once: the unit tests, and the
# end-to-end suites in two lanes, each lane one test at a time. The lanes are complements (a suite
# renamed or added runs in the first).
second_lane='EndToEnd/(RunEndToEndTests|PatternEndToEndTests|RecordedOptionsTests|ContainerEndToEndTests)/'
for sanitizer in thread address; do
  # The end-to-end tests size their matrix by it (Tests/PodBenchEndToEndTests/BinaryProcess.swift).
  export PODBENCH_SANITIZED=$sanitizer
  scratch=.build-$sanitizer
  echo "sanitizers: swift build --build-tests --sanitize=$sanitizer" >&2
  swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch" >&2
  # The test bundle is run directly: `swift test` locks the build folder, one at a time.
  tests="$scratch/debug/podbenchPackageTests.xctest"
  lane() {
    local name=$1
    shift
    LSAN_OPTIONS="suppressions=$PWD/Tests/Sanitizers/lsan.supp:print_suppressions=0" \
      TSAN_OPTIONS="halt_on_error=1:suppressions=$PWD/Tests/Sanitizers/tsan.supp" \
      PODBENCH_BIN="$PWD/$scratch/debug/podbench" \
      "$tests" --testing-library swift-testing "$@" 2>&1 | sed -u "s/^/[$sanitizer $name] /" |
      tee "$scratch/lane-$name.log"
  }
  echo "sanitizers: the tests under $sanitizer, three lanes" >&2
  lane unit --skip 'PodBenchEndToEndTests\.' &
  unit=$!
  lane e2e-1 --filter 'PodBenchEndToEndTests\.' --skip "$second_lane" &
  first=$!
  lane e2e-2 --filter "$second_lane" &
  second=$!
  failed=0
  for pid in "$unit" "$first" "$second"; do wait "$pid" || failed=1; done
  if [ "$failed" != 0 ]; then
    # The lanes' output is interleaved and long: what failed, again at the end, where a CI log's
    # tail shows it.
    echo "sanitizers: what failed under $sanitizer:" >&2
    grep -h -e '✘' -e 'WARNING: ThreadSanitizer' -e 'ERROR: AddressSanitizer' -e 'SUMMARY: ' \
      "$scratch"/lane-*.log | cut -c1-400 | head -40 >&2 || true
    echo "sanitizers: a test failed under $sanitizer (the lines [$sanitizer LANE] with ✘ name it)" >&2
    exit 1
  fi
done
