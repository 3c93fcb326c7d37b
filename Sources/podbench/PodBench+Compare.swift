import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
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
                2 a usage or input error (unreadable or invalid file, no case in common, an --output that cannot be \
                written); 3 the environments differ \
                (kernel, CPU, architecture, cgroup limits, isolation, pinning, trial length, verification, podbench \
                version) and --allow-env-mismatch was not given; 4 nothing regressed but something was undecided \
                (see --on-inconclusive and --allow-missing). See docs/ci.md.
                """)

        @Argument(help: "The baseline: a results file or a baseline name.")
        var baseline: String

        @Argument(
            help: ArgumentHelp(
                "The current run: a results file or a baseline name; or several results files, one per node (a fleet).",
                discussion:
                    "With several files each node's run is judged against the baseline as one would be, and the nodes' runs together (runs as the unit); the exit code is the worst of all of them (docs/ci.md, \"A fleet\")."
            ))
        var current: [String] = []

        @OptionGroup var gate: GateOptions

        @Flag(help: "Compare even when the environments differ (the differences are still reported).")
        var allowEnvMismatch = false

        @Flag(help: "List unchanged metrics too (table format).")
        var all = false

        @Option(help: "Where baselines are stored.")
        var baselinesDir = "results/baselines"

        func validate() throws {
            guard !current.isEmpty else {
                throw ValidationError(
                    "give the current run after the baseline: podbench compare BASELINE CURRENT (or several files, one per node)"
                )
            }
        }

        func run() async throws {
            let store = BaselineStore(directory: baselinesDir)
            let (baselineName, baselineRuns) = try store.load(baseline)
            if current.count > 1 {
                try await compareFleet(baselineName: baselineName, baselineRuns: baselineRuns)
                return
            }
            let (currentName, currentRuns) = try store.load(current[0])
            for (name, runs) in [(baselineName, baselineRuns), (currentName, currentRuns)] {
                for (index, run) in runs.enumerated() where !run.complete {
                    let which = runs.count > 1 ? "run \(index + 1) of \(name)" : name
                    FileHandle.standardError.write(
                        Data(
                            TextEscaping.terminal(
                                "podbench: note: \(which) is an incomplete run: \(run.incompleteReason ?? "it did not finish")"
                            )
                            .utf8 + [0x0A]))
                }
            }
            let policy = gate.policy(allowEnvironmentMismatch: allowEnvMismatch)
            let report = try gate.comparator(confidence: gate.confidence).compare(
                baselineRuns: baselineRuns, currentRuns: currentRuns, baselineName: baselineName,
                currentName: currentName)
            let code = try gate.write(report, policy: policy, all: all)
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

        /// Several current files: one per node.
        func compareFleet(baselineName: String, baselineRuns: [RunResult]) async throws {
            var nodes: [(name: String, run: RunResult)] = []
            var unreadable: [FleetComparison.Unreadable] = []
            var firstError: (any Error)?
            for path in current {
                // A node's file that cannot be read is named in the verdict (and exits 2); the other
                // nodes are still judged: one bad file must not hide the fleet's verdict.
                let run: RunResult
                do { run = try ResultsStore.load(path) } catch let error as PodBenchError {
                    // The reason quotes the file (any bytes, any length): cut for the outputs.
                    let reason = error.message.count > 300 ? error.message.prefix(300) + "…" : error.message
                    unreadable.append(.init(file: path, reason: reason))
                    firstError = firstError ?? error
                    continue
                }
                if !run.complete {
                    FileHandle.standardError.write(
                        Data(
                            TextEscaping.terminal(
                                "podbench: note: \(path) is an incomplete run: \(run.incompleteReason ?? "it did not finish")"
                            ).utf8 + [0x0A]))
                }
                nodes.append((path, run))
            }
            if nodes.isEmpty, let firstError { throw firstError }
            for u in unreadable {
                FileHandle.standardError.write(Data(TextEscaping.terminal("podbench: \(u.reason)").utf8 + [0x0A]))
            }
            let policy = gate.policy(allowEnvironmentMismatch: allowEnvMismatch)
            let fleet = try FleetComparison(
                comparator: try gate.comparator(confidence: gate.confidence), baselineRuns: baselineRuns,
                baselineName: baselineName, current: nodes, policy: policy, unreadable: unreadable)
            let text = try fleet.render(format: gate.format)
            if let output = gate.output {
                do { try ResultsStore.writeAtomically(Data(text.utf8), to: output) } catch {
                    throw PodBenchError(
                        .invalidConfiguration,
                        "cannot write --output \(output): \(error); give a file in a folder that exists and is writable"
                    )
                }
            } else {
                print(text, terminator: "")
            }
            if fleet.nodes.contains(where: { $0.outcome == GateOutcome.environmentMismatch.rawValue }) {
                let properties = Set(fleet.nodes.flatMap { $0.report.environmentDifferences.map(\.property) })
                FileHandle.standardError.write(
                    Data(
                        "podbench compare: node environments differ from the baseline's (\(properties.sorted().joined(separator: ", "))): pass --allow-env-mismatch to gate anyway\n"
                            .utf8))
            }
            if fleet.gateExitCode != 0 { throw ExitCode(fleet.gateExitCode) }
        }
    }

    /// `podbench baseline`: named baselines.
    struct Baseline: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep named baselines under results/baselines/ (commit them; compare against them).",
            subcommands: [Save.self, Add.self, List.self, Show.self])

        struct Options: ParsableArguments {
            @Option(help: "Where baselines are stored.")
            var baselinesDir = "results/baselines"
        }

        struct Save: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Keep one or more runs as the baseline NAME (results/baselines/NAME/run-NN.json).",
                discussion: """
                    Several runs of the same build let compare see how far this machine drifts between runs: \
                    against a baseline of two runs or more, runs are the unit of evidence (each run's median over \
                    its trials one value), so that drift is in the intervals instead of posing as a regression. \
                    With one run the spread between runs is unknown, and compare says so. Save three to five runs \
                    made at different times (or add them later with `baseline add`).
                    """)
            @Argument(help: "The baseline's name (letters, digits, '.', '_', '-').") var name: String
            @Argument(help: "The results files to keep (one or more).") var runs: [String]
            @Flag(help: "Replace an existing baseline of that name.") var force = false
            @OptionGroup var options: Options

            func run() async throws {
                let path = try BaselineStore(directory: options.baselinesDir).save(
                    name: name, runs: runs, overwrite: force)
                print(
                    TextEscaping.terminal(
                        "saved \(runs.count) run\(runs.count == 1 ? "" : "s") as baseline \(name): \(path)"))
            }
        }

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Add runs to the baseline NAME (each becomes its next run-NN.json).")
            @Argument(help: "The baseline's name.") var name: String
            @Argument(help: "The results files to add (one or more).") var runs: [String]
            @OptionGroup var options: Options

            func run() async throws {
                let store = BaselineStore(directory: options.baselinesDir)
                let written = try store.add(name: name, runs: runs)
                let total = store.files(of: name).count
                print(
                    TextEscaping.terminal(
                        "added \(written.count) run\(written.count == 1 ? "" : "s") to baseline \(name): \(total) in all (\(written.joined(separator: ", ")))"
                    ))
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
                    let files = store.files(of: name)
                    if let first = files.first, let run = try? ResultsStore.load(first) {
                        print(
                            TextEscaping.terminal(
                                "\(name)  \(files.count) run\(files.count == 1 ? "" : "s")  \(run.startedAt)  \(run.environment.client.hostname)  \(run.cases.count) cases  kernel \(run.environment.client.kernelRelease)"
                            ))
                    } else {
                        print(TextEscaping.terminal("\(name)  (unreadable: podbench baseline show \(name) says why)"))
                    }
                }
            }
        }

        struct Show: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Print a baseline's cases as a table.")
            @Argument(help: "The baseline's name.") var name: String
            @OptionGroup var options: Options

            func run() async throws {
                let (_, runs) = try BaselineStore(directory: options.baselinesDir).load(name)
                for (index, run) in runs.enumerated() {
                    let which = runs.count > 1 ? " run \(index + 1) of \(runs.count)" : ""
                    print(
                        TextEscaping.terminal(
                            "baseline \(name)\(which): \(run.startedAt), \(run.environment.client.hostname), podbench \(run.podbench.version)"
                        ))
                    print(ResultsTable.render(run), terminator: "")
                }
            }
        }
    }
}
