import ArgumentParser
import PodBenchCore
import PodBenchHarness

extension PodBench {
    /// `podbench client`: the driving side, against a `podbench serve` in the other container.
    struct Client: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drive the matrix against a running `podbench serve` (the other container of a pod).",
            discussion: """
                Connects to the server's control endpoint, runs every case and writes the same results file as \
                `run`. The server's data endpoints come from the server: a `uds` case needs the server's \
                --shared-dir to be visible here at the same path (a volume mounted at the same place).
                """)

        @OptionGroup var measurement: MeasurementOptions

        @Option(help: "The server's control endpoint: unix:PATH, unix:@NAME or tcp:HOST:PORT.")
        var control = "unix:/tmp/podbench.sock"

        @Option(help: "Keep trying to reach the server for this long (it may still be starting).")
        var connectWait = "10s"

        @Flag(help: "Tell the server to exit when the run is done.")
        var shutdownServer = false

        func validate() throws {
            do {
                _ = try SocketAddress(parsing: control)
                _ = try DurationText.parse(connectWait, option: "--connect-wait")
            } catch let error as PodBenchError {
                throw ValidationError("--control: \(error.message)")
            }
        }

        func run() async throws {
            let session = MeasurementSession(
                parsed: try measurement.parsed(), options: measurement, isolation: "external",
                control: try SocketAddress(parsing: control),
                connectWaitNanoseconds: try DurationText.parse(connectWait, option: "--connect-wait"),
                shutdownServer: shutdownServer)
            let code = try session.execute()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
