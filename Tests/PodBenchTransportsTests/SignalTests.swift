import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

/// `signal`: messages as queued real-time signals between two threads of one process here (the
/// same system calls as between two containers); end to end between processes.
@Suite("signal transport")
struct SignalTests {
    /// How long either side waits for the other: a message is a signal of 8 bytes, so a MiB is
    /// 131,072 of them each way, several times slower under the sanitizers (scripts/sanitizers.sh
    /// sets `PODBENCH_SANITIZED`), whose lanes share two cores.
    static let timeout: UInt64 =
        ProcessInfo.processInfo.environment["PODBENCH_SANITIZED"] != nil ? 60_000_000_000 : 5_000_000_000

    /// A server on a thread of its own (a signal channel belongs to the thread that made it) that
    /// runs `body` over its end; the client's end is made on the calling thread. When the client
    /// fails, the server's error is told too (a client's "the peer's thread is gone" is the end of a
    /// server that failed first).
    static func withPair(
        timeoutNanoseconds: UInt64 = timeout, server body: @escaping @Sendable (SignalChannel) throws -> Void,
        client: (SignalChannel) throws -> Void
    ) throws {
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var endpoint: Endpoint?
        let serving = Background {
            let listener = try SignalTransport.listen(clientID: getpid())
            defer { listener.close() }
            endpoint = listener.endpoint
            ready.signal()
            let channel = try listener.accept(timeoutNanoseconds: timeoutNanoseconds)
            defer { channel.close() }
            try body(channel)
        }
        ready.wait()
        let channel = try SignalTransport.connect(
            to: try #require(endpoint), options: TransportOptions(), timeoutNanoseconds: timeoutNanoseconds)
        defer { channel.close() }
        do {
            try client(channel)
        } catch {
            var server = "ended without an error"
            do { try serving.wait() } catch let failure { server = "failed: \(failure)" }
            throw PodBenchError(.ioFailure, "the client failed: \(error); the server's side \(server)")
        }
        try serving.wait()
    }

    static func receive(_ count: Int, from channel: SignalChannel) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        try bytes.withUnsafeMutableBytes { buffer in
            while received < count {
                received += try channel.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[received...]))
            }
        }
        return bytes
    }

    static let sizes = [1, 7, 8, 9, 63, 4096, 65_537, 1 << 20]

    @Test("1 byte to 1 MiB each way intact, in order, whatever the reader's buffer")
    func sizes() throws {
        try Self.withPair(
            server: { (channel: SignalChannel) throws in
                // Echo each message back, read in pieces of odd sizes.
                for count in Self.sizes {
                    var bytes = [UInt8](repeating: 0, count: count)
                    var received = 0
                    try bytes.withUnsafeMutableBytes { buffer in
                        while received < count {
                            let room = min(3 + received % 13, count - received)
                            received += try channel.receiveSome(
                                into: UnsafeMutableRawBufferPointer(rebasing: buffer[received..<(received + room)]))
                        }
                    }
                    try bytes.withUnsafeBytes { try channel.sendAll($0) }
                }
            },
            client: { channel in
                for count in Self.sizes {
                    let message = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ count) }
                    try message.withUnsafeBytes { try channel.sendAll($0) }
                    #expect(try Self.receive(count, from: channel) == message, "\(count) bytes")
                }
            })
    }

    @Test("a goodbye is end of stream once what came before is read")
    func goodbye() throws {
        try Self.withPair(
            server: { (channel: SignalChannel) throws in
                #expect(try Self.receive(5, from: channel) == [1, 2, 3, 4, 5])
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
                defer { buffer.deallocate() }
                #expect { _ = try channel.receiveSome(into: buffer) } throws: {
                    ($0 as? PodBenchError)?.code == .peerClosed
                }
            },
            client: { channel in
                try [UInt8]([1, 2, 3, 4, 5]).withUnsafeBytes { try channel.sendAll($0) }
                channel.shutdown()
            })
    }

    @Test("a client that never says hello times out, and a silent peer times out")
    func silence() throws {
        let listener = try SignalTransport.listen(clientID: getpid())
        #expect { _ = try listener.accept(timeoutNanoseconds: 50_000_000) } throws: {
            ($0 as? PodBenchError)?.code == .timeout
        }
        listener.close()
        try Self.withPair(
            timeoutNanoseconds: 100_000_000,
            server: { (channel: SignalChannel) throws in
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
                defer { buffer.deallocate() }
                #expect { _ = try channel.receiveSome(into: buffer) } throws: {
                    ($0 as? PodBenchError)?.code == .timeout
                }
            }, client: { _ in Thread.sleep(forTimeInterval: 0.3) })
    }

    @Test("an endpoint naming no thread, a thread that is not there, or another kind is refused")
    func badEndpoints() {
        for (endpoint, code) in [
            (Endpoint.signal(pid: getpid(), thread: 0), PodBenchError.Code.protocolViolation),
            (.signal(pid: 0, thread: 5), .protocolViolation),
            (.signal(pid: getpid(), thread: 0x3fff_fff0), .peerClosed),
            (.fifo(base: "/tmp/x"), .protocolViolation),
        ] {
            #expect("\(endpoint)") {
                _ = try SignalTransport.connect(
                    to: endpoint, options: TransportOptions(), timeoutNanoseconds: 100_000_000)
            } throws: { ($0 as? PodBenchError)?.code == code }
        }
    }

    @Test("the server refuses a client it cannot see, and a hop")
    func refusals() {
        let place = ListenPlace(
            name: "x", sharedDirectory: "/tmp", sharedMemoryDirectory: "/dev/shm", timeoutNanoseconds: 1_000_000_000)
        #expect { _ = try SignalTransport.listen(TransportOptions(), at: place) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable && "\($0)".contains("not visible from the server")
        }
        var hop = place
        hop.peerProcess = getpid()
        hop.hopTarget = .socket(address: .unixPath("/tmp/relay.sock"))
        #expect { _ = try SignalTransport.listen(TransportOptions(), at: hop) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable
        }
    }

    @Test("probe sends a signal between two threads and says what containers need")
    func probe() {
        let (available, reason) = SignalTransport.probe(
            ProbePlaces(sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: "/dev/shm"))
        #expect(available, "\(reason)")
        #expect(reason.contains("shareProcessNamespace"))
    }
}
