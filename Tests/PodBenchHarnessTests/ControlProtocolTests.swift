import Foundation
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

@Suite("Control protocol")
struct ControlProtocolTests {
    func pair() throws -> (ControlConnection, SocketChannel) {
        let (a, b) = try socketPair()
        return (try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 2_000_000_000), b)
    }

    @Test("messages round-trip through frames")
    func roundTrip() throws {
        let (a, b) = try socketPair()
        let left = try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 2_000_000_000)
        let right = try ControlConnection(descriptor: b.descriptor, timeoutNanoseconds: 2_000_000_000)
        let spec = CaseSpec(transport: .udsAbstract, workload: .stream, messageSize: 4096, verifyEvery: 4)
        let messages: [ControlMessage] = [
            .hello(Hello(podbenchVersion: "1", serverCPU: 3)), .prepareCase(spec),
            .caseReady(endpoint: "tcp:127.0.0.1:9"),
            .startPhase(index: -1, warmup: true), .phaseReady, .endCase, .caseEnded, .bye, .shutdown,
            .failure(code: .unavailable, message: "no"),
            .phaseReport(
                ServerPhaseReport(
                    usage: CPUUsage(
                        userNanoseconds: 1, systemNanoseconds: 2, voluntarySwitches: 3, involuntarySwitches: 4),
                    integrity: IntegrityCounts(received: 9), errorCode: nil, error: nil, cpu: 1)),
        ]
        for message in messages {
            try left.send(message)
            #expect(try right.receive() == message)
        }
    }

    @Test("a frame of another protocol version gets a clear error, and the peer is told")
    func otherVersion() throws {
        let (connection, raw) = try pair()
        defer { raw.close() }
        let frame = try ControlConnection.encodeFrame(.bye, version: 99)
        try frame.withUnsafeBytes { try raw.sendAll($0) }
        #expect {
            try connection.receive()
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .protocolViolation && e!.message.contains("version 99")
        }
        // The peer got a failure frame explaining why.
        let peer = try ControlConnection(descriptor: raw.descriptor, timeoutNanoseconds: 1_000_000_000)
        guard case .failure(_, let text) = try peer.receive() else {
            Issue.record("expected a failure message")
            return
        }
        #expect(text.contains("same podbench version"))
    }

    @Test(
        "hostile bytes end in an error, never a crash or a huge allocation",
        arguments: [
            Array("GET / HTTP/1.1\r\n\r\n".utf8),
            Array("PBCT".utf8) + [2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F],  // 2 GiB body
            Array("PBCT".utf8) + [2, 0, 0, 0, 5, 0, 0, 0] + Array("{bad}".utf8),
            Array("PBCT".utf8) + [2, 0, 0, 0, 9, 0, 0, 0] + Array("{}".utf8),  // truncated body
            Array("PBCT".utf8) + [2, 0, 0, 0, 2, 0, 0, 0] + Array("{}".utf8),  // not a message
        ])
    func hostile(bytes: [UInt8]) throws {
        let (connection, raw) = try pair()
        try bytes.withUnsafeBytes { try raw.sendAll($0) }
        raw.descriptor.shutdownBoth()
        #expect(throws: PodBenchError.self) { try connection.receive() }
        raw.close()
    }

    @Test("a silent peer times out within the set time")
    func silentPeer() throws {
        let (a, b) = try socketPair()
        defer { b.close() }
        let connection = try ControlConnection(descriptor: a.descriptor, timeoutNanoseconds: 200_000_000)
        let start = MonotonicClock.now()
        #expect {
            try connection.receive()
        } throws: { ($0 as? PodBenchError)?.code == .timeout }
        #expect(MonotonicClock.now() - start < 3_000_000_000)
    }
}
