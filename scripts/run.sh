#!/usr/bin/env bash
# The quick start: install what is missing, build a release binary, run `podbench run` with the
# default matrix (about a minute). Arguments go to `podbench run`, e.g. --cpu client=0,server=1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup
swift build -c release --product podbench >&2
exec .build/release/podbench run "$@"
