import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTransports
import Synchronization

/// `podbench http-load`: podbench's HTTP/1.1 client against any server, the way `wrk -t1 -c1` drives
/// one: one connection, keep-alive, `GET` of one path, the next request sent when the last
/// response's last byte has arrived. It is the http1 workload's loop with a fixed request, for
/// measuring the client against a program nobody here wrote (nginx serving a file) and holding it
/// to wrk's figures (docs/http.md). Every response is checked: the status is 200, it has a
/// Content-Length, and its body is the first response's, byte for byte by checksum (a fixed
/// resource: a server or proxy that answers with something else fails the run, naming the request).
public enum HTTP1Load {
    /// What to measure.
    public struct Plan: Sendable {
        public var target: SocketAddress
        public var path: String
        /// The `Host` field (default: the target's address).
        public var host: String
        public var durationNanoseconds: UInt64
        public var warmupNanoseconds: UInt64
        /// The body length every response must have; nil: the first response's.
        public var expectedBodyLength: Int?
        /// The longest body taken (the receive buffer's size follows from it).
        public var maximumBodyLength: Int
        /// How long one request may take, from its send to its response's last byte, before the
        /// run fails (however slowly the bytes trickle in).
        public var timeoutNanoseconds: UInt64
        /// Open loop: requests due at this rate, each timed from its due time (nil: closed loop,
        /// the next request when the last answer is in). `HTTP1Load.runOpenLoop`.
        public var requestsPerSecond: Double?
        /// Open loop: the most requests written and unanswered at once (1: the next is written
        /// when the last is answered, as wrk2; more: HTTP/1.1 pipelining).
        public var pipelineDepth: Int

        public init(
            target: SocketAddress, path: String, host: String? = nil, durationNanoseconds: UInt64,
            warmupNanoseconds: UInt64, expectedBodyLength: Int? = nil, maximumBodyLength: Int = 4 << 20,
            timeoutNanoseconds: UInt64 = 10_000_000_000, requestsPerSecond: Double? = nil, pipelineDepth: Int = 1
        ) throws {
            guard (1...HTTP1Load.largestPipeline).contains(pipelineDepth) else {
                throw PodBenchError(
                    .invalidConfiguration, "--pipeline: 1 to \(HTTP1Load.largestPipeline) requests (\(pipelineDepth))")
            }
            guard timeoutNanoseconds >= 1_000_000 && timeoutNanoseconds <= 86_400_000_000_000 else {
                throw PodBenchError(.invalidConfiguration, "--timeout: 1ms to 1 day")
            }
            self.pipelineDepth = pipelineDepth
            if let requestsPerSecond, !(requestsPerSecond >= 1 && requestsPerSecond <= 10_000_000) {
                throw PodBenchError(.invalidConfiguration, "--rate: 1 to 10M requests a second (\(requestsPerSecond))")
            }
            self.requestsPerSecond = requestsPerSecond
            self.target = target
            self.path = path
            self.host = host ?? Self.defaultHost(target)
            self.durationNanoseconds = durationNanoseconds
            self.warmupNanoseconds = warmupNanoseconds
            self.expectedBodyLength = expectedBodyLength
            self.maximumBodyLength = maximumBodyLength
            self.timeoutNanoseconds = timeoutNanoseconds
            _ = try HTTP1Load.request(path: path, host: self.host)
            if let expectedBodyLength, expectedBodyLength > maximumBodyLength {
                throw PodBenchError(
                    .invalidConfiguration,
                    "the expected body length (\(expectedBodyLength) bytes) is more than the largest body taken (\(maximumBodyLength))"
                )
            }
        }

        /// `HOST:PORT` of a TCP target (what wrk sends), `localhost` for a Unix socket.
        static func defaultHost(_ target: SocketAddress) -> String {
            switch target {
            case .ipv4(let host, let port): "\(host):\(port)"
            case .ipv6(let host, let port): "[\(host)]:\(port)"
            case .unixPath, .unixAbstract: "localhost"
            }
        }
    }

    /// What was measured: the measured phase only (the warm-up's requests are checked, not counted).
    public struct Result: Sendable {
        public var requests: UInt64
        public var elapsedNanoseconds: UInt64
        public var latency: Histogram<UInt64>
        /// Connections the server closed (`Connection: close`, HTTP/1.0), reopened as wrk does, in
        /// both phases.
        public var reconnects: UInt64
        public var bodyLength: Int
        /// The first response's head, in bytes.
        public var headLength: Int
        /// This thread's CPU time over the measured phase.
        public var cpu: CPUUsage
        /// Open loop: requests due within the measured phase and never written (the pipeline was
        /// full until it ended).
        public var missed: UInt64 = 0
        /// The most requests outstanding at once (1 in the closed loop).
        public var peakOutstanding = 1

        public var requestsPerSecond: Double {
            elapsedNanoseconds == 0 ? 0 : Double(requests) * 1e9 / Double(elapsedNanoseconds)
        }
    }

    /// The request: `GET path HTTP/1.1` with the fields wrk sends (Host) and a client's usual ones.
    /// - Throws: `.invalidConfiguration` for a path that is not an origin-form target (`/` and
    ///   visible characters) or a host with anything but a host's characters.
    public static func request(path: String, host: String) throws -> [UInt8] {
        let pathBytes = Array(path.utf8)
        guard pathBytes.first == UInt8(ascii: "/"), pathBytes.count <= 4096,
            pathBytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else {
            throw PodBenchError(
                .invalidConfiguration,
                "--path: '\(TextEscaping.terminal(path))' is not a request target: it starts with / and has only visible ASCII characters (percent-encode the rest), at most 4096"
            )
        }
        let hostBytes = Array(host.utf8)
        guard !hostBytes.isEmpty, hostBytes.count <= 255,
            hostBytes.allSatisfy({
                HTTP1.isToken($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "]")
            })
        else {
            throw PodBenchError(
                .invalidConfiguration,
                "--host: '\(TextEscaping.terminal(host))' is not a host name or address (with an optional :port)")
        }
        return Array(
            "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: podbench/\(PodBenchVersion.version)\r\nAccept: */*\r\n\r\n"
                .utf8)
    }

    /// The body every response must carry, learned from the first one.
    public struct Expectation: Sendable {
        public var bodyLength: Int?
        public var checksum: UInt64?
        public var headLength = 0

        public init(bodyLength: Int?) { self.bodyLength = bodyLength }

        /// Holds the response to request `sequence` to the first one's body (and --expect-length),
        /// or learns it from this one when it is the first.
        @inline(__always)
        mutating func check(_ body: UnsafeRawBufferPointer, headLength: Int, of sequence: UInt64) throws {
            let length = body.count
            if let checksum {
                guard length == bodyLength!, PayloadChecksum.checksum(body) == checksum else {
                    throw PodBenchError(
                        .integrityFailure,
                        "the response to request \(sequence) has \(length == bodyLength! ? "another body than the first response's (same length, another checksum)" : "a \(length)-byte body, the first response's had \(bodyLength!)"): http-load asks for one fixed resource, and every answer must be the same"
                    )
                }
                return
            }
            if let expected = bodyLength, expected != length {
                throw PodBenchError(
                    .integrityFailure,
                    "the response to request \(sequence) has a \(length)-byte body, --expect-length is \(expected)")
            }
            bodyLength = length
            checksum = PayloadChecksum.checksum(body)
            self.headLength = headLength
        }
    }

    /// How a run of `loop` ended.
    public enum Ending: Equatable, Sendable {
        /// The deadline or the request limit came.
        case done
        /// The last response closed the connection: open another to go on.
        case closed
    }

    /// When the request in flight was sent, for `run`'s watchdog: 0 when none is, `claimed` once
    /// the watchdog has taken it as timed out. Whoever moves `since` off a request's send time owns
    /// its end: the loop when the response came in time, the watchdog (which then shuts the
    /// connection down) when it did not; the connection is closed only with no request left to
    /// claim, so the watchdog never touches a descriptor that was closed (and perhaps reused).
    public final class InFlight: Sendable {
        let since = Atomic<UInt64>(0)
        /// The connection's descriptor, for the watchdog to shut down.
        let descriptor = Atomic<Int32>(-1)
        let finished = Atomic<Bool>(false)
        /// The watchdog claimed a request, and (`shot`) has shut its connection down.
        let fired = Atomic<Bool>(false)
        let shot = Atomic<Bool>(false)
        static let claimed: UInt64 = 1

        public init() {}

        /// The request sent at `started` was answered: false when the watchdog claimed it first.
        @inline(__always)
        func answered(_ started: UInt64) -> Bool {
            since.compareExchange(expected: started, desired: 0, ordering: .acquiringAndReleasing).exchanged
        }

        /// No request in flight from now on; returns once a watchdog that claimed one is done with
        /// the descriptor (call before closing it).
        func settle() {
            if since.exchange(0, ordering: .acquiringAndReleasing) == Self.claimed {
                while !shot.load(ordering: .acquiring) { usleep(100) }
            }
        }
    }

    /// Requests until `deadline` (or `limit` requests), recording each round trip in `histogram`
    /// when `record`. Allocates nothing.
    /// - Parameters:
    ///   - sequence: requests sent so far (the next one's number, for errors).
    ///   - inFlight: told when each request is sent and answered.
    @inline(__always)
    public static func loop<Channel: DataChannel>(
        reader: inout FrameReader<Channel>, request: UnsafeRawBufferPointer, expectation: inout Expectation,
        histogram: inout Histogram<UInt64>, record: Bool, deadline: UInt64, limit: UInt64 = .max,
        maximumBody: Int, sequence: inout UInt64, inFlight: InFlight? = nil
    ) throws -> Ending {
        let channel = reader.channel
        let highest = histogram.highestTrackableValue
        var sent: UInt64 = 0
        while sent < limit && MonotonicClock.now() < deadline {
            let started = MonotonicClock.now()
            inFlight?.since.store(started, ordering: .releasing)
            try channel.sendAll(request)
            let head = try reader.nextHTTPHead(from: channel, response: true)
            guard head.status == 200, let length = head.contentLength, length <= maximumBody else {
                throw answerError(
                    head, of: sequence, headBytes: reader.pendingBytes(head.length), maximumBody: maximumBody)
            }
            let message = try reader.takeHTTP(head.length + length, from: channel)
            let now = MonotonicClock.now()
            if let inFlight, !inFlight.answered(started) {
                throw PodBenchError(.timeout, "request \(sequence) was answered after --timeout")
            }
            try expectation.check(
                UnsafeRawBufferPointer(rebasing: message[head.length...]), headLength: head.length, of: sequence)
            if record { histogram.record(min(now &- started, highest)) }
            sequence &+= 1
            sent &+= 1
            if head.closes { return .closed }
            if reader.pendingCount > 0 {
                throw PodBenchError(
                    .protocolViolation,
                    "\(reader.pendingCount) bytes arrived after the response to request \(sequence - 1), which no request asked for"
                )
            }
        }
        return .done
    }

    static func answerError(
        _ head: HTTP1.Head, of sequence: UInt64, headBytes: UnsafeRawBufferPointer, maximumBody: Int
    ) -> PodBenchError {
        if head.status != 200 {
            return PodBenchError(
                .protocolViolation,
                "request \(sequence) (GET): the answer is \(HTTP1.quote(headBytes, head.startLine)), not 200 OK")
        }
        guard let length = head.contentLength else {
            return PodBenchError(
                .protocolViolation,
                "request \(sequence) (GET): the response has no Content-Length (a chunked or close-delimited body), which http-load does not read: serve a file or a fixed body"
            )
        }
        return PodBenchError(
            .protocolViolation,
            "request \(sequence) (GET): the response says \(length) body bytes, more than --max-body (\(maximumBody))")
    }

    /// Runs the plan: connects, warms up, measures. Connections the server closes are reopened
    /// (between requests, as wrk does): the reconnect's time counts in the phase's elapsed time
    /// (requests/s), not in any request's latency (wrk's clock starts at the send too). A request
    /// that takes longer than the plan's timeout, however its bytes trickle in, ends the run: a
    /// watchdog thread shuts the connection down under it.
    public static func run(_ plan: Plan) throws -> Result {
        if let rate = plan.requestsPerSecond {
            var channel = try connect(plan)
            defer { channel.close() }
            return try runOpenLoop(plan, rate: rate, channel: &channel, reconnect: { try connect(plan) })
        }
        let inFlight = InFlight()
        let timeout = plan.timeoutNanoseconds
        let watchdog = Thread {
            while !inFlight.finished.load(ordering: .acquiring) {
                let since = inFlight.since.load(ordering: .acquiring)
                if since > InFlight.claimed, MonotonicClock.now() &- since > timeout,
                    inFlight.since.compareExchange(
                        expected: since, desired: InFlight.claimed, ordering: .acquiringAndReleasing
                    ).exchanged
                {
                    inFlight.fired.store(true, ordering: .releasing)
                    _ = Glibc.shutdown(inFlight.descriptor.load(ordering: .acquiring), Int32(SHUT_RDWR))
                    inFlight.shot.store(true, ordering: .releasing)
                    return
                }
                usleep(useconds_t(min(max(timeout / 4_000, 1_000), 50_000)))
            }
        }
        defer { inFlight.finished.store(true, ordering: .releasing) }
        var sequence: UInt64 = 0
        do {
            return try run(plan, inFlight: inFlight, sequence: &sequence, start: { watchdog.start() })
        } catch let error as PodBenchError where inFlight.fired.load(ordering: .acquiring) {
            throw PodBenchError(
                .timeout,
                "request \(sequence) took longer than --timeout (\(DurationText.format(nanoseconds: timeout))): the server answers too slowly or not at all",
                cause: error.cause)
        }
    }

    static func run(
        _ plan: Plan, inFlight: InFlight, sequence: inout UInt64, start: () -> Void
    ) throws -> Result {
        let requestBytes = try request(path: plan.path, host: plan.host)
        let requestBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: requestBytes.count, alignment: 64)
        defer { requestBuffer.deallocate() }
        requestBuffer.copyBytes(from: requestBytes)
        let request = UnsafeRawBufferPointer(requestBuffer)
        var reader = FrameReader(
            channel: try connect(plan), maximumPayload: plan.maximumBodyLength + HTTP1.maximumHeadLength)
        var open = true
        defer {
            inFlight.settle()
            if open { reader.channel.close() }
            reader.deallocate()
        }
        inFlight.descriptor.store(reader.channel.descriptor.rawValue, ordering: .releasing)
        start()
        var expectation = Expectation(bodyLength: plan.expectedBodyLength)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        var reconnects: UInt64 = 0
        // The warm-up, then the measured phase, each to its deadline across reconnects.
        var cpuStart = CPUUsage.currentThread()
        var started: UInt64 = 0
        var measuredFrom: UInt64 = 0
        for measured in [false, true] {
            let now = MonotonicClock.now()
            let deadline = now &+ (measured ? plan.durationNanoseconds : plan.warmupNanoseconds)
            if measured {
                started = now
                measuredFrom = sequence
                cpuStart = CPUUsage.currentThread()
            }
            while true {
                let ending = try loop(
                    reader: &reader, request: request, expectation: &expectation, histogram: &histogram,
                    record: measured, deadline: deadline,
                    maximumBody: plan.maximumBodyLength, sequence: &sequence, inFlight: inFlight)
                if ending == .done { break }
                // Closed by the server: open another, unless the measured phase is over anyway.
                inFlight.settle()
                reader.channel.close()
                open = false
                if measured && MonotonicClock.now() >= deadline { break }
                reader.replaceChannel(try connect(plan))
                open = true
                inFlight.descriptor.store(reader.channel.descriptor.rawValue, ordering: .releasing)
                reconnects += 1
            }
        }
        let elapsed = MonotonicClock.now() &- started
        return Result(
            requests: sequence - measuredFrom, elapsedNanoseconds: elapsed, latency: histogram,
            reconnects: reconnects, bodyLength: expectation.bodyLength ?? 0, headLength: expectation.headLength,
            cpu: CPUUsage.currentThread().since(cpuStart))
    }

    /// A connection to the target, TCP_NODELAY on (as wrk's), sends and receives bounded by the
    /// plan's timeout.
    static func connect(_ plan: Plan) throws -> SocketChannel {
        try SocketTransport.connect(
            to: plan.target, kind: plan.target.transport, options: TransportOptions(),
            timeoutNanoseconds: plan.timeoutNanoseconds)
    }
}
