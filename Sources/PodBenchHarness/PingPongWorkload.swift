import Glibc
import Histogram
import PodBenchCore
import PodBenchTransports

/// Closed loop: the client sends one message, the server sends the same bytes back, the client
/// records the round trip from just before its send to just after the echo is complete.
public enum PingPongWorkload {
    /// The client's side of one phase. Allocates nothing: the frame buffers and the histogram are
    /// sized before the phase starts.
    /// - Returns: round trips completed and the phase's elapsed nanoseconds.
    public static func client<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: FrameWriter, checker: inout IntegrityChecker,
        histogram: inout Histogram<UInt64>, plan: PhasePlan, peerTimeoutNanoseconds: UInt64 = 30_000_000_000
    ) throws -> (messages: UInt64, elapsed: UInt64) {
        if Channel.isDatagram {
            return try DatagramPhase.pingPongClient(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan,
                peerTimeoutNanoseconds: peerTimeoutNanoseconds)
        }
        let channel = reader.channel
        let limit = plan.messageLimit ?? UInt64.max
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        let highest = histogram.highestTrackableValue
        var sequence: UInt64 = 0
        var now = started
        while sequence < limit && (plan.messageLimit != nil || now < deadline) {
            // The frame is built before the clock starts: the round trip is the channel's, from
            // the send to the echo's last byte, not the harness's work on the message. (Its
            // timestamp field is when the message was built; nothing reads it in a pingpong.)
            let message = writer.prepare(sequence: sequence, timestamp: now)
            let sent = MonotonicClock.now()
            try channel.sendAll(message)
            let (header, frame) = try reader.next(from: channel)
            now = MonotonicClock.now()
            guard header.kind == .data else {
                throw PodBenchError(.protocolViolation, "the server sent a \(header.kind) frame instead of an echo")
            }
            checker.check(header, frame: frame)
            histogram.record(min(now &- sent, highest))
            sequence &+= 1
        }
        try sendMarker(.endOfTrial, sequence: sequence, on: channel)
        let (ack, _) = try reader.next()
        guard ack.kind == .endAcknowledged else {
            throw PodBenchError(.protocolViolation, "the server did not acknowledge the end of the trial")
        }
        return (sequence, now &- started)
    }

    /// Test only: `PODBENCH_TEST_SERVER_DELAY_NS=N` makes the server busy-wait N nanoseconds
    /// before each echo, a known slowdown for proving that `podbench ab` and `compare` catch one.
    /// Off (0) unless set; a run records it (`settings.injectedServerDelayNanoseconds`).
    public static let injectedDelayNanoseconds: UInt64 = {
        guard let raw = getenv(injectedDelayVariable), let value = UInt64(String(cString: raw)) else { return 0 }
        return min(value, 1_000_000_000)
    }()

    /// The environment variable of `injectedDelayNanoseconds`.
    public static let injectedDelayVariable = "PODBENCH_TEST_SERVER_DELAY_NS"

    /// The server's side of one phase: echo every data frame until the end-of-trial frame.
    /// - Parameter since: when this side's phase began (a datagram channel drops frames from before).
    public static func server<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, checker: inout IntegrityChecker, corruptSequence: UInt64?,
        since: UInt64 = 0
    ) throws {
        let channel = reader.channel
        let delay = injectedDelayNanoseconds
        while true {
            let (header, frame) = try reader.next(from: channel, since: since)
            switch header.kind {
            case .data:
                if delay > 0 {
                    let start = MonotonicClock.now()
                    while MonotonicClock.now() &- start < delay {}
                }
                if let corruptSequence {
                    // Test-only fault: check what arrived, then spoil the echo.
                    checker.check(header, frame: frame)
                    if header.sequence == corruptSequence, frame.count > FrameHeader.size {
                        let p = UnsafeMutableRawPointer(mutating: frame.baseAddress!) + FrameHeader.size
                        p.storeBytes(of: p.load(as: UInt8.self) ^ 0x10, as: UInt8.self)
                    }
                    try channel.sendAll(frame)
                } else {
                    // The echo leaves first and the message is checked while it travels: the
                    // check costs the server the same, but no longer sits in the client's round
                    // trip. The frame stays valid until the next `next()`.
                    try channel.sendAll(frame)
                    checker.check(header, frame: frame)
                }
            case .endOfTrial:
                checker.checkEnd(sentCount: header.sequence)
                try sendMarker(.endAcknowledged, sequence: header.sequence, on: channel)
                return
            case .endAcknowledged:
                throw PodBenchError(.protocolViolation, "the client sent an unexpected end acknowledgement")
            }
        }
    }
}
