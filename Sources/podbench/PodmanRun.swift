import Dispatch
import Foundation
import Glibc
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchTransports
import Synchronization

/// `podbench run --isolation podman`: the two sides in two containers of one pod. The pod shares
/// what a Kubernetes pod shares (network, IPC, UTS, a memory-backed /dev/shm) and a volume for
/// Unix sockets and files; the client's container writes the results file into the host's
/// results directory, bound at the same path. The pod goes when the run ends, however it ends.
struct PodmanRun {
    var measurement: MeasurementOptions
    var sharedParent: String
    var image: String?
    var shmSize: String
    var seccomp: PodmanSettings.Seccomp
    var podmanConf: String?
    var dryRun: Bool

    static func progress(_ line: String) { MeasurementSession.progress(line) }

    /// Runs the pod; returns the exit code (the client's, or 1 when the server failed).
    func execute() throws -> Int32 {
        let executable = try Podman.locate()
        let binary = BuildInfo.executablePath
        let work = try ServerLauncher.makePrivateDirectory(in: sharedParent, option: "--shared-dir")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let shared = work + "/shared"
        let results = URL(fileURLWithPath: measurement.resultsDir).standardizedFileURL.path
        do {
            try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: results, withIntermediateDirectories: true)
        } catch {
            throw PodBenchError(.ioFailure, "cannot create \(shared) or \(results): \(error.localizedDescription)")
        }
        var environment = ProcessInfo.processInfo.environment
        if let podmanConf {
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
        let security = try PodmanSettings.securityOption(seccomp, directory: work)
        let tag = try image ?? ContainerImage.defaultTag(binary: binary)
        let pod = PodmanPod(podman: podman, name: PodmanPod.uniqueName())
        let control = "unix:\(shared)/control.sock"
        var serverCommand = [
            "serve", "--control", control, "--shared-dir", shared, "--shm-dir", "/dev/shm", "--timeout",
            measurement.timeout,
        ]
        // A relay (--via relay, the presets) is a third container of the pod; the client is told
        // its endpoints, which are fixed: the pod's loopback and the shared volume are its own.
        var clientMeasurement = measurement
        var relayCommand: [String]?
        let parsed = try measurement.parsed()
        if let inbound = parsed.relayIn {
            let outbound = try RelayLauncher.outbound(for: parsed.transports)
            let hop = RelayLauncher.podEndpoints(shared: shared, inbound: inbound, outbound: outbound)
            relayCommand = [
                "relay", "--listen", hop.listen, "--forward", hop.forward, "--stats", hop.stats, "--exit-after",
                shared + "/control.sock",
            ]
            clientMeasurement.via = hop.listen
            clientMeasurement.viaTarget = hop.forward
            clientMeasurement.viaStats = hop.stats
            clientMeasurement.viaName = "relay"
        }
        // The server listens where a hop forwards only because it was started for it.
        if let target = clientMeasurement.viaTarget { serverCommand += ["--via-target", target] }
        let clientCommand =
            [
                "client", "--control", control, "--connect-wait", "60s", "--shutdown-server", "--isolation",
                "podman",
            ] + clientMeasurement.arguments(resultsDir: results)
        let createArguments = pod.createArguments(shmSize: shmSize)
        let serverArguments = pod.runArguments(
            container: pod.serverName, detached: true, image: tag, volumes: [shared], securityOption: security,
            command: serverCommand)
        let relayArguments = relayCommand.map {
            pod.runArguments(
                container: pod.name + "-relay", detached: true, image: tag, volumes: [shared], securityOption: security,
                command: $0)
        }
        let clientArguments = pod.runArguments(
            container: pod.clientName, detached: false, image: tag, volumes: [shared, results],
            securityOption: security, command: clientCommand)
        if dryRun {
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
        let client = Mutex<ChildProcess?>(nil)
        let watch = InterruptWatch { number, seen in
            interrupts.withLock { $0 = seen }
            let child = client.withLock { $0 }
            if let child {
                Self.progress(
                    seen == 1
                        ? "podbench: \(InterruptWatch.name(of: number)): passing it to the client's container (again to stop at once)"
                        : "podbench: stopping the client's container at once")
                child.signal(seen == 1 ? SIGINT : SIGKILL)
            } else if seen == 1 {
                Self.progress("podbench: interrupted: removing the pod (again to quit at once)")
            } else {
                pod.remove()
                _exit(130)
            }
        }
        defer { watch.stop() }
        func stopIfInterrupted() throws {
            if interrupts.withLock({ $0 }) > 0 {
                throw PodBenchError(.interrupted, "interrupted before the measurement started; nothing was measured")
            }
        }

        for name in PodmanPod.removeLeftovers(podman: podman) {
            Self.progress("podbench: removed the pod \(name), left over from an earlier run that is gone")
        }
        if let image {
            guard (try? podman.run(["image", "exists", image]))?.status == 0 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--image: podman has no image \(image): build one with `podbench image --tag \(image)`, or leave "
                        + "--image out to build one from this binary")
            }
        } else {
            let started = MonotonicClock.now()
            if try ContainerImage.build(
                podman: podman, binary: binary, tag: tag, commit: BuildInfo.commit(), workDirectory: work)
            {
                Self.progress(
                    "podbench: built the image \(tag) from \(binary) in \(String(format: "%.1f", Double(MonotonicClock.now() - started) / 1e9)) s"
                )
            }
        }
        try stopIfInterrupted()
        defer { pod.remove() }
        try podman.check(createArguments, doing: "creating the pod \(pod.name)")
        try stopIfInterrupted()
        try podman.check(serverArguments, doing: "starting the server's container")
        if let relayArguments { try podman.check(relayArguments, doing: "starting the relay's container") }
        Self.progress("podbench: pod \(pod.name): server and client containers of \(tag), seccomp \(seccomp.rawValue)")
        try stopIfInterrupted()
        let child = try ChildProcess(executable: executable, arguments: clientArguments, environment: environment)
        client.withLock { $0 = child }
        let status = child.wait()
        client.withLock { $0 = nil }
        if status == 0 {
            let serverExit = pod.waitForServer(timeoutNanoseconds: 10_000_000_000)
            if serverExit != 0 {
                Self.progress(
                    "podbench: the server's container \(serverExit.map { "exited with status \($0)" } ?? "did not stop") after the run; its last lines:\n"
                        + pod.serverLogs(lines: 20))
            }
            return 0
        }
        let logs = pod.serverLogs(lines: 30)
        switch status {
        case 130:
            Self.progress("podbench: interrupted; the pod is removed")
        case 125...127:
            Self.progress(
                "podbench: podman could not run the client's container (status \(status), its words above); the server's last lines:\n\(logs)"
            )
        default:
            Self.progress(
                "podbench: the client's container exited with status \(status); the server's container's last lines:\n\(logs)"
            )
        }
        return status == 130 ? 130 : (status == 2 ? 2 : 1)
    }

    static func shellQuoted(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "-_./:=,@+%".contains($0) }
        return safe && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
