import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    @Suite(
        "compare and baseline end to end", .serialized,
        .singleThreaded("compare, ab's verdicts and baselines read files and compute on one thread"))
    struct CompareEndToEndTests {
        /// Two real runs of this build on this machine, pinned, the same matrix.
        static func twoRuns(in dir: String) throws -> (String, String) {
            let cpus = CPUPinning.allowedCPUs()
            for _ in 0..<2 {
                let result = try BinaryProcess.run(
                    [
                        "run", "--transports", "uds", "--workloads", "pingpong,stream", "--sizes", "64", "--trials",
                        "5",
                        "--duration", "60ms", "--warmup", "20ms", "--no-calibrate", "--results-dir", dir, "--cpu",
                        "client=\(cpus.first!),server=\(cpus.last!)",
                    ])
                try #require(result.status == 0, "\(result.stderr)")
            }
            let files = try resultsFiles(in: dir)
            try #require(files.count == 2)
            return (files[0], files[1])
        }

        @Test(
            "A/A: two real runs of the same build compare without a regression, in every format",
            .disabled(
                if: sanitized,
                "speed under a sanitizer is uneven"))
        func aa() throws {
            // This VM flips between modes 2.5 × apart for seconds at a time (docs/benchmarks.md), so the
            // A/A gate here allows such a flip, and one pair of runs that straddles a longer upset
            // (a busy neighbour) is measured again once; the statistics tests prove the decisions.
            let effects = ["--min-effect", "latency=150%,throughput=150%,cpu=150%", "--on-inconclusive", "warn"]
            var dir = try temporaryDirectory()
            var (a, b) = try Self.twoRuns(in: dir)
            if try BinaryProcess.run(["compare", a, b] + effects).status != 0 {
                try? FileManager.default.removeItem(atPath: dir)
                dir = try temporaryDirectory()
                (a, b) = try Self.twoRuns(in: dir)
            }
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let table = try BinaryProcess.run(["compare", a, b] + effects)
            #expect(table.status == 0, "\(table.stdout)\(table.stderr)")
            #expect(table.stdout.contains("2 cases compared: 0 regressed"))
            let markdown = try BinaryProcess.run(["compare", a, b, "--format", "markdown"] + effects)
            #expect(
                markdown.stdout.contains("## podbench compare: ✅ No regression")
                    || markdown.stdout.contains("## podbench compare: ⚠️ No regression found, but"))
            let junit = dir + "/junit.xml"
            #expect(
                try BinaryProcess.run(["compare", a, b, "--format", "junit", "--output", junit] + effects).status == 0)
            let xml = try String(contentsOfFile: junit, encoding: .utf8)
            #expect(xml.contains("<testsuites") && !xml.contains("<failure"))
            let json = try BinaryProcess.run(["compare", a, b, "--format", "json"] + effects)
            struct Verdicts: Decodable {
                struct Case: Decodable { var metrics: [Metric] }
                struct Metric: Decodable { var verdict: String }
                var cases: [Case]
            }
            let verdicts = try JSONDecoder().decode(Verdicts.self, from: Data(json.stdout.utf8))
            #expect(verdicts.cases.count == 2)
            #expect(verdicts.cases.flatMap(\.metrics).allSatisfy { $0.verdict != "regressed" })
        }

        @Test(
            "ab: a server slowed by a test delay is flagged in every round's pairs; the binary against itself is not",
            .disabled(
                if: sanitized,
                "speed under a sanitizer is uneven"))
        func ab() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let cpus = CPUPinning.allowedCPUs()
            let run = [
                "--", "--transports", "uds", "--workloads", "pingpong", "--sizes", "64", "--trials", "3", "--duration",
                "30ms", "--warmup", "10ms", "--no-calibrate", "--cpu", "client=\(cpus.first!),server=\(cpus.last!)",
            ]
            // 5 ms of busy wait (wall time) before each echo. Far more than a uds round trip on an idle
            // machine (20 to 60 µs), and still more than the scheduler's delays when the unit tests
            // that run beside this one spin on both cores: a waking thread waits at most a few
            // milliseconds then (a slice), so B stays at least twice A. 300 µs was drowned by them
            // in 2 of about 10 runs on 2026-12-03 (A's p50 near B's: undecided, honestly). Trials of 100 ms
            // hold 20 or more of B's round trips.
            let slowedRun = run.map { $0 == "30ms" ? "100ms" : $0 }
            let slowed = try BinaryProcess.run(
                [
                    "ab", "--b-env", "PODBENCH_TEST_SERVER_DELAY_NS=5000000", "--max-rounds", "10", "--seed", "7",
                    "--results-dir", dir + "/slow", "--format", "json", "--min-effect", "latency=50%,throughput=50%",
                ] + slowedRun, timeout: 600)
            #expect(slowed.status == 1, "\(slowed.stderr)")
            struct Verdicts: Decodable {
                struct Case: Decodable { var metrics: [Metric] }
                struct Metric: Decodable {
                    var metric: String
                    var verdict: String
                    var ratio: Double
                }
                var cases: [Case]
                var rounds: Int?
            }
            let verdicts = try JSONDecoder().decode(Verdicts.self, from: Data(slowed.stdout.utf8))
            let p50 = try #require(verdicts.cases.first?.metrics.first { $0.metric == "p50" })
            #expect(p50.verdict == "regressed" && p50.ratio > 2, "\(p50)")
            #expect((verdicts.rounds ?? 0) >= 6)
            #expect(slowed.stderr.contains("order seed 7"))
            // The slowed side's files say so; A's do not.
            let b = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/slow/round-01-b").first))
            let a = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/slow/round-01-a").first))
            #expect(
                b.settings.injectedServerDelayNanoseconds == 5_000_000
                    && a.settings.injectedServerDelayNanoseconds == nil
            )
            let same = try BinaryProcess.run(
                [
                    "ab", "--max-rounds", "8", "--results-dir", dir + "/aa", "--on-inconclusive", "warn",
                    "--a", "--verify all", "--b", "--verify all",
                    "--min-effect", "latency=150%,throughput=150%,cpu=150%",
                ] + run, timeout: 600)
            #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
            #expect(same.stdout.contains("Interleaved A/B: "), "\(same.stdout)")
            // Options given win over ab's round defaults; without them a run is one trial of 250 ms
            // after a 100 ms warm-up.
            let given = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/aa/round-01-a").first))
            #expect(given.settings.trials == 3 && given.settings.trialSeconds == 0.03, "\(given.settings)")
            let short = try BinaryProcess.run(
                [
                    "ab", "--max-rounds", "8", "--results-dir", dir + "/short", "--on-inconclusive", "pass",
                    "--min-effect", "latency=150%,throughput=150%,cpu=150%", "--", "--transports", "uds",
                    "--workloads", "pingpong", "--sizes", "64", "--cpu", "client=\(cpus.first!),server=\(cpus.last!)",
                ], timeout: 600)
            #expect(short.status == 0, "\(short.stdout)\(short.stderr)")
            let round = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/short/round-01-b").first))
            #expect(
                round.settings.trials == 1 && round.settings.trialSeconds == 0.25
                    && round.settings.warmupSeconds == 0.1, "\(round.settings)")
        }

        @Test("Ctrl-C during ab: the run in progress writes its finished cases, ab exits 130 naming the folder")
        func abInterrupted() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let ab = try BinaryProcess(
                [
                    "ab", "--max-rounds", "7", "--results-dir", dir, "--", "--transports", "tcp", "--workloads",
                    "pingpong", "--sizes", "64,128", "--trials", "2", "--duration", "1s", "--no-calibrate",
                ])
            // Once the first run has a finished case, whatever the machine's speed.
            var journal = false
            let deadline = Date().addingTimeInterval(120)
            while !journal && ab.isRunning && Date() < deadline {
                let rounds = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
                journal = rounds.contains { waitForFinishedCases(in: dir + "/" + $0, 1, timeout: 0.05) }
            }
            #expect(journal)
            ab.signal(SIGINT)
            #expect(ab.wait(timeout: 60) == 130, "\(ab.stderr)")
            #expect(ab.stderr.contains("interrupted in round 1") && ab.stderr.contains(dir), "\(ab.stderr)")
            let round = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).sorted().first)
            let partial = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/" + round).first))
            #expect(partial.complete == false && partial.cases.count >= 1)
        }

        @Test("baseline save, list, show, and compare against the name; a regression exits 1")
        func baselines() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (a, b) = try Self.twoRuns(in: dir)
            let store = ["--baselines-dir", dir + "/baselines"]
            #expect(try BinaryProcess.run(["baseline", "save", "node-a", a] + store).status == 0)
            #expect(try BinaryProcess.run(["baseline", "save", "node-a", a] + store).status == 2)  // exists
            #expect(try BinaryProcess.run(["baseline", "save", "node-a", a, "--force"] + store).status == 0)
            let list = try BinaryProcess.run(["baseline", "list"] + store)
            #expect(list.stdout.contains("node-a") && list.stdout.contains("2 cases"))
            let show = try BinaryProcess.run(["baseline", "show", "node-a"] + store)
            #expect(show.status == 0 && show.stdout.contains("uds"))
            // A doctored copy of the run, 10 times slower in every trial, regresses against the
            // baseline: far beyond the trial spread of a run under a sanitizer (the gate's
            // sensitivity to small shifts is tested on synthetic trials in ComparatorTests). Its
            // latency summaries must agree with their histograms, so only throughput is doctored.
            var run = try ResultsStore.load(a)
            for c in run.cases.indices {
                for t in run.cases[c].trials.indices {
                    run.cases[c].trials[t].messagesPerSecond *= 0.1
                    run.cases[c].trials[t].bytesPerSecond *= 0.1
                }
            }
            // A case error that tries to start a line of its own (a GitHub Actions command) stays
            // on its row when the baseline is shown.
            var evil = try ResultsStore.load(a)
            evil.cases[0].status = .failed
            evil.cases[0].error = "x\n::error::forged\u{1B}[2J"
            let evilPath = dir + "/evil.json"
            try JSONEncoder().encode(evil).write(to: URL(fileURLWithPath: evilPath))
            #expect(try BinaryProcess.run(["baseline", "save", "evil", evilPath] + store).status == 0)
            let shown = try BinaryProcess.run(["baseline", "show", "evil"] + store)
            #expect(shown.status == 0 && shown.stdout.contains("forged"), "\(shown.stdout)")
            #expect(
                !shown.stdout.split(separator: "\n").contains { $0.hasPrefix("::") } && !shown.stdout.contains("\u{1B}")
            )
            let slower = dir + "/slower.json"
            try JSONEncoder().encode(run).write(to: URL(fileURLWithPath: slower))
            let result = try BinaryProcess.run(["compare", "node-a", slower] + store)
            #expect(result.status == 1, "\(result.stdout)")
            #expect(result.stdout.contains("regressed"))
            #expect(result.stdout.contains("One baseline run: run-to-run spread unknown"), "\(result.stdout)")
            // A second run makes runs the unit: the output says so, and list counts the runs.
            let added = try BinaryProcess.run(["baseline", "add", "node-a", b] + store)
            #expect(added.status == 0 && added.stdout.contains("2 in all"), "\(added.stdout)\(added.stderr)")
            #expect(try BinaryProcess.run(["baseline", "list"] + store).stdout.contains("node-a  2 runs"))
            let runs = try BinaryProcess.run(["compare", "node-a", slower, "--format", "json"] + store)
            // Two runs and one: t with one degree of freedom, at α shared over every case and metric
            // (t in the hundreds), decides only if the two runs agree closely; so regressed or
            // undecided. The decisions themselves are tested on synthetic runs (RunsComparisonTests).
            #expect(runs.status == 1 || runs.status == 4, "\(runs.stdout)")
            #expect(runs.stdout.contains("\"baselineRuns\" : 2"), "\(runs.stdout.prefix(400))")
            #expect(try BinaryProcess.run(["baseline", "add", "nobody", b] + store).status == 2)
        }

        /// #20: an output that cannot be written was the regression code (1); it is bad input (2) in
        /// `compare` and in `report`, with the path and what to do.
        @Test("an output that cannot be written exits 2, naming it, in compare and in report")
        func unwritableOutput() throws {
            let example = try #require(try resultsFiles(in: packageRoot + "/results/example").first)
            let compare = try BinaryProcess.run([
                "compare", example, example, "--output", "/nonexistent-podbench/compare.md",
            ])
            #expect(compare.status == 2, "\(compare.stderr)")
            #expect(
                compare.stderr.contains("cannot write --output /nonexistent-podbench/compare.md"), "\(compare.stderr)")
            let report = try BinaryProcess.run(["report", example, "--out", "/proc/podbench-report"])
            #expect(report.status == 2, "\(report.stderr)")
            #expect(report.stderr.contains("cannot write the report into /proc/podbench-report"), "\(report.stderr)")
        }

        @Test(
            "bad input exits 2 with a message naming the file and the problem",
            arguments: [
                ("", "is empty"), ("{", "not valid JSON"), ("[]", "not a podbench results file"),
                ("{\"schemaVersion\": 2}", "schema 2"), ("{\"schemaVersion\": 1, \"cases\": []}", "missing"),
            ])
        func badFiles(content: String, expected: String) throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let good = try Self.twoRuns(in: dir).0
            let bad = dir + "/bad.json"
            try content.write(toFile: bad, atomically: true, encoding: .utf8)
            for arguments in [[bad, good], [good, bad]] {
                let result = try BinaryProcess.run(["compare"] + arguments)
                #expect(result.status == 2)
                #expect(result.stderr.contains(bad) && result.stderr.contains(expected), "\(result.stderr)")
                #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Stack"))
            }
        }

        @Test("a missing baseline, a truncated file and runs with nothing in common exit 2")
        func otherBadInput() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (a, b) = try Self.twoRuns(in: dir)
            let missing = try BinaryProcess.run(["compare", "no-such-baseline", b, "--baselines-dir", dir + "/none"])
            #expect(
                missing.status == 2
                    && missing.stderr.contains("'no-such-baseline' is neither a results file nor a baseline"))
            let data = try Data(contentsOf: URL(fileURLWithPath: a))
            let truncated = dir + "/truncated.json"
            try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: truncated))
            #expect(try BinaryProcess.run(["compare", truncated, b]).status == 2)
            var other = try ResultsStore.load(b)
            for i in other.cases.indices { other.cases[i].key.transport = .tcp6 }
            let otherPath = dir + "/other.json"
            try JSONEncoder().encode(other).write(to: URL(fileURLWithPath: otherPath))
            let disjoint = try BinaryProcess.run(["compare", a, otherPath])
            #expect(disjoint.status == 2 && disjoint.stderr.contains("no case in common"))
            #expect(try BinaryProcess.run(["compare", a, b, "--format", "pdf"]).status == 2)
            #expect(try BinaryProcess.run(["compare", a, b, "--min-effect", "p50=lots"]).status == 2)
            #expect(try BinaryProcess.run(["compare", a, b, "--on-inconclusive", "sometimes"]).status == 2)
        }

        @Test("different environments exit 3 unless --allow-env-mismatch")
        func environment() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let (a, _) = try Self.twoRuns(in: dir)
            // The same figures under another kernel: only the environment differs, so the exit
            // status cannot depend on this VM's speed changing between two runs (it flips ×3).
            var run = try ResultsStore.load(a)
            run.environment.client.kernelRelease = "9.9.9-other"
            let other = dir + "/other-kernel.json"
            try JSONEncoder().encode(run).write(to: URL(fileURLWithPath: other))
            let result = try BinaryProcess.run([
                "compare", a, other, "--min-effect", "latency=150%,throughput=150%,cpu=150%",
            ])
            #expect(result.status == 3)
            #expect(result.stdout.contains("environment differs: kernel"))
            #expect(result.stderr.contains("--allow-env-mismatch"))
            // Allowed, the environment no longer decides; the figures still do, and three trials
            // of identical figures can have a p99 spread no δ covers (seen: [0.20, 4.96] at CI),
            // so undecided metrics are let through here: this test is about the environment.
            let allowed = try BinaryProcess.run([
                "compare", a, other, "--allow-env-mismatch", "--min-effect", "latency=150%,throughput=150%,cpu=150%",
                "--on-inconclusive", "warn",
            ])
            #expect(allowed.status == 0, "\(allowed.stdout)")
            // Allowed is not hidden: the difference is still printed.
            #expect(allowed.stdout.contains("environment differs: kernel"), "\(allowed.stdout)")
            // The same run with half its cases lost and marked unfinished: undecided, exit 4.
            run = try ResultsStore.load(a)
            run.cases.removeLast()
            run.complete = false
            run.incompleteReason = "interrupted"
            let partial = dir + "/partial.json"
            try JSONEncoder().encode(run).write(to: URL(fileURLWithPath: partial))
            let undecided = try BinaryProcess.run(["compare", a, partial, "--format", "markdown"])
            #expect(undecided.status == 4, "\(undecided.stdout)")
            #expect(
                undecided.stdout.contains("❓ Undecided") && undecided.stdout.contains("missing from the current run"))
            #expect(undecided.stderr.contains("--allow-missing"))
        }
    }
}
