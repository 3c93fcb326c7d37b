// swift-tools-version:6.1
// The measurement issue #22 asks for: the http1 client's parsing and framing done by SwiftNIO's
// NIOHTTP1 (HTTPRequestEncoder, HTTPResponseDecoder, in an EmbeddedChannel) against podbench's own
// parser, in the same blocking loop over the same socket to the same server. A package of its
// own so that podbench and its tests never build SwiftNIO; scripts/compare-nio.sh runs it in
// release beside `podbench http-load`. docs/design-notes.md has the figures.
import PackageDescription

let package = Package(
    name: "podbench-nio-comparison",
    dependencies: [
        .package(name: "podbench", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .executableTarget(
            name: "NIOLoad",
            dependencies: [
                .product(name: "PodBenchLibrary", package: "podbench"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
