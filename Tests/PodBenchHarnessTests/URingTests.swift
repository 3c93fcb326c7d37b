import Foundation
import Glibc
import PodBenchCore
import PodBenchHarness
import PodBenchTransports
import PodBenchURing
import Testing

@Suite("io_uring socket channel")
struct URingTests {
    /// Two connected Unix stream sockets, each end driven through its own ring.
    static func pair(batch: Int, setup: URingSetupMode = .standard) throws -> (URingSocketChannel, URingSocketChannel) {
        let (a, b) = try socketPair()
        return (
            URingSocketChannel(
                descriptor: a.descriptor, uring: try URing(entries: batch + 8, setup: setup), batch: batch,
                timeoutNanoseconds: 5_000_000_000),
            URingSocketChannel(
                descriptor: b.descriptor, uring: try URing(entries: batch + 8, setup: setup), batch: batch,
                timeoutNanoseconds: 5_000_000_000)
        )
    }

    static func readExactly(_ channel: URingSocketChannel, _ count: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            got += try out.withUnsafeMutableBytes {
                try channel.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...]))
            }
        }
        return out
    }

    @Test("a message goes there and back", arguments: [1, 16])
    func roundTrip(batch: Int) throws {
        let (a, b) = try Self.pair(batch: batch)
        defer {
            a.close()
            b.close()
        }
        let message = (0..<64).map { UInt8($0) }
        try message.withUnsafeBytes { try a.sendAll($0) }
        let echo = Background {
            let got = try Self.readExactly(b, 64)
            try got.withUnsafeBytes { try b.sendAll($0) }
            try b.flush()
        }
        #expect(try Self.readExactly(a, 64) == message)
        try echo.wait()
    }
}
