import ArgumentParser
import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore

/// The `podbench` command.
@main
struct PodBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "podbench",
        abstract: "Measure how fast co-located containers talk to each other.",
        discussion: """
            podbench measures the channels that the containers of one Kubernetes pod share: localhost TCP, Unix sockets, named pipes, shared-memory rings and files on a shared volume, plain and through io_uring. The two sides are always separate processes, and with --isolation podman two containers of one pod.

            Start here:
              podbench run      both sides here, the default matrix (about a minute);
                                --isolation podman: as two containers of one pod
              podbench serve    the passive side, in one container
              podbench client   the driving side, in the other container
              podbench probe    which transports work here, and why not
              podbench calibrate  this machine's limits (cache-line and futex round trips, memcpy)
              podbench compare BASELINE CURRENT   the regression gate (exit 1 on a regression)
              podbench baseline save|list|show    named baselines in results/baselines/
              podbench report RESULTS... --out DIR  charts, capacity table, index.html
              podbench run --preset ambassador|adapter|sidecar-logs   a hop between the sides
              podbench relay    the hop as a third process or container
              podbench image    a container image of this binary (for deploy/kubernetes/)
              podbench collect LOGS...   results files out of saved `kubectl logs`
              podbench http-load --target tcp:HOST:PORT   GETs over one connection (wrk -t1 -c1)
              podbench http-serve   the http1 workload's server on its own (for wrk, h2load)

            Exit codes, the same in every subcommand: 0 done (run: every case ran or is unavailable here; compare, ab: no regression and every case decided); 1 what was measured or judged failed (a case failed: integrity error, peer gone, timeout; the run stopped early; compare, ab: a regression); 2 bad input (a usage error, an unreadable or malformed file, an output file or folder that cannot be written or would be overwritten); 3 compare, ab: the environments differ; 4 compare, ab: undecided; 130 interrupted.
            """,
        version: PodBenchVersion.version,
        subcommands: [
            Run.self, Serve.self, Client.self, Probe.self, Calibrate.self, Compare.self, AB.self, Baseline.self,
            Report.self,
            Relay.self, Image.self, Collect.self, HTTPLoad.self, HTTP2LoadCommand.self, HTTPServe.self,
            CalibratePeer.self,
        ]
    )

    static func main() async {
        signal(SIGPIPE, SIG_IGN)
        denyIOURingForTests()
        do {
            try ensureFileLimit()
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PodBenchError {
            // Error texts quote files, peers and names: nothing in them may drive the terminal.
            FileHandle.standardError.write(
                Data((TextEscaping.terminal("podbench: error: \(error.description)") + "\n").utf8))
            let status: Int32 =
                switch error.code {
                case .invalidConfiguration, .incompatibleResults: 2
                case .interrupted: 130
                default: 1
                }
            Foundation.exit(status)
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

/// Test only: `PODBENCH_TEST_DENY_IO_URING=ENOSYS` (podman's default seccomp profile) or `EPERM`
/// (Docker's) makes this process and its children run under a seccomp filter that refuses
/// io_uring_setup, as a container with such a profile would.
func denyIOURingForTests() {
    guard let name = ProcessInfo.processInfo.environment["PODBENCH_TEST_DENY_IO_URING"] else { return }
    let error: Int32 = name == "EPERM" ? EPERM : ENOSYS
    if CPodBenchLinux_deny_io_uring(error) != 0 {
        FileHandle.standardError.write(Data("podbench: cannot install the test seccomp filter (errno \(errno))\n".utf8))
        Foundation.exit(1)
    }
}

extension PodBench {
    /// Open files podbench needs at most: two sides' control and data endpoints, a file
    /// connection's segments, io_uring rings, the pipes and descriptors Foundation's `Process`
    /// uses to start the server (which fails with EBADF below about 256 here).
    static let minimumOpenFiles: rlim_t = 256

    /// Raises the soft limit on open files to the hard limit (any process may), and refuses to
    /// start, saying which limit and what to do, when even that is too low: a low `ulimit -n`
    /// is an error with a message, never a failure deep inside a run.
    static func ensureFileLimit() throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = min(limit.rlim_max, 65536)
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur >= minimumOpenFiles else {
            throw PodBenchError(
                .ioFailure,
                "podbench needs to open at least \(minimumOpenFiles) files and this process may open \(limit.rlim_cur) (ulimit -n \(limit.rlim_cur), hard limit \(limit.rlim_max)): raise it, e.g. `ulimit -n 1024`, or for a container `--ulimit nofile=1024:1024`"
            )
        }
    }
}
