import Foundation
import PodBenchCore
import PodBenchHarness
import Testing

@testable import podbench

/// The command line's options, parsed as `run` and `client` parse them: what reaches the plan.
@Suite("measurement options")
struct MeasurementOptionsTests {
    static func parsed(_ arguments: [String]) throws -> MeasurementOptions.Parsed {
        try MeasurementOptions.parse(arguments).parsed()
    }

    @Test("an open loop's rate slower than --timeout is refused before anything runs, naming both")
    func rateSlowerThanTimeout() throws {
        #expect {
            try Self.parsed([
                "--workloads", "http1-rate", "--transports", "tcp", "--rates", "1,100", "--timeout", "500ms",
            ])
        } throws: { error in
            "\(error)".contains("--rates 1: one message every 1000 ms comes too close to --timeout (500ms)")
                && "\(error)".contains("offer at least 4/s")
        }
        // A period of half the timeout is refused too (no margin for the delivery's jitter); a
        // quarter stands, and without an open loop anything does.
        #expect(throws: (any Error).self) {
            try Self.parsed(["--workloads", "rate", "--rates", "2", "--timeout", "500ms"])
        }
        #expect(try Self.parsed(["--workloads", "rate", "--rates", "4", "--timeout", "500ms"]).rates == [4])
        #expect(try Self.parsed(["--workloads", "pingpong", "--rates", "1", "--timeout", "500ms"]).rates == [1])
    }

    @Test("a preset fills only the lists not given: an explicit default list stands")
    func presetFillsOnlyWhatIsMissing() throws {
        #expect(
            try Self.parsed(["--preset", "ambassador", "--transports", "tcp,uds,shm"]).transports == [.tcp, .uds, .shm])
        #expect(try Self.parsed(["--preset", "ambassador"]).transports == [.tcp])
        #expect(try Self.parsed(["--preset", "adapter", "--transports", "uds"]).transports == [.uds])
        #expect(try Self.parsed([]).transports == [.tcp, .uds, .shm])
        #expect(try Self.parsed([]).workloads == [.pingpong, .stream])
        #expect(try Self.parsed(["--preset", "sidecar-logs"]).workloads == [.rate])
        #expect(
            try Self.parsed(["--preset", "sidecar-logs", "--workloads", "pingpong,stream"]).workloads == [
                .pingpong, .stream,
            ])
        #expect(try Self.parsed(["--preset", "ambassador"]).workloads == [.pingpong, .stream])
        #expect(throws: (any Error).self) { try Self.parsed(["--preset", "mesh"]) }
        // Each preset's hop is podbench's relay, spoken to in the preset's transport; --via wins.
        for preset in Preset.allCases {
            let plan = try Self.parsed(["--preset", preset.rawValue])
            #expect(plan.relayIn == preset.relayIn && plan.transports == preset.transports, "\(preset)")
            #expect(plan.workloads == preset.workloads ?? [.pingpong, .stream], "\(preset)")
            if preset.relayIn != nil {
                #expect(try Self.parsed(["--preset", preset.rawValue, "--via", "relay:shm"]).relayIn == .shm)
            }
        }
        #expect(Preset.contentSync.via == nil && Preset.contentSync.transports == [.syncSymlink, .syncRename])
        // The HTTP proxy presets: http1 over tcp, the proxy started by run (not a relay, no --via).
        for (text, kind) in [("http-proxy=nginx", ProxyLauncher.Kind.nginx), ("http-proxy=haproxy", .haproxy)] {
            let plan = try Self.parsed(["--preset", text])
            #expect(plan.workloads == [.http1] && plan.transports == [.tcp] && plan.hops.isEmpty && plan.relayIn == nil)
            #expect(try Preset(parsing: text).proxy == kind)
            // In a pod the proxy is the third container: both modes' ports, the server behind them,
            // its CPU found by name in the shared process namespace.
            if ProxyLauncher.executable(kind) != nil {
                let run = try PodBench.Run.parse(["--isolation", "podman", "--preset", text])
                let plan = run.podPlan()
                #expect(plan.sharesProcessNamespace)
                let commands = try plan.commands("/w/shared")
                let proxy = try #require(commands.proxy)
                #expect(proxy.name == kind.rawValue && commands.relay == nil)
                #expect(
                    proxy.configuration.contains("127.0.0.1:7202") && proxy.configuration.contains("127.0.0.1:7203"))
                let client = try MeasurementOptions.parse(Array(commands.client.drop { $0 != "--transports" }))
                #expect(
                    client.via.contains("tcp:127.0.0.1:7202")
                        && client.viaTarget.allSatisfy { $0 == "tcp:127.0.0.1:7203" })
                #expect(
                    client.viaName.last == "\(kind.rawValue)-http" && client.viaStats.last == "process:\(kind.rawValue)"
                )
                // nginx takes HTTP/2 on a port of its own: one hop, nginx-http, in two parts.
                let hops = try client.parsed().hops
                if kind == .nginx {
                    #expect(proxy.configuration.contains("listen 127.0.0.1:7204 http2;"))
                    #expect(hops.map(\.name) == ["nginx-tcp", "nginx-http", "nginx-http"])
                    #expect(
                        hops.map(\.via.description) == [
                            "tcp:127.0.0.1:7201", "tcp:127.0.0.1:7202", "tcp:127.0.0.1:7204",
                        ])
                    #expect(hops.map(\.workloads) == [nil, [.http1, .http1Rate], [.http2, .http2Rate]])
                } else {
                    #expect(
                        hops.map(\.name) == ["haproxy-tcp", "haproxy-http"] && hops.allSatisfy { $0.workloads == nil })
                }
                #expect(Array(commands.server.suffix(2)) == ["--via-target", "tcp:127.0.0.1:7203"])
            }
            #expect(throws: (any Error).self) { try PodBench.Client.parse(["--preset", text]) }
            // Its HTTP port answers anything else with 400, and it listens on tcp.
            #expect(throws: (any Error).self) { try Self.parsed(["--preset", text, "--workloads", "pingpong,http1"]) }
            // http2 goes through both: haproxy passes HTTP/2 on as HTTP/2, nginx (its own port) as HTTP/1.1.
            let both = ["--preset", text, "--workloads", "http1,http2", "--h2-streams", "1,8"]
            let open2 = ["--preset", text, "--workloads", "http2-rate", "--rates", "5k"]
            #expect(try Self.parsed(both).workloads == [.http1, .http2])
            #expect(try Self.parsed(open2).workloads == [.http2Rate])
            if kind == .haproxy {
                let config = ProxyLauncher.haproxyConfiguration(http: 2, tcp: 1, target: 3)
                #expect(
                    config.contains("use_backend h2 if HTTP_2.0")
                        && config.contains("server one 127.0.0.1:3 proto h2")
                        && config.contains("tune.h2.max-concurrent-streams 128"), "\(config)")
            } else {
                let config = ProxyLauncher.nginxConfiguration(directory: "/d", http: 2, h2: 4, tcp: 1, target: 3)
                #expect(
                    config.contains("listen 127.0.0.1:4 http2;") && config.contains("http2_max_concurrent_streams 128;")
                        && config.contains("keepalive 128;"), "\(config)")
            }
            #expect(throws: (any Error).self) { try Self.parsed(["--preset", text, "--transports", "uds"]) }
            // The open loop at each rate goes through either proxy: HTTP/1.1 both ways.
            let open = try Self.parsed(["--preset", text, "--workloads", "http1,http1-rate", "--rates", "1k,5k"])
            #expect(open.workloads == [.http1, .http1Rate] && open.rates == [1000, 5000])
            // A proxy of the user's given with --via stands: nothing started.
            _ = try PodBench.Client.parse([
                "--preset", text, "--via", "tcp:127.0.0.1:1", "--via-target", "tcp:127.0.0.1:2",
            ])
        }
        #expect(Preset.adapter.via == "relay:uds" && Preset.ambassador.via == "relay")
    }

    @Test("a hop's name that could not be shown is refused before the run, not case by case")
    func hopName() throws {
        let hop = ["--transports", "tcp", "--via", "tcp:127.0.0.1:9000", "--via-target", "tcp:127.0.0.1:9001"]
        #expect(try Self.parsed(hop + ["--via-name", "envoy 1.30"]).hops.map(\.name) == ["envoy 1.30"])
        for bad in ["", "relay\u{1B}[2J", String(repeating: "x", count: 257)] {
            #expect(throws: (any Error).self) { try Self.parsed(hop + ["--via-name", bad]) }
        }
    }

    @Test("several --via pair with their --via-target, --via-name and --via-stats in order; mismatches are refused")
    func severalHops() throws {
        let two = [
            "--transports", "tcp", "--via", "tcp:127.0.0.1:9100", "--via-target", "tcp:127.0.0.1:9001", "--via",
            "tcp:127.0.0.1:9200", "--via-target", "tcp:127.0.0.1:9001", "--via-name", "a", "--via-name", "b",
        ]
        let plan = try Self.parsed(two + ["--via-stats", "none", "--via-stats", "pid:\(getpid())"])
        #expect(plan.hops.map(\.name) == ["a", "b"])
        #expect(plan.hops.map(\.via.description) == ["tcp:127.0.0.1:9100", "tcp:127.0.0.1:9200"])
        #expect(plan.hops[0].stats == nil && plan.hops[1].stats == .process(pid: getpid()))
        for (bad, phrase) in [
            (Array(two.prefix(10)), "--via-name each"),
            (two + ["--via-name", "c"], "give none, or one for each hop"),
            (Array(two.prefix(10)) + ["--via-name", "a", "--via-name", "a"], "a name of its own"),
            (two + ["--via-stats", "none"], "give none, or one for each hop"),
            (Array(two.prefix(8)) + ["--via-name", "a", "--via-name", "b"], "give each hop its --via-target"),
            (["--via", "relay", "--via", "tcp:127.0.0.1:9200", "--via-target", "tcp:127.0.0.1:9001"], "goes alone"),
            (
                [
                    "--transports", "tcp", "--via", "tcp:127.0.0.1:9100", "--via-target", "tcp:127.0.0.1:9001",
                    "--via-name", "a", "--via-name", "b",
                ], "once for each --via"
            ),
        ] {
            do {
                _ = try Self.parsed(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect("\(error)".contains(phrase), "\(bad): \(error)")
            }
        }
        // Two ports of one proxy may share a name, each carrying workloads of its own (nginx's
        // HTTP/1.1 and HTTP/2 ports): the matrix sends each workload through its port.
        let shared =
            Array(two.prefix(10)) + [
                "--via-name", "nginx", "--via-name", "nginx", "--via-workloads", "http1,http1-rate", "--via-workloads",
                "http2", "--workloads", "http1,http2,pingpong",
            ]
        let sharing = try Self.parsed(shared)
        #expect(sharing.hops.map(\.workloads) == [[.http1, .http1Rate], [.http2]])
        let specs = MatrixRunner.cases(
            transports: sharing.transports, workloads: sharing.workloads, sizes: [64], options: sharing.options,
            verifyEvery: 1, corruptSequence: nil, hops: sharing.hops)
        #expect(
            specs.map { "\($0.workload.rawValue) \($0.options.via?.description ?? "direct")" } == [
                "http1 direct", "http1 tcp:127.0.0.1:9100", "http2 direct", "http2 tcp:127.0.0.1:9200",
                "pingpong direct",
            ])
        for (bad, phrase) in [
            (Array(shared.dropLast(6)) + ["--workloads", "http1"], "a name of its own"),
            (
                Array(shared.dropLast(6)) + [
                    "--via-workloads", "http1,http2", "--via-workloads", "http2", "--workloads", "http1",
                ], "a name of its own"
            ),
            (Array(shared.dropLast(6)) + ["--via-workloads", "http2"], "give none, or one for each hop"),
            (shared + ["--via-stats", "none", "--via-stats", "pid:1"], "a name of its own"),
            (Array(shared.dropLast(4)) + ["--via-workloads", "http3"], "--via-workloads"),
            (["--via", "relay", "--via-workloads", "http1"], "--via relay carries every workload"),
            (["--via-workloads", "http1"], "go with --via"),
        ] {
            do {
                _ = try Self.parsed(bad)
                Issue.record("accepted \(bad)")
            } catch {
                #expect("\(error)".contains(phrase), "\(bad): \(error)")
            }
        }
        // And back through the arguments a client's container gets.
        #expect(
            try MeasurementOptions.parse(MeasurementOptions.parse(shared).arguments(resultsDir: "/r")).parsed().hops
                == sharing.hops)
        let options = try MeasurementOptions.parse(two)
        #expect(
            try MeasurementOptions.parse(options.arguments(resultsDir: "/r")).parsed().hops
                == (try options.parsed().hops))
    }

    @Test("the arguments handed to the client's container parse back to the same run")
    func argumentsRoundTrip() throws {
        for given in [
            [],
            ["--preset", "ambassador", "--transports", "tcp,uds,shm"],
            ["--preset", "sidecar-logs"],
            [
                "--transports", "shm,file,uring-file", "--workloads", "rate", "--rates", "5k,20k", "--sizes", "1,4KiB",
                "--trials", "3", "--duration", "300ms", "--warmup", "0", "--messages", "99", "--verify", "sample:4",
                "--cpu", "client=0,server=1", "--shm-ring", "64KiB", "--shm-wait", "spin,futex",
                "--file-follow", "poll:100us", "--file-fsync", "none,every:8", "--file-segment", "1MiB",
                "--socket-buffer", "256KiB", "--uring-batch", "4", "--uring-setup", "sqpoll", "--uring-buffers",
                "registered", "--no-calibrate",
            ],
        ] {
            let options = try MeasurementOptions.parse(given)
            let written = options.arguments(resultsDir: "/results")
            let again = try MeasurementOptions.parse(written)
            #expect(again.arguments(resultsDir: "/results") == written, "\(given)")
            let (a, b) = (try options.parsed(), try again.parsed())
            #expect(a.transports == b.transports && a.workloads == b.workloads && a.sizes == b.sizes, "\(given)")
            #expect(a.options == b.options && a.rates == b.rates && a.shmWaits == b.shmWaits, "\(given)")
            #expect(a.fileFsyncs == b.fileFsyncs && a.uringSetups == b.uringSetups, "\(given)")
            #expect(a.trials == b.trials && a.trialNanoseconds == b.trialNanoseconds, "\(given)")
            #expect(a.warmupNanoseconds == b.warmupNanoseconds && a.verifyEvery == b.verifyEvery, "\(given)")
            #expect(a.clientCPU == b.clientCPU && a.serverCPU == b.serverCPU, "\(given)")
        }
    }

    /// Every measurement option, each given a value other than its default.
    static let everyOption = [
        "--transports", "tcp,uds", "--workloads", "pingpong,rate", "--rates", "5k,20k", "--h2-streams", "1,16",
        "--sizes", "1,4KiB",
        "--trials", "3", "--duration", "300ms", "--warmup", "0", "--messages", "99", "--verify", "sample:4",
        "--timeout", "7s", "--cpu", "client=0,server=1", "--socket-buffer", "256KiB", "--shm-ring", "64KiB",
        "--shm-wait", "spin,futex", "--file-follow", "poll:100us", "--file-fsync", "none,every:8",
        "--file-segment", "1MiB", "--uring-batch", "4", "--uring-setup", "sqpoll", "--uring-buffers", "registered",
        "--via", "tcp:127.0.0.1:9000", "--via-target", "tcp:127.0.0.1:9001", "--via-name", "haproxy",
        "--via-stats", "unix:/tmp/none.sock", "--via-workloads", "pingpong", "--preset", "ambassador", "--no-calibrate",
        "--results-dir",
        "/results", "--inject-corruption", "5", "--output", "/results/given.json", "--json", "--quiet",
    ]

    @Test("short options are the long ones: -t -w -s -n -d -o -q")
    func shortOptions() throws {
        let short = try MeasurementOptions.parse([
            "-t", "uds", "-w", "rate", "-s", "64", "-n", "3", "-d", "1s", "-o", "/tmp/none/a.json", "-q",
        ])
        let long = try MeasurementOptions.parse([
            "--transports", "uds", "--workloads", "rate", "--sizes", "64", "--trials", "3", "--duration", "1s",
            "--output", "/tmp/none/a.json", "--quiet",
        ])
        #expect(short.arguments(resultsDir: "/r") == long.arguments(resultsDir: "/r"))
        #expect(try short.parsed().output == "/tmp/none/a.json" && short.quiet)
        // An output that exists, or a folder, is refused before anything runs.
        #expect(throws: (any Error).self) { try MeasurementOptions.parse(["-o", "/tmp"]).parsed() }
        #expect(throws: (any Error).self) { try MeasurementOptions.parse(["-o", #filePath]).parsed() }
        let link = "/tmp/podbench-dangling-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: link)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/nonexistent/podbench")
        defer { try? FileManager.default.removeItem(atPath: link) }
        #expect(throws: (any Error).self) { try MeasurementOptions.parse(["-o", link]).parsed() }
    }

    /// `shmRing` → `--shm-ring`: ArgumentParser's naming of a property.
    static func optionName(_ property: String) -> String {
        "--"
            + property.reduce(into: "") { name, character in
                if character.isUppercase { name += "-" + character.lowercased() } else { name.append(character) }
            }
    }

    @Test("every measurement option reaches the client's container: each one listed here, each one round-trips")
    func everyOptionReachesTheClient() throws {
        let options = try MeasurementOptions.parse(Self.everyOption)
        // The options as the type declares them (its stored properties), not as help prints them: a
        // new option fails here until it is listed above, and then below unless it is forwarded.
        // (Each section of --help is a group: its stored properties are the options.)
        let sections: [Any] = [
            options.matrix, options.phases, options.transportSettings, options.hop, options.outputOptions,
        ]
        #expect(Mirror(reflecting: options).children.count == sections.count, "a section is missing here")
        let declared = sections.flatMap { Mirror(reflecting: $0).children }.compactMap { $0.label }.map {
            Self.optionName(String($0.drop { $0 == "_" }))
        }
        #expect(declared.count >= 28, "\(declared)")
        #expect(Set(declared) == Set(Self.everyOption.filter { $0.hasPrefix("--") }), "\(declared)")
        let again = try MeasurementOptions.parse(options.arguments(resultsDir: "/results"))
        for (mine, theirs) in zip(Mirror(reflecting: options).children, Mirror(reflecting: again).children) {
            #expect(
                String(describing: mine.value) == String(describing: theirs.value),
                "\(mine.label ?? "?") is not handed to the client's container")
        }
    }

    @Test("run --isolation podman hands the launcher its settings and each container's command, every option in")
    func podPlan() throws {
        // Every option but --output, which podman refuses (the file's folder is not for a container).
        var options = Self.everyOption
        if let i = options.firstIndex(of: "--output") { options.removeSubrange(i...(i + 1)) }
        let run = try PodBench.Run.parse(["--isolation", "podman", "--shared-dir", "/work"] + options)
        let plan = run.podPlan()
        #expect(plan.sharedParent == "/work" && plan.resultsDirectory == "/results" && plan.shmSize == "512m")
        #expect(plan.seccomp == .ioURing && plan.image == nil && plan.podmanConf == nil && !plan.dryRun)
        let commands = try plan.commands("/work/p/shared")
        let control = "unix:/work/p/shared/control.sock"
        #expect(commands.server.starts(with: ["serve", "--control", control, "--shared-dir", "/work/p/shared"]))
        #expect(commands.server.contains("--timeout") && commands.server.contains("7s"))
        // The hop was given (--via), so no relay container; the server listens where it forwards.
        #expect(commands.relay == nil)
        #expect(Array(commands.server.suffix(2)) == ["--via-target", "tcp:127.0.0.1:9001"])
        let lead = [
            "client", "--control", control, "--connect-wait", "60s", "--shutdown-server", "--isolation", "podman",
        ]
        #expect(commands.client.starts(with: lead))
        #expect(Array(commands.client.dropFirst(lead.count)) == run.measurement.arguments(resultsDir: "/results"))

        // The process namespace is shared only when a transport asked for needs it.
        #expect(!plan.sharesProcessNamespace)
        let pidfd = try PodBench.Run.parse(["--isolation", "podman", "--transports", "tcp,pidfd-pipe"])
        #expect(pidfd.podPlan().sharesProcessNamespace)

        // --via relay: a third container whose endpoints the client is told.
        let relayed = try PodBench.Run.parse(["--isolation", "podman", "--transports", "tcp", "--via", "relay:uds"])
        let hop = try relayed.podPlan().commands("/s")
        let relay = try #require(hop.relay)
        #expect(relay.first == "relay")
        let listen = relay[relay.firstIndex(of: "--listen")! + 1]
        let forward = relay[relay.firstIndex(of: "--forward")! + 1]
        let client = try MeasurementOptions.parse(Array(hop.client.dropFirst(lead.count)))
        #expect(client.via == [listen] && client.viaTarget == [forward] && client.viaName == ["relay"])
        #expect(Array(hop.server.suffix(2)) == ["--via-target", forward])
        #expect(listen.hasPrefix("unix:/s/") && relay.last == "/s/control.sock")
    }

    @Test("podman's options given with another isolation are refused, their defaults spelt out included")
    func podmanOnlyOptions() throws {
        for option in [["--pod-shm-size", "512m"], ["--pod-seccomp", "io_uring"], ["--image", "x"]] {
            #expect(throws: (any Error).self) { try PodBench.Run.parse(["--isolation", "process"] + option) }
            _ = try PodBench.Run.parse(["--isolation", "podman"] + option)
        }
        #expect(throws: (any Error).self) {
            try PodBench.Run.parse(["--isolation", "podman", "--pod-seccomp", "none"])
        }
    }
}
