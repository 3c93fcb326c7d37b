/// This machine's limits, measured by `podbench calibrate` (and quickly by every `run`): the
/// floors and ceilings that each transport is compared with.
public struct Calibration: Codable, Equatable, Sendable {
    /// The CPUs the two calibration processes were pinned to (cross-core figures).
    public var firstCPU: Int?
    public var secondCPU: Int?
    public var trialSeconds: Double
    public var measurements: [CalibrationMeasurement]

    public init(firstCPU: Int?, secondCPU: Int?, trialSeconds: Double, measurements: [CalibrationMeasurement]) {
        self.firstCPU = firstCPU
        self.secondCPU = secondCPU
        self.trialSeconds = trialSeconds
        self.measurements = measurements
    }

    /// The measurement with `id`, if it was taken.
    public subscript(id: String) -> CalibrationMeasurement? {
        measurements.first { $0.id == id }
    }
}

/// One limit: the value of each trial and their median.
public struct CalibrationMeasurement: Codable, Equatable, Sendable {
    /// Stable name, e.g. `cacheline-roundtrip-cross-core`.
    public var id: String
    /// What was measured, in words.
    public var summary: String
    /// `ns` (a time per operation) or `bytes/s`.
    public var unit: String
    public var trials: [Double]
    public var median: Double

    public init(id: String, summary: String, unit: String, trials: [Double]) {
        self.id = id
        self.summary = summary
        self.unit = unit
        self.trials = trials
        median = CaseSummary.median(trials)
    }

    /// The ids of the limits, as `calibrate` takes them.
    public static let cachelineCrossCore = "cacheline-roundtrip-cross-core"
    public static let cachelineSameCore = "cacheline-roundtrip-same-core"
    public static let futexCrossCore = "futex-wake-roundtrip-cross-core"
    public static let futexSameCore = "futex-wake-roundtrip-same-core"
    public static let memcpyCached = "memcpy-64KiB"
    public static let memcpyLarge = "memcpy-large"
    public static let nullSyscall = "null-syscall"
    public static let timerRead = "timer-read"
    public static let timerResolution = "timer-resolution"
    public static let harnessPingPong = "harness-pingpong-64"
}
