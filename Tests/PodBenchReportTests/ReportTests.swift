import Foundation
import PodBenchCore
import PodBenchResults
import Testing

@testable import PodBenchReport

#if canImport(FoundationXML)
    import FoundationXML
#endif

@Suite("report: SVG charts and documents")
struct ReportTests {
    /// Whether `text` is well-formed XML.
    static func parsesAsXML(_ text: String) -> Bool {
        XMLParser(data: Data(text.utf8)).parse()
    }

    static let sizeAxis = ChartAxis(label: "size", scale: .log, unit: .bytes)
    static let nsAxis = ChartAxis(label: "latency", scale: .log, unit: .nanoseconds)

    @Test("charts with data, without data, with categories and hostile names are well-formed SVG")
    func wellFormed() {
        let charts = [
            SVGChart(
                title: "a <b> & \"c\"", x: Self.sizeAxis, y: Self.nsAxis,
                series: [ChartSeries(name: "x<y>&z", points: [(64, 5000), (1024, 7000), (1_048_576, 200_000)])]),
            SVGChart(title: "empty", x: Self.sizeAxis, y: Self.nsAxis, series: []),
            SVGChart(
                title: "categories", x: ChartAxis(label: "t", scale: .linear, unit: .categories(["tcp", "uds"])),
                y: Self.nsAxis, series: [ChartSeries(name: "f", points: [(0, 100), (1, 300)], pointsOnly: true)],
                markers: [ChartMarker(y: 200, label: "objective")]),
            SVGChart(
                title: "spectrum", x: ChartAxis(label: "q", scale: .linear, unit: .percentile), y: Self.nsAxis,
                series: (0..<9).map { i in
                    ChartSeries(name: "s\(i)", points: [(0.3, 1000), (2, Double(2000 + i))])
                }),
            SVGChart(
                title: "nonpositive on log axes are left out", x: Self.sizeAxis, y: Self.nsAxis,
                series: [ChartSeries(name: "z", points: [(0, 1), (64, 0), (64, 100), (128, Double.nan)])]),
        ]
        for chart in charts {
            let svg = chart.render()
            #expect(Self.parsesAsXML(svg), "\(chart.title)")
            #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\""))
        }
        #expect(charts[0].render().contains("x&lt;y&gt;&amp;z"))
        #expect(charts[1].render().contains("No data"))
        #expect(charts[0].csv().hasPrefix("series,size (bytes),latency (ns)\n"))
    }

    @Test("log ticks: sizes at powers of 4, times at powers of 10, labelled as users read them")
    func ticks() {
        #expect(Self.sizeAxis.ticks(64, 1_048_576) == [64, 256, 1024, 4096, 16384, 65536, 262_144, 1_048_576])
        #expect(Self.sizeAxis.text(1024) == "1 KiB" && Self.sizeAxis.text(64) == "64 B")
        #expect(Self.nsAxis.ticks(100, 1_000_000) == [100, 1000, 10000, 100_000, 1_000_000])
        #expect(Self.nsAxis.text(10000) == "10µs" && Self.nsAxis.text(2500) == "2.5µs")
        #expect(ChartAxis(label: "r", scale: .log, unit: .count).text(1000) == "1k")
        // Less than a decade still gets ticks.
        #expect(Self.nsAxis.ticks(2000, 9000) == [2000, 5000])
        let linear = ChartAxis(label: "n", scale: .linear, unit: .count)
        #expect(linear.ticks(0, 10) == [0, 2, 4, 6, 8, 10])
        let q = ChartAxis(label: "q", scale: .linear, unit: .percentile)
        #expect(q.ticks(0.3, 3).map { q.text($0) } == ["p50", "p90", "p99", "p99.9"])
    }

    /// A results file with pingpong and stream cases of two transports.
    static func run(host: String, scale: Double) -> RunResult {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("PodBenchReportTests/Fixtures/run.json")
        var run = try! ResultsStore.decode(try! Data(contentsOf: url), source: "fixture")
        run.environment.client.hostname = host
        for i in run.cases.indices {
            for j in run.cases[i].trials.indices {
                run.cases[i].trials[j].messagesPerSecond *= scale
            }
        }
        return run
    }

    @Test("a report of one and of several files: every chart, and the page links only files that exist")
    func documents() throws {
        for count in [1, 3] {
            let dir = NSTemporaryDirectory() + "/podbench-report-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let inputs = (0..<count).map {
                ReportBuilder.Input(
                    label: "node-\($0)", path: "node-\($0).json", run: Self.run(host: "n\($0)", scale: 1))
            }
            let written = try ReportBuilder(inputs: inputs).write(to: dir)
            let names = Set(try Self.files(in: dir))
            #expect(names.contains("index.html") && names.contains("report.md"))
            #expect(names.contains("latency-p50.svg") && names.contains("throughput-messages.svg"))
            #expect(names.contains("spread.svg") == (count > 1))
            #expect(written.count + 1 == names.count && names.contains(ReportBuilder.manifestName))
            for name in names where name.hasSuffix(".svg") {
                #expect(Self.parsesAsXML(try String(contentsOfFile: dir + "/" + name, encoding: .utf8)), "\(name)")
            }
            let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
            let references = Self.references(in: html)
            #expect(!references.isEmpty)
            for reference in references { #expect(names.contains(reference), "index.html links \(reference)") }
            #expect(!html.contains("http://") && !html.contains("https://"), "the page must not need the network")
            let markdown = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
            for reference in Self.references(inMarkdown: markdown) { #expect(names.contains(reference)) }
        }
    }

    @Test("hostile names are escaped in report.md, the page, the charts and their CSV; extremes never trap")
    func hostileAndExtreme() throws {
        let dir = NSTemporaryDirectory() + "/podbench-report-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let evil = "=cmd|x\n## ✅ forged\n<script>alert(1)</script>\u{1B}[2J\u{1}"
        var run = Self.run(host: evil, scale: 1)
        run.environment.client.cpuModel = evil
        run.incompleteReason = evil
        for i in run.cases.indices {
            run.cases[i].key.hop = CaseKey.Hop(name: evil, entry: .uds)
            run.cases[i].key.options["wait"] = evil
            for j in run.cases[i].trials.indices {
                run.cases[i].trials[j].messagesPerSecond = j == 0 ? 1e12 : 1e-9
                run.cases[i].trials[j].bytesPerSecond = 1e15
                run.cases[i].trials[j].client.cpuNanosecondsPerMessage = 1e-9
                run.cases[i].trials[j].server.cpuNanosecondsPerMessage = 1e15
            }
        }
        // Two files, the hostile one's label heading its rows (the spread chart's CSV starts each
        // line with a file's label): kinds are checked when read, so labels and free text carry it.
        let written = try ReportBuilder(inputs: [
            ReportBuilder.Input(label: evil, path: "x.json", run: run),
            ReportBuilder.Input(label: "plain", path: "y.json", run: run),
        ]).write(to: dir)
        #expect(!written.isEmpty)
        let markdown = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(!markdown.contains("<script>") && !markdown.contains("\u{1B}") && !markdown.contains("\u{1}"))
        #expect(!markdown.split(separator: "\n").contains { $0.hasPrefix("## ✅") })
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(!html.contains("<script>") && !html.contains("\u{1B}"))
        for name in try Self.files(in: dir) {
            // Every file the report wrote stays inside its folder, under a name no file can choose.
            #expect(!name.contains("..") && !name.hasPrefix("/") && name.split(separator: "/").count <= 2, "\(name)")
            #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-=/".contains($0)) }, "\(name)")
            let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            if name.hasSuffix(".svg") { #expect(Self.parsesAsXML(text), "\(name)") }
            if name.hasSuffix(".csv") {
                #expect(!text.split(separator: "\n").contains { $0.hasPrefix("=") || $0.hasPrefix("## ") }, "\(name)")
            }
        }
    }

    @Test("axes over extreme but finite values and markers no axis can show: drawn, bounded, never hung")
    func extremeAxes() {
        let chart = SVGChart(
            title: "extremes", x: Self.sizeAxis, y: Self.nsAxis,
            series: [ChartSeries(name: "a", points: [(64, 1e308), (128, 5e-324), (256, 1)])],
            markers: [ChartMarker(x: -5, label: "negative"), ChartMarker(x: .nan, label: "nan")])
        #expect(Self.parsesAsXML(chart.render()))
        let ticks = Self.nsAxis.ticks(1e-300, 1e300)
        #expect(ticks.count == 64 && ticks.allSatisfy(\.isFinite))
    }

    /// Every regular file under `dir`, as a path relative to it.
    static func files(in dir: String) throws -> [String] {
        let enumerator = try #require(FileManager.default.enumerator(atPath: dir))
        var files: [String] = []
        while let name = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                files.append(name)
            }
        }
        return files.sorted()
    }

    static func references(in html: String) -> [String] {
        var found: [String] = []
        for attribute in ["src=\"", "href=\""] {
            var rest = Substring(html)
            while let r = rest.range(of: attribute) {
                rest = rest[r.upperBound...]
                if let end = rest.firstIndex(of: "\"") { found.append(String(rest[..<end])) }
            }
        }
        return found
    }

    static func references(inMarkdown text: String) -> [String] {
        var found: [String] = []
        var rest = Substring(text)
        while let r = rest.range(of: "](") {
            rest = rest[r.upperBound...]
            if let end = rest.firstIndex(of: ")") { found.append(String(rest[..<end])) }
        }
        return found
    }
}

@Suite("capacity: knee, objective, cost, saturation on curves with known answers")
struct CapacityTests {
    typealias Point = CapacityPlanner.Point

    /// A channel that holds 10 µs p99 up to 100k/s, then queues: p99 grows and delivery falls.
    static let curve: [Point] = [
        Point(offered: 1_000, achieved: 1_000, p50: 4_000, p99: 10_000, cpuPerMessage: 8_000),
        Point(offered: 10_000, achieved: 10_000, p50: 4_000, p99: 9_000, cpuPerMessage: 6_000),
        Point(offered: 100_000, achieved: 99_000, p50: 5_000, p99: 15_000, cpuPerMessage: 5_000),
        Point(offered: 200_000, achieved: 198_000, p50: 9_000, p99: 40_000, cpuPerMessage: 4_000),
        Point(offered: 400_000, achieved: 250_000, p50: 900_000, p99: 5_000_000, cpuPerMessage: 3_000),
    ]

    @Test("the knee is the last rate before p99 doubles over the best lower p99 or delivery falls under 95%")
    func knee() {
        let knee = CapacityPlanner.knee(Self.curve.shuffled())
        #expect(knee?.point.offered == 100_000 && knee?.broke == true)
        // Delivery breaking alone also marks it.
        var slow = Self.curve
        slow[2].achieved = 80_000
        #expect(CapacityPlanner.knee(slow)?.point.offered == 10_000)
        // No break: the highest rate, flagged as not a knee.
        let flat = Self.curve.prefix(3).map { p in
            Point(offered: p.offered, achieved: p.offered, p50: 1, p99: 10, cpuPerMessage: 1)
        }
        #expect(CapacityPlanner.knee(flat)?.point.offered == 100_000 && CapacityPlanner.knee(flat)?.broke == false)
        // Even the lowest rate broke: no knee.
        #expect(CapacityPlanner.knee([Point(offered: 10, achieved: 1, p50: 1, p99: 1, cpuPerMessage: 1)]) == nil)
    }

    @Test("capacity under an objective: the highest rate that meets it, every rate tried listed with why it missed")
    func capacity() throws {
        let objective = try CapacityPlanner.Objective(parsing: "p99=20us")
        #expect(objective.nanoseconds == 20_000 && objective.percentile == .p99)
        let plain = CapacityPlanner.assess(Self.curve, objective: objective)
        #expect(plain.capacity?.offered == 100_000 && plain.missesBelow.isEmpty)
        #expect(plain.description == "meets 1k–100k; misses 200k (p99 40.0µs), 400k (delivered 62.5%)")
        // A miss below a rate that meets it (an idle-wake-up tail at a low rate) does not hide the
        // capacity: it is listed as what it is.
        var bumpy = Self.curve
        bumpy[1].p99 = 2_550_000
        let assessed = CapacityPlanner.assess(bumpy, objective: objective)
        #expect(assessed.capacity?.offered == 100_000)
        #expect(assessed.missesBelow.map(\.point.offered) == [10_000])
        #expect(
            assessed.description
                == "meets 1k, 100k; misses 10k (p99 2.55ms), 200k (p99 40.0µs), 400k (delivered 62.5%)")
        let none = CapacityPlanner.assess(Self.curve, objective: try .init(parsing: "p50=1us"))
        #expect(none.capacity == nil && none.description.hasPrefix("meets none; misses 1k (p50 4.00µs)"))
        #expect(CapacityPlanner.ratePerCore(Self.curve[2]) == 200_000)
        #expect(CapacityPlanner.cores(Self.curve[2]) == 0.495)
        #expect(CapacityPlanner.saturation(Self.curve) == 250_000)
        #expect(CapacityPlanner.kneeBreak(Self.curve)?.cause == "p99 ×4.44 (9.00µs → 40.0µs)")
        var slow = Self.curve
        slow[2].achieved = 80_000
        #expect(CapacityPlanner.kneeBreak(slow)?.cause == "delivered 80.0%")
        for bad in ["p98=1ms", "p99", "p99=soon", "p99=0"] {
            #expect(throws: PodBenchError.self) { try CapacityPlanner.Objective(parsing: bad) }
        }
    }

    /// A report whose only run holds `curve` as uds 64 B rate cases.
    static func curveReport(_ objective: CapacityPlanner.Objective?) -> ReportBuilder {
        let run = ReportTests.run(host: "n", scale: 1)
        let input = ReportBuilder.Input(label: "node", path: "node.json", run: run)
        return ReportBuilder(inputs: [input], objective: objective)
    }

    @Test(
        "the open loop's curves of one channel (rate beside http1-rate) get colours of their own; the rest keep the channel's"
    )
    func rateCurveColours() throws {
        var run = ReportTests.run(host: "n", scale: 1)
        // tcp and uds at 64 B as rate, tcp also as http1-rate, each at two offered rates.
        var cases: [CaseResult] = []
        for (transport, workload) in [(TransportKind.tcp, WorkloadKind.rate), (.tcp, .http1Rate), (.uds, .rate)] {
            for rate in [1000, 2000] {
                var c = try #require(run.cases.first { $0.key.transport == transport && $0.key.messageSize == 64 })
                c.key.workload = workload
                c.key.rate = rate
                cases.append(c)
            }
        }
        run.cases = cases
        let report = ReportBuilder(inputs: [ReportBuilder.Input(label: "node", path: "node.json", run: run)])
        let latency = try #require(report.rateCharts().first { $0.file.hasPrefix("latency-vs-rate") })
        var colour: [String: Int] = [:]
        for series in latency.chart.series where colour[series.name] == nil {
            colour[series.name] = series.colour ?? -1
        }
        // The channels in the order first seen: tcp (0), uds (1); tcp's second curve the next free.
        #expect(colour["tcp 64 B p50"] == 0 && colour["tcp 64 B p99"] == 0, "\(colour)")
        #expect(colour["uds 64 B p50"] == 1, "\(colour)")
        #expect(colour["tcp http1-rate 64 B p50"] == 2 && colour["tcp http1-rate 64 B p99"] == 2, "\(colour)")
        // Mixed units: both named.
        #expect(latency.chart.x.label == "offered rate, messages or requests/s")
        // Two files, the second with its workloads in the other order: each curve keeps its colour
        // in both (before and after pair up by colour), the file told by the marker.
        var reversed = run
        reversed.cases.reverse()
        let two = ReportBuilder(inputs: [
            ReportBuilder.Input(label: "a", path: "a.json", run: run),
            ReportBuilder.Input(label: "b", path: "b.json", run: reversed),
        ])
        var byName: [String: Set<Int>] = [:]
        for chart in two.rateCharts() where chart.file.hasPrefix("latency-vs-rate") {
            for series in chart.chart.series {
                let name = series.name.replacingOccurrences(of: " [a]", with: "")
                    .replacingOccurrences(of: " [b]", with: "")
                byName[name, default: []].insert(series.colour ?? -1)
            }
        }
        #expect(byName["tcp http1-rate 64 B p50"] == [2] && byName["tcp 64 B p50"] == [0], "\(byName)")
    }

    @Test("one sentence per channel, with and without an objective, saying what does not fit")
    func sentences() throws {
        func line(_ report: ReportBuilder, _ points: [Point], workload: WorkloadKind = .rate)
            -> ReportBuilder.CapacityLine
        {
            let key = CaseKey(transport: .uds, workload: workload, messageSize: 64)
            let curve = ReportBuilder.RateCurve(
                name: "uds 64 B", input: report.inputs[0], key: key, points: points, memcpy: nil)
            let knee = CapacityPlanner.knee(points)
            let assessment = report.objective.map { CapacityPlanner.assess(points, objective: $0) }
            return ReportBuilder.CapacityLine(
                curve: curve, knee: knee, kneeBreak: CapacityPlanner.kneeBreak(points), assessment: assessment,
                basis: assessment.map { $0.capacity } ?? knee?.point, saturation: CapacityPlanner.saturation(points),
                memcpyShare: nil)
        }
        let slo = Self.curveReport(try .init(parsing: "p99=20us"))
        #expect(
            slo.sentence(line(slo, Self.curve))
                == "uds 64 B: 100k msg/s at p99 ≤ 20µs using 0.50 core for both sides; at 200k: p99 40.0µs.")
        var bumpy = Self.curve
        bumpy[1].p99 = 2_550_000
        #expect(
            slo.sentence(line(slo, bumpy))
                == "uds 64 B: 100k msg/s at p99 ≤ 20µs using 0.50 core for both sides; but misses it at the lower 10k (p99 2.55ms); at 200k: p99 40.0µs."
        )
        // http1-rate's curves count requests.
        #expect(
            slo.sentence(line(slo, Self.curve, workload: .http1Rate))
                == "uds 64 B: 100k req/s at p99 ≤ 20µs using 0.50 core for both sides; at 200k: p99 40.0µs.")
        let bare = Self.curveReport(nil)
        #expect(
            bare.sentence(line(bare, Self.curve, workload: .http1Rate))
                == "uds 64 B: 100k req/s before the knee, p99 15.0µs there, using 0.50 core for both sides; at 200k: p99 ×4.44 (9.00µs → 40.0µs)."
        )
        #expect(
            bare.sentence(line(bare, Self.curve))
                == "uds 64 B: 100k msg/s before the knee, p99 15.0µs there, using 0.50 core for both sides; at 200k: p99 ×4.44 (9.00µs → 40.0µs)."
        )
        let cells = bare.capacityCells(line(bare, Self.curve))
        #expect(cells.count == bare.capacityHeader.count)
        #expect(cells[1] == "100k (at 200k: p99 ×4.44 (9.00µs → 40.0µs))")
        #expect(slo.capacityCells(line(slo, bumpy)).count == slo.capacityHeader.count)
    }

}

@Suite("report: tidy data files, in units, that other tools read")
struct TidyDataTests {
    /// The committed example run: every workload, rate cases included.
    static func exampleRun() throws -> RunResult {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let dir = root.appendingPathComponent("results/example").path
        let name = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasSuffix(".json") })
        return try ResultsStore.load(dir + "/" + name)
    }

    /// RFC 4180 rows: quoted fields, doubled quotes (no field spans lines: `TextEscaping.csv`).
    static func parseCSV(_ text: String) -> [[String]] {
        text.split(separator: "\n").map { line in
            var fields: [String] = []
            var field = ""
            var quoted = false
            var chars = Array(line)[...]
            while let c = chars.popFirst() {
                if quoted {
                    if c == "\"" {
                        if chars.first == "\"" {
                            field.append("\"")
                            chars.removeFirst()
                        } else {
                            quoted = false
                        }
                    } else {
                        field.append(c)
                    }
                } else if c == "\"" {
                    quoted = true
                } else if c == "," {
                    fields.append(field)
                    field = ""
                } else {
                    field.append(c)
                }
            }
            fields.append(field)
            return fields
        }
    }

    /// Rows of a CSV as dictionaries by column name (every row as wide as the header).
    static func table(_ path: String) throws -> (header: [String], rows: [[String: String]]) {
        let rows = parseCSV(try String(contentsOfFile: path, encoding: .utf8))
        let header = try #require(rows.first)
        for row in rows.dropFirst() { #expect(row.count == header.count, "\(path): \(row)") }
        return (header, rows.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) })
    }

    /// Columns that hold names or words; every other column's name says its unit.
    static let textColumns: Set<String> = [
        "file", "channel", "transport", "workload", "hop", "hop_in", "status", "error", "latency", "histogram_file",
        "knee_broke", "break_cause", "objective", "cost_at", "sentence", "rates_tried_msg_per_s",
        "objective_misses_msg_per_s",
    ]
    static let unitSuffixes = [
        "_ns", "_ns_min", "_ns_max", "_bytes", "_per_s", "_per_s_min", "_per_s_max", "_fraction", "_per_msg",
        "_share_of_memcpy", "_cores_both_sides", "trials", "trial", "messages", "latency_samples", "received", "lost",
        "_per_core",
    ]

    @Test("cases.csv, trials.csv, capacity.csv and one .hgrm per case hold the run's figures, in units")
    func dataFiles() throws {
        let run = try Self.exampleRun()
        let dir = NSTemporaryDirectory() + "/podbench-tidy-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let objective = try CapacityPlanner.Objective(parsing: "p99=100us")
        let report = ReportBuilder(
            inputs: [ReportBuilder.Input(label: "example", path: "example.json", run: run)], objective: objective)
        try report.write(to: dir)

        let cases = try Self.table(dir + "/cases.csv")
        for column in cases.header where !Self.textColumns.contains(column) && !column.hasPrefix("option_") {
            #expect(Self.unitSuffixes.contains { column.hasSuffix($0) }, "cases.csv column \(column) names no unit")
        }
        #expect(cases.rows.count == run.cases.count)
        for (row, c) in zip(cases.rows, run.cases) {
            #expect(row["transport"] == c.key.transport.rawValue && row["size_bytes"] == String(c.key.messageSize))
            #expect(row["offered_rate_msg_per_s"] == c.key.rate.map(String.init) ?? "")
            guard c.status == .ok else { continue }
            let s = CaseSummary(c)
            #expect(Double(row["p50_ns"] ?? "") == s.p50, "\(c.key)")
            #expect(Double(row["messages_per_s"] ?? "").map { abs($0 - s.messagesPerSecond) < 1e-6 * $0 } == true)
            let low = try #require(Double(row["messages_per_s_min"] ?? ""))
            let high = try #require(Double(row["messages_per_s_max"] ?? ""))
            #expect(low <= s.messagesPerSecond * (1 + 1e-9) && s.messagesPerSecond <= high * (1 + 1e-9))
            // The case's histogram, in HdrHistogram's own percentile-distribution format.
            let hgrm = try #require(row["histogram_file"], "\(c.key)")
            let text = try String(contentsOfFile: dir + "/" + hgrm, encoding: .utf8)
            let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first?.hasPrefix("Value") == true && lines.first?.contains("Percentile") == true)
            #expect(lines.contains { $0.hasPrefix("#[Mean") } && lines.contains { $0.hasPrefix("#[Buckets") })
            let merged = try #require(ReportBuilder.mergedLatency(c))
            let median = try #require(
                lines.compactMap { line -> (Double, Double)? in
                    let f = line.split(separator: " ")
                    guard f.count == 4, let v = Double(f[0]), let q = Double(f[1]) else { return nil }
                    return (v, q)
                }.first { $0.1 >= 0.5 })
            let expected = Double(merged.valueAtPercentile(50)) / 1000
            #expect(abs(median.0 - expected) <= 0.01 * expected + 0.001, "\(c.key): \(median.0) µs vs \(expected) µs")
        }

        let trials = try Self.table(dir + "/trials.csv")
        #expect(trials.rows.count == run.cases.filter { $0.status == .ok }.map(\.trials.count).reduce(0, +))
        for column in trials.header where !Self.textColumns.contains(column) && !column.hasPrefix("option_") {
            #expect(Self.unitSuffixes.contains { column.hasSuffix($0) }, "trials.csv column \(column) names no unit")
        }

        let capacity = try Self.table(dir + "/capacity.csv")
        let channels = Set(
            run.cases.filter { $0.key.workload == .rate }.map { c in
                var key = c.key
                key.rate = nil
                return key
            })
        #expect(capacity.rows.count == channels.count)
        for row in capacity.rows {
            let tried = (row["rates_tried_msg_per_s"] ?? "").split(separator: ";").map(String.init)
            if let knee = row["knee_msg_per_s"], !knee.isEmpty { #expect(tried.contains(knee)) }
            if let kept = row["objective_capacity_msg_per_s"], !kept.isEmpty {
                #expect(tried.contains(kept))
                #expect(!(row["objective_misses_msg_per_s"] ?? "").split(separator: ";").contains(Substring(kept)))
                #expect(row["sentence"]?.contains("at p99 ≤ 100µs using") == true, "\(row)")
            }
        }

        // Chart data in the units the charts show, never plot coordinates or guides.
        let achieved = try String(contentsOfFile: dir + "/achieved-vs-offered-64B-1.csv", encoding: .utf8)
        #expect(!achieved.contains("ideal"))
        let spectrum = try Self.table(dir + "/spectrum.csv")
        #expect(spectrum.header == ["series", "percentile (%)", "round trip (ns)"])
        #expect(spectrum.rows.allSatisfy { Double($0["percentile (%)"] ?? "").map { $0 >= 50 && $0 < 100 } == true })
        #expect(spectrum.rows.contains { $0["percentile (%)"] == "99" })
        let p50 = try Self.table(dir + "/latency-p50.csv")
        #expect(
            p50.header == [
                "series", "message size, payload (bytes)", "round trip, pingpong (ns)",
                "lowest trial, round trip, pingpong (ns)", "highest trial, round trip, pingpong (ns)",
            ])
        for row in p50.rows {
            let (v, low, high) = (
                Double(row["round trip, pingpong (ns)"] ?? ""),
                Double(row["lowest trial, round trip, pingpong (ns)"] ?? ""),
                Double(row["highest trial, round trip, pingpong (ns)"] ?? "")
            )
            #expect(low! <= v! && v! <= high!, "\(row)")
        }
        let bytes = try Self.table(dir + "/throughput-bytes.csv")
        #expect(bytes.header[2] == "payload throughput, stream (bytes/s)")
    }

    @Test("the spread chart's CSV names transports, not category indexes")
    func spreadCSV() throws {
        let run = try Self.exampleRun()
        let report = ReportBuilder(inputs: [
            ReportBuilder.Input(label: "a", path: "a.json", run: run),
            ReportBuilder.Input(label: "b", path: "b.json", run: run),
        ])
        let spread = try #require(report.spreadChart())
        let rows = Self.parseCSV(spread.chart.csv())
        #expect(rows.first == ["series", "transport", "round trip p50 (ns)"])
        #expect(rows.dropFirst().allSatisfy { TransportKind(rawValue: $0[1]) != nil }, "\(rows)")
    }
}

@Suite("report: a folder never mixes two reports")
struct ReportFolderTests {
    static func temporary() -> String { NSTemporaryDirectory() + "/podbench-folder-\(UUID().uuidString.prefix(8))" }

    @Test("rewriting a report's folder removes the files the new report does not write, and nothing else")
    func staleFilesRemoved() throws {
        let dir = Self.temporary()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let example = ReportBuilder(inputs: [
            ReportBuilder.Input(label: "example", path: "example.json", run: try TidyDataTests.exampleRun())
        ])
        try example.write(to: dir)
        #expect(FileManager.default.fileExists(atPath: dir + "/latency-vs-rate-64B-1.svg"))
        let small = ReportBuilder(inputs: [
            ReportBuilder.Input(label: "n", path: "n.json", run: ReportTests.run(host: "n", scale: 1))
        ])
        let written = try small.write(to: dir)
        let files = try ReportTests.files(in: dir)
        #expect(files.count == written.count + 1 && files.contains(ReportBuilder.manifestName))
        for gone in ["latency-vs-rate-64B-1.svg", "latency-vs-rate-64KiB-2.csv", "capacity.csv"] {
            #expect(!files.contains(gone), "\(gone) of the older report is still there")
        }
        #expect(files.filter { $0.hasPrefix("histograms/") }.count == ReportTests.run(host: "n", scale: 1).cases.count)
    }

    @Test(
        "a folder of other files is refused without --force and left whole with it; a forged manifest removes nothing outside"
    )
    func foreignFolder() throws {
        let root = Self.temporary()
        let dir = root + "/out"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        let report = ReportBuilder(inputs: [
            ReportBuilder.Input(label: "n", path: "n.json", run: ReportTests.run(host: "n", scale: 1))
        ])
        #expect {
            try report.write(to: dir)
        } throws: { error in
            (error as? PodBenchError)?.code == .invalidConfiguration
                && (error as? PodBenchError)?.message.contains("--force") == true
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/index.html"))
        try report.write(to: dir, force: true)
        #expect(FileManager.default.fileExists(atPath: dir + "/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: dir + "/index.html"))
        // A manifest naming files outside the folder, hidden ones, and files behind a link.
        try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/outside.txt"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/elsewhere/victim.hgrm"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/.hidden"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/linked", withDestinationPath: dir + "/elsewhere")
        // And names a report never writes: a results file, a document in a folder, a note.
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/results.json"))
        try FileManager.default.createDirectory(atPath: dir + "/Documents", withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/Documents/cv.pdf"))
        let forged = [
            "../outside.txt", root + "/outside.txt", ".hidden", "linked/victim.hgrm", "elsewhere/../notes.txt",
            "results.json", "Documents/cv.pdf", "notes.txt",
        ]
        try Data(forged.joined(separator: "\n").utf8).write(
            to: URL(fileURLWithPath: dir + "/" + ReportBuilder.manifestName))
        try report.write(to: dir)
        for kept in [
            root + "/outside.txt", dir + "/.hidden", dir + "/elsewhere/victim.hgrm", dir + "/notes.txt",
            dir + "/results.json", dir + "/Documents/cv.pdf",
        ] {
            #expect(FileManager.default.fileExists(atPath: kept), "\(kept) was removed")
        }
        // A histograms folder that is a link out of the report's folder is refused.
        let other = root + "/other"
        try FileManager.default.createDirectory(atPath: other + "/out", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: other + "/out/histograms", withDestinationPath: root)
        #expect(throws: PodBenchError.self) { try report.write(to: other + "/out", force: true) }
    }
}

@Suite("the committed example is what this code draws")
struct ExampleTests {
    @Test("plots/example equals a report of results/example drawn now (scripts/regenerate-examples.sh)")
    func exampleIsCurrent() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let script = try String(contentsOfFile: root + "/scripts/regenerate-examples.sh", encoding: .utf8)
        // The objective the script draws with, so the two cannot drift apart.
        let slo = try #require(
            script.split(separator: "\n").first { $0.hasPrefix("\"$bin\" report ") }?.split(separator: " ")
                .drop { $0 != "--slo" }.dropFirst().first)
        let paths = try FileManager.default.contentsOfDirectory(atPath: root + "/results/example")
            .filter { $0.hasSuffix(".json") }.sorted().map { root + "/results/example/" + $0 }
        let inputs = try zip(paths, ReportBuilder.labels(forPaths: paths)).map {
            ReportBuilder.Input(label: $0.1, path: $0.0, run: try ResultsStore.load($0.0))
        }
        let dir = NSTemporaryDirectory() + "/podbench-example-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ReportBuilder(inputs: inputs, objective: try .init(parsing: String(slo))).write(to: dir)
        let drawn = try ReportTests.files(in: dir)
        let committed = try ReportTests.files(in: root + "/plots/example")
        let advice = "run scripts/regenerate-examples.sh and commit plots/example"
        #expect(drawn == committed, "files differ: \(Set(drawn).symmetricDifference(committed).sorted()); \(advice)")
        for name in Set(drawn).intersection(committed).sorted() {
            let now = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            let then = try Data(contentsOf: URL(fileURLWithPath: root + "/plots/example/" + name))
            #expect(now == then, "plots/example/\(name) is not what this code draws; \(advice)")
        }
    }
}

@Suite("charts a person reads at a glance")
struct ChartLegibilityTests {
    /// Every text label of an SVG with its box (rotated ones left out: the y axis's title alone).
    static func labels(_ svg: String) throws -> [(text: String, box: SVGChart.LabelBox)] {
        let pattern = try NSRegularExpression(pattern: "<text([^>]*)>([^<]*)")
        func attribute(_ name: String, _ attributes: String) -> String? {
            guard let r = attributes.range(of: " \(name)=\"") else { return nil }
            let rest = attributes[r.upperBound...]
            return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
        }
        var out: [(String, SVGChart.LabelBox)] = []
        for m in pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)) {
            let attributes = String(svg[Range(m.range(at: 1), in: svg)!])
            if let transform = attribute("transform", attributes) {
                // The y axis's title, turned a quarter left about (x, y): tall, one line wide.
                let numbers = transform.matches(of: /[\d.]+/).compactMap { Double($0.output) }
                let text = String(svg[Range(m.range(at: 2), in: svg)!])
                guard transform.hasSuffix("rotate(-90)"), numbers.count >= 2 else { continue }
                let (x, y, size, length) = (numbers[0], numbers[1], 12.0, Double(text.count) * 12 * 0.62)
                out.append(
                    (
                        text,
                        SVGChart.LabelBox(
                            left: x - 0.8 * size, top: y - length / 2, right: x + 0.25 * size, bottom: y + length / 2)
                    ))
                continue
            }
            let text = String(svg[Range(m.range(at: 2), in: svg)!])
                .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                .replacingOccurrences(of: "&amp;", with: "&").replacingOccurrences(of: "&quot;", with: "\"")
                .replacingOccurrences(of: "&#39;", with: "'")
            guard !text.isEmpty, let x = Double(attribute("x", attributes) ?? ""),
                let y = Double(attribute("y", attributes) ?? "")
            else { continue }
            let size = Double(attribute("font-size", attributes) ?? "") ?? 12
            out.append(
                (
                    text,
                    SVGChart.box(text, x: x, y: y, anchor: attribute("text-anchor", attributes) ?? "start", size: size)
                ))
        }
        return out
    }

    /// Whether no two labels of `svg` overlap and every one is inside its width.
    static func check(_ svg: String, _ name: String) throws {
        let labels = try Self.labels(svg)
        #expect(!labels.isEmpty, "\(name) has no labels")
        let width = Double(svg.firstMatch(of: /width="(\d+)"/).map { String($0.1) } ?? "") ?? 0
        // The plot's frame: where the data is drawn, which no label may cover.
        let frame = svg.firstMatch(
            of: /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)" fill="none"/)
        let plot = frame.map { m in
            SVGChart.LabelBox(
                left: Double(m.1)!, top: Double(m.2)!, right: Double(m.1)! + Double(m.3)!,
                bottom: Double(m.2)! + Double(m.4)!)
        }
        for (i, a) in labels.enumerated() {
            #expect(a.box.left >= 0 && a.box.right <= width, "\(name): '\(a.text)' leaves the chart")
            if let plot { #expect(!a.box.intersects(plot), "\(name): '\(a.text)' is drawn over the data") }
            for b in labels[(i + 1)...] where a.box.intersects(b.box) {
                Issue.record("\(name): '\(a.text)' overlaps '\(b.text)'")
            }
        }
    }

    @Test("no two labels overlap in any chart of the committed example")
    func committedExample() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        let svgs = try FileManager.default.contentsOfDirectory(atPath: root + "/plots/example").filter {
            $0.hasSuffix(".svg")
        }
        #expect(svgs.count >= 9)
        for name in svgs {
            try Self.check(try String(contentsOfFile: root + "/plots/example/" + name, encoding: .utf8), name)
        }
    }

    @Test("many files, long names, many channels: panels of at most six lines, one colour per channel, labels apart")
    func crowded() throws {
        var run = try TidyDataTests.exampleRun()
        // Twelve channels: the example's three, each also with four option values.
        let original = run.cases
        for wait in ["spin", "futex", "spin-futex:10us"] {
            run.cases += original.map { c in
                var c = c
                c.key.options["wait-long-option-name-for-the-legend"] = wait
                return c
            }
        }
        let inputs = (0..<3).map {
            ReportBuilder.Input(
                label: "node-\($0)-worker-pool-a-00.eu-west-1.compute.internal", path: "\($0).json", run: run)
        }
        let report = ReportBuilder(inputs: inputs, objective: try .init(parsing: "p99=100us"))
        let charts = report.charts()
        for c in charts {
            let lines = c.chart.series.filter { !$0.reference }
            #expect(lines.count <= ReportBuilder.panelSeries, "\(c.file): \(lines.count) lines")
            try Self.check(c.chart.render(), c.file)
        }
        // A channel keeps its colour across charts and files; files differ by dash.
        let colours = Dictionary(grouping: charts.flatMap(\.chart.series).filter { !$0.reference }) {
            $0.name.components(separatedBy: " [").first ?? ""
        }
        for (channel, series) in colours where !channel.isEmpty {
            let distinct = Set(series.compactMap(\.colour))
            // cpu-per-message names end in sender/receiver; rate ones in a size and a percentile.
            #expect(distinct.count == 1, "\(channel): colours \(distinct)")
        }
        #expect(charts.contains { $0.file == "latency-p50-1" } && charts.contains { $0.family == "latency-vs-rate" })
        // Every panel of a family has the same axes.
        for family in ReportBuilder.families(charts) where family.count > 1 {
            let extents = family.compactMap { $0.chart.extent.map { "\($0)" } }
            #expect(extents.count == family.count && Set(extents).count == 1, "\(family[0].family)")
        }
    }

    @Test("every point and legend entry has a tooltip; the chart has a title element")
    func tooltips() throws {
        let chart = SVGChart(
            title: "t", x: ReportTests.sizeAxis, y: ReportTests.nsAxis,
            series: [ChartSeries(name: "uds", points: [(64, 5000), (1024, 7000)])])
        let svg = chart.render()
        #expect(svg.contains("<title>t</title>"))
        #expect(svg.contains("<title>uds: 64 B → 5µs</title>") && svg.contains("<title>uds: 1 KiB → 7µs</title>"))
        #expect(svg.contains("<g><title>uds</title>"))
    }
}

@Suite("the summary at the top")
struct SummaryTests {
    @Test("report.md and index.html open with when, where, how and the key numbers, before any chart")
    func summaryFirst() throws {
        let run = try TidyDataTests.exampleRun()
        let report = ReportBuilder(
            inputs: [ReportBuilder.Input(label: "example", path: "example.json", run: run)],
            objective: try .init(parsing: "p99=100us"))
        let charts = report.charts()
        let markdown = report.markdown(charts)
        let summary = try #require(markdown.range(of: "## Summary"))
        let capacity = try #require(markdown.range(of: "## Capacity"))
        let firstChart = try #require(markdown.range(of: "!["))
        #expect(summary.lowerBound < capacity.lowerBound && capacity.lowerBound < firstChart.lowerBound)
        let top = String(markdown[summary.lowerBound..<capacity.lowerBound])
        let e = TextEscaping.markdown
        #expect(top.contains(e(run.startedAt)) && top.contains(e(run.environment.client.kernelRelease)))
        #expect(top.contains("pinned client=0 server=1") && top.contains("3 trials"))
        // Key numbers per channel: round trip at the smallest size, peak payload, CPU per message.
        for channel in ["| tcp |", "| uds |", "| shm ring=1MiB wait=spin-futex |"] {
            #expect(top.contains(channel), "\(channel)")
        }
        #expect(top.contains("(64 B)") && top.contains("B/s (64KiB)"))
        let html = report.html(charts)
        let h = try #require(html.range(of: "<h2>Summary</h2>"))
        let figure = try #require(html.range(of: "<figure>"))
        #expect(h.lowerBound < figure.lowerBound)
    }
}

@Suite("review fixes: labels, rounding, panel sizes")
struct ReportReviewTests {
    @Test("labels stay unique: a suffix never takes another file's own name")
    func uniqueLabels() {
        let labels = ReportBuilder.labels(forPaths: ["x-3.json", "a/x.json", "b/x.json", "c/x.json"])
        #expect(Set(labels).count == labels.count, "\(labels)")
        #expect(labels[0] == "x-3" && labels[1] == "x")
    }

    @Test("a figure never reads as within the rule it broke")
    func rounding() throws {
        let objective = try CapacityPlanner.Objective(parsing: "p99=100us")
        typealias Point = CapacityPlanner.Point
        let near = Point(offered: 10_000, achieved: 10_000, p50: 1, p99: 100_200, cpuPerMessage: 1)
        #expect(objective.miss(near) == "p99 100200ns")
        let short = Point(offered: 10_000, achieved: 9_496, p50: 1, p99: 1, cpuPerMessage: 1)
        #expect(objective.miss(short) == "delivered 94.9%")
        let knee = CapacityPlanner.kneeBreak([
            Point(offered: 1_000, achieved: 1_000, p50: 1, p99: 10_000, cpuPerMessage: 1),
            Point(offered: 2_000, achieved: 2_000, p50: 1, p99: 20_040, cpuPerMessage: 1),
        ])
        #expect(knee?.cause.hasPrefix("p99 ×2.0040") == true, "\(knee?.cause ?? "")")
    }

    @Test("each rate panel is titled with the size of its own lines, 1500 B beside 15000 B")
    func panelSizes() throws {
        var run = try TidyDataTests.exampleRun()
        for i in run.cases.indices where run.cases[i].key.workload == .rate {
            run.cases[i].key.messageSize = run.cases[i].key.messageSize == 64 ? 1500 : 15000
        }
        let report = ReportBuilder(inputs: [ReportBuilder.Input(label: "e", path: "e.json", run: run)])
        let panels = report.charts().filter { $0.family == "latency-vs-rate" }
        #expect(panels.count == 2)
        for p in panels {
            let size = p.chart.title.contains(ReportBuilder.sizeText(15000)) ? 15000 : 1500
            for s in p.chart.series {
                #expect(s.name.contains(" \(ReportBuilder.sizeText(size)) p"), "\(p.chart.title): \(s.name)")
            }
        }
    }
}
