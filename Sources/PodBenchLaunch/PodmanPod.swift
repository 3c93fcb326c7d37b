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
    public static func removeLeftovers(podman: Podman) -> [String] {
        guard
            let listing = try? podman.check(
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
            if (try? podman.check(["pod", "rm", "--force", "--time", "0", parts[0]], doing: "removing a pod")) != nil {
                removed.append(parts[0])
            }
        }
        return removed
    }

    /// `podman pod create` arguments: loopback-only network, and net, IPC and UTS shared as a
    /// Kubernetes pod shares them, with a /dev/shm of `shmSize` (podman's syntax, e.g. 512m),
    /// labelled with this process, named like this host (the results file is named by it).
    public func createArguments(shmSize: String) -> [String] {
        let hostname = ProcessInfo.processInfo.hostName
        return [
            "pod", "create", "--name", name, "--infra-name", name + "-infra", "--label",
            "\(Self.ownerLabel)=\(Self.owner(of: getpid()) ?? "\(getpid()):0")", "--hostname", hostname, "--network",
            "none", "--share",
            "net,ipc,uts", "--shm-size", shmSize,
        ]
    }

    /// The `podman run` arguments for one side: in this pod, with tini-like --init (so SIGTERM
    /// stops it at once), `volumes` bound at the same path inside, `securityOption` if any.
    public func runArguments(
        container: String, detached: Bool, image: String, volumes: [String], securityOption: String?,
        environment: [String: String] = [:], command: [String]
    ) -> [String] {
        var arguments = ["run", detached ? "--detach" : "--rm", "--init", "--pod", name, "--name", container]
        for volume in volumes { arguments += ["--volume", "\(volume):\(volume)"] }
        if let securityOption { arguments += ["--security-opt", securityOption] }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        return arguments + [image] + command
    }

    /// The server's state: whether it still runs, and its exit code once it has stopped.
    public func serverState() -> (running: Bool, exitCode: Int32?) {
        guard
            let text = try? podman.check(
                ["inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", serverName],
                doing: "inspecting the server")
        else { return (false, nil) }
        let parts = text.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        return (parts.first == "true", parts.count > 1 ? Int32(parts[1]) : nil)
    }

    /// Waits up to `timeoutNanoseconds` for the server to stop; returns its exit code then.
    public func waitForServer(timeoutNanoseconds: UInt64) -> Int32? {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while true {
            let state = serverState()
            if !state.running { return state.exitCode }
            if MonotonicClock.now() > deadline { return nil }
            usleep(50_000)
        }
    }

    /// The server container's last `lines` lines of output.
    public func serverLogs(lines: Int) -> String {
        let output = try? podman.run(["logs", "--tail", String(lines), serverName])
        return ((output?.standardOutput ?? "") + (output?.standardError ?? ""))
    }

    /// Removes the pod and its containers at once; quiet when it is already gone.
    public func remove() {
        _ = try? podman.run(["pod", "rm", "--force", "--time", "0", name])
    }
}

/// A child process started with posix_spawn and reaped with waitpid by its owner (Foundation's
/// Process lost the exit of a `podman run --detach` whose conmon outlives it): in a process group
/// of its own (a terminal's Ctrl-C reaches only podbench, which passes it on once), standard input
/// from /dev/null, output to podbench's own or to the files given.
public struct ChildProcess: Sendable {
    public let pid: pid_t

    public init(
        executable: String, arguments: [String], environment: [String: String], standardOutput: Int32? = nil,
        standardError: Int32? = nil
    ) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for number in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let standardOutput { posix_spawn_file_actions_adddup2(&actions, standardOutput, 1) }
        if let standardError { posix_spawn_file_actions_adddup2(&actions, standardError, 2) }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard status == 0 else {
            throw PodBenchError(.ioFailure, "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// Waits for the child; its exit status, or 128 + the signal that ended it.
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    public func signal(_ number: Int32) { _ = kill(pid, number) }
}
