#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Nanoseconds from `clock_gettime(CLOCK_MONOTONIC)`: the one clock of every measurement. Two
/// processes in one pod share the kernel's monotonic clock, so its readings compare across them.
public enum MonotonicClock {
    /// The current monotonic time in nanoseconds (vDSO, no system call on Linux).
    @inlinable
    @inline(__always)
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The cost of one `now()` in nanoseconds, the median of `samples` back-to-back pairs.
    public static func measureOverhead(samples: Int = 10_001) -> UInt64 {
        var deltas = [UInt64](repeating: 0, count: samples)
        for i in 0..<samples {
            let a = now()
            let b = now()
            deltas[i] = b &- a
        }
        deltas.sort()
        return deltas[samples / 2]
    }
}
