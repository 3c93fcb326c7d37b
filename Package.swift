// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "podbench",
    products: [
        .executable(name: "podbench", targets: ["podbench"]),
        // For Benchmarks/ and Fuzz/ (packages of their own): the hot paths, measured in process, and
        // the decoders. Not the launchers, which they do not use (nor build swift-subprocess for).
        .library(
            name: "PodBenchLibrary",
            targets: [
                "PodBenchCore", "PodBenchRing", "PodBenchTransports", "PodBenchURing", "PodBenchResults",
                "PodBenchHarness", "PodBenchReport",
            ]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
    ],
    targets: [
        .target(
            name: "CPodBenchLinux",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(
            name: "PodBenchCore",
            dependencies: [
                "CPodBenchLinux",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "PodBenchRing",
            dependencies: ["CPodBenchLinux", "PodBenchCore"]
        ),
        .target(
            name: "PodBenchTransports",
            dependencies: [
                "CPodBenchLinux",
                "PodBenchCore",
                "PodBenchRing",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // liburing, from Debian's liburing-dev (scripts/setup.sh installs it), linked statically:
        // see its module map.
        .systemLibrary(name: "CLibURing", providers: [.apt(["liburing-dev"])]),
        // A narrow C face of liburing (see its header for why Swift does not import liburing).
        .target(
            name: "CPodBenchURing", dependencies: ["CLibURing"],
            // liburing's archive, not its shared library: see CLibURing's module map.
            linkerSettings: [.linkedLibrary(":liburing.a")]),
        .target(
            name: "PodBenchURing",
            dependencies: [
                "CPodBenchURing",
                "PodBenchCore",
                "PodBenchTransports",
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        .target(
            name: "PodBenchResults",
            dependencies: [
                "PodBenchCore",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "PodBenchReport",
            dependencies: [
                "PodBenchCore", "PodBenchResults", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .target(
            name: "PodBenchHarness",
            dependencies: [
                "CPodBenchLinux",
                "PodBenchCore",
                "PodBenchRing",
                "PodBenchTransports",
                "PodBenchURing",
                "PodBenchResults",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Launching: processes, podman, pods, the container image, the server as a child.
        .target(
            name: "PodBenchLaunch",
            dependencies: [
                "CPodBenchLinux",
                "PodBenchCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .executableTarget(
            name: "podbench",
            dependencies: [
                "CPodBenchLinux",
                "PodBenchCore",
                "PodBenchHarness",
                "PodBenchLaunch",
                "PodBenchReport",
                "PodBenchResults",
                "PodBenchRing",
                "PodBenchTransports",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers shared by the test targets (socket pairs, threads, record logs); only tests use it.
        .target(
            name: "PodBenchTestSupport",
            dependencies: [
                "PodBenchCore", "PodBenchTransports", .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/PodBenchTestSupport"),
        .testTarget(name: "PodBenchCoreTests", dependencies: ["PodBenchCore"]),
        .testTarget(name: "PodBenchRingTests", dependencies: ["PodBenchRing", "PodBenchCore"]),
        .testTarget(
            name: "PodBenchTransportsTests",
            dependencies: [
                "PodBenchTransports", "PodBenchCore", "PodBenchTestSupport", "CPodBenchLinux",
                .product(name: "SystemPackage", package: "swift-system"),
            ]),
        .testTarget(
            name: "PodBenchURingTests",
            dependencies: ["PodBenchURing", "PodBenchTransports", "PodBenchCore", "PodBenchTestSupport"]),
        .testTarget(
            name: "PodBenchResultsTests",
            dependencies: [
                "PodBenchResults", "PodBenchCore", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "PodBenchReportTests", dependencies: ["PodBenchReport", "PodBenchResults", "PodBenchCore"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "PodBenchHarnessTests",
            dependencies: [
                "PodBenchHarness", "PodBenchTransports", "PodBenchCore", "PodBenchResults",
                "PodBenchRing", "PodBenchTestSupport", .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        .testTarget(name: "PodBenchLaunchTests", dependencies: ["PodBenchLaunch", "PodBenchCore"]),
        .testTarget(name: "PodBenchEndToEndTests", dependencies: ["PodBenchResults", "PodBenchCore"]),
        // The command line as a unit: options into the plan and into the container's arguments.
        .testTarget(name: "podbenchTests", dependencies: ["podbench", "PodBenchCore", "PodBenchHarness"]),
    ],
    swiftLanguageModes: [.v6]
)
