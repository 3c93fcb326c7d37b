import Foundation
import Glibc
import PodBenchCore
import PodBenchRing
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
        public var listen: HopEndpoint
        public var forward: HopEndpoint
        public var stats: SocketAddress?
        /// How the relay waits on the rings it makes (`shm:` listen); on a ring it forwards to, it
        /// adopts the server's.
        public var wait: RingWaitStrategy
        /// Bytes moved per read (and the buffer's size).
        public var bufferBytes: Int

        public init(
            listen: HopEndpoint, forward: HopEndpoint, stats: SocketAddress?,
            wait: RingWaitStrategy = .spinFutex(nanoseconds: RingWaitStrategy.defaultSpinNanoseconds),
            bufferBytes: Int = 1 << 20
        ) {
            self.listen = listen
            self.forward = forward
            self.stats = stats
            self.wait = wait
            self.bufferBytes = bufferBytes
        }
    }

    /// The kinds a relay forwards to, and listens on (the io_uring transports are a way of driving
    /// a socket or a file, not endpoints of their own).
    public static let forwardKinds: [TransportKind] = [.tcp, .tcp6, .uds, .udsAbstract, .file, .fifo, .shm]

    public let configuration: Configuration
    let bytes = Atomic<UInt64>(0)
    let connections = Atomic<UInt64>(0)
    let log: @Sendable (String) -> Void

    public init(configuration: Configuration, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = log
    }

    /// Binds both endpoints and serves until the process ends.
    public func run() throws -> Never {
        if let directory = configuration.listen.directory {
            try HopEndpoint.makeDirectory(directory, option: "--listen \(configuration.listen)")
            // Left by a relay that was killed: its client must not find them as fresh.
            for path in SharedMemoryTransport.removeStaleRingFiles(in: directory, prefix: "relay-")
                + FileTransport.removeStaleConnections(in: directory, prefix: "relay-")
            {
                log("podbench relay: removed \(path), left by a relay that is gone")
            }
        }
        if let directory = configuration.forward.directory {
            try HopEndpoint.makeDirectory(directory, option: "--forward \(configuration.forward)")
        }
        // The listening side first: a socket that cannot be bound ends the relay before it serves.
        return try TransportCatalog.visit(configuration.listen.transport, with: AcceptLoop(relay: self))
    }

    /// Accepts connections on the listening side with the transport that speaks there, and
    /// forwards each.
    struct AcceptLoop: TransportVisitor {
        let relay: Relay

        func visit<T: Transport>(_ transport: T.Type) throws -> Never {
            let configuration = relay.configuration
            var options = TransportOptions()
            options.wait = configuration.wait.description
            func place(_ name: String, timeoutNanoseconds: UInt64) -> ListenPlace {
                let directory = configuration.listen.directory ?? ""
                return ListenPlace(
                    name: name, sharedDirectory: directory, sharedMemoryDirectory: directory,
                    hopTarget: configuration.listen.directory == nil ? configuration.listen : nil,
                    timeoutNanoseconds: timeoutNanoseconds)
            }
            // A socket listens once and accepts with no timeout: a connection forwards with none,
            // the sides idle between phases as long as they like. In a directory each connection
            // is made afresh and waited for an hour (then made again), the reader noticing a
            // writer that dies by its lock, not by a timeout.
            let persistent = configuration.listen.directory == nil
            let timeout: UInt64 = persistent ? 0 : 3_600_000_000_000
            let socketListener = persistent ? try T.listen(options, at: place("", timeoutNanoseconds: 0)) : nil
            if let stats = configuration.stats {
                let statsListener = try SocketTransport.listen(
                    kind: stats.transport, options: TransportOptions(), sharedDirectory: "", name: "", fixed: stats)
                Thread { [relay] in relay.serveStats(statsListener) }.start()
            }
            relay.log(
                "podbench relay: forwarding \(configuration.listen) → \(configuration.forward)\(configuration.stats.map { ", stats on \($0)" } ?? "")"
            )
            var number = 0
            while true {
                number += 1
                // Connections made in a directory are numbered so the newest sorts last; a ring
                // file and a FIFO pair keep their names only until the client has opened them, a
                // file connection stays fresh until the client writes (`waitingEndpoints`).
                let name = "relay-\(getpid())-" + String(format: "%08d", number)
                do {
                    let listener = try socketListener ?? T.listen(options, at: place(name, timeoutNanoseconds: timeout))
                    relay.forward(try listener.accept(timeoutNanoseconds: timeout))
                } catch let error as PodBenchError where error.code == .timeout {
                    continue  // nobody came for an hour: make a fresh one
                }
            }
        }
    }

    /// Connects to the forward endpoint (a socket, or the server's fresh connection in a
    /// directory) and pumps both ways on two threads.
    func forward<Inbound: DataChannel & Sendable>(_ inbound: Inbound) {
        do {
            // A socket forwards with no timeout: the sides are idle between phases as long as they
            // like. A directory's fresh connection is waited for 10 s.
            let timeout: UInt64 = configuration.forward.directory == nil ? 0 : 10_000_000_000
            try HopConnection.open(
                configuration.forward, options: TransportOptions(), timeoutNanoseconds: timeout,
                then: Join(relay: self, inbound: inbound))
        } catch {
            let message = (error as? PodBenchError)?.message ?? "\(error)"
            log("podbench relay: cannot reach \(configuration.forward): \(message); dropping the connection")
            inbound.shutdown()
            inbound.close()
        }
    }

    /// Joins the inbound connection with the outbound one, once connected.
    struct Join<Inbound: DataChannel & Sendable>: ChannelUser {
        let relay: Relay
        let inbound: Inbound

        func use<Outbound: DataChannel & Sendable>(_ outbound: Outbound) {
            relay.join(inbound, outbound)
        }
    }

    /// Pumps both ways between a connection and its forward, a thread per direction; the last
    /// thread to end closes both.
    func join<Inbound: DataChannel & Sendable, Outbound: DataChannel & Sendable>(
        _ inbound: Inbound, _ outbound: Outbound
    ) {
        connections.add(1, ordering: .relaxed)
        let done = Atomic<Int>(0)
        let finish: @Sendable () -> Void = {
            if done.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                inbound.close()
                outbound.close()
            }
        }
        Thread { [self] in
            pump(from: inbound, to: outbound)
            finish()
        }.start()
        Thread { [self] in
            pump(from: outbound, to: inbound)
            finish()
        }.start()
    }

    /// Forwards until `from` ends or `to` fails, then ends `to`'s sending side only: each thread
    /// touches only the receiving half of `from` and the sending half of `to` (a file channel's
    /// writer belongs to the one thread that writes it). Ending `to` wakes the other thread, which
    /// receives from it, so both directions end.
    func pump<From: DataChannel, To: DataChannel>(from: From, to: To) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.bufferBytes, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            do {
                let count = try from.receiveSome(into: buffer)
                try to.sendAll(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                try to.flush()
                bytes.add(UInt64(count), ordering: .relaxed)
            } catch {
                // A side that closes is the normal end of a connection; anything else (a timeout,
                // a failed write) the user needs to see to know why a case through the hop failed.
                let failure = error as? PodBenchError
                if failure?.code != .peerClosed {
                    log("podbench relay: a connection stopped forwarding: \(failure?.message ?? "\(error)")")
                }
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

    /// The relay of a pod with its own network namespace (fixed loopback ports are free there) and
    /// the shared volume at `shared`: its endpoints, and it ends with the server's control socket.
    public static func podPlan(shared: String, inbound: TransportKind, outbound: TransportKind) -> RelayPlan {
        func endpoint(_ kind: TransportKind, _ name: String, _ port: UInt16) -> HopEndpoint {
            switch kind {
            case .tcp: .socket(address: .ipv4(host: "127.0.0.1", port: port))
            case .tcp6: .socket(address: .ipv6(host: "::1", port: port))
            case .udsAbstract: .socket(address: .unixAbstract("podbench-\(name)"))
            case .file: .file(directory: "\(shared)/\(name)")
            case .fifo: .fifo(directory: "\(shared)/\(name)")
            case .shm: .sharedMemory(directory: "/dev/shm/podbench-\(name)")
            default: .socket(address: .unixPath("\(shared)/\(name).sock"))
            }
        }
        return RelayPlan(
            listen: endpoint(inbound, "relay-in", 7101), forward: endpoint(outbound, "relay-out", 7102),
            stats: .unixPath("\(shared)/relay-stats.sock"), exitAfter: shared + "/control.sock")
    }

    /// The server side of a relay that `run` starts: the first transport asked for that a relay
    /// can forward to (tcp for the presets).
    public static func outbound(for transports: [TransportKind]) throws -> TransportKind {
        guard let kind = transports.first(where: { Relay.forwardKinds.contains($0) }) else {
            throw PodBenchError(
                .invalidConfiguration,
                "--via relay needs a transport the relay can forward to in --transports: tcp, tcp6, uds, uds-abstract, file, fifo or shm (the io_uring ones drive a socket or a file: list tcp, uds or file)"
            )
        }
        return kind
    }

    /// Starts the relay: the client speaks `inbound` to it, it speaks `outbound` to the server.
    public init(
        executable: String, directory: String, sharedMemoryDirectory: String, inbound: TransportKind,
        outbound: TransportKind
    ) throws {
        func endpoint(_ kind: TransportKind, _ name: String) throws -> HopEndpoint {
            switch kind {
            case .tcp: .socket(address: .ipv4(host: "127.0.0.1", port: try Self.freePort(ipv6: false)))
            case .tcp6: .socket(address: .ipv6(host: "::1", port: try Self.freePort(ipv6: true)))
            case .udsAbstract: .socket(address: .unixAbstract("podbench-\(getpid())-\(name)"))
            case .file: .file(directory: "\(directory)/\(name)")
            case .fifo: .fifo(directory: "\(directory)/\(name)")
            case .shm: .sharedMemory(directory: "\(sharedMemoryDirectory)/\(name)")
            default: .socket(address: .unixPath("\(directory)/\(name).sock"))
            }
        }
        // The folders where the relay (in) and the server (out) make connections: beside the
        // server's own, removed with them.
        for (kind, name) in [(inbound, "relay-in"), (outbound, "relay-out")] {
            let parent = kind == .shm ? sharedMemoryDirectory : directory
            guard [.file, .fifo, .shm].contains(kind) else { continue }
            guard mkdir(parent + "/" + name, 0o770) == 0 else {
                throw PodBenchError(.ioFailure, "cannot make \(parent)/\(name) for the relay's connections")
            }
        }
        let listen = try endpoint(inbound, "relay-in")
        let forward = try endpoint(outbound, "relay-out")
        let statsAddress = SocketAddress.unixPath(directory + "/relay-stats.sock")
        stats = statsAddress
        hop = MatrixRunner.Hop(via: listen, listen: forward, name: "relay", stats: .relay(statsAddress))
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments =
            RelayPlan(listen: listen, forward: forward, stats: stats, exitWithParent: true, quiet: true).arguments
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
        guard case .ipv4(_, let port) = listener.address else {
            if case .ipv6(_, let port) = listener.address { return port }
            throw PodBenchError(.ioFailure, "no port for the relay")
        }
        return port
    }
}
