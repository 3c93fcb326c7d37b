#!/usr/bin/env bash
# podbench's HTTP/2 client against h2load (Debian's nghttp2-client), both driving one h2c
# connection to the same nginx serving a file, at 1 and at 16 streams, with the same pinning, in
# one run, alternating rounds so that drift hits both.
#
#   scripts/compare-h2.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S] [--size BYTES]
#
# Needs a release build (built if missing); installs h2load and nginx-light if missing. Prints the
# floors (podbench calibrate) before and after, one line per round, the medians and the ratios the
# goal is stated in (docs/http.md, docs/benchmarks.md): podbench's requests/s and p50 within 15% of
# h2load's at 1 and at 16 streams. Each round also runs h2load against `podbench http-serve
# --protocol h2c` (on the server CPU, a --size body): podbench's HTTP/2 server beside nginx's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_http_frame h2 "$@"
podbench_wait_listening "$h2_port" "${pids[-1]}" || { echo "nginx's h2c port did not open:" >&2; cat "$work/nginx.log" >&2; exit 1; }
# podbench's own HTTP/2 server on the server CPU too, for h2load against it (a column of its own).
serve_port=$((h2_port + 1))
taskset -c "$server_cpu" "$bin" http-serve --protocol h2c --listen "tcp:127.0.0.1:$serve_port" --body-size "$size" \
  --quiet >"$work/serve.log" 2>&1 &
pids+=($!)
podbench_wait_listening "$serve_port" "${pids[-1]}" || { echo "http-serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

h2load_figures() {  # $1 streams [$2 port]; prints "requests/s mean-µs"
  taskset -c "$client_cpu" h2load -c1 -t1 -m"$1" -D "$seconds" --warm-up-time=1 "http://127.0.0.1:${2:-$h2_port}/body" \
    >"$work/h2load.txt" 2>&1 || true
  python3 - "$work/h2load.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", text)
ok = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, 0 failed, 0 errored", text)
codes = re.search(r"status codes: (\d+) 2xx, 0 3xx, 0 4xx, 0 5xx", text)
# h2load gives min, max, mean, sd of the time for request; no median: the mean stands for it.
mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)\s", text)
if not rps or not ok or not codes or not mean:
    sys.exit("h2load failed or saw errors:\n" + text)
scale = {"us": 1, "ms": 1e3, "s": 1e6}[mean.group(2)]
print(rps.group(1), float(mean.group(1)) * scale)
PY
}

podbench_figures() {  # $1 streams; prints "requests/s mean-µs"
  "$bin" http2-load --target "tcp:127.0.0.1:$h2_port" --path /body --streams "$1" --duration "${seconds}s" \
    --warmup 1s --expect-length "$size" --cpu "$client_cpu" --json >"$work/load.json" 2>"$work/load.err" ||
    { cat "$work/load.err" >&2; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["requestsPerSecond"], r["latency"]["mean"]/1000, r["latency"]["p50"]/1000)' \
    "$work/load.json"
}

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs;" \
  "pinning client=$client_cpu server=$server_cpu; $(nginx -v 2>&1 | cut -d' ' -f3); h2load $(dpkg-query -W -f='${Version}' nghttp2-client);" \
  "$size-byte file over h2c, $seconds s a measurement after 1 s of warm-up; $(date -u +%FT%TZ)"
echo "floors before:"; podbench_http_floors
printf '%-6s %8s %12s %10s %12s %10s %10s %12s %10s\n' round streams "h2load" "" "podbench" "" "" "h2load→serve" ""
printf '%-6s %8s %12s %10s %12s %10s %10s %12s %10s\n' "" "" "req/s" "mean µs" "req/s" "mean µs" "p50 µs" "req/s" "mean µs"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  for m in 1 16; do
    read -r a b < <(h2load_figures "$m")
    read -r c d e < <(podbench_figures "$m")
    read -r f g < <(h2load_figures "$m" "$serve_port")
    printf '%-6s %8s %12.0f %10.1f %12.0f %10.1f %10.1f %12.0f %10.1f\n' "$r" "$m" "$a" "$b" "$c" "$d" "$e" "$f" "$g"
    echo "$m $a $b $c $d $e $f $g" >>"$work/rows"
  done
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
for m in (1, 16):
    mine = [r[1:] for r in rows if r[0] == m]
    med = [statistics.median(c) for c in zip(*mine)]
    rr = [r[2] / r[0] for r in mine]
    rl = [r[3] / r[1] for r in mine]
    print(f"median {m:>2} streams: h2load {med[0]:.0f} req/s, mean {med[1]:.1f} µs; podbench {med[2]:.0f} req/s,"
          f" mean {med[3]:.1f} µs, p50 {med[4]:.1f} µs")
    print(f"  podbench/h2load: requests/s {med[2]/med[0]:.3f} (per round {min(rr):.3f}–{max(rr):.3f}),"
          f" mean latency {med[3]/med[1]:.3f} (per round {min(rl):.3f}–{max(rl):.3f}); within 15% is the goal")
    print(f"  the same, median of the per-round ratios: requests/s {statistics.median(rr):.3f},"
          f" mean latency {statistics.median(rl):.3f}")
    print(f"  h2load against http-serve --protocol h2c: {med[5]:.0f} req/s, mean {med[6]:.1f} µs"
          f" ({med[5]/med[0]:.3f}x nginx's requests/s)")
PY
echo "floors after:"; podbench_http_floors
