import Foundation
import Glibc
import PodBenchCore
import PodBenchRing
import PodBenchTransports
import Testing

@Suite("shm ring files")
struct SharedMemoryFileTests {
    static func path() -> String { "/dev/shm/podbench-test-\(UUID().uuidString.prefix(8)).ring" }

    /// Writes a file shaped like a ring file with the given header fields.
    static func write(
        _ path: String, magic: UInt64, version: UInt32, capacity: UInt64, size: Int, strategy: RingWaitStrategy? = nil
    ) throws {
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            if let code = strategy?.headerCode {
                raw.storeBytes(of: code.code.littleEndian, toByteOffset: RingLayout.strategyOffset, as: UInt32.self)
            }
            raw.storeBytes(of: magic.littleEndian, toByteOffset: RingLayout.magicOffset, as: UInt64.self)
            raw.storeBytes(of: version.littleEndian, toByteOffset: RingLayout.versionOffset, as: UInt32.self)
            raw.storeBytes(of: capacity.littleEndian, toByteOffset: RingLayout.capacityOffset, as: UInt64.self)
            raw.storeBytes(of: RingState.ready.rawValue, toByteOffset: RingLayout.stateOffset, as: UInt32.self)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test(
        "a file that is not a ring of this layout is refused with a clear message",
        arguments: [
            (RingLayout.magic ^ 1, RingLayout.version, 4096, "wrong magic"),
            (RingLayout.magic, RingLayout.version + 1, 4096, "ring layout version \(RingLayout.version + 1)"),
            (RingLayout.magic, RingLayout.version, 8192, "does not match its size"),
            (RingLayout.magic, RingLayout.version, 1000, "does not match its size"),
        ] as [(UInt64, UInt32, UInt64, String)])
    func refused(magic: UInt64, version: UInt32, capacity: UInt64, expected: String) throws {
        let path = Self.path()
        defer { unlink(path) }
        try Self.write(
            path, magic: magic, version: version, capacity: capacity, size: RingLayout.fileSize(capacity: 4096))
        #expect {
            try SharedMemoryTransport.connect(path: path, strategy: .futex, timeoutNanoseconds: 1_000_000_000)
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .protocolViolation && e!.message.contains(expected)
        }
    }

    @Test("the client adopts the server's wait strategy, or is refused one that disagrees on sleeping")
    func strategyRecorded() throws {
        for (server, client, works) in [
            (RingWaitStrategy.spin, RingWaitStrategy?.none, true), (.futex, nil, true),
            (.spinFutex(nanoseconds: 7_000), .futex, true), (.spin, .futex, false), (.futex, .spin, false),
        ] {
            let listener = try SharedMemoryTransport.listen(
                directory: "/dev/shm", name: "podbench-test-\(UUID().uuidString.prefix(8))", capacity: 4096,
                strategy: server)
            defer { listener.close() }
            if works {
                let channel = try SharedMemoryTransport.connect(
                    path: listener.path, strategy: client, timeoutNanoseconds: 1_000_000_000)
                #expect(channel.strategy == (client ?? server))
                channel.close()
            } else {
                #expect {
                    try SharedMemoryTransport.connect(
                        path: listener.path, strategy: client, timeoutNanoseconds: 1_000_000_000)
                } throws: { error in
                    let e = error as? PodBenchError
                    return e?.code == .invalidConfiguration && e!.message.contains("same --wait")
                }
            }
        }
        let path = Self.path()
        defer { unlink(path) }
        try Self.write(
            path, magic: RingLayout.magic, version: RingLayout.version, capacity: 4096,
            size: RingLayout.fileSize(capacity: 4096))
        #expect {
            try SharedMemoryTransport.connect(path: path, strategy: nil, timeoutNanoseconds: 1_000_000_000)
        } throws: { ($0 as? PodBenchError)?.message.contains("unknown wait strategy") == true }
    }

    @Test("a ring file whose server is gone (nobody holds its lock) is refused, not attached to")
    func orphanRefused() throws {
        let path = Self.path()
        defer { unlink(path) }
        try Self.write(
            path, magic: RingLayout.magic, version: RingLayout.version, capacity: 4096,
            size: RingLayout.fileSize(capacity: 4096), strategy: .futex)
        #expect {
            try SharedMemoryTransport.connect(path: path, strategy: nil, timeoutNanoseconds: 1_000_000_000)
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .peerClosed && e!.message.contains("server that is gone")
        }
    }

    @Test("a short file and a missing file are refused")
    func shortAndMissing() throws {
        let path = Self.path()
        defer { unlink(path) }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: path))
        #expect(throws: PodBenchError.self) {
            try SharedMemoryTransport.connect(path: path, strategy: .spin, timeoutNanoseconds: 1_000_000_000)
        }
        #expect {
            try SharedMemoryTransport.connect(path: path + ".gone", strategy: .spin, timeoutNanoseconds: 1_000_000_000)
        } throws: { ($0 as? PodBenchError)?.message.contains("same shared directory") == true }
    }

    @Test("the file's name is gone once the client attached; a closed peer is end of stream")
    func lifecycle() throws {
        let listener = try SharedMemoryTransport.listen(
            directory: "/dev/shm", name: "podbench-test-\(UUID().uuidString.prefix(8))", capacity: 4096,
            strategy: .futex)
        #expect(FileManager.default.fileExists(atPath: listener.path))
        let client = try SharedMemoryTransport.connect(
            path: listener.path, strategy: .futex, timeoutNanoseconds: 2_000_000_000)
        let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
        #expect(!FileManager.default.fileExists(atPath: listener.path))
        try ([1, 2, 3] as [UInt8]).withUnsafeBytes { try client.sendAll($0) }
        client.close()
        var buffer = [UInt8](repeating: 0, count: 16)
        // Data sent before the close still arrives; then the peer is gone.
        #expect(try buffer.withUnsafeMutableBytes { try server.receiveSome(into: $0) } == 3)
        #expect {
            try buffer.withUnsafeMutableBytes { try server.receiveSome(into: $0) }
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        server.close()
    }

    @Test("a client that never attaches times out and the file is removed")
    func neverAttached() throws {
        let listener = try SharedMemoryTransport.listen(
            directory: "/dev/shm", name: "podbench-test-\(UUID().uuidString.prefix(8))", capacity: 4096, strategy: .spin
        )
        #expect {
            try listener.accept(timeoutNanoseconds: 100_000_000)
        } throws: { ($0 as? PodBenchError)?.code == .timeout }
        #expect(!FileManager.default.fileExists(atPath: listener.path))
    }
}

@Suite("shm channel, a ring forged by a third party")
struct SharedMemoryForgeryTests {
    /// Maps the ring file at `path` as anyone who can open it could, and writes `header` as the
    /// first record header of ring `index` (0: client to server, 1: server to client).
    static func forge(path: String, ring index: Int, capacity: Int, header: UInt64) throws {
        let fd = open(path, O_RDWR)
        try #require(fd >= 0)
        defer { Glibc.close(fd) }
        let size = RingLayout.fileSize(capacity: capacity)
        let base = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        defer { munmap(base, size) }
        let ring = RingPointers(block: base + RingLayout.ringOffset(index, capacity: capacity), capacity: capacity)
        ring.data.storeBytes(of: header, as: UInt64.self)
    }

    @Test("a forged record length is an integrity failure naming the ring offset, on either side", arguments: [0, 1])
    func forgedLength(ring index: Int) throws {
        let name = "podbench-test-\(UUID().uuidString.prefix(8))"
        let listener = try SharedMemoryTransport.listen(
            directory: "/dev/shm", name: name, capacity: 4096, strategy: .spin)
        defer { listener.close() }
        let path = listener.path
        let client = try SharedMemoryTransport.connect(path: path, strategy: .spin, timeoutNanoseconds: 2_000_000_000)
        defer { client.close() }
        // Sequence 0 at position 0, the valid bit, and a length of 0xFFFFFFF0: a memcpy of 4 GiB.
        // (Before the server takes the connection: it then removes the file's name.)
        try Self.forge(path: path, ring: index, capacity: 4096, header: 1 << 63 | 0xFFFF_FFF0)
        let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
        defer { server.close() }
        let victim = index == 0 ? server : client
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect {
            _ = try buffer.withUnsafeMutableBytes { try victim.receiveSome(into: $0) }
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .integrityFailure && e!.message.contains("4294967280 bytes at ring offset 0")
        }
    }
}
