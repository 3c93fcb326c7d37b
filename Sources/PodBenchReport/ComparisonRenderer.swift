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

    /// The terminal table: one row per case and metric, worst first; colour only when asked.
    public static func terminal(_ report: ComparisonReport, colour: Bool, all: Bool) -> String {
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
                rows.append([c.key.description, "case", "-", "-", failure, "-", "regressed"])
                continue
            }
            for m in c.metrics.sorted(by: { $0.verdict < $1.verdict }) where all || m.verdict != .unchanged {
                rows.append([
                    c.key.description, m.metric.rawValue, value(m.metric, m.baselineMedian),
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
        var out = "podbench compare: \(report.baseline) → \(report.current)\n"
        for d in report.environmentDifferences {
            out += "environment differs: \(d.property): \(d.baseline) → \(d.current)\n"
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
        for key in report.onlyInBaseline { out += "only in the baseline: \(key)\n" }
        for key in report.onlyInCurrent { out += "only in the current run: \(key)\n" }
        for text in report.notComparable { out += "not comparable: \(text)\n" }
        return out
    }

    /// Markdown for `$GITHUB_STEP_SUMMARY` and pull-request comments.
    public static func markdown(_ report: ComparisonReport, allowEnvironmentMismatch: Bool) -> String {
        let code = report.exitCode(allowEnvironmentMismatch: allowEnvironmentMismatch)
        let headline =
            switch code {
            case 0: "✅ No regression"
            case 1: "❌ \(report.regressions) case\(report.regressions == 1 ? "" : "s") regressed"
            default: "⚠️ The environments differ: not compared as equals"
            }
        var out = "## podbench compare: \(headline)\n\n"
        out += "`\(report.baseline)` → `\(report.current)`. \(summaryLine(report)).\n\n"
        if !report.environmentDifferences.isEmpty {
            out += "| environment | baseline | current |\n|---|---|---|\n"
            for d in report.environmentDifferences { out += "| \(d.property) | \(d.baseline) | \(d.current) |\n" }
            out += "\n"
        }
        let notable = report.cases.filter { $0.verdict != .unchanged }
        if !notable.isEmpty {
            out +=
                "| case | metric | baseline | current | ratio [\(Int(report.confidence * 100))% CI] | δ | verdict |\n"
            out += "|---|---|---:|---:|---:|---:|---|\n"
            for c in notable.sorted(by: { $0.verdict < $1.verdict }) {
                if let failure = c.failure {
                    out += "| \(c.key) | case | | | \(failure) | | **regressed** |\n"
                    continue
                }
                for m in c.metrics where m.verdict != .unchanged {
                    let v = m.verdict == .regressed ? "**regressed**" : m.verdict.rawValue
                    out += "| \(c.key) | \(m.metric.rawValue) | \(value(m.metric, m.baselineMedian)) | "
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
            report.onlyInBaseline.map { "- only in the baseline: \($0)" }
            + report.onlyInCurrent.map { "- only in the current run: \($0)" }
            + report.notComparable.map { "- not comparable: \($0)" }
        if !missing.isEmpty { out += missing.joined(separator: "\n") + "\n\n" }
        out += "<details><summary>Every case and metric</summary>\n\n"
        out +=
            "| case | metric | baseline trials | current trials | ratio | verdict | why |\n|---|---|---|---|---:|---|---|\n"
        for c in report.cases {
            for m in c.metrics {
                let bt = m.baseline.map { value(m.metric, $0) }.joined(separator: ", ")
                let ct = m.current.map { value(m.metric, $0) }.joined(separator: ", ")
                out +=
                    "| \(c.key) | \(m.metric.rawValue) | \(bt) | \(ct) | \(ratioText(m)) | \(m.verdict.rawValue) | \(m.reason) |\n"
            }
        }
        out +=
            "\n</details>\n\nA regression is called only when the whole confidence interval of the ratio (Hodges–Lehmann "
        out += "estimate, Mann–Whitney interval, from the trials of each run) lies beyond the minimum effect δ.\n"
        return out
    }

    /// The verdict file.
    public static func json(_ report: ComparisonReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    /// JUnit XML: one test case per case and metric; a regression is a failure.
    public static func junit(_ report: ComparisonReport) -> String {
        func escape(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var cases: [String] = []
        var failures = 0
        var skipped = 0
        for c in report.cases {
            if let failure = c.failure {
                failures += 1
                cases.append(
                    "    <testcase classname=\"\(escape(c.key.description))\" name=\"case\"><failure message=\"\(escape(failure))\"/></testcase>"
                )
                continue
            }
            for m in c.metrics {
                let head =
                    "    <testcase classname=\"\(escape(c.key.description))\" name=\"\(escape(m.metric.rawValue))\">"
                let detail = escape("ratio \(ratioText(m)), δ \(Format.decimal(m.minimumEffect * 100))%: \(m.reason)")
                switch m.verdict {
                case .regressed:
                    failures += 1
                    cases.append(head + "<failure message=\"\(detail)\"/></testcase>")
                case .inconclusive:
                    skipped += 1
                    cases.append(head + "<skipped message=\"\(detail)\"/></testcase>")
                case .improved, .unchanged:
                    cases.append(head + "<system-out>\(m.verdict.rawValue): \(detail)</system-out></testcase>")
                }
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
