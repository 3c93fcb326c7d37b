#!/usr/bin/env bash
# The pod patterns on this machine, each hop against the same case direct in the same run:
# ambassador through podbench's relay, haproxy (TCP mode) and socat; adapter (uds in, tcp out)
# through the relay; sidecar-logs (file in, tcp out) at a few append rates; adapters whose server
# side is a ring, a file or a FIFO pair (tcp→shm, uds→file, shm→fifo). Prints each run's
# "Hops" lines (podbench's own comparison) and the machine.
#
#   scripts/compare-patterns.sh [--cpu CLIENT,SERVER] [-- PODBENCH-OPTIONS...]
#
# Needs a release build (swift build -c release); installs haproxy and socat if missing.
# docs/patterns.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
cpu="client=0,server=1"
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r c s <<<"$2"; cpu="client=$c,server=$s"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (use --cpu C,S -- OPTIONS)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_hop_frame patterns "$cpu"
common=(--trials 5 --duration 300ms --warmup 300ms --cpu "$cpu" --no-calibrate --results-dir "$work/results")
echo "== ambassador: podbench relay (its own thread pair, 1 MiB buffers)"
podbench_hops --preset ambassador --sizes 64,1KiB,64KiB "$@"
echo "== ambassador: haproxy, TCP mode"
podbench_haproxy_config "$work/haproxy.cfg" 17101 17102
haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 & pids+=($!); haproxy_pid=$!
sleep 0.5
podbench_hops --preset ambassador --via tcp:127.0.0.1:17101 --via-target tcp:127.0.0.1:17102 --via-name haproxy --via-stats pid:"$haproxy_pid" --sizes 64,1KiB,64KiB "$@"
echo "== ambassador: socat"
socat TCP-LISTEN:17201,bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:17202 & pids+=($!)
sleep 0.5
podbench_hops --preset ambassador --via tcp:127.0.0.1:17201 --via-target tcp:127.0.0.1:17202 --via-name socat --sizes 64,1KiB,64KiB "$@"
echo "== adapter: podbench relay, uds in, tcp out"
podbench_hops --preset adapter --sizes 64,1KiB,64KiB "$@"
echo "== sidecar-logs: podbench relay following a file, tcp out, 256 B records"
podbench_hops --preset sidecar-logs --rates 1k,10k,50k --sizes 256 "$@"
echo "== adapters into the server's own channel (the relay opens the server's connection in a directory)"
echo "-- tcp in, shared-memory ring out"
podbench_hops --transports shm --via relay:tcp --sizes 64,64KiB "$@"
echo "-- uds in, file out"
podbench_hops --transports file --via relay:uds --sizes 64,64KiB "$@"
echo "-- ring in, FIFO out"
podbench_hops --transports fifo --via relay:shm --sizes 64,64KiB "$@"
