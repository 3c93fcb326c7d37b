import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    /// The channels of a shared process namespace (#23) between two real processes, and refused
    /// with the reason where the namespace is not shared or ptrace is not allowed.
    @Suite("process namespace channels end to end", .serialized)
    struct ProcessNamespaceEndToEndTests {
        @Test(
            "pidfd-pipe, scm-pipe, signal and process-vm move 1 byte to 1 MiB intact in every workload between two processes",
            .singleThreaded("a sweep of sizes and workloads"))
        func channels() throws {
            // A MiB is 131,072 signals.
            let messages = sanitizerScaled(10)
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "pidfd-pipe,scm-pipe,signal,process-vm", "--workloads",
                    "pingpong,stream,rate",
                    "--rates", "2k",
                    "--sizes", "1,4KiB,1MiB", "--messages", String(messages), "--shared-dir", dir, "--results-dir",
                    dir + "/r",
                ] + RunEndToEndTests.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 4 * 3 * 3)
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                let prefix = [.signal: "signal:", .scmPipe: "unix:"][c.key.transport] ?? "process:"
                #expect(c.endpoint?.hasPrefix(prefix) == true, "\(c.endpoint ?? "")")
                expectDelivered(c, messages: UInt64(messages))
            }
        }

        /// A server and a client in two sibling PID namespaces (as two containers of a pod that
        /// does not share its process namespace), a client without CAP_SYS_PTRACE taking from a
        /// server that has it, or a server without it reading a client that has it (process-vm:
        /// each side reads the other's memory).
        @Test(
            "refused with the reason when the server's process is in another PID namespace, or ptrace is not allowed",
            .enabled(if: geteuid() == 0, "unshare and setpriv need root"),
            arguments: ["namespace", "ptrace", "server-ptrace"])
        func refused(why: String) throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let binary = try podbenchBinary()
            let serve = [binary, "serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir]
            // With a /proc of its own, as a container has: LeakSanitizer stops the threads it
            // finds in /proc/self/task, which a /proc of the parent namespace numbers otherwise.
            let separate = ["--pid", "--fork", "--kill-child", "--mount-proc", "--"]
            let withoutPtrace = ["--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", "--"]
            let server =
                switch why {
                case "namespace": try BinaryProcess(separate + serve, executable: "/usr/bin/unshare")
                case "server-ptrace": try BinaryProcess(withoutPtrace + serve, executable: "/usr/bin/setpriv")
                default: try BinaryProcess(Array(serve.dropFirst()))
                }
            defer { server.signal(SIGTERM) }
            let client = [
                binary, "client", "--control", "unix:\(dir)/ctl.sock", "--transports",
                "pidfd-pipe,scm-pipe,signal,process-vm,sync-rename,uds", "--file-follow", "signal",
                "--workloads", "pingpong", "--sizes", "64", "--trials", "1", "--messages", "20", "--warmup", "0",
                "--no-calibrate", "--shutdown-server", "--connect-wait", "20s", "--results-dir", dir + "/r",
            ]
            let result =
                switch why {
                case "namespace": try BinaryProcess.run(separate + client, executable: "/usr/bin/unshare")
                case "ptrace": try BinaryProcess.run(withoutPtrace + client, executable: "/usr/bin/setpriv")
                default: try BinaryProcess.run(Array(client.dropFirst()))
                }
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            let pidfd = try #require(run.cases.first { $0.key.transport == .pidfdPipe })
            let reason = pidfd.error ?? ""
            switch why {
            case "namespace":
                #expect(pidfd.status == .unavailable, "\(reason)")
                #expect(
                    reason.contains("not visible from here") && reason.contains("shareProcessNamespace"), "\(reason)")
            case "ptrace":
                #expect(pidfd.status == .unavailable, "\(reason)")
                #expect(reason.contains("pidfd_getfd") && reason.contains("SYS_PTRACE"), "\(reason)")
            default:
                // Only the client takes: a server without ptrace access does not matter.
                #expect(pidfd.status == .ok, "\(reason)")
            }
            // process-vm needs the same of the client, and of the server too: it reads the client.
            let processVM = try #require(run.cases.first { $0.key.transport == .processVM })
            let vmReason = processVM.error ?? ""
            #expect(processVM.status == .unavailable, "\(vmReason)")
            switch why {
            case "namespace": #expect(vmReason.contains("not visible from the server"), "\(vmReason)")
            case "ptrace": #expect(vmReason.contains("pidfd_getfd") && vmReason.contains("SYS_PTRACE"), "\(vmReason)")
            default:
                #expect(
                    vmReason.contains("the server cannot read the client's memory") && vmReason.contains("SYS_PTRACE"),
                    "\(vmReason)")
            }
            // Signals need the other process visible, not ptrace.
            let signal = try #require(run.cases.first { $0.key.transport == .signal })
            if why == "namespace" {
                #expect(signal.status == .unavailable, "\(signal.error ?? "")")
                #expect(signal.error?.contains("not visible from the server") == true, "\(signal.error ?? "")")
            } else {
                #expect(signal.status == .ok, "\(signal.error ?? "")")
            }
            // So does a content-sync follower told by signal.
            let reload = try #require(run.cases.first { $0.key.transport == .syncRename })
            if why == "namespace" {
                #expect(reload.status == .unavailable, "\(reload.error ?? "")")
                #expect(reload.error?.contains("not visible from the server") == true, "\(reload.error ?? "")")
            } else {
                #expect(reload.status == .ok, "\(reload.error ?? "")")
                #expect(reload.key.options["follow"] == "signal")
            }
            // The same pipes passed over a socket in the shared volume need none of it.
            let passed = try #require(run.cases.first { $0.key.transport == .scmPipe })
            #expect(passed.status == .ok, "\(passed.error ?? "")")
            #expect(passed.endpoint?.hasPrefix("unix:") == true, "\(passed.endpoint ?? "")")
            // The rest of the run goes on.
            #expect(run.cases.first { $0.key.transport == .uds }?.status == .ok)
            #expect(server.wait(timeout: 30) == 0)
        }
    }
}
