import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchReport
import PodBenchResults

extension PodBench {
    /// `podbench report`: charts and a report from results files.
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write charts (SVG + CSV), report.md and index.html from one or more results files.",
            discussion: """
                The charts are drawn by podbench itself: latency percentiles and throughput against message \
                size per transport, CPU per message on each side, the latency percentile spectrum, and with \
                several files (nodes, kernels, runtimes, isolation modes) the spread per transport. index.html \
                needs no network to view. Exit codes: 0 written; 2 a bad or unreadable results file or option, or \
                an --out folder that cannot be made or written (a full disk too: no file is left half-written \
                under its final name).
                """)

        @Argument(help: "Results files (JSON, as `run` and `client` write them).")
        var results: [String] = []

        @Option(help: "The directory to write the report into (made if missing).")
        var out: String

        @Option(help: "A latency objective for the capacity table, e.g. p99=200us (p50, p99, p99.9).")
        var slo: String?

        func validate() throws {
            if let slo {
                do { _ = try CapacityPlanner.Objective(parsing: slo) } catch let e as PodBenchError {
                    throw ValidationError(e.message)
                }
            }
            guard !results.isEmpty else {
                throw ValidationError(
                    "give at least one results file, e.g. podbench report results/runs/*.json --out plots")
            }
        }

        func run() async throws {
            var inputs: [ReportBuilder.Input] = []
            var labels: Set<String> = []
            for path in results {
                let run = try ResultsStore.load(path)
                if !run.complete {
                    FileHandle.standardError.write(
                        Data(
                            (TextEscaping.terminal(
                                "podbench: note: \(path) is an incomplete run: \(run.incompleteReason ?? "it did not finish")"
                            )
                                + "\n").utf8))
                }
                var label = (path as NSString).lastPathComponent.replacingOccurrences(of: ".json", with: "")
                if labels.contains(label) { label += "-\(inputs.count + 1)" }
                labels.insert(label)
                inputs.append(ReportBuilder.Input(label: label, path: path, run: run))
            }
            let written: [String]
            do {
                written = try ReportBuilder(
                    inputs: inputs, objective: try slo.map { try CapacityPlanner.Objective(parsing: $0) }
                ).write(to: out)
            } catch let error as PodBenchError where error.code != .ioFailure {
                throw error
            } catch {
                // An output that cannot be written is bad input (2), as in every subcommand.
                throw PodBenchError(
                    .invalidConfiguration,
                    "cannot write the report into \(out): \(error); give --out a folder that can be made and written")
            }
            FileHandle.standardError.write(
                Data(
                    "podbench: report written: \(out)/index.html, \(out)/report.md and \(written.count - 2) chart files\n"
                        .utf8))
        }
    }
}
