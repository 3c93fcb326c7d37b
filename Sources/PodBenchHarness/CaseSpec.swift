import PodBenchCore
import PodBenchResults
import PodBenchTransports

/// Everything both sides need to run one case; the client sends it to the server.
public struct CaseSpec: Codable, Equatable, Sendable {
    public var transport: TransportKind
    public var workload: WorkloadKind
    public var messageSize: Int
    public var options: TransportOptions
    /// Verify every Nth payload's checksum (1 = all). Lengths and sequence numbers are always checked.
    public var verifyEvery: Int
    /// Test-only fault: the sending side corrupts the payload of this message in every phase.
    public var corruptSequence: UInt64?
    /// Seed of the payload pattern.
    public var seed: UInt64
    /// Offered messages per second (`rate` workload).
    public var messagesPerSecond: Int?
    /// Requests outstanding on the connection (`http2` workload; nil: 1).
    public var streams: Int?

    public init(
        transport: TransportKind, workload: WorkloadKind, messageSize: Int,
        options: TransportOptions = TransportOptions(),
        verifyEvery: Int = 1, corruptSequence: UInt64? = nil, seed: UInt64 = 0x5EED_F00D,
        messagesPerSecond: Int? = nil, streams: Int? = nil
    ) {
        self.messagesPerSecond = messagesPerSecond
        self.streams = streams
        self.transport = transport
        self.workload = workload
        self.messageSize = messageSize
        self.options = options
        self.verifyEvery = verifyEvery
        self.corruptSequence = corruptSequence
        self.seed = seed
    }

    /// The key this case has in results files.
    /// - Throws: `.invalidConfiguration` when a setting the key records does not parse, or a
    ///   `rate` case has no offered rate: a key is only ever made of settings that parse. (What
    ///   else the server refuses, a size out of range say, fails that case alone.)
    public func key() throws -> CaseKey {
        if workload.isOpenLoop && messagesPerSecond == nil {
            throw PodBenchError(.invalidConfiguration, "a \(workload.rawValue) case needs an offered rate")
        }
        var opts = try TransportCatalog.transport(transport).keyOptions(options)
        // HTTP/2's streams at once change what is measured: part of the key, as a transport's options are.
        if workload.speaksHTTP2 { opts["streams"] = String(streams ?? 1) }
        // Addresses change from run to run; what the hop is and what the client speaks to it do not.
        let hop = options.via.map { CaseKey.Hop(name: options.hop ?? "proxy", entry: $0.transport) }
        return CaseKey(
            transport: transport, workload: workload, messageSize: messageSize,
            rate: workload.isOpenLoop ? messagesPerSecond : nil, hop: hop, options: opts)
    }

    /// Whether the server accepts the case's data connections when its phases run, not when it
    /// prepares it: an HTTP case through a hop, where an HTTP proxy connects upstream when the
    /// first request comes (after the phase starts) and may open another connection later
    /// (nginx's `keepalive_requests`, a `Connection: close`, haproxy's idle timeout). Both sides
    /// read it.
    public var acceptsLazily: Bool { workload.speaksHTTP && options.via != nil }

    /// Checks what the server must not trust blindly.
    public func validate() throws {
        guard messageSize >= 1, messageSize <= ByteSize.maximum else {
            throw PodBenchError(.invalidConfiguration, "message size \(messageSize) is outside 1 byte to 4MiB")
        }
        if workload.isOpenLoop {
            guard let rate = messagesPerSecond, rate >= 1, rate <= 100_000_000 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "the \(workload.rawValue) workload needs an offered rate of 1 to 100M messages/s")
            }
        }
        if !workload.runs(on: transport) {
            throw PodBenchError(
                .invalidConfiguration,
                "\(workload.rawValue) speaks HTTP, which runs over \(workload.transportsInWords), not \(transport.rawValue)"
            )
        }
        if workload.speaksHTTP2, let via = options.via, !workload.runs(on: via.transport) {
            throw PodBenchError(
                .invalidConfiguration,
                "\(workload.rawValue) speaks to the hop over \(workload.transportsInWords), not \(via.transport.rawValue)"
            )
        }
        if workload.speaksHTTP2, let streams, !(1...HTTP2Workload.maximumStreams).contains(streams) {
            throw PodBenchError(
                .invalidConfiguration,
                "\(workload.rawValue): 1 to \(HTTP2Workload.maximumStreams) streams at once, not \(streams)")
        }
        guard verifyEvery >= 1 else { throw PodBenchError(.invalidConfiguration, "verifyEvery must be at least 1") }
        try TransportCatalog.transport(transport).validate(options)
        if options.via != nil || options.listen != nil {
            guard Relay.forwardKinds.contains(transport), let listen = options.listen, options.via != nil else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "a hop (--via) needs both endpoints and, on the server's side, one of tcp, tcp6, uds, uds-abstract, file, fifo, shm"
                )
            }
            if let name = options.hop, !CaseKey.Hop.isValidName(name) {
                throw PodBenchError(.invalidConfiguration, CaseKey.Hop.nameRule)
            }
            guard listen.transport == transport else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "the hop's target \(TextEscaping.terminal(String(listen.description.prefix(200)))) is not a \(transport.rawValue) endpoint"
                )
            }
        }
    }
}

/// How long each phase of a case lasts; the client decides and tells nobody (the server follows
/// the client's end-of-trial frames).
public struct PhasePlan: Sendable, Equatable {
    public var durationNanoseconds: UInt64
    /// When set, the phase ends after this many messages instead.
    public var messageLimit: UInt64?

    public init(durationNanoseconds: UInt64, messageLimit: UInt64?) {
        self.durationNanoseconds = durationNanoseconds
        self.messageLimit = messageLimit
    }

    /// An open loop's elapsed time, from `started` to `ended` (its end of trial answered): a phase
    /// of a duration lasts at least that duration, since a schedule that ran out early (a low rate
    /// in a short trial) is not a faster rate; a phase of a message count lasts until it ended.
    @inline(__always)
    func openLoopElapsed(from started: UInt64, to ended: UInt64) -> UInt64 {
        (messageLimit == nil ? max(ended, started &+ durationNanoseconds) : ended) &- started
    }
}
