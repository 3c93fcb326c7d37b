import CPodBenchLinux
import Glibc
import SystemPackage

/// What one side of a run sees of its machine and its container: everything a result needs to
/// explain itself, and a baseline needs to refuse an apples-to-oranges comparison.
public struct HostEnvironment: Codable, Equatable, Sendable {
    /// Linux namespaces whose identities both sides report; equal inodes mean a shared namespace.
    public static let namespaceKinds = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"]

    public var hostname: String
    public var kernelRelease: String
    public var kernelVersion: String
    public var architecture: String
    public var cpuModel: String
    /// CPUs online (sysconf(_SC_NPROCESSORS_ONLN)).
    public var onlineCPUs: Int
    /// CPUs this process may run on (its affinity mask, the cpuset as seen).
    public var allowedCPUs: [Int]
    /// Whether SMT (hyper-threading) is active, when the kernel says.
    public var smtActive: Bool?
    /// "v1", "v2" or "hybrid" (v1 controllers with a v2 unified tree), or "none".
    public var cgroupVersion: String
    /// The CFS quota in CPUs (quota / period), nil when unlimited or unknown.
    public var cpuQuotaCores: Double?
    /// The cgroup memory limit in bytes, nil when unlimited or unknown.
    public var memoryLimitBytes: UInt64?
    /// Size and free space of /dev/shm in bytes, nil when absent.
    public var devShmBytes: UInt64?
    public var devShmFreeBytes: UInt64?
    /// The container runtime seen from inside ("podman", "docker", "kubernetes", "containerd",
    /// or "none"), and the evidence.
    public var containerRuntime: String
    public var containerEvidence: String
    /// Namespace kind to inode of /proc/self/ns/KIND.
    public var namespaces: [String: UInt64]
    /// Seccomp mode from /proc/self/status: 0 off, 1 strict, 2 filter.
    public var seccompMode: Int?
    /// Whether io_uring_setup(2) works here, and why not when it does not.
    public var ioURingAvailable: Bool
    public var ioURingReason: String
    public var processID: Int32
    /// The Kubernetes node the pod ran on, from `PODBENCH_NODE_NAME` (the manifests set it from
    /// the downward API's spec.nodeName); nil elsewhere.
    public var nodeName: String?

    /// Reads the environment of the calling process now.
    public static func probe() -> HostEnvironment {
        var name = utsname()
        uname(&name)
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        let status = SystemFiles.read("/proc/self/status") ?? ""
        let cpuinfo = SystemFiles.read("/proc/cpuinfo") ?? ""
        var model = SystemFiles.field("model name", in: cpuinfo) ?? SystemFiles.field("Model", in: cpuinfo) ?? "unknown"
        if model.isEmpty { model = "unknown" }
        let smt = SystemFiles.firstLine("/sys/devices/system/cpu/smt/active").flatMap { Int($0) }.map { $0 == 1 }

        let cgroup = probeCgroup()
        var shm = statvfs()
        let hasShm = statvfs("/dev/shm", &shm) == 0
        let runtime = probeContainerRuntime()
        var namespaces: [String: UInt64] = [:]
        for kind in namespaceKinds {
            if let inode = SystemFiles.inode("/proc/self/ns/\(kind)") { namespaces[kind] = inode }
        }
        let uring = probeIOURing()
        return HostEnvironment(
            hostname: field(&name.nodename),
            kernelRelease: field(&name.release),
            kernelVersion: field(&name.version),
            architecture: field(&name.machine),
            cpuModel: model,
            onlineCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            allowedCPUs: CPUPinning.allowedCPUs(),
            smtActive: smt,
            cgroupVersion: cgroup.version,
            cpuQuotaCores: cgroup.quota,
            memoryLimitBytes: cgroup.memory,
            devShmBytes: hasShm ? UInt64(shm.f_blocks) * UInt64(shm.f_frsize) : nil,
            devShmFreeBytes: hasShm ? UInt64(shm.f_bavail) * UInt64(shm.f_frsize) : nil,
            containerRuntime: runtime.name,
            containerEvidence: runtime.evidence,
            namespaces: namespaces,
            seccompMode: SystemFiles.field("Seccomp", in: status).flatMap { Int($0) },
            ioURingAvailable: uring.available,
            ioURingReason: uring.reason,
            processID: getpid(),
            nodeName: getenv("PODBENCH_NODE_NAME").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 })
    }

    /// The cgroup version, CPU quota in CPUs and memory limit of this process's cgroup.
    public static func probeCgroup() -> (version: String, quota: Double?, memory: UInt64?) {
        var fsType = 0
        let cgroup2Magic: Int = 0x6367_7270
        let tmpfsMagic: Int = 0x0102_1994
        guard CPodBenchLinux_filesystem_type("/sys/fs/cgroup", &fsType) == 0 else { return ("none", nil, nil) }
        if fsType == cgroup2Magic {
            // Unified tree: the process's own cgroup is at the path /proc/self/cgroup names.
            let own = SystemFiles.read("/proc/self/cgroup")?.split(separator: "\n").first { $0.hasPrefix("0::") }
            let rel = own.map { String($0.dropFirst(3)) } ?? "/"
            let base = "/sys/fs/cgroup" + (rel == "/" ? "" : rel)
            var quota: Double?
            if let max = SystemFiles.firstLine(base + "/cpu.max") ?? SystemFiles.firstLine("/sys/fs/cgroup/cpu.max") {
                let parts = max.split(separator: " ")
                if parts.count == 2, let q = Double(parts[0]), let p = Double(parts[1]), p > 0 { quota = q / p }
            }
            let memText =
                SystemFiles.firstLine(base + "/memory.max") ?? SystemFiles.firstLine("/sys/fs/cgroup/memory.max")
            return ("v2", quota, memText.flatMap { UInt64($0) })
        }
        let version = fsType == tmpfsMagic && SystemFiles.exists("/sys/fs/cgroup/unified") ? "hybrid" : "v1"
        var quota: Double?
        if let q = SystemFiles.firstLine("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").flatMap({ Double($0) }),
            let p = SystemFiles.firstLine("/sys/fs/cgroup/cpu/cpu.cfs_period_us").flatMap({ Double($0) }), q > 0, p > 0
        {
            quota = q / p
        }
        var memory = SystemFiles.firstLine("/sys/fs/cgroup/memory/memory.limit_in_bytes").flatMap { UInt64($0) }
        // v1 reports "no limit" as a huge page-rounded number.
        if let m = memory, m >= (1 << 62) { memory = nil }
        return (version, quota, memory)
    }

    static func probeContainerRuntime() -> (name: String, evidence: String) {
        if SystemFiles.exists("/run/.containerenv") { return ("podman", "/run/.containerenv exists") }
        if SystemFiles.exists("/.dockerenv") { return ("docker", "/.dockerenv exists") }
        if let env = getenv("KUBERNETES_SERVICE_HOST"), env.pointee != 0 {
            return ("kubernetes", "KUBERNETES_SERVICE_HOST is set")
        }
        if let cgroups = SystemFiles.read("/proc/self/cgroup") {
            for hint in ["kubepods", "docker", "libpod", "containerd"] where cgroups.contains(hint) {
                let name = hint == "kubepods" ? "kubernetes" : hint == "libpod" ? "podman" : hint
                return (name, "/proc/self/cgroup mentions \(hint)")
            }
        }
        if let container = getenv("container"), container.pointee != 0 {
            return (String(cString: container), "the container environment variable is set")
        }
        return ("none", "no container marker found")
    }

    /// Tries io_uring_setup(2) and explains a refusal.
    public static func probeIOURing() -> (available: Bool, reason: String) {
        let disabled = SystemFiles.firstLine("/proc/sys/kernel/io_uring_disabled").flatMap { Int($0) }
        if CPodBenchLinux_probe_io_uring() == 0 { return (true, "io_uring_setup works") }
        return explainIOURingRefusal(Errno(rawValue: errno), disabledSysctl: disabled)
    }

    /// Why io_uring_setup failed with `e`, given kernel.io_uring_disabled.
    public static func explainIOURingRefusal(_ e: Errno, disabledSysctl disabled: Int?) -> (
        available: Bool, reason: String
    ) {
        if let disabled, disabled != 0 {
            return (
                false,
                disabled == 1
                    ? "kernel.io_uring_disabled is 1: only members of kernel.io_uring_group (or CAP_SYS_ADMIN) may use io_uring; set it to 0 (sysctl) or add the group"
                    : "kernel.io_uring_disabled is \(disabled): io_uring is off for everyone; set it to 0 (sysctl) to allow it"
            )
        }
        switch e {
        case .noFunction:
            return (
                false,
                "io_uring_setup fails with ENOSYS: the container's seccomp profile blocks it (podman's default profile answers ENOSYS), or the kernel lacks io_uring; allow io_uring_setup, io_uring_enter and io_uring_register in the profile"
            )
        case .notPermitted, .permissionDenied:
            return (
                false,
                "io_uring_setup fails with \(e): blocked by a seccomp rule (Docker's default profile answers EPERM) or a security module; allow io_uring_setup, io_uring_enter and io_uring_register in the profile"
            )
        default:
            return (false, "io_uring_setup fails: \(e)")
        }
    }
}
