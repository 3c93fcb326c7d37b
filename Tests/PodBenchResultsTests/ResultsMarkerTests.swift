import Foundation
import PodBenchCore
import PodBenchResults
import Testing

@Suite("Results in pod logs, and what the namespaces prove")
struct ResultsMarkerTests {
    /// A results document as `client --print-results` prints it, inside a log of other lines.
    static func printed(_ run: RunResult, name: String = "20261122T000000Z-node-a.json") throws -> (String, Data) {
        let data = try ResultsStore.encoder(pretty: true).encode(run)
        var text = "podbench: 2 cases ...\n[1/2] tcp pingpong 64 ...\n"
        text += ResultsMarker.begin(name: name, bytes: data.count) + "\n"
        text += String(decoding: data, as: UTF8.self) + "\n" + ResultsMarker.end + "\n"
        return (text, data)
    }

    @Test("a document between the markers comes back whole, twice in one log too")
    func plain() throws {
        let run = ResultsStoreTests.sampleRun()
        let (text, data) = try Self.printed(run)
        let (second, _) = try Self.printed(run, name: "20261122T010000Z-node-b.json")
        let found = try ResultsMarker.extract(from: "noise\n" + text + "more noise\n" + second, source: "pod.log")
        #expect(found.map(\.name) == ["20261122T000000Z-node-a.json", "20261122T010000Z-node-b.json"])
        #expect(found[0].data == data + Data("\n".utf8) || found[0].data == data)
        #expect(found[0].run == run)
    }

    @Test("kubectl logs --prefix and --timestamps are taken off each line")
    func prefixes() throws {
        let run = ResultsStoreTests.sampleRun()
        let (text, _) = try Self.printed(run)
        let prefixed = text.split(separator: "\n").map { "[pod/podbench-0/client] " + $0 }.joined(separator: "\n")
        #expect(try ResultsMarker.extract(from: prefixed, source: "a").first?.run == run)
        var second = 0
        let stamped = text.split(separator: "\n").map { line -> String in
            second += 1
            return "2026-11-22T07:01:\(String(format: "%02d", second % 60)).123456789Z " + line
        }.joined(separator: "\n")
        #expect(try ResultsMarker.extract(from: stamped, source: "b").first?.run == run)
    }

    @Test("a log with no results gives none; a cut or damaged one is an error naming the file and line")
    func damaged() throws {
        #expect(try ResultsMarker.extract(from: "podbench serve: listening\n", source: "x").isEmpty)
        let (text, _) = try Self.printed(ResultsStoreTests.sampleRun())
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let cut = lines.prefix(lines.count / 2).joined(separator: "\n")
        #expect {
            try ResultsMarker.extract(from: cut, source: "pod.log")
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .incompatibleResults && e?.message.contains("pod.log:3") == true
                && e?.message.contains("cut off") == true
        }
        var missing = lines
        missing.remove(at: lines.count / 2)
        #expect {
            try ResultsMarker.extract(from: missing.joined(separator: "\n"), source: "pod.log")
        } throws: { error in
            (error as? PodBenchError)?.message.contains("lines were lost or changed") == true
        }
        #expect(throws: PodBenchError.self) {
            try ResultsMarker.extract(
                from: "=== podbench results begin x ===\n{}\n=== podbench results end ===", source: "y")
        }
    }

    static func environment(client: [String: UInt64], server: [String: UInt64], runtimes: (String, String))
        -> RunEnvironment
    {
        var a = HostEnvironment.probe()
        var b = a
        a.namespaces = client
        b.namespaces = server
        a.containerRuntime = runtimes.0
        b.containerRuntime = runtimes.1
        let pin = CPUPinning.Outcome(asked: nil, allowed: [0], observed: 0)
        return RunEnvironment(client: a, server: b, clientPinning: pin, serverPinning: pin, timerOverheadNanoseconds: 1)
    }

    @Test("'two containers, one pod' only with net, IPC, UTS shared, own mount and PID, both in containers")
    func topology() {
        let host: [String: UInt64] = ["cgroup": 1, "ipc": 2, "mnt": 3, "net": 4, "pid": 5, "user": 6, "uts": 7]
        var other = host
        other["mnt"] = 13
        other["pid"] = 15
        #expect(
            Self.environment(client: host, server: other, runtimes: ("podman", "podman")).topology
                == "two containers, one pod")
        #expect(
            Self.environment(client: host, server: other, runtimes: ("none", "podman")).topology.hasPrefix(
                "a pod's split"))
        #expect(
            Self.environment(client: host, server: host, runtimes: ("podman", "podman")).topology
                == "two processes in the same namespaces")
        // A pod that shares its process namespace (pidfd-pipe, signal): said so; not in containers, not a pod.
        var sharingPID = other
        sharingPID["pid"] = 5
        #expect(
            Self.environment(client: host, server: sharingPID, runtimes: ("podman", "podman")).topology
                == "two containers, one pod sharing its process namespace")
        #expect(
            Self.environment(client: host, server: sharingPID, runtimes: ("none", "none")).topology
                == "two processes, separate mnt")
        var apart = other
        apart["net"] = 14
        #expect(
            Self.environment(client: host, server: apart, runtimes: ("podman", "podman")).topology.contains(
                "separate network"))
        var ownUTS = other
        ownUTS["uts"] = 17
        #expect(
            Self.environment(client: host, server: ownUTS, runtimes: ("docker", "docker")).topology
                == "two processes, separate mnt, pid, uts")
    }
}

@Suite("The knee's rule")
struct KneeRuleTests {
    @Test("kept up and p99 within twice the best so far: admitted; under 95% delivered or p99 doubled: the knee")
    func rule() {
        var rule = KneeRule()
        var admitted: [Bool] = []
        admitted.append(rule.admit(offered: 1000, achieved: 1000, p99: 50_000))
        admitted.append(rule.admit(offered: 4000, achieved: 3990, p99: 20_000))
        #expect(rule.bestP99 == 20_000)
        admitted.append(rule.admit(offered: 16000, achieved: 15200, p99: 40_000))  // exactly 95%, exactly 2×
        admitted.append(rule.admit(offered: 64000, achieved: 60000, p99: 30_000))  // 93.75% delivered
        admitted.append(rule.admit(offered: 64000, achieved: 64000, p99: 40_001))  // over 2× the best
        admitted.append(rule.admit(offered: 64000, achieved: 64000, p99: nil))  // no tail measured
        #expect(admitted == [true, true, true, false, false, false])
        var fresh = KneeRule()
        let first = fresh.admit(offered: 1000, achieved: 1000, p99: nil)
        #expect(first)  // the first point sets no bound
        #expect(KneeRule.keptUp(offered: 100, achieved: 95) && !KneeRule.keptUp(offered: 100, achieved: 94.9))
    }
}
