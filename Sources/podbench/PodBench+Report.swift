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
                needs no network to view. Data for other tools: cases.csv (a row per case: medians and range \
                across trials), trials.csv (a row per trial), capacity.csv (rate cases), each chart's CSV, and \
                histograms/*.hgrm (HdrHistogram's percentile distribution of each case, in microseconds); \
                every column names its unit (docs/report.md). Exit codes: 0 written; 2 a bad or unreadable results file or option, or \
                an --out folder that cannot be made or written (a full disk too: no file is left half-written \
                under its final name), or one that holds other files (without --force). Rewriting a folder \
                an earlier report wrote removes that report's files this one does not write (listed in \
                .podbench-report), so a folder never mixes two reports.
                """)

        @Argument(help: "Results files (JSON, as `run` and `client` write them).")
        var results: [String] = []

        @Option(help: "The directory to write the report into (made if missing).")
        var out: String

        @Flag(
            help:
                "Write into an --out folder that holds files no podbench report wrote: none of them is removed, but one named as a report file (index.html, report.md, a .csv or .svg of the report's) is replaced. Without it such a folder is refused; a folder an earlier report wrote is rewritten, its files this report does not write removed."
        )
        var force = false

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
            let runs = try ResultsStore.loadAll(results)
            for ((path, label), run) in zip(zip(results, ReportBuilder.labels(forPaths: results)), runs) {
                if !run.complete {
                    FileHandle.standardError.write(
                        Data(
                            (TextEscaping.terminal(
                                "podbench: note: \(path) is an incomplete run: \(run.incompleteReason ?? "it did not finish")"
                            )
                                + "\n").utf8))
                }
                inputs.append(ReportBuilder.Input(label: label, path: path, run: run))
            }
            let written: [String]
            do {
                written = try ReportBuilder(
                    inputs: inputs, objective: try slo.map { try CapacityPlanner.Objective(parsing: $0) }
                ).write(to: out, force: force)
            } catch let error as PodBenchError where error.code != .ioFailure {
                throw error
            } catch {
                // An output that cannot be written is bad input (2), as in every subcommand.
                throw PodBenchError(
                    .invalidConfiguration,
                    "cannot write the report into \(out): \(error); give --out a folder that can be made and written")
            }
            let charts = written.filter { $0.hasSuffix(".svg") }.count
            let histograms = written.filter { $0.hasSuffix(".hgrm") }.count
            let tables = written.filter {
                ["cases.csv", "trials.csv", "capacity.csv"].contains(($0 as NSString).lastPathComponent)
            }
            .map { ($0 as NSString).lastPathComponent }
            FileHandle.standardError.write(
                Data(
                    (TextEscaping.terminal(
                        "podbench: report written: \(out)/index.html, \(out)/report.md, \(charts) charts (SVG and CSV), \(tables.joined(separator: ", ")) and \(histograms) HdrHistogram percentile files in \(out)/\(ReportBuilder.histogramFolder)"
                    ) + "\n").utf8))
        }
    }
}
