import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness

extension PodBench {
    /// `podbench run`: both sides on this machine, the server as a child process.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the matrix here: starts the server side itself, as a separate process.",
            discussion: """
                Starts `podbench serve` as a child process (its own process, never a thread), runs every case \
                (transport × workload × size) with a warm-up and --trials trials, prints progress on stderr and a \
                table on stdout, and writes results/runs/<UTC>-<host>.json. Finished cases are journalled as \
                they finish; an interrupted run (Ctrl-C) still writes its finished cases, marked incomplete.
                """)

        @OptionGroup var measurement: MeasurementOptions

        @Option(help: "Parent directory for the run's private folder (control socket, Unix data sockets).")
        var sharedDir = "/tmp"

        @Option(
            help:
                "The memory-backed directory for shm ring files (/dev/shm, or a memory volume); a private folder is made in it."
        )
        var shmDir = "/dev/shm"

        @Option(help: "How the server side is isolated: process (a child process).")
        var isolation = "process"

        func validate() throws {
            guard isolation == "process" else {
                throw ValidationError("--isolation: '\(isolation)' is not available in this version; use process")
            }
        }

        func run() async throws {
            let parsed = try measurement.parsed()
            let launcher = try ServerLauncher(
                executable: BuildInfo.executablePath, parent: sharedDir, sharedMemoryParent: shmDir,
                peerTimeout: measurement.timeout)
            var session = MeasurementSession(
                parsed: parsed, options: measurement, isolation: isolation, control: launcher.control,
                connectWaitNanoseconds: 10_000_000_000, shutdownServer: true)
            session.onInterrupt = { launcher.kill() }
            session.keepWaiting = { launcher.isRunning }
            let code: Int32
            do {
                code = try session.execute()
            } catch {
                launcher.kill()
                if !launcher.isRunning, launcher.process.terminationStatus != 0,
                    let error = error as? PodBenchError, error.code != .invalidConfiguration
                {
                    throw PodBenchError(
                        error.code,
                        "\(error.message) (the server process exited with status \(launcher.process.terminationStatus))",
                        cause: error.cause)
                }
                throw error
            }
            launcher.stop()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
