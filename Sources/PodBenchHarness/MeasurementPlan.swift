import PodBenchCore
import PodBenchTransports

/// What `run` and `client` measure, parsed and checked from the command line's options (the
/// executable's `MeasurementOptions.parsed()` makes it): the matrix, the phases, the checks, the
/// CPUs, the hop, where results go. `MeasurementSession` runs it.
public struct MeasurementPlan: Sendable {
    public var transports: [TransportKind]
    public var workloads: [WorkloadKind]
    public var sizes: [Int]
    public var trials: Int
    public var trialNanoseconds: UInt64
    public var warmupNanoseconds: UInt64
    /// Trials of exactly this many messages (`--messages`), instead of a duration.
    public var messages: Int?
    public var verifyEvery: Int
    public var timeoutNanoseconds: UInt64
    public var clientCPU: Int?
    public var serverCPU: Int?
    public var options: TransportOptions
    public var shmWaits: [String]
    public var fileFsyncs: [String]
    public var uringSetups: [String]
    public var rates: [Int]
    /// `--h2-streams`: the http2 workload's streams at once, each a case.
    public var h2Streams: [Int]
    /// The hops, one per --via naming an endpoint (a relay that `run` starts is resolved there),
    /// each case of a hop's transport measured direct and through each.
    public var hops: [MatrixRunner.Hop]
    /// `--via relay[:uds]`: run starts podbench's relay; the client speaks `relayIn` to it.
    public var relayIn: TransportKind?
    /// Measure the machine's limits before and after (`--no-calibrate` turns it off).
    public var calibrate: Bool
    /// Where the calibration peers share their memory (a memory-backed directory when there is one).
    public var calibrationDirectory: String
    public var resultsDirectory: String
    /// Test only: corrupt the payload of message N in every phase.
    public var injectCorruption: UInt64?
    /// `--output`: the results file's path (absolute), instead of a name in `resultsDirectory`.
    public var output: String?
    /// `--json`: the results document on stdout instead of the table.
    public var printJSON: Bool
    /// `--quiet`: no progress lines.
    public var quiet: Bool

    public init(
        transports: [TransportKind], workloads: [WorkloadKind], sizes: [Int], trials: Int, trialNanoseconds: UInt64,
        warmupNanoseconds: UInt64, messages: Int?, verifyEvery: Int, timeoutNanoseconds: UInt64, clientCPU: Int?,
        serverCPU: Int?, options: TransportOptions, shmWaits: [String], fileFsyncs: [String], uringSetups: [String],
        rates: [Int], hops: [MatrixRunner.Hop], h2Streams: [Int] = [1], relayIn: TransportKind?, calibrate: Bool,
        calibrationDirectory: String, resultsDirectory: String, injectCorruption: UInt64?, output: String? = nil,
        printJSON: Bool = false, quiet: Bool = false
    ) {
        self.output = output
        self.printJSON = printJSON
        self.quiet = quiet
        self.transports = transports
        self.workloads = workloads
        self.sizes = sizes
        self.trials = trials
        self.trialNanoseconds = trialNanoseconds
        self.warmupNanoseconds = warmupNanoseconds
        self.messages = messages
        self.verifyEvery = verifyEvery
        self.timeoutNanoseconds = timeoutNanoseconds
        self.clientCPU = clientCPU
        self.serverCPU = serverCPU
        self.options = options
        self.shmWaits = shmWaits
        self.fileFsyncs = fileFsyncs
        self.uringSetups = uringSetups
        self.rates = rates
        self.h2Streams = h2Streams
        self.hops = hops
        self.relayIn = relayIn
        self.calibrate = calibrate
        self.calibrationDirectory = calibrationDirectory
        self.resultsDirectory = resultsDirectory
        self.injectCorruption = injectCorruption
    }
}
