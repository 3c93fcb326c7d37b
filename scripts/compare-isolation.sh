#!/usr/bin/env bash
# The same small matrix with the two sides as two processes (--isolation process) and as two
# containers of one podman pod (--isolation podman), alternating which goes first in each round,
# so that users see what containers cost on each channel. Prints, per transport: pingpong p50 at
# 64 B and stream messages/s at 64 KiB for each isolation, and the median of the per-round ratios.
#
#   scripts/compare-isolation.sh [--cpu CLIENT,SERVER] [--rounds N] [--transports LIST] [-- PODBENCH-OPTIONS...]
#
# Needs a release build (swift build -c release) and podman (installs podman, runc and python3 if
# missing). docs/kubernetes.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
client_cpu=0 server_cpu=1 rounds=4 transports=tcp,uds,shm,file,uring-tcp
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --transports) transports=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (use --cpu C,S --rounds N --transports LIST -- OPTIONS)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup python3 podman runc
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
work=$(mktemp -d /tmp/podbench-isolation-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; pinning client=$client_cpu server=$server_cpu; $rounds rounds; extra options: ${*:-none}"
for r in $(seq 1 "$rounds"); do
  order="process podman"; [ $((r % 2)) -eq 0 ] && order="podman process"
  for isolation in $order; do
    mkdir -p "$work/$r/$isolation"
    for workload in pingpong:64 stream:64KiB; do
      "$bin" run --isolation "$isolation" --transports "$transports" --workloads "${workload%%:*}" \
        --sizes "${workload#*:}" --trials 5 --duration 300ms --warmup 300ms \
        --cpu "client=$client_cpu,server=$server_cpu" --no-calibrate \
        --results-dir "$work/$r/$isolation/${workload%%:*}" "$@" >/dev/null 2>"$work/podbench.err" \
        || { cat "$work/podbench.err" >&2; exit 1; }
    done
  done
done
python3 - "$work" "$rounds" <<'PY'
import glob, json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
def figures(r, isolation, workload):
    out = {}
    for path in glob.glob(f"{work}/{r}/{isolation}/{workload}/*.json"):
        run = json.load(open(path))
        for case in run["cases"]:
            if case["status"] != "ok":
                out[case["key"]["transport"]] = None
                continue
            pick = (lambda t: t["latencySummary"]["p50"] / 1000) if workload == "pingpong" else (lambda t: t["messagesPerSecond"])
            out[case["key"]["transport"]] = statistics.median(pick(t) for t in case["trials"])
        topology = run["environment"]["sharedNamespaces"], run["environment"]["separateNamespaces"]
    return out
print(f"{'transport':<10} {'pingpong 64 B p50 µs':>34} {'ratio':>6} | {'stream 64 KiB msg/s':>30} {'ratio':>6}")
print(f"{'':<10} {'process':>16} {'podman':>17} {'':>6} | {'process':>14} {'podman':>15}")
transports = sorted(figures(1, "process", "pingpong"))
for t in transports:
    row = []
    for workload in ("pingpong", "stream"):
        a = [figures(r, "process", workload).get(t) for r in range(1, rounds + 1)]
        b = [figures(r, "podman", workload).get(t) for r in range(1, rounds + 1)]
        pairs = [(x, y) for x, y in zip(a, b) if x and y]
        if not pairs:
            row.append("unavailable"); continue
        ratio = statistics.median(y / x for x, y in pairs)
        fmt = (lambda v: f"{v:.2f}") if workload == "pingpong" else (lambda v: f"{v/1e3:.1f}k")
        span = lambda vs: f"{fmt(min(vs))}–{fmt(max(vs))}"
        row.append(f"{span([x for x, _ in pairs]):>16} {span([y for _, y in pairs]):>17} {ratio:>6.3f}")
    print(f"{t:<10} {row[0]} | {row[1]}")
PY
