#!/usr/bin/env bash
# podbench's HTTP/1.1 client against wrk (Debian's), both driving one keep-alive connection to the
# same nginx serving a file, with the same pinning, in one run, alternating rounds so that drift
# hits both; and wrk against `podbench http-serve`, the http1 workload's server, beside nginx.
#
#   scripts/compare-http.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S] [--size BYTES]
#
# Needs a release build (built if missing); installs wrk and nginx-light if missing. Prints the
# floors (podbench calibrate) before and after, one line per round, the medians and the ratios
# the goal is stated in (docs/http.md, docs/benchmarks.md): podbench's requests/s and p50 within
# 10% of wrk's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_http_frame http "$@"
serve_port=$((nginx_port + 1))
"$bin" http-serve --listen "tcp:127.0.0.1:$serve_port" --body-size "$size" --cpu "$server_cpu" --quiet >"$work/serve.log" 2>&1 &
pids+=($!)
podbench_wait_listening "$serve_port" "${pids[-1]}" || { echo "http-serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }

wrk_figures() {  # $1 port; prints "requests/s p50-µs"
  taskset -c "$client_cpu" wrk -t1 -c1 -d"${seconds}s" --latency "http://127.0.0.1:$1/body" >"$work/wrk.txt" 2>&1 || true
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
if not rps or not p50 or "Non-2xx" in text or "Socket errors" in text:
    sys.exit("wrk failed or saw errors:\n" + text)
scale = {"us": 1, "ms": 1e3, "s": 1e6}[p50.group(2)]
print(rps.group(1), float(p50.group(1)) * scale)
PY
}

podbench_figures() {  # $1 port; prints "requests/s p50-µs"
  "$bin" http-load --target "tcp:127.0.0.1:$1" --path /body --duration "${seconds}s" --warmup 0s \
    --expect-length "$size" --cpu "$client_cpu" --json >"$work/load.json" 2>"$work/load.err" ||
    { cat "$work/load.err" >&2; exit 1; }
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["requestsPerSecond"], r["latency"]["p50"]/1000)' \
    "$work/load.json"
}

floors() { podbench_http_floors; }

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs;" \
  "pinning client=$client_cpu server=$server_cpu; $(nginx -v 2>&1 | cut -d' ' -f3); wrk $(dpkg-query -W -f='${Version}' wrk);" \
  "$size-byte file, $seconds s a measurement; $(date -u +%FT%TZ)"
echo "floors before:"; floors
printf '%-6s %12s %10s %12s %10s   %12s %10s\n' round "wrk→nginx" "" "podbench→nginx" "" "wrk→http-serve" ""
printf '%-6s %12s %10s %12s %10s   %12s %10s\n' "" "req/s" "p50 µs" "req/s" "p50 µs" "req/s" "p50 µs"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  read -r a b < <(wrk_figures "$nginx_port")
  read -r c d < <(podbench_figures "$nginx_port")
  read -r e f < <(wrk_figures "$serve_port")
  printf '%-6s %12.0f %10.1f %12.0f %10.1f   %12.0f %10.1f\n' "$r" "$a" "$b" "$c" "$d" "$e" "$f"
  echo "$a $b $c $d $e $f" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
m = [statistics.median(c) for c in zip(*rows)]
print(f"{'median':<6} {m[0]:12.0f} {m[1]:10.1f} {m[2]:12.0f} {m[3]:10.1f}   {m[4]:12.0f} {m[5]:10.1f}")
ratios = [r[2] / r[0] for r in rows], [r[3] / r[1] for r in rows]
print(f"podbench/wrk against nginx: requests/s {m[2]/m[0]:.3f} (per round {min(ratios[0]):.3f}–{max(ratios[0]):.3f}),"
      f" p50 {m[3]/m[1]:.3f} (per round {min(ratios[1]):.3f}–{max(ratios[1]):.3f}); within 10% is the goal")
print(f"wrk against http-serve / against nginx: requests/s {m[4]/m[0]:.3f}, p50 {m[5]/m[1]:.3f}")
PY
echo "floors after:"; floors
