import Foundation
import PodBenchCore
import PodBenchResults

/// `podbench compare BASELINE nodes/*.json`: each node's run against the baseline, with the
/// gate's statistics as for one run, and the fleet's runs together against it (runs as the unit:
/// has the fleet as a whole moved?). The fleet's verdict is the worst of all of them: an
/// environment that differs (unless allowed), then a regression of the fleet or of any node, then
/// anything undecided the policy does not let through (docs/ci.md, "A fleet").
///
/// The confidence asked for is the fleet's: each of the N + 1 comparisons (every node, and the
/// fleet) is made at 1 − (1 − confidence)/(N + 1) (Bonferroni), so that an unchanged fleet of
/// 1,000 nodes is called regressed no more often than one node would be. Without it, at 95%, an
/// unchanged fleet of 12 nodes would show some regressed node about a quarter of the time.
public struct FleetComparison: Codable, Sendable {
    /// One node's verdict.
    public struct NodeVerdict: Codable, Sendable {
        public var node: String
        public var file: String
        public var outcome: String
        public var exitCode: Int32
        /// The metric that moved most against the node (the largest worse ratio decided or not):
        /// the case, the metric, the ratio and its interval.
        public var worst: String?
        public var report: ComparisonReport
    }

    /// A node's file that could not be read: named in every output, and the exit code is 2.
    public struct Unreadable: Codable, Sendable {
        public var file: String
        public var reason: String

        public init(file: String, reason: String) {
            self.file = file
            self.reason = reason
        }
    }

    public var baseline: String
    public var baselineRuns: Int
    public var unreadable: [Unreadable]
    /// The confidence asked for (the fleet's), and the one each comparison was made at.
    public var confidence: Double
    public var perComparisonConfidence: Double
    public var fleet: ComparisonReport
    public var fleetOutcome: String
    public var nodes: [NodeVerdict]
    public var gate: String
    public var gateExitCode: Int32

    /// Compares each of `current` (name and run) with `baselineRuns`, and all of them together.
    public init(
        comparator: Comparator, baselineRuns: [RunResult], baselineName: String,
        current: [(name: String, run: RunResult)], policy: GatePolicy, unreadable: [Unreadable] = []
    ) throws {
        precondition(!current.isEmpty, "a fleet needs a node")
        baseline = baselineName
        self.unreadable = unreadable
        self.baselineRuns = baselineRuns.count
        confidence = comparator.confidence
        var each = comparator
        each.confidence = 1 - (1 - comparator.confidence) / Double(current.count + 1)
        perComparisonConfidence = each.confidence
        var nodes: [NodeVerdict] = []
        for (name, run) in current {
            let report = try each.compare(
                baselineRuns: baselineRuns, currentRuns: [run], baselineName: baselineName, currentName: name)
            let outcome = report.outcome(policy)
            nodes.append(
                NodeVerdict(
                    node: FleetAnalysis.nodeName(run), file: name, outcome: outcome.rawValue,
                    exitCode: outcome.exitCode, worst: Self.worst(report), report: report))
        }
        self.nodes = nodes
        fleet = try each.compare(
            baselineRuns: baselineRuns, currentRuns: current.map(\.run), baselineName: baselineName,
            currentName: "the fleet (\(current.count) nodes)")
        let fleetOutcome = fleet.outcome(policy)
        self.fleetOutcome = fleetOutcome.rawValue
        let outcomes = [fleetOutcome] + nodes.compactMap { GateOutcome(rawValue: $0.outcome) }
        let decided: GateOutcome
        if outcomes.contains(.environmentMismatch) {
            decided = .environmentMismatch
        } else if outcomes.contains(.regressed) {
            decided = .regressed
        } else if outcomes.contains(.undecided) {
            decided = .undecided
        } else if outcomes.contains(.passedUndecided) {
            decided = .passedUndecided
        } else {
            decided = .passed
        }
        gate = decided.rawValue
        // An unreadable node's file is bad input, as one file's would be: 2, whatever the others did.
        gateExitCode = unreadable.isEmpty ? decided.exitCode : 2
    }

    public var regressedNodes: [NodeVerdict] { nodes.filter { $0.outcome == GateOutcome.regressed.rawValue } }

    /// The case and metric whose ratio is worst for the node, as text.
    static func worst(_ report: ComparisonReport) -> String? {
        var best: (score: Double, text: String)?
        for c in report.cases {
            for m in c.metrics where m.ratio.isFinite && m.ratio > 0 {
                let worse = m.metric.higherIsWorse ? m.ratio : 1 / m.ratio
                guard best == nil || worse > best!.score else { continue }
                let interval =
                    (m.ratioLower != nil && m.ratioUpper != nil)
                    ? " [\(Format.fixed(m.ratioLower!, digits: 2)), \(Format.fixed(m.ratioUpper!, digits: 2))]" : ""
                best = (
                    worse,
                    "\(ReportBuilder.caseName(c.key)) \(m.metric.rawValue) ×\(Format.fixed(m.ratio, digits: 2))\(interval), \(m.verdict.rawValue)"
                )
            }
        }
        return best?.text
    }

    /// The nodes in the order the outputs list them: regressed, then undecided, then passed; by name.
    var ordered: [NodeVerdict] {
        func rank(_ n: NodeVerdict) -> Int {
            switch GateOutcome(rawValue: n.outcome) {
            case .regressed?: 0
            case .environmentMismatch?: 1
            case .undecided?: 2
            case .passedUndecided?: 3
            default: 4
            }
        }
        return nodes.sorted { (rank($0), $0.node) < (rank($1), $1.node) }
    }

    static func outcomeText(_ outcome: String) -> String {
        switch GateOutcome(rawValue: outcome) {
        case .passed?: "passed"
        case .passedUndecided?: "passed (with undecided)"
        case .regressed?: "REGRESSED"
        case .undecided?: "undecided"
        case .environmentMismatch?: "environment differs"
        case nil: outcome
        }
    }

    var summaryLines: [String] {
        let counts = Dictionary(grouping: nodes, by: \.outcome).mapValues(\.count)
        let parts = [GateOutcome.regressed, .environmentMismatch, .undecided, .passedUndecided, .passed].compactMap {
            o -> String? in counts[o.rawValue].map { "\($0) \(Self.outcomeText(o.rawValue))" }
        }
        let missing =
            unreadable.isEmpty
            ? "" : ", and \(unreadable.count) file\(unreadable.count == 1 ? "" : "s") that could not be read"
        var lines = [
            "Fleet verdict: \(Self.outcomeText(gate))\(missing) (exit \(gateExitCode)): \(nodes.count) nodes against \(baseline) (\(baselineRuns) run\(baselineRuns == 1 ? "" : "s")): "
                + parts.joined(separator: ", ") + ".",
            "The fleet as a whole (its \(nodes.count) runs against the baseline's, runs as the unit): \(Self.outcomeText(fleetOutcome))"
                + (fleet.regressions > 0
                    ? ", \(fleet.regressions) case\(fleet.regressions == 1 ? "" : "s") regressed" : "")
                + ".",
            "\(Format.decimal(confidence * 100))% for the fleet: each of the \(nodes.count + 1) comparisons at \(Format.decimal(perComparisonConfidence * 100))% (Bonferroni), so an unchanged fleet shows a regressed node at most \(Format.decimal((1 - confidence) * 100))% of the time.",
        ]
        if !unreadable.isEmpty {
            lines.append(
                "Unreadable, so not judged: " + unreadable.map(\.file).joined(separator: ", ")
                    + " (each with its reason below). Collect the node again, or leave its file out.")
        }
        if baselineRuns < 3 {
            lines.append(
                "The baseline holds \(baselineRuns) run\(baselineRuns == 1 ? "" : "s"): each node is judged by trials alone, and the differences between nodes (or runs) read as changes. Save several nodes' runs as the baseline (podbench baseline save NAME before/nodes/*.json)."
            )
        }
        return lines
    }

    static let header = ["node", "file", "verdict", "regressed cases", "undecided", "worst move"]

    func rows() -> [[String]] {
        unreadable.map { ["?", $0.file, "UNREADABLE", "", "", $0.reason] }
            + ordered.map { n in
                [
                    n.node, n.file, Self.outcomeText(n.outcome), String(n.report.regressions),
                    n.report.undecided.isEmpty ? "" : n.report.undecided.joined(separator: "; "), n.worst ?? "",
                ]
            }
    }

    public func render(format: String) throws -> String {
        switch format {
        case "markdown":
            let e = TextEscaping.markdown
            var md = "## podbench compare: a fleet of \(nodes.count) nodes\n\n"
            md += summaryLines.map { "- " + e($0) + "\n" }.joined() + "\n"
            md +=
                "| " + Self.header.joined(separator: " | ") + " |\n|"
                + String(repeating: "---|", count: Self.header.count) + "\n"
            for r in rows() { md += "| " + r.map(e).joined(separator: " | ") + " |\n" }
            md +=
                "\nEach node: its run against the baseline's, case by case and metric by metric, as `compare` of one file judges it (docs/ci.md). The worst move is the largest ratio against the node, whatever its verdict.\n"
            return md
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
        case "junit":
            let x = TextEscaping.xml
            var cases: [String] = []
            var failures = 0
            for n in ordered {
                let head = "    <testcase classname=\"\(x(n.node))\" name=\"\(x(n.file))\">"
                let detail = (n.report.undecided + [n.worst.map { "worst: " + $0 } ?? ""]).filter { !$0.isEmpty }
                    .joined(separator: "; ")
                switch GateOutcome(rawValue: n.outcome) {
                case .passed?, .passedUndecided?:
                    cases.append(
                        head + "<system-out>\(x(Self.outcomeText(n.outcome) + ": " + detail))</system-out></testcase>")
                default:
                    failures += 1
                    cases.append(
                        head
                            + "<failure type=\"\(x(n.outcome))\" message=\"\(x(Self.outcomeText(n.outcome) + ": " + detail))\"/></testcase>"
                    )
                }
            }
            for u in unreadable {
                failures += 1
                cases.append(
                    "    <testcase classname=\"unreadable\" name=\"\(x(u.file))\"><failure type=\"unreadable\" message=\"\(x(u.reason))\"/></testcase>"
                )
            }
            // The fleet as a whole: a test case of its own, so the file fails whenever the gate does.
            let whole = "    <testcase classname=\"fleet\" name=\"\(x(fleet.current))\">"
            switch GateOutcome(rawValue: fleetOutcome) {
            case .passed?, .passedUndecided?:
                cases.insert(whole + "<system-out>\(x(Self.outcomeText(fleetOutcome)))</system-out></testcase>", at: 0)
            default:
                failures += 1
                let detail = Self.outcomeText(fleetOutcome) + ": " + fleet.undecided.joined(separator: "; ")
                cases.insert(
                    whole + "<failure type=\"\(x(fleetOutcome))\" message=\"\(x(detail))\"/></testcase>", at: 0)
            }
            var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"podbench compare\">\n"
            out +=
                "  <testsuite name=\"\(x(baseline)) → \(nodes.count) nodes\" tests=\"\(cases.count)\" failures=\"\(failures)\">\n"
            return out + cases.joined(separator: "\n") + "\n  </testsuite>\n</testsuites>\n"
        default:
            var text = summaryLines.map(TextEscaping.terminal).joined(separator: "\n") + "\n\n"
            let table = [Self.header] + rows()
            let widths = Self.header.indices.map { i in min(48, table.map { $0[i].count }.max() ?? 0) }
            for r in table {
                text +=
                    r.map(TextEscaping.terminal).enumerated().map { i, cell in
                        let cut = cell.count > widths[i] ? String(cell.prefix(widths[i] - 1)) + "…" : cell
                        return i == r.count - 1 ? cut : cut.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    }.joined(separator: "  ") + "\n"
            }
            return text
        }
    }
}
