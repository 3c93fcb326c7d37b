import Foundation
import Glibc
import PodBenchCore

/// One pod of a run: an infra container holding the namespaces the two sides share (network,
/// IPC, UTS, and a memory-backed /dev/shm), the server's container and the client's. Labelled
/// with the process that made it, so a later run can tell a pod left over from a dead run from
/// one a live run is using.
public final class PodmanPod: Sendable {
    public let podman: Podman
    public let name: String
    public static let ownerLabel = "io.podbench.owner"

    public init(podman: Podman, name: String) {
        self.podman = podman
        self.name = name
    }

    public var serverName: String { name + "-server" }
    public var clientName: String { name + "-client" }

    /// A name no other run on this host uses: `podbench-PID-RANDOM`.
    public static func uniqueName() -> String {
        "podbench-\(getpid())-\(String(UInt32.random(in: 0..<UInt32.max), radix: 36))"
    }

    /// `PID:START` of a process (start time in clock ticks since boot), or nil when it is gone.
    public static func owner(of pid: pid_t) -> String? {
        guard let stat = SystemFiles.read("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // Fields after the command start at the state (field 3); the start time is field 22.
        guard fields.count > 19 else { return nil }
        return "\(pid):\(fields[19])"
    }

    /// Removes pods that podbench runs made whose process is gone; returns their names.
    public static func removeLeftovers(podman: Podman) async -> [String] {
        guard
            let listing = try? await podman.check(
                ["pod", "ps", "--filter", "label=\(ownerLabel)", "--format", "{{.Name}} {{.Labels}}"],
                doing: "listing pods")
        else { return [] }
        var removed: [String] = []
        for line in listing.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, let range = parts[1].range(of: ownerLabel + ":") else { continue }
            let owner = parts[1][range.upperBound...].prefix { $0.isNumber || $0 == ":" }
            let pid = pid_t(owner.split(separator: ":").first ?? "") ?? 0
            if pid > 0, Self.owner(of: pid) == String(owner) { continue }  // its run is still going
            if (try? await podman.check(["pod", "rm", "--force", "--time", "0", parts[0]], doing: "removing a pod"))
                != nil
            {
                removed.append(parts[0])
            }
        }
        return removed
    }

    /// `podman pod create` arguments: loopback-only network, and net, IPC and UTS shared as a
    /// Kubernetes pod shares them, with a /dev/shm of `shmSize` (podman's syntax, e.g. 512m),
    /// labelled with this process, named like this host (the results file is named by it); the
    /// process namespace too when `sharesProcessNamespace` (`shareProcessNamespace: true`).
    public func createArguments(shmSize: String, sharesProcessNamespace: Bool = false) -> [String] {
        let hostname = ProcessInfo.processInfo.hostName
        return [
            "pod", "create", "--name", name, "--infra-name", name + "-infra", "--label",
            "\(Self.ownerLabel)=\(Self.owner(of: getpid()) ?? "\(getpid()):0")", "--hostname", hostname, "--network",
            "none", "--share",
            sharesProcessNamespace ? "net,ipc,uts,pid" : "net,ipc,uts", "--shm-size", shmSize,
        ]
    }

    /// The `podman run` arguments for one side: in this pod, with tini-like --init (so SIGTERM
    /// stops it at once) unless the pod shares its process namespace (its infra container's
    /// process is then PID 1 of all, and podbench is not, so it takes SIGTERM itself), `volumes`
    /// bound at the same path inside, `securityOption` if any.
    public func runArguments(
        container: String, detached: Bool, image: String, volumes: [String], securityOption: String?,
        sharesProcessNamespace: Bool = false, environment: [String: String] = [:], command: [String]
    ) -> [String] {
        var arguments = ["run", detached ? "--detach" : "--rm"] + (sharesProcessNamespace ? [] : ["--init"])
        arguments += ["--pod", name, "--name", container]
        for volume in volumes { arguments += ["--volume", "\(volume):\(volume)"] }
        if let securityOption { arguments += ["--security-opt", securityOption] }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        return arguments + [image] + command
    }

    /// The server's state: whether it still runs, and its exit code once it has stopped.
    public func serverState() async -> (running: Bool, exitCode: Int32?) {
        guard
            let text = try? await podman.check(
                ["inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", serverName],
                doing: "inspecting the server")
        else { return (false, nil) }
        let parts = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        return (parts.first == "true", parts.count > 1 ? Int32(parts[1]) : nil)
    }

    /// Waits up to `timeoutNanoseconds` for the server to stop; returns its exit code then.
    public func waitForServer(timeoutNanoseconds: UInt64) async -> Int32? {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while true {
            let state = await serverState()
            if !state.running { return state.exitCode }
            if MonotonicClock.now() > deadline { return nil }
            try? await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// The server container's last `lines` lines of output.
    public func serverLogs(lines: Int) async -> String {
        let output = try? await podman.run(["logs", "--tail", String(lines), serverName])
        return ((output?.standardOutput ?? "") + (output?.standardError ?? ""))
    }

    /// Removes the pod and its containers at once; quiet when it is already gone.
    public func remove() async {
        _ = try? await podman.run(["pod", "rm", "--force", "--time", "0", name])
    }
}
