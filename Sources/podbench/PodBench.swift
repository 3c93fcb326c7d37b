import ArgumentParser
import Foundation
import PodBenchCore

/// The `podbench` command.
@main
struct PodBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podbench",
        abstract: "Measure how fast co-located containers talk to each other.",
        discussion: """
            podbench measures the channels that containers of one Kubernetes pod share: localhost TCP and
            Unix sockets (more transports follow). Both sides are always separate processes.

              podbench run                         both sides on this machine, default matrix (~1 min)
              podbench serve --control unix:/shared/podbench.sock    one container
              podbench client --control unix:/shared/podbench.sock   the other container
              podbench probe                       which transports work here, and why not

            Exit codes: 0 every case ran (or is unavailable here), 1 a case failed (integrity error,
            peer gone, timeout) or the run was cut short, 2 a usage or input error.
            """,
        version: PodBenchVersion.version,
        subcommands: [Run.self, Serve.self, Client.self, Probe.self]
    )

    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PodBenchError {
            FileHandle.standardError.write(Data("podbench: error: \(error.description)\n".utf8))
            Foundation.exit(error.code == .invalidConfiguration ? 2 : 1)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
