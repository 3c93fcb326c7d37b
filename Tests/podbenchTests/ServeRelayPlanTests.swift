import Foundation
import PodBenchCore
import PodBenchHarness
import Testing

@testable import podbench

/// `serve`'s and `relay`'s options, parsed into their plans: every option reaches the plan, and the
/// command lines `run` and the pod write for them parse back to the same plan.
@Suite("serve and relay plans")
struct ServeRelayPlanTests {
    /// The names of a command's options as the type declares them (its stored properties).
    static func declaredOptions(of command: Any) -> Set<String> {
        Set(
            Mirror(reflecting: command).children.compactMap { $0.label }.map {
                MeasurementOptionsTests.optionName(String($0.drop { $0 == "_" }))
            })
    }

    /// Two directories that exist (serve checks that its directories do).
    static func directories() throws -> (shared: String, memory: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("podbench-plan-\(getpid())").path
        for name in ["shared", "memory"] {
            try FileManager.default.createDirectory(atPath: base + "/" + name, withIntermediateDirectories: true)
        }
        return (base + "/shared", base + "/memory")
    }

    /// Each option of serve with a value other than its default, as pairs of words (flags alone).
    static func serveOptions(shared: String, memory: String) -> [[String]] {
        [
            ["--control", "tcp:127.0.0.1:7000"], ["--shared-dir", shared], ["--shm-dir", memory], ["--cpu", "1"],
            ["--token-file", "/secret/token"], ["--via-target", "tcp:127.0.0.1:9001"], ["--timeout", "1500ms"],
            ["--exit-with-parent"], ["--quiet"], ["--idle-exit", "10m"],
        ]
    }

    @Test("every serve option reaches its plan, and the plan's command line parses back to it")
    func servePlanRoundTrips() throws {
        let (shared, memory) = try Self.directories()
        let options = Self.serveOptions(shared: shared, memory: memory)
        let given = try PodBench.Serve.parse(options.flatMap { $0 })
        // A new option fails here until it is listed above.
        #expect(Self.declaredOptions(of: given) == Set(options.map { $0[0] }))
        #expect(try PodBench.Serve.parse([]).plan() == ServePlan())
        let defaults = ServePlan()
        for option in options {
            #expect(try PodBench.Serve.parse(option).plan() != defaults, "\(option[0]) does not reach the plan")
        }
        let plan = try given.plan()
        #expect(plan.timeoutNanoseconds == 1_500_000_000 && plan.cpu == 1 && plan.quiet && plan.exitWithParent)
        #expect(plan.tokenPath == "/secret/token" && ServePlan(sharedDirectory: "/s").tokenPath == "/s/podbench.token")
        #expect(plan.arguments.first == "serve")
        #expect(try PodBench.Serve.parse(Array(plan.arguments.dropFirst())).plan() == plan)
        // Several hop targets, in order.
        var two = plan
        two.hopTargets.append(.file(directory: shared + "/hop"))
        #expect(try PodBench.Serve.parse(Array(two.arguments.dropFirst())).plan() == two)
        #expect(try PodBench.Serve.parse(Array(defaults.arguments.dropFirst())).plan() == defaults)
    }

    @Test("bad serve options are refused with the option named")
    func badServeOptions() {
        for (bad, named) in [
            (["--control", "udp:1"], "unix:PATH"), (["--timeout", "soon"], "--timeout"),
            (["--via-target", "ftp:x"], "ftp"), (["--shared-dir", "/no/such/dir"], "--shared-dir"),
        ] {
            #expect("\(bad)") {
                try PodBench.Serve.parse(bad)
            } throws: { error in
                PodBench.Serve.message(for: error).contains(named)
            }
        }
    }

    @Test("every relay option reaches its plan, and the plan's command line parses back to it")
    func relayPlanRoundTrips() throws {
        let required = ["--listen", "unix:/s/in.sock", "--forward", "tcp:127.0.0.1:9001"]
        let options: [[String]] = [
            ["--wait", "spin"], ["--stats", "unix:/s/stats.sock"], ["--cpu", "0"], ["--exit-after", "/s/control.sock"],
            ["--exit-with-parent"], ["--quiet"],
        ]
        let given = try PodBench.Relay.parse(required + options.flatMap { $0 })
        #expect(
            Self.declaredOptions(of: given) == Set(options.map { $0[0] } + ["--listen", "--forward"]))
        let defaults = try PodBench.Relay.parse(required).plan()
        #expect(
            defaults
                == RelayPlan(
                    listen: .socket(address: .unixPath("/s/in.sock")),
                    forward: .socket(address: .ipv4(host: "127.0.0.1", port: 9001))))
        for option in options {
            #expect(
                try PodBench.Relay.parse(required + option).plan() != defaults, "\(option[0]) does not reach the plan")
        }
        let plan = try given.plan()
        #expect(plan.wait == .spin && plan.cpu == 0 && plan.exitAfter == "/s/control.sock" && plan.quiet)
        for each in [
            plan, defaults,
            RelayPlan(
                listen: .sharedMemory(directory: "/dev/shm/a"), forward: .fifo(directory: "/s/b"),
                wait: .spinFutex(nanoseconds: 1234)),
        ] {
            #expect(each.arguments.first == "relay")
            #expect(try PodBench.Relay.parse(Array(each.arguments.dropFirst())).plan() == each)
        }
        #expect(throws: (any Error).self) {
            try PodBench.Relay.parse(["--listen", "unix:/s/in.sock", "--forward", "x"])
        }
        #expect(throws: (any Error).self) { try PodBench.Relay.parse(required + ["--wait", "nap"]) }
    }

    @Test("run's server child (and its --dry-run line) listens where the hop forwards, with the run's timeout")
    func runServerPlan() throws {
        let (shared, memory) = try Self.directories()
        let measurement = try MeasurementOptions.parse([
            "--transports", "tcp", "--via", "tcp:127.0.0.1:9000", "--via-target", "tcp:127.0.0.1:9001", "--timeout",
            "3s",
        ]).parsed()
        let plan = PodBench.Run.serverPlan(
            control: .unixPath(shared + "/control.sock"), directory: shared, sharedMemoryDirectory: memory,
            plan: measurement)
        #expect(plan.hopTargets == [.socket(address: .ipv4(host: "127.0.0.1", port: 9001))])
        #expect(plan.timeoutNanoseconds == 3_000_000_000 && plan.exitWithParent && plan.quiet)
        #expect(try PodBench.Serve.parse(Array(plan.arguments.dropFirst())).plan() == plan)
        let direct = PodBench.Run.serverPlan(
            control: .unixPath(shared + "/control.sock"), directory: shared, sharedMemoryDirectory: memory,
            plan: try MeasurementOptions.parse([]).parsed())
        #expect(direct.hopTargets.isEmpty)
    }

    @Test("the pod's server and relay containers get command lines that parse back to the pod's plan")
    func podContainersParseBack() throws {
        let (shared, _) = try Self.directories()
        let run = try PodBench.Run.parse([
            "--isolation", "podman", "--transports", "tcp", "--via", "relay:uds", "--timeout", "7s",
        ])
        let commands = try run.podPlan().commands(shared)
        let server = try PodBench.Serve.parse(Array(commands.server.dropFirst())).plan()
        let relay = try PodBench.Relay.parse(Array(try #require(commands.relay).dropFirst())).plan()
        #expect(server.control == .unixPath(shared + "/control.sock") && server.sharedDirectory == shared)
        #expect(server.sharedMemoryDirectory == "/dev/shm" && server.timeoutNanoseconds == 7_000_000_000)
        // The server listens where the relay forwards, and only there; the relay ends with the server.
        #expect(server.hopTargets == [relay.forward])
        #expect(relay.exitAfter == shared + "/control.sock" && relay.stats == .unixPath(shared + "/relay-stats.sock"))
        #expect(relay.listen == .socket(address: .unixPath(shared + "/relay-in.sock")))
        #expect(server.tokenPath == shared + "/podbench.token")
    }
}
