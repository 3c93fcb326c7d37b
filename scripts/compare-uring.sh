#!/usr/bin/env bash
# io_uring against plain sockets, in one podbench run per round (same machine, same pinning, the
# cases back to back), alternating the order of the pair between rounds so that drift hits both:
# pingpong at 64 B (p50 round trip) and stream at 1 KiB (messages/s), for tcp and uring-tcp.
#
#   scripts/compare-uring.sh [--cpu CLIENT,SERVER] [--rounds N] [--transports PLAIN,URING] [-- PODBENCH-OPTIONS...]
#
# e.g. scripts/compare-uring.sh --rounds 8 -- --uring-setup defer-taskrun
# Needs a release build (swift build -c release); installs python3 if missing. docs/benchmarks.md
# explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
client_cpu=0 server_cpu=1 rounds=6 plain=tcp uring=uring-tcp
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --transports) IFS=, read -r plain uring <<<"$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "unknown option $1 (use --cpu C,S --rounds N --transports PLAIN,URING -- OPTIONS)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup python3
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
work=$(mktemp -d /tmp/podbench-uring-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; pinning client=$client_cpu server=$server_cpu; extra options: ${*:-none}"
printf '%-6s %14s %14s %8s | %14s %14s %8s\n' round "$plain p50 µs" "$uring p50 µs" ratio "$plain msg/s" "$uring msg/s" ratio
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  order="$plain,$uring"; [ $((r % 2)) -eq 0 ] && order="$uring,$plain"
  rm -rf "$work/results"
  for workload in pingpong:64 stream:1KiB; do
    "$bin" run --transports "$order" --workloads "${workload%%:*}" --sizes "${workload#*:}" --trials 5 \
      --duration 300ms --warmup 300ms --cpu "client=$client_cpu,server=$server_cpu" --no-calibrate \
      --results-dir "$work/results/${workload%%:*}" "$@" >/dev/null 2>"$work/podbench.err" \
      || { cat "$work/podbench.err" >&2; exit 1; }
  done
  python3 - "$plain" "$uring" "$work"/results/pingpong/*.json "$work"/results/stream/*.json <<'PY' | tee -a "$work/rows"
import json, statistics, sys
plain, uring, ping, stream = sys.argv[1:5]
def figure(path, transport, pick):
    for case in json.load(open(path))["cases"]:
        if case["key"]["transport"] == transport:
            if case["status"] != "ok":
                sys.exit(f"{transport}: {case['status']}: {case.get('error')}")
            return statistics.median(pick(t) for t in case["trials"])
    sys.exit(f"no {transport} case in {path}")
a = figure(ping, plain, lambda t: t["latencySummary"]["p50"] / 1000)
b = figure(ping, uring, lambda t: t["latencySummary"]["p50"] / 1000)
c = figure(stream, plain, lambda t: t["messagesPerSecond"])
d = figure(stream, uring, lambda t: t["messagesPerSecond"])
print(a, b, c, d)
PY
done | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
for i, (a, b, c, d) in enumerate(rows, 1):
    print(f"{i:<6} {a:14.2f} {b:14.2f} {b/a:8.3f} | {c:14.0f} {d:14.0f} {d/c:8.2f}")
p = sorted(r[1] / r[0] for r in rows); s = sorted(r[3] / r[2] for r in rows)
print(f"pingpong 64 B p50, uring/plain per round: median {statistics.median(p):.3f} (range {p[0]:.3f} to {p[-1]:.3f}; goal at most 1.10)")
print(f"stream 1 KiB msg/s, uring/plain per round: median {statistics.median(s):.2f} (range {s[0]:.2f} to {s[-1]:.2f}; goal at least 1.2)")
'
