import Foundation
import Glibc
import PodBenchCore

/// Runs podman for podbench: finds it, captures what it prints, and turns a failure into an error
/// that names the command and shows podman's own words.
public struct Podman: Sendable {
    public let executable: String
    /// The environment podman runs with (`CONTAINERS_CONF` pointing at podbench's settings).
    public let environment: [String: String]

    public init(executable: String, environment: [String: String]) {
        self.executable = executable
        self.environment = environment
    }

    /// Finds `podman` on PATH, or says how to install it.
    public static func locate(path: String? = ProcessInfo.processInfo.environment["PATH"]) throws -> String {
        if let found = Self.which("podman", path: path) { return found }
        throw PodBenchError(
            .unavailable,
            "podman is not installed: install it (Debian/Ubuntu: apt-get install podman runc), or measure without "
                + "containers with --isolation process, or --isolation namespaces (root)")
    }

    /// `PATH`, as podbench was started with.
    public static var defaultSearchPath: String? { ProcessInfo.processInfo.environment["PATH"] }

    /// The first executable named `name` on `path`.
    public static func which(_ name: String, path: String? = defaultSearchPath) -> String? {
        for directory in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    public struct Output: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
    }

    /// Runs podman with `arguments` and waits; both streams captured (`ChildProcess.runCapturing`:
    /// into files, as a `podman run --detach` leaves a conmon behind that would hold a pipe open).
    public func run(_ arguments: [String]) async throws -> Output {
        let output = try await ChildProcess.runCapturing(
            executable: executable, arguments: arguments, environment: environment)
        return Output(status: output.status, standardOutput: output.standardOutput, standardError: output.standardError)
    }

    /// Runs podman and returns its standard output, or throws with what it said on failure.
    @discardableResult
    public func check(_ arguments: [String], doing: String) async throws -> String {
        let output = try await run(arguments)
        guard output.status == 0 else {
            throw PodBenchError(
                .ioFailure,
                "\(doing) failed: `podman \(arguments.joined(separator: " "))` exited with status \(output.status): "
                    + Self.lastLines(output.standardError, 12))
        }
        return output.standardOutput
    }

    /// The last `count` non-empty lines of `text`, joined for an error message.
    public static func lastLines(_ text: String, _ count: Int) -> String {
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        return lines.suffix(count).joined(separator: "\n")
    }
}

/// The podman settings podbench runs its pods with, written to files in the run's folder: a
/// containers.conf (ulimits this host allows, the OCI runtime that works with its cgroups) and a
/// seccomp profile (podman's default plus io_uring, or none).
public enum PodmanSettings {
    /// How the containers' system calls are filtered.
    public enum Seccomp: String, CaseIterable, Sendable {
        /// podman's default profile plus io_uring_setup, io_uring_enter and io_uring_register.
        case ioURing = "io_uring"
        /// podman's default profile as it is (io_uring answers ENOSYS): what a default pod gets.
        case runtime
        /// No filter.
        case unconfined
    }

    /// The io_uring system calls a profile must allow.
    public static let ioURingSyscalls = ["io_uring_setup", "io_uring_enter", "io_uring_register"]

    /// podman's default seccomp profile, from where Debian's containers-common puts it.
    public static let defaultProfilePaths = ["/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json"]

    /// containers.conf text: `default_ulimits` within this process's hard limits (podman's own
    /// default asks for more than a process without CAP_SYS_RESOURCE may set, and the pod's infra
    /// container takes only the defaults), and the runtime when one must be named.
    public static func containersConf(nofile: UInt64, nproc: UInt64, runtime: String?) -> String {
        var text = """
            # Written by podbench for the pods of one run; see docs/kubernetes.md.
            [containers]
            default_ulimits = ["nofile=\(nofile):\(nofile)", "nproc=\(nproc):\(nproc)"]

            """
        if let runtime {
            text += """
                [engine]
                runtime = "\(runtime)"

                """
        }
        return text
    }

    /// containers.conf text for this host: its hard limits, and runc where crun cannot run.
    public static func hostContainersConf() -> String {
        let limits = hardLimits()
        let runtime = runtimeChoice(
            cgroupVersion: HostEnvironment.probeCgroup().version, runcPath: Podman.which("runc"))
        return containersConf(nofile: limits.nofile, nproc: limits.nproc, runtime: runtime)
    }

    /// This process's hard limits for open files and processes, capped at what podman would ask.
    public static func hardLimits() -> (nofile: UInt64, nproc: UInt64) {
        var files = rlimit()
        var processes = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &files)
        getrlimit(__rlimit_resource_t(__RLIMIT_NPROC.rawValue), &processes)
        let nofile = min(UInt64(files.rlim_max), 1_048_576)
        // runc failed to set nproc to this host's own hard limit (96365) but sets 32768; a
        // benchmark needs few processes.
        let nproc = min(UInt64(processes.rlim_max), 32768)
        return (nofile, nproc)
    }

    /// The OCI runtime to name, or nil for podman's default: crun refuses cgroup v1 and hybrid
    /// hosts ("cgroups in hybrid mode not supported"), runc runs on them.
    public static func runtimeChoice(cgroupVersion: String, runcPath: String?) -> String? {
        guard cgroupVersion != "v2", runcPath != nil else { return nil }
        return "runc"
    }

    /// `base` (a seccomp profile in podman's JSON) with the io_uring system calls allowed.
    public static func allowingIOURing(_ base: Data) throws -> Data {
        guard var profile = try? JSONSerialization.jsonObject(with: base) as? [String: Any],
            var rules = profile["syscalls"] as? [[String: Any]]
        else {
            throw PodBenchError(
                .invalidConfiguration, "the seccomp profile is not podman's JSON format (no \"syscalls\" list)")
        }
        rules.append(["names": ioURingSyscalls, "action": "SCMP_ACT_ALLOW"])
        profile["syscalls"] = rules
        return try JSONSerialization.data(withJSONObject: profile, options: [.sortedKeys])
    }

    /// The `--security-opt` value for `seccomp`, writing a profile into `directory` when needed.
    public static func securityOption(_ seccomp: Seccomp, directory: String) throws -> String? {
        switch seccomp {
        case .runtime:
            return nil
        case .unconfined:
            return "seccomp=unconfined"
        case .ioURing:
            guard let path = defaultProfilePaths.first(where: { FileManager.default.fileExists(atPath: $0) }),
                let base = FileManager.default.contents(atPath: path)
            else {
                throw PodBenchError(
                    .unavailable,
                    "podman's default seccomp profile is not in \(defaultProfilePaths.joined(separator: " or ")): "
                        + "install containers-common, or choose --pod-seccomp unconfined or runtime")
            }
            let profile = try allowingIOURing(base)
            let out = directory + "/seccomp-io_uring.json"
            guard FileManager.default.createFile(atPath: out, contents: profile) else {
                throw PodBenchError(.ioFailure, "cannot write \(out)")
            }
            return "seccomp=\(out)"
        }
    }
}
