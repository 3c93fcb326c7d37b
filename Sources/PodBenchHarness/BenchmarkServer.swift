import CPodBenchLinux
import Dispatch
import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchRing
import PodBenchTransports
import SystemPackage

/// `podbench serve`: listens on the control endpoint and runs whatever cases clients ask for,
/// one client at a time, until a client sends `shutdown` or the process is signalled.
public final class BenchmarkServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var control: SocketAddress
        /// Where `uds` data sockets are created: the volume both sides mount.
        public var sharedDirectory: String
        /// How long one control message may take to arrive, and how long a silent peer is waited for.
        public var peerTimeoutNanoseconds: UInt64
        /// The CPU to pin the serving thread to when a client does not ask for one.
        public var cpu: Int?
        /// Where `shm` ring files are created: /dev/shm or a memory-backed volume both sides mount.
        public var sharedMemoryDirectory: String
        /// The secret every client must present in its `hello`.
        public var token: ControlToken
        /// The endpoints a hop forwards to (`serve --via-target`): the only places other than its
        /// own directories where this server listens, and only when a client's case names one.
        public var hopTargets: [HopEndpoint]
        /// Connections that may wait (being authenticated, or authenticated and queued behind the
        /// client being served). A new one beyond it takes the place of the oldest one still
        /// authenticating; only when all are authenticated is it refused with a message.
        public var maximumWaiting: Int
        /// Stop serving once no client has been connected for this long (`serve --idle-exit`): a
        /// pod's server whose client died or never started. Nil: serve until told to stop.
        public var idleExitNanoseconds: UInt64?

        public init(
            control: SocketAddress, sharedDirectory: String, peerTimeoutNanoseconds: UInt64, cpu: Int?,
            sharedMemoryDirectory: String = "/dev/shm", token: ControlToken, hopTargets: [HopEndpoint] = [],
            maximumWaiting: Int = 8, idleExitNanoseconds: UInt64? = nil
        ) {
            self.idleExitNanoseconds = idleExitNanoseconds
            self.control = control
            self.sharedDirectory = sharedDirectory
            self.sharedMemoryDirectory = sharedMemoryDirectory
            self.peerTimeoutNanoseconds = peerTimeoutNanoseconds
            self.cpu = cpu
            self.token = token
            self.hopTargets = hopTargets
            self.maximumWaiting = maximumWaiting
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
            // The socket file is made 0600 as bind creates it (a chmod afterwards would follow a
            // symlink swapped in meanwhile): only this user and root may connect.
            let previousMask = umask(0o177)
            defer { umask(previousMask) }
            do {
                try fd.bind(to: address)
            } catch let error as PodBenchError where error.cause?.errno == .addressInUse {
                guard case .unixPath(let path) = address, !Self.somebodyListens(at: address) else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "\(address) is in use by another process (another podbench serve?): stop it or pick another --control",
                        cause: error.cause)
                }
                // A dead server's socket file; anything else at that name is not ours to remove.
                guard SystemFiles.removeSocketFile(path) else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "\(path) exists and is not a socket: podbench removes nothing it did not make; pick another path"
                    )
                }
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

    /// How serving ended.
    public enum Ending: Equatable, Sendable {
        /// A client sent `shutdown`, or the server was stopped.
        case shutdown
        /// No client for `idleExitNanoseconds`; `served` clients were served before.
        case idle(served: Int)
    }

    /// Serves clients until one sends `shutdown` (or, with `idleExitNanoseconds`, until none has
    /// been connected for that long).
    ///
    /// A thread accepts connections and authenticates each on a thread of its own (the peer's uid on
    /// a Unix socket, then the token in its `hello`, which must arrive whole within the timeout);
    /// only authenticated clients queue for this thread, which serves them one at a time. So a
    /// silent or slow connection costs the others nothing, and at most `maximumWaiting` wait.
    @discardableResult
    public func serve() throws -> Ending {
        if listener == nil { try bind() }
        guard let listener else { return .shutdown }
        defer { close() }
        log("podbench serve: listening on \(configuration.control), shared directory \(configuration.sharedDirectory)")
        for path in SharedMemoryTransport.removeStaleRingFiles(in: configuration.sharedMemoryDirectory) {
            log("podbench serve: removed \(path), left by a server that died before its client attached")
        }
        for path in FileTransport.removeStaleConnections(in: configuration.sharedDirectory) {
            log("podbench serve: removed \(path), the files of a file connection whose server died")
        }
        let gate = AdmissionGate(limit: configuration.maximumWaiting)
        let acceptingEnded = DispatchSemaphore(value: 0)
        let accepting = Thread { [self] in
            acceptLoop(listener, gate: gate)
            acceptingEnded.signal()
        }
        accepting.start()
        defer {
            gate.stop()
            listener.shutdownBoth()  // wakes the accepting thread, which then ends
            // Before the listener is closed: its descriptor must not be reused under that thread.
            acceptingEnded.wait()
        }
        var served = 0
        // The idle clock starts now, and again each time a client's session ends.
        while let next = try gate.next(idleNanoseconds: configuration.idleExitNanoseconds) {
            guard case .client(let connection, let hello) = next else { return .idle(served: served) }
            let stop = serveSession(connection, hello: hello)
            connection.close()
            served += 1
            if stop { return .shutdown }
        }
        return .shutdown
    }

    /// Accepts connections until the listener is shut down; each is authenticated on its own thread.
    func acceptLoop(_ listener: FileDescriptor, gate: AdmissionGate) {
        var lastComplaint: UInt64 = 0
        while !gate.isStopped {
            let fd: FileDescriptor
            do {
                fd = try listener.accept()
            } catch let error as PodBenchError {
                if gate.isStopped { return }
                switch error.cause?.errno {
                case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory:
                    // Out of descriptors or memory: say so now and then, and keep the clients we have.
                    let now = MonotonicClock.now()
                    if now &- lastComplaint > 10_000_000_000 {
                        log("podbench serve: cannot accept a connection: \(error) (raise `ulimit -n`?)")
                        lastComplaint = now
                    }
                    usleep(50_000)
                    continue
                // accept(2): errors of the new connection or the network, to be retried.
                case .connectionAbort, .interrupted, .resourceTemporarilyUnavailable, .protocolError,
                    .networkDown, .networkUnreachable, .hostIsDown, .noRouteToHost, .notSupported,
                    .protocolNotSupported, .permissionDenied, .timedOut:
                    continue
                default:
                    gate.stop(
                        failure: PodBenchError(
                            .ioFailure, "podbench serve cannot accept connections any more: \(error.message)",
                            cause: error.cause))
                    return
                }
            } catch {
                gate.stop(failure: PodBenchError(.ioFailure, "podbench serve cannot accept connections: \(error)"))
                return
            }
            guard gate.admit(fd) else {
                Self.refuse(
                    fd, .unauthorized,
                    "the server is busy: \(configuration.maximumWaiting) clients are already waiting to be served; try again when its client is done"
                )
                continue
            }
            let authenticating = Thread { [self] in
                if let admitted = authenticate(fd, gate: gate) {
                    gate.enqueue(admitted)
                } else {
                    gate.leave()
                }
            }
            authenticating.start()
        }
    }

    /// Checks who is at the other end of a new connection: the peer's uid (Unix sockets) and the
    /// token in its `hello`. Returns the connection and its greeting, or nil after telling the peer
    /// why not and closing it.
    func authenticate(_ fd: FileDescriptor, gate: AdmissionGate) -> (ControlConnection, Hello)? {
        if configuration.control.family == AF_UNIX {
            var uid: UInt32 = 0
            if CPodBenchLinux_peer_uid(fd.rawValue, &uid) == 0, uid != geteuid(), uid != 0 {
                gate.proven(fd)
                log("podbench serve: refused a client of uid \(uid) (this server runs as uid \(geteuid()))")
                Self.refuse(
                    fd, .unauthorized, "uid \(uid) may not use a podbench server of uid \(geteuid())",
                    drainNanoseconds: 100_000_000)
                return nil
            }
        }
        let connection: ControlConnection
        do {
            connection = try ControlConnection(descriptor: fd, timeoutNanoseconds: configuration.peerTimeoutNanoseconds)
        } catch {
            gate.proven(fd)
            try? fd.close()
            return nil
        }
        let message: ControlMessage
        do {
            defer { gate.proven(fd) }
            message = try connection.receive()
        } catch let error as PodBenchError {
            if error.code != .peerClosed { log("podbench serve: dropping a connection before its hello: \(error)") }
            connection.close()
            return nil
        } catch {
            connection.close()
            return nil
        }
        guard case .hello(let hello) = message else {
            log("podbench serve: dropping a connection that began with \(message.name), not hello")
            try? connection.send(
                .failure(code: .protocolViolation, message: "a session begins with hello; got \(message.name)"))
            connection.close()
            return nil
        }
        guard configuration.token.matches(hello.token) else {
            log("podbench serve: refused a client with \(hello.token == nil ? "no" : "a wrong") control token")
            try? connection.send(
                .failure(
                    code: .unauthorized,
                    message:
                        "the control token is \(hello.token == nil ? "missing" : "wrong"): give the client the --token-file that serve uses"
                ))
            connection.close()
            return nil
        }
        return (connection, hello)
    }

    /// Tells a connection why it is refused (one frame into an empty socket buffer never blocks)
    /// and closes it. What the peer sent is read and dropped first, for at most `drainNanoseconds`
    /// (0: only what has already arrived): closing a socket with unread bytes resets the
    /// connection, and the peer would lose the reason.
    static func refuse(_ fd: FileDescriptor, _ code: PodBenchError.Code, _ text: String, drainNanoseconds: UInt64 = 0) {
        if let frame = try? ControlConnection.encodeFrame(.failure(code: code, message: text)) {
            _ = frame.withUnsafeBytes { try? fd.send($0) }
        }
        _ = Glibc.shutdown(fd.rawValue, Int32(SHUT_WR))
        let deadline = MonotonicClock.now() &+ drainNanoseconds
        var scratch = [UInt8](repeating: 0, count: 4096)
        var drained = 0
        while drained < 1 << 16 {
            let now = MonotonicClock.now()
            if drainNanoseconds > 0 {
                // One deadline for the whole drain: a peer that trickles cannot stretch it.
                guard now < deadline, (try? fd.setIOTimeout(nanoseconds: max(deadline - now, 1000))) != nil else {
                    break
                }
            }
            let n = scratch.withUnsafeMutableBytes {
                recv(fd.rawValue, $0.baseAddress, $0.count, drainNanoseconds > 0 ? 0 : Int32(MSG_DONTWAIT))
            }
            if n <= 0 { break }
            drained += n
        }
        try? fd.close()
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
    func serveSession(_ connection: ControlConnection, hello: Hello) -> Bool {
        var active: ServedCase?
        defer { active?.close() }
        do {
            let cpu = hello.serverCPU ?? configuration.cpu
            if cpu == nil, !initialCPUs.isEmpty { try CPUPinning.allow(initialCPUs) }
            let pinning = try CPUPinning.pinCurrentThread(to: cpu)
            try connection.send(
                .welcome(
                    Welcome(
                        podbenchVersion: PodBenchVersion.version, environment: HostEnvironment.probe(),
                        pinning: pinning,
                        injectedDelayNanoseconds: PingPongWorkload.injectedDelayNanoseconds > 0
                            ? PingPongWorkload.injectedDelayNanoseconds : nil)))
        } catch {
            try? connection.send(.failure(code: (error as? PodBenchError)?.code ?? .ioFailure, message: "\(error)"))
            return false
        }
        // Data sockets listen on the address this client reached the server by (loopback for a
        // Unix control socket), never on every interface.
        let localAddress = try? connection.descriptor.localInternetAddress()
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
                case .prepareCase(let spec):
                    active?.close()
                    active = nil
                    try spec.validate()
                    caseCounter += 1
                    active = try openCase(spec, connection: connection, localAddress: localAddress)
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

    /// The client's process as the kernel names it here (a Unix control socket's peer), or nil.
    static func peerProcess(of connection: ControlConnection) -> Int32? {
        var pid: Int32 = 0
        guard CPodBenchLinux_peer_pid(connection.descriptor.rawValue, &pid) == 0, pid > 0 else { return nil }
        return pid
    }

    /// Opens the case's data endpoint, tells the client where it is, and accepts its connection.
    func openCase(_ spec: CaseSpec, connection: ControlConnection, localAddress: SocketAddress? = nil) throws
        -> ServedCase
    {
        // Zero-padded: a hop finds the newest connection in a directory as the last name.
        let name = "podbench-\(instance)-" + String(format: "%08d", caseCounter)
        // With a hop (`--via`) the server listens where the hop forwards (`--via-target`: a socket,
        // or file:DIR, shm:DIR, fifo:DIR where it makes the connection for the hop to open) instead
        // of a place of its own choosing. Only a target this server was started for: a client
        // names a case, never a place.
        let place = ListenPlace(
            name: name, sharedDirectory: configuration.sharedDirectory,
            sharedMemoryDirectory: configuration.sharedMemoryDirectory, controlAddress: localAddress,
            hopTarget: try spec.options.listen.map { try allowedHopTarget($0) },
            timeoutNanoseconds: configuration.peerTimeoutNanoseconds, peerProcess: Self.peerProcess(of: connection))
        return try TransportCatalog.visit(
            spec.transport,
            with: OpenCase(spec: spec, place: place, connection: connection, ringPathHook: ringPathHook))
    }

    /// The hop target `listen` names, when this server was started for it (`serve --via-target`).
    func allowedHopTarget(_ listen: HopEndpoint) throws -> HopEndpoint {
        guard configuration.hopTargets.contains(listen) else {
            throw PodBenchError(
                .invalidConfiguration,
                "this server was not started for a hop to \(TextEscaping.terminal(String(listen.description.prefix(200)))): a client cannot choose where the server listens; start `podbench serve --via-target` with it"
            )
        }
        return listen
    }

    /// Runs one phase of the active case: snapshot, tell the client to go, serve the data, snapshot.
    func runPhase(_ current: ServedCase, connection: ControlConnection) throws -> ServerPhaseReport {
        let before = CPUUsage.currentThread()
        // Frames stamped before this are an earlier phase's (dropped over datagrams): the client
        // starts its clock after it reads phaseReady.
        let since = MonotonicClock.now()
        try connection.send(.phaseReady)
        let (counts, failure, oneWay) = current.serve(since: since)
        let usage = CPUUsage.currentThread().since(before)
        return ServerPhaseReport(
            usage: usage, integrity: counts, errorCode: failure?.code,
            error: failure.map { "server: \($0.description)" }, cpu: CPUPinning.currentCPU(), oneWayLatency: oneWay)
    }
}

/// A case the server is serving: its connection, held between phases. Its two actions are
/// closures made where the channel's type is known (`OpenCase.visit`), so the workload loops they
/// call are specialised for it: the case is crossed once per phase, never per message. (A
/// protocol existential over a generic class would run them unspecialised: its witnesses are
/// generic code.)
final class ServedCase {
    let spec: CaseSpec
    private let serveBody: (UInt64) -> (IntegrityCounts, PodBenchError?, EncodedHistogram?)
    private let closeBody: () -> Void

    init(
        spec: CaseSpec, serve: @escaping (UInt64) -> (IntegrityCounts, PodBenchError?, EncodedHistogram?),
        close: @escaping () -> Void
    ) {
        self.spec = spec
        serveBody = serve
        closeBody = close
    }

    /// Serves one data phase until the client's end-of-trial frame; returns the integrity counts,
    /// the error it ended in, and (stream) the one-way delivery times.
    func serve(since: UInt64) -> (IntegrityCounts, PodBenchError?, EncodedHistogram?) { serveBody(since) }

    /// Closes the connection and the listener (once; the case's end or the session's).
    func close() { closeBody() }
}

/// Listens for one case with the transport `T`, tells the client where, accepts its connection.
struct OpenCase: TransportVisitor {
    let spec: CaseSpec
    let place: ListenPlace
    let connection: ControlConnection
    let ringPathHook: @Sendable (String?) -> Void

    func visit<T: Transport>(_ transport: T.Type) throws -> ServedCase {
        if let most = T.maximumPayload(spec.options), spec.messageSize > most {
            throw PodBenchError(
                .unavailable,
                "\(T.kind.rawValue) carries at most \(most) payload bytes in one message (what one datagram holds, less podbench's \(FrameHeader.size)-byte frame header): \(ByteSize.format(spec.messageSize)) does not fit; pick smaller --sizes"
            )
        }
        // A ring file's path goes to the hook before the file is made, so that a signal at any moment
        // of its making (between its rename and this thread's next step too) finds it to remove.
        var announced = false
        if T.kind == .shm {
            ringPathHook(
                try place.directory(for: T.kind, otherwise: place.sharedMemoryDirectory) + "/" + place.name + ".ring")
            announced = true
        }
        let listener: T.Listener
        do {
            listener = try T.listen(spec.options, at: place)
        } catch {
            if announced { ringPathHook(nil) }
            throw error
        }
        if spec.acceptsLazily {
            do {
                try connection.send(.caseReady(endpoint: listener.endpoint))
            } catch {
                listener.close()
                throw error
            }
            let served = HTTPHopCase(spec: spec, listener: listener, timeoutNanoseconds: place.timeoutNanoseconds)
            return ServedCase(spec: spec, serve: { served.serve(since: $0) }, close: { served.close() })
        }
        do {
            try connection.send(.caseReady(endpoint: listener.endpoint))
            let channel = try listener.accept(timeoutNanoseconds: place.timeoutNanoseconds)
            // Attached: the ring file's name is gone.
            if announced { ringPathHook(nil) }
            let active = ActiveCase(spec: spec, channel: channel, listener: listener)
            return ServedCase(spec: spec, serve: { active.serve(since: $0) }, close: { active.close() })
        } catch {
            listener.close()
            if announced { ringPathHook(nil) }
            throw error
        }
    }
}

/// A served case over a concrete channel type, called directly where that type is known. It holds
/// the listener until the case ends (a socket file goes then).
final class ActiveCase<Listener: DataListener> {
    typealias Channel = Listener.Channel
    let spec: CaseSpec
    let listener: Listener
    var reader: FrameReader<Channel>
    var oneWay = EncodedHistogram.makeLatencyHistogram()
    /// The responses of an HTTP case.
    let http: HTTP1MessageWriter?
    /// An http2 case's session: the connection's, over all its phases (or why it could not be made).
    let h2: Result<HTTP2ServerSession, PodBenchError>?
    private var closed = false

    init(spec: CaseSpec, channel: Channel, listener: Listener) {
        self.spec = spec
        self.listener = listener
        reader = FrameReader(channel: channel, maximumPayload: spec.messageSize)
        // Sizes are checked before (at most 4 MiB), so the session can be made.
        h2 =
            spec.workload.speaksHTTP2
            ? Result { try HTTP2Workload.serverSession(bodyLength: spec.messageSize, seed: spec.seed) }
                .mapError { $0 as? PodBenchError ?? PodBenchError(.invalidConfiguration, "\($0)") } : nil
        http =
            spec.workload.speaksHTTP1
            ? HTTP1MessageWriter.response(bodyLength: spec.messageSize, seed: spec.seed) : nil
    }

    func serve(since: UInt64) -> (IntegrityCounts, PodBenchError?, EncodedHistogram?) {
        var checker = IntegrityChecker(
            payloadLength: spec.messageSize, verifyEvery: spec.verifyEvery, datagrams: Channel.isDatagram)
        oneWay.reset()
        var failure: PodBenchError?
        do {
            switch spec.workload {
            case .pingpong:
                try PingPongWorkload.server(
                    reader: &reader, checker: &checker, corruptSequence: spec.corruptSequence, since: since)
            case .stream, .rate:
                try StreamWorkload.server(reader: &reader, checker: &checker, oneWay: &oneWay, since: since)
            case .http1, .http1Rate:
                let outcome = try HTTP1Workload.server(
                    reader: &reader, writer: http!, checker: &checker, corruptSequence: spec.corruptSequence)
                if outcome == .connectionDone {
                    // Straight from podbench's client, whose one connection lasts the case.
                    throw PodBenchError(
                        .peerClosed, "the client closed its HTTP connection (or asked to) before the end of the trial")
                }
            case .http2, .http2Rate:
                let outcome = try HTTP2Workload.server(
                    channel: reader.channel, session: try h2!.get(), checker: &checker,
                    corruptSequence: spec.corruptSequence)
                if outcome == .connectionDone {
                    throw PodBenchError(
                        .peerClosed, "the client closed its HTTP/2 connection before the end of the trial")
                }
            }
        } catch let error as PodBenchError {
            failure = error
        } catch {
            failure = PodBenchError(.ioFailure, "\(error)")
        }
        // A datagram client waiting for an echo or an acknowledgement has no end of stream to see:
        // the goodbye tells it at once (the case ends with this failure).
        if failure != nil && Channel.isDatagram { reader.channel.shutdown() }
        let recorded = !spec.workload.measuresRoundTrip && oneWay.totalCount > 0 ? EncodedHistogram(oneWay) : nil
        return (checker.counts, failure, recorded)
    }

    func close() {
        guard !closed else { return }
        closed = true
        reader.channel.close()
        reader.deallocate()
        http?.deallocate()
        listener.close()
    }

    deinit { close() }
}

/// An HTTP case through a hop (`CaseSpec.acceptsLazily`): its connections are accepted when the
/// phases run, one at a time, each served until it ends at a message boundary (the proxy closed
/// it, or asked to with `Connection: close`), then the next, until the client's end of the trial.
/// An http2 case's connection is a session of its own (its HPACK table, its streams) from its
/// preface on, kept from phase to phase while the proxy keeps the connection. An http2 case whose
/// proxy passes it on as HTTP/1.1 (nginx; its first connection starts with a request line, not
/// the preface) is served by `HTTP1FanIn`, on every connection the proxy opens at once.
final class HTTPHopCase<Listener: DataListener> {
    let spec: CaseSpec
    let listener: Listener
    let timeoutNanoseconds: UInt64
    /// http1's responses.
    let writer: HTTP1MessageWriter?
    var reader: FrameReader<Listener.Channel>?
    /// http2: the current connection's session.
    var session: HTTP2ServerSession?
    /// http2 passed on as HTTP/1.1: the connections, from the first on.
    var fanIn: HTTP1FanIn?
    private var closed = false

    init(spec: CaseSpec, listener: Listener, timeoutNanoseconds: UInt64) {
        self.spec = spec
        self.listener = listener
        self.timeoutNanoseconds = timeoutNanoseconds
        writer =
            spec.workload.speaksHTTP1 ? HTTP1MessageWriter.response(bodyLength: spec.messageSize, seed: spec.seed) : nil
    }

    func serve(since: UInt64) -> (IntegrityCounts, PodBenchError?, EncodedHistogram?) {
        var checker = IntegrityChecker(payloadLength: spec.messageSize, verifyEvery: spec.verifyEvery)
        // One timeout for the next request, however many connections come and go without one
        // (a health check, a stranger on the target's address): the phase cannot outlast it, and
        // the client, which waits twice as long for this side's report, stays in step.
        var lastRequest = since
        do {
            while true {
                if let fanIn {
                    guard let socket = listener as? SocketTransport.Listener else {
                        throw PodBenchError(.invalidConfiguration, "an http2 case through a hop runs on a socket")
                    }
                    try fanIn.serve(
                        listener: listener, descriptor: socket.descriptor.rawValue, checker: &checker,
                        corruptSequence: spec.corruptSequence, since: lastRequest)
                    break
                }
                let received = checker.counts.received
                let outcome = try serveConnection(&checker, deadline: lastRequest &+ timeoutNanoseconds)
                if checker.counts.received != received { lastRequest = MonotonicClock.now() }
                if outcome == .ended { break }
                dropConnection()
            }
            return (checker.counts, nil, nil)
        } catch let error as PodBenchError {
            return (checker.counts, error, nil)
        } catch {
            return (checker.counts, PodBenchError(.ioFailure, "\(error)"), nil)
        }
    }

    /// Serves the current connection, accepting one first (by `deadline`) when there is none.
    private func serveConnection(_ checker: inout IntegrityChecker, deadline: UInt64) throws
        -> HTTP1Workload.Outcome
    {
        if reader == nil {
            let channel: Listener.Channel
            do {
                let now = MonotonicClock.now()
                guard now < deadline else {
                    throw PodBenchError(
                        .timeout,
                        "no request came in \(DurationText.format(nanoseconds: timeoutNanoseconds)) (--timeout)")
                }
                channel = try listener.accept(timeoutNanoseconds: deadline - now)
            } catch let error as PodBenchError {
                throw PodBenchError(
                    error.code, "no connection from the hop for the next HTTP request: \(error.message)",
                    cause: error.cause)
            }
            // accept gave the connection's reads and writes the time that was left for it to come;
            // a connection that serves the phases after this one has the whole timeout.
            if let socket = channel as? SocketChannel {
                try? socket.descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds)
            }
            if spec.workload.speaksHTTP2 {
                guard let socket = channel as? SocketChannel else {
                    channel.close()
                    throw PodBenchError(.invalidConfiguration, "an http2 case through a hop runs on a socket")
                }
                let preface: Bool?
                do {
                    preface = try HTTP1FanIn.startsWithPreface(socket.descriptor, deadline: deadline)
                } catch {
                    channel.close()
                    throw error
                }
                guard let preface else {
                    // Closed before a request (a health check that only connects): the next.
                    channel.close()
                    return .connectionDone
                }
                if !preface {
                    let fan =
                        fanIn
                        ?? HTTP1FanIn(
                            bodyLength: spec.messageSize, seed: spec.seed, timeoutNanoseconds: timeoutNanoseconds)
                    fanIn = fan
                    fan.adopt(socket)
                    return .connectionDone
                }
                do {
                    session = try HTTP2Workload.serverSession(bodyLength: spec.messageSize, seed: spec.seed)
                } catch {
                    channel.close()
                    throw error as? PodBenchError ?? PodBenchError(.invalidConfiguration, "\(error)")
                }
            }
            reader = FrameReader(channel: channel, maximumPayload: spec.messageSize)
        }
        if let session {
            // --inject-corruption counts the phase's echoes, whichever connection carries them
            // (the session counts its own).
            let done = checker.counts.received
            return try HTTP2Workload.server(
                channel: reader!.channel, session: session, checker: &checker,
                corruptSequence: spec.corruptSequence.flatMap { $0 >= done ? $0 - done : nil })
        }
        var current = reader!
        defer { reader = current }
        // http1's requests carry their number.
        return try HTTP1Workload.server(
            reader: &current, writer: writer!, checker: &checker, corruptSequence: spec.corruptSequence)
    }

    private func dropConnection() {
        reader?.channel.close()
        reader?.deallocate()
        reader = nil
        session = nil
    }

    func close() {
        guard !closed else { return }
        closed = true
        dropConnection()
        fanIn?.close()
        writer?.deallocate()
        listener.close()
    }

    deinit { close() }
}
