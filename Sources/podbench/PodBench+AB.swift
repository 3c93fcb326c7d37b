import ArgumentParser
import Foundation
import Glibc
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchReport
import PodBenchResults

extension PodBench {
    /// `podbench ab`: interleaved A/B rounds on one machine, decided from paired ratios.
    struct AB: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ab",
            abstract: "Run A and B in interleaved rounds on this machine and decide, case by case, whether B is worse.",
            discussion: """
                A and B are two podbench binaries (--a-bin, --b-bin: e.g. the main branch's build and a pull \
                request's) or one binary with two option sets (--a, --b: e.g. --b "--shm-wait futex"). Each round \
                runs `podbench run` once for each, in an order drawn at random, with the options after -- on both \
                (each run is one trial of 250 ms after a 100 ms warm-up unless the options of either side say \
                otherwise, and uncalibrated: a paired ratio needs no floors; many short rounds decide sooner than \
                a few long ones); \
                a round is one paired observation per case and metric (B's run median over A's), so the machine's \
                drift between rounds cancels within each pair. Verdicts come from the Wilcoxon signed-rank interval \
                of the per-round ratios, with the rules of `compare` (regressed or improved beyond δ, unchanged only \
                by equivalence). It looks at the rounds on a fixed schedule (the confidence of each look corrected \
                for the number of looks), stops once every case is decided, or when --budget or --max-rounds runs \
                out, and then says which cases stay undecided and about how many rounds would decide them.

                Exit codes as `compare`: 0 no regression and every case decided; 1 a regression; 2 bad input or a \
                run that gave no results file; 4 undecided (see --on-inconclusive, --allow-missing). Each round's \
                results files stay in --results-dir. See docs/ci.md.
                """)

        @Option(help: "A's podbench binary (default: this one).")
        var aBin: String?

        @Option(help: "B's podbench binary (default: this one).")
        var bBin: String?

        @Option(
            parsing: .unconditional, help: "`run` options for A's runs only, as one string (e.g. \"--shm-wait spin\").")
        var a = ""

        @Option(parsing: .unconditional, help: "`run` options for B's runs only, as one string.")
        var b = ""

        @Option(help: "An environment variable for A's runs only, NAME=VALUE (repeatable).")
        var aEnv: [String] = []

        @Option(help: "An environment variable for B's runs only, NAME=VALUE (repeatable).")
        var bEnv: [String] = []

        @Option(help: "Stop starting rounds once this much time has passed (e.g. 10m, 90s).")
        var budget = "10m"

        @Option(help: "Stop after this many rounds.")
        var maxRounds = 200

        @Option(help: "Seed of the order of A and B in each round (default: drawn; printed, to repeat a run).")
        var seed: UInt64?

        @OptionGroup var gate: GateOptions

        @Option(help: "Where each round's results files go (round-NN-a/, round-NN-b/).")
        var resultsDir = "results/ab"

        @Argument(
            parsing: .postTerminator,
            help: "Options for `podbench run` on both sides, after -- (e.g. -- --transports tcp --sizes 64).")
        var runOptions: [String] = []

        func validate() throws {
            do {
                _ = try DurationText.parse(budget, option: "--budget")
            } catch let e as PodBenchError {
                throw ValidationError(e.message)
            }
            let first = LookSchedule(maxRounds: maxRounds, confidence: gate.confidence).first
            guard maxRounds >= first, maxRounds <= 500 else {
                throw ValidationError(
                    "--max-rounds: give between \(first) (the fewest rounds that can decide anything at \(gate.confidence) confidence) and 500"
                )
            }
            for option in runOptions + Self.split(a) + Self.split(b)
            where option == "--results-dir" || option.hasPrefix("--results-dir=") {
                throw ValidationError("--results-dir: give it to `ab` itself (each round's runs go below it)")
            }
            for pair in aEnv + bEnv where !pair.contains("=") || pair.hasPrefix("=") {
                throw ValidationError("--a-env/--b-env: '\(pair)' is not NAME=VALUE")
            }
            for bin in [aBin, bBin].compactMap({ $0 }) where !FileManager.default.isExecutableFile(atPath: bin) {
                throw ValidationError("--a-bin/--b-bin: \(bin) is not an executable file")
            }
        }

        /// What each run gets unless the options (of either side) say otherwise: one trial of
        /// 250 ms after a 100 ms warm-up; and no calibration (a paired ratio needs no floors). A round's pair cancels the drift between rounds, and
        /// that drift, not the noise within a run, is the largest noise on a VM: many short
        /// rounds decide sooner than a few long ones (docs/ci.md has the figures).
        static let roundDefaults: [(option: String, value: String?)] = [
            ("--trials", "1"), ("--duration", "250ms"), ("--warmup", "100ms"), ("--no-calibrate", nil),
        ]

        /// The round defaults not already given in `options`.
        static func defaults(besides options: [String]) -> [String] {
            roundDefaults.flatMap { option, value -> [String] in
                let given = options.contains { $0 == option || $0.hasPrefix(option + "=") }
                return given ? [] : [option] + (value.map { [$0] } ?? [])
            }
        }

        /// Options given as one string, split at spaces (no shell quoting: options are words).
        static func split(_ text: String) -> [String] { text.split(separator: " ").map(String.init) }

        enum Side: String { case a = "A", b = "B" }

        func run() async throws {
            let budgetNanoseconds = try DurationText.parse(budget, option: "--budget")
            let looks = LookSchedule(maxRounds: maxRounds, confidence: gate.confidence)
            let (schedule, perLook) = (looks.rounds, looks.perLook)
            let comparator = try gate.comparator(confidence: perLook, defaultMetrics: ComparedMetric.abDefaults)
            let orderSeed = seed ?? UInt64.random(in: 0...UInt64.max)
            var generator = SplitMix64(seed: orderSeed)
            let aBinary = aBin ?? BuildInfo.executablePath
            let bBinary = bBin ?? BuildInfo.executablePath
            let aName = (aBin ?? "this podbench") + (a.isEmpty ? "" : " " + a)
            let bName = (bBin ?? "this podbench") + (b.isEmpty ? "" : " " + b)
            MeasurementSession.progress(
                "podbench ab: A = \(aName), B = \(bName); up to \(maxRounds) rounds or \(budget), verdicts looked at after rounds \(schedule.map(String.init).joined(separator: ", ")) at \(Format.decimal(perLook * 100))% each; order seed \(orderSeed)"
            )
            // Ctrl-C (or SIGTERM to ab alone) goes to the run in progress, once a signal, so that it
            // writes its finished cases; between runs, to the next one as it starts. That run then
            // ends with 130 and ab stops, naming the rounds' folders.
            let forwarder = SignalForwarder()
            let watch = InterruptWatch { number, seen in
                MeasurementSession.progress(
                    seen == 1
                        ? "podbench ab: \(InterruptWatch.name(of: number)): stopping the run in progress (again to stop it at once)"
                        : "podbench ab: stopping the run in progress at once")
                forwarder.signal(SIGINT)
            }
            defer { watch.stop() }
            let started = MonotonicClock.now()
            var rounds: [(a: RunResult, b: RunResult)] = []
            var longestRound: UInt64 = 0
            var report: ComparisonReport?
            var stopped = "--max-rounds \(maxRounds) reached"
            for round in 1...maxRounds {
                let elapsed = MonotonicClock.now() &- started
                if round > 1, elapsed &+ longestRound > budgetNanoseconds {
                    stopped = "the budget of \(budget) ran out after \(round - 1) rounds"
                    break
                }
                let roundStart = MonotonicClock.now()
                let order: [Side] = generator.next() & 1 == 0 ? [.a, .b] : [.b, .a]
                var results: [Side: RunResult] = [:]
                for side in order {
                    results[side] = try await runOnce(
                        side: side, round: round, binary: side == .a ? aBinary : bBinary,
                        options: Self.split(side == .a ? a : b), environment: side == .a ? aEnv : bEnv,
                        forwarder: forwarder)
                }
                rounds.append((results[.a]!, results[.b]!))
                let took = MonotonicClock.now() &- roundStart
                longestRound = max(longestRound, took)
                MeasurementSession.progress(
                    "podbench ab: round \(round) (\(order.map(\.rawValue).joined(separator: " then "))) in \(Format.nanoseconds(Double(took)))"
                )
                if schedule.contains(round) {
                    let looked = try comparator.comparePaired(rounds: rounds, aName: aName, bName: bName)
                    report = looked
                    let open = looked.inconclusiveCases
                    MeasurementSession.progress(
                        "podbench ab: after \(round) rounds \(looked.cases.count - open) of \(looked.cases.count) cases decided"
                    )
                    if open == 0 {
                        stopped = "every case decided after \(round) rounds"
                        break
                    }
                }
            }
            guard !rounds.isEmpty else {
                throw PodBenchError(.interrupted, "no round finished within --budget \(budget)")
            }
            // The last look: at the rounds done, when the schedule's last look was earlier.
            if report?.rounds != rounds.count {
                report = try comparator.comparePaired(rounds: rounds, aName: aName, bName: bName)
            }
            guard var report else { return }
            report.notes.insert("Stopped: \(stopped); order seed \(orderSeed) (--seed repeats it).", at: 0)
            // A and B differ on purpose: their differences are notes, never a mismatch.
            let code = try gate.write(report, policy: gate.policy(allowEnvironmentMismatch: true), all: false)
            if code != 0 { throw ExitCode(code) }
        }

        /// One `podbench run` of one side; its results file, loaded.
        func runOnce(
            side: Side, round: Int, binary: String, options: [String], environment: [String],
            forwarder: SignalForwarder
        ) async throws -> RunResult {
            let directory = resultsDir + "/round-" + (round < 10 ? "0" : "") + "\(round)-" + side.rawValue.lowercased()
            try? FileManager.default.removeItem(atPath: directory)
            // The defaults both sides lack, so that A and B never differ by a default.
            let defaults = Self.defaults(besides: runOptions + Self.split(a) + Self.split(b))
            var env = ProcessInfo.processInfo.environment
            for pair in environment {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                env[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            let output: (status: Int32, standardOutput: String, standardError: String)
            do {
                output = try await ChildProcess.runCapturing(
                    executable: binary,
                    arguments: ["run"] + defaults + runOptions + options + ["--results-dir", directory],
                    environment: env, forwarder: forwarder)
            } catch let error as PodBenchError {
                throw PodBenchError(.invalidConfiguration, error.message)
            }
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
                $0.hasSuffix(".json")
            }.sorted()
            let status = output.status
            if status == 130 {
                throw PodBenchError(
                    .interrupted,
                    "interrupted in round \(round), side \(side.rawValue); every run's results file, that one's partial, is in \(resultsDir)"
                )
            }
            guard status == 0 || status == 1, let file = files.first else {
                let tail = String(output.standardError.suffix(2000))
                // Not exit 1: that is a regression's code. A side that cannot run is bad input (2).
                throw PodBenchError(
                    .incompatibleResults,
                    "round \(round), side \(side.rawValue): `\(binary) run` exited \(status) without a results file; the earlier rounds' files are in \(resultsDir). It said: \(tail)"
                )
            }
            return try ResultsStore.load(directory + "/" + file)
        }
    }
}
