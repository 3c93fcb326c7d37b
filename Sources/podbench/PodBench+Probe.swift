import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchResults
import PodBenchTransports

extension PodBench {
    /// `podbench probe`: what this machine offers.
    struct Probe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which transports work here and why not, and the environment a run records.")

        @Option(help: "The shared directory to try Unix sockets in.")
        var sharedDir = "/tmp"

        @Option(help: "The memory-backed directory to try shared-memory rings in.")
        var shmDir = "/dev/shm"

        @Flag(help: "Print JSON instead of text.")
        var json = false

        func run() async throws {
            let environment = HostEnvironment.probe()
            let places = ProbePlaces(sharedDirectory: sharedDir, sharedMemoryDirectory: shmDir)
            let transports = TransportCatalog.all.map { type in
                let (available, reason) = type.probe(places)
                return TransportAvailability(transport: type.kind.rawValue, available: available, reason: reason)
            }
            if json {
                struct Output: Encodable {
                    var transports: [TransportAvailability]
                    var environment: HostEnvironment
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try encoder.encode(Output(transports: transports, environment: environment))
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("Transports:")
            for t in transports {
                print(
                    "  \(t.transport.padding(toLength: 14, withPad: " ", startingAt: 0)) \(t.available ? "available  " : "UNAVAILABLE") \(t.reason)"
                )
            }
            let e = environment
            print("\nEnvironment:")
            let rows: [(String, String)] = [
                ("host", e.hostname),
                ("kernel", "\(e.kernelRelease) (\(e.architecture))"),
                (
                    "cpu",
                    "\(e.cpuModel), \(e.onlineCPUs) online, allowed \(CPUPinning.formatList(e.allowedCPUs)), SMT \(e.smtActive.map { $0 ? "on" : "off" } ?? "unknown")"
                ),
                (
                    "cgroup",
                    "\(e.cgroupVersion), cpu quota \(e.cpuQuotaCores.map { Format.decimal($0) + " CPUs" } ?? "none"), memory limit \(e.memoryLimitBytes.map { "\($0 >> 20) MiB" } ?? "none")"
                ),
                (
                    "/dev/shm",
                    e.devShmBytes.map { "\($0 >> 20) MiB, \((e.devShmFreeBytes ?? 0) >> 20) MiB free" } ?? "absent"
                ),
                ("container", "\(e.containerRuntime) (\(e.containerEvidence))"),
                ("seccomp", e.seccompMode.map { ["off", "strict", "filter"][min($0, 2)] } ?? "unknown"),
                ("io_uring", e.ioURingAvailable ? "available" : "unavailable: \(e.ioURingReason)"),
                (
                    "namespaces",
                    HostEnvironment.namespaceKinds.compactMap { k in e.namespaces[k].map { "\(k):\($0)" } }.joined(
                        separator: " ")
                ),
            ]
            for (k, v) in rows { print("  \(k.padding(toLength: 11, withPad: " ", startingAt: 0)) \(v)") }
        }
    }

    struct TransportAvailability: Encodable {
        var transport: String
        var available: Bool
        var reason: String
    }
}
