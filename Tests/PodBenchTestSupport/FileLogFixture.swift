import Foundation
import PodBenchTransports

/// Record logs for the tests of the file transport, plain and through io_uring.
public enum FileLogFixture {
    /// A fresh direction directory (lock file and segment 0) under a fresh parent.
    public static func direction(in parent: String = NSTemporaryDirectory()) throws -> String {
        let base = parent + "/podbench-filelog-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        try FileLogLayout.create(base + "/d")
        return base + "/d"
    }

    public static func remove(_ direction: String) {
        try? FileManager.default.removeItem(atPath: (direction as NSString).deletingLastPathComponent)
    }

    /// Deterministic body bytes of record `n`, `count` long.
    public static func body(_ n: Int, count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ n &* 7 &+ 1) }
    }

    public static func segments(in direction: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: direction)) ?? []).filter { $0.hasSuffix(".log") }
            .sorted()
    }

    /// Reads exactly `count` body bytes, `chunk` at most per call.
    public static func read(_ reader: FileLogReader, count: Int, chunk: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: chunk)
        while out.count < count {
            let want = min(chunk, count - out.count)
            let n = try piece.withUnsafeMutableBytes {
                try reader.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]))
            }
            out += piece[0..<n]
        }
        return out
    }
}
