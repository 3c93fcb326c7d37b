import Dispatch
import Foundation
import PodBenchCore
import PodBenchResults
import Synchronization
import Testing

@testable import PodBenchReport

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
                key: CaseKey(transport: TransportKind(rawValue: transport)!, workload: .pingpong, messageSize: 64),
                status: status)
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
        run.complete = true
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
        #expect(report.exitCode(GatePolicy()) == 0)
        #expect(report.cases[0].metrics.allSatisfy { $0.verdict == .unchanged })
        #expect(abs((report.geometricMeans["p50"] ?? 0) - 1) < 0.01)
    }

    @Test("a 20% slowdown with tight trials is a regression, in latency, throughput and CPU")
    func slowdown() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 12_000, noise: Synthetic.tight2))
        #expect(report.exitCode(GatePolicy()) == 1)
        let metrics = Dictionary(uniqueKeysWithValues: report.cases[0].metrics.map { ($0.metric, $0) })
        for metric in [ComparedMetric.p50, .p99, .messagesPerSecond, .clientCPU] {
            #expect(metrics[metric]?.verdict == .regressed, "\(metric)")
        }
        #expect(abs((metrics[.p50]?.ratio ?? 0) - 1.2) < 0.01)
        #expect((metrics[.messagesPerSecond]?.ratio ?? 2) < 0.85)
        #expect(metrics[.p50]!.ratioLower! > 1.05)
    }

    @Test("a 20% slowdown with wildly noisy trials is undecided, not a regression, and not a pass")
    func noisySlowdown() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.noisy),
            Synthetic.run(latency: 12_000, noise: Synthetic.noisy))
        #expect(report.exitCode(GatePolicy()) == 4)
        #expect(report.exitCode(GatePolicy(onInconclusive: .warn)) == 0)
        #expect(report.outcome(GatePolicy(onInconclusive: .pass)) == .passedUndecided)
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
        #expect(report.exitCode(GatePolicy()) == 0)
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
        #expect(report.exitCode(GatePolicy()) == 4)
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
        #expect(report.exitCode(GatePolicy()) == 3)
        #expect(report.exitCode(GatePolicy(allowEnvironmentMismatch: true)) == 0)
        #expect(report.environmentDifferences.map(\.property) == ["kernel"])
        var longer = Synthetic.run(latency: 10_000, noise: Synthetic.tight2)
        longer.settings.trialSeconds = 2
        longer.settings.verify = "sample:16"
        longer.environment.server.architecture = "aarch64"
        longer.environment.server.kernelRelease = "6.9.0"
        let settings = try compare(Synthetic.run(latency: 10_000, noise: Synthetic.tight), longer)
        #expect(
            settings.environmentDifferences.map(\.property).sorted() == [
                "architecture", "kernel", "payload verification", "trial length",
            ])
        #expect(settings.exitCode(GatePolicy()) == 3)
        #expect(report.environmentDifferences.first?.current == "6.9.0")
    }

    @Test("unmatched cases are listed, never dropped; a case failing now is a regression")
    func unmatched() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["tcp", "uds"]),
            Synthetic.run(latency: 10_000, noise: Synthetic.tight2, keys: ["tcp", "shm"]))
        #expect(report.onlyInBaseline.map(\.transport) == [.uds])
        #expect(report.onlyInCurrent.map(\.transport) == [.shm])
        // A case of the baseline missing now is undecided (exit 4) unless allowed.
        #expect(report.exitCode(GatePolicy()) == 4)
        #expect(report.exitCode(GatePolicy(allowMissing: true)) == 0)
        var failing = Synthetic.run(latency: 10_000, noise: Synthetic.tight2)
        failing.cases[0].status = .failed
        failing.cases[0].error = "integrity error"
        let failed = try compare(Synthetic.run(latency: 10_000, noise: Synthetic.tight), failing)
        #expect(failed.exitCode(GatePolicy()) == 1)
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

    @Test("--metrics narrows what is judged; the rest is left out, not passed")
    func metricList() throws {
        #expect(try ComparedMetric.parseList("cpu,p50") == [.p50, .clientCPU, .serverCPU])
        #expect(throws: PodBenchError.self) { try ComparedMetric.parseList("p42") }
        #expect(throws: PodBenchError.self) { try ComparedMetric.parseList("") }
        let narrow = try Comparator(metrics: [.p50]).compare(
            baseline: Synthetic.run(latency: 10_000, noise: Synthetic.noisy),
            current: Synthetic.run(latency: 10_000, noise: Synthetic.noisy), baselineName: "a", currentName: "b")
        #expect(narrow.cases[0].metrics.map(\.metric) == [.p50])
    }

    @Test("minimum effects parse by metric and group; nonsense is refused")
    func minimumEffects() throws {
        let effects = try ComparedMetric.parseMinimumEffects("p50=3%,tails=15%,cpu=20%")
        #expect(effects[.p50] == 0.03 && effects[.p99] == 0.15 && effects[.p999] == 0.15 && effects[.serverCPU] == 0.2)
        for bad in ["p50=3", "p42=3%", "p50=-1%", "=3%"] {
            #expect(throws: PodBenchError.self) { try ComparedMetric.parseMinimumEffects(bad) }
        }
    }

    @Test("a run compared with itself is unchanged by equivalence, and the gate passes")
    func selfComparison() throws {
        let run = Synthetic.run(latency: 10_000, noise: Synthetic.tight)
        let report = try compare(run, run)
        #expect(report.cases.allSatisfy { $0.verdict == .unchanged })
        #expect(report.outcome(GatePolicy()) == .passed)
        #expect(ComparisonRenderer.markdown(report, policy: GatePolicy()).contains("✅ No regression"))
        #expect((report.detectableChanges["p50"] ?? 1) < 0.1)
    }

    @Test("three trials that all fell to 0.46×: undecided, exit 4, never \"✅ No regression\"")
    func threeTrialCollapse() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: [0, 0.01, 0.02]),
            Synthetic.run(latency: 21_700, noise: [0, 0.01, 0.02]))
        #expect(report.exitCode(GatePolicy()) == 4)
        for policy in InconclusivePolicy.allCases {
            let markdown = ComparisonRenderer.markdown(report, policy: GatePolicy(onInconclusive: policy))
            #expect(!markdown.contains("✅"), "\(policy)")
            #expect(markdown.contains("undecided") || markdown.contains("Undecided"))
            let junit = ComparisonRenderer.junit(report, policy: GatePolicy(onInconclusive: policy))
            #expect(junit.contains(policy == .fail ? "<failure type=\"undecided\"" : "<skipped"), "\(policy)")
        }
        #expect(
            ComparisonRenderer.terminal(report, policy: GatePolicy(), colour: false, all: false).contains("undecided"))
    }

    @Test("a throughput that collapsed to zero in a trial is a regression, not a reason to give up")
    func zeroTrial() throws {
        var current = Synthetic.run(latency: 100_000, noise: Synthetic.tight2)
        current.cases[0].trials[2].messagesPerSecond = 0
        current.cases[0].trials[2].bytesPerSecond = 0
        let report = try compare(Synthetic.run(latency: 10_000, noise: Synthetic.tight), current)
        let rate = try #require(report.cases[0].metrics.first { $0.metric == .messagesPerSecond })
        #expect(rate.verdict == .regressed, "\(rate.reason)")
        #expect(rate.reason.contains("a zero counted as"))
        #expect(report.exitCode(GatePolicy()) == 1)
    }

    @Test("a zero on both sides cannot widen δ into calling a 3× change unchanged")
    func zeroInBaseline() {
        let c = Comparator().compare(
            metric: .clientCPU, baseline: [0, 500, 480, 510, 495], current: [0, 1500, 1450, 1520, 1490])
        #expect(c.verdict != .unchanged && c.minimumEffect < 0.2, "\(c.verdict) \(c.minimumEffect)")
    }

    @Test("a metric one side measured and the other did not is undecided, never skipped")
    func missingMetric() throws {
        var current = Synthetic.run(latency: 10_000, noise: Synthetic.tight2)
        for i in current.cases[0].trials.indices { current.cases[0].trials[i].latencySummary = nil }
        let report = try compare(Synthetic.run(latency: 10_000, noise: Synthetic.tight), current)
        let p50 = try #require(report.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict == .inconclusive && p50.reason.contains("missing from the current run"))
        #expect(report.exitCode(GatePolicy()) == 4)
    }

    @Test("an unfinished current run is undecided and says why; cases unavailable in both are no loss")
    func incompleteAndUnavailable() throws {
        var current = Synthetic.run(latency: 10_000, noise: Synthetic.tight2)
        current.complete = false
        current.incompleteReason = "interrupted by SIGINT"
        var baseline = Synthetic.run(latency: 10_000, noise: Synthetic.tight)
        baseline.complete = true
        let report = try compare(baseline, current)
        #expect(report.currentIncomplete == "interrupted by SIGINT")
        #expect(report.exitCode(GatePolicy()) == 4)
        #expect(report.exitCode(GatePolicy(allowMissing: true)) == 0)
        #expect(ComparisonRenderer.markdown(report, policy: GatePolicy()).contains("interrupted by SIGINT"))
        current.complete = true
        var both = Synthetic.run(latency: 10_000, noise: Synthetic.tight2, keys: ["tcp", "uring-tcp"])
        both.complete = true
        both.cases[1] = CaseResult(key: both.cases[1].key, status: .unavailable, error: "io_uring refused")
        var baseBoth = Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["tcp", "uring-tcp"])
        baseBoth.complete = true
        baseBoth.cases[1] = both.cases[1]
        let unavailable = try compare(baseBoth, both)
        #expect(unavailable.unavailableInBoth.map(\.transport) == [.uringTCP])
        #expect(unavailable.exitCode(GatePolicy()) == 0)
    }

    @Test("names from a file cannot forge Markdown, JUnit or terminal output")
    func hostileNames() throws {
        let evil = "x |\n\n## ✅ No regression\n<script>alert(1)</script> [a](http://e) \u{1B}[2J\u{7}\u{202E}"
        var a = Synthetic.run(latency: 10_000, noise: Synthetic.tight)
        var b = Synthetic.run(latency: 12_000, noise: Synthetic.tight2)
        a.complete = true
        b.complete = true
        // Kinds are checked when a file is read; the hop's name and option values are free text.
        for i in a.cases.indices {
            a.cases[i].key.hop = CaseKey.Hop(name: evil, entry: .uds)
            a.cases[i].key.options["wait"] = evil
            b.cases[i].key = a.cases[i].key
        }
        let report = try comparator.compare(baseline: a, current: b, baselineName: evil, currentName: "cur")
        let markdown = ComparisonRenderer.markdown(report, policy: GatePolicy())
        #expect(
            !markdown.contains("<script>") && !markdown.replacingOccurrences(of: "\\](", with: "").contains("](http"))
        #expect(markdown.split(separator: "\n").filter { $0.hasPrefix("## ") }.count == 1)
        // Every row of the case tables keeps its seven columns: no pipe came through unescaped.
        func cells(_ line: Substring) -> Int {
            var count = 0
            var previous: Character = " "
            for c in line {
                if c == "|" && previous != "\\" { count += 1 }
                previous = c
            }
            return count
        }
        let rows = markdown.split(separator: "\n").filter { $0.hasPrefix("| tcp") }
        #expect(rows.count >= 7 && rows.allSatisfy { cells($0) == 8 }, "\(rows)")
        let junit = ComparisonRenderer.junit(report, policy: GatePolicy())
        #expect(!junit.contains("<script>") && !junit.contains("\u{1B}") && !junit.contains("\u{7}"))
        #expect(junit.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        let table = ComparisonRenderer.terminal(report, policy: GatePolicy(), colour: true, all: true)
        #expect(!table.contains("\u{1B}[2J") && !table.contains("\u{7}") && !table.contains("\u{202E}"))
    }

    @Test("the renderers say the verdicts: Markdown headline, JUnit failures, JSON round trip")
    func renderers() throws {
        let report = try compare(
            Synthetic.run(latency: 10_000, noise: Synthetic.tight),
            Synthetic.run(latency: 12_000, noise: Synthetic.tight2))
        let markdown = ComparisonRenderer.markdown(report, policy: GatePolicy())
        #expect(markdown.contains("❌ 1 case regressed"))
        #expect(markdown.contains("**regressed**"))
        let junit = ComparisonRenderer.junit(report, policy: GatePolicy())
        #expect(junit.contains("<failure"))
        #expect(junit.hasPrefix("<?xml"))
        let json = try ComparisonRenderer.json(report, policy: GatePolicy())
        let decoded = try JSONDecoder().decode(ComparisonReport.self, from: Data(json.utf8))
        #expect(decoded.cases.count == report.cases.count)
        #expect(decoded.regressions == 1)
        let table = ComparisonRenderer.terminal(report, policy: GatePolicy(), colour: false, all: true)
        #expect(table.contains("regressed"))
        #expect(!table.contains("\u{1B}["))
    }
}

@Suite("Named baselines")
struct BaselineStoreTests {
    @Test("two saves of one name at once: exactly one succeeds, the other is told")
    func concurrentSave() throws {
        let dir = NSTemporaryDirectory() + "podbench-baselines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runPath = dir + "/run.json"
        // A file must pass validation to be saved: summaries only with their histograms.
        var run = Synthetic.run(latency: 10_000, noise: Synthetic.tight)
        for t in run.cases[0].trials.indices { run.cases[0].trials[t].latencySummary = nil }
        try ResultsStore.writeAtomically(try ResultsStore.encoder(pretty: false).encode(run), to: runPath)
        let store = BaselineStore(directory: dir + "/baselines")
        for round in 0..<30 {
            let successes = Mutex(0)
            let refusals = Mutex(0)
            DispatchQueue.concurrentPerform(iterations: 2) { _ in
                do {
                    _ = try store.save(name: "node-\(round)", runs: [runPath], overwrite: false)
                    successes.withLock { $0 += 1 }
                } catch let error as PodBenchError where error.message.contains("exists") {
                    refusals.withLock { $0 += 1 }
                } catch {}
            }
            #expect(successes.withLock { $0 } == 1 && refusals.withLock { $0 } == 1, "round \(round)")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/baselines")
        #expect(left.count == 30, "\(left.filter { $0.hasPrefix(".") })")
        #expect(store.names().count == 30 && store.files(of: "node-7").count == 1)
    }

    /// A results file that passes validation, with p50 `latency`, started at second `second` (runs
    /// of a baseline must be separate runs).
    static func write(_ dir: String, _ name: String, latency: Double, second: Int) throws -> String {
        var run = Synthetic.run(latency: latency, noise: Synthetic.tight)
        run.startedAt =
            "2026-11-22T00:\(second / 60 < 10 ? "0" : "")\(second / 60):\(second % 60 < 10 ? "0" : "")\(second % 60)Z"
        for t in run.cases[0].trials.indices { run.cases[0].trials[t].latencySummary = nil }
        let path = dir + "/" + name
        try ResultsStore.writeAtomically(try ResultsStore.encoder(pretty: false).encode(run), to: path)
        return path
    }

    @Test(
        "several runs: saved as a folder in order, added to, loaded whole; a one-run NAME.json from before reads and becomes a folder on add"
    )
    func severalRuns() throws {
        let dir = NSTemporaryDirectory() + "podbench-baselines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runs = try (1...4).map { try Self.write(dir, "r\($0).json", latency: 10_000 * Double($0), second: $0) }
        let store = BaselineStore(directory: dir + "/baselines")
        let folder = try store.save(name: "node-a", runs: Array(runs.prefix(3)), overwrite: false)
        #expect(folder == dir + "/baselines/node-a")
        #expect(
            store.files(of: "node-a").map { ($0 as NSString).lastPathComponent } == [
                "run-01.json", "run-02.json", "run-03.json",
            ])
        #expect(throws: PodBenchError.self) { try store.save(name: "node-a", runs: [runs[3]], overwrite: false) }
        let added = try store.add(name: "node-a", runs: [runs[3]])
        #expect(added == [folder + "/run-04.json"])
        let loaded = try store.load("node-a")
        #expect(
            loaded.runs.map { $0.cases[0].trials[0].messages }
                == runs.map { try! ResultsStore.load($0).cases[0].trials[0].messages })
        // --force replaces the whole folder.
        try store.save(name: "node-a", runs: [runs[0]], overwrite: true)
        #expect(try store.load("node-a").runs.count == 1)
        // A baseline saved by an earlier version: NAME.json.
        try FileManager.default.copyItem(atPath: runs[1], toPath: dir + "/baselines/old.json")
        #expect(store.names() == ["node-a", "old"])
        #expect(try store.load("old").runs.count == 1)
        #expect(throws: PodBenchError.self) { try store.save(name: "old", runs: [runs[0]], overwrite: false) }
        try store.add(name: "old", runs: [runs[2]])
        #expect(!FileManager.default.fileExists(atPath: dir + "/baselines/old.json"))
        let old = try store.load("old").runs
        let first = try ResultsStore.load(runs[1]).cases[0].trials[0].messages
        #expect(old.count == 2 && old[0].cases[0].trials[0].messages == first)
        #expect(throws: PodBenchError.self) { try store.add(name: "nobody", runs: [runs[0]]) }
        // Nothing half-made is left beside them.
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/baselines").sorted()
        #expect(left == ["node-a", "old"], "\(left)")
    }

    @Test("two adds to one baseline at once both land, under distinct names")
    func concurrentAdd() throws {
        let dir = NSTemporaryDirectory() + "podbench-baselines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let runs = try (0...16).map { try Self.write(dir, "r\($0).json", latency: 10_000, second: $0) }
        let store = BaselineStore(directory: dir + "/baselines")
        try store.save(name: "node", runs: [runs[0]], overwrite: false)
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do { try store.add(name: "node", runs: [runs[1 + 2 * i], runs[2 + 2 * i]]) } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(store.files(of: "node").count == 17)
    }

    @Test("a run twice, a name ending in .json, a planted symbolic link: refused; runs are read in numeric order")
    func refusals() throws {
        let dir = NSTemporaryDirectory() + "podbench-baselines-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try Self.write(dir, "a.json", latency: 10_000, second: 1)
        let b = try Self.write(dir, "b.json", latency: 10_000, second: 2)
        let store = BaselineStore(directory: dir + "/baselines")
        #expect(throws: PodBenchError.self) { try store.save(name: "twice", runs: [a, a], overwrite: false) }
        try store.save(name: "node", runs: [a], overwrite: false)
        #expect(throws: PodBenchError.self) { try store.add(name: "node", runs: [a]) }
        #expect(throws: PodBenchError.self) { try store.save(name: "node.json", runs: [b], overwrite: false) }
        // A folder planted as a link to elsewhere is no baseline, and nothing is written through it.
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: dir + "/baselines/linked", withDestinationPath: dir + "/elsewhere")
        #expect(store.files(of: "linked").isEmpty && !store.names().contains("linked"))
        #expect(throws: PodBenchError.self) { try store.save(name: "linked", runs: [b], overwrite: true) }
        #expect(throws: PodBenchError.self) { try store.add(name: "linked", runs: [b]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/elsewhere").isEmpty)
        // run-10 after run-9, and a stray file is not a run.
        let folder = dir + "/baselines/node"
        for n in [2, 9, 10] {
            try FileManager.default.copyItem(atPath: b, toPath: folder + "/run-\(n).json")
        }
        try FileManager.default.copyItem(atPath: b, toPath: folder + "/notes.json")
        #expect(
            store.files(of: "node").map { ($0 as NSString).lastPathComponent } == [
                "run-01.json", "run-2.json", "run-9.json", "run-10.json",
            ])
        // --force swaps the whole folder in one step.
        try store.save(name: "node", runs: [b], overwrite: true)
        #expect(store.files(of: "node").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/baselines").sorted() == ["linked", "node"])
    }
}

@Suite("Baselines of several runs: runs as the unit")
struct RunsComparisonTests {
    @Test("Student's t quantiles match the tables; the runs interval is the pooled t interval")
    func studentT() {
        for (df, q) in [(1.0, 12.7062047), (2, 4.30265273), (4, 2.77644511), (10, 2.22813885), (30, 2.04227246)] {
            #expect(abs(StudentT.quantile(0.975, degreesOfFreedom: df) - q) < 1e-6, "df \(df)")
        }
        #expect(abs(StudentT.quantile(0.95, degreesOfFreedom: 5) - 2.01504837) < 1e-6)
        #expect(abs(StudentT.cdf(0, degreesOfFreedom: 3) - 0.5) < 1e-12)
        let e = RunsEstimate(baseline: [0, 0.1, 0.2], current: [0.5], confidence: 0.95)
        #expect(abs(e.estimate - 0.4) < 1e-12 && abs(e.runSpread! - 0.1) < 1e-12)
        let half = 4.30265273 * 0.1 * (1.0 / 3 + 1).squareRoot()
        #expect(abs(e.lower! - (0.4 - half)) < 1e-6 && abs(e.upper! - (0.4 + half)) < 1e-6)
        #expect(RunsEstimate(baseline: [0.1], current: [0.2], confidence: 0.95).lower == nil)
        // Runs that agree exactly still have the histograms' resolution as their spread.
        let exact = RunsEstimate(baseline: [0.5, 0.5, 0.5], current: [0.6], confidence: 0.95)
        #expect(exact.runSpread == RunsEstimate.resolution && exact.upper! - exact.lower! > 0.001)
    }

    /// Five baseline runs drifting ±15% from run to run, tight trials within each.
    static let drift: [Double] = [1, 1.15, 0.87, 1.08, 0.93]

    @Test("drift between runs: one run a side calls it a regression; five baseline runs see the drift and do not")
    func drift() throws {
        let baseline = Self.drift.map { Synthetic.run(latency: 10_000 * $0, noise: Synthetic.tight) }
        let current = Synthetic.run(latency: 11_500, noise: Synthetic.tight2)
        let one = try Comparator().compare(
            baseline: baseline[2], current: current, baselineName: "b", currentName: "c")
        #expect(one.regressions == 1)
        #expect(ComparisonRenderer.evidenceLine(one).contains("One baseline run: run-to-run spread unknown"))
        let five = try Comparator().compare(
            baselineRuns: baseline, currentRuns: [current], baselineName: "b", currentName: "c")
        #expect(five.regressions == 0 && five.baselineRuns == 5 && five.currentRuns == 1)
        let p50 = try #require(five.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict == .inconclusive && p50.reason.contains("5 baseline runs"), "\(p50.reason)")
        #expect(p50.baseline.count == 5 && p50.current.count == 1)
        #expect(ComparisonRenderer.evidenceLine(five).contains("Runs as the unit: 5 baseline runs"))
    }

    @Test("beyond the drift: a 2× slowdown regresses; a current run amid tight runs is unchanged")
    func decided() throws {
        let baseline = Self.drift.map { Synthetic.run(latency: 10_000 * (1 + ($0 - 1) / 5), noise: Synthetic.tight) }
        let slow = try Comparator().compare(
            baselineRuns: baseline, currentRuns: [Synthetic.run(latency: 20_000, noise: Synthetic.tight2)],
            baselineName: "b", currentName: "c")
        #expect(slow.regressions == 1, "\(slow.cases[0].metrics.map(\.reason))")
        let tight = [1, 1.004, 0.997, 1.002, 0.999, 1.003, 0.998, 1.001].map {
            Synthetic.run(latency: 10_000 * $0, noise: Synthetic.tight)
        }
        let same = try Comparator().compare(
            baselineRuns: tight, currentRuns: [Synthetic.run(latency: 10_005, noise: Synthetic.tight2)],
            baselineName: "b", currentName: "c")
        let p50 = try #require(same.cases[0].metrics.first { $0.metric == .p50 })
        #expect(p50.verdict == .unchanged, "\(p50.reason)")
    }

    @Test(
        "a case failing in one baseline run is not comparable, naming the run; an unfinished run makes its side incomplete"
    )
    func statuses() throws {
        var baseline = (0..<3).map { _ in Synthetic.run(latency: 10_000, noise: Synthetic.tight, keys: ["tcp", "uds"]) }
        baseline[1].cases[1].status = .failed
        baseline[1].cases[1].error = "peer died"
        baseline[2].complete = false
        baseline[2].incompleteReason = "interrupted"
        let report = try Comparator().compare(
            baselineRuns: baseline,
            currentRuns: [Synthetic.run(latency: 10_000, noise: Synthetic.tight2, keys: ["tcp", "uds"])],
            baselineName: "b", currentName: "c")
        #expect(
            report.notComparable.count == 1 && report.notComparable[0].contains("run 2: peer died"),
            "\(report.notComparable)")
        #expect(report.baselineIncomplete?.contains("run 3: interrupted") == true)
    }
}

@Suite("Interleaved A/B rounds")
struct PairedComparisonTests {
    /// Per-round machine speed: modes up to 3× apart, as this VM flips between.
    static let drift: [Double] = [1, 2.9, 1.1, 0.95, 3, 1.05, 2.5, 1, 1.2, 2.8, 0.9, 1]

    @Test("a 10% slowdown under 3× drift between rounds: the pairs decide it, the pooled trials cannot")
    func driftCancels() throws {
        let a = Self.drift.map { 10_000 * $0 * (1 + 0.01 * sin($0 * 7)) }
        let b = zip(Self.drift, a).map { 1.10 * $1 * (1 + 0.01 * cos($0 * 5)) }
        let paired = Comparator().comparePaired(metric: .p50, a: a, b: b)
        #expect(paired.verdict == .regressed, "\(paired.reason)")
        #expect(abs(paired.ratio - 1.1) < 0.03)
        let pooled = Comparator().compare(metric: .p50, baseline: a, current: b)
        #expect(pooled.verdict != .regressed)
    }

    @Test("A against itself under drift: unchanged by equivalence; too few rounds: undecided, saying how many")
    func aa() {
        let a = Self.drift.map { 10_000 * $0 }
        let b = zip(Self.drift, a).enumerated().map { i, p in p.1 * (1 + (i % 2 == 0 ? 0.004 : -0.004)) }
        #expect(Comparator().comparePaired(metric: .p50, a: a, b: b).verdict == .unchanged)
        let few = Comparator().comparePaired(metric: .p50, a: Array(a.prefix(4)), b: Array(b.prefix(4)))
        #expect(few.verdict == .inconclusive && few.reason.contains("6 needed"), "\(few.reason)")
        let noisy = zip(a, [1.0, 1.2, 0.85, 1.1, 0.9, 1.15, 0.95, 1.05, 0.88, 1.12, 1.0, 0.93]).map { $0 * $1 }
        let undecided = Comparator().comparePaired(metric: .p50, a: a, b: noisy)
        #expect(
            undecided.verdict == .inconclusive && undecided.reason.contains("about")
                && undecided.reason.contains("rounds would decide it"), "\(undecided.reason)")
    }

    @Test("whole runs as rounds: a case failing in B is a regression, one missing is undecided")
    func runs() throws {
        var rounds: [(a: RunResult, b: RunResult)] = []
        for (i, d) in Self.drift.prefix(8).enumerated() {
            let a = Synthetic.run(latency: 10_000 * d, noise: Synthetic.tight, keys: ["tcp", "uds"])
            var b = Synthetic.run(latency: 10_000 * d * 1.3, noise: Synthetic.tight2, keys: ["tcp", "uds"])
            if i == 5 {
                b.cases[1].status = .failed
                b.cases[1].error = "peer died"
            }
            rounds.append((a, b))
        }
        let report = try Comparator().comparePaired(rounds: rounds, aName: "A", bName: "B")
        #expect(report.rounds == 8)
        #expect(
            report.cases.first { $0.key.transport == .tcp }?.metrics.first { $0.metric == .p50 }?.verdict == .regressed
        )
        #expect(report.cases.first { $0.key.transport == .uds }?.failure?.contains("B's round 6") == true)
        #expect(report.exitCode(GatePolicy()) == 1)
        let markdown = ComparisonRenderer.markdown(report, policy: GatePolicy())
        #expect(markdown.contains("Interleaved A/B: 8 rounds") && markdown.contains("A rounds"))
    }
}
