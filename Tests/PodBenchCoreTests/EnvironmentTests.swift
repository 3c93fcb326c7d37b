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
