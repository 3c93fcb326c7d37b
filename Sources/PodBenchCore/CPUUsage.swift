import CPodBenchLinux
import Glibc

/// A reading of the calling thread's CPU time and context switches (getrusage(RUSAGE_THREAD)).
/// Each side measures its own measuring thread, so neither counts the other's work nor the
/// runtime's idle threads.
public struct CPUUsage: Equatable, Sendable, Codable {
    public var userNanoseconds: UInt64
    public var systemNanoseconds: UInt64
    public var voluntarySwitches: UInt64
    public var involuntarySwitches: UInt64

    public init(
        userNanoseconds: UInt64, systemNanoseconds: UInt64, voluntarySwitches: UInt64, involuntarySwitches: UInt64
    ) {
        self.userNanoseconds = userNanoseconds
        self.systemNanoseconds = systemNanoseconds
        self.voluntarySwitches = voluntarySwitches
        self.involuntarySwitches = involuntarySwitches
    }

    /// Nothing used: the start of a sum.
    public static let zero = CPUUsage(
        userNanoseconds: 0, systemNanoseconds: 0, voluntarySwitches: 0, involuntarySwitches: 0)

    /// Reads the calling thread's usage now.
    public static func currentThread() -> CPUUsage {
        var usage = rusage()
        _ = CPodBenchLinux_thread_rusage(&usage)
        func ns(_ tv: timeval) -> UInt64 { UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000 }
        return CPUUsage(
            userNanoseconds: ns(usage.ru_utime), systemNanoseconds: ns(usage.ru_stime),
            voluntarySwitches: UInt64(usage.ru_nvcsw), involuntarySwitches: UInt64(usage.ru_nivcsw))
    }

    /// What was used between `start` and `self`.
    public func since(_ start: CPUUsage) -> CPUUsage {
        CPUUsage(
            userNanoseconds: userNanoseconds &- start.userNanoseconds,
            systemNanoseconds: systemNanoseconds &- start.systemNanoseconds,
            voluntarySwitches: voluntarySwitches &- start.voluntarySwitches,
            involuntarySwitches: involuntarySwitches &- start.involuntarySwitches)
    }
}
