#!/usr/bin/env bash
# podbench against Debian's sockperf (TCP 64 B round trip) and iperf3 (TCP stream 64 KiB), on the
# same machine, with the same pinning, in one run, alternating A/B rounds so that drift hits both.
#
#   scripts/compare-peers.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S]
#
# Needs a release build (swift build -c release) and installs sockperf, iperf3 and python3 if
# missing. Prints one line per round and the medians; docs/benchmarks.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
client_cpu=0 server_cpu=1 rounds=3 seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "unknown option $1 (use --cpu C,S --rounds N --seconds S)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh sockperf iperf3 python3
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
work=$(mktemp -d /tmp/podbench-peers-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))

sockperf_p50() {  # prints the median full round trip in microseconds
  taskset -c "$server_cpu" sockperf server --tcp -i 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  local pid=$!
  sleep 0.5
  taskset -c "$client_cpu" sockperf ping-pong --tcp -i 127.0.0.1 -p "$port" -m 64 -t "$seconds" --full-rtt \
    >"$work/sockperf.txt" 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk '/percentile 50.000 =/ {print $NF}' "$work/sockperf.txt"
}

iperf3_gbps() {  # prints receiver-side GB/s (payload)
  taskset -c "$server_cpu" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  local pid=$!
  sleep 0.5
  taskset -c "$client_cpu" iperf3 -c 127.0.0.1 -p "$port" -l 64K -t "$seconds" -J >"$work/iperf3.json"
  wait "$pid" 2>/dev/null || true
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/8e9)' \
    "$work/iperf3.json"
}

podbench_case() {  # $1 workload, $2 size; prints p50 µs (pingpong) or GB/s (stream), median of trials
  rm -rf "$work/results"
  "$bin" run --transports tcp --workloads "$1" --sizes "$2" --trials 5 --duration "$(python3 -c "print($seconds/5)")s" \
    --warmup 500ms --cpu "client=$client_cpu,server=$server_cpu" --results-dir "$work/results" >/dev/null 2>"$work/podbench.err" \
    || { cat "$work/podbench.err" >&2; exit 1; }
  python3 - "$1" "$work"/results/*.json <<'PY'
import json, statistics, sys
run = json.load(open(sys.argv[2]))
trials = run["cases"][0]["trials"]
if sys.argv[1] == "pingpong":
    print(statistics.median(t["latencySummary"]["p50"] for t in trials) / 1000)
else:
    print(statistics.median(t["bytesPerSecond"] for t in trials) / 1e9)
PY
}

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; pinning client=$client_cpu server=$server_cpu; $seconds s per measurement"
printf '%-6s %18s %18s %18s %18s\n' round "sockperf p50 µs" "podbench p50 µs" "iperf3 GB/s" "podbench GB/s"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  a=$(sockperf_p50); b=$(podbench_case pingpong 64); c=$(iperf3_gbps); d=$(podbench_case stream 64KiB)
  printf '%-6s %18.2f %18.2f %18.2f %18.2f\n' "$r" "$a" "$b" "$c" "$d"
  echo "$a $b $c $d" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
m = [statistics.median(col) for col in zip(*rows)]
print(f"{'median':<6} {m[0]:18.2f} {m[1]:18.2f} {m[2]:18.2f} {m[3]:18.2f}")
print(f"podbench/sockperf p50: {m[1]/m[0]:.3f} (1.0 = same; within 10% is the goal)")
print(f"podbench/iperf3 throughput: {m[3]/m[2]:.3f} (1.0 = same; within 10% is the goal)")
PY
