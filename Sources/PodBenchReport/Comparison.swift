import Foundation
import PodBenchCore
import PodBenchResults

/// A metric that `compare` judges, trial by trial.
public enum ComparedMetric: String, CaseIterable, Codable, Sendable {
    case p50
    case p99
    case p999 = "p99.9"
    case messagesPerSecond = "msg/s"
    case bytesPerSecond = "bytes/s"
    case clientCPU = "cpu/msg client"
    case serverCPU = "cpu/msg server"

    /// Whether a higher value is worse (latency, CPU) or better (throughput).
    public var higherIsWorse: Bool {
        switch self {
        case .messagesPerSecond, .bytesPerSecond: false
        default: true
        }
    }

    /// The smallest change worth a verdict, by default: 5% for medians and throughput, 10% for
    /// tails and CPU time (whose accounting is coarse).
    public var defaultMinimumEffect: Double {
        switch self {
        case .p50, .messagesPerSecond, .bytesPerSecond: 0.05
        case .p99, .p999, .clientCPU, .serverCPU: 0.10
        }
    }

    /// The metric's value in one trial, nil when the workload has none. Latency is the pingpong
    /// round trip; a stream's one-way delivery times are recorded but not gated (in a
    /// receiver-paced stream they measure the queue the sender keeps full, which varies run to run).
    public func value(_ trial: TrialResult) -> Double? {
        switch self {
        case .p50: trial.latencySummary.map { Double($0.p50) }
        case .p99: trial.latencySummary.map { Double($0.p99) }
        case .p999: trial.latencySummary.map { Double($0.p999) }
        case .messagesPerSecond: trial.messagesPerSecond
        case .bytesPerSecond: trial.bytesPerSecond
        case .clientCPU: trial.client.cpuNanosecondsPerMessage
        case .serverCPU: trial.server.cpuNanosecondsPerMessage
        }
    }

    /// Parses `--min-effect p50=3%,p99=15%,throughput=5%,cpu=20%` (groups: latency, tails,
    /// throughput, cpu, or a metric's own name).
    public static func parseMinimumEffects(_ text: String) throws -> [ComparedMetric: Double] {
        var effects: [ComparedMetric: Double] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[1].hasSuffix("%"), let percent = Double(pair[1].dropLast()), percent >= 0,
                percent < 1000
            else {
                throw PodBenchError(
                    .invalidConfiguration, "--min-effect: '\(part)' is not METRIC=PERCENT% (e.g. p50=3%,p99=15%)")
            }
            let metrics: [ComparedMetric]
            switch pair[0] {
            case "latency": metrics = [.p50, .p99, .p999]
            case "tails": metrics = [.p99, .p999]
            case "throughput": metrics = [.messagesPerSecond, .bytesPerSecond]
            case "cpu": metrics = [.clientCPU, .serverCPU]
            case "p999": metrics = [.p999]
            default:
                guard let metric = ComparedMetric(rawValue: pair[0]) else {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "--min-effect: unknown metric '\(pair[0])'; use latency, tails, throughput, cpu, p50, p99, p99.9, msg/s, bytes/s"
                    )
                }
                metrics = [metric]
            }
            for metric in metrics { effects[metric] = percent / 100 }
        }
        return effects
    }
}

/// What `compare` concludes about one metric of one case.
public enum Verdict: String, Codable, Sendable, Comparable {
    case regressed
    case improved
    case unchanged
    case inconclusive

    private var order: Int {
        switch self {
        case .regressed: 0
        case .inconclusive: 1
        case .improved: 2
        case .unchanged: 3
        }
    }

    public static func < (a: Verdict, b: Verdict) -> Bool { a.order < b.order }
}

/// One metric of one case, compared.
public struct MetricComparison: Codable, Equatable, Sendable {
    public var metric: ComparedMetric
    public var baseline: [Double]
    public var current: [Double]
    public var baselineMedian: Double
    public var currentMedian: Double
    /// current / baseline, from the Hodges–Lehmann shift of the logs.
    public var ratio: Double
    /// The confidence interval of the ratio, when the trials allow one.
    public var ratioLower: Double?
    public var ratioUpper: Double?
    public var confidence: Double?
    /// The minimum effect used: the one asked, or the baseline's own spread when larger.
    public var minimumEffect: Double
    public var verdict: Verdict
    public var reason: String
}

/// One case, compared metric by metric.
public struct CaseComparison: Codable, Equatable, Sendable {
    public var key: CaseKey
    /// A case that ran in the baseline but failed in the current run is a regression of its own.
    public var failure: String?
    public var metrics: [MetricComparison]

    /// The worst verdict of the case.
    public var verdict: Verdict {
        if failure != nil { return .regressed }
        return metrics.map(\.verdict).min() ?? .inconclusive
    }
}

/// An environment property that differs between the two runs.
public struct EnvironmentDifference: Codable, Equatable, Sendable {
    public var property: String
    public var baseline: String
    public var current: String
}

/// Everything `compare` decided.
public struct ComparisonReport: Codable, Equatable, Sendable {
    public var baseline: String
    public var current: String
    public var confidence: Double
    public var cases: [CaseComparison]
    /// Cases in one run only, or not comparable (failed or unavailable in the baseline).
    public var onlyInBaseline: [CaseKey]
    public var onlyInCurrent: [CaseKey]
    public var notComparable: [String]
    public var environmentDifferences: [EnvironmentDifference]
    /// Geometric mean of the ratios across cases, per metric: the suite line.
    public var geometricMeans: [String: Double]

    public var regressions: Int { cases.reduce(0) { $0 + ($1.verdict == .regressed ? 1 : 0) } }

    /// Exit codes: 0 no regression, 1 regression, 3 environment mismatch (unless allowed).
    public func exitCode(allowEnvironmentMismatch: Bool) -> Int32 {
        if !environmentDifferences.isEmpty && !allowEnvironmentMismatch { return 3 }
        return regressions > 0 ? 1 : 0
    }
}

/// Compares two runs.
public struct Comparator: Sendable {
    public var confidence: Double
    public var minimumEffects: [ComparedMetric: Double]

    public init(confidence: Double = 0.95, minimumEffects: [ComparedMetric: Double] = [:]) {
        self.confidence = confidence
        self.minimumEffects = minimumEffects
    }

    /// Compares `current` with `baseline`.
    /// - Throws: `.incompatibleResults` when the two runs have no case in common.
    public func compare(baseline: RunResult, current: RunResult, baselineName: String, currentName: String) throws
        -> ComparisonReport
    {
        var baselineCases: [CaseKey: CaseResult] = [:]
        for c in baseline.cases { baselineCases[c.key] = c }
        var currentKeys = Set<CaseKey>()
        var compared: [CaseComparison] = []
        var onlyInCurrent: [CaseKey] = []
        var notComparable: [String] = []
        for c in current.cases {
            currentKeys.insert(c.key)
            guard let b = baselineCases[c.key] else {
                onlyInCurrent.append(c.key)
                continue
            }
            guard b.status == .ok else {
                notComparable.append("\(c.key): \(b.status.rawValue) in the baseline (\(b.error ?? "no reason"))")
                continue
            }
            if c.status != .ok {
                compared.append(
                    CaseComparison(
                        key: c.key, failure: "\(c.status.rawValue) in the current run: \(c.error ?? "no reason")",
                        metrics: []))
                continue
            }
            compared.append(CaseComparison(key: c.key, failure: nil, metrics: compareMetrics(b, c)))
        }
        let onlyInBaseline = baseline.cases.map(\.key).filter { !currentKeys.contains($0) }
        guard !compared.isEmpty else {
            throw PodBenchError(
                .incompatibleResults,
                "\(baselineName) and \(currentName) have no case in common to compare (\(baseline.cases.count) and \(current.cases.count) cases): run the same matrix"
            )
        }
        var means: [String: Double] = [:]
        for metric in ComparedMetric.allCases {
            let ratios = compared.flatMap(\.metrics).filter { $0.metric == metric }.map(\.ratio).filter { $0 > 0 }
            guard !ratios.isEmpty else { continue }
            means[metric.rawValue] = exp(ratios.map(log).reduce(0, +) / Double(ratios.count))
        }
        return ComparisonReport(
            baseline: baselineName, current: currentName, confidence: confidence, cases: compared,
            onlyInBaseline: onlyInBaseline, onlyInCurrent: onlyInCurrent, notComparable: notComparable,
            environmentDifferences: EnvironmentFingerprint.differences(baseline, current), geometricMeans: means)
    }

    func compareMetrics(_ b: CaseResult, _ c: CaseResult) -> [MetricComparison] {
        ComparedMetric.allCases.compactMap { metric in
            let x = b.trials.compactMap { metric.value($0) }
            let y = c.trials.compactMap { metric.value($0) }
            guard !x.isEmpty, !y.isEmpty else { return nil }
            return compare(metric: metric, baseline: x, current: y)
        }
    }

    /// Compares one metric's trial values.
    public func compare(metric: ComparedMetric, baseline x: [Double], current y: [Double]) -> MetricComparison {
        let asked = minimumEffects[metric] ?? metric.defaultMinimumEffect
        var result = MetricComparison(
            metric: metric, baseline: x, current: y, baselineMedian: CaseSummary.median(x),
            currentMedian: CaseSummary.median(y), ratio: .nan, ratioLower: nil, ratioUpper: nil, confidence: nil,
            minimumEffect: asked, verdict: .inconclusive, reason: "")
        guard x.allSatisfy({ $0 > 0 && $0.isFinite }), y.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            result.reason = "a trial value is zero or not finite; no ratio can be formed"
            return result
        }
        let a = x.map(log)
        let bLog = y.map(log)
        let shift = ShiftEstimate(baseline: a, current: bLog, confidence: confidence)
        result.ratio = exp(shift.estimate)
        // δ in log space, raised to the baseline's own trial-to-trial spread (half its range).
        let spread = ((a.max() ?? 0) - (a.min() ?? 0)) / 2
        let delta = max(log1p(asked), spread)
        result.minimumEffect = expm1(delta)
        guard let lower = shift.lower, let upper = shift.upper else {
            result.reason =
                "too few trials (\(x.count) and \(y.count)) for a \(Int(confidence * 100))% interval: use 4 or more on both sides"
            return result
        }
        result.ratioLower = exp(lower)
        result.ratioUpper = exp(upper)
        result.confidence = shift.achievedConfidence
        // In "worse" space: positive means worse.
        let sign = metric.higherIsWorse ? 1.0 : -1.0
        let worseLow = min(sign * lower, sign * upper)
        let worseHigh = max(sign * lower, sign * upper)
        let effect = Format.decimal(result.minimumEffect * 100) + "%"
        if worseLow > delta {
            result.verdict = .regressed
            result.reason = "the whole interval is worse than the minimum effect \(effect)"
        } else if worseHigh < -delta {
            result.verdict = .improved
            result.reason = "the whole interval is better than the minimum effect \(effect)"
        } else if worseLow >= -delta && worseHigh <= delta {
            result.verdict = .unchanged
            result.reason = "the whole interval lies within ±\(effect)"
        } else {
            result.reason = "the interval crosses the minimum effect \(effect): too noisy or too small a change to tell"
        }
        return result
    }
}
