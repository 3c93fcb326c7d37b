import CPodBenchLinux
import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchRing
import PodBenchTransports
import SystemPackage

/// The side that drives a run: connects to a server's control endpoint, runs the matrix case by
/// case, and measures. `podbench client` and `podbench run` are both this.
public final class BenchmarkClient: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var control: SocketAddress
        public var trials: Int
        public var warmup: PhasePlan
        public var trial: PhasePlan
        public var peerTimeoutNanoseconds: UInt64
        public var clientCPU: Int?
        public var serverCPU: Int?
        /// How long to keep retrying the first connection (a server that is still starting).
        public var connectWaitNanoseconds: UInt64
        /// The stats endpoint of the relay in a hop (`podbench relay --stats`): asked before and
        /// after each phase of a case with a hop, for the relay's own CPU per message.
        /// Each hop's stats source, by the hop's name (`--via-name`).
        public var hopStats: [String: HopStatsSource]
        /// The file holding the server's control token (`--token-file`), read once connected: a
        /// server that is still starting makes it before it listens.
        public var tokenFile: String

        public init(
            control: SocketAddress, trials: Int, warmup: PhasePlan, trial: PhasePlan, peerTimeoutNanoseconds: UInt64,
            clientCPU: Int?, serverCPU: Int?, connectWaitNanoseconds: UInt64, hopStats: [String: HopStatsSource] = [:],
            tokenFile: String
        ) {
            self.hopStats = hopStats
            self.tokenFile = tokenFile
            self.control = control
            self.trials = trials
            self.warmup = warmup
            self.trial = trial
            self.peerTimeoutNanoseconds = peerTimeoutNanoseconds
            self.clientCPU = clientCPU
            self.serverCPU = serverCPU
            self.connectWaitNanoseconds = connectWaitNanoseconds
        }
    }

    /// An error that ends the whole session (the control channel is gone), not just one case.
    public struct SessionError: Error, CustomStringConvertible {
        public var error: PodBenchError
        public var description: String { error.description }
    }

    public let configuration: Configuration
    let log: @Sendable (String) -> Void
    /// Told before each phase of a case starts (-1: the warm-up, then the trials from 0): the
    /// terminal's status line is redrawn there, never while a phase runs.
    public var phaseStarting: (Int) -> Void = { _ in }
    public private(set) var connection: ControlConnection?
    public private(set) var clientPinning: CPUPinning.Outcome?
    public private(set) var welcome: Welcome?

    public init(configuration: Configuration, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = log
    }

    /// Connects and greets the server; pins the client's thread.
    /// - Parameter keepWaiting: called between connection attempts; return false to stop waiting
    ///   (a child server that exited).
    public func start(keepWaiting: () -> Bool = { true }) throws {
        clientPinning = try CPUPinning.pinCurrentThread(to: configuration.clientCPU)
        let deadline = MonotonicClock.now() + configuration.connectWaitNanoseconds
        var lastError: PodBenchError?
        while connection == nil {
            let fd = try FileDescriptor.streamSocket(family: configuration.control.family)
            do {
                try fd.connect(to: configuration.control)
                connection = try ControlConnection(
                    descriptor: fd, timeoutNanoseconds: configuration.peerTimeoutNanoseconds)
            } catch let error as PodBenchError {
                try? fd.close()
                lastError = error
                let retryable = [Errno.connectionRefused, .noSuchFileOrDirectory].contains(error.cause?.errno)
                guard retryable, MonotonicClock.now() < deadline, keepWaiting() else {
                    throw PodBenchError(
                        error.code == .ioFailure ? .unavailable : error.code,
                        "no podbench server answers on \(configuration.control): start `podbench serve --control \(configuration.control)` on the other side, or check the endpoint",
                        cause: lastError?.cause)
                }
                usleep(20_000)
            }
        }
        if configuration.control.family == AF_UNIX, let connection {
            // The token goes only to a server of this user or root: whoever else listens there
            // (a socket swapped in on a shared volume) is an impostor.
            var uid: UInt32 = 0
            if CPodBenchLinux_peer_uid(connection.descriptor.rawValue, &uid) == 0, uid != geteuid(), uid != 0 {
                throw PodBenchError(
                    .unauthorized,
                    "the process at \(configuration.control) runs as uid \(uid), not as this user (\(geteuid())) or root: not sending it the control token"
                )
            }
        }
        let token = try ControlToken.read(path: configuration.tokenFile)
        try connection!.send(
            .hello(
                Hello(podbenchVersion: PodBenchVersion.version, serverCPU: configuration.serverCPU, token: token.text)))
        welcome = try connection!.expect("welcome") {
            if case .welcome(let w) = $0 { return w }
            return nil
        }
    }

    /// Tells the server this session is over; with `shutdown`, that it should exit.
    public func finish(shutdown: Bool) {
        guard let connection else { return }
        if shutdown {
            try? connection.send(.shutdown)
            _ = try? connection.receive()
        } else {
            try? connection.send(.bye)
        }
        connection.close()
        self.connection = nil
    }

    /// Runs one case: prepare, warm-up, trials, end.
    /// - Returns: the case's result, `failed` or `unavailable` with the reason where it did not run.
    /// - Throws: `SessionError` when the control channel broke and no further case can run.
    public func runCase(_ spec: CaseSpec) throws -> CaseResult {
        guard let connection else { throw SessionError(error: PodBenchError(.peerClosed, "not connected")) }
        var result = CaseResult(key: try spec.key(), status: .ok)
        let endpoint: Endpoint
        do {
            try connection.send(.prepareCase(spec))
            endpoint = try connection.expect("caseReady") {
                if case .caseReady(let endpoint) = $0 { return endpoint }
                return nil
            }
        } catch let error as PodBenchError {
            if error.code == .unavailable || error.code == .invalidConfiguration || error.code == .ioFailure {
                // The server could not set up this case but is still there.
                result.status = error.code == .unavailable ? .unavailable : .failed
                result.error = error.description
                result.errorCode = error.code.rawValue
                return result
            }
            throw SessionError(error: error)
        }
        result.endpoint = endpoint.description
        do {
            if let via = spec.options.via {
                // Through the hop, which forwards to the server's endpoint (any transport: the
                // server made its connection where the hop looks, `--via-target`).
                result.endpoint = "\(via) via \(spec.options.hop ?? "proxy") to \(endpoint)"
                try measureThroughHop(spec, via: via, into: &result)
            } else {
                try measureDirect(spec, endpoint: endpoint, into: &result)
            }
        } catch let error as PodBenchError {
            // The server (unless it accepts lazily, below) waits for the connection until its
            // timeout, then reports failure; read it to stay in step. Its timeout began before this wait did, so wait longer than it: a
            // wait that ended with the report half read would put the session out of step.
            result.status = error.code == .unavailable ? .unavailable : .failed
            result.error = "cannot open the data connection: \(error.description)"
            result.errorCode = error.code.rawValue
            if spec.acceptsLazily {
                // That server waits for phases, not for a connection: end the case.
                try endCase(on: connection)
                return result
            }
            do {
                let report = try connection.receive(
                    waitNanoseconds: configuration.peerTimeoutNanoseconds * 2 + 1_000_000_000)
                if case .failure(let code, let message) = report {
                    // Why the server refused (process-vm's server cannot read the client's
                    // memory, say): here only its end of the connection closing was seen.
                    result.error =
                        "cannot open the data connection: the server says: \(message.prefix(600)) (here: \(error.description))"
                    if code == .unavailable {
                        result.status = .unavailable
                        result.errorCode = code.rawValue
                    }
                }
            } catch let control as PodBenchError {
                throw SessionError(
                    error: PodBenchError(
                        control.code, "\(result.error ?? ""); then the server did not report: \(control.message)",
                        cause: control.cause))
            }
            return result
        }
        try endCase(on: connection)
        return result
    }

    /// Ends the case on the control channel: `endCase`, answered with `caseEnded`.
    /// - Throws: `SessionError` when the control channel broke.
    func endCase(on connection: ControlConnection) throws {
        do {
            try connection.send(.endCase)
            try connection.expect("caseEnded") {
                if case .caseEnded = $0 { return () }
                return nil
            }
        } catch let error as PodBenchError {
            throw SessionError(error: error)
        }
    }

    /// Connects to the hop (`--via`): a socket, or a connection the relay made in a directory
    /// (`file:DIR`, a sidecar following what the app appends; `fifo:DIR`; `shm:DIR`, a ring whose
    /// wait strategy the client adopts), and measures over it.
    func measureThroughHop(_ spec: CaseSpec, via: HopEndpoint, into result: inout CaseResult) throws {
        result.filesystem = via.filesystemPath.flatMap(FilesystemType.name(of:))
        // The case's options where they are the hop's transport's too (a file case through
        // file:DIR keeps its fsync); a ring's wait is its maker's, the relay's.
        var options = spec.options
        options.wait = nil
        result = try HopConnection.open(
            via, options: options, timeoutNanoseconds: configuration.peerTimeoutNanoseconds,
            then: Measure(client: self, spec: spec, result: result))
    }

    /// Measures a case over a channel of any type (specialised where it is called with one).
    struct Measure: ChannelUser {
        let client: BenchmarkClient
        let spec: CaseSpec
        let result: CaseResult

        func use<Channel: DataChannel & Sendable>(_ channel: Channel) throws -> CaseResult {
            var result = result
            try client.measure(spec, over: channel, into: &result)
            return result
        }
    }

    /// Connects straight to the server's endpoint for the case's transport and measures over it.
    func measureDirect(_ spec: CaseSpec, endpoint: Endpoint, into result: inout CaseResult) throws {
        result.filesystem = endpoint.filesystemPath.flatMap(FilesystemType.name(of:))
        var endpoint = endpoint
        if endpoint.naming(process: 1) != nil {
            // The process to take descriptors from or to signal is the one the kernel says is at
            // the other end of the control socket, not the one the server names: a hostile server
            // cannot point this client at a third process.
            endpoint = endpoint.naming(process: try serverProcess()) ?? endpoint
        }
        result = try TransportCatalog.visit(
            spec.transport, with: MeasureDirect(client: self, spec: spec, endpoint: endpoint, result: result))
    }

    /// The server's process as this process's PID namespace sees it, named by the kernel (the
    /// control socket's peer credentials).
    /// - Throws: `.unavailable` when the kernel names none: the control connection is not a Unix
    ///   socket, or the server's PID namespace is neither this one nor below it.
    func serverProcess() throws -> Int32 {
        var pid: Int32 = 0
        guard let connection, CPodBenchLinux_peer_pid(connection.descriptor.rawValue, &pid) == 0, pid > 0 else {
            throw PodBenchError(
                .unavailable,
                "the server's process is not visible from here: a channel through the process namespace needs both sides in one PID namespace (a pod with shareProcessNamespace: true; podman pod create --share +pid) and a Unix control socket (the only kind whose peer the kernel names)"
            )
        }
        return pid
    }

    /// Connects with the transport `T` and measures over its channel.
    struct MeasureDirect: TransportVisitor {
        let client: BenchmarkClient
        let spec: CaseSpec
        let endpoint: Endpoint
        let result: CaseResult

        func visit<T: Transport>(_ transport: T.Type) throws -> CaseResult {
            let channel = try T.connect(
                to: endpoint, options: spec.options, timeoutNanoseconds: client.configuration.peerTimeoutNanoseconds)
            return try Measure(client: client, spec: spec, result: result).use(channel)
        }
    }

    /// Runs the warm-up and the trials of a case over a connected channel of a concrete type (the
    /// workloads are specialised for it), recording them in `result`.
    /// - Throws: `SessionError` when the control channel broke.
    func measure<Channel: DataChannel>(_ spec: CaseSpec, over channel: Channel, into result: inout CaseResult) throws {
        var reader = FrameReader(channel: channel, maximumPayload: spec.messageSize)
        let writer = FrameWriter(payloadLength: spec.messageSize, seed: spec.seed)
        let http =
            spec.workload.speaksHTTP1
            ? HTTP1MessageWriter.request(bodyLength: spec.messageSize, seed: spec.seed) : nil
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            channel.close()
            reader.deallocate()
            writer.deallocate()
            http?.deallocate()
        }
        // HTTP/2: one session for the case's connection, its preface sent with the first phase.
        var h2: HTTP2ClientSession?
        if spec.workload.speaksHTTP2 {
            do {
                h2 = try HTTP2Workload.clientSession(
                    streams: spec.streams ?? 1, bodyLength: spec.messageSize, seed: spec.seed)
            } catch let error as PodBenchError {
                result.status = .failed
                result.error = error.description
                result.errorCode = error.code.rawValue
                return
            }
        }
        do {
            let warmsUp = configuration.warmup.durationNanoseconds > 0 || (configuration.warmup.messageLimit ?? 0) > 0
            if warmsUp {
                result.warmup = try runPhase(
                    spec, index: -1, plan: configuration.warmup, reader: &reader, writer: writer, http: http,
                    h2: h2, histogram: &histogram)
            }
            if let warmup = result.warmup, let failure = Self.failure(of: warmup) {
                result.status = .failed
                result.error = "warm-up: " + failure
                result.errorCode = PodBenchError.Code.integrityFailure.rawValue
                return
            }
            for index in 0..<configuration.trials {
                let trial = try runPhase(
                    spec, index: index, plan: configuration.trial, reader: &reader, writer: writer, http: http,
                    h2: h2, histogram: &histogram)
                result.trials.append(trial)
                if let failure = Self.failure(of: trial) {
                    result.status = .failed
                    result.error = "trial \(index + 1): " + failure
                    result.errorCode = PodBenchError.Code.integrityFailure.rawValue
                    return
                }
            }
        } catch let error as PhaseError {
            result.status = .failed
            result.error = error.error.description
            result.errorCode = error.error.code.rawValue
        }
    }

    /// A data-phase failure: the case failed, the session may go on.
    struct PhaseError: Error {
        var error: PodBenchError
    }

    static func failure(of trial: TrialResult) -> String? {
        for (side, counts) in [("client", trial.client.integrity), ("server", trial.server.integrity)]
        where counts.hasErrors {
            return
                "integrity error seen by the \(side): \(counts.outOfSequence) out of sequence, \(counts.corrupted) corrupted; first: \(counts.firstError ?? "?")"
        }
        return nil
    }

    func runPhase<Channel: DataChannel>(
        _ spec: CaseSpec, index: Int, plan: PhasePlan, reader: inout FrameReader<Channel>, writer: FrameWriter,
        http: HTTP1MessageWriter?, h2: HTTP2ClientSession?, histogram: inout Histogram<UInt64>
    ) throws -> TrialResult {
        guard let connection else { throw SessionError(error: PodBenchError(.peerClosed, "not connected")) }
        phaseStarting(index)
        // Before the phase starts, so that a relay that cannot be asked fails the case in step.
        let hopStats = spec.options.via == nil ? nil : configuration.hopStats[spec.options.hop ?? "proxy"]
        let hopBefore = try hopStats.map { try Self.relayStats($0, timeout: configuration.peerTimeoutNanoseconds) }
        do {
            try connection.send(.startPhase(index: index, warmup: index < 0))
            try connection.expect("phaseReady") {
                if case .phaseReady = $0 { return () }
                return nil
            }
        } catch let error as PodBenchError {
            throw SessionError(error: error)
        }
        histogram.reset()
        // The client checks what comes back only in a round trip (pingpong, http1): there it
        // counts lost round trips.
        var checker = IntegrityChecker(
            payloadLength: spec.messageSize, verifyEvery: spec.verifyEvery,
            datagrams: Channel.isDatagram && spec.workload == .pingpong)
        let peerTimeout = configuration.peerTimeoutNanoseconds
        let before = CPUUsage.currentThread()
        var outcome: (messages: UInt64, elapsed: UInt64) = (0, 0)
        var pacing: UInt64 = 0
        var dataError: PodBenchError?
        do {
            switch spec.workload {
            case .pingpong:
                outcome = try PingPongWorkload.client(
                    reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan,
                    peerTimeoutNanoseconds: peerTimeout)
            case .stream:
                outcome = try StreamWorkload.client(
                    reader: &reader, writer: writer, plan: plan, corruptSequence: spec.corruptSequence,
                    peerTimeoutNanoseconds: peerTimeout)
            case .rate:
                let paced = try RateWorkload.client(
                    reader: &reader, writer: writer, plan: plan,
                    messagesPerSecond: Double(spec.messagesPerSecond ?? 1), corruptSequence: spec.corruptSequence,
                    peerTimeoutNanoseconds: peerTimeout)
                outcome = (paced.messages, paced.elapsed)
                pacing = paced.pacing
            case .http1:
                outcome = try HTTP1Workload.client(
                    reader: &reader, writer: http!, checker: &checker, histogram: &histogram, plan: plan)
            case .http1Rate:
                let paced = try HTTP1Workload.openLoopClient(
                    reader: &reader, writer: http!, checker: &checker, histogram: &histogram, plan: plan,
                    requestsPerSecond: Double(spec.messagesPerSecond ?? 1))
                outcome = (paced.messages, paced.elapsed)
                pacing = paced.pacing
            case .http2, .http2Rate:
                guard let socket = reader.channel as? SocketChannel else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "\(spec.workload.rawValue) runs over plain sockets (tcp, tcp6, uds, uds-abstract)")
                }
                let paced = try HTTP2Workload.client(
                    channel: socket, session: h2!, checker: &checker, histogram: &histogram, plan: plan,
                    peerTimeoutNanoseconds: peerTimeout,
                    requestsPerSecond: spec.workload == .http2Rate ? Double(spec.messagesPerSecond ?? 1) : nil)
                outcome = (paced.messages, paced.elapsed)
                pacing = paced.pacing
            }
        } catch let error as PodBenchError {
            dataError = error
            // Wake a server blocked on this connection so that it reports at once.
            reader.channel.shutdown()
        }
        var usage = CPUUsage.currentThread().since(before)
        // The rate workload's spinning for its schedule is the load generator's cost, not the
        // channel's: the sender's CPU time leaves it out (user time; never below zero).
        usage.remove(pacing)
        let report: ServerPhaseReport
        do {
            // After a failure here the server may be waiting out its own timeout (a proxy keeps
            // its upstream connection open when this side's closes): wait longer than it.
            let wait = dataError == nil ? nil : configuration.peerTimeoutNanoseconds * 2 + 1_000_000_000
            let message = try connection.receive(waitNanoseconds: wait)
            guard case .phaseReport(let r) = message else {
                if case .failure(let code, let text) = message { throw PodBenchError(code, text) }
                throw PodBenchError(
                    .protocolViolation, "expected phaseReport on the control channel, got \(message.name)")
            }
            report = r
        } catch let error as PodBenchError {
            let phase = index < 0 ? "the warm-up" : "trial \(index + 1)"
            let data = dataError.map { "; the data connection said: \($0.description)" } ?? ""
            throw SessionError(
                error: PodBenchError(
                    error.code, "the server went away during \(phase) (\(error.message))\(data)", cause: error.cause))
        }
        if let dataError {
            let phase = index < 0 ? "warm-up" : "trial \(index + 1)"
            // The side that found the fault names it: an integrity failure on either side wins, and
            // a client that only saw the server close after the server's own error reports that error.
            if let code = report.errorCode, let text = report.error,
                code == .integrityFailure
                    || (dataError.code == .peerClosed && code != .peerClosed)
                        && dataError.code != .integrityFailure
            {
                throw PhaseError(
                    error: PodBenchError(code, "\(phase): \(text); the client then saw: \(dataError.description)"))
            }
            let server = report.error.map { "; \($0)" } ?? ""
            throw PhaseError(error: PodBenchError(dataError.code, "\(phase): \(dataError.description)\(server)"))
        }
        if let code = report.errorCode {
            throw PhaseError(error: PodBenchError(code, report.error ?? "the server's side of the phase failed"))
        }
        if Channel.isDatagram && spec.workload != .pingpong && report.integrity.received > outcome.messages {
            throw PhaseError(
                error: PodBenchError(
                    .protocolViolation,
                    "the server says \(report.integrity.received) messages arrived; \(outcome.messages) were sent"))
        }
        var hopUsage: CPUUsage?
        if let hopStats, let hopBefore {
            hopUsage = try Self.relayStats(hopStats, timeout: configuration.peerTimeoutNanoseconds).since(hopBefore)
        }
        // Over datagrams a phase's messages are those delivered: what the server received (stream,
        // rate), the round trips whose echo came (pingpong); the rest are counted lost.
        let messages =
            Channel.isDatagram && spec.workload != .pingpong ? report.integrity.received : outcome.messages
        var latency: EncodedHistogram?
        var summary: LatencySummary?
        if spec.workload.measuresRoundTrip, histogram.totalCount > 0 {
            latency = EncodedHistogram(histogram)
            summary = LatencySummary(histogram)
        }
        var oneWaySummary: LatencySummary?
        if let oneWay = report.oneWayLatency {
            do {
                oneWaySummary = LatencySummary(try oneWay.decode())
            } catch let error as PodBenchError {
                throw PhaseError(
                    error: PodBenchError(.protocolViolation, "the server's one-way histogram: \(error.message)"))
            }
        }
        var trial = TrialResult(
            index: index, messages: messages, bytes: messages * UInt64(spec.messageSize),
            elapsedNanoseconds: outcome.elapsed,
            latency: latency, latencySummary: summary,
            client: SideFigures(usage: usage, messages: messages, integrity: checker.counts),
            server: SideFigures(usage: report.usage, messages: messages, integrity: report.integrity),
            oneWayLatency: report.oneWayLatency, oneWayLatencySummary: oneWaySummary)
        trial.hop = hopUsage.map { SideFigures(usage: $0, messages: messages, integrity: IntegrityCounts()) }
        return trial
    }

    /// The hop's figures, or a phase error saying they cannot be read.
    static func relayStats(_ source: HopStatsSource, timeout: UInt64) throws -> HopReading {
        do {
            return try source.read(timeoutNanoseconds: timeout)
        } catch let error as PodBenchError {
            throw PhaseError(
                error: PodBenchError(
                    error.code, "cannot read the hop's figures at \(source) (--via-stats): \(error.message)"))
        }
    }
}
