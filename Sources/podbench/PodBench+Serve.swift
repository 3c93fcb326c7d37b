import ArgumentParser
import CPodBenchLinux
import Foundation
import PodBenchCore
import PodBenchHarness
import PodBenchLaunch
import PodBenchTransports

/// The control socket path to remove on a fatal signal (set once before serving).
nonisolated(unsafe) private var controlPathToRemove: UnsafeMutablePointer<CChar>?
/// The ring file that has a name on disk right now, if any (a fixed buffer: a signal handler reads it).
nonisolated(unsafe) private let ringPathToRemove = UnsafeMutablePointer<CChar>.allocate(capacity: 4096)
/// The same ring file's name while it is being made (SharedMemoryTransport: `.NAME.ring.creating`).
nonisolated(unsafe) private let ringCreatingToRemove = UnsafeMutablePointer<CChar>.allocate(capacity: 4096)

extension PodBench {
    /// `podbench serve`: the passive side, one container of a pod.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve cases to clients: the side that runs in the other container.",
            discussion: """
                Listens on --control and runs whatever cases a client asks for, one client at a time, any number \
                of clients, until a client sends shutdown or the process gets SIGINT/SIGTERM (the control \
                socket file is removed either way). Unix data sockets are created in --shared-dir, rings in \
                --shm-dir; a client names a case, never a path: the server listens nowhere else but a hop's \
                --via-target it was started for. A client must present the token in --token-file first (made, \
                0600, when missing); a Unix control socket is 0600 and takes only this user's and root's \
                clients. See docs/security.md.
                """)

        @Option(help: "Control endpoint to listen on: unix:PATH, unix:@NAME or tcp:HOST:PORT.")
        var control = "unix:/tmp/podbench.sock"

        @Option(help: "The directory both sides share (a volume in a pod): Unix data sockets go there.")
        var sharedDir = "/tmp"

        @Option(help: "The memory-backed directory where shm ring files are created (both sides must see it).")
        var shmDir = "/dev/shm"

        @Option(help: "Pin the serving thread to this CPU (a client's --cpu server=N overrides it).")
        var cpu: Int?

        @Option(
            help: ArgumentHelp(
                "The file holding the control token every client must present.",
                discussion:
                    "Default: podbench.token in --shared-dir. Made with a random token (mode 0600) when missing; an existing file must be this user's or root's, not writable by its group, and closed to others (a Kubernetes Secret: defaultMode 0400, or 0440 with fsGroup)."
            ))
        var tokenFile: String?

        @Option(
            help: ArgumentHelp(
                "An endpoint a hop forwards to, where this server may listen for a client's case through that hop (repeatable).",
                discussion:
                    "tcp:HOST:PORT, unix:PATH, unix:@NAME, or file:DIR, shm:DIR, fifo:DIR: what a client gives as its --via-target. Without it, cases through a hop are refused."
            ))
        var viaTarget: [String] = []

        @Option(
            help:
                "A whole control message must arrive within this time (e.g. 10s); a silent client is dropped after it.")
        var timeout = "10s"

        @Option(
            help: ArgumentHelp(
                "Exit once no client has been connected for this long (e.g. 10m): a pod's server whose client died or never came.",
                discussion:
                    "The clock starts when serving starts and again when each client leaves. Exit status 0 when a client was served before, 1 (with a message) when none ever came. Without it, serve runs until a client sends shutdown or a signal stops it."
            ))
        var idleExit: String?

        @Flag(help: ArgumentHelp("Exit when the parent process exits (used by `podbench run`).", visibility: .hidden))
        var exitWithParent = false

        @Flag(help: "Print nothing but errors.")
        var quiet = false

        /// The options as a plan; every check `validate` makes is made here.
        func plan() throws -> ServePlan {
            let plan: ServePlan
            do {
                plan = ServePlan(
                    control: try SocketAddress(parsing: control), sharedDirectory: sharedDir,
                    sharedMemoryDirectory: shmDir, cpu: cpu, tokenFile: tokenFile,
                    hopTargets: try viaTarget.map { try HopEndpoint(parsing: $0) },
                    timeoutNanoseconds: try DurationText.parse(timeout, option: "--timeout"),
                    exitWithParent: exitWithParent, quiet: quiet,
                    idleExitNanoseconds: try idleExit.map { try DurationText.parse($0, option: "--idle-exit") })
            } catch let error as PodBenchError {
                throw ValidationError(error.message)
            }
            return plan
        }

        func validate() throws {
            _ = try plan()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sharedDir, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw ValidationError("--shared-dir: \(sharedDir) is not a directory")
            }
            guard FileManager.default.fileExists(atPath: shmDir, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw ValidationError("--shm-dir: \(shmDir) is not a directory")
            }
        }

        func run() async throws {
            let plan = try plan()
            if plan.exitWithParent {
                _ = CPodBenchLinux_set_parent_death_signal(SIGKILL)
                // The parent handles Ctrl-C for both; it tells this process to stop.
                signal(SIGINT, SIG_IGN)
                if getppid() == 1 { return }
            }
            let quiet = plan.quiet
            let tokenPath = plan.tokenPath
            let (token, created) = try ControlToken.loadOrCreate(path: tokenPath)
            if created && !quiet {
                FileHandle.standardError.write(
                    Data(
                        "podbench serve: made a new control token in \(tokenPath) (clients: --token-file \(tokenPath))\n"
                            .utf8))
            }
            let server = BenchmarkServer(
                configuration: plan.configuration(token: token),
                log: { line in
                    if !quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
                },
                ringPathHook: { path in
                    // Written by the serving thread before a case's ring file is made and after it is
                    // gone (a handler reading it mid-write would unlink a partial path: nothing of ours).
                    ringPathToRemove[0] = 0
                    ringCreatingToRemove[0] = 0
                    guard let path, path.utf8.count < 4000, let slash = path.lastIndex(of: "/") else { return }
                    let creating = path[...slash] + "." + path[path.index(after: slash)...] + ".creating"
                    _ = creating.withCString { strcpy(ringCreatingToRemove, $0) }
                    _ = path.withCString { strcpy(ringPathToRemove, $0) }
                })
            try server.bind()
            ringPathToRemove[0] = 0
            ringCreatingToRemove[0] = 0
            if case .unixPath(let path) = plan.control { controlPathToRemove = strdup(path) }
            // A handler in signal context, not InterruptWatch: it acts the moment the signal
            // arrives, with no queue to wait for, so the serving thread has a few system calls'
            // time, not a scheduling delay, to make the next case's ring file between the clean-up
            // and the exit (with InterruptWatch one was left behind in CI, 2026-12-02).
            for number in [SIGINT, SIGTERM] where !(plan.exitWithParent && number == SIGINT) {
                signal(number) { signalNumber in
                    if let path = controlPathToRemove { unlink(path) }
                    // The name it is made under first: a rename that lands between the two is then
                    // caught by the second.
                    if ringCreatingToRemove[0] != 0 { unlink(ringCreatingToRemove) }
                    if ringPathToRemove[0] != 0 { unlink(ringPathToRemove) }
                    _exit(128 + signalNumber)
                }
            }
            let ending = try server.serve()
            if case .idle(let served) = ending {
                let idle = idleExit ?? ""
                if served == 0 {
                    throw PodBenchError(
                        .timeout,
                        "no client came within --idle-exit \(idle): check that the client container started and reaches \(plan.control) with the same token file"
                    )
                }
                if !quiet {
                    FileHandle.standardError.write(
                        Data(
                            "podbench serve: no client for --idle-exit \(idle) after \(served) client\(served == 1 ? "" : "s"): exiting\n"
                                .utf8))
                }
            }
        }
    }
}
