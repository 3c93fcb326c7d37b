import PodBenchCore
import PodBenchResults

/// What must match for two runs to be comparable: the machine, its limits, the isolation, the
/// pinning and podbench's version.
public enum EnvironmentFingerprint {
    /// The properties that differ between two runs.
    public static func differences(_ a: RunResult, _ b: RunResult) -> [EnvironmentDifference] {
        let pa = properties(a)
        let pb = properties(b)
        return pa.keys.sorted().compactMap { key in
            let x = pa[key] ?? "-"
            let y = pb[key] ?? "-"
            return x == y ? nil : EnvironmentDifference(property: key, baseline: x, current: y)
        }
    }

    static func properties(_ run: RunResult) -> [String: String] {
        let e = run.environment
        func describe(_ v: Double?) -> String { v.map { Format.decimal($0) } ?? "none" }
        return [
            "kernel": e.client.kernelRelease,
            "cpu model": e.client.cpuModel,
            "online cpus": String(e.client.onlineCPUs),
            "cgroup cpu quota (client)": describe(e.client.cpuQuotaCores),
            "cgroup cpu quota (server)": describe(e.server.cpuQuotaCores),
            "memory limit (client)": e.client.memoryLimitBytes.map { String($0) } ?? "none",
            "memory limit (server)": e.server.memoryLimitBytes.map { String($0) } ?? "none",
            "container runtime": e.client.containerRuntime + "/" + e.server.containerRuntime,
            "isolation": run.settings.isolation,
            "shared namespaces": e.sharedNamespaces.joined(separator: ","),
            "pinning":
                "client=\(e.clientPinning.asked.map(String.init) ?? "none"),server=\(e.serverPinning.asked.map(String.init) ?? "none")",
            "podbench version": run.podbench.version,
        ]
    }
}
