// swift-tools-version:6.1
// The HTTP/2 half of the measurement issue #22 asks for: decoding nginx's response header block
// with SwiftNIO's NIOHPACK (HPACKDecoder into HPACKHeaders) against podbench's own HPACK decoder,
// both then reading :status and content-length, in one process, alternating rounds. A package of
// its own so that podbench and its tests never build SwiftNIO; scripts/compare-hpack.sh runs it in
// release. docs/design-notes.md has the figures.
import PackageDescription

let package = Package(
    name: "podbench-hpack-comparison",
    dependencies: [
        .package(name: "podbench", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2", from: "1.46.0"),
    ],
    targets: [
        .executableTarget(
            name: "HPACKDecode",
            dependencies: [
                .product(name: "PodBenchLibrary", package: "podbench"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
