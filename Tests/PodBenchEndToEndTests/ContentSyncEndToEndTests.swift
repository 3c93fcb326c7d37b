import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    /// The content-sync preset (#23) between two real processes: versions published into the shared
    /// directory and read whole by the other side.
    @Suite("content-sync end to end", .serialized)
    struct ContentSyncEndToEndTests {
        @Test(
            "--preset content-sync: both ways of publishing, every workload, 1 byte to 1 MiB, no version torn or mixed",
            arguments: ["inotify", "poll", "signal"])
        func preset(follow: String) throws {
            let messages = 40
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--preset", "content-sync", "--workloads", "pingpong,stream,rate", "--rates", "500",
                    "--sizes", "1,4KiB,1MiB", "--messages", String(messages), "--file-follow", follow, "--shared-dir",
                    dir, "--results-dir", dir + "/r",
                ] + RunEndToEndTests.quick)
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir + "/r").first))
            #expect(run.cases.count == 2 * 3 * 3)
            #expect(Set(run.cases.map(\.key.transport)) == [.syncSymlink, .syncRename])
            for c in run.cases {
                #expect(c.status == .ok, "\(c.key): \(c.error ?? "")")
                #expect(c.key.options["follow"] == (follow == "poll" ? "poll:100us" : follow), "\(c.key)")
                #expect(c.endpoint?.hasPrefix("file:") == true, "\(c.endpoint ?? "")")
                // Superseded versions count as lost; every version read was whole and checked.
                expectDelivered(c, messages: UInt64(messages))
                if c.key.workload == .pingpong {
                    // One version at a time each way: none is superseded.
                    for t in c.trials { #expect(t.client.integrity.lost ?? 0 == 0, "\(c.key)") }
                }
            }
            // Nothing is left in the shared directory but the results.
            let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".sync") }
            #expect(left.isEmpty, "\(left)")
        }
    }
}
