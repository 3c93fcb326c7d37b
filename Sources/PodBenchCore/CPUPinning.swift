import CPodBenchLinux
import Glibc
import SystemPackage

/// Pins the calling thread to CPUs and reports what it got, for the record.
public enum CPUPinning {
    /// What a side asked for and what it got.
    public struct Outcome: Equatable, Sendable, Codable {
        /// The CPU asked for, nil when no pinning was asked.
        public var asked: Int?
        /// The CPUs the measuring thread may run on after the request.
        public var allowed: [Int]
        /// The CPU it ran on when last looked at.
        public var observed: Int?

        public init(asked: Int?, allowed: [Int], observed: Int?) {
            self.asked = asked
            self.allowed = allowed
            self.observed = observed
        }
    }

    /// Pins the calling thread to `cpu` (when given) and reports the outcome.
    /// - Throws: `.invalidConfiguration` when the CPU does not exist or is outside the cpuset.
    public static func pinCurrentThread(to cpu: Int?) throws -> Outcome {
        if let cpu {
            // A CPU number comes from the command line or from another container's hello.
            guard let number = Int32(exactly: cpu), number >= 0, CPodBenchLinux_pin_thread_to_cpu(number) == 0 else {
                let e = Errno(rawValue: errno)
                throw PodBenchError(
                    .invalidConfiguration,
                    "cannot pin to CPU \(cpu): it is not in this process's allowed set \(formatList(allowedCPUs())); pick one of those",
                    cause: .init(call: "sched_setaffinity", errno: e))
            }
        }
        return Outcome(asked: cpu, allowed: allowedCPUs(), observed: currentCPU())
    }

    /// Lets the calling thread run on `cpus` again (sched_setaffinity), e.g. to undo a pin.
    public static func allow(_ cpus: [Int]) throws {
        let list = cpus.map(Int32.init)
        guard !list.isEmpty, CPodBenchLinux_set_thread_affinity(list, Int32(list.count)) == 0 else {
            throw PodBenchError(
                .invalidConfiguration, "cannot allow CPUs \(formatList(cpus))",
                cause: .init(call: "sched_setaffinity", errno: Errno(rawValue: errno)))
        }
    }

    /// The CPUs the calling thread may run on (sched_getaffinity).
    public static func allowedCPUs() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 4096)
        let n = CPodBenchLinux_thread_affinity(&cpus, Int32(cpus.count))
        guard n > 0 else { return [] }
        return cpus[0..<Int(n)].map(Int.init)
    }

    /// The CPU the calling thread runs on now (sched_getcpu).
    public static func currentCPU() -> Int? {
        let cpu = CPodBenchLinux_current_cpu()
        return cpu >= 0 ? Int(cpu) : nil
    }

    /// `0-3,6` style.
    public static func formatList(_ cpus: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < cpus.count {
            var j = i
            while j + 1 < cpus.count, cpus[j + 1] == cpus[j] + 1 { j += 1 }
            parts.append(i == j ? "\(cpus[i])" : "\(cpus[i])-\(cpus[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}
