import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// A server and a client in one test process, on threads: the protocol and the workloads as a
/// whole. (End-to-end tests run them as two real processes.)
@Suite("Server and client session")
struct SessionTests {
    static func withSession(_ body: (BenchmarkClient) throws -> Void) throws {
        let name = "podbench-test-\(UUID().uuidString.prefix(8))"
        let tokenFile = NSTemporaryDirectory() + "/\(name).token"
        defer { unlink(tokenFile) }
        let server = BenchmarkServer(
            configuration: .init(
                control: .unixAbstract(name), sharedDirectory: NSTemporaryDirectory(),
                peerTimeoutNanoseconds: 5_000_000_000,
                cpu: nil, token: try ControlToken.loadOrCreate(path: tokenFile).token),
            log: { _ in })
        try server.bind()
        let serving = Background { try server.serve() }
        let client = BenchmarkClient(
            configuration: .init(
                control: .unixAbstract(name), trials: 2,
                warmup: PhasePlan(durationNanoseconds: 0, messageLimit: nil),
                trial: PhasePlan(durationNanoseconds: 0, messageLimit: 50), peerTimeoutNanoseconds: 5_000_000_000,
                clientCPU: nil, serverCPU: nil, connectWaitNanoseconds: 2_000_000_000, tokenFile: tokenFile),
            log: { _ in })
        try client.start()
        defer {
            client.finish(shutdown: true)
            try? serving.wait()
        }
        try body(client)
    }

    @Test(
        "every transport and workload runs clean",
        arguments: TransportKind.allCases, WorkloadKind.allCases)
    func clean(transport: TransportKind, workload: WorkloadKind) throws {
        // A datagram carries at most one message: the largest size it takes, and a larger one is
        // refused with the reason (docs/datagrams.md).
        let most = TransportCatalog.transport(transport).maximumPayload(TransportOptions())
        try Self.withSession { client in
            // A MiB through `signal` is 131,072 signals each way per message (SignalTests and the
            // end-to-end test carry it); here its small sizes.
            let sizes = transport == .signal ? [1, 4096] : [1, 4096, 1 << 20, most].compactMap { $0 }
            for size in sizes {
                let result = try client.runCase(
                    CaseSpec(
                        transport: transport, workload: workload, messageSize: size, verifyEvery: 1,
                        messagesPerSecond: workload.isOpenLoop ? 50_000 : nil))
                if !workload.runs(on: transport) {
                    // The server refuses it (run does not make such a case).
                    #expect(result.status == .failed, "\(result.error ?? "")")
                    #expect(result.error?.contains("speaks HTTP") == true, "\(result.error ?? "")")
                    break
                }
                if let most, size > most {
                    #expect(result.status == .unavailable, "\(result.error ?? "")")
                    #expect(result.error?.contains("carries at most \(most) payload bytes") == true)
                    continue
                }
                #expect(result.status == .ok, "\(result.error ?? "")")
                #expect(result.trials.count == 2)
                for trial in result.trials {
                    let receiver = workload.measuresRoundTrip ? trial.client.integrity : trial.server.integrity
                    // UDP drops what a full receive buffer cannot hold (50 messages sent at once
                    // overrun it at 4 KiB), and any datagram channel counts an echo later than its
                    // deadline lost (a busy machine under a sanitizer): what arrived and what was
                    // lost make up what was sent, and the figures count only what arrived. Streams
                    // never lose.
                    let datagrams = transport.carriesDatagrams
                    let delivered = datagrams ? receiver.received : 50
                    #expect(delivered > 0)
                    #expect(trial.messages == delivered)
                    #expect(trial.bytes == delivered * UInt64(size))
                    #expect(receiver.received == delivered && receiver.verified == delivered)
                    if workload.measuresRoundTrip {
                        #expect(trial.server.integrity.received >= delivered)
                    } else {
                        #expect(trial.server.integrity.received == delivered)
                    }
                    #expect(receiver.lost == (datagrams ? 50 - delivered : nil))
                    #expect((trial.latencySummary != nil) == workload.measuresRoundTrip)
                    if let latency = trial.latency { #expect(try latency.decode().totalCount == delivered) }
                }
            }
        }
    }

    @Test(
        "a corrupted message fails its case with an integrity error, whichever side finds it; the next case runs clean",
        arguments: [TransportKind.tcp, .file, .shm, .fifo], WorkloadKind.allCases)
    func corruption(transport: TransportKind, workload: WorkloadKind) throws {
        // HTTP runs over the sockets only (the refusal is in `clean`).
        if !workload.runs(on: transport) { return }
        try Self.withSession { client in
            let bad = try client.runCase(
                CaseSpec(
                    transport: transport, workload: workload, messageSize: 256, verifyEvery: 1, corruptSequence: 7,
                    messagesPerSecond: workload.isOpenLoop ? 50_000 : nil))
            #expect(bad.status == .failed)
            #expect(bad.errorCode == "integrityFailure", "\(bad.error ?? "")")
            // http1: "the response to request 7 failed its payload checksum"; http2: "the answer to
            // request 7 (POST /podbench/echo, stream 15) is not its body echoed".
            #expect(
                bad.error?.contains(workload.speaksHTTP2 ? "request 7 (POST" : " 7 failed its payload checksum")
                    == true,
                "\(bad.error ?? "")")
            let good = try client.runCase(
                CaseSpec(
                    transport: transport, workload: workload, messageSize: 256, verifyEvery: 1,
                    messagesPerSecond: workload.isOpenLoop ? 50_000 : nil))
            #expect(good.status == .ok)
        }
    }

    @Test("a case the server cannot set up fails alone")
    func badCase() throws {
        try Self.withSession { client in
            let result = try client.runCase(CaseSpec(transport: .tcp, workload: .pingpong, messageSize: 0))
            #expect(result.status == .failed)
            #expect(result.error?.contains("outside 1 byte") == true)
            #expect(try client.runCase(CaseSpec(transport: .uds, workload: .pingpong, messageSize: 8)).status == .ok)
        }
    }
}

@Suite("the run's clock")
struct RunClockTests {
    @Test("elapsed and left: the plan before any case has finished, the mean of finished cases after")
    func estimates() {
        let clock = RunClock(total: 4, plannedNanosecondsPerCase: 10e9, now: 0)
        #expect(clock.status(now: 0) == "0:00 elapsed, about 0:40 left")
        #expect(clock.status(now: 4_000_000_000) == "0:04 elapsed, about 0:36 left")
        clock.finished(now: 20_000_000_000)
        // One case took 20 s: three more at that pace, less what the next has run already.
        #expect(clock.status(now: 20_000_000_000) == "0:20 elapsed, about 1:00 left")
        #expect(clock.status(now: 25_000_000_000) == "0:25 elapsed, about 0:55 left")
        #expect(RunClock.clock(3_723e9) == "1:02:03" && RunClock.clock(-5) == "0:00")
        #expect(clock.label(2).hasPrefix("[2/4, "))
    }
}
