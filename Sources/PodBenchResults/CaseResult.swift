import Histogram
import PodBenchCore

/// What identifies a case across runs: two results' cases with equal keys are comparable.
public struct CaseKey: Codable, Hashable, Sendable, CustomStringConvertible {
    /// Transport name as on the command line (`tcp`, `uds`, ...).
    public var transport: String
    /// `pingpong` or `stream`.
    public var workload: String
    /// Payload bytes per message.
    public var messageSize: Int
    /// Transport options that change the measurement, as `name=value` (sorted); empty for defaults.
    public var options: [String: String]

    public init(transport: String, workload: String, messageSize: Int, options: [String: String] = [:]) {
        self.transport = transport
        self.workload = workload
        self.messageSize = messageSize
        self.options = options
    }

    public var description: String {
        let opts = options.keys.sorted().map { "\($0)=\(options[$0]!)" }
        return ([transport, workload, ByteSize.format(messageSize)] + opts).joined(separator: " ")
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

    public init(
        received: UInt64 = 0, verified: UInt64 = 0, outOfSequence: UInt64 = 0, corrupted: UInt64 = 0,
        firstError: String? = nil
    ) {
        self.received = received
        self.verified = verified
        self.outOfSequence = outOfSequence
        self.corrupted = corrupted
        self.firstError = firstError
    }

    /// Whether any error was seen.
    public var hasErrors: Bool { outOfSequence > 0 || corrupted > 0 }
}
