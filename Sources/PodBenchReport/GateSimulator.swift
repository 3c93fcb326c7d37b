import Foundation
import PodBenchResults

/// What this kind of machine does to a run's figures, per case: the model the gate's statistical
/// tests draw from (fitted to real runs by `scripts/fit-noise-model.py`).
///
/// A case's value in one trial, in logarithms, is the sum of
/// - a **run shift**, drawn once per run and case (`runSigma`): the drift between two runs of the
///   same binary, which trials inside one run cannot see;
/// - **trial noise**, drawn per trial and metric (`trialSigma`);
/// - the VM's **slow spells**: a process in time that is slow a share `slowFraction` of the time,
///   in spells of `spellSeconds` on average, each spell slower by a factor drawn between
///   `slowestFactor` and 1 (e.g. up to 3×); a trial takes the factor in force at its middle.
/// Latency and CPU per message grow with a slowdown, throughput shrinks by it.
public struct NoiseModel: Codable, Equatable, Sendable {
    public struct Case: Codable, Equatable, Sendable {
        /// The case, as the table names it (e.g. "tcp pingpong 64").
        public var name: String
        /// The case's wall time in one run besides its warm-up and trials (connecting, setup), in
        /// seconds.
        public var setupSeconds: Double
        /// The standard deviation of the logarithm of a run's value between runs, shared by the
        /// case's metrics (the run shift).
        public var runSigma: Double
        /// Per metric (its name as in `ComparedMetric`): the standard deviation of the logarithm
        /// of a trial's value within one run. The metrics the case has.
        public var trialSigma: [String: Double]
        /// Per metric: a run shift of its own on top of the shared one (a tail or a CPU figure
        /// drifting more between runs than the median does); 0 when absent.
        public var ownRunSigma: [String: Double]
    }

    /// What the model was fitted to, in words (machine, date, command).
    public var source: String
    public var cases: [Case]
    /// The wall time of one `podbench run` besides its cases (start, environment), in seconds.
    public var runOverheadSeconds: Double
    /// The share of the time the VM spends in slow spells.
    public var slowFraction: Double
    /// The mean length of a slow spell, in seconds.
    public var spellSeconds: Double
    /// The most a slow spell slows (e.g. 3 for 3×); each spell draws its factor between 1 and this.
    public var slowestFactor: Double

    public init(
        source: String, cases: [Case], runOverheadSeconds: Double, slowFraction: Double, spellSeconds: Double,
        slowestFactor: Double
    ) {
        self.source = source
        self.cases = cases
        self.runOverheadSeconds = runOverheadSeconds
        self.slowFraction = slowFraction
        self.spellSeconds = spellSeconds
        self.slowestFactor = slowestFactor
    }
}

/// How each simulated run is made: `podbench run`'s --trials, --duration and --warmup.
public struct RunShape: Equatable, Sendable {
    public var trials: Int
    public var trialSeconds: Double
    public var warmupSeconds: Double

    public init(trials: Int, trialSeconds: Double, warmupSeconds: Double) {
        self.trials = trials
        self.trialSeconds = trialSeconds
        self.warmupSeconds = warmupSeconds
    }

    /// `podbench ab`'s rounds: one trial of 250 ms after a 100 ms warm-up.
    public static let abDefault = RunShape(trials: 1, trialSeconds: 0.25, warmupSeconds: 0.1)
    /// `podbench run`'s defaults: 5 trials of 500 ms after a 250 ms warm-up.
    public static let runDefault = RunShape(trials: 5, trialSeconds: 0.5, warmupSeconds: 0.25)

    /// One case's wall time in a run.
    func seconds(_ c: NoiseModel.Case) -> Double {
        c.setupSeconds + warmupSeconds + Double(trials) * trialSeconds
    }
}

/// SplitMix64: a small seeded generator, so a simulation (or an A/B order) repeats from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform draw in (0, 1).
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }

    /// A standard normal draw (Box–Muller).
    mutating func normal() -> Double {
        (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
    }

    /// An exponential draw with this mean.
    mutating func exponential(mean: Double) -> Double { -mean * log(uniform()) }
}

/// Runs the gate's two designs on figures drawn from a `NoiseModel`: `podbench ab` (interleaved
/// rounds, looks, budget: the very comparator and schedule the command uses) and a two-file
/// `compare` of one run against another. What the statistical tests and docs/ci.md's table use.
public struct GateSimulator: Sendable {
    public var model: NoiseModel
    public var confidence: Double
    public var maxRounds: Int
    public var budgetSeconds: Double
    public var minimumEffects: [ComparedMetric: Double]
    /// How `ab`'s runs are made.
    public var shape: RunShape
    /// The metrics `ab` judges (`compare` judges all).
    public var metrics: [ComparedMetric]

    public init(
        model: NoiseModel, confidence: Double = 0.95, maxRounds: Int = 200, budgetSeconds: Double = 600,
        minimumEffects: [ComparedMetric: Double] = [:], shape: RunShape = .abDefault,
        metrics: [ComparedMetric] = ComparedMetric.abDefaults
    ) {
        self.model = model
        self.shape = shape
        self.metrics = metrics
        self.confidence = confidence
        self.maxRounds = maxRounds
        self.budgetSeconds = budgetSeconds
        self.minimumEffects = minimumEffects
    }

    /// One simulated gate: each case's verdict, the rounds run and the wall time they took.
    public struct Outcome: Sendable {
        public var verdicts: [Verdict]
        public var rounds: Int
        public var seconds: Double
        /// For each case, the round of the look that first called it regressed (nil: never).
        public var regressedAt: [Int?]
        /// For each case, the estimated ratio (B over A) of its first metric at the last look.
        public var ratios: [Double]

        public var anyRegression: Bool { verdicts.contains(.regressed) }
    }

    /// The VM's slow spells, followed forward in time.
    struct Spells {
        var slow = false
        var factor = 1.0
        var nextChange: Double

        init(_ model: NoiseModel, _ random: inout SplitMix64) {
            nextChange = model.slowFraction > 0 ? random.exponential(mean: Self.normalMean(model)) : .infinity
        }

        static func normalMean(_ model: NoiseModel) -> Double {
            model.spellSeconds * (1 - model.slowFraction) / model.slowFraction
        }

        /// The log slowdown in force at `time` (never earlier than the last time asked).
        mutating func logFactor(at time: Double, _ model: NoiseModel, _ random: inout SplitMix64) -> Double {
            while time >= nextChange {
                if slow {
                    slow = false
                    nextChange += random.exponential(mean: Self.normalMean(model))
                } else {
                    slow = true
                    factor = 1 + (model.slowestFactor - 1) * random.uniform()
                    nextChange += random.exponential(mean: model.spellSeconds)
                }
            }
            return slow ? log(factor) : 0
        }
    }

    /// One simulated `podbench run`: per case, per metric, its trial values. `slowCase` is made
    /// `slowdown` times slower (latency and CPU up, throughput down).
    func run(
        at start: inout Double, shape: RunShape, spells: inout Spells, random: inout SplitMix64, slowCase: Int?,
        slowdown: Double
    ) -> [[ComparedMetric: [Double]]] {
        start += model.runOverheadSeconds
        var out: [[ComparedMetric: [Double]]] = []
        out.reserveCapacity(model.cases.count)
        for (index, c) in model.cases.enumerated() {
            let shift = c.runSigma * random.normal() + (index == slowCase ? log(slowdown) : 0)
            var own: [ComparedMetric: Double] = [:]
            for metric in ComparedMetric.allCases {
                if let sigma = c.ownRunSigma[metric.rawValue], sigma > 0 { own[metric] = sigma * random.normal() }
            }
            let seconds = shape.seconds(c)
            let trialsStart = start + seconds - Double(shape.trials) * shape.trialSeconds
            var values: [ComparedMetric: [Double]] = [:]
            for trial in 0..<shape.trials {
                let middle = trialsStart + shape.trialSeconds * (Double(trial) + 0.5)
                let slow = spells.logFactor(at: middle, model, &random)
                for metric in ComparedMetric.allCases where metric != .bytesPerSecond {
                    guard let sigma = c.trialSigma[metric.rawValue] else { continue }
                    let direction = metric.higherIsWorse ? 1.0 : -1.0
                    let logValue = direction * (shift + slow + (own[metric] ?? 0)) + sigma * random.normal()
                    values[metric, default: []].append(1000 * exp(logValue))
                }
            }
            // bytes/s is msg/s times the size: the same figure, judged on its own as podbench does.
            if let rates = values[.messagesPerSecond], c.trialSigma[ComparedMetric.bytesPerSecond.rawValue] != nil {
                values[.bytesPerSecond] = rates.map { $0 * 64 }
            }
            out.append(values)
            start += seconds
        }
        return out
    }

    /// One `podbench ab`: rounds in a random order, looked at on the command's schedule, stopped at
    /// the first look with every case decided or when the budget or `maxRounds` runs out.
    public func ab(seed: UInt64, slowCase: Int? = nil, slowdown: Double = 1) -> Outcome {
        var random = SplitMix64(seed: seed)
        var spells = Spells(model, &random)
        let looks = LookSchedule(maxRounds: maxRounds, confidence: confidence)
        let comparator = Comparator(confidence: looks.perLook, minimumEffects: minimumEffects)
        let count = model.cases.count
        // Per case and metric: each round's run value (the median of its trials), A and B.
        var a = [[ComparedMetric: [Double]]](repeating: [:], count: count)
        var b = [[ComparedMetric: [Double]]](repeating: [:], count: count)
        var time = 0.0
        var longest = 0.0
        var rounds = 0
        var verdicts = [Verdict](repeating: .inconclusive, count: count)
        var regressedAt = [Int?](repeating: nil, count: count)
        var ratios = [Double](repeating: .nan, count: count)
        var lookedAt = 0
        func look() {
            lookedAt = rounds
            for index in 0..<count {
                var worst = Verdict.unchanged
                var first = true
                for metric in metrics {
                    guard let x = a[index][metric], let y = b[index][metric] else { continue }
                    let compared = comparator.comparePaired(metric: metric, a: x, b: y)
                    worst = min(worst, compared.verdict)
                    if first { ratios[index] = compared.ratio }
                    first = false
                }
                verdicts[index] = worst
                if worst == .regressed && regressedAt[index] == nil { regressedAt[index] = rounds }
            }
        }
        while rounds < maxRounds {
            if rounds > 0 && time + longest > budgetSeconds { break }
            let began = time
            let aFirst = random.next() & 1 == 0
            for side in aFirst ? [true, false] : [false, true] {
                let values = run(
                    at: &time, shape: shape, spells: &spells, random: &random,
                    slowCase: side ? nil : slowCase, slowdown: slowdown)
                for index in 0..<count {
                    for (metric, trials) in values[index] {
                        let value = CaseSummary.median(trials)
                        if side {
                            a[index][metric, default: []].append(value)
                        } else {
                            b[index][metric, default: []].append(value)
                        }
                    }
                }
            }
            rounds += 1
            longest = max(longest, time - began)
            if looks.rounds.contains(rounds) {
                look()
                if !verdicts.contains(.inconclusive) { break }
            }
        }
        if lookedAt != rounds { look() }
        return Outcome(verdicts: verdicts, rounds: rounds, seconds: time, regressedAt: regressedAt, ratios: ratios)
    }

    /// One `compare` of a current run with a baseline of `baselineRuns` runs (each made at
    /// another time: ten minutes apart), all of `shape`: trial by trial with one baseline run,
    /// runs as the unit with more, as `podbench compare` does.
    public func compare(
        seed: UInt64, shape: RunShape = .runDefault, baselineRuns: Int = 1, slowCase: Int? = nil,
        slowdown: Double = 1
    ) -> Outcome {
        var random = SplitMix64(seed: seed)
        var spells = Spells(model, &random)
        var comparator = Comparator(confidence: confidence, minimumEffects: minimumEffects)
        if baselineRuns > 1 {
            // As `compare` does with runs as the unit: α shared over every (case, metric).
            let family = model.cases.reduce(0) { $0 + $1.trialSigma.count }
            comparator.confidence = 1 - (1 - confidence) / Double(family)
        }
        var time = 0.0
        var baseline: [[[ComparedMetric: [Double]]]] = []
        for _ in 0..<max(1, baselineRuns) {
            baseline.append(
                run(at: &time, shape: shape, spells: &spells, random: &random, slowCase: nil, slowdown: 1))
            time += 600
        }
        let current = run(
            at: &time, shape: shape, spells: &spells, random: &random, slowCase: slowCase, slowdown: slowdown)
        var verdicts: [Verdict] = []
        var ratios: [Double] = []
        for index in model.cases.indices {
            var worst = Verdict.unchanged
            var ratio = Double.nan
            for metric in ComparedMetric.allCases {
                guard let y = current[index][metric] else { continue }
                let compared: MetricComparison
                if baseline.count == 1 {
                    guard let x = baseline[0][index][metric] else { continue }
                    compared = comparator.compare(metric: metric, baseline: x, current: y)
                } else {
                    let x = baseline.compactMap { $0[index][metric].map(CaseSummary.median) }
                    compared = comparator.compareRuns(metric: metric, baseline: x, current: [CaseSummary.median(y)])
                }
                worst = min(worst, compared.verdict)
                if ratio.isNaN { ratio = compared.ratio }
            }
            verdicts.append(worst)
            ratios.append(ratio)
        }
        return Outcome(
            verdicts: verdicts, rounds: 1, seconds: time,
            regressedAt: verdicts.map { $0 == .regressed ? 1 : nil }, ratios: ratios)
    }
}

/// What a `podbench ab` can afford and needs, worked out from a noise model (not simulated): the
/// rounds its budget affords, and the rounds a case needs for a 95% chance to call a slowdown.
public struct GatePlan: Sendable {
    public var simulator: GateSimulator
    /// The slowdown to be caught (e.g. 1.10).
    public var slowdown: Double
    public var looks: LookSchedule

    public init(simulator: GateSimulator, slowdown: Double) {
        self.simulator = simulator
        self.slowdown = slowdown
        looks = LookSchedule(maxRounds: simulator.maxRounds, confidence: simulator.confidence)
    }

    /// One run's wall time.
    public func runSeconds(_ shape: RunShape) -> Double {
        simulator.model.runOverheadSeconds + simulator.model.cases.reduce(0) { $0 + shape.seconds($1) }
    }

    /// One round's wall time (a run of each side).
    public var roundSeconds: Double { 2 * runSeconds(simulator.shape) }

    /// The rounds the budget lets start (a round starts while the time spent and one more round
    /// fit), at most `maxRounds`; `ab` looks once more when the budget stops it.
    public var affordableRounds: Int {
        max(1, min(simulator.maxRounds, Int((simulator.budgetSeconds / roundSeconds).rounded(.down))))
    }

    /// The case's primary metric: the pingpong median, or the throughput of a stream.
    static func primary(_ c: NoiseModel.Case) -> ComparedMetric {
        c.trialSigma[ComparedMetric.p50.rawValue] != nil ? .p50 : .messagesPerSecond
    }

    /// The normal part of a run value's log, for the primary metric: the variance of the run
    /// shift, the metric's own shift and the median of the run's trials.
    func normalVariance(_ c: NoiseModel.Case) -> Double {
        let metric = Self.primary(c)
        let k = simulator.shape.trials
        let trial = c.trialSigma[metric.rawValue] ?? 0
        let own = c.ownRunSigma[metric.rawValue] ?? 0
        // The variance of the median of k normal draws, over one draw's: 1, then ~π/(2k).
        let medianShare = k == 1 ? 1 : k == 2 ? 0.5 : k == 3 ? 0.449 : Double.pi / (2 * Double(k))
        return c.runSigma * c.runSigma + own * own + medianShare * trial * trial
    }

    /// The standard deviation of one round's log ratio (B over A) of the primary metric, slow
    /// spells left out (what a mean would see without them).
    public func roundSD(_ c: NoiseModel.Case) -> Double { (2 * normalVariance(c)).squareRoot() }

    /// `∫g²` for the density g of one round's log ratio: normal noise, plus, with one trial a
    /// run, a slow spell on either side (a spell's log factor log(1 + (F − 1)U), U uniform). The
    /// signed-rank estimate's variance is 1 / (12 n (∫g²)²), which heavy tails hurt far less
    /// than they hurt a mean.
    func densitySquaredIntegral(_ c: NoiseModel.Case) -> Double {
        let sd = roundSD(c)
        let model = simulator.model
        let f = simulator.shape.trials == 1 ? model.slowFraction : 0
        let levels = 16
        let spells = (0..<levels).map { log(1 + (model.slowestFactor - 1) * (Double($0) + 0.5) / Double(levels)) }
        // Components: (shift, weight). Neither side slow; one side slow (either sign); both.
        var components: [(Double, Double)] = [(0, (1 - f) * (1 - f))]
        for l in spells {
            components.append((l, f * (1 - f) / Double(levels)))
            components.append((-l, f * (1 - f) / Double(levels)))
        }
        for la in spells {
            for lb in spells { components.append((lb - la, f * f / Double(levels * levels))) }
        }
        let span = 6 * sd + log(model.slowestFactor) + 0.1
        let steps = 2400
        let h = 2 * span / Double(steps)
        let norm = 1 / (sd * (2 * Double.pi).squareRoot())
        var total = 0.0
        for i in 0...steps {
            let x = -span + Double(i) * h
            var g = 0.0
            for (shift, weight) in components {
                let z = (x - shift) / sd
                g += weight * norm * exp(-0.5 * z * z)
            }
            total += g * g * h
        }
        return total
    }

    /// The rounds at which the lower end of the signed-rank interval clears δ with 95% chance,
    /// by the estimate's large-sample variance 1 / (12 n (∫g²)²) (under normal noise 1.047 times a
    /// mean's); infinite when the slowdown is within δ.
    public func roundsNeeded(_ c: NoiseModel.Case) -> Double {
        let metric = Self.primary(c)
        let delta = log1p(simulator.minimumEffects[metric] ?? metric.defaultMinimumEffect)
        let margin = log(slowdown) - delta
        guard margin > 0 else { return .infinity }
        let z = NormalDistribution.quantile(1 - (1 - looks.perLook) / 2) + NormalDistribution.quantile(0.95)
        let g2 = densitySquaredIntegral(c)
        return z * z / (12 * g2 * g2 * margin * margin)
    }
}

extension GatePlan {
    /// The slowdown the case's primary metric shows with 95% chance in `rounds` rounds (the
    /// inverse of `roundsNeeded`), e.g. 1.25 for 25%.
    public func detectableSlowdown(_ c: NoiseModel.Case, rounds: Int) -> Double {
        let metric = Self.primary(c)
        let delta = log1p(simulator.minimumEffects[metric] ?? metric.defaultMinimumEffect)
        let z = NormalDistribution.quantile(1 - (1 - looks.perLook) / 2) + NormalDistribution.quantile(0.95)
        let g2 = densitySquaredIntegral(c)
        return exp(delta + z / (12 * Double(rounds)).squareRoot() / g2)
    }
}

extension GatePlan {
    /// The chance that the case's primary metric alone calls the slowdown at a look after
    /// `rounds` rounds, by the normal approximation `roundsNeeded` uses: a lower bound for `ab`,
    /// which also judges the case's other metrics. 0 when the slowdown is within δ.
    public func power(_ c: NoiseModel.Case, rounds: Int) -> Double {
        let metric = Self.primary(c)
        let delta = log1p(simulator.minimumEffects[metric] ?? metric.defaultMinimumEffect)
        let margin = log(slowdown) - delta
        guard margin > 0, rounds > 0 else { return 0 }
        let standardError = 1 / ((12 * Double(rounds)).squareRoot() * densitySquaredIntegral(c))
        return NormalDistribution.cdf(margin / standardError - NormalDistribution.quantile(1 - (1 - looks.perLook) / 2))
    }
}
