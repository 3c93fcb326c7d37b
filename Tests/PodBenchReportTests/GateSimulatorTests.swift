import Foundation
import Testing

@testable import PodBenchReport

/// The simulator the gate's statistical test runs on (Benchmarks/Tools/GateSimulation, in release, from
/// scripts/test.sh): that it is deterministic, that it draws what its model says, and that the
/// verdicts it reports are the commands' own.
@Suite("The gate's simulator and look schedule")
struct GateSimulatorTests {
    static func model(cases: Int = 4, runSigma: Double = 0.002, trialSigma: Double = 0.002, slow: Double = 0)
        -> NoiseModel
    {
        let pingpong = ["p50": trialSigma, "msg/s": trialSigma, "bytes/s": trialSigma, "cpu/msg server": trialSigma]
        return NoiseModel(
            source: "test",
            cases: (0..<cases).map {
                NoiseModel.Case(
                    name: "case \($0)", setupSeconds: 0.05, runSigma: runSigma, trialSigma: pingpong, ownRunSigma: [:])
            },
            runOverheadSeconds: 0.2, slowFraction: slow, spellSeconds: 2, slowestFactor: 3)
    }

    @Test("the committed noise model reads, holds the default 24-case matrix, and every case has a primary metric")
    func fixture() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/noise-model.json")
        let model = try JSONDecoder().decode(NoiseModel.self, from: Data(contentsOf: url))
        #expect(model.cases.count == 24)
        #expect(Set(model.cases.map(\.name)).count == 24)
        for c in model.cases {
            #expect(c.trialSigma["p50"] != nil || c.trialSigma["msg/s"] != nil, "\(c.name)")
            #expect(c.runSigma >= 0 && c.runSigma < 2)
        }
        #expect(model.slowFraction >= 0 && model.slowFraction < 0.5 && model.slowestFactor >= 1)
    }

    @Test("the same seed draws the same suite; another seed another")
    func deterministic() {
        let simulator = GateSimulator(model: Self.model(runSigma: 0.1, trialSigma: 0.1, slow: 0.05), maxRounds: 12)
        let first = simulator.ab(seed: 42)
        let again = simulator.ab(seed: 42)
        #expect(first.verdicts == again.verdicts && first.rounds == again.rounds && first.ratios == again.ratios)
        #expect(first.ratios.allSatisfy { $0 > 0.5 && $0 < 2 })
        #expect(simulator.ab(seed: 43).ratios != first.ratios)
        #expect(simulator.compare(seed: 42).ratios == simulator.compare(seed: 42).ratios)
    }

    @Test("quiet figures: A/A is unchanged everywhere and stops at the first look; a 20% slowdown is caught there")
    func quiet() {
        let simulator = GateSimulator(model: Self.model(), maxRounds: 30)
        let first = LookSchedule(maxRounds: 30, confidence: 0.95).first
        let same = simulator.ab(seed: 1)
        #expect(same.verdicts.allSatisfy { $0 == .unchanged })
        #expect(same.rounds == first)
        let slow = simulator.ab(seed: 1, slowCase: 2, slowdown: 1.2)
        #expect(slow.verdicts[2] == .regressed && slow.regressedAt[2] == first)
        #expect(slow.verdicts.enumerated().allSatisfy { $0.offset == 2 || $0.element == .unchanged })
        // compare, one run a side: quiet figures, no shift, the same two calls.
        #expect(simulator.compare(seed: 1).verdicts.allSatisfy { $0 == .unchanged })
        #expect(simulator.compare(seed: 1, slowCase: 0, slowdown: 1.2).verdicts[0] == .regressed)
    }

    @Test("a run shift larger than δ fools compare of one run a side, not ab")
    func drift() {
        // 15% drift between runs, almost no noise within one: trials cannot see it.
        let simulator = GateSimulator(model: Self.model(cases: 6, runSigma: 0.15, trialSigma: 0.005), maxRounds: 30)
        var compareFalse = 0
        var abFalse = 0
        for seed in UInt64(0)..<20 {
            if simulator.compare(seed: seed).anyRegression { compareFalse += 1 }
            if simulator.ab(seed: seed).anyRegression { abFalse += 1 }
        }
        #expect(compareFalse >= 10, "compare called \(compareFalse) of 20 A/A pairs regressed")
        #expect(abFalse == 0)
    }

    @Test("the budget stops the rounds: no round starts that would not end within it")
    func budget() {
        var simulator = GateSimulator(model: Self.model(runSigma: 0.3, trialSigma: 0.3), maxRounds: 30)
        let plan = GatePlan(simulator: simulator, slowdown: 1.1)
        // 4 cases of 0.05 + 0.1 + 0.25 s and 0.2 s a run, twice.
        #expect(abs(plan.roundSeconds - 2 * (0.2 + 4 * 0.4)) < 1e-9)
        simulator.budgetSeconds = 10 * plan.roundSeconds + 0.5
        let outcome = simulator.ab(seed: 3)
        #expect(outcome.rounds == 10 && outcome.seconds <= simulator.budgetSeconds)
        #expect(GatePlan(simulator: simulator, slowdown: 1.1).affordableRounds == 10)
    }

    @Test("rounds needed grow with the noise and are infinite for a slowdown within δ")
    func needed() {
        let quiet = GatePlan(simulator: GateSimulator(model: Self.model(trialSigma: 0.05)), slowdown: 1.1)
        let noisy = GatePlan(simulator: GateSimulator(model: Self.model(trialSigma: 0.10)), slowdown: 1.1)
        let c = Self.model(trialSigma: 0.05).cases[0]
        let n = quiet.roundsNeeded(c)
        #expect(n > 5 && n < 100, "\(n)")
        #expect(abs(noisy.roundsNeeded(Self.model(trialSigma: 0.10).cases[0]) / n - 4) < 0.01)
        #expect(GatePlan(simulator: quiet.simulator, slowdown: 1.04).roundsNeeded(c) == .infinity)
        // The power at the rounds needed is 95%, and it grows with the rounds.
        #expect(abs(quiet.power(c, rounds: Int(n.rounded())) - 0.95) < 0.02)
        #expect(quiet.power(c, rounds: 5) < quiet.power(c, rounds: 50))
        #expect(GatePlan(simulator: quiet.simulator, slowdown: 1.04).power(c, rounds: 100) == 0)
    }

    @Test("looks: each at 1 − α/k for k looks, one kept for the budget's end, the last at the most rounds")
    func looks() {
        for (maxRounds, confidence) in [(8, 0.95), (30, 0.95), (80, 0.95), (500, 0.99)] {
            let looks = LookSchedule(maxRounds: maxRounds, confidence: confidence)
            let k = Double(looks.rounds.count + 1)
            #expect(looks.perLook >= 1 - (1 - confidence) / k - 1e-12)
            #expect(looks.rounds == looks.rounds.sorted() && Set(looks.rounds).count == looks.rounds.count)
            #expect(looks.rounds.last == max(maxRounds, looks.first))
            #expect(
                SignedRankEstimate(differences: Array(repeating: 0.1, count: looks.first), confidence: looks.perLook)
                    .lower != nil)
        }
    }
}
