// The gate's statistical test: `podbench ab` and `podbench compare` run on figures drawn from a
// seeded noise model fitted to real runs of this machine (Tests/PodBenchReportTests/Fixtures/
// noise-model.json, made by scripts/fit-noise-model.py), with the very comparator and look
// schedule the commands use. Prints the tables docs/ci.md quotes; with --check, exits 1 when
// - more than 1% of A/A suites call any regression (the default 24-case matrix in one `ab`, and
//   each case in an `ab` of its own);
// - a 10% slowdown in one case is caught in fewer than 95% of suites, for each case whose noise
//   lets the default budget reach it (the rounds the budget affords ≥ the rounds a 95% power
//   needs, worked out from the model, not from the simulation's own result).
// Deterministic: the same seed draws the same figures. Run in release (scripts/test.sh does):
//   swift run -c release --package-path Benchmarks GateSimulation --check
import Foundation
import PodBenchReport

struct Options {
    var model = "../Tests/PodBenchReportTests/Fixtures/noise-model.json"
    var aa = 400
    var slow = 60
    var seed: UInt64 = 2026
    var check = false
    var budget = 600.0
    var maxRounds = 200
}

func parse() -> Options {
    var options = Options()
    var arguments = CommandLine.arguments.dropFirst().makeIterator()
    while let argument = arguments.next() {
        func value() -> String {
            guard let v = arguments.next() else {
                FileHandle.standardError.write(Data("GateSimulation: \(argument) needs a value\n".utf8))
                exit(2)
            }
            return v
        }
        switch argument {
        case "--model": options.model = value()
        case "--aa": options.aa = Int(value()) ?? options.aa
        case "--slow": options.slow = Int(value()) ?? options.slow
        case "--seed": options.seed = UInt64(value()) ?? options.seed
        case "--budget": options.budget = Double(value()) ?? options.budget
        case "--max-rounds": options.maxRounds = Int(value()) ?? options.maxRounds
        case "--check": options.check = true
        default:
            FileHandle.standardError.write(
                Data(
                    "usage: GateSimulation [--model FILE] [--aa N] [--slow N] [--seed S] [--budget SECONDS] [--max-rounds N] [--check]\n"
                        .utf8))
            exit(2)
        }
    }
    return options
}

func percent(_ part: Int, _ whole: Int) -> String {
    whole == 0 ? "-" : String(format: "%.0f%%", 100 * Double(part) / Double(whole))
}

func median<T: Comparable>(_ values: [T]) -> T? { values.isEmpty ? nil : values.sorted()[values.count / 2] }

let options = parse()
let model: NoiseModel
do {
    model = try JSONDecoder().decode(NoiseModel.self, from: Data(contentsOf: URL(fileURLWithPath: options.model)))
} catch {
    FileHandle.standardError.write(Data("GateSimulation: cannot read the model \(options.model): \(error)\n".utf8))
    exit(2)
}
let started = Date()
let slowdown = 1.10
let matrix = GateSimulator(model: model, maxRounds: options.maxRounds, budgetSeconds: options.budget)
let matrixPlan = GatePlan(simulator: matrix, slowdown: slowdown)
var failures: [String] = []
print("Noise model: \(model.source).")
print(
    "ab's defaults: rounds of \(matrix.shape.trials) trial of \(Int(matrix.shape.trialSeconds * 1000)) ms after \(Int(matrix.shape.warmupSeconds * 1000)) ms of warm-up, --budget \(Int(options.budget)) s, --max-rounds \(options.maxRounds), 95% confidence; \(options.aa) A/A suites and \(options.slow) suites per case with that case \(Int((slowdown - 1) * 100))% slower, seed \(options.seed)."
)
print()

// 1. The default matrix in one ab, and compare of one default run a side.
var abFalse = 0
var compareFalse = 0
var baselineFalse = 0
/// The runs a baseline of several holds in the table's row.
let baselineRuns = 5
var seconds: [Double] = []
var rounds: [Int] = []
for i in 0..<options.aa {
    let outcome = matrix.ab(seed: options.seed &+ UInt64(i))
    if outcome.anyRegression { abFalse += 1 }
    seconds.append(outcome.seconds)
    rounds.append(outcome.rounds)
    if matrix.compare(seed: options.seed &+ UInt64(i)).anyRegression { compareFalse += 1 }
    if matrix.compare(seed: options.seed &+ UInt64(i), baselineRuns: baselineRuns).anyRegression {
        baselineFalse += 1
    }
}
if abFalse * 100 > options.aa {
    failures.append("ab of the matrix: \(abFalse) of \(options.aa) A/A suites called a regression (more than 1%)")
}

struct Row {
    var name: String
    var matrixNeeded: Double
    var matrixCaught = 0
    var compareCaught = 0
    var baselineCaught = 0
    var aloneNeeded: Double
    var aloneAffordable: Int
    var aloneCaught = 0
    var aloneFalse = 0
    var aloneRounds: [Int] = []
    var aloneSeconds: [Double] = []
    var matrixDetectable = ""
    /// The model's power (primary metric alone, normal approximation): shown beside the
    /// simulated rate, not gated (it is an approximation; the table says how good).
    var matrixPredicted = 0.0
    var alonePredicted = 0.0
}
var rows: [Row] = []
for (index, c) in model.cases.enumerated() {
    var single = model
    single.cases = [c]
    let alone = GateSimulator(model: single, maxRounds: options.maxRounds, budgetSeconds: options.budget)
    let alonePlan = GatePlan(simulator: alone, slowdown: slowdown)
    var row = Row(
        name: c.name, matrixNeeded: matrixPlan.roundsNeeded(c), aloneNeeded: alonePlan.roundsNeeded(c),
        aloneAffordable: alonePlan.affordableRounds)
    row.matrixDetectable = String(
        format: "%.0f%%", (matrixPlan.detectableSlowdown(c, rounds: matrixPlan.affordableRounds) - 1) * 100)
    for i in 0..<options.slow {
        let seed = options.seed &+ 1_000_000 &+ UInt64(index * 10_000 + i)
        if matrix.ab(seed: seed, slowCase: index, slowdown: slowdown).verdicts[index] == .regressed {
            row.matrixCaught += 1
        }
        if matrix.compare(seed: seed, slowCase: index, slowdown: slowdown).verdicts[index] == .regressed {
            row.compareCaught += 1
        }
        let five = matrix.compare(seed: seed, baselineRuns: baselineRuns, slowCase: index, slowdown: slowdown)
        if five.verdicts[index] == .regressed { row.baselineCaught += 1 }
        let caught = alone.ab(seed: seed, slowCase: 0, slowdown: slowdown)
        if caught.verdicts[0] == .regressed {
            row.aloneCaught += 1
            row.aloneRounds.append(caught.regressedAt[0] ?? caught.rounds)
            row.aloneSeconds.append(caught.seconds)
        }
        if alone.ab(seed: seed &+ 500_000).anyRegression { row.aloneFalse += 1 }
    }
    row.matrixPredicted = matrixPlan.power(c, rounds: matrixPlan.affordableRounds)
    row.alonePredicted = alonePlan.power(c, rounds: alonePlan.affordableRounds)
    if row.matrixNeeded <= Double(matrixPlan.affordableRounds) && row.matrixCaught * 100 < 95 * options.slow {
        failures.append(
            "ab of the matrix: a 10% slowdown in \(c.name) caught in \(row.matrixCaught) of \(options.slow) suites (under 95%), though \(Int(row.matrixNeeded.rounded(.up))) rounds should reach it"
        )
    }
    if row.aloneNeeded <= Double(row.aloneAffordable) && row.aloneCaught * 100 < 95 * options.slow {
        failures.append(
            "ab of \(c.name) alone: a 10% slowdown caught in \(row.aloneCaught) of \(options.slow) suites (under 95%), though \(Int(row.aloneNeeded.rounded(.up))) rounds should reach it"
        )
    }
    rows.append(row)
}
let aloneFalse = rows.reduce(0) { $0 + $1.aloneFalse }
if aloneFalse * 100 > options.slow * rows.count {
    failures.append("ab of one case: \(aloneFalse) of \(options.slow * rows.count) A/A suites called a regression")
}
if !rows.contains(where: { $0.aloneNeeded <= Double($0.aloneAffordable) }) {
    failures.append("no case is reachable within the budget, even alone: the check would check nothing")
}

func caughtShare(_ rows: [Row], _ count: (Row) -> Int) -> String {
    let shares = rows.map { Double(count($0)) / Double(options.slow) }.sorted()
    return String(format: "%.0f%%", shares[shares.count / 2] * 100)
}
print(
    "| design | A/A suites calling a regression | a 10% slowdown caught (median over the 24 cases) | wall time |"
)
print("|---|---|---|---|")
print(
    "| `compare`, one default run a side (5 trials of 500 ms) | \(compareFalse) of \(options.aa) (\(percent(compareFalse, options.aa))) | \(caughtShare(rows) { $0.compareCaught }) | 2 runs, \(Int(2 * matrixPlan.runSeconds(.runDefault))) s |"
)
print(
    "| `compare` with a baseline of \(baselineRuns) default runs (runs as the unit) | \(baselineFalse) of \(options.aa) (\(percent(baselineFalse, options.aa))) | \(caughtShare(rows) { $0.baselineCaught }) | 1 run, \(Int(matrixPlan.runSeconds(.runDefault))) s (the baseline's \(baselineRuns) made before) |"
)
print(
    "| `ab` of the 24-case matrix | \(abFalse) of \(options.aa) (\(percent(abFalse, options.aa))) | \(caughtShare(rows) { $0.matrixCaught }) | \(Int(median(seconds) ?? 0)) s, \(median(rounds) ?? 0) rounds of \(String(format: "%.1f", matrixPlan.roundSeconds)) s |"
)
print(
    "| `ab` of one case | \(aloneFalse) of \(options.slow * rows.count) (\(percent(aloneFalse, options.slow * rows.count))) | \(caughtShare(rows) { $0.aloneCaught }) | see below |"
)
print()
print(
    "| case | rounds for 95% power | caught in the matrix (\(matrixPlan.affordableRounds) rounds) | caught with 95% power there | caught alone | rounds alone (affordable) | median rounds, time to catch | `compare` caught | `compare` with \(baselineRuns) baseline runs caught |"
)
print("|---|---|---|---|---|---|---|---|---|")
for row in rows {
    let need = row.aloneNeeded.isFinite && row.aloneNeeded < 100_000 ? String(Int(row.aloneNeeded.rounded(.up))) : "∞"
    let when =
        median(row.aloneRounds).map { "\($0), \(Int(median(row.aloneSeconds) ?? 0)) s" } ?? "-"
    print(
        "| \(row.name) | \(need) | \(percent(row.matrixCaught, options.slow)) (model \(Int((row.matrixPredicted * 100).rounded()))%) | \(row.matrixDetectable) | \(percent(row.aloneCaught, options.slow)) (model \(Int((row.alonePredicted * 100).rounded()))%) | \(row.aloneAffordable) | \(when) | \(percent(row.compareCaught, options.slow)) | \(percent(row.baselineCaught, options.slow)) |"
    )
}
print()
print("Simulated in \(Int(Date().timeIntervalSince(started))) s.")
if options.check {
    if failures.isEmpty {
        print("GateSimulation: passed")
    } else {
        for failure in failures { FileHandle.standardError.write(Data("GateSimulation: \(failure)\n".utf8)) }
        exit(1)
    }
}
