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

    /// What `ab` judges unless told: all but the tails. A round's run is one trial of 250 ms, a
    /// few thousand round trips in a slow case, of which p99.9 is the third largest: between runs
    /// it spread by a factor of up to 3 here (docs/ci.md), so no budget of rounds pins it within 10%.
    public static let abDefaults: [ComparedMetric] = allCases.filter { $0 != .p99 && $0 != .p999 }

    /// Parses `--metrics p50,throughput,cpu` (the groups and names of `--min-effect`), in the
    /// order of `allCases`.
    public static func parseList(_ text: String) throws -> [ComparedMetric] {
        var chosen = Set<ComparedMetric>()
        for name in text.split(separator: ",").map(String.init) {
            guard let named = try? parseMinimumEffects(name + "=0%") else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--metrics: unknown metric '\(name)'; use latency, tails, throughput, cpu, p50, p99, p99.9, msg/s, bytes/s"
                )
            }
            chosen.formUnion(named.keys)
        }
        guard !chosen.isEmpty else {
            throw PodBenchError(.invalidConfiguration, "--metrics: name at least one metric")
        }
        return allCases.filter(chosen.contains)
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
    /// Fills in the interval of the log ratio `lower…upper`, the confidence it really has, and the
    /// smallest change it could call (δ plus its half-width), the same in every design.
    mutating func setInterval(lower: Double, upper: Double, confidence: Double?, delta: Double) {
        ratioLower = exp(lower)
        ratioUpper = exp(upper)
        self.confidence = confidence
        detectableChange = expm1(delta + (upper - lower) / 2)
    }

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
    /// The (1 − 2α) interval that decides `unchanged` (two one-sided tests at α each: equivalence
    /// is shown when this interval lies within ±δ).
    public var equivalenceLower: Double?
    public var equivalenceUpper: Double?
    /// The smallest change this comparison could have called a regression, as a fraction (0.12
    /// = 12%): δ plus the half-width of the interval the trials gave. nil without an interval.
    public var detectableChange: Double?
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

/// What the gate does with what it could not decide.
public enum InconclusivePolicy: String, Codable, Sendable, CaseIterable {
    /// Undecided metrics fail the gate (exit 4): the default, so that nothing passes unjudged.
    case fail
    /// Shown as undecided everywhere, but the exit code is 0 when nothing regressed.
    case warn
    /// Shown as undecided everywhere; the exit code ignores them.
    case pass
}

/// How `compare` turns a report into a pass or a failure.
public struct GatePolicy: Codable, Equatable, Sendable {
    public var allowEnvironmentMismatch: Bool
    public var onInconclusive: InconclusivePolicy
    /// Cases of the baseline missing from the current run, an unfinished current run, and cases
    /// that failed in the baseline do not fail the gate (they are still listed).
    public var allowMissing: Bool

    public init(
        allowEnvironmentMismatch: Bool = false, onInconclusive: InconclusivePolicy = .fail, allowMissing: Bool = false
    ) {
        self.allowEnvironmentMismatch = allowEnvironmentMismatch
        self.onInconclusive = onInconclusive
        self.allowMissing = allowMissing
    }
}

/// The gate's decision.
public enum GateOutcome: String, Sendable {
    /// Every case compared and decided, none regressed.
    case passed
    /// Nothing regressed, but some things were undecided and the policy let them through.
    case passedUndecided
    case regressed
    /// Nothing regressed, and something the gate could not decide fails it.
    case undecided
    case environmentMismatch

    /// 0 passed, 1 a regression, 3 the environments differ, 4 undecided.
    public var exitCode: Int32 {
        switch self {
        case .passed, .passedUndecided: 0
        case .regressed: 1
        case .environmentMismatch: 3
        case .undecided: 4
        }
    }
}

/// Everything `compare` decided.
public struct ComparisonReport: Codable, Equatable, Sendable {
    public var baseline: String
    public var current: String
    public var confidence: Double
    public var cases: [CaseComparison]
    /// Cases in one run only, or not comparable (failed in the baseline).
    public var onlyInBaseline: [CaseKey]
    public var onlyInCurrent: [CaseKey]
    public var notComparable: [String]
    /// Cases unavailable in both runs (e.g. io_uring refused on both): nothing to compare, no loss.
    public var unavailableInBoth: [CaseKey]
    /// Why a run is incomplete, when it is.
    public var baselineIncomplete: String?
    public var currentIncomplete: String?
    public var environmentDifferences: [EnvironmentDifference]
    /// Geometric mean of the ratios across cases, per metric: the suite line.
    public var geometricMeans: [String: Double]
    /// Per metric, the median over cases of the smallest change the comparison could have called
    /// a regression (0.12 = 12%).
    public var detectableChanges: [String: Double]
    /// `podbench ab`: the interleaved rounds each verdict rests on (nil: two runs, `compare`).
    public var rounds: Int?
    /// `compare`: the runs on each side (a baseline of several runs); nil in files written before.
    public var baselineRuns: Int?
    public var currentRuns: Int?
    /// What else the reader should know (why `ab` stopped, what differs between A and B).
    public var notes: [String] = []
    /// The gate's decision and exit code under the policy it was rendered with (the JSON verdict
    /// file carries them, so a tool can tell "passed" from "passed with undecided").
    public var gate: String?
    public var gateExitCode: Int32?

    init(
        baseline: String, current: String, confidence: Double, cases: [CaseComparison], onlyInBaseline: [CaseKey],
        onlyInCurrent: [CaseKey], notComparable: [String], unavailableInBoth: [CaseKey], baselineIncomplete: String?,
        currentIncomplete: String?, environmentDifferences: [EnvironmentDifference], geometricMeans: [String: Double],
        detectableChanges: [String: Double]
    ) {
        self.baseline = baseline
        self.current = current
        self.confidence = confidence
        self.cases = cases
        self.onlyInBaseline = onlyInBaseline
        self.onlyInCurrent = onlyInCurrent
        self.notComparable = notComparable
        self.unavailableInBoth = unavailableInBoth
        self.baselineIncomplete = baselineIncomplete
        self.currentIncomplete = currentIncomplete
        self.environmentDifferences = environmentDifferences
        self.geometricMeans = geometricMeans
        self.detectableChanges = detectableChanges
    }

    /// Reads verdict files of earlier versions too: fields added since are optional on reading.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        baseline = try c.decode(String.self, forKey: .baseline)
        current = try c.decode(String.self, forKey: .current)
        confidence = try c.decode(Double.self, forKey: .confidence)
        cases = try c.decode([CaseComparison].self, forKey: .cases)
        onlyInBaseline = try c.decode([CaseKey].self, forKey: .onlyInBaseline)
        onlyInCurrent = try c.decode([CaseKey].self, forKey: .onlyInCurrent)
        notComparable = try c.decode([String].self, forKey: .notComparable)
        unavailableInBoth = try c.decodeIfPresent([CaseKey].self, forKey: .unavailableInBoth) ?? []
        baselineIncomplete = try c.decodeIfPresent(String.self, forKey: .baselineIncomplete)
        currentIncomplete = try c.decodeIfPresent(String.self, forKey: .currentIncomplete)
        environmentDifferences = try c.decode([EnvironmentDifference].self, forKey: .environmentDifferences)
        geometricMeans = try c.decode([String: Double].self, forKey: .geometricMeans)
        detectableChanges = try c.decodeIfPresent([String: Double].self, forKey: .detectableChanges) ?? [:]
        rounds = try c.decodeIfPresent(Int.self, forKey: .rounds)
        baselineRuns = try c.decodeIfPresent(Int.self, forKey: .baselineRuns)
        currentRuns = try c.decodeIfPresent(Int.self, forKey: .currentRuns)
        notes = try c.decodeIfPresent([String].self, forKey: .notes) ?? []
        gate = try c.decodeIfPresent(String.self, forKey: .gate)
        gateExitCode = try c.decodeIfPresent(Int32.self, forKey: .gateExitCode)
    }

    public var regressions: Int { cases.reduce(0) { $0 + ($1.verdict == .regressed ? 1 : 0) } }

    /// Cases with a metric the trials could not decide.
    public var inconclusiveCases: Int { cases.reduce(0) { $0 + ($1.verdict == .inconclusive ? 1 : 0) } }

    /// What the comparison could not decide, in words, one line each; empty when it decided all.
    public var undecided: [String] {
        var lines: [String] = []
        let inconclusive = inconclusiveCases
        if inconclusive > 0 {
            lines.append(
                "\(inconclusive) case\(inconclusive == 1 ? "" : "s") with a metric whose interval crosses δ: too noisy or too small a change to tell"
            )
        }
        if !onlyInBaseline.isEmpty {
            lines.append(
                "\(onlyInBaseline.count) case\(onlyInBaseline.count == 1 ? "" : "s") of the baseline missing from the current run"
            )
        }
        if let currentIncomplete { lines.append("the current run did not finish: \(currentIncomplete)") }
        if let baselineIncomplete {
            lines.append("the baseline run did not finish (cases it lacks are not judged): \(baselineIncomplete)")
        }
        if !notComparable.isEmpty {
            lines.append(
                "\(notComparable.count) case\(notComparable.count == 1 ? "" : "s") failed in the baseline, so cannot be judged: save a new baseline"
            )
        }
        return lines
    }

    /// The gate's decision under `policy`.
    public func outcome(_ policy: GatePolicy) -> GateOutcome {
        if !environmentDifferences.isEmpty && !policy.allowEnvironmentMismatch { return .environmentMismatch }
        if regressions > 0 { return .regressed }
        let missing =
            !onlyInBaseline.isEmpty || currentIncomplete != nil || baselineIncomplete != nil || !notComparable.isEmpty
        let inconclusive = inconclusiveCases > 0
        if (missing && !policy.allowMissing) || (inconclusive && policy.onInconclusive == .fail) { return .undecided }
        return undecided.isEmpty ? .passed : .passedUndecided
    }

    /// Exit codes: 0 passed, 1 a regression, 3 environment mismatch (unless allowed), 4 undecided.
    public func exitCode(_ policy: GatePolicy) -> Int32 { outcome(policy).exitCode }
}

/// Compares two runs.
public struct Comparator: Sendable {
    public var confidence: Double
    public var minimumEffects: [ComparedMetric: Double]
    /// The metrics judged (`--metrics`); the others are left out of the comparison, and the
    /// outputs list only these.
    public var metrics: [ComparedMetric]

    public init(
        confidence: Double = 0.95, minimumEffects: [ComparedMetric: Double] = [:],
        metrics: [ComparedMetric] = ComparedMetric.allCases
    ) {
        self.confidence = confidence
        self.minimumEffects = minimumEffects
        self.metrics = metrics
    }

    /// Compares `current` with `baseline`.
    /// - Throws: `.incompatibleResults` when the two runs have no case in common.
    public func compare(baseline: RunResult, current: RunResult, baselineName: String, currentName: String) throws
        -> ComparisonReport
    {
        try compare(
            baselineRuns: [baseline], currentRuns: [current], baselineName: baselineName, currentName: currentName)
    }

    /// Compares the current run (or runs) with a baseline of one run or several. With three runs
    /// or more in all, runs are the unit: each run's median over its trials is one value, and the
    /// interval (`RunsEstimate`) holds the spread between runs, which the trials of one run cannot
    /// show. With one run a side, the trials are all there is, and every output says that the
    /// run-to-run spread is unknown.
    /// - Throws: `.incompatibleResults` when the two sides have no case in common.
    public func compare(
        baselineRuns: [RunResult], currentRuns: [RunResult], baselineName: String, currentName: String
    ) throws -> ComparisonReport {
        precondition(!baselineRuns.isEmpty && !currentRuns.isEmpty, "each side needs a run")
        let baseline = Self.merge(baselineRuns)
        let current = Self.merge(currentRuns)
        let runs = (baseline: baselineRuns, current: currentRuns)
        // Runs as the unit: α shared over every (case, metric) judged so (Bonferroni). With runs
        // drifting as on a VM the run intervals are wide, δ no longer shields a suite of a hundred
        // comparisons, and without the split most A/A suites would call some regression (the
        // statistical test in docs/ci.md measures it).
        let family = Self.familySize(baseline: baselineRuns, current: currentRuns, metrics: metrics)
        var perComparison = self
        if family > 1 { perComparison.confidence = 1 - (1 - confidence) / Double(family) }
        var baselineCases: [CaseKey: CaseResult] = [:]
        for c in baseline.cases { baselineCases[c.key] = c }
        var currentKeys = Set<CaseKey>()
        var compared: [CaseComparison] = []
        var onlyInCurrent: [CaseKey] = []
        var notComparable: [String] = []
        var unavailableInBoth: [CaseKey] = []
        for c in current.cases {
            currentKeys.insert(c.key)
            guard let b = baselineCases[c.key] else {
                onlyInCurrent.append(c.key)
                continue
            }
            if b.status == .unavailable && c.status == .unavailable {
                unavailableInBoth.append(c.key)
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
            compared.append(
                CaseComparison(key: c.key, failure: nil, metrics: perComparison.compareMetrics(b, c, runs: runs)))
        }
        let onlyInBaseline = baseline.cases.map(\.key).filter { !currentKeys.contains($0) }
        guard !compared.isEmpty else {
            throw PodBenchError(
                .incompatibleResults,
                "\(baselineName) and \(currentName) have no case in common to compare (\(baseline.cases.count) and \(current.cases.count) cases): run the same matrix"
            )
        }
        let means = Self.geometricMeans(compared)
        func incomplete(_ run: RunResult) -> String? {
            run.complete ? nil : (run.incompleteReason ?? "it did not finish")
        }
        var report = ComparisonReport(
            baseline: baselineName, current: currentName, confidence: confidence, cases: compared,
            onlyInBaseline: onlyInBaseline, onlyInCurrent: onlyInCurrent, notComparable: notComparable,
            unavailableInBoth: unavailableInBoth, baselineIncomplete: incomplete(baseline),
            currentIncomplete: incomplete(current),
            environmentDifferences: EnvironmentFingerprint.differences(baseline, current), geometricMeans: means,
            detectableChanges: Self.detectable(compared))
        report.baselineRuns = baselineRuns.count
        report.currentRuns = currentRuns.count
        if family > 1 {
            report.notes.append(
                "Each runs interval at \(Format.decimal(perComparison.confidence * 100))%: the \(Format.decimal(confidence * 100))% shared over the \(family) case × metric comparisons made from runs (Bonferroni), so that a whole suite of comparisons of one build with itself calls any regression at most \(Format.decimal((1 - confidence) * 50))% of the time — if the current run drifts as the baseline's runs did (a slow spell of the VM during one run does not: docs/ci.md)."
            )
        }
        // The runs of one side should differ only by chance: anything else is worth a line.
        for (side, sideRuns) in [("baseline", baselineRuns), ("current", currentRuns)] where sideRuns.count > 1 {
            for (index, run) in sideRuns.enumerated().dropFirst() {
                let differences = EnvironmentFingerprint.differences(sideRuns[0], run)
                guard !differences.isEmpty else { continue }
                report.notes.append(
                    "The \(side)'s run \(index + 1) differs from its run 1 in "
                        + differences.map { "\($0.property) (\($0.baseline) → \($0.current))" }.joined(
                            separator: ", "))
            }
        }
        return report
    }

    /// How many (case, metric) comparisons are made with runs as the unit: a case ok on both
    /// sides and a metric with three or more run values in all, at least one a side.
    static func familySize(baseline: [RunResult], current: [RunResult], metrics: [ComparedMetric]) -> Int {
        guard baseline.count + current.count >= 3 else { return 0 }
        func okCases(_ runs: [RunResult]) -> [CaseKey: [CaseResult]] {
            var out: [CaseKey: [CaseResult]] = [:]
            for run in runs { for c in run.cases where c.status == .ok { out[c.key, default: []].append(c) } }
            return out
        }
        let b = okCases(baseline)
        let c = okCases(current)
        var count = 0
        for (key, xs) in b {
            guard let ys = c[key] else { continue }
            for metric in metrics {
                let x = xs.compactMap { runValue($0, metric) }.count
                let y = ys.compactMap { runValue($0, metric) }.count
                if x > 0 && y > 0 && x + y >= 3 { count += 1 }
            }
        }
        return count
    }

    /// One side's runs as one run for matching cases: a case is ok when it is ok in every run
    /// that has it (otherwise the first failure, naming the run); its trials are all the runs'
    /// trials; the side is complete when every run is.
    static func merge(_ runs: [RunResult]) -> RunResult {
        guard runs.count > 1 else { return runs[0] }
        var merged = runs[0]
        var order: [CaseKey] = []
        var cases: [CaseKey: CaseResult] = [:]
        for (index, run) in runs.enumerated() {
            for c in run.cases {
                guard var kept = cases[c.key] else {
                    order.append(c.key)
                    var first = c
                    if c.status != .ok { first.error = "run \(index + 1): \(c.error ?? "no reason")" }
                    cases[c.key] = first
                    continue
                }
                if kept.status == .ok && c.status != .ok {
                    kept.status = c.status
                    kept.error = "run \(index + 1): \(c.error ?? "no reason")"
                }
                kept.trials += c.trials
                cases[c.key] = kept
            }
        }
        merged.cases = order.compactMap { cases[$0] }
        if let unfinished = runs.firstIndex(where: { !$0.complete }) {
            merged.complete = false
            merged.incompleteReason =
                "run \(unfinished + 1): \(runs[unfinished].incompleteReason ?? "it did not finish")"
        }
        return merged
    }

    /// The rule both designs share, in log space: regressed or improved when the whole (1 − α)
    /// interval `lower…upper` lies beyond δ on the metric's worse or better side; unchanged when
    /// the whole (1 − 2α) interval lies within ±δ; nil (undecided) otherwise.
    static func decide(
        _ metric: ComparedMetric, lower: Double, upper: Double, equivalenceLower: Double, equivalenceUpper: Double,
        delta: Double
    ) -> Verdict? {
        // In "worse" space: positive means worse.
        let sign = metric.higherIsWorse ? 1.0 : -1.0
        let worseLow = min(sign * lower, sign * upper)
        let worseHigh = max(sign * lower, sign * upper)
        if worseLow > delta { return .regressed }
        if worseHigh < -delta { return .improved }
        if equivalenceLower >= -delta && equivalenceUpper <= delta { return .unchanged }
        return nil
    }

    /// The start both designs share: an undecided result to fill in, and the value a zero counts
    /// as (half the smallest value measured on either side); or, with no floor, a result already
    /// final: values missing, negative or not finite, or zero everywhere (unchanged).
    static func begin(
        _ metric: ComparedMetric, _ x: [Double], _ y: [Double], asked: Double, unit: String, valid: Bool
    ) -> (MetricComparison, Double?) {
        var result = MetricComparison(
            metric: metric, baseline: x, current: y, baselineMedian: x.isEmpty ? .nan : CaseSummary.median(x),
            currentMedian: y.isEmpty ? .nan : CaseSummary.median(y), ratio: .nan, ratioLower: nil, ratioUpper: nil,
            confidence: nil, minimumEffect: asked, equivalenceLower: nil, equivalenceUpper: nil,
            detectableChange: nil, verdict: .inconclusive, reason: "")
        guard valid, (x + y).allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            result.reason = "a \(unit)'s value is missing, negative or not finite; no ratio can be formed"
            return (result, nil)
        }
        guard let smallest = (x + y).filter({ $0 > 0 }).min() else {
            result.ratio = 1
            result.verdict = .unchanged
            result.reason = "zero in every \(unit) on both sides"
            return (result, nil)
        }
        return (result, smallest / 2)
    }

    static func geometricMeans(_ compared: [CaseComparison]) -> [String: Double] {
        var means: [String: Double] = [:]
        for metric in ComparedMetric.allCases {
            let ratios = compared.flatMap(\.metrics).filter { $0.metric == metric }.map(\.ratio).filter {
                $0 > 0 && $0.isFinite
            }
            if !ratios.isEmpty { means[metric.rawValue] = exp(ratios.map(log).reduce(0, +) / Double(ratios.count)) }
        }
        return means
    }

    static func detectable(_ compared: [CaseComparison]) -> [String: Double] {
        var detectable: [String: Double] = [:]
        for metric in ComparedMetric.allCases {
            let changes = compared.flatMap(\.metrics).filter { $0.metric == metric }.compactMap(\.detectableChange)
            if !changes.isEmpty { detectable[metric.rawValue] = CaseSummary.median(changes) }
        }
        return detectable
    }

    func compareMetrics(_ b: CaseResult, _ c: CaseResult, runs: (baseline: [RunResult], current: [RunResult]))
        -> [MetricComparison]
    {
        // Each run's value of a metric for this case, from the runs where the case is ok.
        func values(_ runs: [RunResult], _ metric: ComparedMetric) -> [Double] {
            runs.compactMap { run in
                run.cases.first { $0.key == b.key && $0.status == .ok }.flatMap { Self.runValue($0, metric) }
            }
        }
        return metrics.compactMap { metric in
            let x = b.trials.compactMap { metric.value($0) }
            let y = c.trials.compactMap { metric.value($0) }
            if x.isEmpty && y.isEmpty { return nil }  // the workload has no such metric
            guard !x.isEmpty, !y.isEmpty else {
                return Self.missing(metric, baseline: x, current: y, asked: minimumEffects[metric])
            }
            let xRuns = values(runs.baseline, metric)
            let yRuns = values(runs.current, metric)
            if !xRuns.isEmpty && !yRuns.isEmpty && xRuns.count + yRuns.count >= 3 {
                return compareRuns(metric: metric, baseline: xRuns, current: yRuns)
            }
            return compare(metric: metric, baseline: x, current: y)
        }
    }

    /// Compares one metric with runs as the unit: each value a run's median over its trials.
    /// The verdict rules of `compare(metric:baseline:current:)` on `RunsEstimate`'s interval; δ
    /// is the one asked (the runs' spread is in the interval already).
    public func compareRuns(metric: ComparedMetric, baseline x: [Double], current y: [Double]) -> MetricComparison {
        let asked = minimumEffects[metric] ?? metric.defaultMinimumEffect
        var (result, floor) = Self.begin(metric, x, y, asked: asked, unit: "run", valid: true)
        guard let floor else { return result }
        let a = x.map { log(max($0, floor)) }
        let b = y.map { log(max($0, floor)) }
        let delta = log1p(asked)
        let estimate = RunsEstimate(baseline: a, current: b, confidence: confidence)
        result.ratio = exp(estimate.estimate)
        let effect = Format.decimal(asked * 100) + "%"
        let runs = "\(x.count) baseline run\(x.count == 1 ? "" : "s") and \(y.count) current"
        guard let lower = estimate.lower, let upper = estimate.upper else {
            result.reason = "too few runs (\(runs)) for an interval: 3 or more in all"
            return result
        }
        result.setInterval(lower: lower, upper: upper, confidence: confidence, delta: delta)
        let equivalence = RunsEstimate(baseline: a, current: b, confidence: 1 - 2 * (1 - confidence))
        let spread = estimate.runSpread.map { " (runs spread ±\(Format.decimal(expm1($0) * 100))%)" } ?? ""
        Self.settle(
            &result, metric, lower: lower, upper: upper, equivalence: (equivalence.lower, equivalence.upper),
            delta: delta, evidence: runs, effect: effect + spread,
            undecided:
                "the interval of \(runs) crosses the minimum effect \(effect)\(spread): more runs would narrow it")
        return result
    }

    /// Sets a paired or runs comparison's verdict by `decide` and says why, naming the evidence
    /// ("12 rounds", "5 baseline runs and 1 current"); `undecided` is the reason when undecided.
    static func settle(
        _ result: inout MetricComparison, _ metric: ComparedMetric, lower: Double, upper: Double,
        equivalence: (Double?, Double?), delta: Double, evidence: String, effect: String, undecided: String
    ) {
        let eqLower = equivalence.0 ?? lower
        let eqUpper = equivalence.1 ?? upper
        result.equivalenceLower = exp(eqLower)
        result.equivalenceUpper = exp(eqUpper)
        switch decide(
            metric, lower: lower, upper: upper, equivalenceLower: eqLower, equivalenceUpper: eqUpper, delta: delta)
        {
        case .regressed?:
            result.verdict = .regressed
            result.reason = "the whole interval of \(evidence) is worse than the minimum effect \(effect)"
        case .improved?:
            result.verdict = .improved
            result.reason = "the whole interval of \(evidence) is better than the minimum effect \(effect)"
        case .unchanged?:
            result.verdict = .unchanged
            result.reason = "the whole equivalence interval of \(evidence) lies within ±\(effect)"
        default:
            result.reason = undecided
        }
    }

    /// A metric one side measured and the other did not: undecided, never skipped.
    static func missing(_ metric: ComparedMetric, baseline x: [Double], current y: [Double], asked: Double?)
        -> MetricComparison
    {
        MetricComparison(
            metric: metric, baseline: x, current: y, baselineMedian: x.isEmpty ? .nan : CaseSummary.median(x),
            currentMedian: y.isEmpty ? .nan : CaseSummary.median(y), ratio: .nan, ratioLower: nil, ratioUpper: nil,
            confidence: nil, minimumEffect: asked ?? metric.defaultMinimumEffect, equivalenceLower: nil,
            equivalenceUpper: nil, detectableChange: nil, verdict: .inconclusive,
            reason:
                "\(metric.rawValue) is missing from the \(x.isEmpty ? "baseline" : "current run"): nothing to compare it with"
        )
    }

    /// Compares one metric's trial values.
    ///
    /// A regression or an improvement needs the whole (1 − α) interval of the ratio beyond δ;
    /// `unchanged` needs the (1 − 2α) interval within ±δ (two one-sided tests at α, the usual
    /// test of equivalence); anything else is inconclusive, with the reason. A zero (a throughput
    /// that collapsed to nothing, a CPU time too small to count) has no logarithm: it is taken as
    /// half the smallest value measured on either side (below what was resolved, but not so far
    /// below that zeros from counting granularity swamp a run compared with itself), so a collapse
    /// is a large ratio, never a reason to give up.
    public func compare(metric: ComparedMetric, baseline x: [Double], current y: [Double]) -> MetricComparison {
        let asked = minimumEffects[metric] ?? metric.defaultMinimumEffect
        var (result, floor) = Self.begin(metric, x, y, asked: asked, unit: "trial", valid: true)
        guard let floor else { return result }
        let zeros = (x + y).contains(0)
        let a = x.map { log(max($0, floor)) }
        let bLog = y.map { log(max($0, floor)) }
        let shift = ShiftEstimate(baseline: a, current: bLog, confidence: confidence)
        result.ratio = exp(shift.estimate)
        // δ in log space, raised to the baseline's own trial-to-trial spread (half its range), of
        // the values measured: a zero's floor must not widen δ and let a real change through.
        let measured = x.filter { $0 > 0 }.map(log)
        let spread = ((measured.max() ?? 0) - (measured.min() ?? 0)) / 2
        let delta = max(log1p(asked), spread)
        result.minimumEffect = expm1(delta)
        let zeroNote = zeros ? " (a zero counted as \(Format.decimal(floor)), half the smallest value)" : ""
        guard let lower = shift.lower, let upper = shift.upper else {
            result.reason =
                "too few trials (\(x.count) and \(y.count)) for a \(Int(confidence * 100))% interval: use 4 or more on both sides"
            return result
        }
        result.setInterval(lower: lower, upper: upper, confidence: shift.achievedConfidence, delta: delta)
        let equivalence = ShiftEstimate(baseline: a, current: bLog, confidence: 1 - 2 * (1 - confidence))
        let equivalenceLower = equivalence.lower ?? lower
        let equivalenceUpper = equivalence.upper ?? upper
        result.equivalenceLower = exp(equivalenceLower)
        result.equivalenceUpper = exp(equivalenceUpper)
        let effect = Format.decimal(result.minimumEffect * 100) + "%"
        switch Self.decide(
            metric, lower: lower, upper: upper, equivalenceLower: equivalenceLower, equivalenceUpper: equivalenceUpper,
            delta: delta)
        {
        case .regressed?:
            result.verdict = .regressed
            result.reason = "the whole interval is worse than the minimum effect \(effect)" + zeroNote
        case .improved?:
            result.verdict = .improved
            result.reason = "the whole interval is better than the minimum effect \(effect)" + zeroNote
        case .unchanged?:
            result.verdict = .unchanged
            let level = Format.decimal((1 - 2 * (1 - confidence)) * 100)
            result.reason = "the whole \(level)% interval lies within ±\(effect) (equivalence)" + zeroNote
        default:
            result.reason =
                "the interval crosses the minimum effect \(effect): too noisy or too small a change to tell" + zeroNote
        }
        return result
    }
    /// `podbench ab`: compares B with A from interleaved rounds, each round one run of each. A
    /// round is one paired observation per case and metric (the ratio of B's run median to A's),
    /// so the machine's drift between rounds cancels within each pair instead of posing as a
    /// regression.
    /// - Throws: `.incompatibleResults` when no case ran in every round on both sides.
    public func comparePaired(rounds: [(a: RunResult, b: RunResult)], aName: String, bName: String) throws
        -> ComparisonReport
    {
        guard let first = rounds.first else {
            throw PodBenchError(.incompatibleResults, "no round finished: nothing to compare")
        }
        func find(_ run: RunResult, _ key: CaseKey) -> CaseResult? { run.cases.first { $0.key == key } }
        var compared: [CaseComparison] = []
        var missing: [CaseKey] = []
        var notComparable: [String] = []
        var unavailableInBoth: [CaseKey] = []
        // Every case either side ran in any round, in the order first seen.
        var keys: [CaseKey] = []
        var seen = Set<CaseKey>()
        for round in rounds {
            for c in round.a.cases + round.b.cases where seen.insert(c.key).inserted { keys.append(c.key) }
        }
        for key in keys {
            let pairs = rounds.map { (find($0.a, key), find($0.b, key)) }
            if pairs.contains(where: { $0.0 == nil || $0.1 == nil }) {
                missing.append(key)
                continue
            }
            if pairs.allSatisfy({ $0.0?.status == .unavailable && $0.1?.status == .unavailable }) {
                unavailableInBoth.append(key)
                continue
            }
            if let bad = pairs.firstIndex(where: { $0.0?.status != .ok }) {
                let c = pairs[bad].0
                notComparable.append(
                    "\(key): \(c?.status.rawValue ?? "missing") in A's round \(bad + 1) (\(c?.error ?? "no reason"))")
                continue
            }
            if let bad = pairs.firstIndex(where: { $0.1?.status != .ok }), let c = pairs[bad].1 {
                compared.append(
                    CaseComparison(
                        key: key,
                        failure: "\(c.status.rawValue) in B's round \(bad + 1): \(c.error ?? "no reason")", metrics: [])
                )
                continue
            }
            var metrics: [MetricComparison] = []
            for metric in self.metrics {
                let a = pairs.compactMap { p in Self.runValue(p.0!, metric) }
                let b = pairs.compactMap { p in Self.runValue(p.1!, metric) }
                if a.isEmpty && b.isEmpty { continue }  // the workload has no such metric
                guard a.count == rounds.count, b.count == rounds.count else {
                    metrics.append(Self.missing(metric, baseline: a, current: b, asked: minimumEffects[metric]))
                    continue
                }
                metrics.append(comparePaired(metric: metric, a: a, b: b))
            }
            compared.append(CaseComparison(key: key, failure: nil, metrics: metrics))
        }
        guard !compared.isEmpty else {
            throw PodBenchError(
                .incompatibleResults, "A and B have no case that ran in every round on both sides: nothing to compare")
        }
        let incompleteA = rounds.compactMap { $0.a.complete ? nil : $0.a.incompleteReason ?? "it did not finish" }
        let incompleteB = rounds.compactMap { $0.b.complete ? nil : $0.b.incompleteReason ?? "it did not finish" }
        var report = ComparisonReport(
            baseline: aName, current: bName, confidence: confidence, cases: compared, onlyInBaseline: missing,
            onlyInCurrent: [], notComparable: notComparable, unavailableInBoth: unavailableInBoth,
            baselineIncomplete: incompleteA.first, currentIncomplete: incompleteB.first, environmentDifferences: [],
            geometricMeans: Self.geometricMeans(compared), detectableChanges: Self.detectable(compared))
        report.rounds = rounds.count
        let differences = EnvironmentFingerprint.differences(first.a, first.b)
        if !differences.isEmpty {
            report.notes.append(
                "A and B differ in "
                    + differences.map { "\($0.property) (\($0.baseline) → \($0.current))" }.joined(separator: ", ")
                    + ": what the comparison measures")
        }
        return report
    }

    /// A run's value of `metric` for a case: the median over its trials.
    static func runValue(_ c: CaseResult, _ metric: ComparedMetric) -> Double? {
        let values = c.trials.compactMap { metric.value($0) }
        return values.isEmpty ? nil : CaseSummary.median(values)
    }

    /// Compares one metric from paired rounds (A's and B's run values of each round, in order).
    /// The same verdict rules as `compare(metric:baseline:current:)`, on the signed-rank interval
    /// of the per-round log ratios; δ is the one asked (the rounds' own spread is in the interval
    /// already). An undecided metric says how many rounds would decide it at the noise seen.
    public func comparePaired(metric: ComparedMetric, a x: [Double], b y: [Double]) -> MetricComparison {
        let asked = minimumEffects[metric] ?? metric.defaultMinimumEffect
        var (result, floor) = Self.begin(
            metric, x, y, asked: asked, unit: "round", valid: x.count == y.count && !x.isEmpty)
        guard let floor else { return result }
        let d = zip(x, y).map { log(max($1, floor)) - log(max($0, floor)) }
        let delta = log1p(asked)
        let shift = SignedRankEstimate(differences: d, confidence: confidence)
        result.ratio = exp(shift.estimate)
        let effect = Format.decimal(asked * 100) + "%"
        guard let lower = shift.lower, let upper = shift.upper else {
            result.reason =
                "too few rounds (\(d.count)) for a \(Format.decimal(confidence * 100))% interval: \(SignedRankEstimate.minimumRounds(confidence: confidence)) needed"
            return result
        }
        result.setInterval(lower: lower, upper: upper, confidence: shift.achievedConfidence, delta: delta)
        let halfWidth = (upper - lower) / 2
        let equivalence = SignedRankEstimate(differences: d, confidence: 1 - 2 * (1 - confidence))
        // The interval narrows as 1/√n: the rounds that would bring its half-width under the
        // distance between the estimate and δ, at the noise seen.
        let gap = abs(abs(shift.estimate) - delta)
        let needed = gap > 1e-9 ? Double(d.count) * (halfWidth / gap) * (halfWidth / gap) : .infinity
        let advice =
            needed.isFinite && needed < 10_000
            ? "about \(Int(needed.rounded(.up))) rounds would decide it at the noise seen"
            : "the estimate sits at δ: no number of rounds would decide it"
        Self.settle(
            &result, metric, lower: lower, upper: upper, equivalence: (equivalence.lower, equivalence.upper),
            delta: delta, evidence: "\(d.count) rounds", effect: effect,
            undecided: "the interval of \(d.count) rounds crosses the minimum effect \(effect); \(advice)")
        return result
    }
}
