import Histogram
import PodBenchCore

/// What identifies a case across runs: two results' cases with equal keys are comparable.
///
/// On disk it is `{transport, workload, messageSize, options}` with every option a string, the
/// offered rate and the hop among them (`rate`, `hop`, `hop-in`): the format of every results
/// file and baseline since schema 1. In memory the names are kinds and the rate a number, so a
/// file naming a transport or workload this podbench does not know is refused when it is read,
/// and no reader compares strings.
public struct CaseKey: Codable, Hashable, Sendable, CustomStringConvertible {
    public var transport: TransportKind
    public var workload: WorkloadKind
    /// Payload bytes per message.
    public var messageSize: Int
    /// Offered messages per second (`rate` workload); nil for the closed-loop workloads.
    public var rate: Int?
    /// The hop between the sides (`--via`), nil for a direct case.
    public var hop: Hop?
    /// The transport's own options that change the measurement (ring, wait, fsync, setup, …), as
    /// `name=value`; empty for defaults. Never `rate`, `hop` or `hop-in`: those are fields (a
    /// transport option of one of those names would be read back as the field).
    public var options: [String: String] {
        didSet { precondition(Self.fieldOptionNames.isDisjoint(with: options.keys), Self.fieldOptionMessage) }
    }

    private static let fieldOptionMessage = "rate, hop and hop-in are CaseKey's fields, not transport options"

    /// A hop between the sides, as a case's key records it.
    public struct Hop: Hashable, Sendable {
        /// Its name: relay (podbench's), or the proxy's (haproxy, socat, …), from `--via-name`.
        public var name: String
        /// The transport the client speaks to it (the server's side is the key's transport).
        public var entry: TransportKind

        public init(name: String, entry: TransportKind) {
            self.name = name
            self.entry = entry
        }

        /// What a hop's name may be, in words.
        public static let nameRule = "a hop's name must be 1 to 256 characters without control characters"

        /// Whether `name` may name a hop: it is shown in tables, reports and terminals.
        public static func isValidName(_ name: String) -> Bool {
            !name.isEmpty && name.unicodeScalars.count <= 256 && TextEscaping.terminal(name) == name
        }
    }

    /// Option names the key keeps as fields; a transport option cannot take them.
    public static let fieldOptionNames: Set<String> = ["rate", "hop", "hop-in"]

    public init(
        transport: TransportKind, workload: WorkloadKind, messageSize: Int, rate: Int? = nil, hop: Hop? = nil,
        options: [String: String] = [:]
    ) {
        self.transport = transport
        self.workload = workload
        self.messageSize = messageSize
        self.rate = rate
        self.hop = hop
        precondition(Self.fieldOptionNames.isDisjoint(with: options.keys), Self.fieldOptionMessage)
        self.options = options
    }

    /// The options as the file holds them: the transport's, with the rate and the hop.
    public var fileOptions: [String: String] {
        var all = options
        if let rate { all["rate"] = String(rate) }
        if let hop {
            all["hop"] = hop.name
            all["hop-in"] = hop.entry.rawValue
        }
        return all
    }

    /// The same case, direct: what a case through a hop is measured against.
    public var direct: CaseKey {
        var key = self
        key.hop = nil
        return key
    }

    public var description: String {
        let all = fileOptions
        let opts = all.keys.sorted().map { "\($0)=\(all[$0]!)" }
        return ([transport.rawValue, workload.rawValue, ByteSize.format(messageSize)] + opts).joined(separator: " ")
    }

    private enum CodingKeys: String, CodingKey {
        case transport, workload, messageSize, options
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func kind<K: RawRepresentable & CaseIterable>(_ name: String, _ what: String, _ key: CodingKeys) throws -> K
        where K.RawValue == String {
            guard let kind = K(rawValue: name) else {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c,
                    debugDescription:
                        "the \(what) name \(Self.quoted(name)) is not one this podbench knows (\(K.allCases.map(\.rawValue).joined(separator: ", "))); a newer podbench may have written the file"
                )
            }
            return kind
        }
        transport = try kind(try c.decode(String.self, forKey: .transport), "transport", .transport)
        workload = try kind(try c.decode(String.self, forKey: .workload), "workload", .workload)
        messageSize = try c.decode(Int.self, forKey: .messageSize)
        var all = try c.decode([String: String].self, forKey: .options)
        if let text = all.removeValue(forKey: "rate") {
            guard let value = Int(text), value >= 1 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .options, in: c,
                    debugDescription:
                        "the offered rate \(Self.quoted(text)) is not a rate in whole messages per second")
            }
            rate = value
        }
        let hopName = all.removeValue(forKey: "hop")
        let hopEntry = all.removeValue(forKey: "hop-in")
        switch (hopName, hopEntry) {
        case (nil, nil): hop = nil
        case (let name?, let entry?): hop = Hop(name: name, entry: try kind(entry, "hop-in transport", .options))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .options, in: c, debugDescription: "a hop needs both options hop and hop-in, and has one")
        }
        options = all
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(transport.rawValue, forKey: .transport)
        try c.encode(workload.rawValue, forKey: .workload)
        try c.encode(messageSize, forKey: .messageSize)
        try c.encode(fileOptions, forKey: .options)
    }

    /// A name from a file, quoted with control and bidirectional characters escaped, so that an
    /// error naming it is safe in a terminal.
    static func quoted(_ text: String) -> String {
        TextEscaping.terminal(String(text.unicodeScalars.prefix(64).map(Character.init))).debugDescription
    }
}

/// One case: its trials, or why it has none.
public struct CaseResult: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable {
        /// Every trial ran and no integrity error was seen.
        case ok
        /// The case failed: an integrity error, a peer that died, a timeout. `error` says which.
        case failed
        /// The host does not offer this transport; `error` says why.
        case unavailable
    }

    public var key: CaseKey
    public var status: Status
    public var error: String?
    /// The error's code (`PodBenchError.Code`), when there is one.
    public var errorCode: String?
    /// The data endpoint the server gave for this case.
    public var endpoint: String?
    /// The filesystem the case's shared files live on (`file`, `fifo`, `shm`, `uds`): tmpfs, ext4, …
    public var filesystem: String?
    public var warmup: TrialResult?
    public var trials: [TrialResult]

    public init(
        key: CaseKey, status: Status, error: String? = nil, errorCode: String? = nil, endpoint: String? = nil,
        warmup: TrialResult? = nil, trials: [TrialResult] = []
    ) {
        self.key = key
        self.status = status
        self.error = error
        self.errorCode = errorCode
        self.endpoint = endpoint
        self.warmup = warmup
        self.trials = trials
    }
}

/// One trial: one value per metric.
public struct TrialResult: Codable, Equatable, Sendable {
    public var index: Int
    /// Messages the client sent and got answered (pingpong) or the server received (stream).
    public var messages: UInt64
    /// Payload bytes moved in the measured direction(s).
    public var bytes: UInt64
    public var elapsedNanoseconds: UInt64
    public var messagesPerSecond: Double
    public var bytesPerSecond: Double
    /// Round trips in nanoseconds (pingpong); nil for stream.
    public var latency: EncodedHistogram?
    public var latencySummary: LatencySummary?
    /// One-way delivery times in nanoseconds, sender's timestamp to arrival (stream); both sides
    /// read the same kernel's monotonic clock, as co-located containers do.
    public var oneWayLatency: EncodedHistogram?
    public var oneWayLatencySummary: LatencySummary?
    public var client: SideFigures
    public var server: SideFigures
    /// The relay's whole process in a hop (`--via` with `--via-stats`): its CPU time and context
    /// switches over the phase, per message; no integrity counts (it forwards bytes unread).
    public var hop: SideFigures?

    public init(
        index: Int, messages: UInt64, bytes: UInt64, elapsedNanoseconds: UInt64, latency: EncodedHistogram?,
        latencySummary: LatencySummary?, client: SideFigures, server: SideFigures,
        oneWayLatency: EncodedHistogram? = nil, oneWayLatencySummary: LatencySummary? = nil
    ) {
        self.oneWayLatency = oneWayLatency
        self.oneWayLatencySummary = oneWayLatencySummary
        self.index = index
        self.messages = messages
        self.bytes = bytes
        self.elapsedNanoseconds = elapsedNanoseconds
        let seconds = Double(max(elapsedNanoseconds, 1)) / 1e9
        messagesPerSecond = Double(messages) / seconds
        bytesPerSecond = Double(bytes) / seconds
        self.latency = latency
        self.latencySummary = latencySummary
        self.client = client
        self.server = server
    }
}

/// Percentiles of a trial's latency histogram, in nanoseconds, kept next to the histogram so
/// that readers need not decode it.
public struct LatencySummary: Codable, Equatable, Sendable {
    /// The summary of a histogram.
    public init(_ h: Histogram<UInt64>) {
        self.init(
            count: h.totalCount, min: h.min, p50: h.valueAtPercentile(50), p90: h.valueAtPercentile(90),
            p99: h.valueAtPercentile(99), p999: h.valueAtPercentile(99.9), max: h.maxRecorded, mean: h.mean)
    }

    public var count: UInt64
    public var min: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64
    public var mean: Double

    public init(
        count: UInt64, min: UInt64, p50: UInt64, p90: UInt64, p99: UInt64, p999: UInt64, max: UInt64, mean: Double
    ) {
        self.count = count
        self.min = min
        self.p50 = p50
        self.p90 = p90
        self.p99 = p99
        self.p999 = p999
        self.max = max
        self.mean = mean
    }
}

/// What one side spent and saw in a trial.
public struct SideFigures: Codable, Equatable, Sendable {
    /// CPU time and context switches of the side's measuring thread.
    public var usage: CPUUsage
    /// (user + system) nanoseconds per message.
    public var cpuNanosecondsPerMessage: Double
    /// (voluntary + involuntary) context switches per message.
    public var contextSwitchesPerMessage: Double
    public var integrity: IntegrityCounts

    public init(usage: CPUUsage, messages: UInt64, integrity: IntegrityCounts) {
        self.usage = usage
        let m = Double(max(messages, 1))
        cpuNanosecondsPerMessage = Double(usage.userNanoseconds + usage.systemNanoseconds) / m
        contextSwitchesPerMessage = Double(usage.voluntarySwitches + usage.involuntarySwitches) / m
        self.integrity = integrity
    }
}

/// Integrity checks one side made on what it received.
public struct IntegrityCounts: Codable, Equatable, Sendable {
    /// Messages received.
    public var received: UInt64
    /// Payloads whose checksum was verified.
    public var verified: UInt64
    /// Messages with an unexpected sequence number (lost or reordered).
    public var outOfSequence: UInt64
    /// Messages whose length or checksum was wrong.
    public var corrupted: UInt64
    /// The first error, in words (which message, what was expected).
    public var firstError: String?
    /// Datagram channels only (nil elsewhere): messages sent that never arrived, or (pingpong's
    /// client) round trips whose echo did not come back within the loss deadline. Counted, not
    /// an error: a datagram channel may drop.
    public var lost: UInt64?
    /// Datagram channels only: messages that arrived after one sent later than them.
    public var reordered: UInt64?

    public init(
        received: UInt64 = 0, verified: UInt64 = 0, outOfSequence: UInt64 = 0, corrupted: UInt64 = 0,
        firstError: String? = nil, lost: UInt64? = nil, reordered: UInt64? = nil
    ) {
        self.received = received
        self.verified = verified
        self.outOfSequence = outOfSequence
        self.corrupted = corrupted
        self.firstError = firstError
        self.lost = lost
        self.reordered = reordered
    }

    /// Whether any error was seen.
    public var hasErrors: Bool { outOfSequence > 0 || corrupted > 0 }
}
