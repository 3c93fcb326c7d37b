import Foundation
import PodBenchCore
import PodBenchResults
import Testing

@testable import PodBenchReport

/// Fleets of synthetic nodes with known outliers: copies of the fixture run, each node's figures
/// moved by a small spread of its own, and chosen nodes made slower.
enum FleetFixture {
    /// A node of the fleet: the fixture as measured on `node`, its latencies × `slower` and its
    /// throughput ÷ `slower`, each case moved by `jitter` more (a node's own small difference).
    /// The fixture, decoded once.
    static let base = ReportTests.run(host: "pod", scale: 1)

    static func node(_ node: String, slower: Double = 1, jitter: Double = 0) -> RunResult {
        var run = base
        run.environment.client.hostname = "pod-\(node)"
        run.environment.client.nodeName = node
        for i in run.cases.indices {
            // Each case its own small difference, alternating in sign: nodes do not agree exactly.
            let factor = slower * (1 + jitter * (i % 2 == 0 ? 1 : -0.5))
            for j in run.cases[i].trials.indices {
                var t = run.cases[i].trials[j]
                func scale(_ s: LatencySummary?) -> LatencySummary? {
                    guard var s else { return nil }
                    for path in [\LatencySummary.min, \.p50, \.p90, \.p99, \.p999, \.max] {
                        s[keyPath: path] = UInt64(Double(s[keyPath: path]) * factor)
                    }
                    s.mean *= factor
                    return s
                }
                t.latencySummary = scale(t.latencySummary)
                t.oneWayLatencySummary = scale(t.oneWayLatencySummary)
                t.messagesPerSecond /= factor
                t.bytesPerSecond /= factor
                t.client.cpuNanosecondsPerMessage *= factor
                t.server.cpuNanosecondsPerMessage *= factor
                run.cases[i].trials[j] = t
            }
        }
        return run
    }

    /// Node names as a cloud names them: a long common prefix and suffix.
    static func name(_ i: Int) -> String {
        "gke-prod-pool-a-\(String(format: "%02d", i)).europe-west1-b.c.example.internal"
    }

    /// `count` nodes, each within ±3% of the others; those in `slow` `slower` times slower.
    static func fleet(_ count: Int, slow: Set<Int> = [], slower: Double = 2) -> [ReportBuilder.Input] {
        (0..<count).map { i in
            let jitter = Double((i * 7) % 11 - 5) / 5 * 0.03
            let run = node(name(i), slower: slow.contains(i) ? slower : 1, jitter: jitter)
            return ReportBuilder.Input(label: "node-\(i)", path: "node-\(i).json", run: run)
        }
    }
}

@Suite("a fleet of nodes: outliers, distributions, configurations")
struct FleetTests {
    @Test("node names are cut to the part that tells them apart, and kept whole when that is ambiguous")
    func names() {
        #expect(
            FleetAnalysis.distinguishing([
                "worker-pool-a-00.eu-west1.internal", "worker-pool-a-01.eu-west1.internal",
                "worker-pool-b-13.eu-west1.internal",
            ]) == ["a-00", "a-01", "b-13"])
        #expect(FleetAnalysis.distinguishing(["alpha", "beta"]) == ["alpha", "beta"])
        // One name the prefix of another: nothing left of it, so whole names.
        #expect(FleetAnalysis.distinguishing(["node", "node-2"]) == ["node", "node-2"])
        let long = FleetAnalysis.distinguishing([
            String(repeating: "x", count: 60) + "1", String(repeating: "y", count: 60),
        ])
        #expect(long.allSatisfy { $0.count <= 28 } && Set(long).count == 2)
        #expect(FleetAnalysis.distinguishing((0..<50).map(FleetFixture.name)).first == "00")
    }

    @Test("two slow nodes of twelve are flagged, and only they; a fleet within 3% flags none")
    func outliers() throws {
        let inputs = FleetFixture.fleet(12, slow: [3, 8])
        let f = try #require(ReportBuilder(inputs: inputs).fleet)
        #expect(f.scored)
        #expect(Set(f.flaggedNodes) == [3, 8], "\(f.nodes.map { ($0.label, $0.ratios, $0.scores) })")
        #expect(f.ranked.prefix(2).sorted() == [3, 8])
        for n in [3, 8] {
            #expect(f.nodes[n].flagged.contains(.roundTripP50) && f.nodes[n].flagged.contains(.streamThroughput))
            #expect(abs(try #require(f.nodes[n].ratios[.roundTripP50]) - 2) < 0.15)
        }
        let calm = try #require(ReportBuilder(inputs: FleetFixture.fleet(12)).fleet)
        #expect(calm.flaggedNodes.isEmpty)
        // Copies of one file: no spread at all; nothing is infinitely far.
        let copies = (0..<8).map {
            ReportBuilder.Input(label: "c\($0)", path: "c\($0)", run: FleetFixture.node("n\($0)"))
        }
        let same = try #require(ReportBuilder(inputs: copies).fleet)
        #expect(same.flaggedNodes.isEmpty && same.nodes.allSatisfy { $0.worstScore.isFinite })
        // A node 7% slower in a tight fleet: far by its score (above 3.5), but below the 10% anyone acts on.
        var tight = copies
        tight[2].run = FleetFixture.node("n2", slower: 1.07)
        let seven = try #require(ReportBuilder(inputs: tight).fleet)
        #expect((seven.nodes[2].scores[.roundTripP50] ?? 0) > FleetAnalysis.scoreThreshold)
        #expect(seven.flaggedNodes.isEmpty)
        tight[2].run = FleetFixture.node("n2", slower: 1.3)
        #expect(try #require(ReportBuilder(inputs: tight).fleet).flaggedNodes == [2])
    }

    @Test("fewer than five nodes get ratios, no scores; one node is no fleet")
    func small() throws {
        let f = try #require(ReportBuilder(inputs: FleetFixture.fleet(3, slow: [1])).fleet)
        #expect(!f.scored && f.flaggedNodes.isEmpty && f.nodes[1].scores.isEmpty)
        #expect((f.nodes[1].ratios[.roundTripP50] ?? 0) > 1.5)
        #expect(ReportBuilder(inputs: FleetFixture.fleet(1)).fleet == nil)
        // Two files of one node: runs to compare, not a fleet.
        let twice = [
            FleetFixture.fleet(1)[0],
            ReportBuilder.Input(label: "again", path: "again", run: FleetFixture.fleet(1)[0].run),
        ]
        #expect(ReportBuilder(inputs: twice).fleet == nil)
    }

    @Test("configurations group nodes by kernel and CPU, and say where the flagged nodes are")
    func configurations() throws {
        var inputs = FleetFixture.fleet(10, slow: [6, 7])
        for i in [6, 7] {
            inputs[i].run.environment.client.kernelRelease = "6.99.0-slow"
            inputs[i].run.environment.server.kernelRelease = "6.99.0-slow"
        }
        let builder = ReportBuilder(inputs: inputs)
        let f = try #require(builder.fleet)
        #expect(f.configurations.count == 2 && f.configurations[1].nodes == [6, 7])
        let sentences = builder.fleetSentences(f).joined(separator: " ")
        #expect(sentences.contains("2 of the flagged on configuration 2, which has 2 of the 10 nodes"), "\(sentences)")
        let lines = builder.configurationLines(f)
        #expect(lines[1].title.contains("2 nodes, 2 flagged") && lines[1].lines.contains("kernel: 6.99.0-slow"))
    }

    @Test("a report of 12 nodes: fleet first, box plots and a heat map instead of a line per file, links intact")
    func report() throws {
        let dir = NSTemporaryDirectory() + "/podbench-fleet-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var inputs = FleetFixture.fleet(12, slow: [3, 8])
        // A hostile node name: escaped everywhere it goes.
        inputs[5].run.environment.client.nodeName = "evil|<script>x</script>\n## forged"
        try ReportBuilder(inputs: inputs).write(to: dir)
        let names = Set(try ReportTests.files(in: dir))
        for name in [
            "fleet-round-trip-p50.svg", "fleet-stream-payload.svg", "fleet-cpu-per-message.svg", "fleet-heat-map.svg",
            "fleet-nodes.csv", "fleet-cases.csv", "cases.csv", "trials.csv",
        ] {
            #expect(names.contains(name), "\(name)")
        }
        #expect(!names.contains("latency-p50.svg") && !names.contains("spread.svg"))
        // One histogram per case, every node's trials merged.
        #expect(names.filter { $0.hasPrefix(ReportBuilder.histogramFolder + "/") }.count == 12)
        for name in names where name.hasSuffix(".svg") {
            #expect(ReportTests.parsesAsXML(try String(contentsOfFile: dir + "/" + name, encoding: .utf8)), "\(name)")
        }
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(md.hasPrefix("# podbench report: a fleet of 12 nodes\n\n## Fleet summary"))
        #expect(!md.contains("<script>") && !md.contains("\n## forged"))
        // The outlier table lists the two slow nodes first.
        let outliers = md.components(separatedBy: "### Outliers")[1].split(separator: "\n").filter {
            $0.hasPrefix("| ")
        }
        try #require(outliers.count >= 4, "\(outliers)")
        #expect(
            Set(outliers[1...2].map { $0.contains("pool-a-03") ? 3 : $0.contains("pool-a-08") ? 8 : -1 }) == [3, 8])
        #expect(outliers[1].contains("round trip p50") && outliers[2].contains("round trip p50"))
        #expect(!outliers[3].contains("round trip p50"), "\(outliers)")
        let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
        #expect(!html.contains("<script>x"))
        for reference in ReportTests.references(in: html) { #expect(names.contains(reference), "\(reference)") }
        for reference in ReportTests.references(inMarkdown: md) { #expect(names.contains(reference), "\(reference)") }
        let csv = try String(contentsOfFile: dir + "/fleet-nodes.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 13 && csv[0].hasPrefix("node,node_name,file,configuration,round_trip_p50_ratio"))
    }

    @Test("three nodes: the fleet summary first, then each file's own charts as before")
    func fewNodes() throws {
        let dir = NSTemporaryDirectory() + "/podbench-fleet-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ReportBuilder(inputs: FleetFixture.fleet(3)).write(to: dir)
        let names = Set(try ReportTests.files(in: dir))
        #expect(
            names.contains("latency-p50.svg") && names.contains("spread.svg") && names.contains("fleet-heat-map.svg"))
        let md = try String(contentsOfFile: dir + "/report.md", encoding: .utf8)
        #expect(md.contains("## Fleet summary") && md.contains("## Cases\n") && md.contains("no node is scored"))
    }

    @Test("the heat map of 100 nodes draws the 40 worst, its CSV every node; labels stay inside the picture")
    func heatMapScale() throws {
        let builder = ReportBuilder(inputs: FleetFixture.fleet(100, slow: [17, 85]))
        let f = try #require(builder.fleet)
        let heat = try #require(builder.heatMap(f))
        let rows = heat.svg.components(separatedBy: "text-anchor=\"end\"").count - 1
        #expect(rows == ReportBuilder.heatMapWorst)
        #expect(heat.csv.split(separator: "\n").count == 101)
        #expect(heat.svg.contains(">17<") && heat.svg.contains(">85<"))
        #expect(ReportTests.parsesAsXML(heat.svg))
        // Every case of the metric is a row of its box plot (the fixture: 6 pingpong, 6 stream
        // cases); a flagged node a red dot.
        let boxRows = Dictionary(
            uniqueKeysWithValues: builder.fleetFigures(f).map { ($0.file, $0.csv.split(separator: "\n").count - 1) })
        #expect(
            boxRows["fleet-round-trip-p50"] == 6 && boxRows["fleet-stream-payload"] == 6
                && boxRows["fleet-cpu-per-message"] == 12, "\(boxRows)")
        for figure in builder.fleetFigures(f) { #expect(ReportTests.parsesAsXML(figure.svg), "\(figure.file)") }
        let p50 = try #require(builder.fleetFigures(f).first { $0.file == "fleet-round-trip-p50" })
        #expect(
            p50.svg.components(separatedBy: "fill=\"#D7191C\"").count - 1 == 2 * 6,
            "two flagged nodes × six pingpong cases")
        // The rotated column labels stay inside the picture.
        let width = try #require(Double(heat.svg.split(separator: "\"")[3]))
        #expect(width >= 900)
    }

    @Test("compare of a fleet: the slow nodes regress, the others do not, the fleet's verdict is the worst")
    func compareFleet() throws {
        let baseline = FleetFixture.fleet(5).map(\.run)
        let current = FleetFixture.fleet(10, slow: [2, 7], slower: 2).map { ($0.label, $0.run) }
        let comparison = try FleetComparison(
            comparator: Comparator(metrics: [.p50, .bytesPerSecond]), baselineRuns: baseline, baselineName: "before",
            current: current, policy: GatePolicy(onInconclusive: .warn))
        let regressed = Set(comparison.regressedNodes.map(\.file))
        #expect(regressed == ["node-2", "node-7"], "\(comparison.nodes.map { ($0.file, $0.outcome, $0.worst ?? "") })")
        #expect(comparison.gateExitCode == 1)
        for format in ["table", "markdown", "json", "junit"] {
            let text = try comparison.render(format: format)
            #expect(text.contains("node-2"), "\(format)")
        }
        #expect(ReportTests.parsesAsXML(try comparison.render(format: "junit")))
        let junit = try comparison.render(format: "junit")
        #expect(junit.components(separatedBy: "<failure").count - 1 == 2)
        let healthy = try FleetComparison(
            comparator: Comparator(metrics: [.p50, .bytesPerSecond]), baselineRuns: baseline, baselineName: "before",
            current: FleetFixture.fleet(6).map { ($0.label, $0.run) }, policy: GatePolicy(onInconclusive: .warn))
        #expect(healthy.regressedNodes.isEmpty && healthy.gateExitCode == 0)
    }

    @Test("a node's file that cannot be read is named in every output and exits 2; the others are still judged")
    func unreadableNode() throws {
        let baseline = FleetFixture.fleet(5).map(\.run)
        let comparison = try FleetComparison(
            comparator: Comparator(metrics: [.p50, .bytesPerSecond]), baselineRuns: baseline, baselineName: "before",
            current: FleetFixture.fleet(6, slow: [2], slower: 2).map { ($0.label, $0.run) },
            policy: GatePolicy(onInconclusive: .warn),
            unreadable: [.init(file: "nodes/node-9 <x>.json", reason: "nodes/node-9 <x>.json is not valid JSON")])
        #expect(comparison.gateExitCode == 2)
        #expect(comparison.regressedNodes.map(\.file) == ["node-2"])
        let table = try comparison.render(format: "table")
        #expect(table.contains("Fleet verdict: REGRESSED, and 1 file that could not be read (exit 2)"), "\(table)")
        #expect(table.contains("UNREADABLE") && table.contains("is not valid JSON"), "\(table)")
        #expect(try comparison.render(format: "markdown").contains("UNREADABLE"))
        let junit = try comparison.render(format: "junit")
        #expect(ReportTests.parsesAsXML(junit))
        #expect(
            junit.contains("<failure type=\"unreadable\" message=\"nodes/node-9 &lt;x&gt;.json is not valid JSON\""))
        let json =
            try JSONSerialization.jsonObject(with: Data(try comparison.render(format: "json").utf8)) as? [String: Any]
        #expect((json?["unreadable"] as? [[String: Any]])?.first?["file"] as? String == "nodes/node-9 <x>.json")
    }
}
