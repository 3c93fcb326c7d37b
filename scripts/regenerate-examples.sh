#!/usr/bin/env bash
# Redraws plots/example from the committed run in results/example with the podbench built from
# this tree (release). The test suite fails when the committed plots differ from what this code
# draws (ExampleTests), so run this after any change to the report and commit what it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product podbench
bin="$(swift build -c release --show-bin-path)/podbench"
rm -rf plots/example
"$bin" report results/example/*.json --out plots/example --slo p99=100us
echo "plots/example redrawn from $(ls results/example/*.json)"
