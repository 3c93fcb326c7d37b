import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    /// The built binary as two real processes. These check that numbers are plausible and integrity
    /// holds, never that anything was fast.
    @Suite("podbench run, serve and client end to end", .serialized)
    struct RunEndToEndTests {
        static let quick = [
            "--trials", "2", "--duration", "60ms", "--warmup", "20ms", "--verify", "all", "--no-calibrate",
        ]

        @Test("run measures tcp and uds, both workloads, and writes a complete, consistent results file")
        func runWritesResults() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp,uds", "--workloads", "pingpong,stream", "--sizes", "64,64KiB",
                    "--results-dir", dir,
                ]
                    + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let files = try resultsFiles(in: dir)
            #expect(files.count == 1)
            let path = try #require(files.first)
            #expect(path.hasSuffix("-\(HostEnvironment.probe().hostname).json"))
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: dir).count == 1, "no journal or temporary file left"
            )
            let run = try ResultsStore.load(path)
            #expect(run.complete)
            #expect(run.schemaVersion == PodBenchVersion.resultsSchema)
            #expect(run.settings.trials == 2 && run.settings.verify == "all" && run.settings.isolation == "process")
            #expect(run.commandLine.contains("--transports"))
            // Two processes: different PIDs, every namespace shared (a child process).
            #expect(run.environment.client.processID != run.environment.server.processID)
            #expect(run.environment.sharedNamespaces.contains("net"))
            #expect(run.environment.separateNamespaces.isEmpty)
            let keys = run.cases.map { "\($0.key.transport) \($0.key.workload) \($0.key.messageSize)" }
            #expect(
                keys == [
                    "tcp pingpong 64", "tcp pingpong 65536", "tcp stream 64", "tcp stream 65536", "uds pingpong 64",
                    "uds pingpong 65536", "uds stream 64", "uds stream 65536",
                ])
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.trials.count == 2)
                #expect(c.warmup != nil)
                #expect((c.warmup?.messages ?? 0) > 0)
                for t in c.trials {
                    #expect(t.messages > 0)
                    #expect(t.bytes == t.messages * UInt64(c.key.messageSize))
                    #expect(t.elapsedNanoseconds >= 50_000_000)
                    #expect(t.messagesPerSecond > 0)
                    // Both sides report CPU for the trial, and per-message figures follow from it.
                    for side in [t.client, t.server] {
                        #expect(side.usage.userNanoseconds + side.usage.systemNanoseconds > 0)
                        #expect(side.cpuNanosecondsPerMessage > 0)
                        #expect(!side.integrity.hasErrors)
                    }
                    let receiver = c.key.workload == .pingpong ? t.client.integrity : t.server.integrity
                    #expect(receiver.received == t.messages)
                    #expect(receiver.verified == t.messages)
                    #expect(t.server.integrity.received == t.messages)
                    if c.key.workload == .pingpong {
                        let histogram = try #require(try t.latency?.decode())
                        #expect(histogram.totalCount == t.messages)
                        let s = try #require(t.latencySummary)
                        #expect(s.min <= s.p50 && s.p50 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max)
                        #expect(s.p50 > 0)
                    } else {
                        #expect(t.latency == nil)
                        // One-way delivery times, one per message, recorded by the receiver.
                        let oneWay = try #require(try t.oneWayLatency?.decode())
                        #expect(oneWay.totalCount == t.messages)
                        #expect((t.oneWayLatencySummary?.p50 ?? 0) > 0)
                    }
                }
            }
            // The table names every case.
            for transport in ["tcp", "uds"] { #expect(result.stdout.contains(transport)) }
            #expect(result.stdout.contains("64KiB"))
            #expect(result.stderr.contains("results written to \(path)"))
        }

        @Test(
            "http1: HTTP/1.1 requests over every stream socket and through the relay, each answered and checked; shm skips it"
        )
        func http1() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let direct = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp,tcp6,uds,uds-abstract,uring-tcp,shm", "--workloads", "http1,pingpong",
                    "--sizes", "1,64KiB", "--results-dir", dir + "/direct",
                ] + Self.quick)
            #expect(direct.status == 0, "\(direct.stderr)")
            #expect(direct.stdout.contains("req/s") || direct.stderr.contains("req/s"), "\(direct.stderr)")
            let hop = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--workloads", "http1", "--sizes", "100,1MiB", "--via", "relay",
                    "--results-dir", dir + "/hop",
                ] + Self.quick)
            #expect(hop.status == 0, "\(hop.stderr)")
            var http = 0
            for sub in ["direct", "hop"] {
                let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/" + sub).first))
                #expect(!run.cases.contains { $0.key.transport == .shm && $0.key.workload == .http1 })
                for c in run.cases where c.key.workload == .http1 {
                    http += 1
                    if c.key.transport == .uringTCP && c.status == .unavailable { continue }
                    #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                    for t in c.trials {
                        #expect(t.messages > 0)
                        #expect(t.bytes == t.messages * UInt64(c.key.messageSize))
                        #expect(t.client.integrity.received == t.messages && t.client.integrity.verified == t.messages)
                        #expect(t.server.integrity.received == t.messages && t.server.integrity.verified == t.messages)
                        #expect(!t.client.integrity.hasErrors && !t.server.integrity.hasErrors)
                        #expect(try t.latency?.decode().totalCount == t.messages)
                        #expect(t.oneWayLatency == nil)
                        #expect(t.client.cpuNanosecondsPerMessage > 0 && t.server.cpuNanosecondsPerMessage > 0)
                    }
                }
                if sub == "hop" {
                    #expect(run.cases.filter { $0.key.hop != nil }.count == 2)
                }
            }
            #expect(http == 5 * 2 + 4)
            // A list where nothing carries HTTP is refused before anything runs.
            let refused = try BinaryProcess.run(["run", "--transports", "shm,file", "--workloads", "http1"])
            #expect(refused.status == 2, "\(refused.stderr)")
            #expect(refused.stderr.contains("include one in --transports"), "\(refused.stderr)")
        }

        @Test(
            "http1-rate and http2-rate: HTTP at each offered rate, direct and through the relay, every request checked; the report's capacity in req/s"
        )
        func httpRates() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp,uds", "--workloads", "http1-rate,http2-rate", "--h2-streams", "4",
                    "--rates", "500,2k", "--sizes", "64", "--via", "relay", "--trials", "2", "--duration", "150ms",
                    "--warmup", "20ms", "--verify", "all",
                    "--no-calibrate", "--shared-dir", dir, "--results-dir", dir + "/r",
                ])
            #expect(run.status == 0, "\(run.stderr)")
            // The table's legend says what its HTTP rows measure.
            #expect(
                run.stdout.contains("of http1-rate, http2-rate the same from its intended send time"), "\(run.stdout)")
            let file = try #require(try resultsFiles(in: dir + "/r").first)
            let result = try ResultsStore.load(file)
            // Each workload on tcp and uds at two rates, tcp's also through the relay.
            #expect(result.cases.count == 12, "\(result.cases.map(\.key))")
            for c in result.cases {
                #expect(
                    c.key.workload.isOpenLoop && c.key.workload.speaksHTTP && c.status == .ok,
                    "\(c.key): \(c.error ?? "")")
                #expect(c.key.options["streams"] == (c.key.workload == .http2Rate ? "4" : nil), "\(c.key)")
                let offered = try #require(c.key.rate.map(Double.init))
                for t in c.trials {
                    // Open loop: never faster than offered; at 2k/s at most a loaded machine's round
                    // trips may fall behind (how fast is for the benchmarks).
                    #expect(t.messagesPerSecond < 1.2 * offered, "\(c.key)")
                    #expect(t.messagesPerSecond > 0.1 * offered, "\(c.key)")
                    #expect(t.client.integrity.verified == t.messages && t.server.integrity.verified == t.messages)
                    #expect(!t.client.integrity.hasErrors && !t.server.integrity.hasErrors)
                    #expect(try t.latency?.decode().totalCount == t.messages)
                }
            }
            #expect(result.cases.filter { $0.key.hop != nil }.count == 4)
            let report = try BinaryProcess.run(["report", file, "--out", dir + "/rep", "--slo", "p99=1s"])
            #expect(report.status == 0, "\(report.stderr)")
            let markdown = try String(contentsOfFile: dir + "/rep/report.md", encoding: .utf8)
            #expect(markdown.contains("## Capacity"), "\(markdown.prefix(2000))")
            // Counted in requests everywhere: the table's headers and the charts' axes.
            #expect(markdown.contains("| channel | knee (req/s) |"), "\(markdown.prefix(3000))")
            let chart = try String(contentsOfFile: dir + "/rep/latency-vs-rate-64B-1.svg", encoding: .utf8)
            #expect(chart.contains("offered rate, requests/s"), "\(chart.prefix(2000))")
            // A sentence per curve, named by its workload (whether 500/s met the objective in two
            // 150 ms trials is the machine's business; the unit is ReportTests').
            for channel in [
                "tcp http1-rate 64 B", "tcp hop=relay hop-in=tcp http1-rate 64 B", "uds http1-rate 64 B",
                "tcp streams=4 http2-rate 64 B", "tcp hop=relay hop-in=tcp streams=4 http2-rate 64 B",
                "uds streams=4 http2-rate 64 B",
            ] {
                #expect(markdown.split(separator: "\n").contains { $0.hasPrefix("- \(channel)\\:") }, "\(markdown)")
            }
            // Where nothing carries HTTP it is refused before anything runs, as http1 is.
            for workload in ["http1-rate", "http2-rate"] {
                let refused = try BinaryProcess.run(["run", "--transports", "shm", "--workloads", workload])
                #expect(
                    refused.status == 2 && refused.stderr.contains("include one in --transports"), "\(refused.stderr)")
            }
        }

        @Test(
            "http2: N streams over the plain stream sockets and through the relay, every request echoed and checked; io_uring and shm skip it"
        )
        func http2() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let direct = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp,tcp6,uds,uds-abstract,uring-tcp,shm", "--workloads", "http2",
                    "--h2-streams", "1,16", "--sizes", "1,64KiB", "--results-dir", dir + "/direct",
                ] + Self.quick)
            #expect(direct.status == 0, "\(direct.stderr)")
            let hop = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--workloads", "http2", "--h2-streams", "8", "--sizes", "100,1MiB",
                    "--via", "relay", "--results-dir", dir + "/hop",
                ] + Self.quick)
            #expect(hop.status == 0, "\(hop.stderr)")
            var cases = 0
            for sub in ["direct", "hop"] {
                let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/" + sub).first))
                #expect(
                    !run.cases.contains { $0.key.workload == .http2 && [.shm, .uringTCP].contains($0.key.transport) })
                for c in run.cases where c.key.workload == .http2 {
                    cases += 1
                    #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                    #expect(["1", "16", "8"].contains(c.key.options["streams"] ?? ""), "\(c.key)")
                    for t in c.trials {
                        #expect(t.messages > 0)
                        #expect(t.bytes == t.messages * UInt64(c.key.messageSize))
                        #expect(t.client.integrity.received == t.messages && t.client.integrity.verified == t.messages)
                        #expect(t.server.integrity.received == t.messages && t.server.integrity.verified == t.messages)
                        #expect(!t.client.integrity.hasErrors && !t.server.integrity.hasErrors)
                        #expect(try t.latency?.decode().totalCount == t.messages)
                        #expect(t.client.cpuNanosecondsPerMessage > 0 && t.server.cpuNanosecondsPerMessage > 0)
                    }
                }
                if sub == "hop" { #expect(run.cases.filter { $0.key.hop != nil }.count == 2) }
            }
            // 4 sockets × 2 stream counts × 2 sizes direct; 2 sizes direct and through the relay.
            #expect(cases == 4 * 2 * 2 + 4)
            #expect(direct.stdout.contains("streams=16"), "\(direct.stdout)")
            let refused = try BinaryProcess.run(["run", "--transports", "uring-tcp,shm", "--workloads", "http2"])
            #expect(refused.status == 2, "\(refused.stderr)")
            #expect(refused.stderr.contains("tcp, tcp6, uds or uds-abstract"), "\(refused.stderr)")
        }

        @Test("serve and client as two processes: abstract socket and IPv6, the server exits when told")
        func serveAndClient() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let port = try freePort()
            let server = try BinaryProcess(["serve", "--control", "tcp:127.0.0.1:\(port)", "--shared-dir", dir])
            let client = try BinaryProcess(
                [
                    "client", "--control", "tcp:127.0.0.1:\(port)", "--token-file", dir + "/podbench.token",
                    "--transports", "uds-abstract,tcp6", "--workloads",
                    "pingpong", "--sizes", "1,4MiB", "--results-dir", dir, "--shutdown-server",
                ] + Self.quick)
            let clientStatus = client.wait()
            #expect(clientStatus == 0, "\(client.stderr)")
            #expect(server.wait(timeout: 10) == 0, "\(server.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.settings.isolation == "external")
            #expect(run.cases.count == 4)
            #expect(run.cases.allSatisfy { $0.status == .ok })
            #expect(run.cases.contains { $0.endpoint?.hasPrefix("unix:@") == true })
            #expect(run.cases.contains { $0.endpoint?.hasPrefix("tcp:[::1]:") == true })
        }

        @Test(
            "fifo moves 1 byte to 4 MiB intact both ways and leaves no FIFO behind",
            .singleThreaded("a sweep of sizes through one FIFO pair"))
        func fifo() throws {
            let messages = sanitizerScaled(30)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "fifo", "--sizes", "1,4KiB,64KiB,4MiB", "--messages", String(messages),
                    "--shared-dir",
                    dir,
                    "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 8)
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.endpoint?.hasPrefix("fifo:") == true)
                expectIntact(c, messages: UInt64(messages))
            }
            let leftovers = try FileManager.default.subpathsOfDirectory(atPath: dir).filter {
                $0.hasSuffix(".c2s") || $0.hasSuffix(".s2c")
            }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }

        @Test(
            "udp, udp6 and uds-dgram carry every size one datagram holds intact, count what they lose, and refuse larger sizes with the limit",
            .singleThreaded("a sweep of sizes; each side moves its datagrams on one thread"))
        func datagrams() throws {
            let messages = sanitizerScaled(30)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "udp,udp6,uds-dgram", "--workloads", "pingpong,stream,rate", "--rates", "2k",
                    "--sizes", "1,4KiB,65475,1MiB", "--messages", String(messages), "--shared-dir", dir,
                    "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("lost"), "\(result.stdout)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 3 * 3 * 4)
            for c in run.cases {
                if c.key.messageSize == 1 << 20 {
                    #expect(c.status == .unavailable, "\(c.key)")
                    #expect(c.error?.contains("carries at most") == true, "\(c.error ?? "")")
                    continue
                }
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                let prefix = c.key.transport == .udsDgram ? "unixgram:" + dir : "udp:"
                #expect(c.endpoint?.hasPrefix(prefix) == true, "\(c.endpoint ?? "")")
                expectDelivered(c, messages: UInt64(messages))
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".dgram") }
            #expect(leftovers.isEmpty, "\(leftovers)")
        }

        @Test(
            "file and fifo move 1 byte to 4 MiB intact both ways on tmpfs and on disk, record the filesystem and leave nothing behind",
            .singleThreaded("a sweep of sizes and filesystems"), arguments: ["/dev/shm", "/var/tmp"])
        func fileAndFIFO(parent: String) throws {
            let messages = sanitizerScaled(30)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let shared = parent + "/podbench-e2e-file-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: shared) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "file,fifo", "--sizes", "1,64KiB,4MiB", "--messages", String(messages),
                    "--shared-dir",
                    shared, "--file-segment", "1MiB", "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 12)
            let filesystem = parent == "/dev/shm" ? "tmpfs" : "ext4"
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.endpoint?.hasPrefix(c.key.transport.rawValue + ":") == true)
                #expect(c.filesystem == filesystem || filesystem == "ext4" && c.filesystem != "tmpfs")
                if c.key.transport == .file {
                    #expect(c.key.options == ["follow": "inotify", "fsync": "none", "segment": "1MiB"])
                }
                for t in c.trials {
                    let receiver = c.key.workload == .pingpong ? t.client.integrity : t.server.integrity
                    #expect(
                        t.messages == UInt64(messages) && receiver.verified == UInt64(messages) && !receiver.hasErrors)
                    // Co-located sides share CLOCK_MONOTONIC: stream records the hand-off latency.
                    if c.key.workload == .stream { #expect((t.oneWayLatencySummary?.count ?? 0) > 0) }
                }
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: shared)
            #expect(leftovers.isEmpty, "\(leftovers)")
        }

        @Test(
            "each file fsync mode is a case of its own; poll following works end to end",
            .singleThreaded("a sweep of fsync modes"))
        func fileModes() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "file", "--sizes", "4KiB", "--messages", "40", "--shared-dir", dir,
                    "--file-fsync", "none,each,every:8", "--file-follow", "poll:200us", "--file-segment", "16KiB",
                    "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(
                run.cases.map { $0.key.options["fsync"] ?? "" } == [
                    "none", "none", "each", "each", "every:8", "every:8",
                ])
            #expect(run.cases.allSatisfy { $0.status == .ok && $0.key.options["follow"] == "poll:200us" })
            for bad in [["--file-fsync", "sometimes"], ["--file-follow", "fanotify"], ["--file-segment", "10"]] {
                let refused = try BinaryProcess.run(["run", "--transports", "file"] + bad + Self.quick)
                #expect(refused.status == 2, "\(bad): \(refused.stderr)")
                #expect(refused.stderr.contains(bad[0]), "\(refused.stderr)")
            }
        }

        @Test(
            "uring-tcp and uring-uds move 1 byte to 4 MiB intact both ways, in every ring setup",
            .singleThreaded("a sweep of sizes and ring setups; the rings are driven from one thread"))
        func ioURing() throws {
            let messages = sanitizerScaled(40)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uring-tcp,uring-uds", "--sizes", "1,1KiB,64KiB,4MiB", "--messages",
                    String(messages),
                    "--uring-setup", "default,defer-taskrun,sqpoll", "--uring-batch", "8", "--shared-dir", dir,
                    "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 2 * 3 * 2 * 4)
            for c in run.cases {
                // A setup this kernel refuses is unavailable with its reason, never a failure.
                #expect(c.status != .failed, "\(c.key): \(c.error ?? "")")
                if c.status == .unavailable {
                    #expect(c.key.options["setup"] != "default", "\(c.key): \(c.error ?? "")")
                    continue
                }
                #expect(c.key.options["batch"] == "8")
                expectIntact(c, messages: UInt64(messages))
            }
            #expect(run.cases.filter { $0.status == .ok }.count >= 16)
        }

        @Test(
            "uring-file moves 1 byte to 4 MiB intact, in each fsync mode, with the filesystem recorded",
            .singleThreaded("a sweep of sizes and fsync modes"))
        func ioURingFile() throws {
            let messages = sanitizerScaled(30)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uring-file", "--sizes", "1,64KiB,4MiB", "--messages", String(messages),
                    "--file-fsync", "none,each", "--file-segment", "1MiB", "--uring-setup", "default,defer-taskrun",
                    "--shared-dir", dir, "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 2 * 2 * 2 * 3)
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.filesystem != nil && c.key.options["fsync"] != nil && c.key.options["setup"] != nil)
                #expect(c.key.options["batch"] == nil)
                expectIntact(c, messages: UInt64(messages))
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".file") }
            #expect(leftovers.isEmpty)
        }

        @Test(
            "registered buffers: uring-tcp moves every size intact through zero-copy sends; uring-uds says why not",
            .singleThreaded("a sweep of sizes"))
        func ioURingRegistered() throws {
            let messages = sanitizerScaled(40)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uring-tcp,uring-uds", "--sizes", "1,1KiB,64KiB,1MiB", "--messages",
                    String(messages),
                    "--uring-buffers", "registered", "--uring-batch", "4", "--shared-dir", dir, "--results-dir",
                    dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            for c in run.cases {
                #expect(c.key.options["buffers"] == "registered")
                if c.key.transport == .uringUDS {
                    #expect(c.status == .unavailable && c.error?.contains("zero-copy") == true, "\(c.error ?? "")")
                    continue
                }
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                expectIntact(c, messages: UInt64(messages))
            }
        }

        @Test(
            "a seccomp profile that refuses io_uring: the io_uring cases are unavailable with the reason, the rest run",
            arguments: [("ENOSYS", "podman"), ("EPERM", "Docker")])
        func ioURingRefused(errno: String, runtime: String) throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let deny = ["PODBENCH_TEST_DENY_IO_URING": errno]
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uring-tcp,tcp,uring-uds,uring-file", "--workloads", "pingpong", "--sizes",
                    "64",
                    "--messages", "20", "--shared-dir", dir, "--results-dir", dir + "/r",
                ] + Self.quick, environment: deny)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.map(\.status) == [.unavailable, .ok, .unavailable, .unavailable])
            for c in run.cases where c.status == .unavailable {
                #expect(c.error?.contains("seccomp") == true && c.error?.contains(runtime) == true, "\(c.error ?? "")")
            }
            #expect(run.environment.client.ioURingAvailable == false)
            let probe = try BinaryProcess.run(["probe", "--json"], environment: deny)
            #expect(probe.status == 0)
            let output = try JSONDecoder().decode(ProbeOutput.self, from: Data(probe.stdout.utf8))
            let uring = try #require(output.transports.first { $0.transport == "uring-tcp" })
            #expect(!uring.available && uring.reason.contains(errno == "EPERM" ? "EPERM" : "ENOSYS"))
            #expect(output.transports.first { $0.transport == "tcp" }?.available == true)
        }

        @Test(
            "a corrupted message fails its case loudly and the run exits 1",
            .singleThreaded("the integrity check on the receiving side"), arguments: ["pingpong", "stream"])
        func corruption(workload: String) throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--workloads", workload, "--sizes", "1KiB", "--results-dir", dir,
                    "--inject-corruption", "5",
                ] + Self.quick)
            #expect(result.status == 1)
            #expect(result.stdout.contains("FAILED"))
            #expect(result.stdout.contains("message 5 failed its payload checksum"))
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.complete)
            #expect(run.cases.first?.status == .failed)
            #expect(run.cases.first?.errorCode == "integrityFailure")
        }

        @Test(
            "bad options get a message naming them and exit 2", .safeSwiftOnOneThread("option parsing"),
            arguments: [
                (["--transports", "carrier-pigeon"], "unknown transport 'carrier-pigeon'"),
                (["--sizes", "5MiB"], "out of range"),
                (["--sizes", "64,lots"], "'lots'"),
                (["--workloads", "pingpong,burst"], "unknown workload 'burst'"),
                (["--trials", "0"], "--trials"),
                (["--duration", "soon"], "--duration"),
                (["--cpu", "client=a"], "--cpu"),
                (["--verify", "some"], "--verify"),
                (["--no-such-option"], "no-such-option"),
            ])
        func badOptions(arguments: [String], expected: String) throws {
            let result = try BinaryProcess.run(["run"] + arguments)
            #expect(result.status == 2)
            #expect(result.stderr.contains(expected), "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }

        @Test("a client with no server says so and exits 1, writing nothing")
        func noServer() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "client", "--control", "unix:\(dir)/nobody.sock", "--connect-wait", "200ms", "--results-dir",
                    dir + "/r",
                ])
            #expect(result.status == 1)
            #expect(result.stderr.contains("no podbench server answers on unix:\(dir)/nobody.sock"))
            #expect(!FileManager.default.fileExists(atPath: dir + "/r"))
        }

        @Test("serve refuses a control port in use, naming it")
        func portInUse() throws {
            let port = try freePort()
            let first = try BinaryProcess(["serve", "--control", "tcp:127.0.0.1:\(port)"])
            defer {
                first.signal(SIGTERM)
                first.wait(timeout: 5)
            }
            usleep(300_000)
            let second = try BinaryProcess.run(["serve", "--control", "tcp:127.0.0.1:\(port)"], timeout: 10)
            #expect(second.status != 0)
            #expect(second.stderr.contains("tcp:127.0.0.1:\(port) is in use"), "\(second.stderr)")
        }

        @Test(
            "run removes the private folders of a killed run, never a live run's or a folder it cannot prove",
            .singleThreaded("run's clean-up of folders on the disk"))
        func leftovers() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let shared = dir + "/shared"
            let shm = dir + "/shm"
            for folder in [shared, shm] {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            // A run killed with SIGKILL after its first case, mid-case: its folders keep the control
            // socket and a ring file. Its owner is a process that no longer runs.
            let killed = try BinaryProcess([
                "run", "--transports", "tcp,shm", "--workloads", "pingpong", "--sizes", "64", "--shared-dir", shared,
                "--shm-dir", shm, "--results-dir", dir + "/r", "--trials", "50", "--duration", "200ms",
                "--no-calibrate",
            ])
            #expect(waitForFinishedCases(in: dir + "/r", 1, timeout: 120))
            usleep(300_000)
            killed.signal(SIGKILL)
            killed.wait()
            // What it measured is read back from its journal, said to be incomplete.
            let journal = try #require(
                try FileManager.default.contentsOfDirectory(atPath: dir + "/r").first { $0.hasSuffix(".journal.jsonl") }
            )
            let report = try BinaryProcess.run(["report", dir + "/r/" + journal, "--out", dir + "/plots"])
            #expect(report.status == 0, "\(report.stderr)")
            #expect(report.stderr.contains("is an incomplete run: read from the journal"), "\(report.stderr)")
            // An unfinished run is undecided evidence: exit 4, unless missing cases are allowed.
            let compare = try BinaryProcess.run(["compare", dir + "/r/" + journal, dir + "/r/" + journal])
            #expect(compare.status == 4 && compare.stderr.contains("incomplete run"), "\(compare.stderr)")
            let allowed = try BinaryProcess.run([
                "compare", dir + "/r/" + journal, dir + "/r/" + journal, "--allow-missing", "--on-inconclusive", "warn",
            ])
            #expect(allowed.status == 0, "\(allowed.stdout)\(allowed.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: shared)
            #expect(left.count == 1, "\(left)")
            // A live owner (this test process), and a folder with no owner file: both stay.
            try FileManager.default.createDirectory(
                atPath: shared + "/podbench-live00", withIntermediateDirectories: true)
            let stat = try String(contentsOfFile: "/proc/self/stat", encoding: .utf8)
            let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
            try "\(getpid()):\(fields[19])".write(
                toFile: shared + "/podbench-live00/owner", atomically: false, encoding: .utf8)
            try FileManager.default.createDirectory(
                atPath: shared + "/podbench-nobody", withIntermediateDirectories: true)
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uds", "--workloads", "pingpong", "--sizes", "64", "--shared-dir", shared,
                    "--shm-dir", shm, "--results-dir", dir + "/r",
                ] + Self.quick)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("left by a run that was killed"), "\(result.stderr)")
            let after = Set(try FileManager.default.contentsOfDirectory(atPath: shared))
            #expect(after == ["podbench-live00", "podbench-nobody"], "\(after)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: shm).isEmpty)
        }

        @Test("serve replaces a stale socket file and removes its own on SIGTERM")
        func staleSocket() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/ctl.sock"
            // A socket file nobody listens on, as a killed server leaves it.
            let stale = try BinaryProcess(["serve", "--control", "unix:\(path)", "--shared-dir", dir])
            usleep(300_000)
            stale.signal(SIGKILL)
            stale.wait(timeout: 5)
            #expect(FileManager.default.fileExists(atPath: path))
            let server = try BinaryProcess(["serve", "--control", "unix:\(path)", "--shared-dir", dir])
            let client = try BinaryProcess.run(
                [
                    "client", "--control", "unix:\(path)", "--transports", "uds", "--workloads", "stream", "--sizes",
                    "64",
                    "--results-dir", dir,
                ] + Self.quick)
            #expect(client.status == 0, "\(client.stderr)")
            server.signal(SIGTERM)
            server.wait(timeout: 5)
            #expect(!FileManager.default.fileExists(atPath: path))
        }

        @Test("a server killed mid-run: the client says so within the timeout, keeps finished cases, exits 1")
        func serverDies() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/ctl.sock"
            let server = try BinaryProcess(["serve", "--control", "unix:\(path)", "--shared-dir", dir])
            let client = try BinaryProcess(
                [
                    "client", "--control", "unix:\(path)", "--transports", "uds", "--workloads", "pingpong", "--sizes",
                    "64,128,256,512,1KiB,2KiB", "--trials", "2", "--duration", "300ms", "--warmup", "0", "--timeout",
                    "2s",
                    "--results-dir", dir,
                ])
            // Let the first case finish, then kill the server in the middle of the second.
            #expect(waitForFinishedCases(in: dir, 1))
            usleep(200_000)
            server.signal(SIGKILL)
            server.wait(timeout: 5)
            let started = Date()
            let status = client.wait(timeout: 30)
            #expect(status == 1)
            #expect(Date().timeIntervalSince(started) < 5)
            #expect(client.stderr.contains("stopped early"), "\(client.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(!run.complete)
            #expect(run.incompleteReason?.isEmpty == false)
            #expect(run.cases.first?.status == .ok)
            #expect(run.cases.contains { $0.status == .failed })
            #expect(run.cases.count < 6)
        }

        @Test("SIGINT to run writes the finished cases marked incomplete and leaves no process or socket behind")
        func interrupted() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let run = try BinaryProcess(
                [
                    "run", "--transports", "uds", "--workloads", "pingpong", "--sizes", "64,128,256,512,1KiB,2KiB",
                    "--trials",
                    "2", "--duration", "300ms", "--warmup", "0", "--results-dir", dir + "/results", "--shared-dir", dir,
                ])
            #expect(waitForFinishedCases(in: dir + "/results", 1))
            usleep(200_000)
            run.signal(SIGINT)
            #expect(run.wait(timeout: 10) == 130)
            // The case the interrupt cut short is not reported as a failure.
            #expect(!run.stderr.contains("FAILED"), "\(run.stderr)")
            let result = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/results").first))
            #expect(!result.complete)
            #expect(result.incompleteReason == "interrupted by SIGINT")
            #expect(!result.cases.isEmpty)
            #expect(result.cases.allSatisfy { $0.status == .ok })
            // The private directory (control socket, data sockets) is gone, and so is the server.
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.hasPrefix("podbench-")
            }
            #expect(leftovers.isEmpty, "\(leftovers)")
            usleep(200_000)
            let serverPID = result.environment.server.processID
            // Gone, or a zombie waiting for a reaper (state Z): not running either way.
            let stat = (try? String(contentsOfFile: "/proc/\(serverPID)/stat", encoding: .utf8)) ?? ""
            let state = stat.split(separator: ")").last?.split(separator: " ").first
            #expect(kill(serverPID, 0) != 0 || state == "Z", "the server process \(serverPID) still runs")
        }
    }
}

extension EndToEnd {
    @Suite("Results file schema")
    struct SchemaTests {
        @Test(
            "real results files (complete, cut short, with a hop, rate, file, io_uring) validate against the schema",
            .safeSwiftOnOneThread("its runs are those the other tests make; the schema is checked by Python"))
        func validates() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let ok = try BinaryProcess.run(
                ["run", "--transports", "tcp,uds-abstract", "--sizes", "64", "--results-dir", dir]
                    + RunEndToEndTests.quick)
            #expect(ok.status == 0, "\(ok.stderr)")
            let failed = try BinaryProcess.run(
                ["run", "--transports", "uds", "--sizes", "64", "--results-dir", dir, "--inject-corruption", "1"]
                    + RunEndToEndTests.quick)
            #expect(failed.status == 1)
            // A hop (relay figures, hop keys), the rate workload, file and io_uring transports.
            let hop = try BinaryProcess.run(
                [
                    "run", "--preset", "ambassador", "--workloads", "pingpong,rate", "--rates", "1k", "--sizes", "64",
                    "--results-dir", dir,
                ] + RunEndToEndTests.quick)
            #expect(hop.status == 0, "\(hop.stderr)")
            let others = try BinaryProcess.run(
                [
                    "run", "--transports", "file,uring-tcp,udp,uds-dgram", "--workloads", "stream", "--sizes", "64",
                    "--results-dir",
                    dir,
                ]
                    + RunEndToEndTests.quick)
            #expect(others.status == 0, "\(others.stderr)")
            let files = try resultsFiles(in: dir)
            #expect(files.count == 4)
            let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/results.schema.json").path
            // Debian's python3 with python3-jsonschema (scripts/test.sh installs both).
            let python = Process()
            python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            python.arguments =
                [
                    "-c",
                    "import json, sys, jsonschema\nschema = json.load(open(sys.argv[1]))\nfor f in sys.argv[2:]:\n    jsonschema.validate(json.load(open(f)), schema)\n",
                    schema,
                ] + files
            try python.run()
            python.waitUntilExit()
            #expect(python.terminationStatus == 0, "jsonschema rejected a results file")
        }
    }
}

extension EndToEnd {
    @Suite("Options that change what is recorded")
    struct RecordedOptionsTests {
        @Test("--cpu pins each side and the results record asked and got")
        func pinning() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let allowed = CPUPinning.allowedCPUs()
            let client = try #require(allowed.first)
            let server = try #require(allowed.last)
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "uds", "--workloads", "pingpong", "--sizes", "64", "--cpu",
                    "client=\(client),server=\(server)", "--results-dir", dir,
                ] + RunEndToEndTests.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.environment.clientPinning.asked == client)
            #expect(run.environment.clientPinning.allowed == [client])
            #expect(run.environment.clientPinning.observed == client)
            #expect(run.environment.serverPinning.asked == server)
            #expect(run.environment.serverPinning.allowed == [server])
            #expect(run.environment.serverPinning.observed == server)
        }

        @Test("a CPU outside the allowed set is refused with a message naming it")
        func badCPU() throws {
            let result = try BinaryProcess.run(["run", "--cpu", "client=4000"] + RunEndToEndTests.quick)
            #expect(result.status == 2)
            #expect(result.stderr.contains("cannot pin to CPU 4000"), "\(result.stderr)")
        }

        @Test("--socket-buffer becomes part of the case key")
        func socketBuffer() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--workloads", "stream", "--sizes", "4KiB", "--socket-buffer",
                    "256KiB",
                    "--results-dir", dir,
                ] + RunEndToEndTests.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.first?.key.options == ["socket-buffer": "262144"])
            #expect(result.stdout.contains("socket-buffer=262144"))
        }

        @Test("probe reports every transport available here, with the reason, as JSON")
        func probe() throws {
            let result = try BinaryProcess.run(["probe", "--json"])
            #expect(result.status == 0)
            let output = try JSONDecoder().decode(ProbeOutput.self, from: Data(result.stdout.utf8))
            #expect(
                output.transports.map(\.transport) == [
                    "tcp", "tcp6", "uds", "uds-abstract", "fifo", "shm", "file", "uring-tcp", "uring-uds",
                    "uring-file", "udp", "udp6", "uds-dgram", "pidfd-pipe", "scm-pipe", "signal", "process-vm",
                    "sync-symlink",
                    "sync-rename",
                ])
            // The process-namespace channels are probed inside this process, where nothing can
            // refuse them; what another container needs is in the reason.
            for kind in ["pidfd-pipe", "signal", "process-vm"] {
                let entry = output.transports.first { $0.transport == kind }
                #expect(entry?.available == true, "\(kind): \(entry?.reason ?? "missing")")
                #expect(entry?.reason.contains("shareProcessNamespace") == true, "\(kind): \(entry?.reason ?? "")")
            }
            #expect(
                output.transports.first { $0.transport == "uring-tcp" }?.available
                    == output.environment.ioURingAvailable)
            #expect(output.transports.first { $0.transport == "fifo" }?.available == true)
            #expect(output.transports.first { $0.transport == "shm" }?.available == true)
            #expect(output.transports.first { $0.transport == "file" }?.available == true)
            #expect(output.transports.first { $0.transport == "tcp" }?.available == true)
            #expect(output.transports.first { $0.transport == "uds" }?.available == true)
            #expect(output.transports.first { $0.transport == "udp" }?.available == true)
            #expect(output.transports.first { $0.transport == "uds-dgram" }?.available == true)
            #expect(output.transports.first { $0.transport == "sync-symlink" }?.available == true)
            #expect(output.transports.first { $0.transport == "sync-rename" }?.available == true)
            #expect(output.transports.first { $0.transport == "scm-pipe" }?.available == true)
            #expect(output.transports.allSatisfy { !$0.reason.isEmpty })
            #expect(output.environment.namespaces["net"] != nil)
        }
    }
}
