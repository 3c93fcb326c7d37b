import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    /// What a fleet's pods need of podbench beyond one pod: a server that ends without its client,
    /// logs collected straight from the cluster (a kubectl of our own that answers as one would).
    @Suite("a fleet's pods end to end", .serialized)
    struct FleetEndToEndTests {
        @Test("serve --idle-exit: no client ever came exits 1 and says so; after a client left, exits 0")
        func idleExit() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let lonely = try BinaryProcess.run(
                ["serve", "--control", "unix:\(dir)/a.sock", "--shared-dir", dir, "--idle-exit", "300ms"], timeout: 60)
            #expect(
                lonely.status == 1 && lonely.stderr.contains("no client came within --idle-exit 300ms"),
                "\(lonely.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/a.sock"))
            // A client that leaves without shutting the server down (as one that died would). It
            // starts first and waits for the server, so that it connects as soon as the server
            // listens: a server whose idle time ran out before a slow client (a sanitized binary on
            // a busy machine takes seconds to start) had started would exit 1, rightly.
            let client = try BinaryProcess([
                "client", "--control", "unix:\(dir)/b.sock", "--connect-wait", "120s", "--transports", "uds",
                "--workloads", "pingpong", "--sizes", "64", "--trials", "1", "--messages", "20", "--warmup", "0",
                "--no-calibrate", "--results-dir", dir + "/r",
            ])
            let idle = sanitized ? "15s" : "2s"
            let server = try BinaryProcess([
                "serve", "--control", "unix:\(dir)/b.sock", "--shared-dir", dir, "--idle-exit", idle,
            ])
            #expect(client.wait(timeout: 180) == 0, "\(client.stderr)")
            #expect(server.wait(timeout: 180) == 0, "\(server.stderr)")
            #expect(
                server.stderr.contains("no client for --idle-exit \(idle) after 1 client: exiting"), "\(server.stderr)")
        }

        /// A kubectl stand-in: `get pods` lists what `pods` says (as `-o json` does), `logs POD`
        /// prints `POD.log`. Every pod is of the Job `job-1` unless `job` says otherwise.
        func fakeKubectl(
            in dir: String, pods: [(name: String, phase: String, node: String, reason: String, index: String)],
            job: [String: String] = [:]
        ) throws -> String {
            let items: [[String: Any]] = pods.map { p in
                [
                    "metadata": [
                        "name": p.name, "annotations": ["batch.kubernetes.io/job-completion-index": p.index],
                        "ownerReferences": [["kind": "Job", "name": "podbench-fleet", "uid": job[p.name] ?? "job-1"]],
                    ],
                    "spec": ["nodeName": p.node], "status": ["phase": p.phase, "reason": p.reason],
                ]
            }
            let listing = try JSONSerialization.data(withJSONObject: ["kind": "List", "items": items])
            try listing.write(to: URL(fileURLWithPath: dir + "/pods.txt"))
            let script = """
                #!/bin/sh
                echo "$@" >> '\(dir)/calls.txt'
                case "$1" in
                get) cat '\(dir)/pods.txt' ;;
                logs) if [ -f '\(dir)/'"$2"'.log' ]; then cat '\(dir)/'"$2"'.log'; else echo "pod $2 not found" >&2; exit 1; fi ;;
                *) exit 2 ;;
                esac
                """
            let path = dir + "/kubectl"
            try script.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }

        @Test("collect --kubectl: one results file per finished pod, named by node; a running pod is named")
        func collectFromCluster() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            // Two real client logs, as two nodes' pods print them.
            for node in ["node-a", "node-b"] {
                let server = try BinaryProcess(["serve", "--control", "unix:\(dir)/\(node).sock", "--shared-dir", dir])
                let client = try BinaryProcess.run(
                    [
                        "client", "--control", "unix:\(dir)/\(node).sock", "--transports", "uds", "--workloads",
                        "pingpong", "--sizes", "64", "--trials", "1", "--messages", "20", "--warmup", "0",
                        "--no-calibrate", "--print-results", "--shutdown-server", "--results-dir", dir + "/r-\(node)",
                    ], environment: ["PODBENCH_NODE_NAME": node])
                #expect(client.status == 0, "\(client.stderr)")
                server.wait(timeout: 30)
                try client.stdout.write(toFile: "\(dir)/podbench-\(node).log", atomically: true, encoding: .utf8)
            }
            let kubectl = try fakeKubectl(
                in: dir,
                pods: [
                    ("podbench-node-a", "Succeeded", "node-a", "", "0"),
                    ("podbench-node-b", "Failed", "node-b", "", "1"),
                    ("podbench-node-c", "Running", "node-c", "", "2"),
                    // Evicted from node-e; index 0 ran again on node-a.
                    ("podbench-node-e", "Failed", "node-e", "Evicted", "0"),
                    // Index 1 of yesterday's Job, which ran: not replaced by today's, so collected
                    // (its log is missing here: a problem, named).
                    ("podbench-old-b", "Succeeded", "node-b", "", "1"),
                ], job: ["podbench-old-b": "job-0"])
            let out = dir + "/nodes"
            let collected = try BinaryProcess.run([
                "collect", "--kubectl", "-n", "bench", "-l", "app.kubernetes.io/name=podbench", "--kubectl-command",
                kubectl, "--results-dir", out,
            ])
            // node-c still runs: named, and the exit says a pod had a problem; the others are written.
            #expect(collected.status == 2, "\(collected.stderr)")
            #expect(
                collected.stderr.contains("pod podbench-node-c on node node-c is Running, not finished"),
                "\(collected.stderr)")
            #expect(
                collected.stderr.contains(
                    "pod podbench-node-e on node node-e (index 0) failed (Evicted) and its index has a new pod, podbench-node-a: skipped"
                ), "\(collected.stderr)")
            #expect(!collected.stderr.contains("node-e holds no"), "\(collected.stderr)")
            let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
            #expect(files.count == 2, "\(files)")
            let nodes = try files.map { try ResultsStore.load(out + "/" + $0).environment.client.nodeName }
            #expect(Set(nodes.compactMap { $0 }) == ["node-a", "node-b"])
            #expect(files.allSatisfy { $0.contains("node-") }, "named by node: \(files)")
            let calls = try String(contentsOfFile: dir + "/calls.txt", encoding: .utf8)
            #expect(calls.contains("get pods -l app.kubernetes.io/name=podbench -n bench"))
            #expect(
                calls.contains("logs podbench-node-a -c client -n bench") && !calls.contains("logs podbench-node-c")
                    && !calls.contains("logs podbench-node-e"))
            #expect(calls.contains("logs podbench-old-b"), "\(calls)")
            // A pod name that is no pod name (it would be an argument of kubectl logs): refused.
            _ = try fakeKubectl(in: dir, pods: [("-lapp=x", "Succeeded", "node-a", "", "0")])
            let forged = try BinaryProcess.run([
                "collect", "--kubectl", "--kubectl-command", kubectl, "--results-dir", out,
            ])
            #expect(forged.status == 2 && forged.stderr.contains("which is no pod name"), "\(forged.stderr)")
            // No pod matches: said with what to do.
            try #"{"kind": "List", "items": []}"#.write(toFile: dir + "/pods.txt", atomically: true, encoding: .utf8)
            let none = try BinaryProcess.run([
                "collect", "--kubectl", "--kubectl-command", kubectl, "--results-dir", out,
            ])
            #expect(none.status == 2 && none.stderr.contains("no pod matches -l app.kubernetes.io/name=podbench"))
            // Saved logs and --kubectl together are refused.
            let both = try BinaryProcess.run(["collect", "--kubectl", "x.log"])
            #expect(both.status == 2 && both.stderr.contains("not both"))
        }

        /// The children of `pid` (/proc/PID/task/PID/children).
        static func children(of pid: Int32) -> [Int32] {
            let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        /// One small real run as a node of a fleet: serve and client as two processes pinned to
        /// CPUs of their own, the client told it runs on `node`; with `hog`, stress-ng spins on the
        /// server's CPU for the whole run (a noisy neighbour on the node).
        func nodeRun(_ node: String, into results: String, dir: String, hog: Bool) throws {
            let cpus = CPUPinning.allowedCPUs()
            let (clientCPU, serverCPU) = (cpus[0], cpus[1])
            // stress-ng starts with the test thread's signal mask (Foundation's Process keeps it,
            // and Dispatch's threads block nearly every signal), so neither SIGTERM nor its own
            // --timeout alarm reaches it: its worker (a child of its own) and it are killed with
            // SIGKILL, the worker found in /proc before. No pipes, which a worker would hold open.
            let stress = Process()
            if hog {
                // At nice -15 (the test runs as root only): a neighbour with far more
                // CPU weight than the server (a Guaranteed pod beside a BestEffort one), which the
                // server's wake-ups do not simply preempt. At nice 0 the harm was luck: one hogged
                // node of eight runs (2026-12-04) saw its p99 only 1.5× the fleet's.
                stress.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                stress.arguments = [
                    "-n", "-15", "/usr/bin/stress-ng", "--cpu", "2", "--taskset", String(serverCPU), "--quiet",
                ]
                stress.standardOutput = FileHandle.nullDevice
                stress.standardError = FileHandle.nullDevice
                stress.standardInput = FileHandle.nullDevice
                try stress.run()
                // Until its worker spins.
                var waited = 0
                while Self.children(of: stress.processIdentifier).isEmpty && waited < 500 {
                    usleep(10_000)
                    waited += 1
                }
            }
            defer {
                if hog {
                    for child in Self.children(of: stress.processIdentifier) { kill(child, SIGKILL) }
                    kill(stress.processIdentifier, SIGKILL)
                    stress.waitUntilExit()
                }
            }
            let socket = "unix:\(dir)/\(node).sock"
            let server = try BinaryProcess(["serve", "--control", socket, "--shared-dir", dir, "--idle-exit", "60s"])
            let client = try BinaryProcess.run(
                [
                    "client", "--control", socket, "--connect-wait", "30s", "--cpu",
                    "client=\(clientCPU),server=\(serverCPU)", "--transports", "tcp,uds", "--workloads",
                    "pingpong,stream", "--sizes", "64", "--trials", "3", "--duration", "300ms", "--warmup", "50ms",
                    "--no-calibrate", "--shutdown-server", "--results-dir", results,
                    // A hogged node's server is starved (stress-ng at nice -15 on its CPU): a stream
                    // trial waited out the default 10 s on it once (CI, 2026-12-04). The test is
                    // about the report flagging that node, not about the node failing.
                    "--timeout", "60s",
                ], environment: ["PODBENCH_NODE_NAME": node])
            #expect(client.status == 0, "\(node): \(client.stderr)")
            server.wait(timeout: 60)
        }

        @Test(
            "12 real runs, two with stress-ng (two workers) on the server's CPU: the report flags those two by the hog's size, compare regresses only them",
            .disabled(if: sanitized, "the sanitized binary's own slowness and spread are what it would measure"),
            .enabled(if: toolPresent("/usr/bin/stress-ng") && CPUPinning.allowedCPUs().count >= 2),
            // The hog needs nice -15 (only root may raise a priority): at nice 0 its harm is luck.
            .enabled(if: geteuid() == 0, "the hog runs at nice -15, which only root may set"))
        func fleetOfTwelve() throws {
            let dir = try temporaryDirectory()
            defer {
                if ProcessInfo.processInfo.environment["PODBENCH_KEEP"] == nil {
                    try? FileManager.default.removeItem(atPath: dir)
                }
            }
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/stress-ng"), "apt-get install stress-ng")
            let hogged: Set<Int> = [4, 9]
            // The baseline's runs and the fleet's in turn, so a slow spell of the machine falls on both.
            for i in 0..<12 {
                if i < 8 { try nodeRun("before-\(i)", into: dir + "/before", dir: dir, hog: false) }
                try nodeRun(
                    String(format: "pool-a-%02d.example.internal", i), into: dir + "/nodes", dir: dir,
                    hog: hogged.contains(i))
            }
            func flaggedNodes() throws -> (flagged: Set<String>, table: String) {
                let nodes = try resultsFiles(in: dir + "/nodes")
                #expect(nodes.count == 12)
                let report = try BinaryProcess.run(["report"] + nodes + ["--out", dir + "/plots"])
                #expect(report.status == 0, "\(report.stderr)")
                let table = try String(contentsOfFile: dir + "/plots/fleet-nodes.csv", encoding: .utf8)
                let rows = table.split(separator: "\n").dropFirst().map {
                    $0.split(separator: ",", omittingEmptySubsequences: false)
                }
                return (Set(rows.filter { !($0.last ?? "").isEmpty }.map { String($0[0]) }), table)
            }
            var (flagged, table) = try flaggedNodes()
            // A node flagged that had no hog was measured in one of this VM's slow spells (CI,
            // 2026-12-05: node 02 at p50 1.6×, p99 2.5× the fleet's, scores 3.9 and 4.8; the
            // hogged two at 22 to 43). The report was right to flag it: it was slower. What this
            // test asks is that the report finds the hogged nodes and no node that is steady, so
            // such a node is measured again, as an operator would re-run a node that looks odd,
            // and the report drawn again. A spell can outlast one re-run (CI, 2026-12-05 13:23:
            // node 11 at p50 1.35×, CPU 1.22× twice in a row, 10 s apart), so up to three, each
            // after a pause longer than the node's run. A node still flagged after that, or more
            // than two such nodes, fails the test.
            for attempt in 1...3 {
                let surprises = flagged.subtracting(hogged.map { String(format: "%02d", $0) })
                if surprises.isEmpty || surprises.count > 2 { break }
                sleep(UInt32(5 * attempt))
                for node in surprises.sorted() {
                    let name = "pool-a-\(node).example.internal"
                    print(
                        "fleet test: \(name) was flagged without a hog; measuring it again (\(attempt) of 3)\n\(table)")
                    for old in try resultsFiles(in: dir + "/nodes") where old.hasSuffix("-\(name).json") {
                        try FileManager.default.removeItem(atPath: old)
                    }
                    try nodeRun(name, into: dir + "/nodes", dir: dir, hog: false)
                }
                (flagged, table) = try flaggedNodes()
            }
            let nodes = try resultsFiles(in: dir + "/nodes")
            // What the hog does here: the server waits for its CPU a scheduler slice now and then,
            // so the round trip's p99 grows 10 to 70 times (p50 by 1.1 to 1.4, about what a slow
            // spell of this VM does to a node's whole run; stream hardly moves: the server keeps
            // up at half a CPU). Eight runs of this test, 2026-12-03/04: the two flagged for p99,
            // scores 7.6 to 40; the highest other node 2.8 (a spell: p99 2.8×, p50 1.2×).
            let hogNames = Set(hogged.map { String(format: "%02d", $0) })
            #expect(flagged.isSuperset(of: hogNames), "\(table)")
            // A node flagged without a hog, after the re-runs, was in a spell that outlasted them
            // (CI, 2026-12-05 22:09: node 05 at p50 1.55×, p99 1.31×, CPU 1.27× after three re-runs
            // over 30 s, scores 10.8 and 3.9, while the nodes before it had run in the VM's faster
            // mode; here, 22:14, three nodes at once, p99 1.18× to 1.23×, so none re-run). The
            // report was right: they were slower. What tells a spell from a hog is the size of the
            // effect, the hog's p99 10 to 1000 times the fleet's, a spell's under 3: each side is
            // held to its own. A report that flagged most of the fleet (more than half of the ten
            // without a hog: the median's side of a fleet cannot all be worse than it) fails.
            let header = table.split(separator: "\n").first.map { $0.split(separator: ",").map(String.init) } ?? []
            let p99Column = try #require(header.firstIndex(of: "round_trip_p99_ratio"), "\(header)")
            var p99Ratio: [String: Double] = [:]
            for row in table.split(separator: "\n").dropFirst() {
                let cells = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                if cells.count > p99Column { p99Ratio[cells[0]] = Double(cells[p99Column]) }
            }
            for node in hogNames { #expect((p99Ratio[node] ?? 0) >= 3, "hogged node \(node): \(table)") }
            let spells = flagged.subtracting(hogNames)
            #expect(spells.count <= 5, "\(table)")
            for node in spells.sorted() {
                #expect((p99Ratio[node] ?? .infinity) < 3, "node \(node) flagged without a hog: \(table)")
                print(
                    "fleet test: node \(node) flagged without a hog, p99 ×\(p99Ratio[node] ?? 0): a spell of the VM"
                )
            }
            let md = try String(contentsOfFile: dir + "/plots/report.md", encoding: .utf8)
            #expect(md.contains("nodes flagged"), "\(md.prefix(1500))")
            // A baseline of eight runs (the pool before): the spread between runs is what each node
            // is judged against.
            let saved = try BinaryProcess.run(
                ["baseline", "save", "before", "--baselines-dir", dir + "/baselines"]
                    + (try resultsFiles(in: dir + "/before")))
            #expect(saved.status == 0, "\(saved.stderr)")
            let compared = try BinaryProcess.run(
                ["compare", "before"] + nodes + [
                    // The effect a user gating on such a neighbour would name: p99 over 4 times the
                    // baseline's. A node in a slow spell (p99 up to 2.8× in these runs) is slower,
                    // and the gate would call it so at a smaller --min-effect.
                    "--baselines-dir", dir + "/baselines", "--metrics", "p99", "--min-effect", "p99=300%",
                    "--on-inconclusive", "warn",
                    "--format", "json",
                ])
            #expect(compared.status == 1, "\(compared.stderr)")
            let verdict = try JSONSerialization.jsonObject(with: Data(compared.stdout.utf8)) as? [String: Any]
            let perNode = (verdict?["nodes"] as? [[String: Any]]) ?? []
            let regressed = Set(
                perNode.filter { $0["outcome"] as? String == "regressed" }.compactMap { $0["node"] as? String })
            #expect(
                regressed == ["pool-a-04.example.internal", "pool-a-09.example.internal"],
                "\(perNode.map { ($0["node"] ?? "", $0["outcome"] ?? "", $0["worst"] ?? "") })")
            // A node's file cut short: named, the other nodes still judged, exit 2.
            let broken = dir + "/broken-node.json"
            let whole = try Data(contentsOf: URL(fileURLWithPath: nodes[0]))
            try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: broken))
            let withBroken = try BinaryProcess.run(
                ["compare", "before"] + nodes + [broken] + [
                    "--baselines-dir", dir + "/baselines", "--metrics", "p99", "--min-effect", "p99=300%",
                    "--on-inconclusive", "warn",
                ])
            #expect(withBroken.status == 2, "\(withBroken.stderr)")
            #expect(withBroken.stderr.contains("broken-node.json"), "\(withBroken.stderr)")
            #expect(
                withBroken.stdout.contains("UNREADABLE") && withBroken.stdout.contains("pool-a-04.example.internal")
                    && withBroken.stdout.contains("2 REGRESSED"), "\(withBroken.stdout)")
        }
    }
}
