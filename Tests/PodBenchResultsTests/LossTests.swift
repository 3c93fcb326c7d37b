import Foundation
import PodBenchCore
import PodBenchResults
import Testing

/// What a datagram case's results say about lost messages: absent for the stream channels, read
/// from the side that counts them, written the way the table and report show them.
@Suite("lost messages")
struct LossTests {
    static func trial(clientLost: UInt64?, serverLost: UInt64?, received: UInt64) -> TrialResult {
        let usage = CPUUsage(userNanoseconds: 1, systemNanoseconds: 1, voluntarySwitches: 0, involuntarySwitches: 0)
        return TrialResult(
            index: 0, messages: received, bytes: received * 64, elapsedNanoseconds: 1_000_000, latency: nil,
            latencySummary: nil,
            client: SideFigures(
                usage: usage, messages: received,
                integrity: IntegrityCounts(received: received, verified: received, lost: clientLost)),
            server: SideFigures(
                usage: usage, messages: received,
                integrity: IntegrityCounts(received: received, verified: received, lost: serverLost)))
    }

    @Test("the loss share sums over trials, from the client for pingpong and the receiver otherwise")
    func share() {
        let stream = CaseResult(
            key: CaseKey(transport: .udp, workload: .stream, messageSize: 64), status: .ok,
            trials: [
                Self.trial(clientLost: 0, serverLost: 10, received: 90),
                Self.trial(clientLost: 0, serverLost: 30, received: 70),
            ])
        #expect(CaseSummary(stream).lossFraction == 40.0 / 200.0)
        let pingpong = CaseResult(
            key: CaseKey(transport: .udp, workload: .pingpong, messageSize: 64), status: .ok,
            trials: [Self.trial(clientLost: 1, serverLost: 0, received: 99)])
        #expect(CaseSummary(pingpong).lossFraction == 0.01)
        let tcp = CaseResult(
            key: CaseKey(transport: .tcp, workload: .stream, messageSize: 64), status: .ok,
            trials: [Self.trial(clientLost: nil, serverLost: nil, received: 100)])
        #expect(CaseSummary(tcp).lossFraction == nil)
    }

    @Test("the loss share: exactly 0 at zero, to the thousandth of a percent below 1%, three digits above")
    func format() {
        #expect(Format.loss(0) == "0%")
        #expect(Format.loss(0.000_000_1) == "<0.001%")
        #expect(Format.loss(0.000_012_34) == "0.001%")
        #expect(Format.loss(0.000_099_9) == "0.010%")
        #expect(Format.loss(0.000_12) == "0.012%")
        #expect(Format.loss(0.000_149) == "0.015%")
        #expect(Format.loss(0.001_234) == "0.123%")
        #expect(Format.loss(0.009_99) == "0.999%")
        #expect(Format.loss(0.012_34) == "1.23%")
        #expect(Format.loss(0.744) == "74.4%")
        #expect(Format.loss(1) == "100%")
        #expect(Format.loss(.nan) == "-")
    }

    @Test("the counts are absent from a stream case's file and read back from a datagram case's")
    func onDisk() throws {
        let encoder = ResultsStore.encoder(pretty: false)
        let plain = String(decoding: try encoder.encode(IntegrityCounts(received: 5, verified: 5)), as: UTF8.self)
        #expect(!plain.contains("lost") && !plain.contains("reordered"))
        let counted = IntegrityCounts(received: 5, verified: 5, lost: 2, reordered: 1)
        let data = try encoder.encode(counted)
        #expect(try JSONDecoder().decode(IntegrityCounts.self, from: data) == counted)
    }
}
