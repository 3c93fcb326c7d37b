import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    @Suite("report end to end", .serialized)
    struct ReportEndToEndTests {
        @Test(
            "report of real runs: every SVG renders to PNG (rsvg-convert), the page links what exists",
            .safeSwiftOnOneThread("the report is drawn on one thread"))
        func realRuns() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            for _ in 0..<2 {
                let run = try BinaryProcess.run(
                    [
                        "run", "--transports", "tcp,uds", "--sizes", "64,4KiB", "--messages", "200", "--results-dir",
                        dir + "/r",
                    ] + RunEndToEndTests.quick)
                try #require(run.status == 0, "\(run.stderr)")
                usleep(1_100_000)  // results files are named by the second they started
            }
            let files = try resultsFiles(in: dir + "/r")
            try #require(files.count == 2)
            for (inputs, out) in [([files[0]], dir + "/one"), (files, dir + "/many")] {
                let result = try BinaryProcess.run(["report"] + inputs + ["--out", out])
                #expect(result.status == 0, "\(result.stderr)")
                let names = try FileManager.default.contentsOfDirectory(atPath: out)
                #expect(names.contains("index.html") && names.contains("report.md"))
                #expect(names.contains("spread.svg") == (inputs.count > 1))
                // The data files: a row per case, a row per trial, a histogram per case.
                #expect(names.contains("cases.csv") && names.contains("trials.csv"))
                let cases = try String(contentsOfFile: out + "/cases.csv", encoding: .utf8)
                #expect(cases.split(separator: "\n").count == 1 + 2 * 2 * 2 * inputs.count, "\(cases)")
                let histograms = try FileManager.default.contentsOfDirectory(atPath: out + "/histograms")
                #expect(histograms.count == 2 * 2 * 2 * inputs.count && histograms.allSatisfy { $0.hasSuffix(".hgrm") })
                // The page in a real browser: every image shows, nothing missing, no console message.
                let check = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().appendingPathComponent("scripts/check-page.py").path
                // A hang guard, not a speed limit: check-page.py gives each chromium 300 s.
                func checkPage() throws -> (status: Int32, stdout: String, stderr: String) {
                    try BinaryProcess.run(
                        [check, out, out + "-page.png"], timeout: 900, executable: "/usr/bin/python3")
                }
                var page = try checkPage()
                var first = ""
                if page.status == 1 {
                    // Headless chromium on a loaded 2-core machine has failed a page that passes
                    // alone (seen twice on 2026-12-05 in the quick tier): once more before it counts,
                    // and the first attempt's reasons kept.
                    first = page.stderr
                    page = try checkPage()
                }
                if page.status == 3 && ProcessInfo.processInfo.environment["PODBENCH_REQUIRE_TOOLS"] != "1" {
                    // No chromium on this machine (scripts/test.sh installs it).
                } else {
                    #expect(
                        page.status == 0,
                        "scripts/check-page.py \(out) failed: \(page.stderr)\(first.isEmpty ? "" : "; the first attempt: \(first)")"
                    )
                }
                let rsvg = "/usr/bin/rsvg-convert"
                guard FileManager.default.isExecutableFile(atPath: rsvg) else {
                    Issue.record("rsvg-convert is missing: scripts/test.sh installs librsvg2-bin")
                    continue
                }
                for svg in names where svg.hasSuffix(".svg") {
                    let status = try BinaryProcess.runTool(rsvg, [out + "/" + svg, "-o", out + "/" + svg + ".png"])
                    #expect(status == 0, "rsvg-convert failed on \(svg)")
                    let png = try Data(contentsOf: URL(fileURLWithPath: out + "/" + svg + ".png"))
                    #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(svg) did not render to a PNG")
                }
            }
        }

        @Test("the rate workload paces every transport, and the report turns it into a capacity table")
        func rateAndCapacity() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp,shm,file,uring-tcp", "--workloads", "rate", "--rates", "2k,20k",
                    "--sizes", "64", "--trials", "2", "--duration", "150ms", "--warmup", "20ms", "--verify", "all",
                    "--no-calibrate", "--shared-dir", dir, "--results-dir", dir + "/r",
                ])
            #expect(run.status == 0, "\(run.stderr)")
            let file = try #require(try resultsFiles(in: dir + "/r").first)
            let result = try ResultsStore.load(file)
            #expect(result.cases.count == 8)
            for c in result.cases where c.status != .unavailable {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                let offered = try #require(c.key.rate.map(Double.init))
                for t in c.trials {
                    // Open loop: the offered rate is what goes out (the sender catches up when late),
                    // never faster. Kept up with at 2k/s, far below any channel's capacity; 20k/s
                    // is what a slow minute of a busy VM may not sustain through `file` (CI,
                    // 2026-12-04: 13.2k/s delivered in a 150 ms trial), and how fast the machine is
                    // is for the benchmarks to say, not this test: there it must only have run.
                    #expect(t.messagesPerSecond < 1.2 * offered, "\(c.key)")
                    let kept = offered <= 2000 && !sanitized ? 0.8 : 0.1
                    #expect(t.messagesPerSecond > kept * offered, "\(c.key)")
                    #expect((t.oneWayLatencySummary?.count ?? 0) > 0 && !t.server.integrity.hasErrors)
                }
            }
            let report = try BinaryProcess.run(["report", file, "--out", dir + "/rep", "--slo", "p99=1s"])
            #expect(report.status == 0, "\(report.stderr)")
            let markdown = try String(contentsOfFile: dir + "/rep/report.md", encoding: .utf8)
            #expect(markdown.contains("## Capacity") && markdown.contains("p99 ≤ 1s"))
            // The run skipped calibrate: no machine limit to compare with, and the table says so.
            #expect(markdown.contains("- (no calibrate)"))
            // One sentence per channel, and capacity.csv with a row each.
            let capacity = try String(contentsOfFile: dir + "/rep/capacity.csv", encoding: .utf8)
            let channels = result.cases.filter { $0.status == .ok }.map(\.key.transport)
            #expect(capacity.split(separator: "\n").count == 1 + Set(channels).count, "\(capacity)")
            for transport in Set(channels) {
                #expect(
                    markdown.split(separator: "\n").contains {
                        $0.hasPrefix("- \(transport.rawValue) ") && $0.contains(" msg/s at p99 ≤ 1s using ")
                    }, "no sentence for \(transport)")
            }
            // Four channels of one size (three where io_uring is refused): two panels, or one chart.
            let drawn = try FileManager.default.contentsOfDirectory(atPath: dir + "/rep")
            let panels = Set(result.cases.filter { $0.status == .ok }.map(\.key.transport)).count > 3
            for family in ["latency-vs-rate", "achieved-vs-offered"] {
                #expect(
                    panels
                        ? drawn.contains("\(family)-64B-1.svg") && drawn.contains("\(family)-64B-2.svg")
                        : drawn.contains("\(family).svg"), "\(family): \(drawn)")
            }
            let bad = try BinaryProcess.run(["report", file, "--out", dir + "/rep2", "--slo", "p98=1ms"])
            #expect(bad.status == 2 && bad.stderr.contains("--slo"))
        }

        @Test(
            "--rates auto searches upward ×4 from 1k/s, then narrows the gap, recording every rate it tried",
            .singleThreaded("the search for rates runs on the client's one thread"))
        func autoRates() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try BinaryProcess.run(
                [
                    "run", "--transports", "uds", "--workloads", "rate", "--rates", "auto", "--sizes", "64",
                    "--messages", "300", "--results-dir", dir + "/r",
                ] + RunEndToEndTests.quick, timeout: 240)
            #expect(run.status == 0, "\(run.stderr)")
            let result = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            let rates = result.cases.compactMap { $0.key.rate }
            #expect(rates.count == result.cases.count && rates.count >= 2 && rates.count <= 13, "\(rates)")
            #expect(Array(rates.prefix(2)) == [1000, 4000], "\(rates)")
            #expect(Set(rates).count == rates.count, "a rate measured twice: \(rates)")
            #expect(result.cases.allSatisfy { $0.status == .ok })
            let bad = try BinaryProcess.run(["run", "--workloads", "rate", "--rates", "fast"])
            #expect(bad.status == 2 && bad.stderr.contains("--rates"))
        }

        @Test(
            "bad input: no file, a missing file, a malformed file: exit 2 with a clear message, nothing written",
            .singleThreaded("reading files"))
        func badInput() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try Data("{\"schemaVersion\": 1, \"cases\": [".utf8).write(to: URL(fileURLWithPath: dir + "/bad.json"))
            for (arguments, expected) in [
                (["report", "--out", dir + "/o"], "at least one results file"),
                (["report", dir + "/missing.json", "--out", dir + "/o"], "missing.json"),
                (["report", dir + "/bad.json", "--out", dir + "/o"], "bad.json"),
                (["report", dir + "/bad.json"], "--out"),
            ] {
                let result = try BinaryProcess.run(arguments)
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/o"))
        }
    }
}
