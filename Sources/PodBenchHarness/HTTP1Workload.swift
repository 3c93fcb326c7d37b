import Histogram
import PodBenchCore
import PodBenchTransports

/// HTTP/1.1 keep-alive, closed loop: the client sends one request (`POST /podbench/echo`, a body
/// of the case's size), the server answers `200 OK` with a body of the same size, and the client
/// records the round trip from just before its send to the response's last byte. One connection,
/// one request outstanding: what a sidecar in front of an app sees from one caller. Through a
/// hop (`--via`) the requests go through whatever forwards them, nginx or haproxy in HTTP mode
/// included; every response is checked (status, length, request number, body checksum), so a
/// proxy that answers for the server, or mixes up or mangles responses, fails the case with the
/// request named. docs/http.md has the messages.
public enum HTTP1Workload {
    /// The client's side of one phase. Allocates nothing: the messages, the receive buffer and
    /// the histogram are sized before the phase starts.
    /// - Returns: requests answered and the phase's elapsed nanoseconds.
    public static func client<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: HTTP1MessageWriter, checker: inout IntegrityChecker,
        histogram: inout Histogram<UInt64>, plan: PhasePlan
    ) throws -> (messages: UInt64, elapsed: UInt64) {
        let limit = plan.messageLimit ?? UInt64.max
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        let highest = histogram.highestTrackableValue
        var sequence: UInt64 = 0
        var now = started
        while sequence < limit && (plan.messageLimit != nil || now < deadline) {
            // Built before the clock starts, as a pingpong's frame is.
            let request = writer.prepare(sequence: sequence).message
            let sent = MonotonicClock.now()
            now = try exchange(request, sequence, reader: &reader, writer: writer, checker: &checker)
            histogram.record(min(now &- sent, highest))
            sequence &+= 1
        }
        try end(after: sequence, reader: &reader, writer: writer, checker: &checker)
        return (sequence, now &- started)
    }

    /// The client's side of one phase at a fixed offered rate (`http1-rate`): request k is due at
    /// `start + k / rate`; it goes then, or as soon as the answer to the one before is in when that
    /// came late, and its latency counts from when it was due to its response's last byte, so a
    /// slow answer counts in every request that waited behind it (as wrk2 times one connection;
    /// no coordinated omission). One request outstanding, as the closed loop. Requests stop being
    /// sent when the phase's time is up: those due that never went are in the achieved rate
    /// (requests over elapsed time), which falls below the offered one. Allocates nothing.
    /// - Returns: requests answered, elapsed time, and the time spent spinning for the schedule
    ///   (the load generator's own CPU time, which the client's CPU figures leave out).
    public static func openLoopClient<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: HTTP1MessageWriter, checker: inout IntegrityChecker,
        histogram: inout Histogram<UInt64>, plan: PhasePlan, requestsPerSecond: Double
    ) throws -> (messages: UInt64, elapsed: UInt64, pacing: UInt64) {
        let limit = plan.messageLimit ?? UInt64.max
        let period = 1e9 / requestsPerSecond
        RateWorkload.askForPreciseWakeUps()
        let started = MonotonicClock.now()
        let deadline = started &+ plan.durationNanoseconds
        let highest = histogram.highestTrackableValue
        var sequence: UInt64 = 0
        var pacing: UInt64 = 0
        var now = started
        while sequence < limit {
            let intended = started &+ UInt64(Double(sequence) * period)
            if plan.messageLimit == nil && (intended >= deadline || now >= deadline) { break }
            let request = writer.prepare(sequence: sequence).message
            pacing &+= RateWorkload.wait(until: intended)
            now = try exchange(request, sequence, reader: &reader, writer: writer, checker: &checker)
            histogram.record(min(now &- intended, highest))
            sequence &+= 1
        }
        try end(after: sequence, reader: &reader, writer: writer, checker: &checker)
        return (sequence, plan.openLoopElapsed(from: started, to: MonotonicClock.now()), pacing)
    }

    /// Sends `request` (number `sequence`, prepared by `writer`), takes its response and checks it.
    /// - Returns: the clock when the response's last byte was in.
    @inline(__always)
    static func exchange<Channel: DataChannel>(
        _ request: UnsafeRawBufferPointer, _ sequence: UInt64, reader: inout FrameReader<Channel>,
        writer: HTTP1MessageWriter,
        checker: inout IntegrityChecker
    ) throws -> UInt64 {
        let channel = reader.channel
        // The server's answer is its own pattern (not the request reflected back), tagged with
        // the same number.
        let checksum = writer.answerTemplate.checksum(sequence: sequence)
        try channel.sendAll(request)
        let head = try reader.nextHTTPHead(from: channel, response: true)
        guard head.status == 200, let length = head.contentLength, length == writer.bodyLength else {
            throw responseError(
                head, of: sequence, bodyLength: writer.bodyLength, headBytes: reader.pendingBytes(head.length))
        }
        let message = try reader.takeHTTP(head.length + length, from: channel)
        let now = MonotonicClock.now()
        if head.requestID != sequence { checker.recordWrongAnswer(to: sequence, carrying: head.requestID) }
        checker.check(
            sequence: sequence, length: length, checksum: checksum,
            payload: UnsafeRawBufferPointer(rebasing: message[head.length...]), what: "the response to request")
        if reader.pendingCount > 0 || head.closes {
            throw PodBenchError(
                .protocolViolation,
                head.closes
                    ? "the response to request \(sequence) closes the connection (Connection: close): a keep-alive workload needs it open (nginx closes a client's connection after keepalive_requests, 1000 by default: docs/http.md)"
                    : "\(reader.pendingCount) bytes arrived after the response to request \(sequence), which no request asked for"
            )
        }
        return now
    }

    /// The end of the trial: tells the server how many requests went and holds its count against it.
    static func end<Channel: DataChannel>(
        after sequence: UInt64, reader: inout FrameReader<Channel>, writer: HTTP1MessageWriter,
        checker: inout IntegrityChecker
    ) throws {
        let channel = reader.channel
        try channel.sendAll(writer.end(count: sequence))
        try channel.flush()
        let head = try reader.nextHTTPHead(from: channel, response: true)
        guard head.status == 200, head.contentLength == 0, let counted = head.requestID else {
            throw PodBenchError(
                .protocolViolation,
                "the answer to the end of the trial (\(sequence) requests sent) is not podbench's server's: status \(head.status), \(head.contentLength.map { "\($0) body bytes" } ?? "no Content-Length"), \(head.requestID.map { "the server counted \($0) requests" } ?? "no X-Podbench-Request")"
            )
        }
        _ = try reader.takeHTTP(head.length, from: channel)
        // The server's count: a hop that lost or repeated a request (a retried POST) is an
        // integrity error, as a lost message is.
        if counted != sequence { checker.recordCountMismatch(sent: sequence, counted: counted) }
        if head.closes {
            throw PodBenchError(
                .protocolViolation,
                "the answer to the end of the trial closes the connection (Connection: close): a keep-alive workload needs it open (nginx closes a client's connection after keepalive_requests, 1000 by default: docs/http.md)"
            )
        }
        if reader.pendingCount > 0 {
            throw PodBenchError(
                .protocolViolation,
                "\(reader.pendingCount) bytes arrived after the answer to the end of the trial, which nothing asked for"
            )
        }
    }

    /// Why the response to request `sequence` is not the one the case asked for (its status or
    /// its length), in words: called only when it is not.
    static func responseError(
        _ head: HTTP1.Head, of sequence: UInt64, bodyLength: Int, headBytes: UnsafeRawBufferPointer
    ) -> PodBenchError {
        if head.status != 200 {
            return PodBenchError(
                .protocolViolation,
                "request \(sequence) (POST /podbench/echo): the answer is \(HTTP1.quote(headBytes, head.startLine)), not 200 OK"
            )
        }
        return PodBenchError(
            .protocolViolation,
            "request \(sequence) (POST /podbench/echo): the response says \(head.contentLength.map { "\($0) body bytes" } ?? "no Content-Length"), this case's bodies are \(bodyLength) bytes"
        )
    }

    /// How the server's side of a phase ended on one connection (`server`).
    public enum Outcome: Equatable, Sendable {
        /// The client's end of the trial was answered.
        case ended
        /// The connection ended at a message boundary: the peer closed it, or asked to
        /// (`Connection: close`, HTTP/1.0) and its response was the last. A proxy does that; the
        /// phase goes on on its next connection.
        case connectionDone
    }

    /// The server's side of one phase on one connection: answer every request until the client's
    /// end (`.ended`) or the connection's (`.connectionDone`). Besides the workload's `POST
    /// /podbench/echo` it answers `GET` of any path with a body of the case's size (always the same
    /// body, request number 0); anything else
    /// ends the phase as a protocol violation.
    public static func server<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, writer: HTTP1MessageWriter, checker: inout IntegrityChecker,
        corruptSequence: UInt64?
    ) throws -> Outcome {
        let channel = reader.channel
        var answered: UInt64 = 0
        while true {
            let head: HTTP1.Head
            do {
                head = try reader.nextHTTPHead(from: channel, response: false)
            } catch let error as PodBenchError where error.code == .peerClosed && reader.pendingCount == 0 {
                return .connectionDone
            }
            let length = head.contentLength ?? 0
            switch (head.method, head.target) {
            case (.post, .echo):
                guard length == writer.bodyLength, let id = head.requestID else {
                    throw PodBenchError(
                        .protocolViolation,
                        "request \(answered): \(head.requestID == nil ? "no X-Podbench-Request" : "\(length) body bytes, this case's are \(writer.bodyLength)")"
                    )
                }
                let message = try reader.takeHTTP(head.length + length, from: channel)
                let (response, _) = writer.prepare(sequence: id)
                if id == corruptSequence {
                    writer.corrupt()
                    try channel.sendAll(response)
                    writer.corrupt()
                } else {
                    try channel.sendAll(response)
                }
                // Checked while the response travels, as the pingpong server checks its echo.
                checker.check(
                    sequence: id, length: length, checksum: writer.answerTemplate.checksum(sequence: id),
                    payload: UnsafeRawBufferPointer(rebasing: message[head.length...]), what: "request")
            case (.post, .end):
                guard length == 0, let count = head.requestID else {
                    throw PodBenchError(.protocolViolation, "an end of the trial without its count or with a body")
                }
                _ = try reader.takeHTTP(head.length, from: channel)
                // Answered with what this side counted, which the client holds against its own.
                let received = checker.counts.received
                checker.checkEnd(sentCount: count)
                try channel.sendAll(writer.end(count: received))
                try channel.flush()
                return .ended
            case (.get, _) where length == 0:
                // A fixed resource, as a file is: every GET gets the same body (number 0), which
                // `http-load` and wrk may hold against the first.
                _ = try reader.takeHTTP(head.length, from: channel)
                try channel.sendAll(writer.prepare(sequence: 0).message)
            default:
                let pending = reader.pendingBytes(head.length)
                throw PodBenchError(
                    .protocolViolation,
                    "a request podbench's server does not answer (it answers POST /podbench/echo and GET without a body): \(HTTP1.quote(pending, head.startLine))"
                )
            }
            answered &+= 1
            if head.closes {
                try channel.flush()
                return .connectionDone
            }
        }
    }
}
