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
    /// Where clients come in: a socket, or a directory in which the relay makes file connections
    /// (`file:DIR`, the log-shipping sidecar's side: the app appends records, the relay follows).
    /// Or a memory-backed directory in which it makes shm ring files (`shm:DIR`: an adapter whose
    /// app side is a shared-memory ring).
    public enum Inbound: Sendable, CustomStringConvertible {
        case socket(SocketAddress)
        case file(directory: String)
        case sharedMemory(directory: String)
        /// A directory in which it makes FIFO pairs (`fifo:DIR`).
        case fifo(directory: String)

        public init(parsing text: String) throws {
            if text.hasPrefix("fifo:") {
                self = .fifo(directory: String(text.dropFirst(5)))
            } else if text.hasPrefix("file:") {
                self = .file(directory: String(text.dropFirst(5)))
            } else if text.hasPrefix("shm:") {
                self = .sharedMemory(directory: String(text.dropFirst(4)))
            } else {
                self = .socket(try SocketAddress(parsing: text))
            }
        }

        public var description: String {
            switch self {
            case .socket(let address): address.description
            case .file(let directory): "file:" + directory
            case .sharedMemory(let directory): "shm:" + directory
            case .fifo(let directory): "fifo:" + directory
            }
        }
    }

    public struct Configuration: Sendable {
        public var listen: Inbound
        public var forward: SocketAddress
        public var stats: SocketAddress?
        /// Bytes moved per read (and the buffer's size).
        public var bufferBytes: Int

        public init(listen: Inbound, forward: SocketAddress, stats: SocketAddress?, bufferBytes: Int = 1 << 20) {
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
        var socketListener: SocketTransport.Listener?
        switch configuration.listen {
        case .socket(let address):
            socketListener = try SocketTransport.listen(
                kind: Self.kind(of: address), options: TransportOptions(), sharedDirectory: "", name: "",
                fixed: address)
        case .file(let directory), .sharedMemory(let directory), .fifo(let directory):
            // Made if missing: in a pod, the relay's container may be the first to look.
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw PodBenchError(.invalidConfiguration, "--listen \(configuration.listen): not a directory")
            }
        }
        if let stats = configuration.stats {
            let statsListener = try SocketTransport.listen(
                kind: Self.kind(of: stats), options: TransportOptions(), sharedDirectory: "", name: "", fixed: stats)
            let thread = Thread { [self] in serveStats(statsListener) }
            thread.start()
        }
        log(
            "podbench relay: forwarding \(configuration.listen) → \(configuration.forward)\(configuration.stats.map { ", stats on \($0)" } ?? "")"
        )
        let long: UInt64 = 3_600_000_000_000
        var number = 0
        while true {
            number += 1
            // Connections made in a directory are numbered so the newest sorts last; a ring file
            // and a FIFO pair keep their names only until the client has opened them, a file
            // connection stays fresh until the client writes (FileTransport.freshConnection).
            let name = "relay-\(getpid())-" + String(format: "%08d", number)
            do {
                switch configuration.listen {
                case .socket:
                    let inbound = try socketListener!.accept(timeoutNanoseconds: long)
                    // No timeout while forwarding: the sides are idle between phases, as long as they like.
                    try? inbound.descriptor.setIOTimeout(nanoseconds: 0)
                    forward(inbound)
                case .file(let directory):
                    // The reader notices a writer that dies by its lock, not by a timeout.
                    forward(
                        try FileTransport.listen(
                            directory: directory, name: name, settings: try TransportOptions().fileSettings(),
                            timeoutNanoseconds: long
                        ).accept(timeoutNanoseconds: long))
                case .fifo(let directory):
                    forward(try FIFOTransport.listen(directory: directory, name: name).accept(timeoutNanoseconds: long))
                case .sharedMemory(let directory):
                    forward(
                        try SharedMemoryTransport.listen(
                            directory: directory, name: name, capacity: TransportOptions.defaultRingBytes,
                            strategy: try TransportOptions().waitStrategy()
                        ).accept(timeoutNanoseconds: long))
                }
            } catch let error as PodBenchError where error.code == .timeout {
                continue  // nobody came for an hour: make a fresh one
            }
        }
    }

    /// Connects to the forward endpoint and pumps both ways on two threads.
    func forward<Inbound: DataChannel & Sendable>(_ inbound: Inbound) {
        let outbound: SocketChannel
        do {
            outbound = try SocketTransport.connect(
                to: configuration.forward, kind: Self.kind(of: configuration.forward), options: TransportOptions(),
                timeoutNanoseconds: 10_000_000_000)
        } catch {
            let message = (error as? PodBenchError)?.message ?? "\(error)"
            log("podbench relay: cannot reach \(configuration.forward): \(message); dropping the connection")
            inbound.shutdown()
            inbound.close()
            return
        }
        try? outbound.descriptor.setIOTimeout(nanoseconds: 0)
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

    /// The relay's endpoints inside a pod of its own network namespace (fixed loopback ports are
    /// free there) with the shared volume at `shared`: listen, forward, stats.
    public static func podEndpoints(shared: String, inbound: TransportKind, outbound: TransportKind) -> (
        listen: String, forward: String, stats: String
    ) {
        func endpoint(_ kind: TransportKind, _ name: String, _ port: Int) -> String {
            switch kind {
            case .tcp: "tcp:127.0.0.1:\(port)"
            case .tcp6: "tcp:[::1]:\(port)"
            case .udsAbstract: "unix:@podbench-\(name)"
            case .file: "file:\(shared)/\(name)"
            case .fifo: "fifo:\(shared)/\(name)"
            case .shm: "shm:/dev/shm/podbench-\(name)"
            default: "unix:\(shared)/\(name).sock"
            }
        }
        return (
            endpoint(inbound, "relay-in", 7101), endpoint(outbound, "relay-out", 7102),
            "unix:\(shared)/relay-stats.sock"
        )
    }

    /// Starts the relay: the client speaks `inbound` to it, it speaks `outbound` to the server.
    public init(
        executable: String, directory: String, sharedMemoryDirectory: String, inbound: TransportKind,
        outbound: TransportKind
    ) throws {
        func endpoint(_ kind: TransportKind, _ name: String) throws -> String {
            switch kind {
            case .tcp: "tcp:127.0.0.1:\(try Self.freePort(ipv6: false))"
            case .tcp6: "tcp:[::1]:\(try Self.freePort(ipv6: true))"
            case .udsAbstract: "unix:@podbench-\(getpid())-\(name)"
            case .file: "file:\(directory)/relay-in"
            case .fifo: "fifo:\(directory)/relay-in"
            case .shm: "shm:\(sharedMemoryDirectory)/relay-in"
            default: "unix:\(directory)/\(name).sock"
            }
        }
        // The relay's own folder for file connections or ring files: the server's are beside it.
        for (kind, parent) in [(TransportKind.file, directory), (.fifo, directory), (.shm, sharedMemoryDirectory)]
        where inbound == kind {
            guard mkdir(parent + "/relay-in", 0o770) == 0 else {
                throw PodBenchError(.ioFailure, "cannot make \(parent)/relay-in for the relay's connections")
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
