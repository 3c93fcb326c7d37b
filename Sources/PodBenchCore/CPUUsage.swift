import CPodBenchLinux
import Glibc

/// A reading of the calling thread's CPU time and context switches (getrusage(RUSAGE_THREAD)).
/// Each side measures its own measuring thread, so neither counts the other's work nor the
/// runtime's idle threads.
///
/// The total comes from the thread's CPU clock (clock_gettime(CLOCK_THREAD_CPUTIME_ID): the
/// scheduler's exact run time, the current slice included), the split into user and system from
/// getrusage. getrusage alone is not exact over a short trial: the kernel derives its user and
/// system times from the run time at the last scheduler update, scaled by tick samples, and keeps
/// each from going backwards, so between two readings a thread that sleeps between messages could
/// show no CPU at all in one trial and 200 ms of system time in the next (a rate client at 10k/s,
/// 2026-12-03; it made the report's "cpu/msg client 0ns"). A difference of two readings (`since`)
/// has the clock's total, split in getrusage's proportion.
public struct CPUUsage: Equatable, Sendable, Codable {
    public var userNanoseconds: UInt64
    public var systemNanoseconds: UInt64
    public var voluntarySwitches: UInt64
    public var involuntarySwitches: UInt64
    /// The thread's CPU clock at the reading (0 when not read: a difference, a decoded value, a
    /// process's figures from /proc). Not part of the encoded form.
    public var threadClockNanoseconds: UInt64 = 0

    private enum CodingKeys: String, CodingKey {
        case userNanoseconds, systemNanoseconds, voluntarySwitches, involuntarySwitches
    }

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
        var clock = timespec()
        let clocked = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &clock) == 0
        func ns(_ tv: timeval) -> UInt64 { UInt64(tv.tv_sec) * 1_000_000_000 + UInt64(tv.tv_usec) * 1000 }
        var reading = CPUUsage(
            userNanoseconds: ns(usage.ru_utime), systemNanoseconds: ns(usage.ru_stime),
            voluntarySwitches: UInt64(usage.ru_nvcsw), involuntarySwitches: UInt64(usage.ru_nivcsw))
        if clocked { reading.threadClockNanoseconds = UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec) }
        return reading
    }

    /// What was used between `start` and `self`: with both thread clocks read, their difference
    /// split in the proportion of getrusage's user and system differences (all user when those
    /// show nothing); else getrusage's differences as they are.
    public func since(_ start: CPUUsage) -> CPUUsage {
        var used = CPUUsage(
            userNanoseconds: userNanoseconds &- start.userNanoseconds,
            systemNanoseconds: systemNanoseconds &- start.systemNanoseconds,
            voluntarySwitches: voluntarySwitches &- start.voluntarySwitches,
            involuntarySwitches: involuntarySwitches &- start.involuntarySwitches)
        guard threadClockNanoseconds > 0, start.threadClockNanoseconds > 0,
            threadClockNanoseconds >= start.threadClockNanoseconds,
            userNanoseconds >= start.userNanoseconds, systemNanoseconds >= start.systemNanoseconds
        else { return used }
        let total = threadClockNanoseconds - start.threadClockNanoseconds
        let parts = Double(used.userNanoseconds) + Double(used.systemNanoseconds)
        let user = parts > 0 ? UInt64((Double(total) * Double(used.userNanoseconds) / parts).rounded()) : total
        used.userNanoseconds = min(user, total)
        used.systemNanoseconds = total - used.userNanoseconds
        return used
    }

    /// Takes `nanoseconds` of spinning out (the rate client's waiting for its schedule): user
    /// time, never below zero. Only user time: the spin runs in user mode, and it is timed by the
    /// wall clock, which also counts a preemption during it; system time (the sends' own calls)
    /// is never taken.
    public mutating func remove(_ nanoseconds: UInt64) {
        userNanoseconds -= min(userNanoseconds, nanoseconds)
    }
}
