import Foundation
import PodBenchCore
import PodBenchResults

/// A fleet's report (results files from two nodes or more): the fleet summary and the outlier
/// table first, then each case's distribution across nodes (box plots) and a nodes × cases heat
/// map instead of one line per file, a table of cases across the fleet, and the environment as the
/// distinct configurations with the nodes on each (docs/report.md, "A fleet of nodes").
extension ReportBuilder {
    /// A figure of a fleet report, drawn here rather than by `SVGChart` (it is not a line chart).
    public struct FleetFigure {
        public var file: String
        public var title: String
        public var svg: String
        public var csv: String
        public var caption: String
    }

    /// The most nodes the heat map draws a row for; past that, the `heatMapWorst` worst (the CSV
    /// holds every node).
    static let heatMapRows = 60
    static let heatMapWorst = 40
    /// The most nodes the outlier table lists besides the flagged ones.
    static let outlierRows = 20

    /// A case's name in a fleet report: channel, workload, size (and rate).
    static func caseName(_ key: CaseKey) -> String {
        var name = "\(channelName(key)) \(key.workload.rawValue) \(Self.sizeText(key.messageSize))"
        if let rate = key.rate { name += " @\(Format.rate(Double(rate)))/s" }
        if let hop = key.hop { name += " via \(hop.name)" }
        return name
    }

    static func ratioText(_ r: Double?) -> String { r.map { Format.fixed($0, digits: 2) + "×" } ?? "-" }

    /// One sentence on the fleet: how many nodes, configurations, and which are flagged.
    func fleetSentences(_ f: FleetAnalysis) -> [String] {
        var lines = [
            "\(f.nodes.count) nodes in \(f.configurations.count) configuration\(f.configurations.count == 1 ? "" : "s") (kernel, CPU, runtime, limits: see Environment); \(f.cases.filter { $0.metric == FleetAnalysis.primary($0.key) }.count) cases."
        ]
        guard f.scored else {
            lines.append(
                "Fewer than \(FleetAnalysis.minimumNodesForScores) nodes: each node's ratio to the fleet median is shown, but no node is scored or flagged (a spread of so few nodes is no yardstick)."
            )
            return lines
        }
        let flagged = f.flaggedNodes
        if flagged.isEmpty {
            lines.append(
                "No node is flagged: none is worse than the fleet median by \(Format.decimal((FleetAnalysis.minimumRatio - 1) * 100))% or more and by a robust score above \(Format.decimal(FleetAnalysis.scoreThreshold))."
            )
        } else {
            let named = flagged.prefix(10).map { n -> String in
                let node = f.nodes[n]
                let worst = node.flagged.max { node.scores[$0]! < node.scores[$1]! }!
                return
                    "\(node.label) (\(worst.rawValue) \(Self.ratioText(node.ratios[worst])) the fleet median, score \(Format.decimal(node.scores[worst]!)))"
            }
            lines.append(
                "\(flagged.count) node\(flagged.count == 1 ? "" : "s") flagged: " + named.joined(separator: ", ")
                    + (flagged.count > 10 ? ", and \(flagged.count - 10) more" : "") + ".")
            // The slow nodes' configurations, when they are not the fleet's.
            let groups = Dictionary(grouping: flagged, by: { f.nodes[$0].configuration })
            if f.configurations.count > 1 {
                for (configuration, nodes) in groups.sorted(by: { $0.key < $1.key }) {
                    let all = f.configurations[configuration].nodes.count
                    lines.append(
                        "\(nodes.count) of the flagged on configuration \(configuration + 1), which has \(all) of the \(f.nodes.count) nodes."
                    )
                }
            }
        }
        return lines
    }

    static let fleetNote = """
        Each node's ratio is the geometric mean, over its cases, of its value divided by the fleet's \
        median of that case, turned so that above 1× is worse (slower, less payload per second, more \
        CPU). The score is the modified z-score of Iglewicz and Hoaglin: 0.6745 × (log ratio − the \
        nodes' median) / their median absolute deviation (at least 1%), which a few slow nodes cannot \
        move. A node is flagged for a metric when its score is above 3.5 and it is at least 10% worse \
        than the fleet median; a node better than the fleet is never flagged.
        """

    var fleetMetricHeader: [String] {
        ["metric", "cases", "nodes", "middle 80% of nodes", "best node", "worst node", "flagged"]
    }

    /// Per headline metric: the spread of the nodes' ratios, the best and worst node.
    func fleetMetricRows(_ f: FleetAnalysis) -> [[String]] {
        f.metrics.map { metric in
            let present = f.nodes.indices.filter { f.nodes[$0].ratios[metric] != nil }
            let ratios = present.map { f.nodes[$0].ratios[metric]! }.sorted()
            let cases = f.cases.filter { $0.metric == metric }.count
            let best = present.min { f.nodes[$0].ratios[metric]! < f.nodes[$1].ratios[metric]! }
            let worst = present.max { f.nodes[$0].ratios[metric]! < f.nodes[$1].ratios[metric]! }
            let flagged = f.nodes.filter { $0.flagged.contains(metric) }.count
            return [
                metric.rawValue, String(cases), String(present.count),
                "\(Self.ratioText(Self.quantile(ratios, 0.1)))–\(Self.ratioText(Self.quantile(ratios, 0.9)))",
                best.map { "\(f.nodes[$0].label) \(Self.ratioText(f.nodes[$0].ratios[metric]))" } ?? "-",
                worst.map { "\(f.nodes[$0].label) \(Self.ratioText(f.nodes[$0].ratios[metric]))" } ?? "-",
                f.scored ? String(flagged) : "-",
            ]
        }
    }

    /// Linear interpolation between closest ranks (sorted input); nil when empty.
    static func quantile(_ sorted: [Double], _ q: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let position = q * Double(sorted.count - 1)
        let low = Int(position.rounded(.down))
        let high = min(low + 1, sorted.count - 1)
        return sorted[low] + (sorted[high] - sorted[low]) * (position - Double(low))
    }

    func outlierHeader(_ f: FleetAnalysis) -> [String] {
        ["node", "node name", "configuration"] + f.metrics.map { $0.rawValue + " ×" } + ["score", "flagged for"]
    }

    /// The outlier table's rows: the flagged nodes and the next worst, worst first.
    func outlierRows(_ f: FleetAnalysis, all: Bool = false) -> [[String]] {
        let ranked = f.ranked
        let shown = all ? ranked : Array(ranked.prefix(max(f.flaggedNodes.count, 0) + Self.outlierRows))
        return shown.map { n in
            let node = f.nodes[n]
            return [node.label, node.name, String(node.configuration + 1)]
                + f.metrics.map { Self.ratioText(node.ratios[$0]) }
                + [
                    f.scored ? Format.decimal(node.worstScore) : "-",
                    node.flagged.isEmpty ? "" : node.flagged.map(\.rawValue).joined(separator: ", "),
                ]
        }
    }

    var fleetCaseHeader: [String] {
        ["case", "metric", "nodes", "fleet median", "10th percentile", "90th percentile", "best node", "worst node"]
    }

    /// One row per case and headline metric across the nodes.
    func fleetCaseRows(_ f: FleetAnalysis) -> [[String]] {
        f.cases.map { c in
            let sorted = c.values.map(\.value).sorted()
            let better =
                c.metric.higherIsWorse ? c.values.min { $0.value < $1.value } : c.values.max { $0.value < $1.value }
            let worse =
                c.metric.higherIsWorse ? c.values.max { $0.value < $1.value } : c.values.min { $0.value < $1.value }
            return [
                c.name, c.metric.rawValue, String(c.values.count), c.metric.text(c.median),
                Self.quantile(sorted, 0.1).map(c.metric.text) ?? "-",
                Self.quantile(sorted, 0.9).map(c.metric.text) ?? "-",
                better.map { "\(f.nodes[$0.node].label) \(c.metric.text($0.value))" } ?? "-",
                worse.map { "\(f.nodes[$0.node].label) \(c.metric.text($0.value))" } ?? "-",
            ]
        }
    }

    /// Each distinct configuration: its properties and its nodes (the first 30 named).
    func configurationLines(_ f: FleetAnalysis) -> [(title: String, lines: [String])] {
        f.configurations.enumerated().map { i, configuration in
            let flagged = configuration.nodes.filter { !f.nodes[$0].flagged.isEmpty }.count
            let names = configuration.nodes.prefix(30).map { f.nodes[$0].label }
            let more = configuration.nodes.count > 30 ? ", and \(configuration.nodes.count - 30) more" : ""
            return (
                "Configuration \(i + 1): \(configuration.nodes.count) node\(configuration.nodes.count == 1 ? "" : "s")"
                    + (f.scored ? ", \(flagged) flagged" : ""),
                configuration.properties.map { "\($0.name): \($0.value)" } + [
                    "nodes: " + names.joined(separator: ", ") + more
                ]
            )
        }
    }

    // MARK: Data files

    func fleetDataFiles(_ f: FleetAnalysis) -> [(name: String, text: String)] {
        var header = ["node", "node_name", "file", "configuration"]
        for m in f.metrics { header += ["\(m.column)_ratio", "\(m.column)_score"] }
        header.append("flagged_for")
        let rows = f.ranked.map { n -> [String] in
            let node = f.nodes[n]
            var row = [node.label, node.name, node.file, String(node.configuration + 1)]
            for m in f.metrics {
                row += [node.ratios[m].map(Format.plain) ?? "", node.scores[m].map(Format.plain) ?? ""]
            }
            row.append(node.flagged.map(\.rawValue).joined(separator: ";"))
            return row
        }
        var caseRows: [[String]] = []
        for c in f.cases {
            let sorted = c.values.map(\.value).sorted()
            caseRows.append(
                [c.name, c.metric.rawValue, c.metric.unit, String(c.values.count)]
                    + [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map { Self.quantile(sorted, $0).map(Format.plain) ?? "" })
        }
        return [
            ("fleet-nodes.csv", Self.csvDocument(header, rows)),
            (
                "fleet-cases.csv",
                Self.csvDocument(
                    ["case", "metric", "unit", "nodes", "min", "p10", "p25", "median", "p75", "p90", "max"], caseRows)
            ),
        ]
    }

    // MARK: Figures

    func fleetFigures(_ f: FleetAnalysis) -> [FleetFigure] {
        var figures: [FleetFigure] = []
        let titles: [(FleetAnalysis.Metric, String, String)] = [
            (.roundTripP50, "fleet-round-trip-p50", "Round trip p50 across nodes, per case"),
            (.roundTripP99, "fleet-round-trip-p99", "Round trip p99 across nodes, per case"),
            (.streamThroughput, "fleet-stream-payload", "Stream payload per second across nodes, per case"),
            (.cpuPerMessage, "fleet-cpu-per-message", "CPU per message (both sides) across nodes, per case"),
        ]
        for (metric, file, title) in titles {
            let rows = f.cases.filter { $0.metric == metric }
            guard !rows.isEmpty else { continue }
            figures.append(boxPlot(f, metric: metric, rows: rows, file: file, title: title))
        }
        if let heat = heatMap(f) { figures.append(heat) }
        return figures
    }

    /// One row per case: the box the middle half of the nodes, the line their median, whiskers to
    /// the farthest node within 1.5 boxes (on the log scale), and the nodes past them as dots; a
    /// flagged node red. With 30 nodes or fewer, every node is a dot.
    func boxPlot(
        _ f: FleetAnalysis, metric: FleetAnalysis.Metric, rows: [FleetAnalysis.CaseAcross], file: String, title: String
    ) -> FleetFigure {
        let e = SVGChart.escape
        let axis = ChartAxis(
            label: metric.rawValue, scale: .log, unit: metric == .streamThroughput ? .bytesPerSecond : .nanoseconds)
        let longest = rows.map { FleetAnalysis.shortened($0.name, limit: 44).count }.max() ?? 10
        let left = min(320, max(120, Double(longest) * 6.8 + 20))
        let width = 900.0
        let plotLeft = left + 10
        let plotWidth = width - plotLeft - 70
        let top = 74.0
        let rowHeight = 24.0
        let height = top + Double(rows.count) * rowHeight + 64
        let values = rows.flatMap { $0.values.map(\.value) }
        let range = SVGChart.range(values.min() ?? 1, values.max() ?? 10, axis)
        func px(_ v: Double) -> Double { plotLeft + SVGChart.position(v, range, .log) * plotWidth }
        let f1 = SVGChart.f
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
            <title>\(e(title))</title>
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="20" y="24" font-size="15" font-weight="bold">\(e(title))</text>
            <text x="20" y="44" font-size="11" fill="#444">Box: the middle half of the \(f.nodes.count) nodes; line: their median; whiskers: the farthest node within 1.5 boxes.</text>
            <text x="20" y="60" font-size="11" fill="#444">Dots: nodes (all of them up to 30, else those past the whiskers); red: a node flagged for this metric. Hover for names.</text>

            """
        let ticks = axis.ticks(range.0, range.1)
        for t in ticks {
            let x = px(t)
            svg +=
                "<line x1=\"\(f1(x))\" y1=\"\(f1(top - 4))\" x2=\"\(f1(x))\" y2=\"\(f1(height - 56))\" stroke=\"#e4e4e4\"/>"
            svg +=
                "<text x=\"\(f1(x))\" y=\"\(f1(height - 40))\" text-anchor=\"middle\" font-size=\"11\">\(e(axis.text(t)))</text>\n"
        }
        svg +=
            "<text x=\"\(f1(plotLeft + plotWidth / 2))\" y=\"\(f1(height - 16))\" text-anchor=\"middle\">\(e(axis.csvColumn))</text>\n"
        let all = f.nodes.count <= 30
        for (i, row) in rows.enumerated() {
            let y = top + Double(i) * rowHeight + rowHeight / 2
            let logs = row.values.map { log($0.value) }.sorted()
            guard let q1 = Self.quantile(logs, 0.25), let q2 = Self.quantile(logs, 0.5),
                let q3 = Self.quantile(logs, 0.75)
            else { continue }
            let reach = 1.5 * (q3 - q1)
            let low = logs.first { $0 >= q1 - reach } ?? q1
            let high = logs.last { $0 <= q3 + reach } ?? q3
            svg += "<g><title>\(e(row.name)): median \(e(metric.text(exp(q2)))) over \(row.values.count) nodes</title>"
            svg +=
                "<text x=\"\(f1(left))\" y=\"\(f1(y + 4))\" text-anchor=\"end\">\(e(FleetAnalysis.shortened(row.name, limit: 44)))</text>"
            svg +=
                "<line x1=\"\(f1(px(exp(low))))\" y1=\"\(f1(y))\" x2=\"\(f1(px(exp(high))))\" y2=\"\(f1(y))\" stroke=\"#555\"/>"
            for end in [low, high] {
                svg +=
                    "<line x1=\"\(f1(px(exp(end))))\" y1=\"\(f1(y - 5))\" x2=\"\(f1(px(exp(end))))\" y2=\"\(f1(y + 5))\" stroke=\"#555\"/>"
            }
            svg +=
                "<rect x=\"\(f1(px(exp(q1))))\" y=\"\(f1(y - 8))\" width=\"\(f1(max(1, px(exp(q3)) - px(exp(q1)))))\" height=\"16\" fill=\"#cfe3f3\" stroke=\"#0072B2\"/>"
            svg +=
                "<line x1=\"\(f1(px(exp(q2))))\" y1=\"\(f1(y - 8))\" x2=\"\(f1(px(exp(q2))))\" y2=\"\(f1(y + 8))\" stroke=\"#0072B2\" stroke-width=\"2.5\"/></g>\n"
            for (n, v) in row.values {
                let flagged = f.nodes[n].flagged.contains(metric)
                let outside = log(v) < low - 1e-12 || log(v) > high + 1e-12
                guard all || outside || flagged else { continue }
                let fill = flagged ? "#D7191C" : (outside ? "#ffffff" : "#333333")
                let stroke = flagged ? "#000000" : "#333333"
                svg +=
                    "<circle cx=\"\(f1(px(v)))\" cy=\"\(f1(y))\" r=\"\(flagged ? 4.5 : 3)\" fill=\"\(fill)\" fill-opacity=\"\(flagged || outside ? 1 : 0.45)\" stroke=\"\(stroke)\" stroke-width=\"\(flagged ? 1.2 : 0.6)\"><title>\(e(f.nodes[n].name)): \(e(metric.text(v)))\(flagged ? " (flagged)" : "")</title></circle>\n"
            }
        }
        svg += "</svg>\n"
        var csv = "case,nodes,\(TextEscaping.csv("min (\(metric.unit))")),q1,median,q3,max\n"
        for row in rows {
            let sorted = row.values.map(\.value).sorted()
            csv +=
                ([TextEscaping.csv(row.name), String(sorted.count)]
                + [0, 0.25, 0.5, 0.75, 1].map { Self.quantile(sorted, $0).map(Format.plain) ?? "" }).joined(
                    separator: ",") + "\n"
        }
        return FleetFigure(
            file: file, title: title, svg: svg, csv: csv,
            caption:
                "Each case's \(metric.rawValue) on every node: how far apart the nodes are, and which stand out (red: flagged in the outlier table)."
        )
    }

    /// Nodes × cases, each cell the node's value of the case against the fleet median (p50 for
    /// pingpong, payload per second for stream), red worse and blue better, full colour at 2×;
    /// nodes worst first. Past `heatMapRows` nodes, the `heatMapWorst` worst (the CSV has all).
    func heatMap(_ f: FleetAnalysis) -> FleetFigure? {
        let columns = f.cases.filter { $0.metric == FleetAnalysis.primary($0.key) }
        guard !columns.isEmpty else { return nil }
        let e = SVGChart.escape
        let f1 = SVGChart.f
        let ranked = f.ranked
        let shown = ranked.count > Self.heatMapRows ? Array(ranked.prefix(Self.heatMapWorst)) : ranked
        let title = "Nodes against the fleet median, per case"
        let labelChars = min(36, columns.map(\.name.count).max() ?? 10)
        let top = 70 + Double(labelChars) * 6.2 * 0.82
        let left = min(220, max(90, Double(shown.map { f.nodes[$0].label.count }.max() ?? 8) * 7 + 24))
        let cell = max(12, min(34, (900 - left - 40) / Double(columns.count)))
        let rowHeight = 16.0
        // Labels rise to the right at 55°: the last column's reaches cos 55° of its length past it.
        let width = max(900, left + cell * Double(columns.count) + Double(labelChars) * 6.2 * 0.58 + 24)
        let height = top + Double(shown.count) * rowHeight + 90
        var lookup: [Int: [Int: Double]] = [:]
        for (j, c) in columns.enumerated() {
            for (n, v) in c.values {
                let r = v / c.median
                lookup[n, default: [:]][j] = c.metric.higherIsWorse ? r : 1 / r
            }
        }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">
            <title>\(e(title))</title>
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="20" y="24" font-size="15" font-weight="bold">\(e(title))</text>
            <text x="20" y="42" fill="#444">\(e(shown.count < ranked.count ? "The \(shown.count) worst of \(ranked.count) nodes (every node is in the CSV), worst first." : "\(ranked.count) nodes, worst first.")) Red: worse than the fleet median (slower, less payload); blue: better.</text>

            """
        for (j, c) in columns.enumerated() {
            let x = left + (Double(j) + 0.5) * cell
            svg +=
                "<text transform=\"translate(\(f1(x + 3)),\(f1(top - 6))) rotate(-55)\" font-size=\"10.5\"><title>\(e(c.name))</title>\(e(FleetAnalysis.shortened(c.name, limit: 36)))</text>\n"
        }
        for (i, n) in shown.enumerated() {
            let node = f.nodes[n]
            let y = top + Double(i) * rowHeight
            let flagged = !node.flagged.isEmpty
            svg +=
                "<text x=\"\(f1(left - 6))\" y=\"\(f1(y + rowHeight - 4))\" text-anchor=\"end\"\(flagged ? " fill=\"#B2182B\" font-weight=\"bold\"" : "")><title>\(e(node.name))</title>\(e(node.label))</text>\n"
            for j in columns.indices {
                let x = left + Double(j) * cell
                guard let r = lookup[n]?[j] else {
                    svg +=
                        "<rect x=\"\(f1(x))\" y=\"\(f1(y))\" width=\"\(f1(cell - 1))\" height=\"\(f1(rowHeight - 1))\" fill=\"#eeeeee\"><title>\(e(node.label)), \(e(columns[j].name)): not measured</title></rect>\n"
                    continue
                }
                svg +=
                    "<rect x=\"\(f1(x))\" y=\"\(f1(y))\" width=\"\(f1(cell - 1))\" height=\"\(f1(rowHeight - 1))\" fill=\"\(Self.divergingColour(r))\"><title>\(e(node.label)), \(e(columns[j].name)): \(e(Self.ratioText(r))) the fleet median (worse above 1×)</title></rect>\n"
            }
        }
        // The colour key.
        let keyY = top + Double(shown.count) * rowHeight + 24
        for (k, r) in [0.5, 0.63, 0.79, 1, 1.26, 1.59, 2].enumerated() {
            let x = left + Double(k) * 44
            svg +=
                "<rect x=\"\(f1(x))\" y=\"\(f1(keyY))\" width=\"42\" height=\"14\" fill=\"\(Self.divergingColour(r))\" stroke=\"#999\" stroke-width=\"0.5\"/>"
            svg +=
                "<text x=\"\(f1(x + 21))\" y=\"\(f1(keyY + 28))\" text-anchor=\"middle\">\(e(Format.fixed(r, digits: 2)))×</text>\n"
        }
        svg +=
            "<text x=\"\(f1(left + 7 * 44 + 10))\" y=\"\(f1(keyY + 11))\">× the fleet median: 2× better … 2× worse</text>\n</svg>\n"
        var csv =
            "node,node_name,"
            + columns.map { TextEscaping.csv($0.name + " (× fleet median, worse above 1)") }.joined(separator: ",")
            + "\n"
        for n in ranked {
            csv +=
                ([TextEscaping.csv(f.nodes[n].label), TextEscaping.csv(f.nodes[n].name)]
                + columns.indices.map { j in lookup[n]?[j].map(Format.plain) ?? "" }).joined(separator: ",") + "\n"
        }
        return FleetFigure(
            file: "fleet-heat-map", title: title, svg: svg, csv: csv,
            caption:
                "Each node's value of each case (round trip p50 for pingpong, payload per second for stream) against the fleet median of that case: a row of red is a slow node, a column of colour a case the nodes disagree on."
        )
    }

    /// White at 1×, red towards 2× worse, blue towards 2× better (ColorBrewer's RdBu ends).
    static func divergingColour(_ ratio: Double) -> String {
        let t = max(-1, min(1, log2(ratio)))
        let end: (Double, Double, Double) = t > 0 ? (178, 24, 43) : (33, 102, 172)
        let a = abs(t)
        let c = (247 + (end.0 - 247) * a, 247 + (end.1 - 247) * a, 247 + (end.2 - 247) * a)
        return String(format: "#%02X%02X%02X", Int(c.0.rounded()), Int(c.1.rounded()), Int(c.2.rounded()))
    }

    // MARK: Documents

    static func markdownTable(_ header: [String], _ rows: [[String]]) -> String {
        let e = TextEscaping.markdown
        var md =
            "| " + header.map(e).joined(separator: " | ") + " |\n|" + String(repeating: "---|", count: header.count)
            + "\n"
        for r in rows { md += "| " + r.map(e).joined(separator: " | ") + " |\n" }
        return md
    }

    /// The fleet's part of report.md before everything else: summary, outliers, figures.
    func fleetMarkdownHead(_ f: FleetAnalysis, _ figures: [FleetFigure]) -> String {
        let e = TextEscaping.markdown
        let table = Self.markdownTable
        var md = "## Fleet summary\n\n" + fleetSentences(f).map { "- " + e($0) + "\n" }.joined() + "\n"
        md += table(fleetMetricHeader, fleetMetricRows(f))
        md += "\n### Outliers\n\n" + table(outlierHeader(f), outlierRows(f))
        let rest = f.nodes.count - outlierRows(f).count
        if rest > 0 {
            md +=
                "\nAnd \(rest) more nodes, less far from the fleet: every node is in [fleet-nodes.csv](fleet-nodes.csv).\n"
        }
        md += "\n\(Self.fleetNote)\n\n"
        md +=
            "Data for other tools: [fleet-nodes.csv](fleet-nodes.csv) (a row per node), [fleet-cases.csv](fleet-cases.csv) (a row per case and metric across nodes), [cases.csv](cases.csv) and [trials.csv](trials.csv) (every node's cases and trials), each figure's CSV, and each case's latency histogram in `\(Self.histogramFolder)/`\(fleetOnly ? " (all nodes merged)" : "").\n\n"
        if !fleetOnly {
            md += "### Configurations\n\n"
            for c in configurationLines(f) {
                let items: [String] = c.lines.map { "  - " + e($0) + "\n" }
                md += "- " + e(c.title) + "\n" + items.joined()
            }
            md += "\n"
        }
        for figure in figures {
            md +=
                "## \(figure.title)\n\n![\(figure.title)](\(figure.file).svg)\n\n\(figure.caption) Data: [\(figure.file).csv](\(figure.file).csv).\n\n"
        }
        return md
    }

    /// The rest of a fleet-only report.md (too many nodes for a line each): the cases across the
    /// fleet and the configurations.
    func fleetMarkdownTail(_ f: FleetAnalysis) -> String {
        let e = TextEscaping.markdown
        var md = "## Cases across the fleet\n\n" + Self.markdownTable(fleetCaseHeader, fleetCaseRows(f))
        md += "\n## Environment: \(f.configurations.count) configuration\(f.configurations.count == 1 ? "" : "s")\n\n"
        for c in configurationLines(f) {
            let items: [String] = c.lines.map { "- " + e($0) + "\n" }
            md += "### \(e(c.title))\n\n" + items.joined() + "\n"
        }
        return md
            + "A node's own charts, capacity table and histograms: `podbench report` of its file alone (past \(Self.panelSeries) nodes a line per node is unreadable, so the report shows distributions).\n\n"
    }

    static func htmlTable(_ header: [String], _ rows: [[String]]) -> String {
        let e = SVGChart.escape
        var page = "<table><tr>" + header.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
        for r in rows { page += "<tr>" + r.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
        return page + "</table>\n"
    }

    /// The fleet's part of index.html before everything else.
    func fleetHTMLHead(_ f: FleetAnalysis, _ figures: [FleetFigure]) -> String {
        let e = SVGChart.escape
        let table = Self.htmlTable
        var page = "<h2>Fleet summary</h2>\n<ul>" + fleetSentences(f).map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
        page += table(fleetMetricHeader, fleetMetricRows(f))
        page += "<h3>Outliers</h3>\n" + table(outlierHeader(f), outlierRows(f))
        let rest = f.nodes.count - outlierRows(f).count
        if rest > 0 {
            page +=
                "<p>And \(rest) more nodes, less far from the fleet: every node is in <a href=\"fleet-nodes.csv\">fleet-nodes.csv</a>.</p>\n"
        }
        page += "<p>\(e(Self.fleetNote))</p>\n"
        if !fleetOnly {
            page += "<h3>Configurations</h3>\n<ul>"
            for c in configurationLines(f) {
                page += "<li>\(e(c.title))<ul>" + c.lines.map { "<li>\(e($0))</li>" }.joined() + "</ul></li>"
            }
            page += "</ul>\n"
        }
        page +=
            "<p>Data for other tools: <a href=\"fleet-nodes.csv\">fleet-nodes.csv</a>, <a href=\"fleet-cases.csv\">fleet-cases.csv</a>, <a href=\"cases.csv\">cases.csv</a>, <a href=\"trials.csv\">trials.csv</a>, each figure's CSV, and each case's latency histogram in <code>\(Self.histogramFolder)/</code>\(fleetOnly ? " (all nodes merged)" : "").</p>\n"
        for figure in figures {
            page +=
                "<h2>\(e(figure.title))</h2><figure><img src=\"\(figure.file).svg\" alt=\"\(e(figure.title))\" title=\"\(e(figure.title))\" style=\"max-width:100%;height:auto\"><figcaption>\(e(figure.caption)) Data: <a href=\"\(figure.file).csv\">\(figure.file).csv</a>.</figcaption></figure>\n"
        }
        return page
    }

    /// The rest of a fleet-only index.html.
    func fleetHTMLTail(_ f: FleetAnalysis) -> String {
        let e = SVGChart.escape
        var page = "<h2>Cases across the fleet</h2>\n" + Self.htmlTable(fleetCaseHeader, fleetCaseRows(f))
        page +=
            "<h2>Environment: \(f.configurations.count) configuration\(f.configurations.count == 1 ? "" : "s")</h2>\n"
        for c in configurationLines(f) {
            page += "<h3>\(e(c.title))</h3><ul>" + c.lines.map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
        }
        return page
            + "<p>A node's own charts, capacity table and histograms: <code>podbench report</code> of its file alone (past \(Self.panelSeries) nodes a line per node is unreadable, so the report shows distributions).</p>\n"
    }
}
