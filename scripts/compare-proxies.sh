#!/usr/bin/env bash
# The ambassador hop through real third-party proxies against podbench's relay, with each proxy's
# own CPU and context switches per message (`--via-stats pid:PID`): haproxy in TCP mode (one
# process for all rounds), socat without `fork` (a fresh process per round handles the one hop
# connection, so its PID is the one doing the work), podbench's relay. tcp pingpong 64 B, each
# case direct then through the hop in the same run; prints each run's "Hops" line.
#
#   scripts/compare-proxies.sh [--rounds N] [--cpu CLIENT,SERVER]
#
# Needs a release build (swift build -c release); installs haproxy and socat if missing.
# docs/patterns.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=4
cpu="client=0,server=1"
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --cpu) IFS=, read -r c s <<<"$2"; cpu="client=$c,server=$s"; shift 2 ;;
    *) echo "unknown option $1 (use --rounds N, --cpu C,S)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_hop_frame proxies "$cpu"
common=(--trials 5 --duration 300ms --warmup 300ms --cpu "$cpu" --no-calibrate --results-dir "$work/results"
  --workloads pingpong --sizes 64 --preset ambassador)
podbench_haproxy_config "$work/haproxy.cfg" 17101 17102
haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 & pids+=($!); haproxy_pid=$!
sleep 0.5
for round in $(seq "$rounds"); do
  echo "== round $round"
  podbench_hops --via tcp:127.0.0.1:17101 --via-target tcp:127.0.0.1:17102 --via-name haproxy --via-stats pid:"$haproxy_pid"
  socat TCP-LISTEN:17201,bind=127.0.0.1,reuseaddr,nodelay TCP:127.0.0.1:17202,nodelay & socat_pid=$!
  pids+=("$socat_pid")
  sleep 0.3
  podbench_hops --via tcp:127.0.0.1:17201 --via-target tcp:127.0.0.1:17202 --via-name socat --via-stats pid:"$socat_pid"
  kill "$socat_pid" 2>/dev/null || true; wait "$socat_pid" 2>/dev/null || true
  podbench_hops
done
