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

        @Option(
            help: ArgumentHelp(
                "Also push the image to a registry as REF (e.g. registry.example.com/tools/podbench:1.0): podman tag, then podman push.",
                discussion:
                    "Log in first (podman login REGISTRY). Set the same REF once in deploy/kubernetes/fleet/kustomization.yaml (images:), and every pod of the fleet's Job pulls it."
            ))
        var push: String?

        func validate() throws {
            // A reference podman would read as an option, or with white space or controls, is refused here.
            if let push {
                guard !push.isEmpty, !push.hasPrefix("-"),
                    push.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
                else {
                    throw ValidationError("--push: '\(push)' is not an image reference (REGISTRY/NAME:TAG)")
                }
            }
        }

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
            if let push {
                try await podman.check(["tag", tag, push], doing: "tagging the image as \(push)")
                // podman's progress goes to its standard error: shown when it fails.
                try await podman.check(["push", push], doing: "pushing \(push) (podman login to the registry first?)")
                print(push)
                return
            }
            print(tag)
        }
    }
}
