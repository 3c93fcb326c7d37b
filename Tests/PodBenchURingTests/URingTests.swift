import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import PodBenchURing
import Testing

@Suite("io_uring socket channel")
struct URingTests {
    /// Two connected Unix stream sockets, each end driven through its own ring.
    static func pair(batch: Int, setup: URingSetupMode = .standard) throws -> (URingSocketChannel, URingSocketChannel) {
        let (a, b) = try socketPair()
        return (
            try URingSocketChannel(
                descriptor: a.descriptor, uring: try URing(entries: batch + 8, setup: setup), batch: batch,
                timeoutNanoseconds: 5_000_000_000),
            try URingSocketChannel(
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

extension URingTests {
    @Test(
        "batched sends arrive complete and in order, small, slot-sized and larger than a slot", arguments: [1, 3, 16])
    func ordering(batch: Int) throws {
        let (a, b) = try Self.pair(batch: batch)
        defer {
            a.close()
            b.close()
        }
        let sizes = [1, 100, 1000, URingSocketChannel.slotBytes, URingSocketChannel.slotBytes + 1, 7, 300_000, 64]
        var bytes: [UInt8] = []
        for (n, size) in sizes.enumerated() { bytes += (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ n) } }
        let expected = bytes
        let sender = Background {
            var offset = 0
            for _ in 0..<3 {
                offset = 0
                for size in sizes {
                    try expected[offset..<(offset + size)].withUnsafeBytes { try a.sendAll($0) }
                    offset += size
                }
            }
            try a.flush()
        }
        for round in 0..<3 {
            #expect(try Self.readExactly(b, expected.count) == expected, "round \(round)")
        }
        try sender.wait()
    }

    @Test("a closed peer is end of stream; a silent one is a timeout")
    func peerEnds() throws {
        let (a, b) = try Self.pair(batch: 4)
        defer { a.close() }
        b.close()
        #expect {
            try Self.readExactly(a, 1)
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        let (c, d) = try socketPair()
        defer { d.close() }
        let quiet = try URingSocketChannel(
            descriptor: c.descriptor, uring: try URing(entries: 8, setup: .standard), batch: 1,
            timeoutNanoseconds: 200_000_000)
        defer { quiet.close() }
        let started = MonotonicClock.now()
        #expect {
            try Self.readExactly(quiet, 1)
        } throws: { ($0 as? PodBenchError)?.code == .timeout }
        #expect(MonotonicClock.now() - started < 3_000_000_000)
    }

    @Test("every ring setup this kernel offers carries a round trip", arguments: URingSetupMode.allCases)
    func setups(setup: URingSetupMode) throws {
        guard (try? URing(entries: 8, setup: setup)) != nil else { return }  // refused here: probe says why
        let (x, y) = try socketPair()
        let descriptor = y.descriptor
        // defer-taskrun rings are single-issuer: each side makes its ring on the thread that uses it.
        let echo = Background {
            let b = try URingSocketChannel(
                descriptor: descriptor, uring: try URing(entries: 8, setup: setup), batch: 2,
                timeoutNanoseconds: 5_000_000_000)
            defer { b.close() }
            let got = try Self.readExactly(b, 200)
            try got.withUnsafeBytes { try b.sendAll($0) }
            try b.flush()
        }
        let a = try URingSocketChannel(
            descriptor: x.descriptor, uring: try URing(entries: 8, setup: setup), batch: 2,
            timeoutNanoseconds: 5_000_000_000)
        defer { a.close() }
        let message = (0..<200).map { UInt8($0) }
        try message.withUnsafeBytes { try a.sendAll($0) }
        #expect(try Self.readExactly(a, 200) == message)
        try echo.wait()
    }

    @Test("a refusal names its cause")
    func refusalReasons() {
        #expect(HostEnvironment.explainIOURingRefusal(.noFunction, disabledSysctl: 0).reason.contains("seccomp"))
        #expect(HostEnvironment.explainIOURingRefusal(.notPermitted, disabledSysctl: nil).reason.contains("EPERM"))
        #expect(
            HostEnvironment.explainIOURingRefusal(.notPermitted, disabledSysctl: 2).reason.contains(
                "kernel.io_uring_disabled is 2"))
        #expect(
            HostEnvironment.explainIOURingRefusal(.notPermitted, disabledSysctl: 1).reason.contains("io_uring_group"))
        #expect(throws: PodBenchError.self) { try URingSetupMode(parsing: "iopoll") }
    }
}

extension URingTests {
    @Test(
        "the file log through io_uring: records across rotations, each fsync mode",
        arguments: [FileSyncMode.none, .each, .every(2)])
    func fileLog(sync: FileSyncMode) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let io = URingFileIO(uring: try URing(entries: 8, setup: .standard), timeoutNanoseconds: 2_000_000_000)
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 500, sync: sync, timeoutNanoseconds: 2_000_000_000, io: io)
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000, io: io)
        defer {
            writer.close()
            reader.close()
        }
        for n in 0..<20 {
            let bytes = FileLogFixture.body(n, count: 100 + n * 13)
            try bytes.withUnsafeBytes { try writer.append($0) }
            #expect(try FileLogFixture.read(reader, count: bytes.count, chunk: 64) == bytes)
        }
        #expect(writer.segmentIndex > 3)
        try writer.finish()
        #expect {
            try FileLogFixture.read(reader, count: 1, chunk: 1)
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
    }
}
