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
        #expect(charts[0].csv().hasPrefix("series,size,latency\n"))
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
            let names = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
            #expect(names.contains("index.html") && names.contains("report.md"))
            #expect(names.contains("latency-p50.svg") && names.contains("throughput-messages.svg"))
            #expect(names.contains("spread.svg") == (count > 1))
            #expect(written.count == names.count)
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
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
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

    @Test("capacity under an objective stops at the first rate that misses it")
    func capacity() throws {
        let objective = try CapacityPlanner.Objective(parsing: "p99=20us")
        #expect(objective.nanoseconds == 20_000 && objective.percentile == .p99)
        #expect(CapacityPlanner.capacity(Self.curve, objective: objective)?.offered == 100_000)
        // A pass above a failure is noise, not capacity.
        var bumpy = Self.curve
        bumpy[1].p99 = 50_000
        #expect(CapacityPlanner.capacity(bumpy, objective: objective)?.offered == 1_000)
        #expect(CapacityPlanner.capacity(Self.curve, objective: try .init(parsing: "p50=1us")) == nil)
        #expect(CapacityPlanner.ratePerCore(Self.curve[2]) == 200_000)
        #expect(CapacityPlanner.saturation(Self.curve) == 250_000)
        for bad in ["p98=1ms", "p99", "p99=soon", "p99=0"] {
            #expect(throws: PodBenchError.self) { try CapacityPlanner.Objective(parsing: bad) }
        }
    }
}
