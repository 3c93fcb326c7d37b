import Foundation
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

@Suite("Framing over a real socket")
struct FramingTests {
    @Test(
        "frames of every size class arrive whole and verified, in order",
        arguments: [1, 63, 64, 4096, 65536, 1 << 20, 4 << 20])
    func framesArrive(size: Int) throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let count: UInt64 = size >= 1 << 20 ? 8 : 200
        let sender = Background {
            let writer = FrameWriter(payloadLength: size, seed: 11)
            defer { writer.deallocate() }
            for sequence in 0..<count {
                try a.sendAll(writer.prepare(sequence: sequence, timestamp: MonotonicClock.now()))
            }
        }
        var reader = FrameReader(channel: b, maximumPayload: size)
        defer { reader.deallocate() }
        var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
        for _ in 0..<count {
            let (header, frame) = try reader.next()
            #expect(header.kind == .data)
            #expect(frame.count == FrameHeader.size + size)
            checker.check(header, frame: frame)
        }
        try sender.wait()
        #expect(checker.counts.received == count)
        #expect(checker.counts.verified == count)
        #expect(!checker.counts.hasErrors)
    }

    @Test("frames split into 1-byte writes are reassembled")
    func byteByByte() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let writer = FrameWriter(payloadLength: 100, seed: 1)
        defer { writer.deallocate() }
        var bytes: [UInt8] = []
        for sequence: UInt64 in 0..<3 { bytes += Array(writer.prepare(sequence: sequence, timestamp: 0)) }
        let toSend = bytes
        let sender = Background {
            for byte in toSend { try [byte].withUnsafeBytes { try a.sendAll($0) } }
        }
        var reader = FrameReader(channel: b, maximumPayload: 100)
        defer { reader.deallocate() }
        var checker = IntegrityChecker(payloadLength: 100, verifyEvery: 1)
        for _ in 0..<3 {
            let (header, frame) = try reader.next()
            checker.check(header, frame: frame)
        }
        try sender.wait()
        #expect(checker.counts.verified == 3 && !checker.counts.hasErrors)
    }

    @Test("a frame longer than the case allows is a protocol violation, not an allocation")
    func oversized() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let writer = FrameWriter(payloadLength: 4096, seed: 1)
        defer { writer.deallocate() }
        try a.sendAll(writer.prepare(sequence: 0, timestamp: 0))
        var reader = FrameReader(channel: b, maximumPayload: 64)
        defer { reader.deallocate() }
        #expect {
            try reader.next()
        } throws: { ($0 as? PodBenchError)?.code == .protocolViolation }
    }

    @Test("a peer that closes mid-frame is reported as gone")
    func closedMidFrame() throws {
        let (a, b) = try socketPair()
        defer { b.close() }
        let writer = FrameWriter(payloadLength: 1000, seed: 1)
        defer { writer.deallocate() }
        let frame = writer.prepare(sequence: 0, timestamp: 0)
        try a.sendAll(UnsafeRawBufferPointer(rebasing: frame[0..<500]))
        a.close()
        var reader = FrameReader(channel: b, maximumPayload: 1000)
        defer { reader.deallocate() }
        #expect {
            try reader.next()
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
    }

    @Test("the checker counts lost, repeated and corrupted messages and names the first")
    func checker() {
        let writer = FrameWriter(payloadLength: 64, seed: 2)
        defer { writer.deallocate() }
        var checker = IntegrityChecker(payloadLength: 64, verifyEvery: 1)
        func deliver(_ sequence: UInt64, corrupt: Bool = false) {
            let frame = writer.prepare(sequence: sequence, timestamp: 0)
            if corrupt { writer.corrupt() }
            checker.check(FrameHeader.read(from: frame.baseAddress!)!, frame: frame)
            if corrupt { writer.corrupt() }
        }
        deliver(0)
        deliver(1)
        deliver(3)  // 2 lost
        #expect(checker.counts.outOfSequence == 1)
        #expect(checker.counts.firstError?.contains("expected message 2, got 3") == true)
        deliver(4, corrupt: true)
        #expect(checker.counts.corrupted == 1)
        deliver(5)
        #expect(checker.counts.corrupted == 1)
        checker.checkEnd(sentCount: 7)
        #expect(checker.counts.outOfSequence == 2)
    }

    @Test("sampled verification checks every Nth payload only")
    func sampling() {
        let writer = FrameWriter(payloadLength: 32, seed: 2)
        defer { writer.deallocate() }
        var checker = IntegrityChecker(payloadLength: 32, verifyEvery: 16)
        for sequence: UInt64 in 0..<64 {
            let frame = writer.prepare(sequence: sequence, timestamp: 0)
            checker.check(FrameHeader.read(from: frame.baseAddress!)!, frame: frame)
        }
        #expect(checker.counts.received == 64)
        #expect(checker.counts.verified == 4)
    }
}
