import Foundation
import PodBenchCore
import PodBenchResults
import Testing

/// A private directory in /dev/shm (memory-backed), removed afterwards.
func sharedMemoryDirectory() throws -> String {
    let path = "/dev/shm/podbench-e2e-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func ringFiles(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".ring") }
}

extension EndToEnd {
    @Suite("shm end to end", .serialized)
    struct SharedMemoryEndToEndTests {
        @Test(
            "every wait strategy moves 1 byte to 4 MiB through a 4 KiB ring intact, and leaves no ring file",
            .singleThreaded("a sweep of sizes and wait strategies through a ring shared between processes"))
        func strategies() throws {
            let messages = sanitizerScaled(40)
            let dir = try temporaryDirectory()
            let shm = try sharedMemoryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shm)
            }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "shm", "--shm-wait", "spin,futex,spin-futex", "--shm-ring", "4KiB",
                    "--sizes",
                    "1,4KiB,64KiB,4MiB", "--shm-dir", shm, "--results-dir", dir, "--trials", "2", "--messages",
                    String(messages),
                    "--warmup", "10ms", "--verify", "all",
                ])
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            #expect(run.cases.count == 3 * 2 * 4)
            for wait in ["spin", "futex", "spin-futex"] {
                let cases = run.cases.filter { $0.key.options["wait"] == wait }
                #expect(cases.count == 8, "wait \(wait)")
                #expect(cases.allSatisfy { $0.key.options["ring"] == "4096" })
            }
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.endpoint?.hasPrefix("shm:\(shm)/") == true)
                for t in c.trials {
                    #expect(t.messages == UInt64(messages))
                    let receiver = c.key.workload == .pingpong ? t.client.integrity : t.server.integrity
                    #expect(
                        receiver.received == UInt64(messages) && receiver.verified == UInt64(messages)
                            && !receiver.hasErrors)
                }
            }
            #expect(ringFiles(in: shm).isEmpty)
        }

        @Test("a server killed in an shm case: the client sees the peer die at once, keeps finished cases, exits 1")
        func peerDies() throws {
            let dir = try temporaryDirectory()
            let shm = try sharedMemoryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shm)
            }
            let server = try BinaryProcess([
                "serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir, "--shm-dir", shm,
            ])
            for wait in ["spin", "futex"] {
                let results = dir + "/" + wait
                let client = try BinaryProcess(
                    [
                        "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "shm", "--shm-wait", wait,
                        "--workloads", "pingpong", "--sizes", "64,128,256,512", "--trials", "2", "--duration", "300ms",
                        "--warmup", "0", "--timeout", "20s", "--results-dir", results,
                    ])
                if wait == "spin" {
                    #expect(waitForFinishedCases(in: results, 1))
                    usleep(200_000)
                    server.signal(SIGKILL)
                    server.wait(timeout: 5)
                }
                let started = Date()
                #expect(client.wait(timeout: 30) == 1)
                if wait == "spin" {
                    // Well inside the 20 s timeout: the lock on the ring file died with the server.
                    #expect(Date().timeIntervalSince(started) < 5)
                    let run = try ResultsStore.load(try #require(try resultsFiles(in: results).first))
                    #expect(!run.complete)
                    #expect(run.cases.first?.status == .ok)
                    let failed = run.cases.first { $0.status == .failed }
                    #expect(
                        failed?.error?.contains("died") == true || failed?.error?.contains("went away") == true,
                        "\(failed?.error ?? "")")
                }
            }
            #expect(ringFiles(in: shm).isEmpty)
        }

        @Test("SIGTERM to serve in the middle of an shm case leaves no ring file")
        func sigterm() throws {
            let dir = try temporaryDirectory()
            let shm = try sharedMemoryDirectory()
            defer {
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: shm)
            }
            let server = try BinaryProcess([
                "serve", "--control", "unix:\(dir)/ctl.sock", "--shared-dir", dir, "--shm-dir", shm,
            ])
            let client = try BinaryProcess(
                [
                    "client", "--control", "unix:\(dir)/ctl.sock", "--transports", "shm", "--shm-wait", "futex",
                    "--workloads", "stream", "--sizes", "64KiB,128KiB,256KiB", "--trials", "2", "--duration", "300ms",
                    "--warmup", "0", "--results-dir", dir + "/r",
                ])
            #expect(waitForFinishedCases(in: dir + "/r", 1))
            server.signal(SIGTERM)
            #expect(server.wait(timeout: 5) != 0)
            #expect(client.wait(timeout: 30) == 1)
            #expect(ringFiles(in: shm).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: dir + "/ctl.sock"))
        }

        @Test("a ring that does not fit the memory volume is unavailable, with the figures; the run goes on")
        func tooSmall() throws {
            let dir = try temporaryDirectory()
            let small = try temporaryDirectory()
            defer {
                _ = try? BinaryProcess.runTool("/bin/umount", [small])
                try? FileManager.default.removeItem(atPath: dir)
                try? FileManager.default.removeItem(atPath: small)
            }
            // A 1 MiB tmpfs stands for a pod's small /dev/shm (needs root, as CI has).
            let mount = try BinaryProcess.runTool("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", small])
            try #require(mount == 0, "mounting a small tmpfs needs root")
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "shm,uds", "--workloads", "pingpong", "--sizes", "64", "--shm-ring", "1MiB",
                    "--shm-dir", small, "--results-dir", dir,
                ] + RunEndToEndTests.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            let shmCase = try #require(run.cases.first { $0.key.transport == .shm })
            #expect(shmCase.status == .unavailable)
            #expect(shmCase.error?.contains("does not fit in \(small)") == true, "\(shmCase.error ?? "")")
            #expect(run.cases.first { $0.key.transport == .uds }?.status == .ok)
            #expect(result.stdout.contains("unavailable"))
            #expect(ringFiles(in: small).isEmpty)
        }
    }
}
