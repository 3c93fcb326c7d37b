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
            sharesProcessNamespace: (try? measurement.parsed()).map { plan in
                plan.transports.contains {
                    let transport = TransportCatalog.transport($0)
                    return transport.needsProcessNamespace(transport.own(plan.options))
                }
            } ?? false,
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
        return .init(server: server.arguments, relay: relay?.arguments, client: client)
    }
}
