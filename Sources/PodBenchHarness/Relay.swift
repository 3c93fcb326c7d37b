import Foundation
import Glibc
import PodBenchCore
import PodBenchTransports
import Synchronization

/// What a relay has done since it started: its process's CPU time and context switches (all
/// threads), bytes forwarded and connections served. The client asks for it before and after each
/// phase; the difference over the phase's messages is the hop's own cost per message.
public struct RelayStats: Codable, Equatable, Sendable {
    public var usage: CPUUsage
    public var bytes: UInt64
    public var connections: UInt64

    public init(usage: CPUUsage, bytes: UInt64, connections: UInt64) {
        self.usage = usage
        self.bytes = bytes
        self.connections = connections
    }

    /// The relay's figures now, read from its stats endpoint (one JSON line, then it closes).
    public static func query(_ endpoint: SocketAddress, timeoutNanoseconds: UInt64) throws -> RelayStats {
        let channel = try SocketTransport.connect(
            to: endpoint, kind: endpoint.family == AF_UNIX ? .uds : .tcp, options: TransportOptions(),
            timeoutNanoseconds: timeoutNanoseconds)
        defer { channel.close() }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { try channel.receiveSome(into: $0) }
            } catch let error as PodBenchError where error.code == .peerClosed {
                break
            }
            data += buffer[0..<count]
            if data.count > 1 << 16 { break }
        }
        do {
            return try JSONDecoder().decode(RelayStats.self, from: Data(data))
        } catch {
            throw PodBenchError(.protocolViolation, "the relay's stats at \(endpoint) are not podbench relay stats")
        }
    }

    /// This process's usage now, every thread.
    public static func processUsage() -> CPUUsage {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        func ns(_ tv: timeval) -> UInt64 { UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000 }
        return CPUUsage(
            userNanoseconds: ns(usage.ru_utime), systemNanoseconds: ns(usage.ru_stime),
            voluntarySwitches: UInt64(usage.ru_nvcsw), involuntarySwitches: UInt64(usage.ru_nivcsw))
    }
}

/// `podbench relay`: accepts connections on one endpoint and, for each, connects to another and
/// forwards bytes both ways (the frames pass through untouched, so both sides' integrity checks
/// cover the hop). A thread per direction; one buffer per direction, made per connection.
public final class Relay: Sendable {
    public struct Configuration: Sendable {
        public var listen: SocketAddress
        public var forward: SocketAddress
        public var stats: SocketAddress?
        /// Bytes moved per read (and the buffer's size).
        public var bufferBytes: Int

        public init(listen: SocketAddress, forward: SocketAddress, stats: SocketAddress?, bufferBytes: Int = 1 << 20) {
            self.listen = listen
            self.forward = forward
            self.stats = stats
            self.bufferBytes = bufferBytes
        }
    }

    public let configuration: Configuration
    let bytes = Atomic<UInt64>(0)
    let connections = Atomic<UInt64>(0)
    let log: @Sendable (String) -> Void

    public init(configuration: Configuration, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = log
    }

    static func kind(of address: SocketAddress) -> TransportKind {
        switch address {
        case .ipv4: .tcp
        case .ipv6: .tcp6
        case .unixPath: .uds
        case .unixAbstract: .udsAbstract
        }
    }

    /// Binds both endpoints and serves until the process ends.
    public func run() throws -> Never {
        let listener = try SocketTransport.listen(
            kind: Self.kind(of: configuration.listen), options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: configuration.listen)
        if let stats = configuration.stats {
            let statsListener = try SocketTransport.listen(
                kind: Self.kind(of: stats), options: TransportOptions(), sharedDirectory: "", name: "", fixed: stats)
            let thread = Thread { [self] in serveStats(statsListener) }
            thread.start()
        }
        log(
            "podbench relay: forwarding \(configuration.listen) → \(configuration.forward)\(configuration.stats.map { ", stats on \($0)" } ?? "")"
        )
        while true {
            let inbound: SocketChannel
            do {
                inbound = try listener.accept(timeoutNanoseconds: 3_600_000_000_000)
            } catch let error as PodBenchError where error.code == .timeout {
                continue
            }
            let outbound: SocketChannel
            do {
                outbound = try SocketTransport.connect(
                    to: configuration.forward, kind: Self.kind(of: configuration.forward), options: TransportOptions(),
                    timeoutNanoseconds: 10_000_000_000)
            } catch let error as PodBenchError {
                log("podbench relay: cannot reach \(configuration.forward): \(error.message); dropping the connection")
                inbound.close()
                continue
            }
            // No timeout while forwarding: the sides are idle between phases, as long as they like.
            try? inbound.descriptor.setIOTimeout(nanoseconds: 0)
            try? outbound.descriptor.setIOTimeout(nanoseconds: 0)
            connections.add(1, ordering: .relaxed)
            let done = Atomic<Int>(0)
            for (from, to) in [(inbound, outbound), (outbound, inbound)] {
                let thread = Thread { [self] in
                    pump(from: from, to: to)
                    if done.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                        inbound.close()
                        outbound.close()
                    }
                }
                thread.start()
            }
        }
    }

    /// Forwards until either side closes, then shuts both so the other direction ends too.
    func pump(from: SocketChannel, to: SocketChannel) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.bufferBytes, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            do {
                let count = try from.receiveSome(into: buffer)
                try to.sendAll(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                bytes.add(UInt64(count), ordering: .relaxed)
            } catch {
                from.shutdown()
                to.shutdown()
                return
            }
        }
    }

    func serveStats(_ listener: SocketTransport.Listener) {
        let encoder = JSONEncoder()
        while true {
            guard let channel = try? listener.accept(timeoutNanoseconds: 3_600_000_000_000) else { continue }
            let stats = RelayStats(
                usage: RelayStats.processUsage(), bytes: bytes.load(ordering: .relaxed),
                connections: connections.load(ordering: .relaxed))
            if let data = try? encoder.encode(stats) {
                data.withUnsafeBytes { try? channel.sendAll($0) }
            }
            channel.close()
        }
    }
}

/// `podbench relay` as a child of `podbench run` (a third process): endpoints of its own making
/// (free loopback ports, or sockets in `directory`), a stats socket, dies with its parent.
public final class RelayLauncher: @unchecked Sendable {
    public let process = Process()
    public let hop: MatrixRunner.Hop
    public let stats: SocketAddress

    /// Starts the relay: the client speaks `inbound` to it, it speaks `outbound` to the server.
    public init(executable: String, directory: String, inbound: TransportKind, outbound: TransportKind) throws {
        func endpoint(_ kind: TransportKind, _ name: String) throws -> String {
            switch kind {
            case .tcp: "tcp:127.0.0.1:\(try Self.freePort(ipv6: false))"
            case .tcp6: "tcp:[::1]:\(try Self.freePort(ipv6: true))"
            case .udsAbstract: "unix:@podbench-\(getpid())-\(name)"
            default: "unix:\(directory)/\(name).sock"
            }
        }
        let listen = try endpoint(inbound, "relay-in")
        let forward = try endpoint(outbound, "relay-out")
        stats = .unixPath(directory + "/relay-stats.sock")
        hop = try MatrixRunner.Hop(via: listen, listen: forward, name: "relay")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [
            "relay", "--listen", listen, "--forward", forward, "--stats", stats.description, "--exit-with-parent",
            "--quiet",
        ]
        do {
            try process.run()
        } catch {
            throw PodBenchError(.ioFailure, "cannot start the relay \(executable): \(error.localizedDescription)")
        }
        // Ready when its stats answer (it binds both before serving).
        let deadline = MonotonicClock.now() + 10_000_000_000
        while (try? RelayStats.query(stats, timeoutNanoseconds: 1_000_000_000)) == nil {
            guard process.isRunning, MonotonicClock.now() < deadline else {
                kill()
                throw PodBenchError(.ioFailure, "the relay did not start (\(listen) → \(forward))")
            }
            usleep(5000)
        }
    }

    public func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A loopback port that was free a moment ago.
    static func freePort(ipv6: Bool) throws -> UInt16 {
        let listener = try SocketTransport.listen(
            kind: ipv6 ? .tcp6 : .tcp, options: TransportOptions(), sharedDirectory: "", name: "")
        defer { listener.close() }
        guard case .ipv4(_, let port) = listener.endpoint else {
            if case .ipv6(_, let port) = listener.endpoint { return port }
            throw PodBenchError(.ioFailure, "no port for the relay")
        }
        return port
    }
}
