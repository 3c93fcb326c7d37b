import CPodBenchLinux
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTransports
import SystemPackage

extension HTTP1Load {
    /// The most requests the open loop keeps written and unanswered on its connection. A request
    /// due while that many are out waits on the clock, and its latency counts the wait.
    public static let pipelineDepth = 1024

    /// The open loop's buffers, made before the phase: the request written out `batch` times (so a
    /// backlog goes in one send), the intended times of the requests outstanding (a ring), and the
    /// receive buffer (a head and a body of the largest size taken, and room to read ahead).
    public final class Pipeline {
        let copies: UnsafeMutableRawBufferPointer
        let requestLength: Int
        let batch: Int
        /// Requests queued and not yet written whole; `partial` bytes of the first are written.
        var unsent = 0
        var partial = 0
        let intended: UnsafeMutableBufferPointer<UInt64>
        var oldest = 0
        var outstanding = 0
        var peak = 0
        let receive: UnsafeMutableRawBufferPointer
        var start = 0
        var end = 0

        public init(request: [UInt8], maximumBody: Int) {
            requestLength = request.count
            batch = max(1, min(64, (64 << 10) / max(1, request.count)))
            copies = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * request.count, alignment: 64)
            for k in 0..<batch {
                UnsafeMutableRawBufferPointer(rebasing: copies[(k * request.count)...]).copyBytes(from: request)
            }
            intended = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: HTTP1Load.pipelineDepth)
            intended.initialize(repeating: 0)
            receive = UnsafeMutableRawBufferPointer.allocate(
                byteCount: maximumBody + HTTP1.maximumHeadLength + (64 << 10), alignment: 64)
        }

        deinit {
            copies.deallocate()
            intended.deallocate()
            receive.deallocate()
        }

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

    /// The open loop, as wrk2 drives one connection: request k is due at the start + k / rate and
    /// is written then, whether or not the answers before it came (pipelined: the server answers in
    /// order), and its latency runs from that intended time to its answer's last byte, so a slow
    /// answer delays every one behind it and all of them count it (coordinated omission counted,
    /// not hidden). At most `pipelineDepth` are out at once; one due while they are waits on the
    /// clock, and requests due in the phase that never went are counted (`missed`). The warm-up runs
    /// on the same schedule; the measured phase's requests are those due within it. Never blocks on
    /// the socket; allocates nothing once the buffers are made. A connection the server closes
    /// (`Connection: close`, a reset) fails the run with the requests it took with it.
    static func runOpenLoop(_ plan: Plan, rate: Double, channel: SocketChannel) throws -> Result {
        let pipeline = Pipeline(
            request: try request(path: plan.path, host: plan.host), maximumBody: plan.maximumBodyLength)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        return try openLoop(plan, rate: rate, channel: channel, pipeline: pipeline, histogram: &histogram)
    }

    /// `runOpenLoop` with its buffers made (a `Pipeline` with nothing outstanding: a new one, or
    /// one whose last run ended well) and the histogram it records into (reset here; the result
    /// holds a copy). Allocates nothing in the phase.
    public static func openLoop(
        _ plan: Plan, rate: Double, channel: SocketChannel, pipeline: Pipeline, histogram: inout Histogram<UInt64>
    ) throws -> Result {
        precondition(pipeline.outstanding == 0 && pipeline.unsent == 0, "an open loop starts with an empty pipeline")
        pipeline.start = 0
        pipeline.end = 0
        pipeline.partial = 0
        pipeline.peak = 0
        histogram.reset()
        // Wake on each request's time, not up to 50 µs after it (the default timer slack), which
        // would count in every latency.
        _ = CPodBenchLinux_set_timer_slack(1)
        let fd = channel.descriptor.rawValue
        let interval = UInt64(max(1, (1e9 / rate).rounded()))
        let timeout = plan.timeoutNanoseconds
        let timeoutText = DurationText.format(nanoseconds: timeout)
        var expectation = Expectation(bodyLength: plan.expectedBodyLength)
        let highest = histogram.highestTrackableValue
        let started = MonotonicClock.now()
        let measuredFrom = started &+ plan.warmupNanoseconds
        let measuredUntil = measuredFrom &+ plan.durationNanoseconds
        var due = started
        // Requests answered (the next answer's number) and those measured.
        var sequence: UInt64 = 0
        var recorded: UInt64 = 0
        var cpuStart: CPUUsage?
        var cpuEnd: CPUUsage?
        let receiveWait = max(timeout / 4, 1_000_000)

        /// The server closed or reset the connection under the requests outstanding.
        func closed() -> PodBenchError {
            PodBenchError(
                .peerClosed,
                "the server closed the connection with \(pipeline.outstanding) requests outstanding, \(sequence) answered: the open loop writes each request at its time whether or not the answers before it came (pipelined, as wrk2); a server or proxy that does not take pipelined requests closes the connection"
            )
        }

        /// Takes every whole response received, oldest request first.
        func takeResponses(_ now: UInt64) throws {
            while pipeline.end > pipeline.start {
                let pending = UnsafeRawBufferPointer(
                    start: pipeline.receive.baseAddress! + pipeline.start, count: pipeline.end - pipeline.start)
                guard let head = try HTTP1.parseHead(pending, response: true) else { return }
                guard pipeline.outstanding > 0 else {
                    throw PodBenchError(
                        .protocolViolation,
                        "a response arrived after the answer to request \(sequence &- 1) that no request asked for")
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
                if time >= measuredFrom && time < measuredUntil {
                    histogram.record(min(now &- time, highest))
                    recorded &+= 1
                }
                sequence &+= 1
                pipeline.start += head.length + length
                if head.closes && (pipeline.outstanding > 0 || (due < measuredUntil && now < measuredUntil)) {
                    throw PodBenchError(
                        .protocolViolation,
                        "the response to request \(sequence - 1) closes the connection (Connection: close) with \(pipeline.outstanding) requests written behind it: the open loop keeps one connection and writes each request at its time (nginx closes a client's connection after keepalive_requests, 1000 by default: docs/http.md)"
                    )
                }
            }
            pipeline.start = 0
            pipeline.end = 0
        }

        while true {
            let now = MonotonicClock.now()
            if cpuStart == nil && now >= measuredFrom { cpuStart = CPUUsage.currentThread() }
            if cpuEnd == nil && now >= measuredUntil { cpuEnd = CPUUsage.currentThread() }
            // Every request due by now, stamped with its time, while the pipeline has room and the
            // phase lasts (what is still due when it ends was never sent: `missed`).
            while due <= now && due < measuredUntil && now < measuredUntil && pipeline.outstanding < pipelineDepth {
                pipeline.push(due)
                due &+= interval
            }
            if now >= measuredUntil && pipeline.outstanding == 0 { break }
            // What the socket takes now.
            while pipeline.unsent > 0 {
                let bytes = pipeline.pending
                let n = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                if n > 0 {
                    pipeline.wrote(n)
                    continue
                }
                let error = errno
                if n < 0 && error == EINTR { continue }
                if n < 0 && (error == EAGAIN || error == EWOULDBLOCK) { break }
                if error == EPIPE || error == ECONNRESET { throw closed() }
                throw PodBenchError(
                    .ioFailure, "sending to the server failed with \(pipeline.outstanding) requests outstanding",
                    cause: .init(call: "send", errno: Errno(rawValue: error)))
            }
            if pipeline.outstanding > 0 {
                let oldest = pipeline.intended[pipeline.oldest]
                if now > oldest && now - oldest > timeout {
                    throw PodBenchError(
                        .timeout,
                        "request \(sequence) was not answered within --timeout (\(timeoutText)) of its scheduled send: the server answers too slowly or not at all (\(pipeline.outstanding) outstanding)"
                    )
                }
            }
            // Wait for answers, room to write, the next request's time or the phase's end.
            var wake = now &+ receiveWait
            if due < measuredUntil && now < measuredUntil && pipeline.outstanding < pipelineDepth {
                wake = min(wake, due)
            }
            if now < measuredUntil { wake = min(wake, measuredUntil) }
            if pipeline.outstanding > 0 { wake = min(wake, pipeline.intended[pipeline.oldest] &+ timeout &+ 1) }
            var events = Int16(POLLIN)
            if pipeline.unsent > 0 { events |= Int16(POLLOUT) }
            let ready = CPodBenchLinux_poll_one(fd, events, Int64(wake > now ? wake - now : 0))
            if ready < 0 {
                let error = errno
                if error == EINTR { continue }
                throw PodBenchError(
                    .ioFailure, "waiting for the server failed",
                    cause: .init(call: "ppoll", errno: Errno(rawValue: error)))
            }
            if ready == 0 { continue }
            if ready & Int32(POLLNVAL) != 0 {
                throw PodBenchError(.ioFailure, "the connection's socket is closed (POLLNVAL)")
            }
            guard ready & Int32(POLLIN | POLLHUP | POLLERR) != 0 else { continue }
            let room = pipeline.room()
            let n = recv(fd, room.baseAddress, room.count, Int32(MSG_DONTWAIT))
            if n > 0 {
                pipeline.end += n
                try takeResponses(MonotonicClock.now())
                continue
            }
            let error = errno
            if n < 0 && (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) { continue }
            // Closed after the last answer of a run whose requests have all gone: done.
            if n == 0 && pipeline.outstanding == 0 && (due >= measuredUntil || MonotonicClock.now() >= measuredUntil) {
                break
            }
            if n == 0 || error == ECONNRESET { throw closed() }
            throw PodBenchError(
                .ioFailure, "receiving from the server failed",
                cause: .init(call: "recv", errno: Errno(rawValue: error))
            )
        }
        // Requests due within the phase and never written (the pipeline was full until it ended):
        // their latencies are not seen, their count is reported.
        let firstMissed = max(due, measuredFrom)
        let missed = firstMissed < measuredUntil ? (measuredUntil - firstMissed + interval - 1) / interval : 0
        guard recorded > 0 else {
            let seconds = Double(MonotonicClock.now() &- started) / 1e9
            throw PodBenchError(
                .protocolViolation,
                missed > 0
                    ? "the server fell behind: none of the requests due in the measured phase was written (the pipeline stayed full of earlier ones); it answered \(sequence) in \(String(format: "%.1f", seconds)) s, far below --rate \(String(format: "%.0f", rate))/s: lower --rate"
                    : "no request due within the measured phase was answered (\(sequence) answered in all): the rate is too low for --duration"
            )
        }
        let cpu = (cpuEnd ?? CPUUsage.currentThread()).since(cpuStart ?? CPUUsage.currentThread())
        return Result(
            requests: recorded, elapsedNanoseconds: plan.durationNanoseconds, latency: histogram, reconnects: 0,
            bodyLength: expectation.bodyLength ?? 0, headLength: expectation.headLength, cpu: cpu, missed: missed,
            peakOutstanding: pipeline.peak)
    }
}
