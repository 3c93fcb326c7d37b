import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchRing
import PodBenchTransports
import PodBenchURing
import SystemPackage

/// `podbench serve`: listens on the control endpoint and runs whatever cases clients ask for,
/// one client at a time, until a client sends `shutdown` or the process is signalled.
public final class BenchmarkServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var control: SocketAddress
        /// Where `uds` data sockets are created: the volume both sides mount.
        public var sharedDirectory: String
        public var peerTimeoutNanoseconds: UInt64
        /// The CPU to pin the serving thread to when a client does not ask for one.
        public var cpu: Int?
        /// Where `shm` ring files are created: /dev/shm or a memory-backed volume both sides mount.
        public var sharedMemoryDirectory: String

        public init(
            control: SocketAddress, sharedDirectory: String, peerTimeoutNanoseconds: UInt64, cpu: Int?,
            sharedMemoryDirectory: String = "/dev/shm"
        ) {
            self.control = control
            self.sharedDirectory = sharedDirectory
            self.sharedMemoryDirectory = sharedMemoryDirectory
            self.peerTimeoutNanoseconds = peerTimeoutNanoseconds
            self.cpu = cpu
        }
    }

    public let configuration: Configuration
    let log: @Sendable (String) -> Void
    private var listener: FileDescriptor?
    private var caseCounter = 0
    /// Makes data endpoint names unique even between servers that share a directory and a PID
    /// (two containers, each its own PID namespace, one shared volume).
    private let instance = String(UInt64.random(in: 0..<(1 << 40)), radix: 36)
    /// The CPUs the server may use when nobody asks for pinning (restored between clients).
    private let initialCPUs = CPUPinning.allowedCPUs()

    /// Told the path of a ring file while it has a name on disk (nil once removed), so that a
    /// signal handler can remove it.
    let ringPathHook: @Sendable (String?) -> Void

    public init(
        configuration: Configuration, log: @escaping @Sendable (String) -> Void,
        ringPathHook: @escaping @Sendable (String?) -> Void = { _ in }
    ) {
        self.configuration = configuration
        self.log = log
        self.ringPathHook = ringPathHook
    }

    /// Binds the control endpoint. A Unix socket file left by a dead server is replaced; one that
    /// a live server answers on is an error.
    public func bind() throws {
        let address = configuration.control
        let fd = try FileDescriptor.streamSocket(family: address.family)
        do {
            if address.family != AF_UNIX {
                try fd.setSocketOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, what: "SO_REUSEADDR")
            }
            do {
                try fd.bind(to: address)
            } catch let error as PodBenchError where error.cause?.errno == .addressInUse {
                guard case .unixPath(let path) = address, !Self.somebodyListens(at: address) else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "\(address) is in use by another process (another podbench serve?): stop it or pick another --control",
                        cause: error.cause)
                }
                _ = unlink(path)  // stale socket file of a server that died
                try fd.bind(to: address)
            }
            try fd.listen()
        } catch {
            try? fd.close()
            throw error
        }
        listener = fd
    }

    static func somebodyListens(at address: SocketAddress) -> Bool {
        guard let probe = try? FileDescriptor.streamSocket(family: address.family) else { return false }
        defer { try? probe.close() }
        return (try? probe.connect(to: address)) != nil
    }

    /// Serves clients until one sends `shutdown`.
    public func serve() throws {
        if listener == nil { try bind() }
        guard let listener else { return }
        defer { close() }
        log("podbench serve: listening on \(configuration.control), shared directory \(configuration.sharedDirectory)")
        for path in SharedMemoryTransport.removeStaleRingFiles(in: configuration.sharedMemoryDirectory) {
            log("podbench serve: removed \(path), left by a server that died before its client attached")
        }
        for path in FileTransport.removeStaleConnections(in: configuration.sharedDirectory) {
            log("podbench serve: removed \(path), the files of a file connection whose server died")
        }
        while true {
            let fd = try listener.accept()
            let connection: ControlConnection
            do {
                connection = try ControlConnection(
                    descriptor: fd, timeoutNanoseconds: configuration.peerTimeoutNanoseconds)
            } catch {
                try? fd.close()
                continue
            }
            let stop = serveSession(connection)
            connection.close()
            if stop { return }
        }
    }

    /// Closes the control listener and removes its socket file.
    public func close() {
        if let listener {
            try? listener.close()
            if case .unixPath(let path) = configuration.control { _ = unlink(path) }
        }
        listener = nil
    }

    /// One client's session. Returns true when the client asked the server to exit.
    func serveSession(_ connection: ControlConnection) -> Bool {
        var active: (any ServedCase)?
        defer { active?.close() }
        while true {
            let message: ControlMessage
            do {
                message = try connection.receive()
            } catch let error as PodBenchError {
                if error.code != .peerClosed { log("podbench serve: dropping a client: \(error)") }
                return false
            } catch {
                return false
            }
            do {
                switch message {
                case .hello(let hello):
                    let cpu = hello.serverCPU ?? configuration.cpu
                    if cpu == nil, !initialCPUs.isEmpty { try CPUPinning.allow(initialCPUs) }
                    let pinning = try CPUPinning.pinCurrentThread(to: cpu)
                    try connection.send(
                        .welcome(
                            Welcome(
                                podbenchVersion: PodBenchVersion.version, environment: HostEnvironment.probe(),
                                pinning: pinning)))
                case .prepareCase(let spec):
                    active?.close()
                    active = nil
                    try spec.validate()
                    caseCounter += 1
                    active = try openCase(spec, connection: connection)
                case .startPhase:
                    guard let current = active else {
                        throw PodBenchError(.protocolViolation, "startPhase before prepareCase")
                    }
                    let report = try runPhase(current, connection: connection)
                    try connection.send(.phaseReport(report))
                    if report.errorCode != nil {
                        current.close()
                        active = nil
                    }
                case .endCase:
                    active?.close()
                    active = nil
                    try connection.send(.caseEnded)
                case .bye:
                    return false
                case .shutdown:
                    try? connection.send(.bye)
                    return true
                default:
                    throw PodBenchError(.protocolViolation, "a client sent \(message.name), which only a server sends")
                }
            } catch let error as PodBenchError {
                if error.code == .peerClosed || error.code == .timeout && !isCaseSetup(message) {
                    log("podbench serve: client gone: \(error)")
                    return false
                }
                // Tell the client and keep serving it: a failed case is not a failed session.
                do {
                    try connection.send(.failure(code: error.code, message: error.description))
                } catch {
                    return false
                }
                if error.code == .protocolViolation { return false }
            } catch {
                try? connection.send(.failure(code: .ioFailure, message: "\(error)"))
                return false
            }
        }
    }

    private func isCaseSetup(_ message: ControlMessage) -> Bool {
        if case .prepareCase = message { return true }
        return false
    }

    /// Opens the case's data endpoint, tells the client where it is, and accepts its connection.
    func openCase(_ spec: CaseSpec, connection: ControlConnection) throws -> any ServedCase {
        // Zero-padded: a hop finds the newest connection in a directory as the last name.
        let name = "podbench-\(instance)-" + String(format: "%08d", caseCounter)
        let timeout = configuration.peerTimeoutNanoseconds
        // With a hop whose server side is a directory (`--via-target file:DIR`, shm:DIR, fifo:DIR)
        // the connection is made there, where the hop looks for it, instead of the run's folder.
        var fixedDirectory: String?
        if let listen = spec.options.listen, [.shm, .file, .fifo].contains(spec.transport) {
            let endpoint = try Relay.Endpoint(parsing: listen)
            guard endpoint.transport == spec.transport, let directory = endpoint.directory else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--via-target \(listen) is not a \(spec.transport) endpoint (\(spec.transport):DIR)")
            }
            try Relay.makeDirectory(directory, option: "--via-target \(listen)")
            // A connection left there by a killed server must not be the one the hop opens.
            SharedMemoryTransport.removeStaleRingFiles(in: directory)
            FileTransport.removeStaleConnections(in: directory)
            fixedDirectory = directory
        }
        switch spec.transport {
        case .shm:
            let listener = try SharedMemoryTransport.listen(
                directory: fixedDirectory ?? configuration.sharedMemoryDirectory, name: name,
                capacity: spec.options.ringBytes ?? TransportOptions.defaultRingBytes,
                strategy: try spec.options.waitStrategy())
            defer { listener.close() }
            ringPathHook(listener.path)
            defer { ringPathHook(nil) }
            try connection.send(.caseReady(endpoint: listener.endpoint))
            return ActiveCase(spec: spec, channel: try listener.accept(timeoutNanoseconds: timeout), listener: nil)
        case .file, .uringFile:
            var io: URingFileIO?
            if spec.transport == .uringFile {
                let settings = try spec.options.uringSettings()
                io = URingFileIO(uring: try URing(entries: 8, setup: settings.setup), timeoutNanoseconds: timeout)
            }
            let listener = try FileTransport.listen(
                directory: fixedDirectory ?? configuration.sharedDirectory, name: name,
                settings: try spec.options.fileSettings(),
                timeoutNanoseconds: timeout, io: io)
            defer { listener.close() }
            try connection.send(.caseReady(endpoint: listener.endpoint))
            return ActiveCase(spec: spec, channel: try listener.accept(timeoutNanoseconds: timeout), listener: nil)
        case .fifo:
            let listener = try FIFOTransport.listen(
                directory: fixedDirectory ?? configuration.sharedDirectory, name: name)
            defer { listener.close() }
            try connection.send(.caseReady(endpoint: listener.endpoint))
            return ActiveCase(spec: spec, channel: try listener.accept(timeoutNanoseconds: timeout), listener: nil)
        case .uringTCP, .uringUDS:
            let settings = try spec.options.uringSettings()
            if settings.registeredBuffers && spec.transport == .uringUDS {
                throw PodBenchError(
                    .unavailable,
                    "registered buffers go out as zero-copy sends, which Unix sockets do not take: use --uring-buffers copy for uring-uds"
                )
            }
            // Made before the client is told where to connect: a refusal is the case's answer.
            let uring = try URing(entries: settings.batch + 8, setup: settings.setup)
            let listener = try SocketTransport.listen(
                kind: spec.transport, options: spec.options, sharedDirectory: configuration.sharedDirectory, name: name)
            do {
                try connection.send(.caseReady(endpoint: listener.endpoint.description))
                let socket = try listener.accept(timeoutNanoseconds: timeout)
                let channel: URingSocketChannel
                do {
                    channel = try URingSocketChannel(
                        descriptor: socket.descriptor, uring: uring, batch: settings.batch, timeoutNanoseconds: timeout,
                        registeredBuffers: settings.registeredBuffers)
                } catch {
                    socket.close()
                    throw error
                }
                return ActiveCase(spec: spec, channel: channel, listener: listener)
            } catch {
                listener.close()
                uring.close()
                throw error
            }
        case .tcp, .tcp6, .uds, .udsAbstract:
            // With a hop (--via) the server listens where the hop forwards, not where it likes.
            let listener = try SocketTransport.listen(
                kind: spec.transport, options: spec.options, sharedDirectory: configuration.sharedDirectory, name: name,
                fixed: try spec.options.listen.map { try SocketAddress(parsing: $0) })
            do {
                try connection.send(.caseReady(endpoint: listener.endpoint.description))
                let channel = try listener.accept(timeoutNanoseconds: timeout)
                return ActiveCase(spec: spec, channel: channel, listener: listener)
            } catch {
                listener.close()
                throw error
            }
        }
    }

    /// Runs one phase of the active case: snapshot, tell the client to go, serve the data, snapshot.
    func runPhase(_ current: any ServedCase, connection: ControlConnection) throws -> ServerPhaseReport {
        let before = CPUUsage.currentThread()
        try connection.send(.phaseReady)
        let (counts, failure, oneWay) = current.serve()
        let usage = CPUUsage.currentThread().since(before)
        return ServerPhaseReport(
            usage: usage, integrity: counts, errorCode: failure?.code,
            error: failure.map { "server: \($0.description)" }, cpu: CPUPinning.currentCPU(), oneWayLatency: oneWay)
    }
}

/// A case the server is serving: its connection, held between phases.
protocol ServedCase: AnyObject {
    var spec: CaseSpec { get }
    /// Serves one data phase until the client's end-of-trial frame; returns the integrity counts,
    /// the error it ended in, and (stream) the one-way delivery times.
    func serve() -> (IntegrityCounts, PodBenchError?, EncodedHistogram?)
    func close()
}

/// A served case over a concrete channel type: the workload loops are specialised for it (the
/// existential is crossed once per phase, never per message).
final class ActiveCase<Channel: DataChannel>: ServedCase {
    let spec: CaseSpec
    let listener: SocketTransport.Listener?
    var reader: FrameReader<Channel>
    var oneWay = EncodedHistogram.makeLatencyHistogram()
    private var closed = false

    init(spec: CaseSpec, channel: Channel, listener: SocketTransport.Listener?) {
        self.spec = spec
        self.listener = listener
        reader = FrameReader(channel: channel, maximumPayload: spec.messageSize)
    }

    func serve() -> (IntegrityCounts, PodBenchError?, EncodedHistogram?) {
        var checker = IntegrityChecker(payloadLength: spec.messageSize, verifyEvery: spec.verifyEvery)
        oneWay.reset()
        var failure: PodBenchError?
        do {
            switch spec.workload {
            case .pingpong:
                try PingPongWorkload.server(reader: &reader, checker: &checker, corruptSequence: spec.corruptSequence)
            case .stream, .rate:
                try StreamWorkload.server(reader: &reader, checker: &checker, oneWay: &oneWay)
            }
        } catch let error as PodBenchError {
            failure = error
        } catch {
            failure = PodBenchError(.ioFailure, "\(error)")
        }
        let recorded = spec.workload != .pingpong && oneWay.totalCount > 0 ? EncodedHistogram(oneWay) : nil
        return (checker.counts, failure, recorded)
    }

    func close() {
        guard !closed else { return }
        closed = true
        reader.channel.close()
        reader.deallocate()
        listener?.close()
    }

    deinit { close() }
}
