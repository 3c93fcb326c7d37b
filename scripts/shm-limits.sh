#!/usr/bin/env bash
# shm against this machine's limits, in one run, pinned to two cores, floors measured right
# before and right after each measurement (this VM flips between a fast and a slow mode):
#   spin pingpong 64 B p50      / cache-line round trip cross-core   (goal: at most 1.5)
#   futex pingpong 64 B p50     / futex wake round trip cross-core   (goal: at most 1.3)
#   stream 64 KiB bytes/s       / memcpy bandwidth beyond the LLC     (goal: at least 0.7)
#
#   scripts/shm-limits.sh [--cpu A,B] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
a=0 b=1 rounds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r a b <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown option $1 (use --cpu A,B --rounds N)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup python3
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
work=$(mktemp -d /tmp/podbench-shm-limits-XXXXXX)
trap 'rm -rf "$work"' EXIT

calibrate() { "$bin" calibrate --trials 5 --duration 100ms --cpu "$a,$b" --json 2>/dev/null; }
case_run() {  # $1 wait, $2 workload, $3 size
  rm -rf "$work/r"
  "$bin" run --transports shm --shm-wait "$1" --workloads "$2" --sizes "$3" --trials 5 --duration 200ms \
    --warmup 200ms --cpu "client=$a,server=$b" --no-calibrate --results-dir "$work/r" >/dev/null 2>&1
  cat "$work"/r/*.json
}

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); CPUs $a and $b; $rounds rounds"
for r in $(seq 1 "$rounds"); do
  calibrate >"$work/before.json"
  case_run spin pingpong 64 >"$work/spin.json"
  case_run futex pingpong 64 >"$work/futex.json"
  case_run spin stream 64KiB >"$work/stream.json"
  calibrate >"$work/after.json"
  python3 - "$work" "$r" <<'PY'
import json, statistics, sys
w, r = sys.argv[1], sys.argv[2]
cal = [json.load(open(f"{w}/{n}.json")) for n in ("before", "after")]
def floor(i): return [next(m["median"] for m in c["measurements"] if m["id"] == i) for c in cal]
def case(n):
    t = json.load(open(f"{w}/{n}.json"))["cases"][0]["trials"]
    return t
spin = statistics.median(x["latencySummary"]["p50"] for x in case("spin"))
futex = statistics.median(x["latencySummary"]["p50"] for x in case("futex"))
stream = statistics.median(x["bytesPerSecond"] for x in case("stream"))
cl, fx, mc = floor("cacheline-roundtrip-cross-core"), floor("futex-wake-roundtrip-cross-core"), floor("memcpy-large")
print(f"round {r}: cache line {cl[0]:.0f}/{cl[1]:.0f} ns (before/after), spin p50 {spin:.0f} ns -> {spin/cl[0]:.2f}/{spin/cl[1]:.2f}x")
print(f"         futex wake {fx[0]/1000:.2f}/{fx[1]/1000:.2f} us, futex p50 {futex/1000:.2f} us -> {futex/fx[0]:.2f}/{futex/fx[1]:.2f}x")
print(f"         memcpy {mc[0]/1e9:.1f}/{mc[1]/1e9:.1f} GB/s, stream 64KiB {stream/1e9:.1f} GB/s -> {stream/mc[0]:.2f}/{stream/mc[1]:.2f}")
PY
done
