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
        #expect(Self.nsAxis.text(10000) == "10.0µs")
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
