#!/usr/bin/env bash
# The test command: install what is missing, check formatting, build, and run every test
# (unit tests, end-to-end tests of the built binary as two processes, the zero-allocation check of
# the hot loops, a bounded fuzzing run, and the suite under TSan and ASan). Fails when a test fails.
#
#   scripts/test.sh           everything (CI runs this)
#   scripts/test.sh --quick   the edit-test loop: formatting, imports, build, unit tests and the
#                             end-to-end tests of one machine (no podman pods, no pattern hops, no
#                             allocation gate, simulation, fuzzing or sanitizers): a few minutes
set -euo pipefail
quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    *) echo "test.sh: unknown option '$arg' (use --quick, or nothing for every test)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
# Each stage says when it starts (minutes since the command began), so a slow stage is named.
started=$SECONDS
stage() { printf 'test.sh: [%d:%02d] %s\n' $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)) "$1" >&2; }
stage "installing what is missing"
source scripts/setup.sh
podbench_setup python3 python3-jsonschema python3-yaml python3-pip librsvg2-bin chromium podman buildah runc haproxy socat nginx-light \
  stress-ng wrk nghttp2-client libnginx-mod-stream
# The report's page is checked in Debian's headless chromium (scripts/check-page.py). The container
# tests (two real containers of one pod, the Kubernetes manifest under podman kube play) fail
# instead of skipping when podman is missing; the pattern tests put haproxy, socat and nginx
# (started on loopback by the tests) between the sides, and wrk and h2load are held against
# podbench's HTTP server; the fleet test puts stress-ng on two
# nodes' server CPU.
export PODBENCH_REQUIRE_TOOLS=1
stage "formatting and imports"
swift format lint --strict --recursive Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/HotPaths Benchmarks/Tools/GateSimulation Fuzz/Package.swift Fuzz/FuzzSupport Fuzz/ControlFrames Fuzz/RingRecords Fuzz/FileRecords Fuzz/ResultsFiles Fuzz/HTTPMessages Fuzz/HTTP2Frames \
  Comparisons/NIOHTTP1/Package.swift Comparisons/NIOHTTP1/Sources Comparisons/NIOHPACK/Package.swift Comparisons/NIOHPACK/Sources
# Every import declared in Package.swift (SwiftPM would let an undeclared one through).
for package in . Benchmarks Fuzz Comparisons/NIOHTTP1 Comparisons/NIOHPACK; do python3 scripts/check-imports.py "$package"; done
# Every script parses before any stage needs it: a quote broken in a late stage's script (the
# allocation gate's awk, 2026-12-03) otherwise shows only after half an hour of CI.
for script in scripts/*.sh .ci/run; do bash -n "$script"; done
for script in scripts/*.py; do python3 -m py_compile "$script"; done
# The manifests against the Kubernetes API schema and Pod Security, offline (kubernetes-validate).
stage "Kubernetes manifests"
bash scripts/check-manifests.sh
stage "debug build"
swift build --build-tests
if [ "$quick" = 1 ]; then
  stage "unit and one-machine end-to-end tests"
  PODBENCH_BIN="$(swift build --show-bin-path)/podbench" swift test --skip-build \
    --skip ContainerEndToEndTests --skip PatternEndToEndTests
  stage "passed"
  echo "test.sh --quick: passed (the full command also runs podman pods, patterns, the gates, fuzzing, sanitizers)"
  exit 0
fi
stage "unit and end-to-end tests"
PODBENCH_BIN="$(swift build --show-bin-path)/podbench" swift test --skip-build
# The measured loops allocate nothing: package-benchmark's malloc counters, deterministic.
stage "zero-allocation gate (release build of Benchmarks)"
bash scripts/check-allocations.sh
# The gate's statistical test: ab and compare on figures drawn from the noise model fitted to real
# runs (seeded, deterministic); fails when A/A suites call regressions or reachable slowdowns are
# missed (docs/ci.md quotes its tables).
stage "the gate's simulation"
(cd Benchmarks && swift run -c release GateSimulation --check)
# The decoders of untrusted input under libFuzzer, bounded, from the committed corpus.
stage "fuzzing"
bash scripts/fuzz.sh 20
# Everything again under the thread and the address sanitizers.
stage "sanitizers"
bash scripts/sanitizers.sh
stage "passed"
