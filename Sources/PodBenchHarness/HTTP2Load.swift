import CPodBenchLinux
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTransports
import SystemPackage

/// `podbench http2-load`: podbench's HTTP/2 client against any h2c server, the way
/// `h2load -c1 -t1 -m N` drives one: one connection, N streams outstanding, each a GET of one path,
/// a new one sent as each ends. Each request's round trip runs from its HEADERS' send to its last
/// DATA byte (h2load's "time for request"). Every response is checked as `http-load` checks them.
public enum HTTP2Load {
    public struct Plan: Sendable {
        public var target: SocketAddress
        public var session: HTTP2ClientSession.Configuration
        public var durationNanoseconds: UInt64
        public var warmupNanoseconds: UInt64
        /// How long one request may take, from its send to its last byte, before the run fails.
        public var timeoutNanoseconds: UInt64
        /// Open loop: requests sent at this rate, each on its schedule (nil: closed loop, a new
        /// request as each ends).
        public var requestsPerSecond: Double?

        public init(
            target: SocketAddress, path: String, authority: String? = nil, streams: Int, durationNanoseconds: UInt64,
            warmupNanoseconds: UInt64, expectedBodyLength: Int? = nil, maximumBodyLength: Int = 4 << 20,
            timeoutNanoseconds: UInt64 = 10_000_000_000, requestsPerSecond: Double? = nil, requestBodyLength: Int = 0
        ) throws {
            self.target = target
            session = HTTP2ClientSession.Configuration(
                streams: streams, path: path, authority: authority ?? HTTP1Load.Plan.defaultHost(target),
                maximumBodyLength: maximumBodyLength, expectedBodyLength: expectedBodyLength,
                requestBodyLength: requestBodyLength)
            self.durationNanoseconds = durationNanoseconds
            self.warmupNanoseconds = warmupNanoseconds
            self.timeoutNanoseconds = timeoutNanoseconds
            self.requestsPerSecond = requestsPerSecond
            if let requestsPerSecond, !(requestsPerSecond >= 1 && requestsPerSecond <= 10_000_000) {
                throw PodBenchError(.invalidConfiguration, "--rate: 1 to 10M requests a second (\(requestsPerSecond))")
            }
            _ = try HTTP1Load.request(path: path, host: session.authority)
            guard streams >= 1 && streams <= 1024 else {
                throw PodBenchError(.invalidConfiguration, "--streams: 1 to 1024 (\(streams))")
            }
            if let expectedBodyLength, expectedBodyLength > maximumBodyLength {
                throw PodBenchError(
                    .invalidConfiguration,
                    "the expected body length (\(expectedBodyLength) bytes) is more than the largest body taken (\(maximumBodyLength))"
                )
            }
        }
    }

    public struct Result: Sendable {
        public var requests: UInt64
        public var elapsedNanoseconds: UInt64
        public var latency: Histogram<UInt64>
        /// Streams outstanding at once (the server's SETTINGS_MAX_CONCURRENT_STREAMS may lower it).
        public var streams: Int
        /// Connections ended by the server's GOAWAY and opened again.
        public var reconnects: UInt64
        /// Requests above a GOAWAY's last stream or refused (REFUSED_STREAM), sent again.
        public var unprocessed: UInt64
        /// Open loop: requests due within the measured phase that were never sent (no stream was
        /// free before it ended).
        public var missed: UInt64
        public var bodyLength: Int
        /// The first response's header block (HPACK-compressed), in bytes.
        public var headBlockLength: Int
        public var cpu: CPUUsage

        public var requestsPerSecond: Double {
            elapsedNanoseconds == 0 ? 0 : Double(requests) * 1e9 / Double(elapsedNanoseconds)
        }
    }

    /// Runs the plan: warms up, measures, then lets the streams still open end (checked, not
    /// counted) and closes with a GOAWAY. A server's graceful GOAWAY (nginx's keepalive_requests)
    /// ends the connection after its last stream; the rest go again on a new one (so do streams it
    /// refuses with REFUSED_STREAM). A request older than the timeout ends the run, however the
    /// server trickles: the socket's receive timeout is a quarter of it, and the oldest request's
    /// age is checked after every receive and every receive that timed out, so the run ends within
    /// 1.25 times --timeout of the request's send. A measured phase with no answer is an error.
    public static func run(_ plan: Plan) throws -> Result {
        let session = try HTTP2ClientSession(plan.session)
        var channel = try connect(plan)
        var open = true
        defer { if open { channel.close() } }
        session.begin()
        try channel.sendAll(session.pendingSend)
        session.sent()
        var connectedAt = MonotonicClock.now()
        var reconnects: UInt64 = 0
        let started = MonotonicClock.now()
        let measuredFrom = started &+ plan.warmupNanoseconds
        let measuredUntil = measuredFrom &+ plan.durationNanoseconds
        session.recordFrom = measuredFrom
        session.recordUntil = measuredUntil
        var cpuStart: CPUUsage?
        var cpuEnd: CPUUsage?
        let timeoutText = DurationText.format(nanoseconds: plan.timeoutNanoseconds)
        // The open loop's schedule: request k is due at the first SETTINGS' arrival + k * interval.
        let interval = plan.requestsPerSecond.map { UInt64(max(1, (1e9 / $0).rounded())) }
        // Woken on each request's time, not up to 50 µs after it (the default timer slack).
        if interval != nil { _ = CPodBenchLinux_set_timer_slack(1) }
        var due = started
        var scheduled = false
        let receiveWait = max(plan.timeoutNanoseconds / 4, 1_000_000)
        /// A request older than --timeout, or a connection without SETTINGS for that long, ends the run.
        func checkAges(_ now: UInt64) throws {
            if let oldest = session.oldestSentAt, now &- oldest > plan.timeoutNanoseconds {
                throw PodBenchError(
                    .timeout,
                    "request \(session.oldestSequence ?? 0) took longer than --timeout (\(timeoutText)): the server answers too slowly or not at all"
                )
            }
            if !session.settingsReceived && now &- connectedAt > plan.timeoutNanoseconds {
                throw PodBenchError(
                    .timeout,
                    "the server sent no SETTINGS within --timeout (\(timeoutText)) of the connection: is it an HTTP/2 server with cleartext prior knowledge (h2c)?"
                )
            }
        }
        /// Sends what `process` and `issue` queued (acknowledgements, requests), then request bodies
        /// as far as the server's windows let them go, so that nothing piles up.
        func flush() throws {
            session.writeBodies()
            while session.sendCount > 0 {
                try channel.sendAll(session.pendingSend)
                session.sent()
                session.writeBodies()
            }
        }
        while true {
            var now = MonotonicClock.now()
            if cpuStart == nil && now >= measuredFrom { cpuStart = CPUUsage.currentThread() }
            if now >= measuredUntil {
                if cpuEnd == nil { cpuEnd = CPUUsage.currentThread() }
                session.issuing = false
                if session.active == 0 { break }
            }
            if (session.goAway != nil || session.streamsExhausted) && session.active == 0 {
                // The server said goodbye and answered all it will (or the stream identifiers are
                // used up): a new connection.
                channel.close()
                open = false
                channel = try connect(plan)
                open = true
                connectedAt = MonotonicClock.now()
                reconnects += 1
                session.begin()
                try flush()
                continue
            }
            if let interval {
                if !scheduled && session.settingsReceived {
                    // The schedule starts when the first request can go (not before the SETTINGS).
                    scheduled = true
                    due = max(due, now)
                }
                // Requests freed unanswered go first, then every one whose time has come, stamped
                // with that time, while a stream is free; one that finds none waits on the clock (its
                // latency counts the wait: coordinated omission counted, not hidden, as wrk2 does).
                if now < measuredUntil { session.issueRequeued(now: now) }
                while scheduled && due <= now && due < measuredUntil && session.canIssue {
                    session.issue(now: now, count: 1, intended: due)
                    due &+= interval
                }
                try flush()
                var until = now &+ receiveWait
                if scheduled && due < measuredUntil && session.canIssue { until = min(until, due) }
                if now < measuredUntil { until = min(until, measuredUntil) }
                let ready = CPodBenchLinux_wait_readable(
                    channel.descriptor.rawValue, Int64(until > now ? until - now : 0))
                if ready < 0 && errno != EINTR {
                    throw PodBenchError(
                        .ioFailure, "waiting for the server failed",
                        cause: .init(call: "ppoll", errno: Errno(rawValue: errno)))
                }
                if ready != 1 {
                    try checkAges(MonotonicClock.now())
                    continue
                }
            }
            let space = session.receiveSpace()
            var count = 0
            do {
                count = try channel.receiveSome(into: space)
            } catch let error as PodBenchError where error.code == .timeout {
                // A quarter of --timeout without a byte: only the ages below decide.
            } catch let error as PodBenchError {
                throw explain(error, session: session, plan: plan)
            }
            now = MonotonicClock.now()
            var gone = false
            if count > 0 {
                session.received(count)
                try session.process(now: now)
                try flush()
                // Then whatever else has arrived, until the socket is empty, before writing: as an
                // event-loop client (h2load) does, so the requests that answers free go out together.
                while true {
                    let more = session.receiveSpace()
                    let n = recv(channel.descriptor.rawValue, more.baseAddress, more.count, Int32(MSG_DONTWAIT))
                    if n > 0 {
                        session.received(n)
                        now = MonotonicClock.now()
                        try session.process(now: now)
                        try flush()
                        continue
                    }
                    let error = errno
                    if n < 0 && (error == EAGAIN || error == EINTR) { break }
                    if session.goAway != nil && session.active == 0 {
                        // The server closed after its GOAWAY and last answer (as nginx does at
                        // keepalive_requests): the loop's top opens the next connection.
                        gone = true
                        break
                    }
                    if n == 0 {
                        throw explain(PodBenchError(.peerClosed, "end of stream"), session: session, plan: plan)
                    }
                    throw PodBenchError(
                        .ioFailure, "receiving from the server failed",
                        cause: .init(call: "recv", errno: Errno(rawValue: error)))
                }
            }
            if gone { continue }
            try checkAges(now)
            if interval == nil && now < measuredUntil {
                // Each request's clock starts here, after the answers before it were handled.
                session.issue(now: MonotonicClock.now())
            }
            try flush()
        }
        // Requests the open loop's schedule had due within the phase and never sent (every stream
        // was busy until it ended): their latencies are not seen, their count is reported.
        let missed: UInt64 =
            interval.map { interval in
                due < measuredUntil ? (measuredUntil - due + interval - 1) / interval : 0
            } ?? 0
        guard session.recorded > 0 else {
            throw PodBenchError(
                .protocolViolation,
                "no request was answered within the measured phase (\(session.completed) answered in all, \(reconnects) reconnects, \(session.unprocessed) refused or left unprocessed by a GOAWAY): the server takes no requests, or answers slower than --duration"
            )
        }
        // A polite end: GOAWAY (NO_ERROR), then close.
        var goodbye: [UInt8] = []
        HTTP2.appendFrame(type: .goAway, stream: 0, payload: HTTP2.bigEndian(0) + HTTP2.bigEndian(0), to: &goodbye)
        try? goodbye.withUnsafeBytes { try channel.sendAll($0) }
        let cpu = (cpuEnd ?? CPUUsage.currentThread()).since(cpuStart ?? CPUUsage.currentThread())
        return Result(
            requests: session.recorded, elapsedNanoseconds: plan.durationNanoseconds, latency: session.histogram,
            streams: session.concurrency, reconnects: reconnects, unprocessed: session.unprocessed, missed: missed,
            bodyLength: session.expectedLength ?? 0, headBlockLength: session.headBlockLength, cpu: cpu)
    }

    /// A receive that failed, said in the protocol's terms.
    static func explain(_ error: PodBenchError, session: HTTP2ClientSession, plan: Plan) -> PodBenchError {
        switch error.code {
        case .peerClosed:
            if !session.settingsReceived {
                return PodBenchError(
                    .peerClosed,
                    "the server closed the connection before its SETTINGS: is it an HTTP/2 server with cleartext prior knowledge (h2c)?",
                    cause: error.cause)
            }
            return PodBenchError(
                .peerClosed,
                "the server closed the connection with \(session.active) requests unanswered\(session.oldestSequence.map { " (the oldest: request \($0))" } ?? "")",
                cause: error.cause)
        default:
            return error
        }
    }

    /// A connection to the target, TCP_NODELAY on (as h2load's); receives wait a quarter of the
    /// timeout (the loop checks the requests' ages in between), sends the whole of it.
    static func connect(_ plan: Plan) throws -> SocketChannel {
        let channel = try SocketTransport.connect(
            to: plan.target, kind: plan.target.transport, options: TransportOptions(),
            timeoutNanoseconds: plan.timeoutNanoseconds)
        do {
            try channel.descriptor.setIOTimeout(
                receiveNanoseconds: max(plan.timeoutNanoseconds / 4, 1_000_000),
                sendNanoseconds: plan.timeoutNanoseconds)
        } catch {
            channel.close()
            throw error
        }
        return channel
    }
}
