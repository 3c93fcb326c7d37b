import PodBenchCore
import PodBenchResults

/// Checks every received data frame: its sequence number and length always, its payload checksum
/// on every `verifyEvery`-th message (all of them in tests). Errors are counted, never averaged
/// away; the first one is described. Over a datagram channel a gap in the sequence is a loss and a
/// step back a reordering, both counted (`lost`, `reordered`), neither an error; a wrong length or
/// checksum still is.
public struct IntegrityChecker {
    public let payloadLength: Int
    public let verifyEvery: Int
    public let datagrams: Bool
    public private(set) var counts = IntegrityCounts()
    public private(set) var expectedSequence: UInt64 = 0
    var untilVerify: Int

    public init(payloadLength: Int, verifyEvery: Int, datagrams: Bool = false) {
        self.payloadLength = payloadLength
        self.verifyEvery = max(1, verifyEvery)
        self.datagrams = datagrams
        untilVerify = 1
        if datagrams {
            counts.lost = 0
            counts.reordered = 0
        }
    }

    /// Checks one data frame (header included in `frame`).
    @inline(__always)
    public mutating func check(_ header: FrameHeader, frame: UnsafeRawBufferPointer) {
        check(
            sequence: header.sequence, length: Int(header.payloadLength), checksum: header.checksum,
            payload: UnsafeRawBufferPointer(rebasing: frame[FrameHeader.size...]))
    }

    /// Checks one message: its number, its payload's length, and (every `verifyEvery`-th) the
    /// payload against the checksum it should have. `what` names the message in the first error
    /// ("message", "the response to request").
    @inline(__always)
    public mutating func check(
        sequence: UInt64, length: Int, checksum: UInt64, payload: UnsafeRawBufferPointer,
        what: StaticString = "message"
    ) {
        counts.received &+= 1
        if sequence != expectedSequence {
            recordOutOfSequence(sequence)
        } else {
            expectedSequence = sequence &+ 1
        }
        guard length == payloadLength else {
            recordCorrupted("\(what) \(sequence) has \(length) payload bytes, expected \(payloadLength)")
            return
        }
        untilVerify &-= 1
        if untilVerify == 0 {
            untilVerify = verifyEvery
            counts.verified &+= 1
            if PayloadChecksum.checksum(payload) != checksum {
                recordCorrupted("\(what) \(sequence) failed its payload checksum")
            }
        }
    }

    /// Checks the sender's count in an end-of-trial frame against what arrived. Over datagrams,
    /// what did not arrive is counted lost; more than was sent is still an error.
    public mutating func checkEnd(sentCount: UInt64) {
        if datagrams && sentCount >= counts.received && expectedSequence <= sentCount {
            counts.lost = sentCount - counts.received
            return
        }
        if datagrams && expectedSequence > sentCount {
            counts.outOfSequence &+= 1
            if counts.firstError == nil {
                counts.firstError =
                    "message \(expectedSequence - 1) arrived, but the sender says it sent \(sentCount) (numbered from 0)"
            }
            return
        }
        if sentCount != counts.received {
            counts.outOfSequence &+= 1
            if counts.firstError == nil {
                counts.firstError = "the sender sent \(sentCount) messages, \(counts.received) arrived"
            }
        }
    }

    mutating func recordOutOfSequence(_ got: UInt64) {
        if datagrams {
            // A gap is counted at the end (sent less received); a step back is a reordering.
            if got < expectedSequence {
                counts.reordered = (counts.reordered ?? 0) &+ 1
            } else {
                expectedSequence = got &+ 1
            }
            return
        }
        counts.outOfSequence &+= 1
        if counts.firstError == nil {
            counts.firstError = "expected message \(expectedSequence), got \(got) (lost or reordered)"
        }
        expectedSequence = got &+ 1
    }

    /// An HTTP response that is not the answer to the request just sent (its `X-Podbench-Request`
    /// is another's or missing): counted out of sequence. The numbering stays the client's own.
    mutating func recordWrongAnswer(to sequence: UInt64, carrying id: UInt64?) {
        counts.outOfSequence &+= 1
        if counts.firstError == nil {
            counts.firstError =
                id.map { "the response to request \(sequence) carries X-Podbench-Request \($0), another request's" }
                ?? "the response to request \(sequence) has no X-Podbench-Request"
        }
    }

    /// The server of an HTTP case counted `counted` requests where `sent` were sent: a hop lost or
    /// repeated some. Counted out of sequence.
    mutating func recordCountMismatch(sent: UInt64, counted: UInt64) {
        counts.outOfSequence &+= 1
        if counts.firstError == nil {
            counts.firstError = "\(sent) requests were sent, the server counted \(counted)"
        }
    }

    /// `count` messages that the caller checked whole itself (an HTTP/2 session checks every body
    /// as it comes and throws on the first that is wrong): received and verified.
    public mutating func recordVerified(_ count: UInt64) {
        counts.received &+= count
        counts.verified &+= count
        expectedSequence &+= count
    }

    mutating func recordCorrupted(_ what: String) {
        counts.corrupted &+= 1
        if counts.firstError == nil { counts.firstError = what }
    }
}
