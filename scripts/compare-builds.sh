#!/usr/bin/env bash
# Two builds of podbench, A and B, in alternating rounds on this machine (B first in every other
# round), each round bracketed by calibrate's cross-core cache-line round trip, so a change's cost
# is read against the VM's speed of that minute, not of another:
#   shm spin pingpong 64 B p50 and tcp pingpong 64 B p50, pinned client=A server=B CPUs.
#
#   scripts/compare-builds.sh A-BINARY B-BINARY [--rounds N] [--cpu X,Y]
# e.g. a worktree of the commit before a change, built in release, against this tree's release build:
#   git worktree add /tmp/before HEAD~1 && (cd /tmp/before && swift build -c release --product podbench)
#   swift build -c release --product podbench
#   scripts/compare-builds.sh /tmp/before/.build/release/podbench .build/release/podbench --rounds 8
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/compare-builds.sh A-BINARY B-BINARY [--rounds N] [--cpu X,Y]" >&2; exit 2; }
binA=$1 binB=$2
shift 2
a=0 b=1 rounds=6
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r a b <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "unknown option $1 (use --cpu X,Y --rounds N)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup python3
work=$(mktemp -d /tmp/podbench-compare-builds-XXXXXX)
trap 'rm -rf "$work"' EXIT

floor() { "$binB" calibrate --trials 5 --duration 100ms --cpu "$a,$b" --json 2>/dev/null >"$work/$1.json"; }
measure() {  # $1 binary, $2 label
  rm -rf "$work/r"
  "$1" run --transports shm,tcp --shm-wait spin --workloads pingpong --sizes 64 --trials 5 --duration 200ms \
    --warmup 200ms --cpu "client=$a,server=$b" --no-calibrate --results-dir "$work/r" >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
  cp "$work"/r/*.json "$work/$2.json"
}

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); CPUs $a and $b; $rounds rounds"
echo "A: $binA"
echo "B: $binB"
for r in $(seq 1 "$rounds"); do
  floor before
  if [ $((r % 2)) -eq 1 ]; then measure "$binA" A; measure "$binB" B; else measure "$binB" B; measure "$binA" A; fi
  floor after
  python3 - "$work" "$r" <<'PY'
import json, statistics, sys
w, r = sys.argv[1], sys.argv[2]
cl = [next(m["median"] for m in json.load(open(f"{w}/{n}.json"))["measurements"]
           if m["id"] == "cacheline-roundtrip-cross-core") for n in ("before", "after")]
def p50(side, transport):
    for c in json.load(open(f"{w}/{side}.json"))["cases"]:
        if c["key"]["transport"] == transport:
            return statistics.median(t["latencySummary"]["p50"] for t in c["trials"])
def fmt(ns): return f"{ns:.0f} ns" if ns < 10_000 else f"{ns / 1000:.2f} us"
order = "A,B" if int(r) % 2 else "B,A"
line = [f"round {r} ({order}): cache line {cl[0]:.0f}/{cl[1]:.0f} ns"]
for t in ("shm", "tcp"):
    a, b = p50("A", t), p50("B", t)
    line.append(f"{t} p50 A {fmt(a)} B {fmt(b)} B/A {b / a:.2f}")
print("; ".join(line))
PY
done
