import Foundation
import Testing

extension EndToEnd {
    @Suite("what the binary needs at run time")
    struct LinkingEndToEndTests {
        /// The shared libraries the binary names (`readelf -d`: its NEEDED entries).
        static func neededLibraries(_ path: String) throws -> [String] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/readelf")
            p.arguments = ["-d", path]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            try #require(p.terminationStatus == 0)
            return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
                guard line.contains("(NEEDED)"), let open = line.firstIndex(of: "["),
                    let close = line.lastIndex(of: "]")
                else { return nil }
                return String(line[line.index(after: open)..<close])
            }
        }

        @Test(
            "liburing is linked in: no liburing among the binary's libraries, and compare runs",
            .safeSwiftOnOneThread("a property of the link of the binary users get"))
        func noLiburingAtRunTime() throws {
            let binary = try podbenchBinary()
            let needed = try Self.neededLibraries(binary)
            #expect(needed.contains { $0.hasPrefix("libc.so") }, "\(needed)")
            #expect(!needed.contains { $0.contains("uring") }, "\(needed)")
            let example = URL(fileURLWithPath: packageRoot).appendingPathComponent("results/example")
            let file = try #require(
                try FileManager.default.contentsOfDirectory(atPath: example.path).first { $0.hasSuffix(".json") })
            let path = example.appendingPathComponent(file).path
            let result = try BinaryProcess.run(["compare", path, path, "--on-inconclusive", "warn"])
            #expect(result.status == 0, "\(result.stderr)")
        }
    }
}
