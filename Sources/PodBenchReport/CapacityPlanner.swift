import PodBenchCore
import PodBenchResults

/// Capacity figures from the `rate` workload's cases: where latency breaks, the highest rate that
/// keeps an objective, what it costs in CPU, and where delivery saturates.
public enum CapacityPlanner {
    /// One offered rate's outcome.
    public struct Point: Equatable, Sendable {
        public var offered: Double
        public var achieved: Double
        /// One-way latency percentiles from the intended send time, nanoseconds.
        public var p50: Double?
        public var p99: Double?
        public var p999: Double?
        /// CPU time per message of both sides together, nanoseconds.
        public var cpuPerMessage: Double

        public init(
            offered: Double, achieved: Double, p50: Double?, p99: Double?, p999: Double? = nil, cpuPerMessage: Double
        ) {
            self.offered = offered
            self.achieved = achieved
            self.p50 = p50
            self.p99 = p99
            self.p999 = p999
            self.cpuPerMessage = cpuPerMessage
        }

        /// Whether the channel delivered (nearly) what was offered.
        public var keptUp: Bool { KneeRule.keptUp(offered: offered, achieved: achieved) }
    }

    /// A latency objective: a percentile and its bound.
    public struct Objective: Equatable, Sendable, CustomStringConvertible {
        public enum Percentile: String, Sendable {
            case p50
            case p99
            case p999 = "p99.9"
        }

        public var percentile: Percentile
        public var nanoseconds: Double

        public init(percentile: Percentile, nanoseconds: Double) {
            self.percentile = percentile
            self.nanoseconds = nanoseconds
        }

        /// Parses `p99=200us` (percentiles p50, p99, p99.9).
        public init(parsing text: String) throws {
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let percentile = Percentile(rawValue: parts[0]) else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--slo: '\(text)' is not PERCENTILE=DURATION, e.g. p99=200us (p50, p99, p99.9)")
            }
            self.percentile = percentile
            nanoseconds = Double(try DurationText.parse(parts[1], option: "--slo"))
            guard nanoseconds > 0 else {
                throw PodBenchError(.invalidConfiguration, "--slo: the bound must be above 0")
            }
        }

        public var description: String {
            "\(percentile.rawValue) ≤ \(ChartAxis.trimmed(Format.nanoseconds(nanoseconds)))"
        }

        func value(_ point: Point) -> Double? {
            switch percentile {
            case .p50: point.p50
            case .p99: point.p99
            case .p999: point.p999
            }
        }

        /// Whether `point` keeps the objective (and kept up with the offered rate).
        public func kept(by point: Point) -> Bool {
            guard point.keptUp, let v = value(point) else { return false }
            return v <= nanoseconds
        }
    }

    /// The knee: the last offered rate before the channel breaks, where breaking is delivering
    /// less than 95% of the offered rate, or a p99 more than `factor` times the best p99 seen at
    /// the lower rates. Nil when even the lowest rate breaks; the highest rate when none does.
    public static func knee(_ points: [Point], factor: Double = 2) -> (point: Point, broke: Bool)? {
        var rule = KneeRule(factor: factor)
        var last: Point?
        for p in points.sorted(by: { $0.offered < $1.offered }) {
            guard rule.admit(offered: p.offered, achieved: p.achieved, p99: p.p99) else {
                return last.map { ($0, true) }
            }
            last = p
        }
        return last.map { ($0, false) }
    }

    /// The highest offered rate that keeps `objective`, every lower rate keeping it too (a rate
    /// that passes above a failing one is noise, not capacity). Nil when the lowest fails.
    public static func capacity(_ points: [Point], objective: Objective) -> Point? {
        var kept: Point?
        for p in points.sorted(by: { $0.offered < $1.offered }) {
            guard objective.kept(by: p) else { break }
            kept = p
        }
        return kept
    }

    /// Messages per second one core of CPU time carries at `point` (both sides' CPU counted).
    public static func ratePerCore(_ point: Point) -> Double? {
        point.cpuPerMessage > 0 ? 1e9 / point.cpuPerMessage : nil
    }

    /// The most a channel delivered at any offered rate.
    public static func saturation(_ points: [Point]) -> Double { points.map(\.achieved).max() ?? 0 }

    /// The point of a `rate` case.
    public static func point(_ result: CaseResult) -> Point? {
        guard result.status == .ok, !result.trials.isEmpty, let rate = result.key.rate.map(Double.init)
        else { return nil }
        let s = CaseSummary(result)
        return Point(
            offered: rate, achieved: s.messagesPerSecond, p50: s.p50, p99: s.p99, p999: s.p999,
            cpuPerMessage: s.clientCPUPerMessage + s.serverCPUPerMessage)
    }
}
