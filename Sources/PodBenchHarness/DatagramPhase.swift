import Histogram
import PodBenchCore
import PodBenchTransports

/// The parts of a phase that differ over a datagram channel (`DataChannel.isDatagram`), where a
/// message may be lost or reordered (docs/datagrams.md): the pingpong client waits for each echo at
/// most the loss deadline and counts the ones that do not come, and every client ends its phase by
/// sending the end-of-trial frame until it is acknowledged. Each side drops frames stamped before
/// its phase began (`FrameReader.next(from:since:)`). The stream channels never come here.
enum DatagramPhase {
    /// Pingpong's client over datagrams: each round trip waits at most the loss deadline for its
    /// echo (a later one is dropped when it comes); a lost round trip is counted, not timed.
    /// - Returns: round trips completed (the echoes that came) and the phase's elapsed nanoseconds.
    static func pingPongClient<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: FrameWriter, checker: inout IntegrityChecker,
        histogram: inout Histogram<UInt64>, plan: PhasePlan, peerTimeoutNanoseconds: UInt64
    ) throws -> (messages: UInt64, elapsed: UInt64) {
        let channel = reader.channel
        let limit = plan.messageLimit ?? UInt64.max
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        let highest = histogram.highestTrackableValue
        let lossDeadline = DatagramChannel.lossDeadline(peerTimeoutNanoseconds: peerTimeoutNanoseconds)
        var sequence: UInt64 = 0
        var now = started
        var lastHeard = started
        while sequence < limit && (plan.messageLimit != nil || now < deadline) {
            let message = writer.prepare(sequence: sequence, timestamp: now)
            let sent = MonotonicClock.now()
            try channel.sendAll(message)
            while true {
                let header: FrameHeader
                let frame: UnsafeRawBufferPointer
                do {
                    (header, frame) = try reader.next(from: channel, since: started)
                } catch let error as PodBenchError where error.code == .timeout {
                    now = MonotonicClock.now()
                    if now &- lastHeard >= peerTimeoutNanoseconds {
                        throw PodBenchError(
                            .timeout,
                            "no echo came for \(peerTimeoutNanoseconds / 1_000_000) ms: the server is silent")
                    }
                    break  // lost: counted at the end (sent less echoed)
                }
                guard header.kind == .data, header.sequence <= sequence else {
                    throw PodBenchError(
                        .protocolViolation,
                        header.kind == .data
                            ? "the server echoed message \(header.sequence), which was never sent (the last was \(sequence))"
                            : "the server sent a \(header.kind) frame instead of an echo")
                }
                now = MonotonicClock.now()
                lastHeard = now
                if header.sequence != sequence {
                    // The late echo of a round trip already counted lost: dropped. The server is
                    // alive; the wait for this one stays bounded however many of them come.
                    if now &- sent >= lossDeadline { break }
                    continue
                }
                checker.check(header, frame: frame)
                histogram.record(min(now &- sent, highest))
                break
            }
            sequence &+= 1
        }
        checker.checkEnd(sentCount: sequence)
        _ = try end(sent: sequence, reader: &reader, since: started, peerTimeoutNanoseconds: peerTimeoutNanoseconds)
        return (checker.counts.received, now &- started)
    }

    /// Ends a client's phase: sends the end-of-trial frame (the count sent) and waits for its
    /// acknowledgement, sending it again after each loss deadline without one (behind a full queue
    /// it can be dropped), for at most the peer timeout. Late echoes that arrive meanwhile are dropped.
    /// - Returns: the acknowledgement's stamp (stream, rate: when the server received the last
    ///   message), or now when it is older than the phase.
    static func end<Channel: DataChannel>(
        sent: UInt64, reader: inout FrameReader<Channel>, since: UInt64, peerTimeoutNanoseconds: UInt64
    ) throws -> UInt64 {
        let channel = reader.channel
        let giveUp = MonotonicClock.now() &+ peerTimeoutNanoseconds
        let lossDeadline = DatagramChannel.lossDeadline(peerTimeoutNanoseconds: peerTimeoutNanoseconds)
        while true {
            try sendMarker(.endOfTrial, sequence: sent, on: channel)
            let resend = MonotonicClock.now() &+ lossDeadline
            waiting: while true {
                do {
                    let (header, _) = try reader.next(from: channel, since: since)
                    if header.kind == .endAcknowledged && header.sequence == sent {
                        let now = MonotonicClock.now()
                        return header.timestamp >= since && header.timestamp <= now ? header.timestamp : now
                    }
                } catch let error as PodBenchError where error.code == .timeout {
                    break waiting
                }
                if MonotonicClock.now() >= resend { break waiting }
            }
            if MonotonicClock.now() >= giveUp {
                throw PodBenchError(
                    .timeout,
                    "the server did not acknowledge the end of the trial in \(peerTimeoutNanoseconds / 1_000_000) ms"
                )
            }
        }
    }
}
