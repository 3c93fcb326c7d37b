import Foundation
import Histogram
import PodBenchCore
import PodBenchResults

/// `podbench report`: charts (SVG, drawn here), their data (CSV), a Markdown report and a static
/// HTML page, from one or more results files.
public struct ReportBuilder {
    /// A results file and the short name it goes by in legends.
    public struct Input {
        public var label: String
        public var path: String
        public var run: RunResult

        public init(label: String, path: String, run: RunResult) {
            self.label = label
            self.path = path
            self.run = run
        }
    }

    /// One chart of the report.
    public struct Chart {
        public var file: String
        public var chart: SVGChart
        public var caption: String
        /// The chart it is a panel of (small multiples: one figure cut by size or by channels), the
        /// file name without the panel's part; the same as `file` for a chart of one panel.
        public var family: String
    }

    public let inputs: [Input]
    /// The latency objective for the capacity table (`--slo`).
    public var objective: CapacityPlanner.Objective?
    /// The inputs as a fleet, when they come from two nodes or more: the report is then a fleet's
    /// (FleetReport.swift).
    public let fleet: FleetAnalysis?

    /// A fleet of more nodes than a chart holds lines (`panelSeries`): its report shows the fleet
    /// only (distributions, a heat map, configurations), not each file's curves and tables.
    public var fleetOnly: Bool { fleet != nil && inputs.count > Self.panelSeries }

    /// The transport option names of every case, sorted: one column each in the CSV files. Found
    /// once: every row of cases.csv and trials.csv reads it (computed per row, 1,000 files made the
    /// report quadratic: 22 minutes).
    let optionNames: [String]

    public init(inputs: [Input], objective: CapacityPlanner.Objective? = nil) {
        self.inputs = inputs
        self.objective = objective
        optionNames = Self.optionNames(inputs)
        fleet =
            FleetAnalysis.isFleet(inputs.map(\.run))
            ? FleetAnalysis(inputs: inputs.map { ($0.label, $0.run) }, caseName: Self.caseName) : nil
    }

    /// The names results files go by in a report: the file's name without `.json`, made unique
    /// with the file's position (`run-2`) when two are alike.
    public static func labels(forPaths paths: [String]) -> [String] {
        var labels: [String] = []
        var seen: Set<String> = []
        let names = paths.map { ($0 as NSString).lastPathComponent.replacingOccurrences(of: ".json", with: "") }
        // A file's own name is kept where it can be: a suffix never takes another file's name.
        let taken = Set(names)
        for name in names {
            var label = name
            var n = labels.count + 1
            while seen.contains(label) || (label != name && taken.contains(label)) {
                label = "\(name)-\(n)"
                n += 1
            }
            seen.insert(label)
            labels.append(label)
        }
        return labels
    }

    /// `64 B`, `1KiB`.
    static func sizeText(_ bytes: Int) -> String { bytes < 1024 ? "\(bytes) B" : ByteSize.format(bytes) }

    /// The list of files a report wrote, kept in its folder: what the next report into the same
    /// folder may remove when it no longer writes them (a chart whose workload is gone, a case's
    /// histogram), so a folder never mixes two reports.
    public static let manifestName = ".podbench-report"

    /// Whether `name` (from a manifest: a file anyone could have edited) is one a report could
    /// have written: one or two plain components, none starting with a dot. Nothing else is
    /// removed.
    static func isReportFileName(_ name: String) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        let plain = parts.allSatisfy { part in
            !part.isEmpty && !part.hasPrefix(".") && part.count <= 255
                && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-=".contains($0)) }
        }
        guard plain else { return false }
        // The kinds of file a report writes, and only where it writes them.
        switch parts.count {
        case 1: return name.hasSuffix(".svg") || name.hasSuffix(".csv") || ["report.md", "index.html"].contains(name)
        case 2: return parts[0] == Substring(histogramFolder) && name.hasSuffix(".hgrm")
        default: return false
        }
    }

    /// Writes every file of the report into `directory`. Returns the paths written.
    ///
    /// A folder that already holds files is written into only when an earlier report made it (its
    /// manifest says so); the files of that report this one does not write are then removed (only
    /// names of the kinds a report writes: `*.svg`, `*.csv`, report.md, index.html,
    /// histograms/*.hgrm). A folder of other files is refused unless `force`; then nothing of it is
    /// removed, but a file of the same name as one of the report's is replaced.
    @discardableResult
    public func write(to directory: String, force: Bool = false) throws -> [String] {
        let fm = FileManager.default
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let manifestPath = directory + "/" + Self.manifestName
        let existing = try fm.contentsOfDirectory(atPath: directory)
        func type(_ path: String) -> FileAttributeType? {
            (try? fm.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
        }
        // The histograms' folder must be a folder of this one, never a link out of it.
        let histograms = directory + "/" + Self.histogramFolder
        if let kind = type(histograms), kind != .typeDirectory {
            throw PodBenchError(
                .invalidConfiguration,
                "\(histograms) is not a folder (a link, or a file); remove it, or give --out another folder")
        }
        var previous: [String] = []
        // A manifest is read only when it is a regular file (a FIFO would hang the read).
        if type(manifestPath) == .typeRegular, let data = fm.contents(atPath: manifestPath),
            let text = String(data: data, encoding: .utf8)
        {
            previous = text.split(separator: "\n").map(String.init).filter(Self.isReportFileName)
        } else if !existing.isEmpty && !force {
            throw PodBenchError(
                .invalidConfiguration,
                "\(directory) holds files that no podbench report wrote (\(existing.sorted().prefix(3).joined(separator: ", "))\(existing.count > 3 ? ", …" : "")); give --out a new or empty folder, or --force to write beside them"
            )
        }
        var written: [String] = []
        var names: [String] = []
        func put(_ name: String, _ text: String) throws {
            let path = directory + "/" + name
            try ResultsStore.writeAtomically(Data(text.utf8), to: path)
            written.append(path)
            names.append(name)
        }
        let charts = fleetOnly ? [] : charts()
        for c in charts {
            try put(c.file + ".svg", c.chart.render())
            try put(c.file + ".csv", c.chart.csv())
        }
        let figures = fleet.map(fleetFigures) ?? []
        for figure in figures {
            try put(figure.file + ".svg", figure.svg)
            try put(figure.file + ".csv", figure.csv)
        }
        for file in dataFiles() {
            if file.name.contains("/") {
                try fm.createDirectory(
                    atPath: directory + "/" + (file.name as NSString).deletingLastPathComponent,
                    withIntermediateDirectories: true)
            }
            try put(file.name, file.text)
        }
        try put("report.md", markdown(charts, figures: figures))
        try put("index.html", html(charts, figures: figures))
        // The manifest last: a report cut short leaves the old one, whose files are still removable.
        let current = Set(names)
        try ResultsStore.writeAtomically(Data((names.joined(separator: "\n") + "\n").utf8), to: manifestPath)
        for name in previous where !current.contains(name) {
            // Only a regular file, in a real folder of the report's (never through a link, never a folder).
            let path = directory + "/" + name
            let parent = (path as NSString).deletingLastPathComponent
            guard type(path) == .typeRegular, parent == directory || type(parent) == .typeDirectory else { continue }
            // unlink(2), not a recursive removal: a name swapped for a folder meanwhile stays.
            _ = unlink(path)
        }
        let folder = directory + "/" + Self.histogramFolder
        if (try? fm.contentsOfDirectory(atPath: folder))?.isEmpty == true { try? fm.removeItem(atPath: folder) }
        return written
    }

    // MARK: Documents

    func tableRows() -> [[String]] {
        var rows: [[String]] = []
        for input in inputs {
            for c in input.run.cases {
                var row = [
                    inputs.count > 1 ? input.label : nil, seriesName(c.key, input),
                    c.key.rate.map { "\(c.key.workload.rawValue) \(Format.rate(Double($0)))/s" }
                        ?? c.key.workload.rawValue,
                    ByteSize.format(c.key.messageSize),
                ]
                .compactMap { $0 }
                if inputs.count > 1 { row[1] = row[1].replacingOccurrences(of: " [\(input.label)]", with: "") }
                guard c.status == .ok, !c.trials.isEmpty else {
                    rows.append(row + [c.status.rawValue] + Array(repeating: "", count: showsLoss ? 7 : 6))
                    continue
                }
                let s = CaseSummary(c)
                rows.append(
                    row + [
                        s.p50.map(Format.nanoseconds) ?? "-", s.p99.map(Format.nanoseconds) ?? "-",
                        s.p999.map(Format.nanoseconds) ?? "-", Format.rate(s.messagesPerSecond),
                        Format.decimal(s.bytesPerSecond / 1e6),
                    ] + (showsLoss ? [s.lossFraction.map(Format.loss) ?? "-"] : []) + [
                        Format.nanoseconds(s.clientCPUPerMessage), Format.nanoseconds(s.serverCPUPerMessage),
                    ])
            }
        }
        return rows
    }

    var tableHeader: [String] {
        (inputs.count > 1 ? ["file"] : []) + [
            "transport", "workload", "size", "p50", "p99", "p99.9", "msg/s", "MB/s",
        ] + (showsLoss ? ["lost"] : []) + ["cpu/msg client", "cpu/msg server"]
    }

    /// Whether a case of the inputs ran on a datagram channel (they count lost messages): the cases
    /// table then has a `lost` column (docs/datagrams.md).
    var showsLoss: Bool {
        inputs.contains { CaseSummary.countsLosses($0.run.cases) }
    }

    func environmentLines(_ input: Input) -> [String] {
        let e = input.run.environment
        let c = e.client
        var lines = [
            "podbench \(input.run.podbench.version) (\(input.run.podbench.commit ?? "unknown commit")), started \(input.run.startedAt)\(input.run.complete ? "" : ", incomplete: \(input.run.incompleteReason ?? "")")",
            "host \(c.hostname)\(c.nodeName.map { " on node \($0)" } ?? ""), kernel \(c.kernelRelease) (\(c.architecture)), \(c.cpuModel), \(c.onlineCPUs) CPUs online, allowed \(CPUPinning.formatList(c.allowedCPUs))",
            "cgroup \(c.cgroupVersion), CPU quota \(c.cpuQuotaCores.map { Format.decimal($0) } ?? "none"), memory limit \(c.memoryLimitBytes.map { "\($0 >> 20) MiB" } ?? "none"); container runtime \(c.containerRuntime)",
            "isolation \(input.run.settings.isolation): \(e.topology); namespaces shared: \(e.sharedNamespaces.joined(separator: ", ")); separate: \(e.separateNamespaces.isEmpty ? "none" : e.separateNamespaces.joined(separator: ", "))",
            "\(input.run.settings.trials) trials of \(input.run.settings.trialMessages.map { "\($0) messages" } ?? Format.decimal(input.run.settings.trialSeconds) + " s") after \(Format.decimal(input.run.settings.warmupSeconds)) s warm-up; verify \(input.run.settings.verify); io_uring \(c.ioURingAvailable ? "available" : "unavailable: \(c.ioURingReason)")",
        ]
        if let calibration = input.run.calibration {
            let figures = calibration.measurements.filter {
                [
                    CalibrationMeasurement.cachelineCrossCore, CalibrationMeasurement.futexCrossCore,
                    CalibrationMeasurement.memcpyLarge,
                ].contains($0.id)
            }.map {
                "\($0.id) \($0.unit == "bytes/s" ? Format.decimal($0.median / 1e9) + " GB/s" : Format.nanoseconds($0.median))"
            }
            if !figures.isEmpty { lines.append("machine limits (calibrate): " + figures.joined(separator: ", ")) }
        }
        return lines
    }

    static let method = """
        Both sides run as separate processes (or containers) and exchange framed messages over the \
        channel under test; every message's sequence number and, as configured, payload checksum is \
        checked. Each case has a warm-up, thrown away, then several timed trials. pingpong sends one \
        message and waits for the same message back: its latency is the round trip. stream sends \
        one way as fast as the receiver takes it: its throughput is payload messages and bytes per \
        second, and its latency the one-way hand-off time (the sender's clock to arrival; the two \
        sides share the kernel's monotonic clock). rate sends on a fixed schedule (open loop) and \
        measures each message's one-way latency from its intended send time. Figures are medians \
        across trials of each trial's value; CPU time is each side's measuring thread's user plus \
        system time.
        """

    let hopHeader = [
        "file", "case", "hop", "p50 added", "p50 ×", "p99 added", "msg/s ×", "hop cpu/msg", "hop cs/msg",
        "client cpu/msg added", "server cpu/msg added",
    ]

    static let hopNote = """
        Each case through a hop (--via: podbench's relay, or a proxy such as haproxy) against the same \
        case direct, measured back to back in the same run: the added median and p99 latency, the \
        share of direct throughput, the hop's own CPU time and context switches per message (its whole \
        process, when its stats were read; a proxy podbench cannot see into shows -), and what the two \
        sides spent more per message.
        """

    /// One row per case through a hop with its direct twin.
    func hopRows() -> [[String]] {
        var rows: [[String]] = []
        for input in inputs {
            for h in HopCost.pairs(in: input.run) {
                let added: String = h.p50Added.map { HopCost.signed($0) } ?? "-"
                let ratio: String = h.p50Ratio.map { Format.fixed($0, digits: 2) } ?? "-"
                let tail: String = h.p99Added.map { HopCost.signed($0) } ?? "-"
                let cpu: String = h.hopCPUPerMessage.map { Format.nanoseconds($0) } ?? "-"
                let switches: String = h.hopSwitchesPerMessage.map { Format.decimal($0) } ?? "-"
                var row: [String] = [input.label, h.caseName, "\(h.hop) (\(h.hopIn) in)", added, ratio, tail]
                row += [Format.fixed(h.rateRatio, digits: 2), cpu, switches]
                row += [HopCost.signed(h.clientCPUAdded), HopCost.signed(h.serverCPUAdded)]
                rows.append(row)
            }
        }
        return rows
    }

    func markdown(_ charts: [Chart], figures: [FleetFigure] = []) -> String {
        // Labels, names and environment text come from results files: escaped (TextEscaping).
        let e = TextEscaping.markdown
        func row(_ cells: [String]) -> String { "| " + cells.map(e).joined(separator: " | ") + " |\n" }
        var md = "# podbench report\(fleet.map { ": a fleet of \($0.nodes.count) nodes" } ?? "")\n\n"
        if let fleet { md += fleetMarkdownHead(fleet, figures) }
        if let fleet, fleetOnly { return md + fleetMarkdownTail(fleet) + "## Method\n\n\(Self.method)\n" }
        md += "Results files: " + inputs.map { e($0.label) }.joined(separator: ", ") + "\n\n"
        md += "## Summary\n\n" + summaryLines().map { "- " + e($0) + "\n" }.joined()
        let keys = keyNumberRows()
        if !keys.isEmpty {
            md += "\n| " + Self.keyNumberHeader.joined(separator: " | ") + " |\n|"
            md += String(repeating: "---|", count: Self.keyNumberHeader.count) + "\n"
            for cells in keys { md += row(cells) }
        }
        md +=
            "\nData for other tools: [cases.csv](cases.csv) (a row per case), [trials.csv](trials.csv) (a row per trial)"
            + (rateCurves().isEmpty ? "" : ", [capacity.csv](capacity.csv)")
            + ", each chart's CSV, and each case's latency histogram in `\(Self.histogramFolder)/` (HdrHistogram `.hgrm`, microseconds).\n\n"
        let capacity = capacityLines()
        if !capacity.isEmpty {
            md += "## Capacity\n\n"
            for line in capacity { md += "- " + e(sentence(line)) + "\n" }
            md += "\n| " + capacityHeader.joined(separator: " | ") + " |\n|"
            md += String(repeating: "---|", count: capacityHeader.count) + "\n"
            for line in capacity { md += row(capacityCells(line)) }
            md += "\n\(capacityNote)\n\nData: [capacity.csv](capacity.csv).\n\n"
        }
        for family in Self.families(charts) {
            let first = family[0]
            md += "## \(family.count > 1 ? Self.familyTitle(first.chart.title) : first.chart.title)\n\n"
            for c in family { md += "![\(c.chart.title)](\(c.file).svg)\n" }
            md +=
                "\n\(first.caption) Data: " + family.map { "[\($0.file).csv](\($0.file).csv)" }.joined(separator: ", ")
            md += ".\n\n"
        }
        let hops = hopRows()
        if !hops.isEmpty {
            md += "## Hops\n\n| " + hopHeader.joined(separator: " | ") + " |\n|"
            md += String(repeating: "---|", count: hopHeader.count) + "\n"
            for cells in hops { md += row(cells) }
            md += "\n\(Self.hopNote)\n\n"
        }
        md += "## Cases\n\n| " + tableHeader.joined(separator: " | ") + " |\n|"
        md += String(repeating: "---|", count: tableHeader.count) + "\n"
        for cells in tableRows() { md += row(cells) }
        if showsLoss { md += "\n\(CaseSummary.lossNote)\n" }
        md += "\n## Environment\n\n"
        for input in inputs {
            md += "### \(e(input.label))\n\n" + environmentLines(input).map { "- \(e($0))\n" }.joined() + "\n"
        }
        md += "## Method\n\n\(Self.method)\n"
        return md
    }

    /// Charts grouped by the figure they are panels of, in order.
    static func families(_ charts: [Chart]) -> [[Chart]] {
        var out: [[Chart]] = []
        for c in charts {
            if let last = out.last?.first, last.family == c.family {
                out[out.count - 1].append(c)
            } else {
                out.append([c])
            }
        }
        return out
    }

    /// A panel's title without its panel part: `Throughput (1 of 3)` → `Throughput`, `Latency …, 64 B (1 of 2)` → `Latency …`.
    static func familyTitle(_ title: String) -> String {
        var t = title
        if let r = t.range(of: " (", options: .backwards) { t = String(t[..<r.lowerBound]) }
        if t.hasPrefix("Latency against offered rate, ") { return "Latency against offered rate (open loop)" }
        if t.hasPrefix("Achieved against offered rate, ") { return "Achieved against offered rate" }
        return t
    }

    func html(_ charts: [Chart], figures: [FleetFigure] = []) -> String {
        let e = SVGChart.escape
        let title = "podbench report" + (fleet.map { ": a fleet of \($0.nodes.count) nodes" } ?? "")
        var page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <style>body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
            table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
            td:nth-child(-n+3),th{text-align:left}figure{margin:1.5em 0}figcaption{font-size:13px;color:#444;max-width:900px}</style>
            </head><body>
            <h1>\(title)</h1>

            """
        if let fleet { page += fleetHTMLHead(fleet, figures) }
        if let fleet, fleetOnly {
            return page + fleetHTMLTail(fleet)
                + "<h2>Method</h2>\n<p>\(e(Self.method))</p>\n<p><a href=\"report.md\">report.md</a></p>\n</body></html>\n"
        }
        page += "<p>Results files: \(inputs.map { "<code>\(e($0.label))</code>" }.joined(separator: ", "))</p>\n"
        page += "<h2>Summary</h2>\n<ul>" + summaryLines().map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"
        let keys = keyNumberRows()
        if !keys.isEmpty {
            page += "<table><tr>" + Self.keyNumberHeader.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
            for row in keys { page += "<tr>" + row.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
            page += "</table>\n"
        }
        page +=
            "<p>Data for other tools: <a href=\"cases.csv\">cases.csv</a> (a row per case), <a href=\"trials.csv\">trials.csv</a> (a row per trial)"
            + (rateCurves().isEmpty ? "" : ", <a href=\"capacity.csv\">capacity.csv</a>")
            + ", each chart's CSV, and each case's latency histogram in <code>\(Self.histogramFolder)/</code> (HdrHistogram <code>.hgrm</code>, microseconds).</p>\n"
        let capacity = capacityLines()
        if !capacity.isEmpty {
            page += "<h2>Capacity</h2>\n<ul>" + capacity.map { "<li>\(e(sentence($0)))</li>" }.joined() + "</ul>\n"
            page += "<table><tr>" + capacityHeader.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
            for line in capacity {
                page += "<tr>" + capacityCells(line).map { "<td>\(e($0))</td>" }.joined() + "</tr>\n"
            }
            page += "</table>\n<p>\(e(capacityNote)) Data: <a href=\"capacity.csv\">capacity.csv</a>.</p>\n"
        }
        for family in Self.families(charts) {
            // Panels one under the other at full size: two a row shrank their labels to 7 px
            // (looked at in Chromium, 2026-12-03).
            page += "<figure>"
            for c in family {
                page +=
                    "<img src=\"\(c.file).svg\" alt=\"\(e(c.chart.title))\" title=\"\(e(c.chart.title))\" style=\"max-width:100%;height:auto\">"
            }
            page +=
                "<figcaption>\(e(family[0].caption)) Data: "
                + family.map { "<a href=\"\($0.file).csv\">\($0.file).csv</a>" }.joined(separator: ", ")
                + ".</figcaption></figure>\n"
        }
        let hops = hopRows()
        if !hops.isEmpty {
            page += "<h2>Hops</h2>\n<table><tr>" + hopHeader.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
            for row in hops { page += "<tr>" + row.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
            page += "</table>\n<p>\(e(Self.hopNote))</p>\n"
        }
        page += "<h2>Cases</h2>\n<table><tr>" + tableHeader.map { "<th>\(e($0))</th>" }.joined() + "</tr>\n"
        for row in tableRows() { page += "<tr>" + row.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
        page += "</table>\n" + (showsLoss ? "<p>\(e(CaseSummary.lossNote))</p>\n" : "") + "<h2>Environment</h2>\n"
        for input in inputs {
            page +=
                "<h3>\(e(input.label))</h3><ul>" + environmentLines(input).map { "<li>\(e($0))</li>" }.joined()
                + "</ul>\n"
        }
        page +=
            "<h2>Method</h2>\n<p>\(e(Self.method))</p>\n<p><a href=\"report.md\">report.md</a></p>\n</body></html>\n"
        return page
    }
}
