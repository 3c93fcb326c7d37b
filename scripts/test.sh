#!/usr/bin/env bash
# The test command: install what is missing, check formatting, build, and run every test
# (unit tests, end-to-end tests of the built binary as two processes, the zero-allocation check of
# the hot loops, a bounded fuzzing run, and the suite under TSan and ASan). Fails when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
podbench_setup python3 python3-jsonschema python3-yaml librsvg2-bin podman buildah runc haproxy socat
# The container tests (two real containers of one pod, the Kubernetes manifest under podman kube
# play) fail instead of skipping when podman is missing; the pattern tests put haproxy and socat
# (started on loopback by the tests) between the sides.
export PODBENCH_REQUIRE_TOOLS=1
swift format lint --strict --recursive Package.swift Sources Tests Benchmarks/Package.swift Benchmarks/HotPaths Benchmarks/Tools/GateSimulation Fuzz/Package.swift Fuzz/FuzzSupport Fuzz/ControlFrames Fuzz/RingRecords Fuzz/FileRecords Fuzz/ResultsFiles
swift build --build-tests
PODBENCH_BIN="$(swift build --show-bin-path)/podbench" swift test --skip-build
# The measured loops allocate nothing: package-benchmark's malloc counters, deterministic.
bash scripts/check-allocations.sh
# The gate's statistical test: ab and compare on figures drawn from the noise model fitted to real
# runs (seeded, deterministic); fails when A/A suites call regressions or reachable slowdowns are
# missed (docs/ci.md quotes its tables).
(cd Benchmarks && swift run -c release GateSimulation --check)
# The decoders of untrusted input under libFuzzer, bounded, from the committed corpus.
bash scripts/fuzz.sh 20
# Everything again under the thread and the address sanitizers.
bash scripts/sanitizers.sh
