import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchReport
import PodBenchResults

extension PodBench {
    /// `podbench compare`: the regression gate.
    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide, case by case and metric by metric, whether CURRENT is worse than BASELINE beyond noise.",
            discussion: """
                BASELINE and CURRENT are results files or baseline names (results/baselines/NAME.json). Cases are \
                matched by key; cases in one run only are listed, never dropped. For each metric (p50, p99, p99.9, \
                msg/s, bytes/s, CPU per message on each side) the trials of each run give the Hodges–Lehmann \
                estimate of the ratio current/baseline and its Mann–Whitney confidence interval; a metric regressed \
                only when the whole interval lies beyond the minimum effect δ (5% for p50 and throughput, 10% for \
                tails and CPU, raised to the baseline's own trial spread when that is larger), and unchanged only \
                when the whole (1 − 2α) interval lies within ±δ (equivalence). Anything else is undecided, and so \
                is a case of the baseline missing from the current run, or a current run that did not finish.

                Exit codes: 0 no regression and every case decided (improvements never fail); 1 a regression; \
                2 a usage or input error (unreadable or invalid file, no case in common); 3 the environments differ \
                (kernel, CPU, architecture, cgroup limits, isolation, pinning, trial length, verification, podbench \
                version) and --allow-env-mismatch was not given; 4 nothing regressed but something was undecided \
                (see --on-inconclusive and --allow-missing). See docs/ci.md.
                """)

        @Argument(help: "The baseline: a results file or a baseline name.")
        var baseline: String

        @Argument(help: "The current run: a results file or a baseline name.")
        var current: String

        @Option(
            help: "Output: table (terminal), markdown ($GITHUB_STEP_SUMMARY, PR comments), json (verdict file), junit.")
        var format = "table"

        @Option(help: "Write the output to this file instead of stdout.")
        var output: String?

        @Option(
            help:
                "Minimum effects, e.g. p50=3%,tails=15%,throughput=5%,cpu=20% (metrics: latency, tails, throughput, cpu, p50, p99, p99.9, msg/s, bytes/s)."
        )
        var minEffect: String?

        @Option(help: "Confidence of the intervals (0.8 to 0.999).")
        var confidence = 0.95

        @Option(
            help:
                "The metrics to judge, e.g. p50,throughput,cpu (names and groups as --min-effect; default: all)."
        )
        var metrics: String?

        @Flag(help: "Compare even when the environments differ (the differences are still reported).")
        var allowEnvMismatch = false

        @Option(
            help: ArgumentHelp(
                "What an undecided metric does to the exit code: fail (exit 4), warn (shown, exit 0), pass.",
                discussion:
                    "Undecided metrics are shown as undecided in every format whatever this says; fail is the default so that the gate never passes what it could not judge."
            ))
        var onInconclusive = "fail"

        @Flag(
            help:
                "Cases of the baseline missing from the current run, an unfinished current run, and cases that failed in the baseline do not fail the gate (they are still listed)."
        )
        var allowMissing = false

        @Flag(help: "List unchanged metrics too (table format).")
        var all = false

        @Option(help: "Where baselines are stored.")
        var baselinesDir = "results/baselines"

        func validate() throws {
            guard ["table", "markdown", "json", "junit"].contains(format) else {
                throw ValidationError("--format: '\(format)' is not one of table, markdown, json, junit")
            }
            guard InconclusivePolicy(rawValue: onInconclusive) != nil else {
                throw ValidationError("--on-inconclusive: '\(onInconclusive)' is not one of fail, warn, pass")
            }
            guard confidence >= 0.8, confidence <= 0.999 else {
                throw ValidationError("--confidence must be between 0.8 and 0.999")
            }
            do {
                if let minEffect { _ = try ComparedMetric.parseMinimumEffects(minEffect) }
                if let metrics { _ = try ComparedMetric.parseList(metrics) }
            } catch let e as PodBenchError {
                throw ValidationError(e.message)
            }
        }

        func run() async throws {
            let store = BaselineStore(directory: baselinesDir)
            let (baselineName, baselineRun) = try store.load(baseline)
            let (currentName, currentRun) = try store.load(current)
            for (name, run) in [(baselineName, baselineRun), (currentName, currentRun)] where !run.complete {
                FileHandle.standardError.write(
                    Data(
                        TextEscaping.terminal(
                            "podbench: note: \(name) is an incomplete run: \(run.incompleteReason ?? "it did not finish")"
                        )
                        .utf8 + [0x0A]))
            }
            let policy = GatePolicy(
                allowEnvironmentMismatch: allowEnvMismatch,
                onInconclusive: InconclusivePolicy(rawValue: onInconclusive) ?? .fail, allowMissing: allowMissing)
            let comparator = Comparator(
                confidence: confidence, minimumEffects: try minEffect.map(ComparedMetric.parseMinimumEffects) ?? [:],
                metrics: try metrics.map(ComparedMetric.parseList) ?? ComparedMetric.allCases)
            let report = try comparator.compare(
                baseline: baselineRun, current: currentRun, baselineName: baselineName, currentName: currentName)
            let text = try ComparisonRenderer.render(
                report, format: format, policy: policy, colour: output == nil && isatty(STDOUT_FILENO) == 1, all: all)
            if let output {
                try ResultsStore.writeAtomically(Data(text.utf8), to: output)
            } else {
                print(text, terminator: "")
            }
            let code = report.exitCode(policy)
            if code == 4 {
                FileHandle.standardError.write(
                    Data(
                        TextEscaping.terminal(
                            "podbench compare: undecided: \(report.undecided.joined(separator: "; ")) (exit 4: --on-inconclusive warn or --allow-missing to let them pass)"
                        ).utf8 + [0x0A]))
            }
            if code == 3 {
                FileHandle.standardError.write(
                    Data(
                        "podbench compare: the environments differ (\(report.environmentDifferences.map(\.property).joined(separator: ", "))): pass --allow-env-mismatch to gate anyway\n"
                            .utf8))
            }
            if code != 0 { throw ExitCode(code) }
        }
    }

    /// `podbench baseline`: named baselines.
    struct Baseline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep named baselines under results/baselines/ (commit them; compare against them).",
            subcommands: [Save.self, List.self, Show.self])

        struct Options: ParsableArguments {
            @Option(help: "Where baselines are stored.")
            var baselinesDir = "results/baselines"
        }

        struct Save: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Copy a run into results/baselines/NAME.json.")
            @Argument(help: "The baseline's name (letters, digits, '.', '_', '-').") var name: String
            @Argument(help: "The results file to keep.") var run: String
            @Flag(help: "Replace an existing baseline of that name.") var force = false
            @OptionGroup var options: Options

            func run() async throws {
                let path = try BaselineStore(directory: options.baselinesDir).save(
                    name: name, run: run, overwrite: force)
                print("saved \(run) as baseline \(name): \(path)")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "List the stored baselines.")
            @OptionGroup var options: Options

            func run() async throws {
                let store = BaselineStore(directory: options.baselinesDir)
                let names = store.names()
                if names.isEmpty { print("no baselines in \(options.baselinesDir)") }
                for name in names {
                    if let run = try? ResultsStore.load(store.path(of: name)) {
                        print(
                            TextEscaping.terminal(
                                "\(name)  \(run.startedAt)  \(run.environment.client.hostname)  \(run.cases.count) cases  kernel \(run.environment.client.kernelRelease)"
                            ))
                    } else {
                        print("\(name)  (unreadable: podbench baseline show \(name) says why)")
                    }
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print a baseline's cases as a table.")
            @Argument(help: "The baseline's name.") var name: String
            @OptionGroup var options: Options

            func run() async throws {
                let (_, run) = try BaselineStore(directory: options.baselinesDir).load(name)
                print(
                    TextEscaping.terminal(
                        "baseline \(name): \(run.startedAt), \(run.environment.client.hostname), podbench \(run.podbench.version)"
                    ))
                print(ResultsTable.render(run), terminator: "")
            }
        }
    }
}
