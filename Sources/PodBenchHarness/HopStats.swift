import Foundation
import Glibc
import PodBenchCore

/// Where a hop's own CPU time and context switches come from: a podbench relay's stats endpoint
/// (`relay --stats`), or the kernel's accounting of a local process (`pid:PID`: any proxy whose
/// process this side can see, e.g. haproxy started beside the run).
public enum HopStatsSource: Sendable, Equatable, CustomStringConvertible {
    case relay(SocketAddress)
    case process(pid: Int32)
    /// The one process named so (`/proc/PID/comm`) this side sees, looked up at each reading: a
    /// proxy in another container of a pod that shares its process namespace, whose PID is not
    /// known when the run starts.
    case processNamed(String)

    /// Parses `pid:PID`, `process:NAME` or an endpoint (`tcp:…`, `unix:…`).
    public init(parsing text: String) throws {
        if text.hasPrefix("process:") {
            let name = String(text.dropFirst(8))
            guard (1...15).contains(name.utf8.count), name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x2F })
            else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "'\(TextEscaping.terminal(text))' is not process:NAME with a process name (1 to 15 visible characters, as /proc/PID/comm holds it)"
                )
            }
            self = .processNamed(name)
        } else if text.hasPrefix("pid:") {
            guard let pid = Int32(text.dropFirst(4)), pid > 0 else {
                throw PodBenchError(.invalidConfiguration, "'\(text)' is not pid:PID with a process id")
            }
            guard access("/proc/\(pid)/task", R_OK) == 0 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "no process \(pid) is visible here (/proc/\(pid)): give the proxy's PID as this side sees it")
            }
            self = .process(pid: pid)
        } else {
            self = .relay(try SocketAddress(parsing: text))
        }
    }

    public var description: String {
        switch self {
        case .relay(let address): address.description
        case .process(let pid): "pid:\(pid)"
        case .processNamed(let name): "process:\(name)"
        }
    }

    /// The hop's figures now.
    public func read(timeoutNanoseconds: UInt64) throws -> HopReading {
        switch self {
        case .relay(let address):
            .relay(try RelayStats.query(address, timeoutNanoseconds: timeoutNanoseconds).usage)
        case .process(let pid):
            .process(try ProcessAccounting.threads(of: pid))
        case .processNamed(let name):
            .process(try ProcessAccounting.threads(of: try Self.pid(named: name)))
        }
    }

    /// The PID of the one visible process named `name`.
    /// - Throws: `.unavailable` when there is none or more than one (naming them).
    static func pid(named name: String) throws -> Int32 {
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry),
                let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
                comm.trimmingCharacters(in: .newlines) == name
            else { continue }
            found.append(pid)
        }
        guard found.count == 1 else {
            throw PodBenchError(
                .unavailable,
                found.isEmpty
                    ? "--via-stats process:\(name): no process of that name is visible here (share the pod's process namespace)"
                    : "--via-stats process:\(name): \(found.count) processes have that name (\(found.sorted().map(String.init).joined(separator: ", "))): give pid:PID"
            )
        }
        return found[0]
    }
}

/// One reading of a hop's figures; two make a phase's usage.
public enum HopReading: Sendable {
    case relay(CPUUsage)
    case process([Int32: ProcessAccounting.Thread])

    /// What the hop used between `start` and this reading.
    public func since(_ start: HopReading) -> CPUUsage {
        switch (self, start) {
        case (.relay(let now), .relay(let then)):
            return now.since(then)
        case (.process(let now), .process(let then)):
            return ProcessAccounting.usage(from: then, to: now)
        default:
            return .zero
        }
    }
}

/// A process's CPU time and context switches from /proc, thread by thread: the scheduler's
/// nanosecond count of time on a CPU (`task/TID/schedstat`), split into user and system time in
/// the ratio of the tick counts in `task/TID/stat` (which are too coarse, 10 ms, to use alone), and
/// the context switches in `task/TID/status`.
public enum ProcessAccounting {
    public struct Thread: Sendable, Equatable {
        public var runNanoseconds: UInt64
        public var userTicks: UInt64
        public var systemTicks: UInt64
        public var voluntarySwitches: UInt64
        public var involuntarySwitches: UInt64
    }

    /// Every thread of `pid` now.
    public static func threads(of pid: Int32) throws -> [Int32: Thread] {
        let base = "/proc/\(pid)/task"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else {
            throw PodBenchError(.peerClosed, "the hop's process \(pid) is gone (no /proc/\(pid))")
        }
        var out: [Int32: Thread] = [:]
        for name in names {
            guard let tid = Int32(name),
                let thread = Self.thread(
                    schedstat: read(base + "/\(name)/schedstat"), stat: read(base + "/\(name)/stat"),
                    status: read(base + "/\(name)/status"))
            else { continue }  // ended while we looked
            out[tid] = thread
        }
        guard !out.isEmpty else { throw PodBenchError(.peerClosed, "the hop's process \(pid) is gone") }
        return out
    }

    /// One thread's figures from the text of its three files; nil when one is missing or malformed.
    static func thread(schedstat: String?, stat: String?, status: String?) -> Thread? {
        guard let schedstat, let stat, let status,
            let run = schedstat.split(separator: " ").first.flatMap({ UInt64($0) }),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After the command name in parentheses: state is field 3, utime 14, stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        func count(_ key: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(key + ":") }.flatMap {
                UInt64($0.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces))
            }
        }
        guard let voluntary = count("voluntary_ctxt_switches"), let involuntary = count("nonvoluntary_ctxt_switches")
        else { return nil }
        return Thread(
            runNanoseconds: run, userTicks: user, systemTicks: system, voluntarySwitches: voluntary,
            involuntarySwitches: involuntary)
    }

    /// What the threads used between two readings: threads present in both count their difference,
    /// threads that started in between count whole, threads that ended in between are lost (a
    /// proxy keeps its workers; say so where it matters).
    static func usage(from start: [Int32: Thread], to end: [Int32: Thread]) -> CPUUsage {
        var usage = CPUUsage.zero
        for (tid, now) in end {
            let then =
                start[tid]
                ?? Thread(runNanoseconds: 0, userTicks: 0, systemTicks: 0, voluntarySwitches: 0, involuntarySwitches: 0)
            let run = now.runNanoseconds &- min(then.runNanoseconds, now.runNanoseconds)
            var user = now.userTicks &- min(then.userTicks, now.userTicks)
            var system = now.systemTicks &- min(then.systemTicks, now.systemTicks)
            if user + system == 0 {
                // No tick fell in this stretch: split by the thread's whole life instead.
                (user, system) = (now.userTicks, now.systemTicks)
            }
            let userShare = user + system == 0 ? 1.0 : Double(user) / Double(user + system)
            let userNs = UInt64((Double(run) * userShare).rounded())
            usage.userNanoseconds += userNs
            usage.systemNanoseconds += run - min(userNs, run)
            usage.voluntarySwitches += now.voluntarySwitches &- min(then.voluntarySwitches, now.voluntarySwitches)
            usage.involuntarySwitches +=
                now.involuntarySwitches &- min(then.involuntarySwitches, now.involuntarySwitches)
        }
        return usage
    }

    static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
