import Foundation
import PodBenchCore
import PodBenchReport
import PodBenchResults
import Testing

/// Synthetic runs with known differences.
enum Synthetic {
    static func environment(kernel: String = "6.1.0") -> RunEnvironment {
        var env = HostEnvironment.probe()
        env.kernelRelease = kernel
        let pin = CPUPinning.Outcome(asked: 0, allowed: [0], observed: 0)
        return RunEnvironment(
            client: env, server: env, clientPinning: pin, serverPinning: pin, timerOverheadNanoseconds: 20)
    }

    /// A run whose pingpong case has trials with p50 `latency × (1 + noise_i)` and throughput 1e9/latency.
    static func run(
        latency: Double, noise: [Double], kernel: String = "6.1.0", keys: [String] = ["tcp"],
        status: CaseResult.Status = .ok
    ) -> RunResult {
        var run = RunResult(
            podbench: ToolInfo(version: "0.1.0", commit: nil, controlProtocol: 1), startedAt: "2026-11-22T00:00:00Z",
            commandLine: [],
            settings: RunSettings(
                trials: noise.count, warmupSeconds: 0, trialSeconds: 1, trialMessages: nil, verify: "all",
                isolation: "process", peerTimeoutSeconds: 10),
            environment: environment(kernel: kernel))
        for transport in keys {
            var c = CaseResult(
                key: CaseKey(transport: transport, workload: "pingpong", messageSize: 64), status: status)
            for (i, n) in noise.enumerated() {
                let value = latency * (1 + n)
                let messages = UInt64(1e9 / value)
                let side = SideFigures(
                    usage: CPUUsage(
                        userNanoseconds: UInt64(value / 4) * messages, systemNanoseconds: UInt64(value / 4) * messages,
                        voluntarySwitches: messages, involuntarySwitches: 0),
                    messages: messages, integrity: IntegrityCounts(received: messages))
                c.trials.append(
                    TrialResult(
                        index: i, messages: messages, bytes: messages * 64, elapsedNanoseconds: 1_000_000_000,
                        latency: nil,
                        latencySummary: LatencySummary(
                            count: messages, min: UInt64(value * 0.9), p50: UInt64(value), p90: UInt64(value * 1.2),
                            p99: UInt64(value * 1.5), p999: UInt64(value * 2), max: UInt64(value * 3), mean: value),
                        client: side, server: side))
            }
            run.cases.append(c)
        }
        return run
    }

    static let tight: [Double] = [0, 0.004, -0.003, 0.002, -0.001]
    static let tight2: [Double] = [0.001, -0.002, 0.003, 0, -0.004]
    static let noisy: [Double] = [0, 0.6, -0.4, 0.9, -0.3]
}

@Suite("Comparisons of synthetic runs")
struct ComparatorTests {
    let comparator = Comparator()

    func compare(_ a: RunResult, _ b: RunResult) throws -> ComparisonReport {
        try comparator.compare(baseline: a, current: b, baselineName: "base", currentName: "cur")
    }

    @Test("identical distributions pass: no regression, every metric unchanged")
    func identical() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 10_000, noise: Synthetic.tight2))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 0)
        #expect(report.cases[0].metrics.allSatisfy { $0.verdict == .unchanged })
        #expect(abs((report.geometricMeans["p50"] ?? 0) - 1) < 0.01)
    }

    @Test("a 20% slowdown with tight trials is a regression, in latency, throughput and CPU")
    func slowdown() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 12_000, noise: Synthetic.tight2))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 1)
        let metrics = Dictionary(uniqueKeysWithValues: report.cases[0].metrics.map { ($0.metric, $0) })
        for metric in [ComparedMetric.p50, .p99, .messagesPerSecond, .clientCPU] {
            #expect(metrics[metric]?.verdict == .regressed, "\(metric)")
        }
        #expect(abs((metrics[.p50]?.ratio ?? 0) - 1.2) < 0.01)
        #expect((metrics[.messagesPerSecond]?.ratio ?? 2) < 0.85)
        #expect(metrics[.p50]!.ratioLower! > 1.05)
    }

    @Test("a 20% slowdown with wildly noisy trials is inconclusive, not a regression")
    func noisySlowdown() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.noisy),
            Synthetic.run(latency: 12_000, noise: Synthetic.noisy))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 0)
        let p50 = try #require(report.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict == .inconclusive)
        // δ was raised to the baseline's own spread.
        #expect(p50.minimumEffect > 0.3)
    }

    @Test("improvements pass")
    func improvement() throws {
        let report = try compare(
            Synthetic.run(latency: 12_000, noise: Synthetic.tight),
            Synthetic.run(latency: 10_000, noise: Synthetic.tight2))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 0)
        #expect(report.cases[0].verdict == .improved)
    }

    @Test("too few trials is inconclusive, with the reason")
    func fewTrials() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: [0, 0.01, 0.02]),
            Synthetic.run(latency: 20_000, noise: [0, 0.01, 0.02]))
        let p50 = try #require(report.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict == .inconclusive)
        #expect(p50.reason.contains("too few trials"))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 0)
    }

    @Test("a smaller effect than δ is not called, whatever the confidence")
    func smallEffect() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 10_300, noise: Synthetic.tight2))
        let p50 = try #require(report.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict != .regressed)
        let strict = try Comparator(minimumEffects: [.p50: 0.01]).compare(
            baseline: Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            current: Synthetic.run(latency: 10_300, noise: Synthetic.tight2), baselineName: "a", currentName: "b")
        #expect(strict.cases[0].metrics.first { $0.metric == .p50 }?.verdict == .regressed)
    }

    @Test("different environments exit 3 unless allowed; the differences are named")
    func environmentMismatch() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 10_000, noise: Synthetic.tight2, kernel: "6.9.0"))
        #expect(report.exitCode(allowEnvironmentMismatch: false) == 3)
        #expect(report.exitCode(allowEnvironmentMismatch: true) == 0)
        #expect(report.environmentDifferences.map(\.property) == ["kernel"])
        #expect(report.environmentDifferences.first?.current == "6.9.0")
    }

    @Test("unmatched cases are listed, never dropped; a case failing now is a regression")
    func unmatched() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["tcp", "uds"]),
            Synthetic.run(latency: 10_000, noise: Synthetic.tight2, keys: ["tcp", "shm"]))
        #expect(report.onlyInBaseline.map(\.transport) == ["uds"])
        #expect(report.onlyInCurrent.map(\.transport) == ["shm"])
        var failing = Synthetic.run(latency: 10_000, noise: Synthetic.tight2)
        failing.cases[0].status = .failed
        failing.cases[0].error = "integrity error"
        let failed = try compare(Synthetic.run(latency: 10_000, noise: Synthetic.tight), failing)
        #expect(failed.exitCode(allowEnvironmentMismatch: false) == 1)
        #expect(failed.cases[0].failure?.contains("integrity error") == true)
    }

    @Test("two runs with no case in common are an input error")
    func nothingInCommon() {
        #expect {
            try compare(
                Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["tcp"]),
                Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["uds"]))
        } throws: { ($0 as? PodBenchError)?.code == .incompatibleResults }
    }

    @Test("minimum effects parse by metric and group; nonsense is refused")
    func minimumEffects() throws {
        let effects = try ComparedMetric.parseMinimumEffects("p50=3%,tails=15%,cpu=20%")
        #expect(effects[.p50] == 0.03 && effects[.p99] == 0.15 && effects[.p999] == 0.15 && effects[.serverCPU] == 0.2)
        for bad in ["p50=3", "p42=3%", "p50=-1%", "=3%"] {
            #expect(throws: PodBenchError.self) { try ComparedMetric.parseMinimumEffects(bad) }
        }
    }

    @Test("the renderers say the verdicts: Markdown headline, JUnit failures, JSON round trip")
    func renderers() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 12_000, noise: Synthetic.tight2))
        let markdown = ComparisonRenderer.markdown(report, allowEnvironmentMismatch: false)
        #expect(markdown.contains("❌ 1 case regressed"))
        #expect(markdown.contains("**regressed**"))
        let junit = ComparisonRenderer.junit(report)
        #expect(junit.contains("<failure"))
        #expect(junit.hasPrefix("<?xml"))
        let json = try ComparisonRenderer.json(report)
        let decoded = try JSONDecoder().decode(ComparisonReport.self, from: Data(json.utf8))
        #expect(decoded.cases.count == report.cases.count)
        #expect(decoded.regressions == 1)
        let table = ComparisonRenderer.terminal(report, colour: false, all: true)
        #expect(table.contains("regressed"))
        #expect(!table.contains("\u{1B}["))
    }
}
