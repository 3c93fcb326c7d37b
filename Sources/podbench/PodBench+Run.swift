import ArgumentParser
import Foundation
import Glibc
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchTransports

extension PodBench {
    /// `podbench run`: both sides on this machine, the server as a child process.
    struct Run: AsyncParsableCommand, MeasuringCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure the matrix here: starts the server side itself, as a separate process.",
            discussion: """
                Starts `podbench serve` as a child process (its own process, never a thread), runs every case \
                (transport × workload × size) with a warm-up and --trials trials, prints progress on stderr and a \
                table on stdout, and writes results/runs/<UTC>-<host>.json. Finished cases are journalled as \
                they finish; an interrupted run (Ctrl-C) still writes its finished cases, marked incomplete.
                """)

        // MeasurementOptions' five groups, held here rather than as one group of groups (see
        // MeasurementOptions.init(matrix:…)); their sections of --help are the same.
        @OptionGroup(title: "What to measure") var matrix: MatrixOptions
        @OptionGroup(title: "How long, how often, how carefully") var phases: PhaseOptions
        @OptionGroup(title: "Placement and transport settings") var transportSettings: TransportSettings
        @OptionGroup(title: "A hop between the sides (--via)") var hop: HopOptions
        @OptionGroup(title: "Where the results go") var outputOptions: OutputOptions

        @Option(help: "Parent directory for the run's private folder (control socket, Unix data sockets).")
        var sharedDir = "/tmp"

        @Option(
            help:
                "The memory-backed directory for shm ring files (/dev/shm, or a memory volume); a private folder is made in it."
        )
        var shmDir = "/dev/shm"

        @Option(
            help: ArgumentHelp(
                "How the two sides are kept apart: process, namespaces or podman.",
                discussion: """
                    process: the server is a child process. namespaces (root): the server gets mount, PID and UTS \
                    namespaces of its own through unshare(1), network and IPC shared, as in a pod. podman: two \
                    containers of one pod (network, IPC, UTS and a memory-backed /dev/shm shared), the image built \
                    from this binary; see docs/kubernetes.md.
                    """))
        var isolation = "process"

        @Option(help: "podman: the image to run instead of building one from this binary (see `podbench image`).")
        var image: String?

        @Option(help: "podman: the size of the pod's /dev/shm (podman's syntax: 512m, 2g; default 512m).")
        var podShmSize: String?

        @Option(
            help: ArgumentHelp(
                "podman: the containers' seccomp filter: io_uring, runtime or unconfined.",
                discussion:
                    "io_uring (default): podman's default profile plus io_uring_setup, io_uring_enter and io_uring_register; runtime: podman's default as it is (io_uring cases are then unavailable, as in a default pod); unconfined: none."
            ))
        var podSeccomp: String?

        @Option(
            help: ArgumentHelp(
                "podman: a containers.conf to use instead of the one podbench writes.",
                discussion:
                    "podbench's own sets default_ulimits within this host's hard limits and names runc on cgroup v1 or hybrid hosts (crun refuses them); CONTAINERS_CONF, when set, is used as it is."
            ))
        var podmanConf: String?

        @Flag(help: "podman, namespaces: print the commands that would run the two sides, and run nothing.")
        var dryRun = false

        func validate() throws {
            try measurement.validate()
            guard ["process", "namespaces", "podman"].contains(isolation) else {
                throw ValidationError("--isolation: '\(isolation)' is not process, namespaces or podman")
            }
            if let podSeccomp, PodmanSettings.Seccomp(rawValue: podSeccomp) == nil {
                throw ValidationError("--pod-seccomp: '\(podSeccomp)' is not io_uring, runtime or unconfined")
            }
            if isolation == "podman" && measurement.output != nil {
                // The client's container writes into the results volume, a folder of its own; the
                // folder of any file named here (a home, /) is not for a container to write.
                throw ValidationError(
                    "--output applies to --isolation process and namespaces; with podman give --results-dir (a folder of its own)"
                )
            }
            if isolation != "podman" {
                for (given, name) in [
                    (image != nil, "--image"), (podShmSize != nil, "--pod-shm-size"),
                    (podSeccomp != nil, "--pod-seccomp"), (podmanConf != nil, "--podman-conf"),
                ] where given {
                    throw ValidationError("\(name) applies to --isolation podman only")
                }
            }
            if dryRun && isolation == "process" {
                throw ValidationError("--dry-run applies to --isolation podman and namespaces")
            }

        }

        /// The server `run` starts as its child, in its private folders; it listens where the
        /// run's hop forwards only because it was started for it, and dies with its parent.
        static func serverPlan(
            control: SocketAddress, directory: String, sharedMemoryDirectory: String, plan: MeasurementPlan
        ) -> ServePlan {
            ServePlan(
                control: control, sharedDirectory: directory, sharedMemoryDirectory: sharedMemoryDirectory,
                hopTargets: plan.hops.map(\.listen).reduce(into: []) { if !$0.contains($1) { $0.append($1) } },
                timeoutNanoseconds: plan.timeoutNanoseconds,
                exitWithParent: true, quiet: true)
        }

        func run() async throws {
            var parsed = try measurement.parsed()
            if isolation == "podman" {
                let code = try await PodRun(plan: podPlan()).execute()
                if code != 0 { throw ExitCode(code) }
                return
            }
            var wrapper: [String] = []
            if isolation == "namespaces" {
                wrapper = try NamespaceIsolation.unshareCommand()
                if dryRun {
                    // The private folders get their names when the run makes them.
                    let folder = "\(sharedDir)/podbench-XXXXXX"
                    let serve = Self.serverPlan(
                        control: .unixPath(folder + "/control.sock"), directory: folder,
                        sharedMemoryDirectory: "\(shmDir)/podbench-XXXXXX", plan: parsed)
                    print((wrapper + [BuildInfo.executablePath] + serve.arguments).joined(separator: " "))
                    return
                }
            }
            let launcher = try ServerLauncher(parent: sharedDir, sharedMemoryParent: shmDir)
            for path in launcher.removedLeftovers {
                FileHandle.standardError.write(Data("podbench: removed \(path), left by a run that was killed\n".utf8))
            }
            var relay: RelayLauncher?
            if let inbound = parsed.relayIn {
                do {
                    let outbound = try RelayLauncher.outbound(for: parsed.transports)
                    relay = try RelayLauncher(
                        executable: BuildInfo.executablePath, directory: launcher.directory,
                        sharedMemoryDirectory: launcher.sharedMemoryDirectory, inbound: inbound, outbound: outbound)
                } catch {
                    launcher.kill()
                    throw error
                }
                if let relay { parsed.hops = [relay.hop] }
            }
            // --preset http-proxy=…: the proxy in both modes, unless --via names one of the user's.
            var proxy: ProxyLauncher?
            if let kind = try measurement.chosenPreset()?.proxy, measurement.via.isEmpty {
                do {
                    proxy = try ProxyLauncher(kind: kind, directory: launcher.directory)
                } catch {
                    launcher.kill()
                    throw error
                }
                for note in proxy?.notes ?? [] {
                    FileHandle.standardError.write(Data("podbench: \(note)\n".utf8))
                }
                parsed.hops = proxy?.hops ?? []
            }
            let serve = Self.serverPlan(
                control: launcher.control, directory: launcher.directory,
                sharedMemoryDirectory: launcher.sharedMemoryDirectory, plan: parsed)
            do {
                try launcher.start(
                    executable: BuildInfo.executablePath, arguments: serve.arguments, wrapper: wrapper)
            } catch {
                relay?.kill()
                proxy?.kill()
                launcher.kill()
                throw error
            }
            let startedRelay = relay
            let startedProxy = proxy
            // The relay goes before the run's folder does: a relay listening on file:DIR makes its next
            // connection there while it waits, and a folder being removed while it does so stays.
            var session = MeasurementSession(
                plan: parsed, isolation: isolation, control: launcher.control,
                connectWaitNanoseconds: 10_000_000_000, shutdownServer: true, tokenFile: serve.tokenPath)
            session.onInterrupt = {
                startedRelay?.kill()
                startedProxy?.kill()
                launcher.kill()
            }
            session.keepWaiting = { launcher.isRunning }
            let code: Int32
            do {
                code = try session.execute()
            } catch {
                let proxyNote = startedProxy?.exitNote
                startedRelay?.kill()
                startedProxy?.kill()
                launcher.kill()
                if let proxyNote, let error = error as? PodBenchError {
                    throw PodBenchError(error.code, "\(error.message) (\(proxyNote))", cause: error.cause)
                }
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
            startedRelay?.kill()
            startedProxy?.kill()
            launcher.stop()
            if code != 0 { throw ExitCode(code) }
        }
    }
}
