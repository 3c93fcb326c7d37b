import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import Testing

/// Whether a test that needs `path` runs: when it is installed, and always in CI
/// (PODBENCH_REQUIRE_TOOLS=1, set by scripts/test.sh, which installs it), where its absence fails.
func toolPresent(_ path: String) -> Bool {
    FileManager.default.isExecutableFile(atPath: path)
        || ProcessInfo.processInfo.environment["PODBENCH_REQUIRE_TOOLS"] == "1"
}

/// A third-party proxy the test starts on loopback and stops after it.
final class ExternalProxy {
    let process = Process()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until `port` on 127.0.0.1 accepts a connection.
    func waitForPort(_ port: UInt16) -> Bool {
        for _ in 0..<200 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = port.bigEndian
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if ok { return true }
            usleep(20_000)
        }
        return false
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// Every case through the hop has its direct twin and moved every message intact.
func expectHopPairs(_ run: RunResult, hop: String, hopIn: String, messages: UInt64, relayFigures: Bool) {
    let through = run.cases.filter { $0.key.hop?.name != nil }
    #expect(!through.isEmpty)
    #expect(through.count * 2 == run.cases.count, "one direct case for each case through the hop")
    for c in run.cases {
        #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
        expectIntact(c, messages: messages)
    }
    for c in through {
        #expect(c.key.hop?.name == hop && c.key.hop?.entry.rawValue == hopIn, "\(c.key)")
        #expect(c.endpoint?.contains("via \(hop)") == true, "\(c.endpoint ?? "")")
        for t in c.trials {
            if relayFigures {
                #expect(t.hop != nil, "trial \(t.index) of \(c.key) has no hop figures")
                #expect((t.hop?.usage.userNanoseconds ?? 0) + (t.hop?.usage.systemNanoseconds ?? 0) > 0)
            } else {
                #expect(t.hop == nil)
            }
        }
    }
    #expect(HopCost.pairs(in: run).count == through.count)
}

extension EndToEnd {
    @Suite("pod patterns: a hop between the sides", .serialized)
    struct PatternEndToEndTests {
        @Test(
            "--preset ambassador: client → podbench relay → server over TCP, 1 B to 1 MiB intact, the relay's CPU recorded"
        )
        func ambassador() throws {
            let messages = sanitizerScaled(50)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--preset", "ambassador", "--sizes", "1,64KiB,1MiB", "--trials", "2", "--messages",
                    String(messages),
                    "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 3 * 2 * 2)
            #expect(run.cases.allSatisfy { $0.key.transport == .tcp })
            expectHopPairs(run, hop: "relay", hopIn: "tcp", messages: UInt64(messages), relayFigures: true)
            #expect(result.stdout.contains("Hops:") && result.stdout.contains("via relay (tcp in)"))
            #expect(result.stdout.contains("relay cpu/msg"))
            // The report shows the hop's cost too.
            let file = try #require(try resultsFiles(in: dir).first)
            let report = try BinaryProcess.run(["report", file, "--out", dir + "/report"])
            #expect(report.status == 0, "\(report.stderr)")
            let markdown = try String(contentsOfFile: dir + "/report/report.md", encoding: .utf8)
            #expect(markdown.contains("## Hops") && markdown.contains("relay (tcp in)"))
            let page = try String(contentsOfFile: dir + "/report/index.html", encoding: .utf8)
            #expect(page.contains("<h2>Hops</h2>"))
        }

        @Test("--preset adapter: the client speaks uds to the relay, which forwards over TCP; rate cases too")
        func adapter() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--preset", "adapter", "--workloads", "pingpong,stream,rate", "--rates", "2k", "--sizes",
                    "64,4KiB", "--trials", "2", "--messages", "40", "--warmup", "10ms", "--verify", "all",
                    "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 3 * 2 * 2)
            expectHopPairs(run, hop: "relay", hopIn: "uds", messages: 40, relayFigures: true)
            #expect(result.stdout.contains("via relay (uds in)"))
        }

        @Test("--via relay:shm: an adapter whose app side is a shared-memory ring, TCP out; 1 B to 1 MiB intact")
        func sharedMemoryAdapter() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--via", "relay:shm", "--sizes", "1,64KiB,1MiB", "--trials", "2",
                    "--messages", "40", "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 3 * 2 * 2)
            expectHopPairs(run, hop: "relay", hopIn: "shm", messages: 40, relayFigures: true)
            for c in run.cases where c.key.hop?.name != nil { #expect(c.filesystem == "tmpfs") }
        }

        @Test("--via relay:fifo: the client writes named pipes in the shared directory, the relay forwards over TCP")
        func fifoAdapter() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--via", "relay:fifo", "--sizes", "1,64KiB,1MiB", "--trials", "2",
                    "--messages", "40", "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 3 * 2 * 2)
            expectHopPairs(run, hop: "relay", hopIn: "fifo", messages: 40, relayFigures: true)
        }

        @Test(
            "the relay between any two transports: the server's side a ring, a file or a FIFO pair, 1 B to 1 MiB intact",
            // Under the thread sanitizer two pairs: the relay's two threads share each channel (one
            // receives, the other sends and shuts down), and the other pattern tests run every
            // inbound transport and tcp, shm and file outbound; fifo outbound is the inbound's type.
            arguments: sanitizerBuild == .thread
                ? [("shm", "tcp"), ("file", "fifo")]
                : [("shm", "tcp"), ("file", "uds"), ("fifo", "shm"), ("shm", "file"), ("file", "fifo")])
        func anyToAny(server: String, relayIn: String) throws {
            let messages = sanitizerScaled(40)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", server, "--via", "relay:\(relayIn)", "--workloads", "pingpong,stream",
                    "--sizes", "1,64KiB,1MiB", "--trials", "2", "--messages", String(messages), "--warmup", "10ms",
                    "--verify",
                    "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 2 * 3 * 2)
            #expect(run.cases.allSatisfy { $0.key.transport.rawValue == server })
            expectHopPairs(run, hop: "relay", hopIn: relayIn, messages: UInt64(messages), relayFigures: true)
            #expect(result.stdout.contains("via relay (\(relayIn) in)"))
        }

        @Test("a relay the user starts, forwarding TCP to the server's rings in a directory (--via-target shm:DIR)")
        func userRelayToRing() throws {
            let dir = try temporaryDirectory()
            let rings = "/dev/shm/podbench-test-\(UUID().uuidString.prefix(8))"
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: rings)
            }
            let front = try freePort()
            let relay = try ExternalProxy(
                try podbenchBinary(),
                [
                    "relay", "--listen", "tcp:127.0.0.1:\(front)", "--forward", "shm:\(rings)", "--stats",
                    "unix:\(dir)/stats.sock",
                ])
            defer { relay.stop() }
            // Ready once its stats socket is there (bound after --listen). Not by connecting to
            // it: each connection takes one of the server's, and a probe would take the first.
            for _ in 0..<250 where !FileManager.default.fileExists(atPath: dir + "/stats.sock") { usleep(20_000) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "shm", "--shm-wait", "futex", "--via", "tcp:127.0.0.1:\(front)",
                    "--via-target", "shm:\(rings)", "--via-name", "relay", "--via-stats", "unix:\(dir)/stats.sock",
                    "--sizes", "64,64KiB", "--trials", "2", "--messages", "50", "--warmup", "10ms", "--verify", "all",
                    "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            expectHopPairs(run, hop: "relay", hopIn: "tcp", messages: 50, relayFigures: true)
            #expect(run.cases.allSatisfy { $0.key.options["wait"] == "futex" })
            // Every ring the server made there was taken and unlinked.
            #expect((try? FileManager.default.contentsOfDirectory(atPath: rings)) == [])
        }

        @Test(
            "--preset sidecar-logs: records appended to a file, followed by the relay, shipped over TCP; lag per rate")
        func sidecarLogs() throws {
            let dir = try temporaryDirectory()
            let shared = try temporaryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shared)
            }
            let result = try BinaryProcess.run(
                [
                    "run", "--preset", "sidecar-logs", "--rates", "1k,5k", "--sizes", "200,64KiB", "--trials", "2",
                    "--messages", "40", "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                    "--shared-dir", shared,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 2 * 2 * 2)
            #expect(run.cases.allSatisfy { $0.key.workload == .rate })
            expectHopPairs(run, hop: "relay", hopIn: "file", messages: 40, relayFigures: true)
            for c in run.cases where c.key.hop?.name != nil {
                // The lag: from each record's intended append time to its arrival at the collector.
                #expect(c.trials.allSatisfy { ($0.oneWayLatencySummary?.p50 ?? 0) > 0 })
            }
            #expect(result.stdout.contains("via relay (file in)") && result.stdout.contains(" at 5"))
            // The relay's file connections go with the run's folder.
            #expect(try FileManager.default.contentsOfDirectory(atPath: shared).isEmpty)
        }

        @Test(
            "ambassador through a real haproxy in TCP mode, started on loopback by the test",
            .enabled(if: toolPresent("/usr/sbin/haproxy")),
            .singleThreaded("the hop is haproxy; podbench's sides are those the other tests drive"))
        func haproxy() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let front = try freePort()
            let back = try freePort()
            // The configuration the comparison scripts measure haproxy with (scripts/setup.sh), so
            // this test proves it too.
            let config = dir + "/haproxy.cfg"
            let write = Process()
            write.executableURL = URL(fileURLWithPath: "/bin/bash")
            write.arguments = [
                // $0 is not the script, so sourcing it only defines its functions.
                "-c", #"source "$1" && podbench_haproxy_config "$2" "$3" "$4""#, "haproxy-test",
                packageRoot + "/scripts/setup.sh", config, String(front), String(back),
            ]
            try write.run()
            write.waitUntilExit()
            #expect(write.terminationStatus == 0, "podbench_haproxy_config failed")
            let proxy = try ExternalProxy("/usr/sbin/haproxy", ["-db", "-f", config])
            defer { proxy.stop() }
            #expect(proxy.waitForPort(front), "haproxy did not start")
            let result = try BinaryProcess.run(
                [
                    "run", "--preset", "ambassador", "--via", "tcp:127.0.0.1:\(front)", "--via-target",
                    "tcp:127.0.0.1:\(back)", "--via-name", "haproxy", "--via-stats",
                    "pid:\(proxy.process.processIdentifier)", "--sizes", "64,64KiB", "--trials", "2", "--messages",
                    "50", "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            // haproxy's own CPU and context switches, read from /proc by the client.
            expectHopPairs(run, hop: "haproxy", hopIn: "tcp", messages: 50, relayFigures: true)
            #expect(result.stdout.contains("via haproxy (tcp in)") && result.stdout.contains("haproxy cpu/msg"))
        }

        @Test(
            "http1 through nginx and haproxy in HTTP mode: every request answered and checked, past nginx's 1000 per connection",
            .enabled(if: toolPresent("/usr/sbin/nginx") && toolPresent("/usr/sbin/haproxy")),
            .singleThreaded("the hop is a real proxy; podbench's sides are those the other tests drive"))
        func httpProxies() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let messages = sanitizerScaled(1200)
            for name in ["nginx", "haproxy"] {
                let front = try freePort()
                let back = try freePort()
                let h2 = try freePort()
                let config = dir + "/\(name).conf"
                let write = Process()
                write.executableURL = URL(fileURLWithPath: "/bin/bash")
                let function = name == "nginx" ? "podbench_nginx_config" : "podbench_haproxy_http_config"
                write.arguments = [
                    "-c", #"source "$1" && "$2" "$3" "$4" "$5" "$6" "$7""#, "proxy-test",
                    packageRoot + "/scripts/setup.sh", function, config, String(front), String(back),
                    dir + "/\(name)-files", String(h2),
                ]
                try write.run()
                write.waitUntilExit()
                #expect(write.terminationStatus == 0, "\(function) failed")
                let proxy =
                    name == "nginx"
                    ? try ExternalProxy("/usr/sbin/nginx", ["-c", config, "-e", dir + "/nginx-files/nginx-error.log"])
                    : try ExternalProxy("/usr/sbin/haproxy", ["-db", "-f", config])
                defer { proxy.stop() }
                #expect(proxy.waitForPort(front), "\(name) did not start")
                // Small bodies past nginx's default 1000 requests a connection; bodies past its
                // default 1 MiB limit, fewer.
                for (sizes, count) in [("64,1KiB", messages), ("2MiB", sanitizerScaled(20))] {
                    let results = dir + "/results-\(name)-\(count)"
                    let result = try BinaryProcess.run(
                        [
                            "run", "--transports", "tcp", "--workloads", "http1", "--via", "tcp:127.0.0.1:\(front)",
                            "--via-target", "tcp:127.0.0.1:\(back)", "--via-name", name, "--via-stats",
                            "pid:\(proxy.process.processIdentifier)", "--sizes", sizes, "--trials", "2", "--messages",
                            String(count), "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir",
                            results,
                        ], timeout: 300)
                    #expect(result.status == 0, "\(name): \(result.stderr)")
                    let run = try ResultsStore.load(try #require(try resultsFiles(in: results).first))
                    // Through the proxy and direct, each request answered with the server's pattern
                    // and number; the proxy's own CPU read from /proc.
                    expectHopPairs(run, hop: name, hopIn: "tcp", messages: UInt64(count), relayFigures: true)
                    for c in run.cases {
                        for t in c.trials {
                            #expect(
                                t.server.integrity.received == UInt64(count)
                                    && t.server.integrity.verified == UInt64(count))
                        }
                    }
                }
                guard name == "nginx" else { continue }
                // HTTP/2 through the same nginx, its h2c port: one hop of two ports (one name, each
                // port its workloads), the streams passed on as HTTP/1.1 requests on several
                // connections at once.
                let results = dir + "/results-nginx-h2"
                let result = try BinaryProcess.run(
                    [
                        "run", "--transports", "tcp", "--workloads", "http1,http2", "--h2-streams", "1,8", "--via",
                        "tcp:127.0.0.1:\(front)", "--via-target", "tcp:127.0.0.1:\(back)", "--via-name", name,
                        "--via-workloads", "http1", "--via", "tcp:127.0.0.1:\(h2)", "--via-target",
                        "tcp:127.0.0.1:\(back)", "--via-name", name, "--via-workloads", "http2", "--via-stats",
                        "pid:\(proxy.process.processIdentifier)", "--via-stats",
                        "pid:\(proxy.process.processIdentifier)",
                        "--sizes", "64,16KiB", "--trials", "2", "--messages", String(sanitizerScaled(200)), "--warmup",
                        "10ms", "--verify", "all", "--no-calibrate", "--results-dir", results,
                    ], timeout: 300)
                #expect(result.status == 0, "nginx h2: \(result.stderr)")
                let run = try ResultsStore.load(try #require(try resultsFiles(in: results).first))
                let order: [String] = run.cases.map { "\($0.key.workload.rawValue) \($0.key.hop?.name ?? "direct")" }
                let http1: [String] = Array(repeating: ["http1 direct", "http1 nginx"], count: 2).flatMap { $0 }
                let http2: [String] = Array(repeating: ["http2 direct", "http2 nginx"], count: 4).flatMap { $0 }
                #expect(order == http1 + http2, "\(order)")
                for c in run.cases {
                    #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                    expectIntact(c, messages: UInt64(sanitizerScaled(200)))
                    for t in c.trials where c.key.hop != nil {
                        #expect(t.server.integrity.received == t.messages && !t.server.integrity.hasErrors, "\(c.key)")
                        #expect((t.hop?.usage.userNanoseconds ?? 0) + (t.hop?.usage.systemNanoseconds ?? 0) > 0)
                    }
                }
            }
        }

        @Test(
            "--preset http-proxy=nginx|haproxy: each HTTP case (http1-rate through nginx; http2 and http2-rate through both, as HTTP/1.1 upstream of nginx) direct, through the proxy in TCP mode and in HTTP mode",
            .enabled(if: toolPresent("/usr/sbin/nginx") && toolPresent("/usr/sbin/haproxy")),
            .singleThreaded("the hops are real proxies started by run"))
        func httpProxyPresets() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let messages = sanitizerScaled(300)
            for kind in ["nginx", "haproxy"] {
                let results = dir + "/\(kind)"
                // Both carry http2, 8 streams at once, closed and open loop: haproxy HTTP/2 both
                // ways, nginx on a port of its own and as HTTP/1.1 upstream (up to 8 connections to
                // the server at once); nginx HTTP/1.1's open loop too (--messages all go, on the schedule).
                let workloads =
                    kind == "haproxy"
                    ? ["--workloads", "http1,http2,http2-rate", "--h2-streams", "8", "--rates", "5k"]
                    : ["--workloads", "http1,http1-rate,http2,http2-rate", "--h2-streams", "8", "--rates", "5k"]
                let result = try BinaryProcess.run(
                    [
                        "run", "--preset", "http-proxy=\(kind)", "--sizes", "64,64KiB", "--trials", "2", "--messages",
                        String(messages), "--warmup", "10ms", "--verify", "all", "--no-calibrate", "--results-dir",
                        results,
                    ] + workloads, timeout: 300)
                #expect(result.status == 0, "\(kind): \(result.stderr)")
                let run = try ResultsStore.load(try #require(try resultsFiles(in: results).first))
                // Per workload and size: direct, TCP mode, HTTP mode, in that order; every request checked.
                let rounds = kind == "haproxy" ? 6 : 8
                #expect(
                    run.cases.map { $0.key.hop?.name ?? "direct" }
                        == Array(
                            repeating: ["direct", "\(kind)-tcp", "\(kind)-http"], count: rounds
                        ).flatMap { $0 }, "\(run.cases.map(\.key))")
                #expect(run.cases.filter { $0.key.workload == .http2 }.count == 6)
                #expect(run.cases.filter { $0.key.workload == .http2Rate && $0.key.rate == 5000 }.count == 6)
                #expect(
                    run.cases.filter { $0.key.workload == .http1Rate && $0.key.rate == 5000 }.count
                        == (kind == "nginx" ? 6 : 0))
                // The hop lines name each case whole: streams too.
                #expect(
                    result.stdout.contains("tcp http2 64 streams=8 via \(kind)-http (tcp in)"), "\(result.stdout)")
                for c in run.cases {
                    #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                    expectIntact(c, messages: UInt64(messages))
                    // The server's count too: what the proxy delivered, every body compared.
                    for t in c.trials where c.key.workload.speaksHTTP2 {
                        #expect(
                            t.server.integrity.received == t.messages && t.server.integrity.verified == t.messages
                                && !t.server.integrity.hasErrors, "\(c.key)")
                    }
                    guard c.key.hop != nil else { continue }
                    // The proxy's own CPU, read from /proc for both modes of the one process.
                    for t in c.trials {
                        #expect((t.hop?.usage.userNanoseconds ?? 0) + (t.hop?.usage.systemNanoseconds ?? 0) > 0)
                    }
                }
                #expect(
                    HopCost.pairs(in: run).map(\.hop)
                        == Array(repeating: ["\(kind)-tcp", "\(kind)-http"], count: rounds).flatMap { $0 })
                // The proxy is gone with the run.
                let left = try BinaryProcess.run(
                    ["-c", "pgrep -x \(kind) -a | grep -c podbench || true"], executable: "/bin/sh")
                #expect(left.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(left.stdout)")
            }
        }

        @Test(
            "peers nobody here wrote: http-load against nginx serving a file; wrk and h2load (HTTP/1.1 and h2c) against http-serve",
            .enabled(
                if: toolPresent("/usr/sbin/nginx") && toolPresent("/usr/bin/wrk") && toolPresent("/usr/bin/h2load")),
            .singleThreaded("real peers on loopback"))
        func httpPeers() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let nginxPort = try freePort()
            let h2Port = try freePort()
            let config = dir + "/nginx.conf"
            let write = Process()
            write.executableURL = URL(fileURLWithPath: "/bin/bash")
            write.arguments = [
                "-c", #"source "$1" && podbench_nginx_static_config "$2" "$3" "$4" "$5""#, "peers-test",
                packageRoot + "/scripts/setup.sh", config, String(nginxPort), dir, String(h2Port),
            ]
            try write.run()
            write.waitUntilExit()
            #expect(write.terminationStatus == 0, "podbench_nginx_static_config failed")
            try Data((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(
                to: URL(fileURLWithPath: dir + "/www/body"))
            let nginx = try ExternalProxy("/usr/sbin/nginx", ["-c", config, "-e", dir + "/error.log"])
            defer { nginx.stop() }
            #expect(nginx.waitForPort(nginxPort), "nginx did not start")
            // podbench's client against nginx: every response the file, byte for byte.
            let load = try BinaryProcess.run([
                "http-load", "--target", "tcp:127.0.0.1:\(nginxPort)", "--path", "/body", "--duration", "300ms",
                "--warmup", "50ms", "--expect-length", "1000", "--json",
            ])
            #expect(load.status == 0, "\(load.stderr)")
            let report = try #require(
                try JSONSerialization.jsonObject(with: Data(load.stdout.utf8)) as? [String: Any], "\(load.stdout)")
            #expect((report["requests"] as? Int ?? 0) > 0 && report["bodyLength"] as? Int == 1000, "\(report)")
            #expect(report["reconnects"] as? Int == 0)
            // The open loop against nginx: a request due every 0.5 ms, one at a time (wrk2's way) and
            // pipelined 64 deep; the 600 due in the measured 300 ms (no warm-up: request 0 is the
            // phase's) each answered (checked) or counted missed.
            for pipeline in [1, 64] {
                let openLoop = try BinaryProcess.run([
                    "http-load", "--target", "tcp:127.0.0.1:\(nginxPort)", "--path", "/body", "--rate", "2000",
                    "--pipeline", String(pipeline), "--duration", "300ms", "--warmup", "0s", "--expect-length",
                    "1000", "--json",
                ])
                #expect(openLoop.status == 0, "\(openLoop.stderr)")
                let openReport = try #require(
                    try JSONSerialization.jsonObject(with: Data(openLoop.stdout.utf8)) as? [String: Any],
                    "\(openLoop.stdout)")
                #expect(
                    openReport["rate"] as? Double == 2000 && openReport["pipeline"] as? Int == pipeline
                        && (openReport["requests"] as? Int ?? 0) + (openReport["missed"] as? Int ?? -1) == 600
                        && (openReport["peakOutstanding"] as? Int ?? 0) <= pipeline, "\(openReport)")
            }
            // A path nginx does not have: its 404 named, exit 1.
            let missing = try BinaryProcess.run([
                "http-load", "--target", "tcp:127.0.0.1:\(nginxPort)", "--path", "/missing", "--duration", "100ms",
            ])
            #expect(
                missing.status == 1 && missing.stderr.contains("'HTTP/1.1 404 Not Found', not 200 OK"), "\(missing)")
            // Options that make no request are refused before connecting.
            let bad = try BinaryProcess.run(["http-load", "--target", "tcp:127.0.0.1:\(nginxPort)", "--path", "x y"])
            #expect(bad.status == 2 && bad.stderr.contains("is not a request target"), "\(bad)")

            // The HTTP/2 client against nginx's h2c port: 1 and 16 streams, every answer the file.
            #expect(nginx.waitForPort(h2Port), "nginx's h2c port did not open")
            for streams in [1, 16] {
                let h2 = try BinaryProcess.run([
                    "http2-load", "--target", "tcp:127.0.0.1:\(h2Port)", "--path", "/body", "--streams", "\(streams)",
                    "--duration", "300ms", "--warmup", "50ms", "--expect-length", "1000", "--json",
                ])
                #expect(h2.status == 0, "\(h2.stderr)")
                let h2Report = try #require(
                    try JSONSerialization.jsonObject(with: Data(h2.stdout.utf8)) as? [String: Any], "\(h2.stdout)")
                #expect(
                    (h2Report["requests"] as? Int ?? 0) > 0 && h2Report["bodyLength"] as? Int == 1000, "\(h2Report)")
                #expect(h2Report["streams"] as? Int == streams && h2Report["reconnects"] as? Int == 0, "\(h2Report)")
            }
            let h2Missing = try BinaryProcess.run([
                "http2-load", "--target", "tcp:127.0.0.1:\(h2Port)", "--path", "/missing", "--duration", "100ms",
            ])
            #expect(
                h2Missing.status == 1 && h2Missing.stderr.contains("the answer is :status 404, not 200"), "\(h2Missing)"
            )
            // HTTP/2 to nginx's HTTP/1.1 port: said in words.
            let h1Port = try BinaryProcess.run([
                "http2-load", "--target", "tcp:127.0.0.1:\(nginxPort)", "--duration", "100ms", "--timeout", "2s",
            ])
            #expect(h1Port.status == 1 && h1Port.stderr.contains("HTTP/1"), "\(h1Port)")

            // wrk and h2load (HTTP/1.1) against podbench's server: no errors, every request 2xx.
            let servePort = try freePort()
            let serve = try ExternalProxy(
                try podbenchBinary(), ["http-serve", "--listen", "tcp:127.0.0.1:\(servePort)", "--body-size", "1000"])
            defer { serve.stop() }
            #expect(serve.waitForPort(servePort), "http-serve did not start")
            let wrk = try BinaryProcess.run(
                ["-t1", "-c2", "-d1s", "--latency", "http://127.0.0.1:\(servePort)/any"], executable: "/usr/bin/wrk")
            #expect(wrk.status == 0, "\(wrk)")
            #expect(wrk.stdout.contains("Requests/sec:") && wrk.stdout.contains("50%"), "\(wrk.stdout)")
            #expect(!wrk.stdout.contains("Non-2xx") && !wrk.stdout.contains("Socket errors"), "\(wrk.stdout)")
            let h2load = try BinaryProcess.run(
                ["--h1", "-n", "500", "-c", "2", "http://127.0.0.1:\(servePort)/"], executable: "/usr/bin/h2load")
            #expect(h2load.status == 0, "\(h2load)")
            #expect(h2load.stdout.contains("500 succeeded, 0 failed, 0 errored"), "\(h2load.stdout)")
            #expect(h2load.stdout.contains("status codes: 500 2xx"), "\(h2load.stdout)")
            // And podbench's client against its own server.
            let own = try BinaryProcess.run([
                "http-load", "--target", "tcp:127.0.0.1:\(servePort)", "--duration", "200ms", "--expect-length", "1000",
            ])
            #expect(own.status == 0 && own.stdout.contains("1000-byte bodies"), "\(own)")
            // h2load over HTTP/2 (h2c) against podbench's HTTP/2 server: 64 KiB bodies through h2load's
            // own 64 KiB stream windows (-w 16 -W 16), so the server waits on WINDOW_UPDATEs; then a
            // 4 KiB body with h2load's default windows, and podbench's HTTP/2 client against it.
            for (size, windows) in [("64KiB", ["-w", "16", "-W", "16"]), ("4KiB", [])] {
                let h2Port = try freePort()
                let h2 = try ExternalProxy(
                    try podbenchBinary(),
                    ["http-serve", "--protocol", "h2c", "--listen", "tcp:127.0.0.1:\(h2Port)", "--body-size", size])
                defer { h2.stop() }
                #expect(h2.waitForPort(h2Port), "http-serve --protocol h2c did not start")
                let load = try BinaryProcess.run(
                    ["-n", "400", "-c", "2", "-m", "8"] + windows + ["http://127.0.0.1:\(h2Port)/any"],
                    executable: "/usr/bin/h2load")
                #expect(load.status == 0, "\(load)")
                #expect(load.stdout.contains("400 succeeded, 0 failed, 0 errored"), "\(load.stdout)")
                #expect(load.stdout.contains("status codes: 400 2xx"), "\(load.stdout)")
                let bytes = size == "64KiB" ? 65_536 : 4096
                #expect(load.stdout.contains("(\(400 * bytes)) data"), "\(load.stdout)")
                let own2 = try BinaryProcess.run([
                    "http2-load", "--target", "tcp:127.0.0.1:\(h2Port)", "--streams", "8", "--duration", "200ms",
                    "--expect-length", size,
                ])
                #expect(own2.status == 0 && own2.stdout.contains("\(bytes)-byte bodies"), "\(own2)")
                guard size == "4KiB" else { continue }
                // POST /podbench/echo: h2load's bodies (-d) are checked against podbench's pattern and
                // answered with their length. The pattern's bytes, as podbench makes them (its seed is
                // HTTP2ServerSession.Configuration.bodySeed); zeros are refused stream by stream, and
                // the server goes on serving.
                let pattern = UnsafeMutableRawBufferPointer.allocate(byteCount: 3000, alignment: 8)
                defer { pattern.deallocate() }
                _ = PayloadTemplate(filling: pattern, seed: 0x504F_4442_454E_4348)
                let good = dir + "/pattern", zeros = dir + "/zeros"
                try Data(pattern).write(to: URL(fileURLWithPath: good))
                try Data(count: 3000).write(to: URL(fileURLWithPath: zeros))
                let echoed = try BinaryProcess.run(
                    ["-n", "400", "-c", "2", "-m", "8", "-d", good, "http://127.0.0.1:\(h2Port)/podbench/echo"],
                    executable: "/usr/bin/h2load")
                #expect(echoed.stdout.contains("status codes: 400 2xx"), "\(echoed.stdout)")
                #expect(echoed.stdout.contains("(\(400 * 3000)) data"), "\(echoed.stdout)")
                let refused = try BinaryProcess.run(
                    ["-n", "20", "-c", "1", "-m", "4", "-d", zeros, "http://127.0.0.1:\(h2Port)/podbench/echo"],
                    executable: "/usr/bin/h2load")
                #expect(refused.stdout.contains("status codes: 0 2xx"), "\(refused.stdout)")
                let ownPost = try BinaryProcess.run([
                    "http2-load", "--target", "tcp:127.0.0.1:\(h2Port)", "--streams", "4", "--duration", "200ms",
                    "--path", "/podbench/echo", "--request-body", "3000",
                ])
                #expect(ownPost.status == 0 && ownPost.stdout.contains("POST (3000-byte request bodies)"), "\(ownPost)")
                #expect(ownPost.stdout.contains("3000-byte bodies"), "\(ownPost)")
            }
        }

        @Test(
            "adapter through socat, a Unix socket in and TCP out, started by the test",
            .enabled(if: toolPresent("/usr/bin/socat")),
            .singleThreaded("the hop is socat; podbench's sides are those the other tests drive"))
        func socat() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let back = try freePort()
            let path = dir + "/adapter.sock"
            let proxy = try ExternalProxy("/usr/bin/socat", ["UNIX-LISTEN:\(path),fork", "TCP:127.0.0.1:\(back)"])
            defer { proxy.stop() }
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: path) { usleep(20_000) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "tcp", "--via", "unix:\(path)", "--via-target", "tcp:127.0.0.1:\(back)",
                    "--via-name", "socat", "--sizes", "64,64KiB", "--trials", "2", "--messages", "50", "--warmup",
                    "10ms", "--verify", "all", "--no-calibrate", "--results-dir", dir,
                ], timeout: 300)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            expectHopPairs(run, hop: "socat", hopIn: "uds", messages: 50, relayFigures: false)
            #expect(result.stdout.contains("socat's own CPU not seen"))
        }

        @Test("relay --exit-after: the relay exits 0 once the file it watches is gone, as a pod's relay container does")
        func relayExitsAfter() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let watched = dir + "/control.sock"
            let relay = try BinaryProcess([
                "relay", "--listen", "tcp:127.0.0.1:\(try freePort())", "--forward",
                "tcp:127.0.0.1:\(try freePort())", "--exit-after", watched,
            ])
            // The relay leaves only once it has seen the file and then misses it (it looks every
            // 100 ms): the file comes and goes until the relay has seen both, however slow it starts.
            let started = Date()
            while relay.isRunning && Date().timeIntervalSince(started) < 120 {
                _ = FileManager.default.createFile(atPath: watched, contents: Data())
                usleep(250_000)
                try? FileManager.default.removeItem(atPath: watched)
                usleep(250_000)
            }
            #expect(relay.wait(timeout: 10) == 0, "\(relay.stderr)")
            #expect(relay.stderr.contains("is gone: exiting"), "\(relay.stderr)")
        }

        @Test("a hop given wrong: each mistake named, exit 2")
        func mistakes() throws {
            let cases: [([String], String)] = [
                (["run", "--via", "tcp:127.0.0.1:9000"], "needs --via-target"),
                (
                    [
                        "run", "--transports", "uds", "--via", "tcp:127.0.0.1:9000", "--via-target",
                        "tcp:127.0.0.1:9001",
                    ],
                    "include tcp in --transports"
                ),
                (["run", "--via-target", "tcp:127.0.0.1:9001"], "go with --via"),
                (
                    ["run", "--preset", "sidecar"],
                    "is not ambassador, adapter, sidecar-logs, content-sync, http-proxy=nginx or"
                ),
                (["run", "--via", "relay:pipe"], "is not relay"),
                (["relay", "--listen", "tcp:nowhere", "--forward", "tcp:127.0.0.1:1"], "--listen"),
                (["relay", "--listen", "tcp:127.0.0.1:1", "--forward", "shm:dev/shm/x"], "absolute path"),
                (["relay", "--listen", "tcp:127.0.0.1:1", "--forward", "tcp:127.0.0.1:2", "--wait", "nap"], "nap"),
                (["run", "--transports", "uring-tcp", "--via", "relay"], "a transport the relay can forward to"),
                (
                    [
                        "run", "--transports", "shm", "--via", "tcp:127.0.0.1:9000", "--via-target",
                        "file:/tmp/podbench-x",
                    ],
                    "include file in --transports"
                ),
                (["client", "--preset", "ambassador"], "only `run` does"),
            ]
            for (arguments, expected) in cases {
                let result = try BinaryProcess.run(arguments)
                #expect(result.status == 2, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            }
        }
    }
}
