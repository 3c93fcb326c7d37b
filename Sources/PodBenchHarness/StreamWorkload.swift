import Histogram
import PodBenchCore
import PodBenchTransports

/// One direction, receiver-paced: the client sends as fast as the transport takes messages; the
/// server receives and checks them, and records how long each took to arrive. The phase ends with an end-of-trial frame that carries the
/// count sent, and the server's acknowledgement, so the elapsed time covers delivery of
/// everything sent.
public enum StreamWorkload {
    /// The client's (sender's) side of one phase. Allocates nothing.
    public static func client<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: FrameWriter, plan: PhasePlan, corruptSequence: UInt64?,
        peerTimeoutNanoseconds: UInt64 = 30_000_000_000
    ) throws -> (messages: UInt64, elapsed: UInt64) {
        let channel = reader.channel
        let limit = plan.messageLimit ?? UInt64.max
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        var sequence: UInt64 = 0
        var now = started
        let corruptAt = corruptSequence ?? UInt64.max
        while sequence < limit && (plan.messageLimit != nil || now < deadline) {
            let frame = writer.prepare(sequence: sequence, timestamp: now)
            if sequence == corruptAt {
                writer.corrupt()
                try channel.sendAll(frame)
                writer.corrupt()  // flips the bit back: only this one message is wrong
            } else {
                try channel.sendAll(frame)
            }
            sequence &+= 1
            now = MonotonicClock.now()
        }
        if Channel.isDatagram {
            let ended = try DatagramPhase.end(
                sent: sequence, reader: &reader, since: started, peerTimeoutNanoseconds: peerTimeoutNanoseconds)
            return (sequence, ended &- started)
        }
        try sendMarker(.endOfTrial, sequence: sequence, on: channel)
        let (ack, _) = try reader.next()
        guard ack.kind == .endAcknowledged else {
            throw PodBenchError(.protocolViolation, "the server did not acknowledge the end of the trial")
        }
        return (sequence, MonotonicClock.now() &- started)
    }

    /// The server's (receiver's) side of one phase.
    /// Records each message's one-way delivery time (its sender's timestamp to its arrival here:
    /// both sides read the same kernel's monotonic clock) in `oneWay`.
    /// - Parameter since: when this side's phase began (a datagram channel drops frames from before).
    public static func server<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, checker: inout IntegrityChecker, oneWay: inout Histogram<UInt64>,
        since: UInt64 = 0
    ) throws {
        let channel = reader.channel
        let highest = oneWay.highestTrackableValue
        var lastArrival: UInt64 = 0
        while true {
            let (header, frame) = try reader.next(from: channel, since: since)
            switch header.kind {
            case .data:
                let now = MonotonicClock.now()
                lastArrival = now
                oneWay.record(min(now &- header.timestamp, highest))
                checker.check(header, frame: frame)
            case .endOfTrial:
                checker.checkEnd(sentCount: header.sequence)
                // Over datagrams the acknowledgement carries when the last message arrived: the
                // sender's phase ends there, however long its end-of-trial took to get through (it
                // may have been lost behind a full queue and sent again).
                let stamp = Channel.isDatagram && lastArrival != 0 ? lastArrival : nil
                try sendMarker(.endAcknowledged, sequence: header.sequence, on: channel, timestamp: stamp)
                return
            case .endAcknowledged:
                throw PodBenchError(.protocolViolation, "the client sent an unexpected end acknowledgement")
            }
        }
    }
}
