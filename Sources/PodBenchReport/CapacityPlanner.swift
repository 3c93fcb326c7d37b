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
        public func kept(by point: Point) -> Bool { miss(point) == nil }

        /// Why `point` misses the objective (`delivered 71%`, `p99 2.55ms`, `no p99`); nil when it
        /// keeps it.
        public func miss(_ point: Point) -> String? {
            guard point.keptUp else { return "delivered \(CapacityPlanner.deliveredPercent(point))" }
            guard let v = value(point) else { return "no \(percentile.rawValue)" }
            guard v > nanoseconds else { return nil }
            // A figure that rounds to the bound is given whole: 100.2µs misses "≤ 100µs".
            let text = Format.nanoseconds(v)
            return "\(percentile.rawValue) "
                + (text == Format.nanoseconds(nanoseconds) ? "\(Format.plain(v.rounded()))ns" : text)
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

    /// The first offered rate past the knee, and why in words: `delivered 71%`, or
    /// `p99 ×2.4 (45.0µs → 108µs)` over the best p99 of the rates below. Nil when none broke.
    public static func kneeBreak(_ points: [Point], factor: Double = 2) -> (point: Point, cause: String)? {
        var rule = KneeRule(factor: factor)
        for p in points.sorted(by: { $0.offered < $1.offered }) {
            let best = rule.bestP99
            guard rule.admit(offered: p.offered, achieved: p.achieved, p99: p.p99) else {
                if !p.keptUp { return (p, "delivered \(deliveredPercent(p))") }
                let tail = p.p99.map(Format.nanoseconds) ?? "none"
                // Never a ratio that reads as within the rule (2.004 is not "×2.00").
                let ratio =
                    p.p99.map { tail -> String in
                        let text = Format.decimal(tail / best)
                        return (Double(text) ?? 0) > factor ? text : Format.fixed(tail / best, digits: 4)
                    } ?? "-"
                return (p, "p99 ×\(ratio) (\(Format.nanoseconds(best)) → \(tail))")
            }
        }
        return nil
    }

    /// An offered rate as people wrote it: `10k`, `1M`, `2.5k` (the table's three digits, dead
    /// zeros dropped: offered rates are round numbers).
    public static func offeredText(_ rate: Double) -> String { ChartAxis.trimmed(Format.rate(rate)) }

    /// The share of the offered rate a point delivered, as text: `71%`, `94.9%`.
    /// Rounded down to a tenth, so a share under the rule's 95% never reads as 95.0%.
    static func deliveredPercent(_ p: Point) -> String {
        guard p.offered > 0 else { return "-" }
        let percent = min(p.achieved / p.offered, 9.99) * 100
        return Format.fixed((percent * 10).rounded(.down) / 10, digits: 1) + "%"
    }

    /// How a channel did against an objective at every rate tried.
    public struct Assessment: Sendable {
        /// The highest offered rate that met the objective: the channel's capacity under it.
        public var capacity: Point?
        /// Every rate tried, in order, with why it missed (nil: met).
        public var rates: [(point: Point, miss: String?)]

        /// The rates below the capacity that missed: results that are not monotonic (a tail from
        /// idle wake-ups at a low rate is the common one), shown as what they are.
        public var missesBelow: [(point: Point, miss: String)] {
            guard let capacity else { return [] }
            return rates.compactMap { r in
                r.point.offered < capacity.offered ? r.miss.map { (r.point, $0) } : nil
            }
        }

        /// `meets 50k–200k; misses 10k (p99 2.55ms), 1.00M (delivered 71%)`: runs of consecutive
        /// rates tried that met it, then each that missed with why.
        public var description: String {
            var runs: [String] = []
            var run: [Point] = []
            func close() {
                guard let first = run.first, let last = run.last else { return }
                runs.append(
                    first.offered == last.offered
                        ? offeredText(first.offered) : "\(offeredText(first.offered))–\(offeredText(last.offered))")
                run = []
            }
            for r in rates {
                if r.miss == nil { run.append(r.point) } else { close() }
            }
            close()
            let misses = rates.compactMap { r in r.miss.map { "\(offeredText(r.point.offered)) (\($0))" } }
            return [
                runs.isEmpty ? "meets none" : "meets " + runs.joined(separator: ", "),
                misses.isEmpty ? nil : "misses " + misses.joined(separator: ", "),
            ].compactMap { $0 }.joined(separator: "; ")
        }
    }

    /// The highest offered rate that keeps `objective`, and how every rate tried did. A rate that
    /// misses below one that meets it does not lower the capacity (a planner runs at the capacity,
    /// not below it) but is listed, so a non-monotonic result is seen for what it is.
    public static func assess(_ points: [Point], objective: Objective) -> Assessment {
        let sorted = points.sorted { $0.offered < $1.offered }
        let rates = sorted.map { (point: $0, miss: objective.miss($0)) }
        return Assessment(capacity: rates.last { $0.miss == nil }?.point, rates: rates)
    }

    /// Cores of CPU the two sides use together at `point`: the messages delivered per second
    /// times both sides' CPU time per message.
    public static func cores(_ point: Point) -> Double { point.achieved * point.cpuPerMessage / 1e9 }

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
