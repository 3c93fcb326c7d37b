import CPodBenchLinux
import Glibc
import Histogram
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// HTTP/2 over cleartext (h2c, prior knowledge), closed loop with N streams on one connection:
/// the client keeps `streams` requests outstanding (`POST /podbench/echo`, a body of the case's
/// size), the server answers each with a body of the same size once the request's body is in, and
/// each request's round trip runs from its HEADERS' send to its answer's last byte. Both sides are
/// the sessions `http2-load` and `http-serve --protocol h2c` use: every request body is compared
/// byte for byte with podbench's pattern at the server, every answer's checksum at the client; flow
/// control is honoured both ways. A trial ends in-band, as the HTTP/1.1 workload's does: once no
/// request is outstanding the client sends `POST /podbench/end` with its count and the server
/// answers with its own. docs/http.md has the details.
public enum HTTP2Workload {
    /// The most streams a case keeps outstanding (the server's SETTINGS_MAX_CONCURRENT_STREAMS).
    public static let maximumStreams = 128

    /// The client's session for a case: one connection, its preface sent with the first phase.
    public static func clientSession(streams: Int, bodyLength: Int, seed: UInt64) throws -> HTTP2ClientSession {
        try HTTP2ClientSession(
            .init(
                streams: streams, path: "/podbench/echo", authority: "podbench", maximumBodyLength: bodyLength,
                expectedBodyLength: bodyLength, requestBodyLength: bodyLength, bodySeed: seed, echo: true))
    }

    /// The server's session for a case (as many streams as the client may open, and more).
    public static func serverSession(bodyLength: Int, seed: UInt64) throws -> HTTP2ServerSession {
        try HTTP2ServerSession(.init(bodyLength: bodyLength, maximumStreams: maximumStreams, seed: seed))
    }

    /// The client's side of one phase: requests while the phase lasts (or up to its message
    /// limit), then the outstanding ones answered, then the end of the trial. The socket is never
    /// written to in a way that blocks: what does not go now goes when poll says it may, and what
    /// arrives meanwhile is read, so neither side waits on the other's full buffers. Allocates
    /// nothing.
    ///
    /// Closed loop (`requestsPerSecond` nil): a new request as each ends, each timed from its
    /// HEADERS' send. Open loop (`http2-rate`): request k is due at `origin + k / rate` (origin: the
    /// phase's start, or the server's SETTINGS on a new connection), sent then on a free stream,
    /// or as soon as an answer frees one, and timed from when it was due, so requests queued
    /// behind busy streams count their wait (no coordinated omission, as wrk2). Requests stop being
    /// sent when the phase's time is up; those due that never went show in the achieved rate.
    /// The wait for the next request's time sleeps in poll (answers are taken meanwhile); with
    /// nothing outstanding its last `RateWorkload.spinNanoseconds` spin on the clock.
    /// - Returns: requests answered in the phase, its elapsed nanoseconds (to the last answer),
    ///   and the time spent spinning for the schedule (the load generator's own CPU time, which
    ///   the client's CPU figures leave out).
    public static func client(
        channel: SocketChannel, session: HTTP2ClientSession, checker: inout IntegrityChecker,
        histogram: inout Histogram<UInt64>, plan: PhasePlan, peerTimeoutNanoseconds: UInt64,
        requestsPerSecond: Double? = nil
    ) throws -> (messages: UInt64, elapsed: UInt64, pacing: UInt64) {
        let fd = channel.descriptor.rawValue
        swap(&histogram, &session.histogram)
        defer { swap(&histogram, &session.histogram) }
        if !session.begun { session.begin() }
        // Requests are named by their number within the phase (in the order sent; --inject-corruption
        // counts the server's echoes in the order their bodies complete, the same with one stream).
        session.startNumbering()
        let firstCompleted = session.completed
        let firstSequence = session.sequence
        let firstUnprocessed = session.unprocessed
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        session.recordFrom = started
        session.recordUntil = UInt64.max
        session.issuing = true
        var lastProgress = started
        var finished = started
        var ending = false
        // The open loop's schedule: request k is due at origin + k / rate, from the phase's start
        // (or from the SETTINGS, on a connection that has none yet: no request can go before them).
        if let requestsPerSecond, !(requestsPerSecond >= 1 && requestsPerSecond.isFinite) {
            throw PodBenchError(.invalidConfiguration, "an offered rate of \(requestsPerSecond) requests a second")
        }
        let period = requestsPerSecond.map { 1e9 / $0 }
        if period != nil { RateWorkload.askForPreciseWakeUps() }
        var origin = started
        var due = started
        var scheduled = session.settingsReceived
        var pacing: UInt64 = 0
        // What counts as progress for the peer timeout: answers, body bytes going out, the end's
        // answer, the server's SETTINGS (not PINGs or other frames that a server could send forever).
        var progressMark = (UInt64.max, UInt64.max, false, false)
        func noteProgress(_ at: UInt64) {
            let mark = (session.completed, session.bodyBytesWritten, session.endAnswer != nil, session.settingsReceived)
            if mark != progressMark {
                progressMark = mark
                lastProgress = at
            }
        }
        while true {
            let now = MonotonicClock.now()
            if ending && session.active == 0 && session.endAnswer != nil && session.sendCount == 0 { break }
            if let last = session.goAway {
                throw PodBenchError(
                    .protocolViolation,
                    "the server sent GOAWAY (last stream \(last)) in the middle of the case: an http2 case keeps one connection for all its phases"
                )
            }
            if session.unprocessed != firstUnprocessed {
                throw PodBenchError(
                    .protocolViolation,
                    "the server refused a request (REFUSED_STREAM) with \(session.active) outstanding, within the SETTINGS_MAX_CONCURRENT_STREAMS it said"
                )
            }
            if session.issuing {
                let issued = session.sequence &- firstSequence
                let done =
                    plan.messageLimit.map { issued >= $0 }
                    ?? (now >= deadline || (period != nil && scheduled && due >= deadline))
                if done { session.issuing = false }
            }
            if session.issuing {
                if let period {
                    if !scheduled && session.settingsReceived {
                        scheduled = true
                        origin = max(origin, now)
                        due = origin
                    }
                    // Every request due by now, on a free stream, stamped with its time; one that
                    // finds none stays due (its wait counts in its latency).
                    while scheduled && due <= now && session.canIssue && session.mayIssue
                        && (plan.messageLimit.map { session.sequence &- firstSequence < $0 } ?? (due < deadline))
                    {
                        session.issue(now: now, count: 1, intended: due)
                        due = origin &+ UInt64(Double(session.sequence &- firstSequence) * period)
                        // A request's body going out is not the server's progress: only what the
                        // server's windows and answers let go afterwards is.
                        progressMark.1 = session.bodyBytesWritten
                    }
                    // Waiting for the next one's time with nothing outstanding is not the server's
                    // slowness (before its SETTINGS it is: nothing can go until they come).
                    if scheduled && session.active == 0 && session.sendCount == 0 { lastProgress = now }
                } else if session.mayIssue {
                    let left = plan.messageLimit.map { Int(clamping: $0 &- (session.sequence &- firstSequence)) }
                    session.issue(now: now, count: left ?? Int.max)
                }
            } else if !ending {
                if session.canEnd && session.mayIssue {
                    finished = now
                    session.issueEnd(count: session.completed &- firstCompleted, now: now)
                    ending = true
                }
            } else if session.active == 0 && session.endAnswer != nil && session.sendCount == 0 {
                break
            }
            session.writeBodies()
            noteProgress(now)
            // What can go now, without blocking.
            while session.sendCount > 0 {
                let pending = session.pendingSend
                let n = Glibc.send(fd, pending.baseAddress, pending.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                if n > 0 {
                    session.sent(n)
                    session.writeBodies()
                    continue
                }
                if n == 0 { break }
                let error = errno
                if error == EINTR { continue }
                if error == EAGAIN || error == EWOULDBLOCK { break }
                throw PodBenchError(
                    error == EPIPE || error == ECONNRESET ? .peerClosed : .ioFailure,
                    "sending to the server failed", cause: .init(call: "send", errno: Errno(rawValue: error)))
            }
            if ending && session.active == 0 && session.endAnswer != nil && session.sendCount == 0 { break }
            // Wait for input (while there is room to take it) and for room to write what is left.
            var events: Int16 = 0
            if session.mayProcess { events |= Int16(POLLIN) }
            if session.sendCount > 0 { events |= Int16(POLLOUT) }
            let waitUntil = lastProgress &+ peerTimeoutNanoseconds
            let after = MonotonicClock.now()
            // While requests go out on a clock, wake at its end too, and at the next request's time.
            var wakeAt = session.issuing && plan.messageLimit == nil ? min(waitUntil, max(deadline, after)) : waitUntil
            if period != nil && session.issuing && scheduled && session.canIssue && session.mayIssue {
                if session.active == 0 && session.sendCount == 0 && due > after && due < wakeAt {
                    // Nothing can come back: sleep, then spin the last stretch, to send on time.
                    pacing &+= RateWorkload.wait(until: due)
                    continue
                }
                wakeAt = min(wakeAt, max(due, after))
            }
            guard after < waitUntil else {
                throw PodBenchError(
                    .timeout,
                    ending
                        ? "the server did not answer the end of the trial within the peer timeout"
                        : "the server answered nothing within the peer timeout (\(session.active) requests outstanding)"
                )
            }
            let ready = try SocketWait.poll(fd, events, nanoseconds: Int64(wakeAt > after ? wakeAt - after : 0))
            guard ready & Int32(POLLIN | POLLHUP | POLLERR) != 0, session.mayProcess else { continue }
            let space = session.receiveSpace()
            let n = recv(fd, space.baseAddress, space.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                session.received(n)
                let at = MonotonicClock.now()
                try session.process(now: at)
                noteProgress(at)
                continue
            }
            let error = errno
            if n < 0 && (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) { continue }
            if n == 0 || error == ECONNRESET {
                throw PodBenchError(
                    .peerClosed,
                    "the server closed the connection with \(session.active) requests outstanding\(ending ? " (the end of the trial among them)" : "")"
                )
            }
            throw PodBenchError(
                .ioFailure, "receiving from the server failed",
                cause: .init(call: "recv", errno: Errno(rawValue: error)))
        }
        let answered = session.completed &- firstCompleted
        checker.recordVerified(answered)
        // The server's count: a hop that lost or repeated a request is an integrity error.
        if let counted = session.endAnswer, counted != answered {
            checker.recordCountMismatch(sent: answered, counted: counted)
        }
        // A closed loop's phase lasts until its last answer.
        let elapsed = period != nil ? plan.openLoopElapsed(from: started, to: finished) : finished &- started
        return (answered, elapsed, pacing)
    }

    /// The server's side of one phase: answer every request until the client's end of the trial
    /// (`.ended`), or until the connection ends between requests (`.connectionDone`). Sends
    /// block (the client reads while it writes). A connection error sends its GOAWAY and throws.
    /// The requests echoed on this connection go into `checker` as it returns; the end of the trial
    /// is answered with all `checker` has, so that a phase a proxy spread over several connections
    /// one after another (a hop, `CaseSpec.acceptsLazily`) counts them all.
    public static func server<Channel: DataChannel>(
        channel: Channel, session: HTTP2ServerSession, checker: inout IntegrityChecker, corruptSequence: UInt64?
    ) throws -> HTTP1Workload.Outcome {
        let firstEchoed = session.echoed
        var altered = session.alteredBodies
        var oversized = session.oversizedBodies
        session.corruptEcho = corruptSequence.map { firstEchoed &+ $0 }
        /// Bodies refused since the last look: counted as they happen, so that the phase's report
        /// has them even when the client gives up on the case at the reset.
        func countRefusals() {
            while altered != session.alteredBodies {
                altered &+= 1
                checker.recordCorrupted("a request body arrived altered (its stream was reset)")
            }
            while oversized != session.oversizedBodies {
                oversized &+= 1
                checker.recordCorrupted("a request body was longer than the case's messages (its stream was reset)")
            }
        }
        func flush() throws {
            if session.sendCount > 0 {
                try channel.sendAll(session.pendingSend)
                session.sent()
            }
        }
        // This connection's echoes go into the checker once, however the call ends (an error
        // included: the phase's report has what was served).
        var recorded = false
        func record() {
            guard !recorded else { return }
            recorded = true
            checker.recordVerified(session.echoed &- firstEchoed)
        }
        defer { record() }
        do {
            try flush()
            while true {
                if let count = session.endRequested {
                    record()
                    checker.checkEnd(sentCount: count)
                    session.answerEnd(count: checker.counts.received)
                    try flush()
                    try channel.flush()
                    return .ended
                }
                // A client that said GOAWAY and has nothing outstanding (a proxy retiring its
                // upstream connection) is done with this connection: the next one goes on.
                if session.clientGoingAway && session.active == 0 && session.sendCount == 0 {
                    try? channel.flush()
                    return .connectionDone
                }
                try channel.flush()
                let count = try channel.receiveSome(into: session.receiveSpace())
                session.received(count)
                repeat {
                    try session.process()
                    countRefusals()
                    try flush()
                    while session.produce() { try flush() }
                    try flush()
                } while session.backlogged
            }
        } catch let error as PodBenchError where error.code == .peerClosed && session.active == 0 {
            // Closed between requests (or reset as it opened: a health check, a stranger).
            return .connectionDone
        } catch let error as PodBenchError where error.code == .protocolViolation {
            // What the client did wrong, in its GOAWAY too.
            session.goAwayFrame(error.message).withUnsafeBytes { try? channel.sendAll($0) }
            try? channel.flush()
            throw error
        }
    }
}
