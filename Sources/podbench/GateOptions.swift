import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchReport
import PodBenchResults

/// The options `compare` and `ab` share: how a comparison is judged and written.
struct GateOptions: ParsableArguments {
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

    @Option(
        help:
            "The metrics to judge, e.g. p50,throughput,cpu (names and groups as --min-effect; default: all in compare; in ab all but the tails, which a 250 ms round holds too few messages to pin)."
    )
    var metrics: String?

    @Option(help: "Confidence of the verdicts (0.8 to 0.999; in `ab`, over all its looks).")
    var confidence = 0.95

    @Option(
        help: ArgumentHelp(
            "What an undecided metric does to the exit code: fail (exit 4), warn (shown, exit 0), pass.",
            discussion:
                "Undecided metrics are shown as undecided in every format whatever this says; fail is the default so that the gate never passes what it could not judge."
        ))
    var onInconclusive = "fail"

    @Flag(
        help:
            "Cases missing from the current run (or from a round), an unfinished run, and cases that failed in the baseline (or in A) do not fail the gate (they are still listed)."
    )
    var allowMissing = false

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
            _ = try comparator(confidence: confidence)
        } catch let e as PodBenchError {
            throw ValidationError(e.message)
        }
    }

    /// A comparator with these minimum effects and metrics, at `confidence` (`ab` passes the
    /// confidence of one look).
    func comparator(confidence: Double, defaultMetrics: [ComparedMetric] = ComparedMetric.allCases) throws
        -> PodBenchReport.Comparator
    {
        PodBenchReport.Comparator(
            confidence: confidence, minimumEffects: try minEffect.map(ComparedMetric.parseMinimumEffects) ?? [:],
            metrics: try metrics.map(ComparedMetric.parseList) ?? defaultMetrics)
    }

    func policy(allowEnvironmentMismatch: Bool) -> GatePolicy {
        GatePolicy(
            allowEnvironmentMismatch: allowEnvironmentMismatch,
            onInconclusive: InconclusivePolicy(rawValue: onInconclusive) ?? .fail, allowMissing: allowMissing)
    }

    /// Writes `report` in `--format` to `--output` or stdout; returns the gate's exit code.
    func write(_ report: ComparisonReport, policy: GatePolicy, all: Bool) throws -> Int32 {
        let text = try ComparisonRenderer.render(
            report, format: format, policy: policy, colour: output == nil && isatty(STDOUT_FILENO) == 1, all: all)
        if let output {
            // Not the regression code: an output that cannot be written is bad input (2), as in
            // every subcommand.
            do { try ResultsStore.writeAtomically(Data(text.utf8), to: output) } catch {
                throw PodBenchError(
                    .invalidConfiguration,
                    "cannot write --output \(output): \(error); give a file in a folder that exists and is writable")
            }
        } else {
            print(text, terminator: "")
        }
        return report.exitCode(policy)
    }
}
