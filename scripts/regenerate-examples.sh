#!/usr/bin/env bash
# The committed examples, made by one script with the podbench built from this tree (release):
#
#   scripts/regenerate-examples.sh            redraw plots/example from results/example
#   scripts/regenerate-examples.sh --measure  first measure results/example again (about a minute,
#                                             pinned to CPUs 0 and 1), then redraw
#
# The test suite fails when plots/example differs from what this code draws from results/example
# (ExampleTests), so run this after any change to the report and commit what it writes.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product podbench
bin="$(swift build -c release --show-bin-path)/podbench"
if [[ "${1:-}" == "--measure" ]]; then
    fresh="$(mktemp -d)"
    trap 'rm -rf "$fresh"' EXIT
    "$bin" run --transports tcp,uds,shm --workloads pingpong,stream,rate --rates 10k,50k,200k,1M \
        --sizes 64,64KiB --trials 3 --duration 300ms --warmup 150ms --cpu client=0,server=1 \
        --results-dir "$fresh" > /dev/null
    rm -f results/example/*.json
    cp "$fresh"/*.json results/example/
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--measure]" >&2
    exit 2
fi
rm -rf plots/example
"$bin" report results/example/*.json --out plots/example --slo p99=100us
echo "plots/example redrawn from $(ls results/example/*.json)"
