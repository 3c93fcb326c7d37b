#!/usr/bin/env bash
# podbench against Debian's sockperf (TCP and UDP 64 B round trips) and iperf3 (TCP stream 64 KiB), on the
# same machine, with the same pinning, in one run, alternating A/B rounds so that drift hits both.
#
#   scripts/compare-peers.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S]
#
# Needs a release build (swift build -c release) and installs sockperf, iperf3 and python3 if
# missing. Prints one line per round, the medians and the best rounds (lowest latency, highest
# throughput): on a VM that flips between fast and slow modes every few seconds, the best round is
# where harness overhead shows most plainly. docs/benchmarks.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
client_cpu=0 server_cpu=1 rounds=8 seconds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "unknown option $1 (use --cpu C,S --rounds N --seconds S)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup sockperf iperf3 python3 iproute2
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
work=$(mktemp -d /tmp/podbench-peers-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
# A fresh port per measurement (no TIME_WAIT clashes), counted in a file: the measurements run in
# $(...) subshells, where a variable's change would not outlive the call.
echo $((20000 + RANDOM % 20000)) >"$work/port"
next_port() { port=$(($(cat "$work/port") + 1)); echo "$port" >"$work/port"; }
proto=t
wait_listening() {  # waits until something listens on $port, TCP or ($proto=u) UDP, without connecting
  for _ in $(seq 1 100); do
    [ -n "$(ss -H${proto}ln "sport = :$port" 2>/dev/null)" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

start_server() {  # starts "$@" pinned to the server CPU on a fresh port; retries a busy port
  for _ in 1 2 3; do
    next_port
    taskset -c "$server_cpu" "$@" -p "$port" >"$work/server.log" 2>&1 &
    server_pid=$!
    wait_listening && return 0
    kill "$server_pid" 2>/dev/null || true
  done
  echo "the peer server did not start:" >&2; cat "$work/server.log" >&2; exit 1
}

sockperf_p50() {  # $1 tcp or udp; prints the median full round trip in microseconds
  local flag=()
  if [ "$1" = tcp ]; then proto=t; flag=(--tcp); else proto=u; fi
  start_server sockperf server "${flag[@]}" -i 127.0.0.1
  taskset -c "$client_cpu" sockperf ping-pong "${flag[@]}" -i 127.0.0.1 -p "$port" -m 64 -t "$seconds" --full-rtt \
    >"$work/sockperf.txt" 2>&1 || true
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true
  local p50
  p50=$(awk '/percentile 50.000 =/ {print $NF}' "$work/sockperf.txt")
  [ -n "$p50" ] || { echo "sockperf failed:" >&2; cat "$work/sockperf.txt" >&2; exit 1; }
  echo "$p50"
}

iperf3_gbps() {  # prints receiver-side GB/s (payload)
  start_server iperf3 -s -1
  taskset -c "$client_cpu" iperf3 -c 127.0.0.1 -p "$port" -l 64K -t "$seconds" -J >"$work/iperf3.json"
  wait "$server_pid" 2>/dev/null || true
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/8e9)' \
    "$work/iperf3.json"
}

podbench_case() {  # $1 workload, $2 size, $3 transport; prints p50 µs (pingpong) or GB/s (stream), median of trials
  rm -rf "$work/results"
  "$bin" run --transports "${3:-tcp}" --workloads "$1" --sizes "$2" --trials 5 --duration "$(python3 -c "print($seconds/5)")s" \
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
printf '%-6s %14s %14s %14s %14s %14s %14s\n' round "sockperf tcp" "podbench tcp" "sockperf udp" "podbench udp" \
  "iperf3 GB/s" "podbench GB/s"
printf '%-6s %14s %14s %14s %14s\n' "" "p50 µs" "p50 µs" "p50 µs" "p50 µs"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  a=$(sockperf_p50 tcp); b=$(podbench_case pingpong 64); e=$(sockperf_p50 udp); f=$(podbench_case pingpong 64 udp)
  c=$(iperf3_gbps); d=$(podbench_case stream 64KiB)
  printf '%-6s %14.2f %14.2f %14.2f %14.2f %14.2f %14.2f\n' "$r" "$a" "$b" "$e" "$f" "$c" "$d"
  echo "$a $b $c $d $e $f" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
cols = list(zip(*rows))
m = [statistics.median(c) for c in cols]
best = [min(cols[0]), min(cols[1]), max(cols[2]), max(cols[3]), min(cols[4]), min(cols[5])]
order = [0, 1, 4, 5, 2, 3]
print(f"{'median':<6} " + " ".join(f"{m[i]:14.2f}" for i in order))
print(f"{'best':<6} " + " ".join(f"{best[i]:14.2f}" for i in order))
print(f"podbench/sockperf p50: median {m[1]/m[0]:.3f}, best {best[1]/best[0]:.3f} (1.0 = same; within 10% is the goal)")
print(f"podbench/sockperf --udp p50: median {m[5]/m[4]:.3f}, best {best[5]/best[4]:.3f} (within 10% is the goal)")
print(f"podbench/iperf3 GB/s:  median {m[3]/m[2]:.3f}, best {best[3]/best[2]:.3f} (1.0 = same; within 10% is the goal)")
PY
