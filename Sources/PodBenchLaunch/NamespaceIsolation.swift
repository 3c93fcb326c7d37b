import Glibc
import PodBenchCore

/// `run --isolation namespaces`: the server started through unshare(1) with mount, PID and UTS
/// namespaces of its own (network and IPC stay shared, as in a pod); it dies with unshare
/// (`--kill-child`).
public enum NamespaceIsolation {
    /// The command the server is started through (`ServerLauncher.start(wrapper:)`); throws, saying
    /// what to do, without root or without unshare(1).
    public static func unshareCommand(path: String? = nil) throws -> [String] {
        guard geteuid() == 0 else {
            throw PodBenchError(
                .invalidConfiguration,
                "--isolation namespaces needs root (it makes mount and PID namespaces): run as root, or use "
                    + "--isolation process or podman")
        }
        guard let unshare = Podman.which("unshare", path: path ?? Podman.defaultSearchPath) else {
            throw PodBenchError(.unavailable, "--isolation namespaces needs unshare(1): install util-linux")
        }
        return [unshare, "--mount", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc", "--"]
    }
}
