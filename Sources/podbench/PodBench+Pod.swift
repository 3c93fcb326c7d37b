import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchTransports

extension PodBench.Run {
    /// What `run --isolation podman` hands to the launcher: the pod's settings and the commands
    /// of its containers, made from the measurement's options.
    func podPlan() -> PodRunPlan {
        let measurement = self.measurement
        return PodRunPlan(
            sharedParent: sharedDir, resultsDirectory: measurement.resultsDir, binary: BuildInfo.executablePath,
            commit: BuildInfo.commit(), image: image, shmSize: podShmSize ?? "512m",
            seccomp: podSeccomp.flatMap(PodmanSettings.Seccomp.init(rawValue:)) ?? .ioURing, podmanConf: podmanConf,
            dryRun: dryRun,
            // A proxy's CPU is read from /proc by name (`--via-stats process:`): the client must see it.
            sharesProcessNamespace: (try? measurement.parsed()).map { plan in
                plan.transports.contains {
                    let transport = TransportCatalog.transport($0)
                    return transport.needsProcessNamespace(transport.own(plan.options))
                }
            } ?? false || Self.startsProxy(measurement),
            commands: { shared in try Self.podCommands(measurement: measurement, shared: shared) },
            progress: { MeasurementSession.progress($0) })
    }

    /// The containers' commands, `shared` being the pod's shared volume (at the same path in each).
    static func podCommands(measurement: MeasurementOptions, shared: String) throws -> PodRunPlan.Commands {
        let control = SocketAddress.unixPath("\(shared)/control.sock")
        let parsed = try measurement.parsed()
        var server = ServePlan(
            control: control, sharedDirectory: shared, sharedMemoryDirectory: "/dev/shm",
            timeoutNanoseconds: parsed.timeoutNanoseconds)
        // A relay (--via relay, the presets) is a third container of the pod; the client is told
        // its endpoints, which are fixed: the pod's loopback and the shared volume are its own.
        var clientMeasurement = measurement
        var relay: RelayPlan?
        if let inbound = parsed.relayIn {
            let hop = RelayLauncher.podPlan(
                shared: shared, inbound: inbound, outbound: try RelayLauncher.outbound(for: parsed.transports))
            relay = hop
            clientMeasurement.via = [hop.listen.description]
            clientMeasurement.viaTarget = [hop.forward.description]
            clientMeasurement.viaStats = hop.stats.map { [$0.description] } ?? []
            clientMeasurement.viaName = ["relay"]
        }
        // --preset http-proxy=…: this host's nginx or haproxy as the third container, in TCP mode on
        // 7201 and HTTP mode on 7202 (nginx's HTTP/2 on 7204), all forwarding to the server on 7203
        // (the pod's own loopback).
        var proxy: PodRunPlan.ProxyContainer?
        if startsProxy(measurement), let kind = try measurement.chosenPreset()?.proxy {
            guard let program = ProxyLauncher.executable(kind) else {
                throw PodBenchError(
                    .unavailable,
                    "--preset http-proxy=\(kind.rawValue) needs \(kind.rawValue), which is not installed here (its image is made from this host's): apt-get install \(kind == .nginx ? "nginx-light libnginx-mod-stream" : "haproxy")"
                )
            }
            let stream = kind == .nginx && access(ProxyLauncher.nginxStreamModule, R_OK) == 0
            if kind == .nginx && !stream {
                MeasurementSession.progress(
                    "podbench: nginx has no stream module here (\(ProxyLauncher.nginxStreamModule); Debian's libnginx-mod-stream): nginx in TCP mode is not measured, only in HTTP mode"
                )
            }
            let tcp: UInt16? = kind == .haproxy || stream ? 7201 : nil
            proxy = PodRunPlan.ProxyContainer(
                name: kind.rawValue, program: program, extraFiles: stream ? [ProxyLauncher.nginxStreamModule] : [],
                configuration: kind == .nginx
                    ? ProxyLauncher.nginxConfiguration(directory: "/tmp", http: 7202, h2: 7204, tcp: tcp, target: 7203)
                    : ProxyLauncher.haproxyConfiguration(http: 7202, tcp: 7201, target: 7203),
                arguments: { path in
                    kind == .nginx ? ["-c", path, "-e", "stderr"] : ["-db", "-f", path]
                })
            // nginx's HTTP mode is two ports, one hop: each carries its HTTP version's workloads.
            let list = { (workloads: [WorkloadKind]) in workloads.map(\.rawValue).joined(separator: ",") }
            let modes: [(name: String, port: Int, workloads: String)] =
                (tcp == nil ? [] : [("tcp", 7201, "all")])
                + (kind == .nginx
                    ? [("http", 7202, list(ProxyLauncher.nginxHTTP1)), ("http", 7204, list(ProxyLauncher.nginxHTTP2))]
                    : [("http", 7202, "all")])
            clientMeasurement.via = modes.map { "tcp:127.0.0.1:\($0.port)" }
            clientMeasurement.viaTarget = modes.map { _ in "tcp:127.0.0.1:7203" }
            clientMeasurement.viaName = modes.map { "\(kind.rawValue)-\($0.name)" }
            clientMeasurement.viaStats = modes.map { _ in "process:\(kind.rawValue)" }
            clientMeasurement.viaWorkloads = modes.map(\.workloads)
        }
        // The server listens where a hop forwards only because it was started for it.
        for target in try clientMeasurement.viaTarget.map(HopEndpoint.init(parsing:))
        where !server.hopTargets.contains(target) {
            server.hopTargets.append(target)
        }
        let client =
            [
                "client", "--control", control.description, "--connect-wait", "60s", "--shutdown-server", "--isolation",
                "podman",
            ]
            + clientMeasurement.arguments(
                resultsDir: URL(fileURLWithPath: measurement.resultsDir).standardizedFileURL.path)
        return .init(server: server.arguments, relay: relay?.arguments, client: client, proxy: proxy)
    }

    /// Whether the run starts a proxy (`--preset http-proxy=…` without a `--via` of the user's).
    static func startsProxy(_ measurement: MeasurementOptions) -> Bool {
        measurement.via.isEmpty && (try? measurement.chosenPreset())??.proxy != nil
    }
}
