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

    /// Echoes what it is sent in memory, losing every fifth message and then delivering the lost
    /// one's echo late, ahead of the next; acknowledges an end of trial.
    final class LossyEcho: DataChannel, @unchecked Sendable {
        static var isDatagram: Bool { true }
        var queue: [[UInt8]] = []
        var lostLast: [UInt8]?

        func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
            let header = FrameHeader.read(from: bytes.baseAddress!)!
            switch header.kind {
            case .endOfTrial:
                queue.append(
                    DatagramPhaseTests.frame(
                        sequence: header.sequence, kind: .endAcknowledged, timestamp: MonotonicClock.now()))
            case .data where header.sequence % 5 == 4:
                lostLast = Array(bytes)
            default:
                if let late = lostLast {
                    queue.append(late)
                    lostLast = nil
                }
                queue.append(Array(bytes))
            }
        }

        func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard !queue.isEmpty else { throw PodBenchError(.timeout, "nothing came within the deadline") }
            let next = queue.removeFirst()
            buffer.copyMemory(from: UnsafeRawBufferPointer(start: next, count: next.count))
            return next.count
        }

        func shutdown() {}
        func close() {}
    }

    @Test("pingpong counts a round trip without an echo as lost, drops its late echo, and ends acknowledged")
    func lossyPingPong() throws {
        var reader = FrameReader(channel: LossyEcho(), maximumPayload: 64)
        let writer = FrameWriter(payloadLength: 64, seed: 3)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        var checker = IntegrityChecker(payloadLength: 64, verifyEvery: 1, datagrams: true)
        let outcome = try PingPongWorkload.client(
            reader: &reader, writer: writer, checker: &checker, histogram: &histogram,
            plan: PhasePlan(durationNanoseconds: 0, messageLimit: 50), peerTimeoutNanoseconds: 5_000_000_000)
        #expect(outcome.messages == 40)
        #expect(histogram.totalCount == 40)
        #expect(checker.counts.received == 40 && checker.counts.lost == 10)
        #expect(!checker.counts.hasErrors, "\(checker.counts.firstError ?? "")")
    }

    @Test("an echo of a message never sent is a protocol violation, not a loss")
    func echoFromTheFuture() throws {
        final class Ahead: DataChannel, @unchecked Sendable {
            static var isDatagram: Bool { true }
            var next: [UInt8]?
            func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
                let header = FrameHeader.read(from: bytes.baseAddress!)!
                next = DatagramPhaseTests.frame(sequence: header.sequence + 3, timestamp: header.timestamp)
            }
            func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
                guard let bytes = next else { throw PodBenchError(.timeout, "nothing") }
                buffer.copyMemory(from: UnsafeRawBufferPointer(start: bytes, count: bytes.count))
                next = nil
                return bytes.count
            }
            func shutdown() {}
            func close() {}
        }
        var reader = FrameReader(channel: Ahead(), maximumPayload: 8)
        let writer = FrameWriter(payloadLength: 8, seed: 3)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        var checker = IntegrityChecker(payloadLength: 8, verifyEvery: 1, datagrams: true)
        #expect {
            _ = try PingPongWorkload.client(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram,
                plan: PhasePlan(durationNanoseconds: 0, messageLimit: 10), peerTimeoutNanoseconds: 5_000_000_000)
        } throws: { ($0 as? PodBenchError)?.code == .protocolViolation && "\($0)".contains("never sent") }
    }

    @Test("pingpong against a server that never answers gives up after the peer timeout, not before")
    func silentServer() throws {
        final class Silent: DataChannel, @unchecked Sendable {
            static var isDatagram: Bool { true }
            func sendAll(_ bytes: UnsafeRawBufferPointer) throws {}
            func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
                usleep(1000)
                throw PodBenchError(.timeout, "nothing")
            }
            func shutdown() {}
            func close() {}
        }
        var reader = FrameReader(channel: Silent(), maximumPayload: 8)
        let writer = FrameWriter(payloadLength: 8, seed: 3)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        var checker = IntegrityChecker(payloadLength: 8, verifyEvery: 1, datagrams: true)
        let start = MonotonicClock.now()
        #expect {
            _ = try PingPongWorkload.client(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram,
                plan: PhasePlan(durationNanoseconds: 10_000_000_000, messageLimit: nil),
                peerTimeoutNanoseconds: 50_000_000)
        } throws: { ($0 as? PodBenchError)?.code == .timeout && "\($0)".contains("the server is silent") }
        // Not before the peer timeout: each silent wait is one loss, until 50 ms of silence.
        #expect(MonotonicClock.now() - start >= 50_000_000)
    }
}
