import CPodBenchLinux
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTransports
import SystemPackage

extension HTTP1Load {
    /// The most requests `--pipeline` lets the open loop keep written and unanswered on its
    /// connection.
    public static let largestPipeline = 1024

    /// The open loop's buffers, made before the phase: the request written out `batch` times (so a
    /// backlog goes in few sends), the intended times of the requests outstanding (a ring of the
    /// pipeline's depth), and the receive buffer (a head and a body of the largest size taken, and
    /// room to read ahead).
    public final class Pipeline {
        let copies: UnsafeMutableRawBufferPointer
        let requestLength: Int
        let batch: Int
        /// The largest body the receive buffer takes with a head.
        public let maximumBody: Int
        /// Requests queued and not yet written whole; `partial` bytes of the first are written.
        var unsent = 0
        var partial = 0
        let intended: UnsafeMutableBufferPointer<UInt64>
        var oldest = 0
        /// Requests queued and not answered, written or not.
        var outstanding = 0
        var peak = 0
        let receive: UnsafeMutableRawBufferPointer
        var start = 0
        var end = 0

        /// - Parameter depth: the most requests outstanding at once (1 to `largestPipeline`).
        public init(request: [UInt8], maximumBody: Int, depth: Int) {
            precondition((1...HTTP1Load.largestPipeline).contains(depth), "a pipeline of 1 to 1024 requests")
            requestLength = request.count
            self.maximumBody = maximumBody
            batch = max(1, min(64, depth, (64 << 10) / max(1, request.count)))
            copies = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * request.count, alignment: 64)
            for k in 0..<batch {
                UnsafeMutableRawBufferPointer(rebasing: copies[(k * request.count)...]).copyBytes(from: request)
            }
            intended = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: depth)
            intended.initialize(repeating: 0)
            receive = UnsafeMutableRawBufferPointer.allocate(
                byteCount: maximumBody + HTTP1.maximumHeadLength + (64 << 10), alignment: 64)
        }

        deinit {
            copies.deallocate()
            intended.deallocate()
            receive.deallocate()
        }

        /// Nothing queued, nothing received: a run's start (whatever the last one left).
        func reset() {
            unsent = 0
            partial = 0
            oldest = 0
            outstanding = 0
            peak = 0
            start = 0
            end = 0
        }

        var isFull: Bool { outstanding == intended.count }
        /// Requests written whole and not answered: the only ones an answer can be for.
        var written: Int { outstanding - unsent }

        /// Queues one request due at `time`.
        @inline(__always)
        func push(_ time: UInt64) {
            intended[(oldest + outstanding) % intended.count] = time
            outstanding += 1
            peak = max(peak, outstanding)
            unsent += 1
        }

        /// The oldest request's intended time, taken off the ring as its answer came.
        @inline(__always)
        func pop() -> UInt64 {
            let time = intended[oldest]
            oldest = (oldest + 1) % intended.count
            outstanding -= 1
            return time
        }

        /// The bytes to write now: the unsent requests, up to `batch` of them, less what went.
        @inline(__always)
        var pending: UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(
                start: copies.baseAddress! + partial, count: min(unsent, batch) * requestLength - partial)
        }

        @inline(__always)
        func wrote(_ count: Int) {
            partial += count
            unsent -= partial / requestLength
            partial %= requestLength
        }

        /// Room to read into, the bytes not yet taken moved to the front when the end is reached.
        @inline(__always)
        func room() -> UnsafeMutableRawBufferPointer {
            if end == receive.count && start > 0 {
                (receive.baseAddress!).copyMemory(from: receive.baseAddress! + start, byteCount: end - start)
                end -= start
                start = 0
            }
            return UnsafeMutableRawBufferPointer(start: receive.baseAddress! + end, count: receive.count - end)
        }
    }

    /// The open loop: request k is due at the start + k / rate, and its latency runs from that
    /// intended time to its answer's last byte, as wrk2 records it, so a slow answer counts in
    /// every request that waited behind it (coordinated omission counted, not hidden). With
    /// `--pipeline 1` (the default) a request is written when it is due and the one before it has
    /// been answered, wrk2's way on one connection (which catches up at twice the rate when
    /// behind; this one as fast as the answers come); with `--pipeline N` up to N are written
    /// without waiting for the answers before them (HTTP/1.1 pipelining: the server answers in
    /// order). A request due while the pipeline is full waits on the clock, and the requests due in
    /// the measured phase that could not go before it ended are counted (`missed`). The warm-up
    /// runs on the same schedule. Never blocks on the socket; allocates nothing once the buffers
    /// are made. A connection the server closes with nothing written unanswered (`Connection:
    /// close`, an idle close) is opened again with `reconnect` (counted); one closed under written
    /// requests fails the run with them counted.
    /// `channel` is the connection in use when it returns or throws (another after a reconnect,
    /// the old one closed): the caller closes it.
    static func runOpenLoop(
        _ plan: Plan, rate: Double, channel: inout SocketChannel, reconnect: (() throws -> SocketChannel)? = nil
    ) throws -> Result {
        let pipeline = Pipeline(
            request: try request(path: plan.path, host: plan.host), maximumBody: plan.maximumBodyLength,
            depth: plan.pipelineDepth)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        return try openLoop(
            plan, rate: rate, channel: &channel, reconnect: reconnect, pipeline: pipeline, histogram: &histogram)
    }

    /// `runOpenLoop` with its buffers made (a `Pipeline` of the plan's depth and largest body, emptied
    /// here) and the histogram it records into (reset here; the result holds a copy). `channel` is
    /// the connection in use when it returns or throws (another after a reconnect: the caller
    /// closes it). Allocates nothing in the phase.
    public static func openLoop(
        _ plan: Plan, rate: Double, channel: inout SocketChannel, reconnect: (() throws -> SocketChannel)? = nil,
        pipeline: Pipeline, histogram: inout Histogram<UInt64>
    ) throws -> Result {
        precondition(
            pipeline.intended.count == plan.pipelineDepth && pipeline.maximumBody >= plan.maximumBodyLength,
            "the pipeline is made for the plan")
        pipeline.reset()
        histogram.reset()
        // Wake on each request's time, not up to 50 µs after it (the default timer slack), which
        // would count in every latency.
        _ = CPodBenchLinux_set_timer_slack(1)
        var fd = channel.descriptor.rawValue
        let interval = UInt64(max(1, (1e9 / rate).rounded()))
        let timeout = plan.timeoutNanoseconds
        let timeoutText = DurationText.format(nanoseconds: timeout)
        var expectation = Expectation(bodyLength: plan.expectedBodyLength)
        let highest = histogram.highestTrackableValue
        let started = MonotonicClock.now()
        let measuredFrom = started &+ plan.warmupNanoseconds
        let measuredUntil = measuredFrom &+ plan.durationNanoseconds
        var due = started
        // Once the clock has passed the phase's end, what is still due never goes (`missed`).
        var scheduleClosed = false
        // Requests answered (the next answer's number) and those measured; reconnects.
        var sequence: UInt64 = 0
        var recorded: UInt64 = 0
        var reconnects: UInt64 = 0
        // The last answer, the last write the server made room for (one that had waited on a full
        // socket, or the first with nothing written unanswered), or the last moment nothing was
        // outstanding: --timeout bounds how long the server may neither answer nor read while
        // requests wait. A write into room the socket had anyway is not the server's doing.
        var lastProgress = started
        var sendBlocked = false
        var cpuStart: CPUUsage?
        var cpuEnd: CPUUsage?
        let receiveWait = max(timeout / 4, 1_000_000)
        // A connection closed with nothing written unanswered, to open again before writing; the
        // answers the current connection gave (one closed before any is not reopened).
        var closedBetween = false
        var answersOnConnection = 0

        /// The server closed or reset the connection under written requests.
        func closed() -> PodBenchError {
            PodBenchError(
                .peerClosed,
                "the server closed the connection with \(pipeline.written) requests written and unanswered (\(sequence) answered)\(plan.pipelineDepth > 1 ? ": with --pipeline above 1 requests are written before the answers to those before them, and a server or proxy that does not take pipelined requests closes the connection" : "")"
            )
        }

        /// Takes every whole response received, oldest request first.
        func takeResponses(_ now: UInt64) throws {
            while pipeline.end > pipeline.start {
                let pending = UnsafeRawBufferPointer(
                    start: pipeline.receive.baseAddress! + pipeline.start, count: pipeline.end - pipeline.start)
                guard let head = try HTTP1.parseHead(pending, response: true) else { return }
                guard pipeline.written > 0 else {
                    throw PodBenchError(
                        .protocolViolation,
                        "a response arrived that no request written asked for (\(sequence) answered, \(pipeline.unsent) not yet written)"
                    )
                }
                guard head.status == 200, let length = head.contentLength, length <= plan.maximumBodyLength else {
                    throw answerError(
                        head, of: sequence, headBytes: UnsafeRawBufferPointer(rebasing: pending[..<head.length]),
                        maximumBody: plan.maximumBodyLength)
                }
                guard pending.count >= head.length + length else { return }
                try expectation.check(
                    UnsafeRawBufferPointer(rebasing: pending[head.length..<(head.length + length)]),
                    headLength: head.length, of: sequence)
                let time = pipeline.pop()
                answersOnConnection += 1
                if time >= measuredFrom && time < measuredUntil {
                    histogram.record(min(now &- time, highest))
                    recorded &+= 1
                }
                sequence &+= 1
                lastProgress = now
                pipeline.start += head.length + length
                if head.closes {
                    guard pipeline.written == 0 && pipeline.end == pipeline.start else {
                        throw PodBenchError(
                            .protocolViolation,
                            "the response to request \(sequence - 1) closes the connection (Connection: close) with \(pipeline.written) requests written behind it, which it will not answer"
                        )
                    }
                    closedBetween = true
                    return
                }
            }
            pipeline.start = 0
            pipeline.end = 0
        }

        while true {
            var now = MonotonicClock.now()
            if cpuStart == nil && now >= measuredFrom { cpuStart = CPUUsage.currentThread() }
            if cpuEnd == nil && now >= measuredUntil { cpuEnd = CPUUsage.currentThread() }
            // Every request due by now, stamped with its time, while the pipeline has room; the
            // pass that finds the phase over still queues what fell due within it.
            while !scheduleClosed && due <= now && due < measuredUntil && !pipeline.isFull {
                pipeline.push(due)
                due &+= interval
            }
            if now >= measuredUntil { scheduleClosed = true }
            if scheduleClosed && pipeline.outstanding == 0 { break }
            if closedBetween {
                // Closed with nothing written unanswered (Connection: close, an idle close): open
                // another when a request is due, as wrk does; the time it takes counts in the
                // waiting requests' latency. Until one is due, the clock alone is waited on.
                guard let reconnect else {
                    throw PodBenchError(
                        .peerClosed,
                        "the server closed the connection after request \(sequence &- 1) (\(pipeline.unsent) due requests not yet written)"
                    )
                }
                if pipeline.unsent == 0 {
                    let until = due < measuredUntil ? due : measuredUntil
                    _ = try SocketWait.poll(-1, 0, nanoseconds: Int64(until > now ? until - now : 0))
                    continue
                }
                guard answersOnConnection > 0 else {
                    throw PodBenchError(
                        .peerClosed,
                        "the server closed a connection before answering anything on it (\(sequence) answered, \(reconnects) reconnects)"
                    )
                }
                // The new connection first: if it cannot be made, the old one is still the
                // caller's to close, once.
                let fresh = try reconnect()
                channel.close()
                channel = fresh
                fd = channel.descriptor.rawValue
                reconnects += 1
                closedBetween = false
                answersOnConnection = 0
                sendBlocked = false
                pipeline.partial = 0
                pipeline.start = 0
                pipeline.end = 0
                continue
            }
            if pipeline.outstanding == 0 { lastProgress = now }
            // What the socket takes now.
            while pipeline.unsent > 0 {
                let bytes = pipeline.pending
                let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                if n > 0 {
                    if sendBlocked || pipeline.written == 0 { lastProgress = MonotonicClock.now() }
                    sendBlocked = false
                    pipeline.wrote(n)
                    continue
                }
                let error = errno
                if n < 0 && error == EINTR { continue }
                if n < 0 && (error == EAGAIN || error == EWOULDBLOCK) {
                    sendBlocked = true
                    break
                }
                if error == EPIPE || error == ECONNRESET {
                    // Nothing written whole was lost: the server cannot have taken a part of one.
                    if pipeline.written == 0 {
                        closedBetween = true
                        break
                    }
                    throw closed()
                }
                throw PodBenchError(
                    .ioFailure, "sending to the server failed with \(pipeline.outstanding) requests outstanding",
                    cause: .init(call: "send", errno: Errno(rawValue: error)))
            }
            if closedBetween { continue }
            if pipeline.outstanding > 0 && now > lastProgress && now - lastProgress > timeout {
                throw PodBenchError(
                    .timeout,
                    "the server neither answered nor took a byte for --timeout (\(timeoutText)) with \(pipeline.written) requests written and \(pipeline.unsent) waiting (request \(sequence) the oldest): it answers too slowly or not at all"
                )
            }
            // Wait for answers, room to write, the next request's time or the phase's end.
            var wake = now &+ receiveWait
            if !scheduleClosed && due < measuredUntil && !pipeline.isFull { wake = min(wake, due) }
            if now < measuredUntil { wake = min(wake, measuredUntil) }
            if pipeline.outstanding > 0 { wake = min(wake, lastProgress &+ timeout &+ 1) }
            var events = Int16(POLLIN)
            if pipeline.unsent > 0 { events |= Int16(POLLOUT) }
            let ready = try SocketWait.poll(fd, events, nanoseconds: Int64(wake > now ? wake - now : 0))
            guard ready & Int32(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
            let room = pipeline.room()
            let n = recv(fd, room.baseAddress, room.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                pipeline.end += n
                now = MonotonicClock.now()
                try takeResponses(now)
                continue
            }
            let error = errno
            if n < 0 && (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) { continue }
            if n == 0 || error == ECONNRESET {
                // An idle close (a keep-alive timeout) with nothing written unanswered: reopen.
                if pipeline.written == 0 && pipeline.end == pipeline.start {
                    if scheduleClosed && pipeline.outstanding == 0 { break }
                    closedBetween = true
                    continue
                }
                if n == 0 && pipeline.end > pipeline.start {
                    throw PodBenchError(
                        .protocolViolation,
                        "the server closed the connection in the middle of the answer to request \(sequence) (\(pipeline.end - pipeline.start) bytes of it in)"
                    )
                }
                throw closed()
            }
            throw PodBenchError(
                .ioFailure, "receiving from the server failed",
                cause: .init(call: "recv", errno: Errno(rawValue: error))
            )
        }
        if pipeline.end > pipeline.start {
            throw PodBenchError(
                .protocolViolation,
                "\(pipeline.end - pipeline.start) bytes arrived after the answer to request \(sequence &- 1), which no request asked for"
            )
        }
        // Requests due within the phase that could not be queued before it ended (the pipeline
        // was full): their latencies are not seen, their count is reported.
        // (The first of them on the schedule: `due`, or the first due time in the phase.)
        let firstMissed = due >= measuredFrom ? due : due &+ (measuredFrom - due + interval - 1) / interval * interval
        let missed = firstMissed < measuredUntil ? (measuredUntil - firstMissed + interval - 1) / interval : 0
        guard recorded > 0 else {
            let seconds = Double(MonotonicClock.now() &- started) / 1e9
            throw PodBenchError(
                .protocolViolation,
                missed > 0
                    ? "the server fell behind: none of the requests due in the measured phase could be written (the pipeline stayed full of earlier ones); it answered \(sequence) in \(String(format: "%.1f", seconds)) s, far below --rate \(String(format: "%.0f", rate))/s: lower --rate or raise --pipeline"
                    : "no request was due within the measured phase (\(sequence) answered in all): the rate is too low for --duration"
            )
        }
        let cpu = (cpuEnd ?? CPUUsage.currentThread()).since(cpuStart ?? CPUUsage.currentThread())
        return Result(
            requests: recorded, elapsedNanoseconds: plan.durationNanoseconds, latency: histogram,
            reconnects: reconnects, bodyLength: expectation.bodyLength ?? 0, headLength: expectation.headLength,
            cpu: cpu, missed: missed, peakOutstanding: pipeline.peak)
    }
}
