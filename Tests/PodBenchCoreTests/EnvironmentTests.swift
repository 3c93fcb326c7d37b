import Foundation
import PodBenchCore
import Testing

@Suite("Environment probe, CPU accounting and pinning")
struct EnvironmentTests {
    @Test("the probe reports this machine")
    func probe() {
        let e = HostEnvironment.probe()
        #expect(!e.kernelRelease.isEmpty)
        #expect(!e.hostname.isEmpty)
        #expect(e.onlineCPUs >= 1)
        #expect(!e.allowedCPUs.isEmpty)
        #expect(e.allowedCPUs.allSatisfy { $0 >= 0 })
        // Every Linux process has these namespaces; their identities are inodes.
        for kind in ["ipc", "mnt", "net", "pid", "uts"] {
            #expect((e.namespaces[kind] ?? 0) > 0, "namespace \(kind)")
        }
        #expect(["v1", "v2", "hybrid", "none"].contains(e.cgroupVersion))
        #expect(e.seccompMode != nil)
        #expect(!e.ioURingReason.isEmpty)
        #expect(e.processID > 0)
    }

    @Test("two probes in one process see the same namespaces")
    func namespacesStable() {
        #expect(HostEnvironment.probe().namespaces == HostEnvironment.probe().namespaces)
    }

    @Test("thread CPU time grows with work and never goes backwards")
    func cpuUsage() {
        let before = CPUUsage.currentThread()
        var x: UInt64 = 1
        var previous = before
        var used = CPUUsage.zero
        let start = MonotonicClock.now()
        // Spin until 20 ms of CPU were charged to this thread (bounded: a loaded machine may give
        // the thread only a share of the wall-clock time).
        while used.userNanoseconds + used.systemNanoseconds < 20_000_000
            && MonotonicClock.now() - start < 10_000_000_000
        {
            for _ in 0..<100_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
            let now = CPUUsage.currentThread()
            #expect(now.userNanoseconds >= previous.userNanoseconds)
            #expect(now.systemNanoseconds >= previous.systemNanoseconds)
            previous = now
            used = now.since(before)
        }
        #expect(x != 0)
        #expect(used.userNanoseconds + used.systemNanoseconds >= 20_000_000)
    }

    @Test("pinning to an allowed CPU is reported as asked and got; a missing CPU is an error")
    func pinning() throws {
        let allowed = CPUPinning.allowedCPUs()
        let target = try #require(allowed.last)
        let outcome = try CPUPinning.pinCurrentThread(to: target)
        defer { try? CPUPinning.allow(allowed) }
        #expect(outcome.asked == target)
        #expect(outcome.allowed == [target])
        #expect(outcome.observed == target)
        #expect(throws: PodBenchError.self) { try CPUPinning.pinCurrentThread(to: 100_000) }
        // Give the test thread its CPUs back.
        try CPUPinning.allow(allowed)
        #expect(CPUPinning.allowedCPUs() == allowed)
    }

    @Test("CPU lists format as ranges")
    func cpuList() {
        #expect(CPUPinning.formatList([0, 1, 2, 3, 6, 8, 9]) == "0-3,6,8-9")
        #expect(CPUPinning.formatList([]) == "")
    }

    @Test("the monotonic clock advances and its overhead is measured")
    func clock() {
        let a = MonotonicClock.now()
        let b = MonotonicClock.now()
        #expect(b >= a)
        #expect(MonotonicClock.measureOverhead(samples: 1001) < 1_000_000)
    }
}

@Suite("a thread's CPU time")
struct CPUUsageTests {
    @Test("a difference has the thread clock's total, split as getrusage splits it")
    func split() {
        func reading(_ user: UInt64, _ system: UInt64, clock: UInt64) -> CPUUsage {
            var r = CPUUsage(
                userNanoseconds: user, systemNanoseconds: system, voluntarySwitches: 0, involuntarySwitches: 0)
            r.threadClockNanoseconds = clock
            return r
        }
        // getrusage saw 300 of system time and none of user time; the clock says 600 were used.
        let used = reading(100, 300, clock: 1600).since(reading(100, 0, clock: 1000))
        #expect(used.userNanoseconds == 0 && used.systemNanoseconds == 600)
        // getrusage saw nothing (no scheduler update in between): all of the clock's time is user.
        let unseen = reading(100, 0, clock: 5000).since(reading(100, 0, clock: 1000))
        #expect(unseen.userNanoseconds == 4000 && unseen.systemNanoseconds == 0)
        let mixed = reading(400, 200, clock: 1900).since(reading(100, 100, clock: 1000))
        #expect(mixed.userNanoseconds == 675 && mixed.systemNanoseconds == 225)
        // Without a clock (figures from /proc), getrusage's differences as they are.
        let plain = reading(400, 200, clock: 0).since(reading(100, 100, clock: 0))
        #expect(plain.userNanoseconds == 300 && plain.systemNanoseconds == 100)
        var paced = mixed
        paced.remove(700)
        #expect(paced.userNanoseconds == 0 && paced.systemNanoseconds == 225)
    }

    @Test("the thread clock counts work the thread did, and the encoded form leaves it out")
    func realThread() throws {
        let before = CPUUsage.currentThread()
        let start = MonotonicClock.now()
        var x: UInt64 = 1
        while MonotonicClock.now() - start < 20_000_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        let used = CPUUsage.currentThread().since(before)
        let wall = MonotonicClock.now() - start
        #expect(x != 0)
        // Spinning for 20 ms of wall time: CPU time can be less (preempted on a busy machine), never more.
        #expect(used.userNanoseconds + used.systemNanoseconds > 0)
        #expect(used.userNanoseconds + used.systemNanoseconds <= wall + 1_000_000)
        let encoded = try JSONEncoder().encode(before)
        #expect(!String(decoding: encoded, as: UTF8.self).contains("threadClock"))
        #expect(try JSONDecoder().decode(CPUUsage.self, from: encoded).threadClockNanoseconds == 0)
    }
}
