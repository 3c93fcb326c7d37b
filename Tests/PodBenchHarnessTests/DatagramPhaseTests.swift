import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// What the workloads do over a datagram channel: losses and reordering counted, never errors or
/// hangs; left-overs of an earlier phase dropped; a short, long or foreign datagram refused.
@Suite("datagram phases")
struct DatagramPhaseTests {
    static func frame(sequence: UInt64, payload: Int = 8, kind: FrameHeader.Kind = .data, timestamp: UInt64)
        -> [UInt8]
    {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size + payload)
        let writer = FrameWriter(payloadLength: payload, seed: 9)
        defer { writer.deallocate() }
        let built = writer.prepare(sequence: sequence, timestamp: timestamp)
        bytes.withUnsafeMutableBytes { $0.copyMemory(from: built) }
        if kind != .data {
            bytes.withUnsafeMutableBytes {
                FrameHeader(payloadLength: 0, kind: kind, sequence: sequence, checksum: 0, timestamp: timestamp)
                    .write(to: $0.baseAddress!)
            }
            return Array(bytes.prefix(FrameHeader.size))
        }
        return bytes
    }

    @Test("the checker counts gaps as lost and steps back as reordered; more than was sent is still an error")
    func checker() {
        let frames = [0, 1, 3, 2, 5].map { Self.frame(sequence: $0, timestamp: 1) }
        var checker = IntegrityChecker(payloadLength: 8, verifyEvery: 1, datagrams: true)
        for bytes in frames {
            bytes.withUnsafeBytes { checker.check(FrameHeader.read(from: $0.baseAddress!)!, frame: $0) }
        }
        checker.checkEnd(sentCount: 6)
        #expect(checker.counts.received == 5 && checker.counts.verified == 5)
        #expect(checker.counts.lost == 1 && checker.counts.reordered == 1)
        #expect(!checker.counts.hasErrors)

        var more = IntegrityChecker(payloadLength: 8, verifyEvery: 1, datagrams: true)
        for bytes in frames {
            bytes.withUnsafeBytes { more.check(FrameHeader.read(from: $0.baseAddress!)!, frame: $0) }
        }
        more.checkEnd(sentCount: 4)
        #expect(more.counts.hasErrors)
        // A message numbered past what the sender says it sent is an error, whatever the counts.
        var past = IntegrityChecker(payloadLength: 8, verifyEvery: 1, datagrams: true)
        for bytes in [0, 7].map({ Self.frame(sequence: $0, timestamp: 1) }) {
            bytes.withUnsafeBytes { past.check(FrameHeader.read(from: $0.baseAddress!)!, frame: $0) }
        }
        past.checkEnd(sentCount: 5)
        #expect(past.counts.hasErrors)
        #expect(past.counts.firstError?.contains("message 7 arrived, but the sender says it sent 5") == true)

        // A stream channel's checker is unchanged: the same frames are errors, and nothing is "lost".
        var stream = IntegrityChecker(payloadLength: 8, verifyEvery: 1)
        for bytes in frames {
            bytes.withUnsafeBytes { stream.check(FrameHeader.read(from: $0.baseAddress!)!, frame: $0) }
        }
        #expect(stream.counts.outOfSequence == 3 && stream.counts.lost == nil)
        #expect(stream.counts.firstError == "expected message 2, got 3 (lost or reordered)")
    }

    @Test("a frame reader drops what is older than its phase, and refuses datagrams that are not one frame")
    func reader() throws {
        let (a, b) = try datagramPair()
        defer {
            a.close()
            b.close()
        }
        var reader = FrameReader(channel: b, maximumPayload: 8)
        defer { reader.deallocate() }
        func send(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try a.sendAll($0) } }
        try send(Self.frame(sequence: 0, timestamp: 10))  // an earlier phase's
        try send(Self.frame(sequence: 1, timestamp: 100))
        let (header, frame) = try reader.next(from: b, since: 50)
        #expect(header.sequence == 1 && frame.count == FrameHeader.size + 8)

        for (bytes, words) in [
            (Array(Self.frame(sequence: 2, timestamp: 100).dropLast()), "says 8 payload bytes"),
            (Self.frame(sequence: 2, payload: 16, timestamp: 100), "at most 8"),
            ([UInt8](repeating: 7, count: 12), "a datagram of 12 bytes is not a frame"),
        ] {
            try send(bytes)
            #expect {
                _ = try reader.next(from: b, since: 50)
            } throws: { ($0 as? PodBenchError)?.code == .protocolViolation && "\($0)".contains(words) }
        }
        // The peer's goodbye ends the phase at once, whenever it was stamped.
        a.shutdown()
        #expect { _ = try reader.next(from: b, since: 50) } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
    }

    /// A datagram peer in memory: whatever `answer` gives for each frame sent is what the client
    /// receives next, in order; with nothing queued a receive is the loss deadline passing.
    final class ScriptedPeer: DataChannel, @unchecked Sendable {
        static var isDatagram: Bool { true }
        let answer: (FrameHeader, UnsafeRawBufferPointer) -> [[UInt8]]
        var queue: [[UInt8]] = []

        init(answer: @escaping (FrameHeader, UnsafeRawBufferPointer) -> [[UInt8]]) { self.answer = answer }

        func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
            queue += answer(FrameHeader.read(from: bytes.baseAddress!)!, bytes)
        }

        func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard !queue.isEmpty else {
                usleep(1000)
                throw PodBenchError(.timeout, "nothing came within the deadline")
            }
            let next = queue.removeFirst()
            next.withUnsafeBytes { buffer.copyMemory(from: $0) }
            return next.count
        }

        func shutdown() {}
        func close() {}
    }

    /// Runs pingpong's client against `peer`; its figures, or what it threw.
    static func pingPong(
        against peer: ScriptedPeer, payload: Int, plan: PhasePlan, peerTimeoutNanoseconds: UInt64 = 5_000_000_000
    ) throws -> (messages: UInt64, recorded: UInt64, counts: IntegrityCounts) {
        var reader = FrameReader(channel: peer, maximumPayload: payload)
        let writer = FrameWriter(payloadLength: payload, seed: 3)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        var checker = IntegrityChecker(payloadLength: payload, verifyEvery: 1, datagrams: true)
        let outcome = try PingPongWorkload.client(
            reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan,
            peerTimeoutNanoseconds: peerTimeoutNanoseconds)
        return (outcome.messages, histogram.totalCount, checker.counts)
    }

    /// An end of trial's acknowledgement.
    static func acknowledgement(of header: FrameHeader) -> [UInt8] {
        frame(sequence: header.sequence, kind: .endAcknowledged, timestamp: MonotonicClock.now())
    }

    @Test("pingpong counts a round trip without an echo as lost, drops its late echo, and ends acknowledged")
    func lossyPingPong() throws {
        // Every fifth message is lost, and its echo comes late, ahead of the next one's.
        var late: [UInt8]?
        let peer = ScriptedPeer { header, bytes in
            if header.kind == .endOfTrial { return [Self.acknowledgement(of: header)] }
            if header.sequence % 5 == 4 {
                late = Array(bytes)
                return []
            }
            defer { late = nil }
            return (late.map { [$0] } ?? []) + [Array(bytes)]
        }
        let result = try Self.pingPong(
            against: peer, payload: 64, plan: PhasePlan(durationNanoseconds: 0, messageLimit: 50))
        #expect(result.messages == 40 && result.recorded == 40)
        #expect(result.counts.received == 40 && result.counts.lost == 10)
        #expect(!result.counts.hasErrors, "\(result.counts.firstError ?? "")")
    }

    @Test("an echo of a message never sent is a protocol violation, not a loss")
    func echoFromTheFuture() throws {
        let peer = ScriptedPeer { header, _ in
            [Self.frame(sequence: header.sequence + 3, timestamp: header.timestamp)]
        }
        #expect {
            _ = try Self.pingPong(against: peer, payload: 8, plan: PhasePlan(durationNanoseconds: 0, messageLimit: 10))
        } throws: { ($0 as? PodBenchError)?.code == .protocolViolation && "\($0)".contains("never sent") }
    }

    @Test("pingpong against a server that never answers gives up after the peer timeout, not before")
    func silentServer() throws {
        let start = MonotonicClock.now()
        #expect {
            _ = try Self.pingPong(
                against: ScriptedPeer { _, _ in [] }, payload: 8,
                plan: PhasePlan(durationNanoseconds: 10_000_000_000, messageLimit: nil),
                peerTimeoutNanoseconds: 50_000_000)
        } throws: { ($0 as? PodBenchError)?.code == .timeout && "\($0)".contains("the server is silent") }
        // Not before the peer timeout: each silent wait is one loss, until 50 ms of silence.
        #expect(MonotonicClock.now() - start >= 50_000_000)
    }
}
