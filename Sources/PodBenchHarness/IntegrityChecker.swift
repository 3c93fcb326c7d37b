import PodBenchCore
import PodBenchResults

/// Checks every received data frame: its sequence number and length always, its payload checksum
/// on every `verifyEvery`-th message (all of them in tests). Errors are counted, never averaged
/// away; the first one is described.
public struct IntegrityChecker {
    public let payloadLength: Int
    public let verifyEvery: Int
    public private(set) var counts = IntegrityCounts()
    public private(set) var expectedSequence: UInt64 = 0
    var untilVerify: Int

    public init(payloadLength: Int, verifyEvery: Int) {
        self.payloadLength = payloadLength
        self.verifyEvery = max(1, verifyEvery)
        untilVerify = 1
    }

    /// Checks one data frame (header included in `frame`).
    @inline(__always)
    public mutating func check(_ header: FrameHeader, frame: UnsafeRawBufferPointer) {
        counts.received &+= 1
        if header.sequence != expectedSequence { recordOutOfSequence(header.sequence) }
        expectedSequence = header.sequence &+ 1
        guard Int(header.payloadLength) == payloadLength else {
            recordCorrupted(
                "message \(header.sequence) has \(header.payloadLength) payload bytes, expected \(payloadLength)")
            return
        }
        untilVerify &-= 1
        if untilVerify == 0 {
            untilVerify = verifyEvery
            counts.verified &+= 1
            let payload = UnsafeRawBufferPointer(rebasing: frame[FrameHeader.size...])
            if PayloadChecksum.checksum(payload) != header.checksum {
                recordCorrupted("message \(header.sequence) failed its payload checksum")
            }
        }
    }

    /// Checks the sender's count in an end-of-trial frame against what arrived.
    public mutating func checkEnd(sentCount: UInt64) {
        if sentCount != counts.received {
            counts.outOfSequence &+= 1
            if counts.firstError == nil {
                counts.firstError = "the sender sent \(sentCount) messages, \(counts.received) arrived"
            }
        }
    }

    mutating func recordOutOfSequence(_ got: UInt64) {
        counts.outOfSequence &+= 1
        if counts.firstError == nil {
            counts.firstError = "expected message \(expectedSequence), got \(got) (lost or reordered)"
        }
    }

    mutating func recordCorrupted(_ what: String) {
        counts.corrupted &+= 1
        if counts.firstError == nil { counts.firstError = what }
    }
}
