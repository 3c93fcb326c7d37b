import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Synchronization
import Testing

@testable import PodBenchHarness

@Suite("hops in the matrix")
struct HopTests {
    @Test("each case of the hop's transport runs direct, then through the hop; others once; the key names the hop")
    func expansion() throws {
        let hop = MatrixRunner.Hop(via: "unix:/tmp/a.sock", listen: "tcp:127.0.0.1:9001", name: "socat")
        #expect(hop.transport == .tcp)
        let specs = MatrixRunner.cases(
            transports: [.tcp, .uds], workloads: [.pingpong, .rate], sizes: [64], options: TransportOptions(),
            verifyEvery: 1, corruptSequence: nil, rates: [1000, 2000], hops: [hop])
        // tcp: pingpong, rate 1k, rate 2k, each twice; uds: three once.
        #expect(specs.count == 3 * 2 + 3)
        let tcp = specs.filter { $0.transport == .tcp }
        for pair in stride(from: 0, to: tcp.count, by: 2) {
            #expect(tcp[pair].options.via == nil)
            #expect(tcp[pair + 1].options.via == "unix:/tmp/a.sock")
            #expect(tcp[pair + 1].options.listen == "tcp:127.0.0.1:9001")
            #expect(try tcp[pair + 1].key().hop?.name == "socat" && tcp[pair + 1].key().hop?.entry.rawValue == "uds")
            #expect(try tcp[pair].key().hop?.name == nil)
            #expect(tcp[pair].messagesPerSecond == tcp[pair + 1].messagesPerSecond)
            try tcp[pair + 1].validate()
        }
        #expect(specs.filter { $0.transport == .uds }.allSatisfy { $0.options.via == nil })
    }

    @Test("with several hops each case runs direct, then through each hop in order, each named in its key")
    func severalHops() throws {
        let tcpMode = MatrixRunner.Hop(via: "tcp:127.0.0.1:9100", listen: "tcp:127.0.0.1:9001", name: "nginx-tcp")
        let httpMode = MatrixRunner.Hop(via: "tcp:127.0.0.1:9200", listen: "tcp:127.0.0.1:9001", name: "nginx-http")
        let specs = MatrixRunner.cases(
            transports: [.tcp, .uds], workloads: [.http1], sizes: [64, 1024], options: TransportOptions(),
            verifyEvery: 1, corruptSequence: nil, hops: [tcpMode, httpMode])
        let names = try specs.map { "\($0.transport.rawValue) \($0.messageSize) \(try $0.key().hop?.name ?? "direct")" }
        #expect(
            names == [
                "tcp 64 direct", "tcp 64 nginx-tcp", "tcp 64 nginx-http", "tcp 1024 direct", "tcp 1024 nginx-tcp",
                "tcp 1024 nginx-http", "uds 64 direct", "uds 1024 direct",
            ])
        #expect(specs[1].options.via == "tcp:127.0.0.1:9100" && specs[2].options.via == "tcp:127.0.0.1:9200")
        #expect(Set(try specs.map { try $0.key() }).count == specs.count)
    }

    @Test("a hop's spec is refused when the target does not match the server's transport or is missing")
    func refused() throws {
        var spec = CaseSpec(transport: .uds, workload: .pingpong, messageSize: 64)
        spec.options.via = "tcp:127.0.0.1:9000"
        spec.options.listen = "tcp:127.0.0.1:9001"
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.transport = .shm
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.transport = .tcp
        try spec.validate()
        spec.options.listen = nil
        #expect(throws: PodBenchError.self) { try spec.validate() }
    }

    @Test("a hop's server side may be a directory of connections: file, fifo, shm; relative or mismatched ones refused")
    func directoryTargets() throws {
        for (target, kind) in [
            ("shm:/dev/shm/podbench-out", TransportKind.shm), ("file:/shared/out", .file), ("fifo:/shared/out", .fifo),
        ] {
            let hop = MatrixRunner.Hop(
                via: "tcp:127.0.0.1:9000", listen: try HopEndpoint(parsing: target), name: "relay")
            #expect(hop.transport == kind)
            let specs = MatrixRunner.cases(
                transports: [kind], workloads: [.pingpong], sizes: [64], options: TransportOptions(), verifyEvery: 1,
                corruptSequence: nil, rates: [], hops: [hop])
            #expect(specs.count == 2)
            #expect(try specs[1].options.listen?.description == target && specs[1].key().hop?.entry.rawValue == "tcp")
            try specs[1].validate()
        }
        var spec = CaseSpec(transport: .shm, workload: .pingpong, messageSize: 64)
        spec.options.via = "fifo:/shared/in"
        spec.options.listen = "file:/shared/out"
        #expect(throws: PodBenchError.self) { try spec.validate() }
        spec.options.listen = "shm:/dev/shm/out"
        try spec.validate()
        #expect(try spec.key().hop?.entry.rawValue == "fifo")
        #expect(throws: PodBenchError.self) { try HopEndpoint(parsing: "shm:relative/dir") }
        #expect(throws: PodBenchError.self) { try HopEndpoint(parsing: "file:") }
        spec.transport = .uringTCP
        spec.options.listen = "tcp:127.0.0.1:9001"
        #expect(throws: PodBenchError.self) { try spec.validate() }
    }

    @Test("run's relay forwards to the first transport asked for that a relay can reach")
    func relayOutbound() throws {
        #expect(try RelayLauncher.outbound(for: [.uringTCP, .shm, .tcp]) == .shm)
        #expect(try RelayLauncher.outbound(for: [.uds, .file]) == .uds)
        #expect {
            try RelayLauncher.outbound(for: [.uringTCP, .uringFile])
        } throws: {
            ($0 as? PodBenchError)?.message.contains("tcp, tcp6, uds, uds-abstract, file, fifo or shm") == true
        }
    }

    @Test("a FIFO client returns only once the server holds both ends: an immediate read waits for data, not EOF")
    func fifoHandshake() throws {
        let directory = NSTemporaryDirectory() + "podbench-fifo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try FIFOTransport.listen(directory: directory, name: "podbench-test")
        let accepted = Thread {
            usleep(100_000)  // the server is slow to accept: the client must not read before it
            guard let server = try? listener.accept(timeoutNanoseconds: 2_000_000_000) else { return }
            usleep(50_000)
            try? ([7, 8, 9] as [UInt8]).withUnsafeBytes { try server.sendAll($0) }
            server.close()
        }
        accepted.start()
        let client = try FIFOTransport.connect(base: listener.base, timeoutNanoseconds: 2_000_000_000)
        defer { client.close() }
        #expect(access(listener.base + ".s2c", F_OK) != 0, "the server took the pair before connect returned")
        var buffer = [UInt8](repeating: 0, count: 8)
        #expect(try buffer.withUnsafeMutableBytes { try client.receiveSome(into: $0) } == 3)
        #expect(buffer.prefix(3) == [7, 8, 9])
    }

    @Test("a FIFO server that reads right after accept waits for the client's first bytes, not EOF")
    func fifoServerFirstRead() throws {
        let directory = NSTemporaryDirectory() + "podbench-fifo-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The server takes the pair as soon as the client's reading end is open; the client's
        // writing end must be open by then, every time.
        for round in 0..<20 {
            let listener = try FIFOTransport.listen(directory: directory, name: "podbench-\(round)")
            let received = Mutex<[UInt8]?>(nil)
            let server = Thread {
                guard let channel = try? listener.accept(timeoutNanoseconds: 2_000_000_000) else { return }
                defer { channel.close() }
                var buffer = [UInt8](repeating: 0, count: 8)
                let n = try? buffer.withUnsafeMutableBytes { try channel.receiveSome(into: $0) }
                received.withLock { $0 = n.map { Array(buffer.prefix($0)) } }
            }
            server.start()
            let client = try FIFOTransport.connect(base: listener.base, timeoutNanoseconds: 2_000_000_000)
            usleep(20_000)
            try ([UInt8(round)] as [UInt8]).withUnsafeBytes { try client.sendAll($0) }
            let deadline = MonotonicClock.now() + 2_000_000_000
            while received.withLock({ $0 }) == nil && MonotonicClock.now() < deadline { usleep(1000) }
            client.close()
            #expect(received.withLock { $0 } == [UInt8(round)], "round \(round): the server read end of stream")
        }
    }

    @Test("a proxy's own CPU from /proc: threads' run time split by their ticks, switches summed, threads come and go")
    func processAccounting() throws {
        // A command name with spaces and a parenthesis must not shift the fields.
        let stat = "4242 (ha proxy) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 30 10 0 0 20 0 1 0 5 0 0"
        let status = "Name:\tha\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n"
        let thread = try #require(
            ProcessAccounting.thread(schedstat: "400000000 5 9\n", stat: stat, status: status))
        #expect(thread.runNanoseconds == 400_000_000 && thread.userTicks == 30 && thread.systemTicks == 10)
        #expect(thread.voluntarySwitches == 120 && thread.involuntarySwitches == 7)
        #expect(ProcessAccounting.thread(schedstat: "x", stat: stat, status: status) == nil)
        #expect(ProcessAccounting.thread(schedstat: "1 2 3", stat: "4242 (cut", status: status) == nil)

        var later = thread
        later.runNanoseconds += 1_000_000
        later.userTicks += 3
        later.systemTicks += 1
        later.voluntarySwitches += 10
        var newcomer = thread
        newcomer.runNanoseconds = 500_000
        newcomer.userTicks = 0
        newcomer.systemTicks = 0
        newcomer.voluntarySwitches = 2
        newcomer.involuntarySwitches = 0
        let usage = ProcessAccounting.usage(from: [1: thread, 9: thread], to: [1: later, 2: newcomer])
        // Thread 1: 1 ms split 3:1; thread 2 (new, no ticks yet): all user; thread 9 ended: lost.
        #expect(usage.userNanoseconds == 750_000 + 500_000)
        #expect(usage.systemNanoseconds == 250_000)
        #expect(usage.voluntarySwitches == 10 + 2 && usage.involuntarySwitches == 0)
    }

    @Test("pid:PID reads this very process: the CPU a busy thread burns shows up")
    func processAccountingLive() throws {
        let source = try HopStatsSource(parsing: "pid:\(getpid())")
        let before = try source.read(timeoutNanoseconds: 1_000_000_000)
        // 50 ms of this thread's own CPU time, however long a busy machine takes to give it.
        let start = CPUUsage.currentThread()
        var x: UInt64 = 1
        func burnt() -> UInt64 {
            let usage = CPUUsage.currentThread().since(start)
            return usage.userNanoseconds + usage.systemNanoseconds
        }
        while burnt() < 50_000_000 {
            for _ in 0..<10_000 { x = x &* 6_364_136_223_846_793_005 &+ 1 }
        }
        #expect(x != 0)
        let usage = try source.read(timeoutNanoseconds: 1_000_000_000).since(before)
        // The process's figure holds the thread's (user and system split by ticks: a margin).
        #expect(usage.userNanoseconds + usage.systemNanoseconds >= 40_000_000)
        #expect(throws: PodBenchError.self) { try HopStatsSource(parsing: "pid:0") }
        #expect(throws: PodBenchError.self) { try HopStatsSource(parsing: "pid:2147483646") }
    }
}
