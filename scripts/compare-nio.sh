#!/usr/bin/env bash
# The parser measurement of #22: podbench's HTTP/1.1 client loop (`podbench http-load`) against the
# same loop with SwiftNIO's NIOHTTP1 encoding the requests and decoding the responses
# (Comparisons/NIOHTTP1), both against one nginx serving a file, same pinning, alternating rounds.
#
#   scripts/compare-nio.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S] [--size BYTES]
#
# Builds both in release (SwiftNIO's first build takes minutes); installs nginx-light if missing.
# Prints the floors before and after, each round, the medians and podbench/NIO ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_http_frame nio "$@"
(cd Comparisons/NIOHTTP1 && swift build -c release >&2)
nio=Comparisons/NIOHTTP1/.build/release/NIOLoad
port=$nginx_port
floors() { podbench_http_floors; }
figures() {  # stdin: one JSON object; prints "requests/s p50-µs cpu-µs"
  python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["requestsPerSecond"], r["latency"]["p50"]/1000, r["cpuNanosecondsPerRequest"]/1000)'
}
echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs;" \
  "pinning client=$client_cpu server=$server_cpu; $(nginx -v 2>&1 | cut -d' ' -f3); $size-byte file, $seconds s a round; $(date -u +%FT%TZ)"
echo "floors before:"; floors
printf '%-6s %12s %10s %10s   %12s %10s %10s\n' round "podbench" "" "" "NIOHTTP1" "" ""
printf '%-6s %12s %10s %10s   %12s %10s %10s\n' "" "req/s" "p50 µs" "cpu µs" "req/s" "p50 µs" "cpu µs"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  read -r a b c < <("$bin" http-load --target "tcp:127.0.0.1:$port" --path /body --duration "${seconds}s" --warmup 0s \
    --cpu "$client_cpu" --json | figures)
  read -r d e f < <("$nio" --target "tcp:127.0.0.1:$port" --path /body --seconds "$seconds" --cpu "$client_cpu" | figures)
  printf '%-6s %12.0f %10.1f %10.2f   %12.0f %10.1f %10.2f\n' "$r" "$a" "$b" "$c" "$d" "$e" "$f"
  echo "$a $b $c $d $e $f" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
m = [statistics.median(c) for c in zip(*rows)]
print(f"{'median':<6} {m[0]:12.0f} {m[1]:10.1f} {m[2]:10.2f}   {m[3]:12.0f} {m[4]:10.1f} {m[5]:10.2f}")
print(f"NIOHTTP1/podbench: requests/s {m[3]/m[0]:.3f}, p50 {m[4]/m[1]:.3f}, client CPU per request {m[5]/m[2]:.3f}")
PY
echo "floors after:"; floors
