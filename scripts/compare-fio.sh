#!/usr/bin/env bash
# podbench's `file` transport against Debian's fio, on the same machine, same pinning, in one run,
# alternating rounds so that drift hits both:
#   - tmpfs, no fsync: podbench `file` stream at 64 KiB records (writer appends, reader follows and
#     checks) against fio writing 64 KiB blocks sequentially to a new file on the same tmpfs, both
#     as a log writer appends (--fallocate=none) and as fio does by default (file preallocated);
#   - disk, fsync after each record: podbench `--file-fsync each` records/s against fio's
#     write+fsync rate (--fsync=1) with 64 KiB blocks appended to a new file in the same directory;
#     podbench with 1 GiB segments (no rotation during the measurement, like fio's one file) and
#     with the default 4 MiB segments (rotation and removal of read segments included).
#
#   scripts/compare-fio.sh [--cpu CLIENT,SERVER] [--rounds N] [--seconds S] [--tmpfs DIR] [--disk DIR]
#
# Needs a release build (swift build -c release); installs fio and python3 if missing.
# docs/benchmarks.md explains the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
client_cpu=0 server_cpu=1 rounds=5 seconds=2 tmpfs_parent=/dev/shm disk_parent=/var/tmp
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu) IFS=, read -r client_cpu server_cpu <<<"$2"; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --tmpfs) tmpfs_parent=$2; shift 2 ;;
    --disk) disk_parent=$2; shift 2 ;;
    *) echo "unknown option $1 (use --cpu C,S --rounds N --seconds S --tmpfs DIR --disk DIR)" >&2; exit 2 ;;
  esac
done
source scripts/setup.sh
podbench_setup fio python3
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
fs_of() { stat -f -c %T "$1"; }
tmpfs=$(mktemp -d "$tmpfs_parent/podbench-fio-XXXXXX")
disk=$(mktemp -d "$disk_parent/podbench-fio-XXXXXX")
work=$(mktemp -d /tmp/podbench-fio-work-XXXXXX)
trap 'rm -rf "$tmpfs" "$disk" "$work"' EXIT

fio_run() {  # $1 directory, then fio options; prints "GB/s records/s" of the write phase
  local dir=$1; shift
  taskset -c "$client_cpu" fio --name=podbench-peer --directory="$dir" --rw=write --bs=64k --ioengine=psync \
    --unlink=1 --output-format=json "$@" >"$work/fio.json" 2>"$work/fio.err" \
    || { echo "fio failed:" >&2; cat "$work/fio.err" >&2; exit 1; }
  python3 -c 'import json,sys; w=json.load(open(sys.argv[1]))["jobs"][0]["write"]; print(w["bw_bytes"]/1e9, w["iops"])' \
    "$work/fio.json"
}

podbench_file() {  # $1 shared dir, then podbench options; prints "GB/s records/s", median of trials
  local dir=$1; shift
  rm -rf "$work/results"
  "$bin" run --transports file --workloads stream --sizes 64KiB --trials 5 \
    --duration "$(python3 -c "print($seconds/5)")s" --warmup 300ms --cpu "client=$client_cpu,server=$server_cpu" \
    --no-calibrate --shared-dir "$dir" --results-dir "$work/results" "$@" >/dev/null 2>"$work/podbench.err" \
    || { cat "$work/podbench.err" >&2; exit 1; }
  python3 - "$work"/results/*.json <<'PY'
import json, statistics, sys
case = json.load(open(sys.argv[1]))["cases"][0]
if case["status"] != "ok":
    sys.exit(f"podbench case {case['status']}: {case.get('error')}")
t = case["trials"]
print(statistics.median(x["bytesPerSecond"] for x in t) / 1e9, statistics.median(x["messagesPerSecond"] for x in t))
PY
}

echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; pinning client=$client_cpu server=$server_cpu"
echo "tmpfs: $tmpfs ($(fs_of "$tmpfs")); disk: $disk ($(fs_of "$disk")); fio $(fio --version)"
printf '%-6s %16s %16s %16s | %16s %16s %16s\n' round "fio append GB/s" "fio prealloc" "podbench GB/s" "fio wr+fsync/s" "podbench 1GiB/s" "podbench 4MiB/s"
: >"$work/rows"
for r in $(seq 1 "$rounds"); do
  read -r a _ < <(fio_run "$tmpfs" --size=2G --fallocate=none)
  read -r b _ < <(fio_run "$tmpfs" --size=2G)
  read -r c _ < <(podbench_file "$tmpfs")
  read -r _ d < <(fio_run "$disk" --size=16G --fallocate=none --fsync=1 --runtime="$seconds")
  read -r _ e < <(podbench_file "$disk" --file-fsync each --file-segment 1GiB)
  read -r _ f < <(podbench_file "$disk" --file-fsync each)
  printf '%-6s %16.2f %16.2f %16.2f | %16.0f %16.0f %16.0f\n' "$r" "$a" "$b" "$c" "$d" "$e" "$f"
  echo "$a $b $c $d $e $f" >>"$work/rows"
done
python3 - "$work/rows" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
m = [statistics.median(c) for c in zip(*rows)]
print(f"{'median':<6} {m[0]:16.2f} {m[1]:16.2f} {m[2]:16.2f} | {m[3]:16.0f} {m[4]:16.0f} {m[5]:16.0f}")
print(f"tmpfs, no fsync: podbench/fio append {m[2]/m[0]:.2f}, podbench/fio preallocated {m[2]/m[1]:.2f} (goal: at least 0.30)")
print(f"disk, fsync each record: podbench/fio {m[4]/m[3]:.2f} with 1 GiB segments (goal: 0.80 to 1.20), {m[5]/m[3]:.2f} with rotation every 4 MiB")
# The disk's own rate swings between neighbouring seconds on a VM: the ratio within each round
# (measured seconds apart) is steadier than the ratio of the medians.
r = sorted(row[4] / row[3] for row in rows)
print(f"disk, per-round podbench/fio (1 GiB segments): median {statistics.median(r):.2f}, range {r[0]:.2f} to {r[-1]:.2f}")
PY
