#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ (address sanitizer on) and runs each for a bounded time
# from the committed corpus in Tests/FuzzCorpus/ (new inputs go to a scratch copy; commit the ones
# worth keeping). Fails on any crash, trap or sanitizer report.
#   scripts/fuzz.sh [SECONDS per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
source scripts/setup.sh
podbench_setup
export SWIFT_BACKTRACE=enable=no  # the backtracer can hang after a crash it was asked to report
(cd Fuzz && swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library >&2)
bin=$(cd Fuzz && swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --show-bin-path)
work=$(mktemp -d /tmp/podbench-fuzz-XXXXXX)
trap 'rm -rf "$work" /dev/shm/podbench-fuzz-file-*' EXIT
for pair in ControlFrames:control RingRecords:ring FileRecords:file ResultsFiles:results HTTPMessages:http HTTP2Frames:h2; do
  target=${pair%%:*} corpus=${pair##*:}
  mkdir -p "$work/$corpus"
  cp Tests/FuzzCorpus/"$corpus"/* "$work/$corpus/"
  echo "fuzz: $target for ${seconds}s from $(ls Tests/FuzzCorpus/$corpus | wc -l) seeds" >&2
  "$bin/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
    "$work/$corpus" 2>"$work/$target.log" || { tail -40 "$work/$target.log" >&2; exit 1; }
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/$target.log" >&2 || true
done
echo "fuzz: no crash" >&2
