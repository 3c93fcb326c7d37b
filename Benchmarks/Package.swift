// swift-tools-version:6.1
// package-benchmark micro benchmarks of podbench's in-process hot paths, with malloc counters.
// A package of its own so that building and testing podbench does not build the benchmark
// framework. Run from this folder:
//   swift package benchmark                      # all figures
//   swift package benchmark thresholds check     # fails if a hot path allocates (Thresholds/)
import PackageDescription

let package = Package(
    name: "podbench-benchmarks",
    dependencies: [
        .package(name: "podbench", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        .executableTarget(
            name: "HotPaths",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "PodBenchLibrary", package: "podbench"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The gate's statistical test (scripts/test.sh runs it with --check; docs/ci.md quotes it).
        // Under Tools/: package-benchmark runs every executable whose folder sits in Benchmarks/.
        .executableTarget(
            name: "GateSimulation",
            dependencies: [.product(name: "PodBenchLibrary", package: "podbench")],
            path: "Tools/GateSimulation"
        ),
    ],
    swiftLanguageModes: [.v6]
)
