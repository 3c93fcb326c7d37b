// swift-tools-version:6.1
// libFuzzer targets for podbench's decoders of untrusted input: control-protocol frames, ring
// records, file-transport segments and results files. Built and run by scripts/fuzz.sh (a package of its own: the fuzzer's flags must
// not reach podbench's own build).
import PackageDescription

let package = Package(
    name: "podbench-fuzz",
    dependencies: [.package(name: "podbench", path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "FuzzSupport"),
        .executableTarget(
            name: "ControlFrames",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "ControlFrames",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "FileRecords",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "FileRecords",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "RingRecords",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "RingRecords",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "HTTPMessages",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "HTTPMessages",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "HTTP2Frames",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "HTTP2Frames",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .executableTarget(
            name: "ResultsFiles",
            dependencies: ["FuzzSupport", .product(name: "PodBenchLibrary", package: "podbench")],
            path: "ResultsFiles",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
