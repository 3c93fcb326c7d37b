import PodBenchCore
import PodBenchResults

/// What must match for two runs to be comparable: both sides' machines (kernel, CPU model and
/// architecture), their limits, the isolation, the pinning, how long and how a trial measured
/// (its length, its message count, payload verification), and podbench's version.
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
        /// One value when both sides agree (the usual pod), both when they do not.
        func sides(_ client: String, _ server: String) -> String {
            client == server ? client : "client \(client), server \(server)"
        }
        let s = run.settings
        return [
            "kernel": sides(e.client.kernelRelease, e.server.kernelRelease),
            "cpu model": sides(e.client.cpuModel, e.server.cpuModel),
            "architecture": sides(e.client.architecture, e.server.architecture),
            "online cpus": sides(String(e.client.onlineCPUs), String(e.server.onlineCPUs)),
            "trial length":
                Format.decimal(s.trialSeconds) + " s" + (s.trialMessages.map { " or \($0) messages" } ?? ""),
            "payload verification": s.verify,
            "injected server delay (test only)": s.injectedServerDelayNanoseconds.map { "\($0) ns" } ?? "none",
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
