import Foundation
import PodBenchResults
import Testing

extension EndToEnd {
    /// Every option with a nonsense value gets a message naming the option, exit 2, and no output.
    @Suite("nonsense options", .safeSwiftOnOneThread("option parsing"))
    struct OptionsEndToEndTests {
        static let cases: [(String, [String], String)] = [
            ("run", ["--transports", "pigeon"], "--transports"),
            ("run", ["--workloads", "burst"], "--workloads"),
            ("run", ["--sizes", "huge"], "--sizes"),
            ("run", ["--trials", "many"], "--trials"),
            ("run", ["--trials", "-3"], "--trials"),
            ("run", ["--duration", "forever"], "--duration"),
            ("run", ["--warmup", "-1s"], "--warmup"),
            ("run", ["--messages", "0"], "--messages"),
            ("run", ["--verify", "sometimes"], "--verify"),
            ("run", ["--timeout", "1ms"], "--timeout"),
            ("run", ["--cpu", "client"], "--cpu"),
            ("run", ["--socket-buffer", "12parsecs"], "--socket-buffer"),
            ("run", ["--shm-ring", "5000"], "--shm-ring"),
            ("run", ["--shm-wait", "nap"], "--shm-wait"),
            ("run", ["--isolation", "vm"], "--isolation"),
            ("run", ["-o", "/tmp"], "--output"),
            ("run", ["--isolation", "podman", "-o", "/tmp/podbench-nonexistent/a.json"], "--output"),
            ("client", ["--json", "--print-results"], "--json"),
            ("run", ["-t", "pigeon"], "--transports"),
            ("client", ["--control", "http://x"], "--control"),
            ("client", ["--connect-wait", "a while"], "--connect-wait"),
            ("serve", ["--control", "tcp:localhost:1"], "--control"),
            ("serve", ["--timeout", "soon"], "--timeout"),
            ("serve", ["--shared-dir", "/nonexistent-podbench"], "--shared-dir"),
            ("serve", ["--shm-dir", "/nonexistent-podbench"], "--shm-dir"),
            ("serve", ["--cpu", "x"], "--cpu"),
            ("calibrate", ["--cpu", "1"], "--cpu"),
            ("calibrate", ["--duration", "x"], "--duration"),
            ("compare", ["a.json", "b.json", "--format", "pdf"], "--format"),
            ("compare", ["a.json", "b.json", "--confidence", "2"], "--confidence"),
            ("compare", ["a.json", "b.json", "--min-effect", "p50"], "--min-effect"),
        ]

        @Test("each is refused, naming the option", arguments: cases)
        func refused(command: String, arguments: [String], option: String) throws {
            let result = try BinaryProcess.run([command] + arguments, timeout: 30)
            #expect(result.status == 2, "\(command) \(arguments): \(result.stderr)")
            #expect(result.stderr.contains(option), "\(command) \(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }

    @Suite("run's output options", .serialized)
    struct RunOutputEndToEndTests {
        @Test(
            "-o FILE writes there and never over a file; --json prints the document; -q keeps stderr quiet; progress tells the time",
            .singleThreaded("one short run at a time"))
        func outputOptions() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let short =
                ["-t", "uds,tcp", "-w", "pingpong", "-s", "64", "-n", "2", "-d", "60ms", "--warmup", "20ms"]
                + ["--no-calibrate"]
            let json = try BinaryProcess.run(["run"] + short + ["-o", dir + "/new/a.json", "--json"])
            #expect(json.status == 0, "\(json.stderr)")
            let printed = try ResultsStore.decode(Data(json.stdout.utf8), source: "stdout")
            let written = try ResultsStore.load(dir + "/new/a.json")
            #expect(printed.cases.count == 2 && written.cases.map(\.key) == printed.cases.map(\.key))
            #expect(!FileManager.default.fileExists(atPath: dir + "/new/a.json.journal.jsonl"))
            // Progress on stderr: each case numbered with the time gone and the time left; the table too.
            #expect(json.stderr.contains("[1/2, 0:0") && json.stderr.contains("elapsed, about "), "\(json.stderr)")
            #expect(json.stderr.contains("transport  workload"))
            // The same name again: refused before anything is measured, the file untouched.
            let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/new/a.json"))
            let again = try BinaryProcess.run(["run"] + short + ["-o", dir + "/new/a.json"])
            #expect(again.status == 2 && again.stderr.contains("exists"), "\(again.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/new/a.json")) == before)
            // Quiet: the table on stdout, on stderr only where the results went.
            let quiet = try BinaryProcess.run(["run"] + short + ["-q", "-o", dir + "/q.json"])
            #expect(quiet.status == 0, "\(quiet.stderr)")
            #expect(quiet.stdout.contains("transport  workload"))
            let lines = quiet.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("podbench: results written to"), "\(quiet.stderr)")
        }
    }
}
