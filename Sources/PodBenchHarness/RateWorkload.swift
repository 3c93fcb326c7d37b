import CPodBenchLinux
import Glibc
import PodBenchCore
import PodBenchTransports

/// Open loop at a fixed offered rate: the client sends message i at its intended time
/// `start + i / rate`, whatever happened to the messages before it, and stamps it with that
/// intended time, so the server's one-way latency counts from when the message should have gone
/// (no coordinated omission: a stall delays every message scheduled during it, and each shows it).
/// A client that falls behind sends at once until it catches up; achieved rate is messages over
/// elapsed time, next to the offered rate. The server side is `StreamWorkload.server`.
public enum RateWorkload {
    /// Waits shorter than this spin on the clock; longer ones sleep first, then spin the rest.
    static let spinNanoseconds: UInt64 = 100_000

    /// The client's (sender's) side of one phase. Allocates nothing.
    /// - Returns: messages sent, elapsed time, and the time spent spinning for the schedule (the
    ///   load generator's own CPU time, which the sender's CPU figures leave out).
    public static func client<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: FrameWriter, plan: PhasePlan, messagesPerSecond: Double,
        corruptSequence: UInt64?, peerTimeoutNanoseconds: UInt64 = 30_000_000_000
    ) throws -> (messages: UInt64, elapsed: UInt64, pacing: UInt64) {
        let channel = reader.channel
        let limit = plan.messageLimit ?? UInt64.max
        let period = 1e9 / messagesPerSecond
        askForPreciseWakeUps()
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        var sequence: UInt64 = 0
        var pacing: UInt64 = 0
        let corruptAt = corruptSequence ?? UInt64.max
        while sequence < limit {
            let intended = started &+ UInt64(Double(sequence) * period)
            if plan.messageLimit == nil && intended >= deadline { break }
            pacing &+= wait(until: intended)
            let frame = writer.prepare(sequence: sequence, timestamp: intended)
            if sequence == corruptAt {
                writer.corrupt()
                try channel.sendAll(frame)
                writer.corrupt()
            } else {
                try channel.sendAll(frame)
            }
            // Each message goes when it is due: nothing waits in a batching channel's queue.
            try channel.flush()
            sequence &+= 1
        }
        if Channel.isDatagram {
            let ended = try DatagramPhase.end(
                sent: sequence, reader: &reader, since: started, peerTimeoutNanoseconds: peerTimeoutNanoseconds)
            return (sequence, ended &- started, pacing)
        }
        try sendMarker(.endOfTrial, sequence: sequence, on: channel)
        let (ack, _) = try reader.next()
        guard ack.kind == .endAcknowledged else {
            throw PodBenchError(.protocolViolation, "the server did not acknowledge the end of the trial")
        }
        return (sequence, plan.openLoopElapsed(from: started, to: MonotonicClock.now()), pacing)
    }

    /// The kernel may wake a sleeper up to its timer slack late (50 us by default): asks for none
    /// on this thread, so that an open loop's schedule is the sender's, not the timer's.
    static func askForPreciseWakeUps() {
        _ = CPodBenchLinux_set_timer_slack(1)
    }

    /// Waits until the clock reads `intended`: a wait longer than `spinNanoseconds` sleeps first,
    /// then spins the rest; none when it is past.
    /// - Returns: the nanoseconds spent spinning (the load generator's own CPU time).
    @inline(__always)
    static func wait(until intended: UInt64) -> UInt64 {
        var now = MonotonicClock.now()
        guard now < intended else { return 0 }
        let wait = intended &- now
        if wait > spinNanoseconds {
            let sleep = wait - spinNanoseconds
            var request = timespec(tv_sec: Int(sleep / 1_000_000_000), tv_nsec: Int(sleep % 1_000_000_000))
            _ = nanosleep(&request, nil)
        }
        let spinFrom = MonotonicClock.now()
        now = spinFrom
        while now < intended { now = MonotonicClock.now() }
        return now &- spinFrom
    }
}
