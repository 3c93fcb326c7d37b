#!/usr/bin/env bash
# The HTTP/2 half of #22's library measurement: nginx's response header block decoded by
# podbench's HPACK decoder and by SwiftNIO's NIOHPACK (Comparisons/NIOHPACK), in one process,
# alternating rounds, pinned to one CPU. Builds the comparison in release (SwiftNIO's first build
# takes minutes) and podbench if missing; prints the floors before and after and the medians.
#
#   scripts/compare-hpack.sh [--rounds N] [--blocks N] [--cpu C]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup
bin=.build/release/podbench
[ -x "$bin" ] || swift build -c release --product podbench >&2
(cd Comparisons/NIOHPACK && swift build -c release >&2)
echo "machine: $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; $(date -u +%FT%TZ)"
echo "floors before:"; podbench_http_floors
Comparisons/NIOHPACK/.build/release/HPACKDecode --cpu 0 "$@"
echo "floors after:"; podbench_http_floors
