import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import SystemPackage
import Testing

/// The datagram transports (`udp`, `udp6`, `uds-dgram`): the handshake, whole datagrams of every
/// size they take, and what a stranger or a gone peer does to them.
@Suite("datagram transports")
struct DatagramTests {
    static func place(_ name: String = "podbench-dgram-\(UUID().uuidString.prefix(8))") -> ListenPlace {
        ListenPlace(
            name: name, sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: NSTemporaryDirectory(),
            timeoutNanoseconds: 5_000_000_000)
    }

    /// A connected pair: the client connects on a thread while the server accepts.
    static func connect<T: Transport>(_ transport: T.Type, options: TransportOptions = TransportOptions()) throws
        -> (client: T.Channel, server: T.Channel, listener: T.Listener)
    {
        let listener = try T.listen(options, at: place())
        let (client, server) = try accept(T.self, on: listener, options: options)
        return (client, server, listener)
    }

    /// The client connecting on a thread while `listener` accepts it: both ends.
    static func accept<T: Transport>(
        _ transport: T.Type, on listener: T.Listener, options: TransportOptions = TransportOptions()
    ) throws -> (client: T.Channel, server: T.Channel) {
        let endpoint = listener.endpoint
        nonisolated(unsafe) var client: T.Channel?
        let connecting = Background {
            client = try T.connect(to: endpoint, options: options, timeoutNanoseconds: 5_000_000_000)
        }
        let server = try listener.accept(timeoutNanoseconds: 5_000_000_000)
        try connecting.wait()
        return (client!, server)
    }

    static func message(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
    }

    static func exchange<C: DataChannel>(_ from: C, _ to: C, count: Int, seed: UInt8) throws {
        let bytes = message(count, seed: seed)
        try bytes.withUnsafeBytes { try from.sendAll($0) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count + 64, alignment: 8)
        defer { buffer.deallocate() }
        let n = try to.receiveSome(into: buffer)
        #expect(n == count)
        #expect(Array(buffer[..<n]) == bytes)
    }

    @Test("each carries one whole datagram each way, from 1 byte to the largest it takes")
    func sizes() throws {
        for kind in [TransportKind.udp, .udp6, .udsDgram] {
            func run<T: Transport>(_ transport: T.Type) throws {
                let (client, server, listener) = try Self.connect(T.self)
                defer {
                    client.close()
                    server.close()
                    listener.close()
                }
                #expect(T.Channel.isDatagram)
                let most = try #require(T.maximumPayload(TransportOptions())) + FrameHeader.size
                for size in [1, 64, 4096, most] {
                    try Self.exchange(client, server, count: size, seed: 1)
                    try Self.exchange(server, client, count: size, seed: 2)
                }
            }
            switch kind {
            case .udp: try run(UDPTransport.self)
            case .udp6: try run(UDP6Transport.self)
            default: try run(UnixDatagramTransport.self)
            }
        }
    }

    @Test("the largest message is what Linux lets one datagram carry, less the frame's header")
    func limits() throws {
        #expect(UDPTransport.maximumPayload(TransportOptions()) == 65_507 - 32)
        #expect(UDP6Transport.maximumPayload(TransportOptions()) == 65_527 - 32)
        let unix = try #require(UnixDatagramTransport.maximumPayload(TransportOptions(socketBufferBytes: 8192)))
        // SO_SNDBUF doubles what is asked; Linux refuses a datagram past the buffer less 32 bytes.
        #expect(unix == 2 * 8192 - 32 - 32)
        let (client, server, listener) = try Self.connect(
            UnixDatagramTransport.self, options: TransportOptions(socketBufferBytes: 8192))
        defer {
            client.close()
            server.close()
            listener.close()
        }
        try Self.exchange(client, server, count: unix + 32, seed: 3)
        let tooLarge = Self.message(unix + 33, seed: 4)
        #expect(throws: PodBenchError.self) { try tooLarge.withUnsafeBytes { try client.sendAll($0) } }
    }

    @Test("a datagram larger than the receiver's room is refused, never half-read")
    func truncated() throws {
        let (a, b) = try datagramPair()
        defer {
            a.close()
            b.close()
        }
        try Self.message(100, seed: 5).withUnsafeBytes { try a.sendAll($0) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        #expect {
            try b.receiveSome(into: buffer)
        } throws: {
            ($0 as? PodBenchError)?.code == .protocolViolation
                && "\($0)".contains("a datagram of 100 bytes is larger than the 64 bytes of room")
        }
    }

    @Test("the client waits the loss deadline for a silent server, then times out")
    func silentPeer() throws {
        let (client, server, listener) = try Self.connect(UDPTransport.self)
        defer {
            client.close()
            server.close()
            listener.close()
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        let start = MonotonicClock.now()
        #expect { try client.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .timeout }
        // The loss deadline (200 ms), not the 5 s peer timeout (with room for a busy machine above;
        // a wait is never shorter than asked, so the lower bound holds anywhere).
        let waited = MonotonicClock.now() - start
        #expect(waited >= 190_000_000 && waited < 4_000_000_000, "\(waited) ns")
    }

    @Test("a server gone is the peer closed, not a wait: UDP's port unreachable, Unix's refused send")
    func gonePeer() throws {
        let (client, server, listener) = try Self.connect(UDPTransport.self)
        server.close()
        listener.close()
        defer { client.close() }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 8)
        defer { buffer.deallocate() }
        try Self.message(32, seed: 6).withUnsafeBytes { try client.sendAll($0) }
        #expect { try client.receiveSome(into: buffer) } throws: { ($0 as? PodBenchError)?.code == .peerClosed }

        let unix = try Self.connect(UnixDatagramTransport.self)
        unix.server.close()
        unix.listener.close()
        defer { unix.client.close() }
        #expect {
            try Self.message(32, seed: 7).withUnsafeBytes { try unix.client.sendAll($0) }
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
    }

    @Test("a stranger's hello is dropped: only the client's path (Unix) or loopback (UDP) is answered")
    func stranger() throws {
        let listener = try UnixDatagramTransport.listen(TransportOptions(), at: Self.place())
        defer { listener.close() }
        guard case .datagram(.unixPath(let path), _) = listener.endpoint else {
            Issue.record("not a Unix datagram endpoint")
            return
        }
        #expect(FileManager.default.fileExists(atPath: path))
        // A process bound elsewhere says hello first, even with the right nonce (it cannot know it:
        // it travels on the control connection), then sends garbage.
        let strangerPath = NSTemporaryDirectory() + "/podbench-stranger-\(getpid()).sock"
        _ = unlink(strangerPath)
        let stranger = try FileDescriptor.datagramSocket(family: AF_UNIX)
        defer {
            try? stranger.close()
            _ = unlink(strangerPath)
        }
        try stranger.bind(to: .unixPath(strangerPath))
        try stranger.connect(to: .unixPath(path))
        for nonce in [0, listener.nonce] {
            var hello = [UInt8](repeating: 0, count: FrameHeader.size)
            hello.withUnsafeMutableBytes {
                FrameHeader(
                    payloadLength: 0, kind: .endAcknowledged, sequence: nonce, checksum: DatagramChannel.hello,
                    timestamp: 0
                ).write(to: $0.baseAddress!)
            }
            _ = try hello.withUnsafeBytes { try stranger.send($0) }
        }
        _ = try [UInt8](repeating: 0xFF, count: 7).withUnsafeBytes { try stranger.send($0) }
        // The real client still gets through, and only it is connected.
        let (client, server) = try Self.accept(UnixDatagramTransport.self, on: listener)
        defer {
            client.close()
            server.close()
        }
        try Self.exchange(client, server, count: 16, seed: 8)
        // The client's own path is gone once connected; the server's goes with the listener.
        #expect(!FileManager.default.fileExists(atPath: UnixDatagramTransport.clientPath(of: path)))
        listener.close()
        #expect(!FileManager.default.fileExists(atPath: path))
        // The stranger's datagrams no longer reach the connected server.
        #expect(throws: PodBenchError.self) {
            _ = try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try stranger.send($0) }
        }
    }

    @Test("over UDP a hello without the case's nonce is dropped, and the client still gets through")
    func strangerUDP() throws {
        let listener = try UDPTransport.listen(TransportOptions(), at: Self.place())
        defer { listener.close() }
        guard case .datagram(let address, let nonce) = listener.endpoint else {
            Issue.record("not a datagram endpoint")
            return
        }
        let stranger = try FileDescriptor.datagramSocket(family: AF_INET)
        defer { try? stranger.close() }
        try stranger.connect(to: address)
        var hello = [UInt8](repeating: 0, count: FrameHeader.size)
        hello.withUnsafeMutableBytes {
            FrameHeader(
                payloadLength: 0, kind: .endAcknowledged, sequence: nonce &+ 1, checksum: DatagramChannel.hello,
                timestamp: 0
            ).write(to: $0.baseAddress!)
        }
        _ = try hello.withUnsafeBytes { try stranger.send($0) }
        let (client, server) = try Self.accept(UDPTransport.self, on: listener)
        defer {
            client.close()
            server.close()
        }
        try Self.exchange(client, server, count: 16, seed: 9)
        try Self.exchange(server, client, count: 16, seed: 10)
    }

    @Test("a client refuses an endpoint of another kind, and a stream socket for a datagram case")
    func refusedEndpoints() {
        let stream = Endpoint.socket(address: .ipv4(host: "127.0.0.1", port: 9))
        for kind in [TransportKind.udp, .udp6, .udsDgram] {
            #expect {
                _ =
                    try kind == .udp
                    ? UDPTransport.connect(to: stream, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
                    : kind == .udp6
                        ? UDP6Transport.connect(to: stream, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
                        : UnixDatagramTransport.connect(
                            to: stream, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
            } throws: { ($0 as? PodBenchError)?.code == .protocolViolation }
        }
        // A server cannot point the client elsewhere: another family, another host, a path that is
        // not a podbench server's socket (the client binds and removes a socket next to it).
        let refused: [(Endpoint, TransportKind)] = [
            (.datagram(address: .ipv4(host: "127.0.0.1", port: 9), nonce: 1), .udp6),
            (.datagram(address: .ipv4(host: "10.0.0.1", port: 9), nonce: 1), .udp),
            (.datagram(address: .ipv4(host: "127.0.0.2", port: 9), nonce: 1), .udp),
            (.datagram(address: .unixPath("/etc/passwd"), nonce: 1), .udsDgram),
            (.datagram(address: .unixPath("/shared/../etc/podbench-x.dgram"), nonce: 1), .udsDgram),
            (.datagram(address: .unixPath("relative/podbench-x.dgram"), nonce: 1), .udsDgram),
            (.datagram(address: .unixAbstract("podbench-x.dgram"), nonce: 1), .udsDgram),
        ]
        for (endpoint, kind) in refused {
            #expect("\(endpoint) for \(kind)") {
                _ =
                    try kind == .udp
                    ? UDPTransport.connect(to: endpoint, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
                    : kind == .udp6
                        ? UDP6Transport.connect(
                            to: endpoint, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
                        : UnixDatagramTransport.connect(
                            to: endpoint, options: TransportOptions(), timeoutNanoseconds: 1_000_000)
            } throws: { ($0 as? PodBenchError)?.code == .protocolViolation }
        }
        #expect(Endpoint.datagram(address: .ipv6(host: "::1", port: 5), nonce: 1).description == "udp:[::1]:5")
        #expect(
            Endpoint.datagram(address: .unixPath("/s/x.dgram"), nonce: 1).description == "unixgram:/s/x.dgram")
    }

    @Test("a hop is refused: the relays forward streams")
    func noHop() {
        var place = Self.place()
        place.hopTarget = .socket(address: .ipv4(host: "127.0.0.1", port: 9))
        #expect {
            _ = try UDPTransport.listen(TransportOptions(), at: place)
        } throws: { ($0 as? PodBenchError)?.code == .unavailable }
    }
}
