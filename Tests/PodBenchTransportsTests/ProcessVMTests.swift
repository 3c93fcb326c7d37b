import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

/// `process-vm`: each message copied out of the sender's memory with process_vm_readv. In one
/// process both sides read this process's memory (the same system calls); across processes and
/// containers the end-to-end tests run it.
@Suite("process-vm transport")
struct ProcessVMTests {
    /// A write to a pipe whose reader is gone is EPIPE here, as in podbench (which ignores SIGPIPE),
    /// not the end of the test process.
    init() { signal(SIGPIPE, SIG_IGN) }

    static func place(peer: Int32? = getpid()) -> ListenPlace {
        ListenPlace(
            name: "podbench-pvm", sharedDirectory: NSTemporaryDirectory(),
            sharedMemoryDirectory: NSTemporaryDirectory(), timeoutNanoseconds: 5_000_000_000, peerProcess: peer)
    }

    /// A connected pair: the client connects on a thread of its own (it waits for the server's
    /// answer to its hello) while this one accepts.
    static func pair(timeoutNanoseconds: UInt64 = 5_000_000_000, wait: String? = nil) throws -> (
        client: ProcessVMChannel, server: ProcessVMChannel
    ) {
        let options = TransportOptions(wait: wait)
        let listener = try ProcessVMTransport.listen(options, at: place())
        defer { listener.close() }
        let endpoint = listener.endpoint
        nonisolated(unsafe) var client: ProcessVMChannel?
        let connecting = Background {
            client = try ProcessVMTransport.connect(
                to: endpoint, options: options, timeoutNanoseconds: timeoutNanoseconds)
        }
        let server = try listener.accept(timeoutNanoseconds: timeoutNanoseconds)
        try connecting.wait()
        return (try #require(client), server)
    }

    /// Sends `count` bytes from `from` while `to` reads them on this thread in pieces of odd sizes;
    /// checks every byte.
    static func move(_ count: Int, from: ProcessVMChannel, to: ProcessVMChannel, seed: UInt8) throws {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
        let sending = Background { try bytes.withUnsafeBytes { try from.sendAll($0) } }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 8)
        defer { buffer.deallocate() }
        var received = 0
        var piece = 1
        while received < count {
            let room = min(piece, count - received)
            received += try to.receiveSome(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[received..<received + room]))
            piece = piece * 7 % 300_007 + 1
        }
        try sending.wait()
        #expect(Array(buffer) == bytes, "\(count) bytes")
    }

    @Test("1 byte to 4 MiB each way intact, read out of the sender's memory in pieces of any size")
    func sizes() throws {
        let (client, server) = try Self.pair()
        defer {
            client.close()
            server.close()
        }
        for count in [1, 7, 63, 4096, 65_537, 1 << 20, 4 << 20] {
            try Self.move(count, from: client, to: server, seed: 1)
            try Self.move(count, from: server, to: client, seed: 2)
        }
    }

    @Test(
        "every wait strategy carries the bytes: spinning on the pipe, sleeping in poll, both",
        arguments: ["spin", "futex", "spin-futex:1us"])
    func waits(wait: String) throws {
        let (client, server) = try Self.pair(wait: wait)
        defer {
            client.close()
            server.close()
        }
        for count in [1, 65_537, 1 << 20] {
            try Self.move(count, from: client, to: server, seed: 3)
            try Self.move(count, from: server, to: client, seed: 4)
        }
    }

    @Test("a side that only spins still times out on a silent peer")
    func spinningTimeout() throws {
        let (client, server) = try Self.pair(timeoutNanoseconds: 100_000_000, wait: "spin")
        defer {
            client.close()
            server.close()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        #expect { _ = try server.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .timeout }
    }

    @Test("either side gone is end of stream for the other, also for a sender waiting to be taken")
    func endOfStream() throws {
        var (client, server) = try Self.pair()
        client.close()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        #expect { _ = try server.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        server.close()
        (client, server) = try Self.pair()
        server.shutdown()
        #expect { _ = try client.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        server.close()
        #expect { try client.sendAll(UnsafeRawBufferPointer(buffer)) } throws: {
            ($0 as? PodBenchError)?.code == .peerClosed
        }
        client.close()
    }

    @Test("a silent peer times out: one that sends nothing, and one that never takes what was offered")
    func silence() throws {
        let (client, server) = try Self.pair(timeoutNanoseconds: 100_000_000)
        defer {
            client.close()
            server.close()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        #expect { _ = try server.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .timeout }
        #expect { try client.sendAll(UnsafeRawBufferPointer(buffer)) } throws: {
            ($0 as? PodBenchError)?.code == .timeout
        }
    }

    /// A client written by hand: it takes the record pipes and speaks the protocol's records as it
    /// likes. `value` stays in its memory for the server to read.
    final class RawClient: @unchecked Sendable {
        let pipes: FIFOChannel
        let value = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)

        init(_ endpoint: Endpoint) throws {
            guard case .process(let pid, let descriptors) = endpoint else {
                throw PodBenchError(.protocolViolation, "")
            }
            pipes = try PidfdPipeTransport.connect(
                pid: pid, descriptors: descriptors, timeoutNanoseconds: 2_000_000_000)
            value.initialize(to: 0x1234_5678_9ABC_DEF0)
        }

        deinit {
            pipes.close()
            value.deallocate()
        }

        var valueAddress: UInt64 { UInt64(UInt(bitPattern: value)) }

        func send(_ kind: UInt64, _ address: UInt64, _ count: UInt64) throws {
            var record = (kind, address, count)
            try withUnsafeBytes(of: &record) { try pipes.sendAll($0) }
        }

        func hello() throws { try send(0x5056_0001, valueAddress, value.pointee) }
    }

    /// A server channel whose client is `RawClient`, after `greeting` (a proper hello by default).
    static func rawPair(greeting: ((RawClient) throws -> Void)? = nil) throws -> (RawClient, ProcessVMChannel) {
        let listener = try ProcessVMTransport.listen(TransportOptions(), at: place())
        defer { listener.close() }
        let raw = try RawClient(listener.endpoint)
        try (greeting ?? { try $0.hello() })(raw)
        return (raw, try listener.accept(timeoutNanoseconds: 2_000_000_000))
    }

    @Test("a hello that is not one, or names memory without its value, is refused")
    func hostileHello() throws {
        for (name, greeting) in [
            ("not a hello", { (raw: RawClient) throws in try raw.send(0x5056_0003, raw.valueAddress, 8) }),
            ("the wrong value", { (raw: RawClient) throws in try raw.send(0x5056_0001, raw.valueAddress, 42) }),
            ("unmapped memory", { (raw: RawClient) throws in try raw.send(0x5056_0001, 16, 42) }),
            ("address 0", { (raw: RawClient) throws in try raw.send(0x5056_0001, 0, 42) }),
        ] as [(String, (RawClient) throws -> Void)] {
            #expect(Comment(rawValue: name)) { _ = try Self.rawPair(greeting: greeting) } throws: {
                ($0 as? PodBenchError)?.code == .protocolViolation
            }
        }
    }

    @Test(
        "hostile records are refused before any copy: offers of no bytes, too many, out of range, unmapped; unasked acknowledgements"
    )
    func hostileRecords() throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let offer: UInt64 = 0x5056_0003
        let took: UInt64 = 0x5056_0004
        for (name, records) in [
            ("an offer of no bytes", [(offer, 4096, 0)]),
            ("an offer of 2 TiB", [(offer, 4096, 2 << 40)]),
            ("an offer that wraps the address space", [(offer, UInt64.max - 8, 64)]),
            ("an offer at address 0", [(offer, 0, 8)]),
            ("an offer of unmapped memory", [(offer, 16, 8)]),
            ("an acknowledgement of nothing offered", [(took, 0, 8)]),
            ("a record of an unknown kind", [(0xDEAD, 0, 8)]),
        ] as [(String, [(UInt64, UInt64, UInt64)])] {
            let (raw, server) = try Self.rawPair()
            defer { server.close() }
            for (kind, address, count) in records { try raw.send(kind, address, count) }
            #expect(Comment(rawValue: name)) { _ = try server.receiveSome(into: buffer) } throws: {
                ($0 as? PodBenchError)?.code == .protocolViolation
            }
        }
        // While the server sends: more taken than offered, and a second offer before the first was taken.
        for (name, records) in [
            ("more taken than offered", [(took, 0, 65)]),
            ("two offers at once", [(offer, 4096, 8), (offer, 4096, 8)]),
        ] as [(String, [(UInt64, UInt64, UInt64)])] {
            let (raw, server) = try Self.rawPair()
            defer { server.close() }
            let answer = try raw.pipes.receiveSomeRecord()  // the welcome
            #expect(answer.0 == 0x5056_0002)
            for (kind, address, count) in records { try raw.send(kind, address, count) }
            #expect(Comment(rawValue: name)) { try server.sendAll(UnsafeRawBufferPointer(buffer)) } throws: {
                ($0 as? PodBenchError)?.code == .protocolViolation
            }
        }
    }

    @Test("no hop, and no client process named: unavailable with the reason")
    func refusals() {
        var place = Self.place()
        place.hopTarget = .socket(address: .unixPath("/tmp/relay.sock"))
        #expect { _ = try ProcessVMTransport.listen(TransportOptions(), at: place) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable
        }
        #expect { _ = try ProcessVMTransport.listen(TransportOptions(), at: Self.place(peer: nil)) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable && "\($0)".contains("not visible from the server")
        }
        #expect(throws: PodBenchError.self) {
            _ = try ProcessVMTransport.connect(
                to: .fifo(base: "/tmp/x"), options: TransportOptions(), timeoutNanoseconds: 1_000_000_000)
        }
    }

    @Test("probe reads a message out of this process and says what another container needs")
    func probe() {
        let (available, reason) = ProcessVMTransport.probe(
            ProbePlaces(sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: "/dev/shm"))
        #expect(available, "\(reason)")
        #expect(reason.contains("shareProcessNamespace"))
    }
}

extension FIFOChannel {
    /// One whole 24-byte record, for a hand-written peer.
    func receiveSomeRecord() throws -> (UInt64, UInt64, UInt64) {
        var record: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var filled = 0
        try withUnsafeMutableBytes(of: &record) { bytes in
            while filled < 24 {
                filled += try receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: bytes[filled...]))
            }
        }
        return record
    }
}
