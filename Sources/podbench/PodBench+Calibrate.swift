import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchResults

extension PodBench {
    /// `podbench calibrate`: this machine's limits.
    struct Calibrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure this machine's limits: the floors and ceilings transports are compared with.",
            discussion: """
                Measures, each as --trials trials of --duration: the cross-core cache-line round trip between two \
                processes spinning on a shared mapping (the floor for any cross-process message), the same on one \
                core, a futex wake round trip (the floor for a sleeping receiver), single-core memcpy bandwidth for \
                a 64 KiB block and for one 4 × the last-level cache (the ceiling for a copying channel), a null \
                system call, the clock's cost and resolution, and the harness's own pingpong over an in-process \
                loopback. `run` and `client` take a quick calibration too (--no-calibrate to skip) and show each \
                case as a ratio to its limit.
                """)

        @Option(help: "Trials per measurement.")
        var trials = 5

        @Option(help: "Length of each trial (e.g. 200ms).")
        var duration = "200ms"

        @Option(help: "The two CPUs for cross-core figures: A,B (default: the first two allowed).")
        var cpu: String?

        @Option(help: "Memory-backed directory for the shared page.")
        var shmDir = "/dev/shm"

        @Flag(help: "Print JSON instead of a table.")
        var json = false

        func validate() throws {
            guard (1...1000).contains(trials) else { throw ValidationError("--trials must be 1 to 1000") }
            do { _ = try DurationText.parse(duration, option: "--duration") } catch let e as PodBenchError {
                throw ValidationError(e.message)
            }
            _ = try Self.parseCPUs(cpu)
        }

        static func parseCPUs(_ text: String?) throws -> (Int?, Int?) {
            guard let text else { return (nil, nil) }
            let parts = text.split(separator: ",").map { Int($0) }
            guard parts.count == 2, let a = parts[0], let b = parts[1], a >= 0, b >= 0 else {
                throw ValidationError("--cpu: '\(text)' is not two CPUs A,B (e.g. 0,1)")
            }
            return (a, b)
        }

        func run() async throws {
            let (first, second) = try Self.parseCPUs(cpu)
            let calibrator = Calibrator(
                configuration: .init(
                    trials: trials, trialNanoseconds: try DurationText.parse(duration, option: "--duration"),
                    firstCPU: first, secondCPU: second, directory: shmDir, executable: BuildInfo.executablePath),
                progress: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) })
            let calibration = try calibrator.run()
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(calibration), as: UTF8.self))
            } else {
                print(CalibrationTable.render(calibration), terminator: "")
            }
        }
    }

    /// `podbench calibrate-peer`: the other process of a calibration round trip (internal).
    struct CalibratePeer: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "calibrate-peer", abstract: "The other process of a calibration (internal).",
            shouldDisplay: false)

        @Option var file: String
        @Option var mode: String
        @Option var cpu: Int?

        func run() async throws {
            guard let mode = CalibrationPeer.Mode(rawValue: mode) else {
                throw ValidationError("--mode: unknown mode \(mode)")
            }
            try CalibrationPeer.run(path: file, mode: mode, cpu: cpu)
        }
    }
}

/// The calibration as a table.
enum CalibrationTable {
    static func render(_ c: Calibration) -> String {
        var out = "Limits of this machine (median of \(c.measurements.first?.trials.count ?? 0) trials; "
        out += "cross-core on CPUs \(c.firstCPU.map(String.init) ?? "?") and \(c.secondCPU.map(String.init) ?? "?")):\n"
        let width = c.measurements.map(\.id.count).max() ?? 10
        for m in c.measurements {
            let value = Calibrator.format(m)
            let spread = m.median > 0 ? ((m.trials.max() ?? 0) - (m.trials.min() ?? 0)) / m.median * 100 : 0
            out += "  " + m.id.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
            out += String(repeating: " ", count: max(0, 11 - value.count)) + value
            out += "  ±" + Format.decimal(spread) + "%  " + m.summary + "\n"
        }
        return out
    }
}
