import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    @Suite("report end to end", .serialized)
    struct ReportEndToEndTests {
        @Test("report of real runs: every SVG renders to PNG (rsvg-convert), the page links what exists")
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

        @Test("bad input: no file, a missing file, a malformed file: exit 2 with a clear message, nothing written")
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
