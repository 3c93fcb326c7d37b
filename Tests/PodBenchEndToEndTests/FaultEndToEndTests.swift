import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    /// Faults at each phase: every one ends in bounded time with a clear message, keeps what was
    /// measured, and leaves nothing behind.
    @Suite("faults end to end", .serialized)
    struct FaultEndToEndTests {
        @Test("a low open-file limit: raised to the hard limit when it can be, a clear error when not")
        func fileLimit() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let binary = try podbenchBinary()
            let run =
                "'\(binary)' run --transports tcp,uds,shm --workloads pingpong --sizes 64 --shared-dir '\(dir)' --shm-dir '\(dir)' --results-dir '\(dir)/r' "
                + RunEndToEndTests.quick.joined(separator: " ")
            // A soft limit of 16 under a generous hard limit: podbench raises its own and runs.
            let raised = try BinaryProcess.run(["-c", "ulimit -Sn 16 && exec \(run)"], executable: "/bin/bash")
            #expect(raised.status == 0, "\(raised.stderr)")
            // A hard limit of 16: nothing to raise; the message names the limit and what to do.
            for hard in [12, 16, 100] {
                let low = try BinaryProcess.run(["-c", "ulimit -n \(hard) && exec \(run)"], executable: "/bin/bash")
                #expect(low.status == 1, "\(low.stderr)")
                #expect(low.stderr.contains("needs to open at least 256 files") && low.stderr.contains("ulimit -n"))
                #expect(!low.stderr.contains("Fatal error"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { $0 == "r" })
        }

        @Test("a server that accepts but never answers the handshake: the client gives up at --timeout")
        func silentServer() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/silent.sock"
            let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(listener) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            try #require(bound == 0 && listen(listener, 4) == 0)
            // The token a real server would have made: the client presents it, then waits for an answer.
            _ = FileManager.default.createFile(
                atPath: dir + "/podbench.token", contents: Data("0123456789abcdef0123456789abcdef\n".utf8),
                attributes: [.posixPermissions: 0o600])
            let started = Date()
            let result = try BinaryProcess.run(
                ["client", "--control", "unix:\(path)", "--timeout", "1s", "--results-dir", dir + "/r"]
                    + RunEndToEndTests.quick,
                timeout: 30)
            #expect(result.status == 1)
            #expect(Date().timeIntervalSince(started) < 10)
            #expect(
                result.stderr.contains("did not send a whole message on the control connection within the timeout"),
                "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir + "/r"))
        }

        @Test("client --print-results writes one stream: its progress on stdout, never inside the results")
        func printResultsOneStream() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let server = try BinaryProcess(["serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir])
            defer { server.signal(SIGTERM) }
            let client = try BinaryProcess.run(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "uds", "--workloads", "pingpong",
                    "--sizes", "64", "--trials", "2", "--messages", "50", "--warmup", "0", "--no-calibrate",
                    "--print-results", "--shutdown-server", "--results-dir", dir + "/r",
                ])
            #expect(client.status == 0, "\(client.stdout)")
            // A pod's log merges the two streams; with one there is nothing to interleave.
            #expect(client.stderr.isEmpty, "\(client.stderr)")
            let lines = client.stdout.split(separator: "\n")
            let written = try #require(lines.firstIndex { $0.hasPrefix("podbench: results written to") })
            let begin = try #require(lines.firstIndex { $0.hasPrefix("=== podbench results begin") })
            #expect(written < begin)
            let found = try ResultsMarker.extract(from: client.stdout, source: "stdout")
            #expect(found.count == 1 && found.first?.run.cases.count == 1)
            #expect(server.wait(timeout: 30) == 0)
        }

        @Test("a server killed during the warm-up: the client names the phase and writes an incomplete file")
        func killedInWarmup() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let server = try BinaryProcess(["serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir])
            let client = try BinaryProcess(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "uds", "--workloads", "pingpong",
                    "--sizes", "64", "--warmup", "20s", "--no-calibrate", "--results-dir", dir + "/r",
                ])
            // The journal's header line appears once the session is set up; the warm-up follows at once.
            #expect(waitForFinishedCases(in: dir + "/r", 0))
            usleep(500_000)
            server.signal(SIGKILL)
            server.wait(timeout: 5)
            #expect(client.wait(timeout: 15) == 1)
            #expect(client.stderr.contains("during the warm-up"), "\(client.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(!run.complete)
            #expect(run.cases.first?.status == .failed)
        }

        @Test("a server killed between cases: the client stops at the next case, keeps the finished ones")
        func killedBetweenCases() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let server = try BinaryProcess(["serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir])
            let client = try BinaryProcess(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "uds", "--workloads", "pingpong",
                    "--sizes", "64,128,256,512,1KiB,2KiB,4KiB,8KiB", "--trials", "2", "--duration", "100ms",
                    "--warmup", "0", "--no-calibrate", "--results-dir", dir + "/r",
                ])
            // Freeze the client as soon as a case is journalled (it is then between cases or at the
            // very start of the next), kill the server, and let the client go on.
            #expect(waitForFinishedCases(in: dir + "/r", 1))
            client.signal(SIGSTOP)
            server.signal(SIGKILL)
            server.wait(timeout: 5)
            client.signal(SIGCONT)
            #expect(client.wait(timeout: 30) == 1)
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(!run.complete)
            #expect(run.cases.first?.status == .ok)
            #expect(run.cases.count < 8)
        }

        @Test("a client killed mid-trial: the server frees the case and serves the next client")
        func clientKilled() throws {
            let dir = try temporaryDirectory()
            let shm = try sharedMemoryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shm)
            }
            let server = try BinaryProcess(
                [
                    "serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir, "--shm-dir", shm, "--timeout",
                    "2s",
                ])
            defer {
                server.signal(SIGTERM)
                server.wait(timeout: 5)
            }
            for transport in ["uds", "fifo", "shm", "file"] {
                let first = try BinaryProcess(
                    [
                        "client", "--control", "unix:\(dir)/ctl.sock", "--transports", transport, "--workloads",
                        "stream",
                        "--sizes", "4KiB", "--duration", "10s", "--warmup", "0", "--no-calibrate", "--results-dir",
                        dir + "/first-\(transport)",
                    ])
                usleep(800_000)
                first.signal(SIGKILL)
                first.wait(timeout: 5)
                let second = try BinaryProcess.run(
                    [
                        "client", "--control", "unix:\(dir)/ctl.sock", "--transports", transport, "--sizes", "64",
                        "--results-dir", dir + "/second-\(transport)",
                    ] + RunEndToEndTests.quick, timeout: 60)
                #expect(second.status == 0, "\(transport): \(second.stderr)")
            }
            #expect(ringFiles(in: shm).isEmpty)
            let fileDirectories = try FileManager.default.contentsOfDirectory(atPath: dir).filter {
                $0.hasSuffix(".file")
            }
            #expect(fileDirectories.isEmpty, "\(fileDirectories)")
            #expect(server.process.isRunning)
        }

        @Test("a server that stops answering without dying (SIGSTOP): the client times out within --timeout")
        func stoppedServer() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let server = try BinaryProcess(["serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir])
            defer {
                server.signal(SIGKILL)
                server.signal(SIGCONT)
                server.wait(timeout: 5)
            }
            let client = try BinaryProcess(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "uds", "--workloads", "pingpong",
                    "--sizes", "64,128", "--trials", "2", "--duration", "300ms", "--warmup", "0", "--timeout", "1s",
                    "--no-calibrate", "--results-dir", dir + "/r",
                ])
            #expect(waitForFinishedCases(in: dir + "/r", 1))
            server.signal(SIGSTOP)
            let stopped = Date()
            #expect(client.wait(timeout: 30) == 1)
            #expect(Date().timeIntervalSince(stopped) < 6)
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.first?.status == .ok)
            #expect(!run.complete)
        }

        @Test("a full results disk: a clear error, no partial results file, the journal keeps the finished cases")
        func fullDisk() throws {
            let dir = try temporaryDirectory()
            let small = try temporaryDirectory()
            defer {
                _ = try? BinaryProcess.runTool("/bin/umount", [small])
                try? FileManager.default.removeItem(atPath: small)
                try? FileManager.default.removeItem(atPath: dir)
            }
            let arguments =
                ["run", "--transports", "uds", "--workloads", "pingpong", "--sizes", "64,128,256"]
                + RunEndToEndTests.quick
            // The same run once where there is room, to learn how large its results file gets (its
            // histograms' size depends on this machine's latency spread).
            let probe = try BinaryProcess.run(arguments + ["--results-dir", dir + "/probe"])
            try #require(probe.status == 0, "\(probe.stderr)")
            let full = try #require(try resultsFiles(in: dir + "/probe").first)
            let bytes = try #require(try FileManager.default.attributesOfItem(atPath: full)[.size] as? Int)
            // Room for that many bytes: the journal (compact, a little smaller) fits, the
            // pretty-printed file written beside it does not.
            let kib = (bytes + 4095) / 4096 * 4
            try #require(
                try BinaryProcess.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kib)k", "tmpfs", small]) == 0)
            let result = try BinaryProcess.run(arguments + ["--results-dir", small])
            #expect(result.status == 1)
            #expect(
                result.stderr.contains("No space left on device") || result.stderr.contains("disk is full"),
                "\(result.stderr)")
            #expect(result.stderr.contains("journal"))
            let names = try FileManager.default.contentsOfDirectory(atPath: small)
            #expect(!names.contains { $0.hasSuffix(".json") || $0.contains(".tmp-") }, "\(names)")
            let journal = try #require(names.first { $0.hasSuffix(".journal.jsonl") })
            let lines = try String(contentsOfFile: small + "/" + journal, encoding: .utf8).split(separator: "\n")
            #expect(lines.count >= 2, "the header and at least one finished case")
        }

        @Test("serve removes ring files that no live server holds, and leaves held ones")
        func staleRingFiles() throws {
            let dir = try temporaryDirectory()
            let shm = try sharedMemoryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shm)
            }
            let stale = shm + "/podbench-crashed-1.ring"
            try Data(count: 8192).write(to: URL(fileURLWithPath: stale))
            let other = shm + "/not-ours.ring"
            try Data(count: 10).write(to: URL(fileURLWithPath: other))
            let server = try BinaryProcess([
                "serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir, "--shm-dir", shm,
            ])
            let client = try BinaryProcess.run(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "shm", "--sizes", "64",
                    "--results-dir",
                    dir + "/r", "--shutdown-server",
                ] + RunEndToEndTests.quick)
            #expect(client.status == 0, "\(client.stderr)")
            #expect(server.wait(timeout: 10) == 0)
            #expect(!FileManager.default.fileExists(atPath: stale))
            #expect(FileManager.default.fileExists(atPath: other))
            #expect(server.stderr.contains("removed \(stale)"))
        }

        @Test("an unwritable shared directory is a clear error", arguments: ["/proc", "/nonexistent-podbench"])
        func unwritableSharedDirectory(path: String) throws {
            let result = try BinaryProcess.run(["run", "--shared-dir", path] + RunEndToEndTests.quick)
            #expect(result.status != 0)
            #expect(result.stderr.contains(path), "\(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"))
        }
    }
}

extension EndToEnd {
    @Suite("hostile control input end to end", .serialized)
    struct HostileControlEndToEndTests {
        /// Connects to a Unix socket, writes `bytes`, and closes (or keeps it open while `hold`).
        static func send(_ bytes: [UInt8], to path: String) {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            usleep(50_000)
        }

        @Test("garbage, oversized lengths, other versions and truncated frames: the server keeps serving")
        func keepsServing() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let path = dir + "/ctl.sock"
            let server = try BinaryProcess([
                "serve", "--control", "unix:\(path)", "--shared-dir", dir, "--timeout", "1s",
            ])
            usleep(300_000)
            var state: UInt64 = 99
            let random = (0..<4096).map { _ -> UInt8 in
                state = state &* 6_364_136_223_846_793_005 &+ 1
                return UInt8(truncatingIfNeeded: state >> 56)
            }
            let inputs: [[UInt8]] = [
                random,
                Array("PBCT".utf8) + [2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF],
                Array("PBCT".utf8) + [7, 0, 0, 0, 2, 0, 0, 0] + Array("{}".utf8),
                Array("PBCT".utf8) + [2, 0, 0, 0, 100, 0, 0, 0] + Array("{\"hel".utf8),
                Array("PBCT".utf8) + [2, 0, 0, 0, 11, 0, 0, 0] + Array("{\"bye\":{}}".utf8) + [0],
                [],
            ]
            for input in inputs { Self.send(input, to: path) }
            let client = try BinaryProcess.run(
                [
                    "client", "--control", "unix:\(path)", "--transports", "uds", "--sizes", "64", "--results-dir",
                    dir + "/r",
                    "--shutdown-server",
                ] + RunEndToEndTests.quick)
            #expect(client.status == 0, "\(client.stderr)")
            #expect(server.wait(timeout: 10) == 0, "\(server.stderr)")
            #expect(!server.stderr.contains("Fatal error"))
        }
    }
}
