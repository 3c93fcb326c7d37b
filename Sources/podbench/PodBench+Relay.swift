import ArgumentParser
import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import PodBenchHarness
import PodBenchRing
import PodBenchTransports

extension PodBench {
    /// `podbench relay`: the hop in the middle (an ambassador or an adapter), a third process or container.
    struct Relay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Forward connections from one endpoint to another, both ways: the hop of an ambassador or adapter.",
            discussion: """
                Accepts connections on --listen; for each, connects to --forward and copies bytes both ways until \
                either side closes (podbench's frames pass through untouched, so both sides still check every \
                message). The two endpoints may be of different kinds (unix in, tcp out: an adapter). With --stats, \
                answers each connection there with one JSON line of its process's CPU time, context switches and \
                bytes forwarded; a client given --via-stats records the relay's CPU per message from it. Runs until \
                killed. See docs/patterns.md.
                """)

        @Option(
            help:
                "Where clients connect: tcp:HOST:PORT, unix:PATH, unix:@NAME, file:DIR (the relay makes file connections in DIR and follows what the client appends: a log-shipping sidecar), shm:DIR (ring files) or fifo:DIR (FIFO pairs)."
        )
        var listen: String

        @Option(
            help:
                "Where each connection is forwarded: tcp:HOST:PORT, unix:PATH, unix:@NAME, or file:DIR, shm:DIR, fifo:DIR (the server makes its connections in DIR, given there as --via-target, and the relay opens the fresh one)."
        )
        var forward: String

        @Option(
            help:
                "How the relay waits on the rings it makes (--listen shm:DIR): spin, futex or spin-futex[:DURATION]. On a ring it forwards to, it takes the server's."
        )
        var wait = "spin-futex"

        @Option(help: "An endpoint that answers with the relay's CPU and byte counts (for --via-stats).")
        var stats: String?

        @Option(help: "Pin the relay's threads to this CPU.")
        var cpu: Int?

        @Option(
            help:
                "Exit once PATH has appeared and is gone again: give the server's control socket, and the relay ends with the run (a third container of a pod)."
        )
        var exitAfter: String?

        @Flag(help: ArgumentHelp("Exit when the parent process exits (used by `podbench run`).", visibility: .hidden))
        var exitWithParent = false

        @Flag(help: "Print nothing but errors.")
        var quiet = false

        /// The options as a plan; every check `validate` makes is made here.
        func plan() throws -> RelayPlan {
            func endpoint(_ name: String, _ text: String) throws -> HopEndpoint {
                do { return try HopEndpoint(parsing: text) } catch let error as PodBenchError {
                    throw ValidationError("\(name): \(error.message)")
                }
            }
            let listen = try endpoint("--listen", listen)
            let forward = try endpoint("--forward", forward)
            do {
                return RelayPlan(
                    listen: listen, forward: forward, stats: try stats.map { try SocketAddress(parsing: $0) },
                    wait: try RingWaitStrategy(parsing: wait), cpu: cpu, exitAfter: exitAfter,
                    exitWithParent: exitWithParent, quiet: quiet)
            } catch let error as PodBenchError {
                throw ValidationError(error.message)
            }
        }

        func validate() throws {
            _ = try plan()
        }

        func run() async throws {
            let plan = try plan()
            if plan.exitWithParent {
                _ = CPodBenchLinux_set_parent_death_signal(SIGKILL)
                signal(SIGINT, SIG_IGN)
                if getppid() == 1 { return }
            }
            if let cpu = plan.cpu { _ = try CPUPinning.pinCurrentThread(to: cpu) }
            let quiet = plan.quiet
            if let exitAfter = plan.exitAfter {
                Thread {
                    var seen = false
                    while true {
                        let present = access(exitAfter, F_OK) == 0
                        if present { seen = true }
                        if seen && !present {
                            if !quiet {
                                FileHandle.standardError.write(
                                    Data("podbench relay: \(exitAfter) is gone: exiting\n".utf8))
                            }
                            Glibc.exit(0)
                        }
                        usleep(100_000)
                    }
                }.start()
            }
            let relay = PodBenchHarness.Relay(
                configuration: plan.configuration,
                log: { line in if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) } })
            try relay.run()
        }
    }
}
