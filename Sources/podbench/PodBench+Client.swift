import ArgumentParser
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch

extension PodBench {
    /// `podbench client`: the driving side, against a `podbench serve` in the other container.
    struct Client: AsyncParsableCommand, MeasuringCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drive the matrix against a running `podbench serve` (the other container of a pod).",
            discussion: """
                Connects to the server's control endpoint, runs every case and writes the same results file as \
                `run`. The server's data endpoints come from the server: a `uds` case needs the server's \
                --shared-dir to be visible here at the same path (a volume mounted at the same place).
                """)

        // MeasurementOptions' five groups, held here rather than as one group of groups (see
        // MeasurementOptions.init(matrix:…)); their sections of --help are the same.
        @OptionGroup(title: "What to measure") var matrix: MatrixOptions
        @OptionGroup(title: "How long, how often, how carefully") var phases: PhaseOptions
        @OptionGroup(title: "Placement and transport settings") var transportSettings: TransportSettings
        @OptionGroup(title: "A hop between the sides (--via)") var hop: HopOptions
        @OptionGroup(title: "Where the results go") var outputOptions: OutputOptions

        @Option(help: "The server's control endpoint: unix:PATH, unix:@NAME or tcp:HOST:PORT.")
        var control = "unix:/tmp/podbench.sock"

        @Option(
            help: ArgumentHelp(
                "The file holding the server's control token (serve's --token-file).",
                discussion:
                    "Default: podbench.token beside a unix:PATH control socket (serve's default with --shared-dir there); needed with any other --control."
            ))
        var tokenFile: String?

        @Option(help: "Keep trying to reach the server for this long (it may still be starting).")
        var connectWait = "10s"

        @Flag(help: "Tell the server to exit when the run is done.")
        var shutdownServer = false

        @Option(
            help: ArgumentHelp(
                "How the two sides were set up, recorded in the results: external, podman, kubernetes.",
                discussion:
                    "external (default): a serve started by hand. The results also record both sides' namespaces; the topology (\"two containers, one pod\") is read from those, not from this label."
            ))
        var isolation = "external"

        @Flag(
            help: ArgumentHelp(
                "Print the results file on stdout between marker lines too, for `kubectl logs`; `podbench collect` takes it back out.",
                discussion:
                    "Everything the client says then goes to stdout, stderr included: a log that merges two streams (podman's, the kubelet's) can join a line cut short in one with a line of the other."
            ))
        var printResults = false

        func validate() throws {
            try measurement.validate()
            guard ["external", "podman", "kubernetes"].contains(isolation) else {
                throw ValidationError("--isolation: '\(isolation)' is not external, podman or kubernetes")
            }
            if printResults && measurement.json {
                throw ValidationError(
                    "--json and --print-results both print the results document on stdout: give one")
            }
            if let preset = try? measurement.chosenPreset(), preset.proxy != nil, measurement.via.isEmpty {
                throw ValidationError(
                    "--preset \(preset.rawValue) starts the proxy, which only `run` does: start it yourself and give --via, --via-target and --via-name for each of its ports, and --via-workloads for a port that speaks one HTTP version (docs/http.md)"
                )
            }
            if let parsed = try? measurement.parsed(), parsed.relayIn != nil {
                throw ValidationError(
                    "--via relay and the presets start a relay, which only `run` does: start `podbench relay --listen A --forward B --stats S` and give --via A --via-target B --via-stats S"
                )
            }
            do {
                _ = try SocketAddress(parsing: control)
                _ = try DurationText.parse(connectWait, option: "--connect-wait")
            } catch let error as PodBenchError {
                throw ValidationError("--control: \(error.message)")
            }
            guard resolvedTokenFile != nil else {
                throw ValidationError(
                    "--token-file: give the file holding the server's control token (serve's --token-file); only a unix:PATH --control has a default"
                )
            }
        }

        /// `--token-file`, or podbench.token beside a Unix control socket.
        var resolvedTokenFile: String? {
            if let tokenFile { return tokenFile }
            guard case .unixPath(let path)? = try? SocketAddress(parsing: control) else { return nil }
            return (path.lastIndex(of: "/").map { String(path[...$0]) } ?? "") + ServePlan.defaultTokenFileName
        }

        func run() async throws {
            var session = MeasurementSession(
                plan: try measurement.parsed(), isolation: isolation,
                control: try SocketAddress(parsing: control),
                connectWaitNanoseconds: try DurationText.parse(connectWait, option: "--connect-wait"),
                shutdownServer: shutdownServer, tokenFile: resolvedTokenFile ?? ServePlan.defaultTokenFileName)
            session.printResults = printResults
            if printResults { MeasurementSession.joinOutputStreams() }
            let code = try session.execute()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
