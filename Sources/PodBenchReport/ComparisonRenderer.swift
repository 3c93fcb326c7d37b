import Foundation
import PodBenchCore
import PodBenchResults

/// Writes a comparison for people (terminal, Markdown) and machines (JSON, JUnit XML).
public enum ComparisonRenderer {
    /// `1.034 [0.998, 1.071]`.
    static func ratioText(_ m: MetricComparison) -> String {
        guard m.ratio.isFinite else { return "-" }
        let r = Format.fixed(m.ratio, digits: 3)
        guard let lo = m.ratioLower, let hi = m.ratioUpper else { return r + " [no interval]" }
        return r + " [" + Format.fixed(lo, digits: 3) + ", " + Format.fixed(hi, digits: 3) + "]"
    }

    static func value(_ metric: ComparedMetric, _ v: Double) -> String {
        switch metric {
        case .p50, .p99, .p999, .clientCPU, .serverCPU: Format.nanoseconds(v)
        case .messagesPerSecond: Format.rate(v)
        case .bytesPerSecond: Format.decimal(v / 1e6) + " MB/s"
        }
    }

    static func counts(_ report: ComparisonReport) -> [Verdict: Int] {
        var counts: [Verdict: Int] = [:]
        for c in report.cases { counts[c.verdict, default: 0] += 1 }
        return counts
    }

    static func summaryLine(_ report: ComparisonReport) -> String {
        let c = counts(report)
        return "\(report.cases.count) cases compared: \(c[.regressed] ?? 0) regressed, \(c[.improved] ?? 0) improved, "
            + "\(c[.unchanged] ?? 0) unchanged, \(c[.inconclusive] ?? 0) inconclusive"
    }

    /// `p50 ≥ 8%, msg/s ≥ 6%, …`: the smallest change each metric could have been called on
    /// (median over the cases), or nil when no metric had an interval.
    static func detectableLine(_ report: ComparisonReport) -> String? {
        let parts = ComparedMetric.allCases.compactMap { m in
            report.detectableChanges[m.rawValue].map { "\(m.rawValue) \(Format.decimal($0 * 100))%" }
        }
        guard !parts.isEmpty else { return nil }
        return "smallest change this comparison could call (median over cases): " + parts.joined(separator: ", ")
    }

    /// What the verdicts rest on, said wherever a verdict is given: one run per side cannot show
    /// how far the machine drifts between runs; interleaved rounds can.
    static func evidenceLine(_ report: ComparisonReport) -> String {
        guard let rounds = report.rounds else {
            let (k, j) = (report.baselineRuns ?? 1, report.currentRuns ?? 1)
            if k + j >= 3 {
                return
                    "Runs as the unit: \(k) baseline run\(k == 1 ? "" : "s") and \(j) current; each verdict rests on the runs' medians, so the drift between runs is in the intervals (Student's t, the spread pooled over the runs)."
            }
            return
                "One baseline run: run-to-run spread unknown. The intervals come from the trials of each run, which do not show how far this machine drifts between runs (on a VM, often more than within one), so a verdict here may be that drift: keep several runs in the baseline (podbench baseline add) or use podbench ab (docs/ci.md)."
        }
        return
            "Interleaved A/B: \(rounds) rounds, the order of A and B drawn at random in each; every verdict rests on \(rounds) paired ratios (B's run median over A's), so drift between rounds cancels within each pair (Wilcoxon signed-rank interval at \(Format.decimal(report.confidence * 100))% per look)."
    }

    /// The gate's decision in words.
    static func gateLine(_ report: ComparisonReport, _ policy: GatePolicy) -> String {
        switch report.outcome(policy) {
        case .passed: "gate: passed: no regression, every case decided"
        case .passedUndecided:
            "gate: passed, with undecided cases let through (--on-inconclusive \(policy.onInconclusive.rawValue)\(policy.allowMissing ? ", --allow-missing" : ""))"
        case .regressed: "gate: failed: \(report.regressions) case\(report.regressions == 1 ? "" : "s") regressed"
        case .undecided:
            "gate: failed: undecided (exit 4); --on-inconclusive warn lets undecided metrics pass, --allow-missing missing cases"
        case .environmentMismatch: "gate: failed: the environments differ (exit 3); --allow-env-mismatch to gate anyway"
        }
    }

    /// The terminal table: one row per case and metric, worst first; colour only when asked.
    public static func terminal(_ report: ComparisonReport, policy: GatePolicy, colour: Bool, all: Bool) -> String {
        let clean = TextEscaping.terminal
        func paint(_ verdict: Verdict) -> String {
            guard colour else { return verdict.rawValue }
            let code =
                switch verdict {
                case .regressed: "31"
                case .improved: "32"
                case .unchanged: "0"
                case .inconclusive: "33"
                }
            return "\u{1B}[\(code)m\(verdict.rawValue)\u{1B}[0m"
        }
        var rows: [[String]] = []
        for c in report.cases.sorted(by: { $0.verdict < $1.verdict }) {
            if let failure = c.failure {
                rows.append([clean(c.key.description), "case", "-", "-", clean(failure), "-", "regressed"])
                continue
            }
            for m in c.metrics.sorted(by: { $0.verdict < $1.verdict }) where all || m.verdict != .unchanged {
                rows.append([
                    clean(c.key.description), m.metric.rawValue, value(m.metric, m.baselineMedian),
                    value(m.metric, m.currentMedian),
                    ratioText(m), Format.decimal(m.minimumEffect * 100) + "%", m.verdict.rawValue,
                ])
            }
        }
        let headers = [
            "case", "metric", "baseline", "current", "ratio [\(Int(report.confidence * 100))% CI]", "δ", "verdict",
        ]
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String], verdictCell: String? = nil) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                if i == cells.count - 1, let verdictCell { return verdictCell }
                return i < 2 ? cell + pad : pad + cell
            }.joined(separator: "  ")
        }
        var out = "podbench compare: \(clean(report.baseline)) → \(clean(report.current))\n"
        for d in report.environmentDifferences {
            out += "environment differs: \(d.property): \(clean(d.baseline)) → \(clean(d.current))\n"
        }
        out += "\n" + line(headers) + "\n" + line(widths.map { String(repeating: "-", count: $0) }) + "\n"
        for row in rows { out += line(row, verdictCell: paint(Verdict(rawValue: row[6]) ?? .inconclusive)) + "\n" }
        if rows.isEmpty { out += "(every metric of every case unchanged; --all lists them)\n" }
        out += "\n" + summaryLine(report) + "\n"
        out +=
            "geometric mean ratio: "
            + ComparedMetric.allCases.compactMap { m in
                report.geometricMeans[m.rawValue].map { "\(m.rawValue) \(Format.fixed($0, digits: 3))" }
            }.joined(separator: ", ") + "\n"
        if let line = detectableLine(report) { out += line + "\n" }
        for key in report.onlyInBaseline { out += "missing from the current run: \(clean(key.description))\n" }
        for key in report.onlyInCurrent { out += "only in the current run: \(clean(key.description))\n" }
        for text in report.notComparable { out += "not comparable: \(clean(text))\n" }
        for key in report.unavailableInBoth { out += "unavailable in both runs: \(clean(key.description))\n" }
        if let reason = report.baselineIncomplete { out += "the baseline run did not finish: \(clean(reason))\n" }
        if let reason = report.currentIncomplete { out += "the current run did not finish: \(clean(reason))\n" }
        out += evidenceLine(report) + "\n"
        for note in report.notes { out += clean(note) + "\n" }
        for line in report.undecided { out += "undecided: \(clean(line))\n" }
        out += gateLine(report, policy) + "\n"
        return out
    }

    /// Markdown for `$GITHUB_STEP_SUMMARY` and pull-request comments. The headline says the
    /// gate's decision: "✅ No regression" only when every case was compared and decided.
    public static func markdown(_ report: ComparisonReport, policy: GatePolicy) -> String {
        let md = TextEscaping.markdown
        let undecidedCount = report.inconclusiveCases + report.onlyInBaseline.count + report.notComparable.count
        let headline =
            switch report.outcome(policy) {
            case .passed: "✅ No regression"
            case .regressed: "❌ \(report.regressions) case\(report.regressions == 1 ? "" : "s") regressed"
            case .undecided: "❓ Undecided: the comparison could not decide \(undecidedCountText(report))"
            case .passedUndecided:
                "⚠️ No regression found, but \(undecidedCount > 0 ? undecidedCountText(report) : "the current run did not finish") undecided"
            case .environmentMismatch: "⚠️ The environments differ: not compared as equals"
            }
        var out = "## podbench compare: \(headline)\n\n"
        out += "\(md(report.baseline)) → \(md(report.current)). \(summaryLine(report)).\n\n"
        if let line = detectableLine(report) { out += "The \(line).\n\n" }
        out += evidenceLine(report) + "\n\n"  // podbench's own words and numbers
        for note in report.notes { out += md(note) + "\n\n" }
        if !report.undecided.isEmpty {
            out += "Undecided:\n\n" + report.undecided.map { "- " + md($0) }.joined(separator: "\n") + "\n\n"
        }
        out += md(gateLine(report, policy)) + ".\n\n"
        if !report.environmentDifferences.isEmpty {
            out += "| environment | baseline | current |\n|---|---|---|\n"
            for d in report.environmentDifferences {
                out += "| \(md(d.property)) | \(md(d.baseline)) | \(md(d.current)) |\n"
            }
            out += "\n"
        }
        let notable = report.cases.filter { $0.verdict != .unchanged }
        if !notable.isEmpty {
            out +=
                "| case | metric | baseline | current | ratio [\(Int(report.confidence * 100))% CI] | δ | verdict |\n"
            out += "|---|---|---:|---:|---:|---:|---|\n"
            for c in notable.sorted(by: { $0.verdict < $1.verdict }) {
                if let failure = c.failure {
                    out += "| \(md(c.key.description)) | case | | | \(md(failure)) | | **regressed** |\n"
                    continue
                }
                for m in c.metrics where m.verdict != .unchanged {
                    let v =
                        switch m.verdict {
                        case .regressed: "**regressed**"
                        case .inconclusive: "**undecided**"
                        default: m.verdict.rawValue
                        }
                    out +=
                        "| \(md(c.key.description)) | \(md(m.metric.rawValue)) | \(value(m.metric, m.baselineMedian)) | "
                    out += "\(value(m.metric, m.currentMedian)) | \(ratioText(m)) | "
                    out += "\(Format.decimal(m.minimumEffect * 100))% | \(v) |\n"
                }
            }
            out += "\n"
        }
        out += "Geometric mean ratio (current / baseline): "
        out +=
            ComparedMetric.allCases.compactMap { m in
                report.geometricMeans[m.rawValue].map { "\(m.rawValue) \(Format.fixed($0, digits: 3))" }
            }.joined(separator: ", ") + ".\n\n"
        let missing =
            report.onlyInBaseline.map { "- missing from the current run: \(md($0.description))" }
            + report.onlyInCurrent.map { "- only in the current run: \(md($0.description))" }
            + report.notComparable.map { "- not comparable: \(md($0))" }
            + report.unavailableInBoth.map { "- unavailable in both runs: \(md($0.description))" }
            + [report.baselineIncomplete.map { "- the baseline run did not finish: \(md($0))" }].compactMap { $0 }
            + [report.currentIncomplete.map { "- the current run did not finish: \(md($0))" }].compactMap { $0 }
        if !missing.isEmpty { out += missing.joined(separator: "\n") + "\n\n" }
        out += "<details><summary>Every case and metric</summary>\n\n"
        let sides = report.rounds == nil ? ("baseline trials", "current trials") : ("A rounds", "B rounds")
        out +=
            "| case | metric | \(sides.0) | \(sides.1) | ratio | verdict | why |\n|---|---|---|---|---:|---|---|\n"
        for c in report.cases {
            for m in c.metrics {
                let bt = m.baseline.map { value(m.metric, $0) }.joined(separator: ", ")
                let ct = m.current.map { value(m.metric, $0) }.joined(separator: ", ")
                out +=
                    "| \(md(c.key.description)) | \(md(m.metric.rawValue)) | \(bt) | \(ct) | \(ratioText(m)) | \(m.verdict.rawValue) | \(md(m.reason)) |\n"
            }
        }
        out +=
            "\n</details>\n\nA regression is called only when the whole confidence interval of the ratio (Hodges–Lehmann "
        out +=
            report.rounds == nil
            ? "estimate, Mann–Whitney interval, from the trials of each run) lies beyond the minimum effect δ; "
            : "estimate, Wilcoxon signed-rank interval, from the paired rounds) lies beyond the minimum effect δ; "
        out +=
            "unchanged only when the whole \(Format.decimal((1 - 2 * (1 - report.confidence)) * 100))% interval lies within ±δ.\n"
        return out
    }

    static func undecidedCountText(_ report: ComparisonReport) -> String {
        var parts: [String] = []
        let inconclusive = report.inconclusiveCases
        if inconclusive > 0 { parts.append("\(inconclusive) case\(inconclusive == 1 ? "" : "s")") }
        if !report.onlyInBaseline.isEmpty { parts.append("\(report.onlyInBaseline.count) missing") }
        if !report.notComparable.isEmpty { parts.append("\(report.notComparable.count) not comparable") }
        if report.currentIncomplete != nil { parts.append("an unfinished run") }
        return parts.joined(separator: ", ")
    }

    /// `report` in one of the formats `compare` and `ab` write: table, markdown, json, junit.
    public static func render(_ report: ComparisonReport, format: String, policy: GatePolicy, colour: Bool, all: Bool)
        throws -> String
    {
        switch format {
        case "markdown": markdown(report, policy: policy)
        case "json": try json(report, policy: policy)
        case "junit": junit(report, policy: policy)
        default: terminal(report, policy: policy, colour: colour, all: all)
        }
    }

    /// The verdict file, with the gate's decision and exit code under `policy`.
    public static func json(_ report: ComparisonReport, policy: GatePolicy) throws -> String {
        var report = report
        report.gate = report.outcome(policy).rawValue
        report.gateExitCode = report.exitCode(policy)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    /// JUnit XML: one test case per case and metric; a regression is a failure, an undecided
    /// metric a failure under `--on-inconclusive fail` and skipped otherwise (never a pass); a
    /// case missing from the current run likewise.
    public static func junit(_ report: ComparisonReport, policy: GatePolicy) -> String {
        let escape = TextEscaping.xml
        var cases: [String] = []
        var failures = 0
        var skipped = 0
        func undecided(_ head: String, _ message: String, failing: Bool) {
            if failing {
                failures += 1
                cases.append(head + "<failure type=\"undecided\" message=\"\(escape(message))\"/></testcase>")
            } else {
                skipped += 1
                cases.append(head + "<skipped message=\"\(escape(message))\"/></testcase>")
            }
        }
        for c in report.cases {
            if let failure = c.failure {
                failures += 1
                cases.append(
                    "    <testcase classname=\"\(escape(c.key.description))\" name=\"case\"><failure type=\"regressed\" message=\"\(escape(failure))\"/></testcase>"
                )
                continue
            }
            for m in c.metrics {
                let head =
                    "    <testcase classname=\"\(escape(c.key.description))\" name=\"\(escape(m.metric.rawValue))\">"
                let detail = "ratio \(ratioText(m)), δ \(Format.decimal(m.minimumEffect * 100))%: \(m.reason)"
                switch m.verdict {
                case .regressed:
                    failures += 1
                    cases.append(head + "<failure type=\"regressed\" message=\"\(escape(detail))\"/></testcase>")
                case .inconclusive:
                    undecided(head, "undecided: " + detail, failing: policy.onInconclusive == .fail)
                case .improved, .unchanged:
                    cases.append(head + "<system-out>\(m.verdict.rawValue): \(escape(detail))</system-out></testcase>")
                }
            }
        }
        for key in report.onlyInBaseline {
            undecided(
                "    <testcase classname=\"\(escape(key.description))\" name=\"case\">", "missing from the current run",
                failing: !policy.allowMissing)
        }
        for text in report.notComparable {
            undecided(
                "    <testcase classname=\"\(escape(text))\" name=\"case\">", "not comparable: \(text)",
                failing: !policy.allowMissing)
        }
        if let reason = report.currentIncomplete {
            undecided(
                "    <testcase classname=\"run\" name=\"complete\">", "the current run did not finish: \(reason)",
                failing: !policy.allowMissing)
        }
        if !report.environmentDifferences.isEmpty {
            let text = report.environmentDifferences.map { "\($0.property): \($0.baseline) → \($0.current)" }
                .joined(separator: "; ")
            let head = "    <testcase classname=\"run\" name=\"environment\">"
            if policy.allowEnvironmentMismatch {
                cases.append(head + "<system-out>\(escape("differs (allowed): " + text))</system-out></testcase>")
            } else {
                failures += 1
                cases.append(head + "<failure type=\"environment\" message=\"\(escape(text))\"/></testcase>")
            }
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<testsuites name=\"podbench compare\">\n"
        out += "  <testsuite name=\"\(escape(report.baseline)) → \(escape(report.current))\" tests=\"\(cases.count)\" "
        out += "failures=\"\(failures)\" skipped=\"\(skipped)\">\n"
        out += cases.joined(separator: "\n") + "\n  </testsuite>\n</testsuites>\n"
        return out
    }
}
