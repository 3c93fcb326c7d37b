import ArgumentParser
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch

extension PodBench {
    /// `podbench image`: the container image of this binary, with no registry.
    struct Image: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a container image of this podbench with podman, from scratch: no registry, no base image.",
            discussion: """
                The image holds this binary at /podbench (its entrypoint) and the shared libraries it loads, at the \
                paths it loads them from (found with ldd), and empty /tmp and /shared. `run --isolation podman` \
                builds one itself; this command is for the Kubernetes manifests in deploy/kubernetes/ (their image \
                is localhost/podbench:latest) and for copying to nodes (`podman save`). A builder with a registry \
                can use the Containerfile at the top of the repository instead. See docs/kubernetes.md.
                """)

        @Option(help: "The image's name and tag.")
        var tag = "localhost/podbench:latest"

        @Option(
            help: ArgumentHelp(
                "Also write the containers.conf podbench runs its own pods with on this host, to FILE.",
                discussion:
                    "Its ulimits fit this host's hard limits and it names runc on cgroup v1 or hybrid hosts; use it as CONTAINERS_CONF=FILE podman kube play deploy/kubernetes/pod.yaml where podman's defaults fail."
            ))
        var containersConf: String?

        func run() async throws {
            let podman = Podman(executable: try Podman.locate(), environment: ProcessInfo.processInfo.environment)
            let work = try ServerLauncher.makePrivateDirectory(in: "/tmp", option: "--tag")
            defer { try? FileManager.default.removeItem(atPath: work) }
            try await ContainerImage.build(
                podman: podman, binary: BuildInfo.executablePath, tag: tag, commit: BuildInfo.commit(),
                workDirectory: work, rebuild: true)
            if let containersConf {
                let text = PodmanSettings.hostContainersConf()
                guard FileManager.default.createFile(atPath: containersConf, contents: Data(text.utf8)) else {
                    throw PodBenchError(.ioFailure, "cannot write \(containersConf)")
                }
            }
            print(tag)
        }
    }
}
