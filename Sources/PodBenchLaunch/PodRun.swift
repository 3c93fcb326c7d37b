import Foundation
import Glibc
import PodBenchCore
import Synchronization

/// What `podbench run --isolation podman` runs: podbench's commands in the containers of one pod.
/// The executable decides the commands (from the measurement's options); this decides the pod.
public struct PodRunPlan: Sendable {
    /// The commands of the pod's containers.
    public struct Commands: Sendable {
        public var server: [String]
        /// A relay between the sides (`--via relay`, the presets), a third container.
        public var relay: [String]?
        public var client: [String]
        /// A proxy of this host's (`--preset http-proxy=…`), the third container instead of a relay.
        public var proxy: ProxyContainer?

        public init(server: [String], relay: [String]?, client: [String], proxy: ProxyContainer? = nil) {
            self.server = server
            self.relay = relay
            self.client = client
            self.proxy = proxy
        }
    }

    /// nginx or haproxy as a container of the pod: an image of this host's program (ProxyImage),
    /// its configuration written into the shared volume.
    public struct ProxyContainer: Sendable {
        /// The image's name and the configuration file's (`nginx`, `haproxy`).
        public var name: String
        /// The program's path here and in the image.
        public var program: String
        /// Files it loads besides its libraries (nginx's stream module).
        public var extraFiles: [String]
        /// The configuration, written to `<shared>/<name>.conf`.
        public var configuration: String
        /// Its arguments, given the configuration file's path.
        public var arguments: @Sendable (_ configurationPath: String) -> [String]

        public init(
            name: String, program: String, extraFiles: [String], configuration: String,
            arguments: @escaping @Sendable (String) -> [String]
        ) {
            self.name = name
            self.program = program
            self.extraFiles = extraFiles
            self.configuration = configuration
            self.arguments = arguments
        }
    }

    /// The parent of the run's private folder, whose `shared` folder is the pod's shared volume.
    public var sharedParent: String
    /// Where the client's container writes the results file: bound at the same path.
    public var resultsDirectory: String
    /// The podbench binary the image is made from.
    public var binary: String
    public var commit: String?
    /// An image to run instead of building one from `binary`.
    public var image: String?
    /// The pod's /dev/shm size (podman's syntax).
    public var shmSize: String
    public var seccomp: PodmanSettings.Seccomp
    /// A containers.conf to use instead of the one written for this host.
    public var podmanConf: String?
    /// Print the podman commands and run nothing.
    public var dryRun: Bool
    /// Share the pod's process namespace (a case needs it: `pidfd-pipe`), as Kubernetes'
    /// `shareProcessNamespace: true` does.
    public var sharesProcessNamespace: Bool
    /// The containers' commands, given the shared volume's path (the same inside and outside).
    public var commands: @Sendable (_ shared: String) throws -> Commands
    /// Where progress lines go.
    public var progress: @Sendable (String) -> Void

    public init(
        sharedParent: String, resultsDirectory: String, binary: String, commit: String?, image: String?,
        shmSize: String, seccomp: PodmanSettings.Seccomp, podmanConf: String?, dryRun: Bool,
        sharesProcessNamespace: Bool = false, commands: @escaping @Sendable (String) throws -> Commands,
        progress: @escaping @Sendable (String) -> Void
    ) {
        self.sharedParent = sharedParent
        self.resultsDirectory = resultsDirectory
        self.binary = binary
        self.commit = commit
        self.image = image
        self.shmSize = shmSize
        self.seccomp = seccomp
        self.podmanConf = podmanConf
        self.dryRun = dryRun
        self.sharesProcessNamespace = sharesProcessNamespace
        self.commands = commands
        self.progress = progress
    }
}

/// `podbench run --isolation podman`: the two sides in two containers of one pod. The pod shares
/// what a Kubernetes pod shares (network, IPC, UTS, a memory-backed /dev/shm) and a volume for
/// Unix sockets and files; the client's container writes the results file into the host's
/// results directory, bound at the same path. The pod goes when the run ends, however it ends.
public struct PodRun: Sendable {
    public var plan: PodRunPlan

    public init(plan: PodRunPlan) { self.plan = plan }

    /// Runs the pod; returns the exit code (the client's, or 1 when the server failed).
    public func execute() async throws -> Int32 {
        let progress = plan.progress
        let executable = try Podman.locate()
        let work = try ServerLauncher.makePrivateDirectory(in: plan.sharedParent, option: "--shared-dir")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let shared = work + "/shared"
        let results = URL(fileURLWithPath: plan.resultsDirectory).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        } catch {
            throw PodBenchError(.ioFailure, "cannot create \(shared) or \(results): \(error.localizedDescription)")
        }
        var environment = ProcessInfo.processInfo.environment
        if let podmanConf = plan.podmanConf {
            environment["CONTAINERS_CONF"] = podmanConf
        } else if environment["CONTAINERS_CONF"] == nil {
            let path = work + "/containers.conf"
            let text = PodmanSettings.hostContainersConf()
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
                throw PodBenchError(.ioFailure, "cannot write \(path)")
            }
            environment["CONTAINERS_CONF"] = path
        }
        let podman = Podman(executable: executable, environment: environment)
        let security = try PodmanSettings.securityOption(plan.seccomp, directory: work)
        let tag = try plan.image ?? ContainerImage.defaultTag(binary: plan.binary)
        let pod = PodmanPod(podman: podman, name: PodmanPod.uniqueName())
        let commands = try plan.commands(shared)
        let createArguments = pod.createArguments(
            shmSize: plan.shmSize, sharesProcessNamespace: plan.sharesProcessNamespace)
        let serverArguments = pod.runArguments(
            container: pod.serverName, detached: true, image: tag, volumes: [shared], securityOption: security,
            sharesProcessNamespace: plan.sharesProcessNamespace, command: commands.server)
        var relayArguments = commands.relay.map {
            pod.runArguments(
                container: pod.name + "-relay", detached: true, image: tag, volumes: [shared], securityOption: security,
                sharesProcessNamespace: plan.sharesProcessNamespace, command: $0)
        }
        var proxyTag: String?
        if let proxy = commands.proxy {
            var files = [proxy.program] + proxy.extraFiles
            for file in files { files += try await ContainerImage.libraries(of: file) }
            proxyTag = try ProxyImage.tag(name: proxy.name, files: files)
        }
        if let proxy = commands.proxy, let proxyTag {
            let path = "\(shared)/\(proxy.name).conf"
            guard FileManager.default.createFile(atPath: path, contents: Data(proxy.configuration.utf8)) else {
                throw PodBenchError(.ioFailure, "cannot write \(path)")
            }
            relayArguments = pod.runArguments(
                container: pod.name + "-proxy", detached: true, image: proxyTag, volumes: [shared],
                securityOption: security, sharesProcessNamespace: plan.sharesProcessNamespace,
                command: proxy.arguments(path))
        }
        let clientArguments = pod.runArguments(
            container: pod.clientName, detached: false, image: tag, volumes: [shared, results],
            securityOption: security, sharesProcessNamespace: plan.sharesProcessNamespace, command: commands.client)
        if plan.dryRun {
            let prefix = "CONTAINERS_CONF=\(environment["CONTAINERS_CONF"] ?? "") \(executable)"
            for arguments in [createArguments, serverArguments] + (relayArguments.map { [$0] } ?? []) + [
                clientArguments
            ] {
                print(prefix + " " + arguments.map(Self.shellQuoted).joined(separator: " "))
            }
            return 0
        }

        // From here on a signal ends the run through the pod's removal, never around it.
        let interrupts = Mutex(0)
        let client = SignalForwarder()
        let watch = InterruptWatch { number, seen in
            interrupts.withLock { $0 = seen }
            if client.signal(seen == 1 ? SIGINT : SIGKILL) {
                progress(
                    seen == 1
                        ? "podbench: \(InterruptWatch.name(of: number)): passing it to the client's container (again to stop at once)"
                        : "podbench: stopping the client's container at once")
            } else if seen == 1 {
                progress("podbench: interrupted: removing the pod (again to quit at once)")
            } else {
                // Off the signal's queue; the process ends once the pod is gone.
                Task {
                    await pod.remove()
                    _exit(130)
                }
            }
        }
        defer { watch.stop() }
        func stopIfInterrupted() throws {
            if interrupts.withLock({ $0 }) > 0 {
                throw PodBenchError(.interrupted, "interrupted before the measurement started; nothing was measured")
            }
        }

        for name in await PodmanPod.removeLeftovers(podman: podman) {
            progress("podbench: removed the pod \(name), left over from an earlier run that is gone")
        }
        if let image = plan.image {
            guard (try? await podman.run(["image", "exists", image]))?.status == 0 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--image: podman has no image \(image): build one with `podbench image --tag \(image)`, or leave "
                        + "--image out to build one from this binary")
            }
        } else {
            let started = MonotonicClock.now()
            if try await ContainerImage.build(
                podman: podman, binary: plan.binary, tag: tag, commit: plan.commit, workDirectory: work)
            {
                progress(
                    "podbench: built the image \(tag) from \(plan.binary) in \(String(format: "%.1f", Double(MonotonicClock.now() - started) / 1e9)) s"
                )
            }
        }
        if let proxy = commands.proxy, let proxyTag,
            try await ProxyImage.build(
                podman: podman, program: proxy.program, extraFiles: proxy.extraFiles, tag: proxyTag, workDirectory: work
            )
        {
            progress("podbench: built the image \(proxyTag) from \(proxy.program)")
        }
        try stopIfInterrupted()
        // The pod goes however this ends; `defer` cannot wait for it, so every way out does.
        do {
            let status = try await runPod(
                pod: pod, podman: podman, executable: executable, environment: environment, tag: tag,
                arguments: (createArguments, serverArguments, relayArguments, clientArguments), client: client,
                stopIfInterrupted: stopIfInterrupted)
            await pod.remove()
            return status
        } catch {
            await pod.remove()
            throw error
        }
    }

    /// Creates the pod, starts the server (and relay) detached and the client in the foreground,
    /// and reads the outcome.
    private func runPod(
        pod: PodmanPod, podman: Podman, executable: String, environment: [String: String], tag: String,
        arguments: (create: [String], server: [String], relay: [String]?, client: [String]),
        client: SignalForwarder, stopIfInterrupted: () throws -> Void
    ) async throws -> Int32 {
        let progress = plan.progress
        try await podman.check(arguments.create, doing: "creating the pod \(pod.name)")
        try stopIfInterrupted()
        try await podman.check(arguments.server, doing: "starting the server's container")
        if let relay = arguments.relay {
            try await podman.check(relay, doing: "starting the third container (relay or proxy)")
        }
        progress("podbench: pod \(pod.name): server and client containers of \(tag), seccomp \(plan.seccomp.rawValue)")
        try stopIfInterrupted()
        let status = try await ChildProcess.run(
            executable: executable, arguments: arguments.client, environment: environment, forwarder: client)
        if status == 0 {
            let serverExit = await pod.waitForServer(timeoutNanoseconds: 10_000_000_000)
            if serverExit != 0 {
                progress(
                    "podbench: the server's container \(serverExit.map { "exited with status \($0)" } ?? "did not stop") after the run; its last lines:\n"
                        + (await pod.serverLogs(lines: 20)))
            }
            return 0
        }
        let logs = await pod.serverLogs(lines: 30)
        switch status {
        case 130:
            progress("podbench: interrupted; the pod is removed")
        case 125...127:
            progress(
                "podbench: podman could not run the client's container (status \(status), its words above); the server's last lines:\n\(logs)"
            )
        default:
            progress(
                "podbench: the client's container exited with status \(status); the server's container's last lines:\n\(logs)"
            )
        }
        return status == 130 ? 130 : (status == 2 ? 2 : 1)
    }

    /// `word` as a POSIX shell reads it back.
    public static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@+%".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
