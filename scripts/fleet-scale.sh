#!/usr/bin/env bash
# The fleet report at scale, as a benchmark (docs/benchmarks.md, "A fleet of 1,000 nodes"):
#
#   scripts/fleet-scale.sh RESULTS.json [NODES] [OUT]
#
# makes NODES (default 1000) copies of a real results file in OUT/nodes, each named as a node of
# a cloud pool (gke-bench-pool-b-0042.europe-west4-a.c.example.internal) with its figures scaled
# by a factor of its own (lognormal, 4% spread; every 97th node 1.8× slower, every 331st on
# another kernel), then times `podbench report` of all of them with /usr/bin/time (wall clock and
# peak resident memory), checks every chart's labels (scripts/check-svg-labels.py: at most 200, inside
# the picture, none overlapping) and the page in headless Chromium (scripts/check-page.py, the
# screenshot in OUT/fleet.png). Latencies are copied as they are: a file's latency summaries must
# agree with its histograms (validation refuses a copy whose summaries alone were scaled), and
# re-encoding every histogram is beyond this script; throughput and CPU per message are scaled.
# Uses the release build (swift build -c release --product podbench).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?give a results file to copy (e.g. one node of the fleet matrix)}
count=${2:-1000}
out=${3:-/tmp/podbench-fleet-scale}
bin=${PODBENCH_BIN:-$(swift build -c release --show-bin-path)/podbench}
[ -x "$bin" ] || { echo "fleet-scale: no release build at $bin: swift build -c release --product podbench" >&2; exit 2; }
rm -rf "$out/nodes" "$out/plots"
mkdir -p "$out/nodes"
python3 - "$base" "$count" "$out/nodes" <<'EOF'
import json, math, random, sys
base, count, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
template = open(base).read()
random.seed(42)
for i in range(count):
    run = json.loads(template)
    node = f"gke-bench-pool-b-{i:04d}.europe-west4-a.c.example.internal"
    factor = math.exp(random.gauss(0, 0.04)) * (1.8 if i % 97 == 13 else 1)
    for side in ("client", "server"):
        run["environment"][side]["nodeName"] = node
        run["environment"][side]["hostname"] = f"podbench-fleet-{i}-x7k2p"
        if i % 331 == 7:
            run["environment"][side]["kernelRelease"] = "6.1.0-99-cloud-amd64"
    for case in run["cases"]:
        for trial in case.get("trials", []):
            trial["messagesPerSecond"] /= factor
            trial["bytesPerSecond"] /= factor
            for side in ("client", "server"):
                trial[side]["cpuNanosecondsPerMessage"] *= factor
    with open(f"{folder}/{i:04d}-{node}.json", "w") as f:
        json.dump(run, f)
EOF
echo "fleet-scale: $count files, $(du -sh "$out/nodes" | cut -f1) in $out/nodes" >&2
/usr/bin/time -f "fleet-scale: report of $count files: %e s wall, %U s user, %S s system, peak RSS %M KiB" \
  "$bin" report "$out"/nodes/*.json --out "$out/plots"
ls "$out/plots" | wc -l | sed 's/^/fleet-scale: files in the report folder: /' >&2
python3 scripts/check-svg-labels.py "$out/plots"
python3 scripts/check-page.py "$out/plots" "$out/fleet.png"
