import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// The http2 workload's two loops over a Unix socket pair (buffers far smaller than the bodies in
/// flight, so a loop that blocked on a full buffer while the other side did too would hang here):
/// several phases on one connection, each ended in-band with both sides' counts.
@Suite("http2 workload")
struct HTTP2WorkloadTests {
    struct Phase: Sendable {
        var messages: UInt64
        var counts: IntegrityCounts
        var recorded: UInt64
        var elapsed: UInt64 = 0
        var histogram: Histogram<UInt64>? = nil
    }

    /// The server for `phases` phases on `channel`, on a thread of its own; what it counted per phase.
    final class Server: @unchecked Sendable {
        var counts: [IntegrityCounts] = []
        var outcomes: [HTTP1Workload.Outcome] = []
        var background: Background!

        init(on channel: SocketChannel, size: Int, phases: Int, corruptSequence: UInt64? = nil) {
            background = Background { [self] in
                let session = try HTTP2Workload.serverSession(bodyLength: size, seed: 7)
                for _ in 0..<phases {
                    var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
                    outcomes.append(
                        try HTTP2Workload.server(
                            channel: channel, session: session, checker: &checker, corruptSequence: corruptSequence))
                    counts.append(checker.counts)
                }
            }
        }

        func wait() throws { try background.wait() }
    }

    static func runClient(
        on channel: SocketChannel, size: Int, streams: Int, plans: [PhasePlan], rate: Double? = nil,
        peerTimeout: UInt64 = 5_000_000_000, peak: ((Int) -> Void)? = nil
    ) throws -> [Phase] {
        let session = try HTTP2Workload.clientSession(streams: streams, bodyLength: size, seed: 7)
        defer { peak?(session.peakActive) }
        var histogram = EncodedHistogram.makeLatencyHistogram()
        var phases: [Phase] = []
        for plan in plans {
            histogram.reset()
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            let (messages, elapsed, _) = try HTTP2Workload.client(
                channel: channel, session: session, checker: &checker, histogram: &histogram, plan: plan,
                peerTimeoutNanoseconds: peerTimeout, requestsPerSecond: rate)
            phases.append(
                Phase(
                    messages: messages, counts: checker.counts, recorded: histogram.totalCount, elapsed: elapsed,
                    histogram: histogram))
        }
        return phases
    }

    @Test(
        "client and server over a socket pair: every request echoed and checked, each phase ended with both counts",
        arguments: [(1, 1), (64, 16), (65_536, 16), (1 << 20, 4)])
    func bothSides(size: Int, streams: Int) throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let limit: UInt64 = size >= 1 << 20 ? 12 : 300
        let plans = [
            PhasePlan(durationNanoseconds: 0, messageLimit: limit),
            PhasePlan(durationNanoseconds: 30_000_000, messageLimit: nil),
            PhasePlan(durationNanoseconds: 0, messageLimit: limit),
        ]
        let server = Server(on: b, size: size, phases: plans.count)
        var peak = 0
        let phases = try Self.runClient(on: a, size: size, streams: streams, plans: plans) { peak = $0 }
        try server.wait()
        #expect(server.outcomes == [.ended, .ended, .ended])
        #expect(peak == streams, "the streams were all outstanding at once")
        for (i, phase) in phases.enumerated() {
            if plans[i].messageLimit != nil { #expect(phase.messages == limit, "phase \(i)") }
            #expect(phase.messages > 0 && phase.recorded == phase.messages, "phase \(i)")
            #expect(phase.counts.received == phase.messages && !phase.counts.hasErrors, "\(phase.counts)")
            #expect(server.counts[i].received == phase.messages, "phase \(i): \(server.counts[i])")
            #expect(server.counts[i].verified == phase.messages && !server.counts[i].hasErrors, "\(server.counts[i])")
        }
    }

    // MARK: - http2-rate: the same loops on a schedule

    /// A socket whose sends wait first, as `delay(n)` says for the n-th (from 1), in microseconds:
    /// a server that stops answering for a while.
    struct StallingChannel: DataChannel {
        final class Calls: @unchecked Sendable { var count = 0 }
        let inner: SocketChannel
        let delay: @Sendable (Int) -> UInt32
        let calls = Calls()

        func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
            calls.count += 1
            let wait = delay(calls.count)
            if wait > 0 { usleep(wait) }
            try inner.sendAll(bytes)
        }

        func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            try inner.receiveSome(into: buffer)
        }

        func shutdown() { inner.shutdown() }
        func close() { inner.close() }
    }

    /// The server for one phase on `channel`, its sends delayed by `delay`; what it counted.
    static func stallingServer(
        on channel: SocketChannel, size: Int, delay: @escaping @Sendable (Int) -> UInt32
    ) -> (Background, () -> IntegrityCounts) {
        final class Counts: @unchecked Sendable { var value = IntegrityCounts() }
        let counts = Counts()
        let server = Background {
            let session = try HTTP2Workload.serverSession(bodyLength: size, seed: 7)
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            defer { counts.value = checker.counts }
            let outcome = try HTTP2Workload.server(
                channel: StallingChannel(inner: channel, delay: delay), session: session, checker: &checker,
                corruptSequence: nil)
            guard outcome == .ended else { throw PodBenchError(.peerClosed, "the phase did not end in-band") }
        }
        return (server, { counts.value })
    }

    @Test(
        "http2-rate over a socket pair: requests on their schedule, every one echoed and checked, phases ended in-band",
        arguments: [(64, 1), (4096, 16)])
    func openLoopBothSides(size: Int, streams: Int) throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let plans = [
            PhasePlan(durationNanoseconds: 0, messageLimit: 200),
            PhasePlan(durationNanoseconds: 30_000_000, messageLimit: nil),
        ]
        let server = Server(on: b, size: size, phases: plans.count)
        let phases = try Self.runClient(on: a, size: size, streams: streams, plans: plans, rate: 20_000)
        try server.wait()
        #expect(server.outcomes == [.ended, .ended])
        // 200 requests due 50 µs apart: the last is due 9.95 ms after the schedule's start, and goes no sooner.
        #expect(phases[0].messages == 200 && phases[0].elapsed >= 9_950_000, "\(phases[0].elapsed) ns")
        // 30 ms at 20,000/s: at most 600 due within it, none sent after it.
        #expect(phases[1].messages >= 1 && phases[1].messages <= 600, "\(phases[1].messages) requests")
        for (i, phase) in phases.enumerated() {
            #expect(phase.recorded == phase.messages, "phase \(i)")
            #expect(phase.counts.received == phase.messages && !phase.counts.hasErrors, "\(phase.counts)")
            #expect(server.counts[i].verified == phase.messages && !server.counts[i].hasErrors, "\(server.counts[i])")
        }
    }

    @Test("http2-rate times each request from when it was due: a stalled answer counts in every request behind it")
    func openLoopCountsTheQueue() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // The server's 6th send (a few requests in, one outstanding) waits 30 ms; at 1000/s on one
        // stream the requests due during the stall wait behind it: request k due j ms into it goes
        // after 30 ms at the earliest, so at least 20 of them wait 10 ms or more, however fast or
        // slow this machine is. Timed from their sends instead (a closed loop's clock), one would.
        let (server, counts) = Self.stallingServer(on: b, size: 64) { $0 == 6 ? 30_000 : 0 }
        let phases = try Self.runClient(
            on: a, size: 64, streams: 1, plans: [PhasePlan(durationNanoseconds: 0, messageLimit: 60)], rate: 1000)
        try server.wait()
        #expect(phases[0].messages == 60 && phases[0].recorded == 60 && !phases[0].counts.hasErrors)
        #expect(counts().verified == 60)
        let waited = phases[0].histogram?.count(within: 10_000_000...UInt64.max) ?? 0
        #expect(waited >= 20, "\(waited) requests took 10 ms or more")
    }

    @Test("http2-rate's trial lasts its duration: a schedule that ends early at a low rate is not a faster rate")
    func openLoopLowRate() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // 100/s for 50 ms: requests due at 0, 10, 20, 30 and 40 ms, the last answered long before
        // the 50 ms are up; the achieved rate is 5 in 50 ms, not 5 in 40 ms and a round trip.
        let server = Server(on: b, size: 64, phases: 1)
        let phases = try Self.runClient(
            on: a, size: 64, streams: 4, plans: [PhasePlan(durationNanoseconds: 50_000_000, messageLimit: nil)],
            rate: 100)
        try server.wait()
        #expect(phases[0].messages >= 1 && phases[0].messages <= 5, "\(phases[0].messages) requests")
        #expect(phases[0].elapsed >= 50_000_000, "\(phases[0].elapsed) ns")
    }

    @Test("http2-rate against a server that never sends its SETTINGS fails at the peer timeout, not never")
    func openLoopSilentServer() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // b takes the preface into its buffer and says nothing: no request can go, and the wait
        // for the SETTINGS is the server's slowness, not the schedule's.
        #expect {
            _ = try Self.runClient(
                on: a, size: 64, streams: 1, plans: [PhasePlan(durationNanoseconds: 0, messageLimit: 10)], rate: 1000,
                peerTimeout: 200_000_000)
        } throws: { error in
            (error as? PodBenchError)?.code == .timeout
        }
    }

    @Test("http2-rate stops sending when the phase's time is up: a slow server's backlog is not sent late")
    func openLoopStopsAtTheDeadline() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // Every send of the server waits 1 ms, so one stream's answers come 1 ms apart at best;
        // 10,000/s offered for 100 ms is 1,000 due. Nothing goes once the 100 ms are up, so at
        // most 101 requests go (one per answer, and one sent before the end), whatever the speed.
        let (server, counts) = Self.stallingServer(on: b, size: 64) { _ in 1000 }
        let phases = try Self.runClient(
            on: a, size: 64, streams: 1, plans: [PhasePlan(durationNanoseconds: 100_000_000, messageLimit: nil)],
            rate: 10_000)
        try server.wait()
        #expect(phases[0].messages >= 1 && phases[0].messages <= 101, "\(phases[0].messages) requests")
        #expect(phases[0].recorded == phases[0].messages && !phases[0].counts.hasErrors)
        #expect(counts().verified == phases[0].messages)
    }

    @Test("a server that spoils one answer's body is caught by the client, naming the request")
    func corruptedAnswer() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let server = Server(on: b, size: 256, phases: 1, corruptSequence: 4)
        #expect {
            _ = try Self.runClient(
                on: a, size: 256, streams: 1, plans: [PhasePlan(durationNanoseconds: 0, messageLimit: 10)])
        } throws: { error in
            let error = error as? PodBenchError
            return error?.code == .integrityFailure
                && error?.message.contains(
                    "the answer to request 4 (POST /podbench/echo, stream 9) is not its body echoed")
                    == true
        }
        a.shutdown()
        _ = try? server.wait()
    }

    @Test("a client whose request bodies differ from the pattern: the server resets them and counts them corrupted")
    func alteredRequests() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // The client's pattern from another seed: every body differs from the server's.
        final class Counts: @unchecked Sendable { var value = IntegrityCounts() }
        let counts = Counts()
        let server = Background {
            let session = try HTTP2Workload.serverSession(bodyLength: 100, seed: 7)
            var checker = IntegrityChecker(payloadLength: 100, verifyEvery: 1)
            defer { counts.value = checker.counts }
            _ = try HTTP2Workload.server(channel: b, session: session, checker: &checker, corruptSequence: nil)
        }
        let session = try HTTP2Workload.clientSession(streams: 2, bodyLength: 100, seed: 8)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        var checker = IntegrityChecker(payloadLength: 100, verifyEvery: 1)
        #expect {
            _ = try HTTP2Workload.client(
                channel: a, session: session, checker: &checker, histogram: &histogram,
                plan: PhasePlan(durationNanoseconds: 0, messageLimit: 5), peerTimeoutNanoseconds: 5_000_000_000)
        } throws: { error in
            (error as? PodBenchError)?.message.contains("the server reset the stream (PROTOCOL_ERROR)") == true
        }
        a.shutdown()
        _ = try? server.wait()
        #expect(counts.value.corrupted >= 1, "\(counts.value)")
        #expect(counts.value.firstError == "a request body arrived altered (its stream was reset)")
    }

    @Test("the matrix makes http2 cases only on the plain stream sockets; the server refuses one elsewhere")
    func matrix() throws {
        let specs = MatrixRunner.cases(
            transports: [.tcp, .shm, .uds, .uringTCP, .udp], workloads: [.pingpong, .http2], sizes: [64],
            options: TransportOptions(), verifyEvery: 1, corruptSequence: nil)
        #expect(
            specs.map { "\($0.transport) \($0.workload)" } == [
                "tcp pingpong", "tcp http2", "shm pingpong", "uds pingpong", "uds http2", "uring-tcp pingpong",
                "udp pingpong",
            ])
        #expect(throws: PodBenchError.self) {
            try CaseSpec(transport: .uringTCP, workload: .http2, messageSize: 64).validate()
        }
        #expect(throws: PodBenchError.self) {
            try CaseSpec(transport: .tcp, workload: .http2, messageSize: 64, streams: 129).validate()
        }
        // Through hops: one it reaches over a socket, not one it would speak a FIFO to.
        let hops = [
            MatrixRunner.Hop(via: "unix:/tmp/a.sock", listen: "tcp:127.0.0.1:9001", name: "socat"),
            MatrixRunner.Hop(via: "fifo:/tmp/in", listen: "tcp:127.0.0.1:9001", name: "relay"),
        ]
        let through = MatrixRunner.cases(
            transports: [.tcp], workloads: [.http2, .pingpong], sizes: [64], options: TransportOptions(),
            verifyEvery: 1, corruptSequence: nil, hops: hops, h2Streams: [1, 16])
        #expect(
            through.map { "\($0.workload) \($0.streams.map(String.init) ?? "-") \($0.options.hop ?? "direct")" } == [
                "http2 1 direct", "http2 1 socat", "http2 16 direct", "http2 16 socat", "pingpong - direct",
                "pingpong - socat", "pingpong - relay",
            ])
        var overFIFO = CaseSpec(transport: .tcp, workload: .http2, messageSize: 64)
        overFIFO.options.via = try HopEndpoint(parsing: "fifo:/tmp/in")
        overFIFO.options.listen = try HopEndpoint(parsing: "tcp:127.0.0.1:9001")
        #expect(throws: PodBenchError.self) { try overFIFO.validate() }
        let key = try CaseSpec(transport: .tcp, workload: .http2, messageSize: 64, streams: 16).key()
        #expect(key.description == "tcp http2 64 streams=16")
        #expect(try CaseSpec(transport: .tcp, workload: .http2, messageSize: 64).key().options == ["streams": "1"])
    }

    /// Drives a client session by hand over a blocking channel (small bodies, one stream): `requests`
    /// echoes, then the end of the trial with `endCount` when given; returns the session.
    static func drive(
        _ channel: SocketChannel, requests: UInt64, endCount: UInt64?
    ) throws -> HTTP2ClientSession {
        let session = try HTTP2Workload.clientSession(streams: 1, bodyLength: 64, seed: 7)
        session.begin()
        session.startNumbering()
        session.issuing = true
        /// Issues while requests are left (once the server's SETTINGS are in), writes, reads.
        func pump(until done: () -> Bool) throws {
            while !done() {
                if session.issuing && session.sequence < requests && session.canIssue && session.mayIssue {
                    session.issue(now: MonotonicClock.now(), count: Int(requests - session.sequence))
                }
                session.writeBodies()
                if session.sendCount > 0 {
                    try channel.sendAll(session.pendingSend)
                    session.sent()
                    continue
                }
                session.received(try channel.receiveSome(into: session.receiveSpace()))
                try session.process(now: MonotonicClock.now())
            }
        }
        try pump { session.completed >= requests }
        session.issuing = false
        if let endCount {
            try pump { session.canEnd }
            session.issueEnd(count: endCount, now: MonotonicClock.now())
            try pump { session.endAnswer != nil }
        }
        return session
    }

    @Test(
        "through a hop the server accepts when the phase runs, a session per connection, and counts a phase spread over several"
    )
    func hopConnections() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "")
        var spec = CaseSpec(transport: .tcp, workload: .http2, messageSize: 64, seed: 7, streams: 1)
        spec.options.via = try HopEndpoint(parsing: "tcp:127.0.0.1:9")
        #expect(spec.acceptsLazily)
        // Used by the server's thread only while the test waits for it (a box to hand it over).
        nonisolated(unsafe) let served = HTTPHopCase(
            spec: spec, listener: listener, timeoutNanoseconds: 10_000_000_000)
        defer { served.close() }
        final class Phases: @unchecked Sendable { var counts: [IntegrityCounts] = [] }
        let phases = Phases()
        let server = Background {
            for _ in 0..<2 {
                let (counts, error, _) = served.serve(since: MonotonicClock.now())
                if let error { throw error }
                phases.counts.append(counts)
            }
        }
        func connect() throws -> SocketChannel {
            try SocketTransport.connect(
                to: listener.endpoint, kind: .tcp, options: TransportOptions(), timeoutNanoseconds: 10_000_000_000)
        }
        var open: [SocketChannel] = []
        var waited = false
        // Whatever fails here, the server's thread is done with the case before it is closed.
        defer {
            if !waited {
                for c in open { c.shutdown() }
                _ = try? server.wait()
            }
            for c in open { c.close() }
        }
        // Phase 1: 5 requests on a connection the proxy then closes, 7 and the end on its next one:
        // the end carries the phase's 12, and the server's answer counts all 12.
        let first = try connect()
        open.append(first)
        _ = try Self.drive(first, requests: 5, endCount: nil)
        first.shutdown()
        let second = try connect()
        open.append(second)
        let ended = try Self.drive(second, requests: 7, endCount: 12)
        #expect(ended.endAnswer == 12)
        // Phase 2 on a new connection (the proxy closed the idle one between phases): a new
        // preface, a new session at the server.
        second.shutdown()
        let third = try connect()
        open.append(third)
        let last = try Self.drive(third, requests: 3, endCount: 3)
        #expect(last.endAnswer == 3)
        third.shutdown()
        waited = true
        try server.wait()
        #expect(phases.counts.count == 2)
        #expect(phases.counts.first?.received == 12 && phases.counts.first?.verified == 12, "\(phases.counts)")
        #expect(phases.counts.last?.received == 3 && phases.counts.last?.hasErrors == false, "\(phases.counts)")
        #expect(phases.counts.allSatisfy { !$0.hasErrors }, "\(phases.counts)")
    }

    /// A proxy's HTTP/1.1 connection to an http2 case's server (nginx passes HTTP/2 on so).
    struct Upstream {
        var reader: FrameReader<SocketChannel>

        init(_ listener: SocketTransport.Listener) throws {
            let channel = try SocketTransport.connect(
                to: listener.endpoint, kind: .tcp, options: TransportOptions(), timeoutNanoseconds: 10_000_000_000)
            try channel.descriptor.setIOTimeout(nanoseconds: 10_000_000_000)
            reader = FrameReader(channel: channel, maximumPayload: 1 << 20)
        }

        /// Sends `head` (CRLFs added) and `body`, and returns the answer's status, its
        /// X-Podbench-Request and body.
        mutating func ask(_ head: [String], body: [UInt8] = []) throws -> (Int, UInt64?, [UInt8]) {
            let bytes = Array((head.joined(separator: "\r\n") + "\r\n\r\n").utf8) + body
            try bytes.withUnsafeBytes { try reader.channel.sendAll($0) }
            let channel = reader.channel
            let answer = try reader.nextHTTPHead(from: channel, response: true)
            let message = try reader.takeHTTP(answer.length + (answer.contentLength ?? 0), from: channel)
            return (answer.status, answer.requestID, Array(message[answer.length...]))
        }

        mutating func echo(_ body: [UInt8]) throws -> (Int, UInt64?, [UInt8]) {
            try ask(
                [
                    "POST /podbench/echo HTTP/1.1", "Host: podbench", "Content-Length: \(body.count)",
                    "Connection: keep-alive",
                ],
                body: body)
        }

        mutating func end(_ count: UInt64) throws -> (Int, UInt64?, [UInt8]) {
            try ask([
                "POST /podbench/end HTTP/1.1", "Host: podbench", "Content-Length: 0",
                "x-podbench-request: " + String(repeating: "0", count: 16 - String(count, radix: 16).count)
                    + String(count, radix: 16),
            ])
        }

        func close() {
            reader.channel.close()
            reader.deallocate()
        }
    }

    /// The first `length` bytes of podbench's body pattern (seed 7): what an echo carries.
    static func pattern(_ length: Int) -> [UInt8] {
        let made = HTTP2ServerSession.makeBody(length: length, seed: 7)
        defer { made.deallocate() }
        return Array(UnsafeRawBufferPointer(rebasing: made[..<length]))
    }

    /// An http2 case's server through a hop, on a loopback listener, serving `phases` phases on a
    /// thread of its own (what each counted, the errors that ended them), and the proxy's
    /// connections a test opens to it: `finish` closes them once the server's thread is done.
    final class HopServer: @unchecked Sendable {
        let listener: SocketTransport.Listener
        let served: HTTPHopCase<SocketTransport.Listener>
        var counts: [IntegrityCounts] = []
        var errors: [PodBenchError] = []
        var open: [Upstream] = []
        var background: Background?
        var waited = false

        init(bodyLength: Int, timeoutNanoseconds: UInt64, phases: Int, corruptSequence: UInt64? = nil) throws {
            listener = try SocketTransport.listen(
                kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "")
            var spec = CaseSpec(transport: .tcp, workload: .http2, messageSize: bodyLength, seed: 7, streams: 4)
            spec.options.via = try HopEndpoint(parsing: "tcp:127.0.0.1:9")
            spec.corruptSequence = corruptSequence
            served = HTTPHopCase(spec: spec, listener: listener, timeoutNanoseconds: timeoutNanoseconds)
            background = Background { [self] in
                for _ in 0..<phases {
                    let (counts, error, _) = served.serve(since: MonotonicClock.now())
                    self.counts.append(counts)
                    if let error { errors.append(error) }
                }
            }
        }

        /// A new connection of the proxy's, `open.last`.
        func connect() throws { open.append(try Upstream(listener)) }

        /// Waits for the server's phases to end.
        func wait() throws {
            waited = true
            try background?.wait()
        }

        /// However the test ended: the server's thread done with the case (its connections shut
        /// if it still runs), then everything closed.
        func finish() {
            if !waited {
                for c in open { c.reader.channel.shutdown() }
                _ = try? background?.wait()
            }
            for c in open { c.close() }
            served.close()
        }
    }

    @Test(
        "through a proxy that speaks HTTP/1.1 upstream, the server answers on every connection it opens at once, and counts the phase's"
    )
    func hopOverHTTP1() throws {
        let hop = try HopServer(bodyLength: 64, timeoutNanoseconds: 10_000_000_000, phases: 3, corruptSequence: 1)
        defer { hop.finish() }
        let body = Self.pattern(64)
        // Phase 1: A asks, then B while A stays open and idle (a server that served one connection
        // at a time would wait on A for ever), then A again; a GET on B is a health check.
        try hop.connect()
        var (status, _, answer) = try hop.open[0].echo(body)
        #expect(status == 200 && answer == body)
        try hop.connect()
        (status, _, answer) = try hop.open[1].echo(body)
        // --inject-corruption 1: the phase's second answer has a byte flipped.
        #expect(status == 200 && answer.count == 64 && answer != body)
        (status, _, answer) = try hop.open[0].echo(body)
        #expect(status == 200 && answer == body)
        (status, _, answer) = try hop.open[1].ask(["GET /health HTTP/1.1", "Host: podbench"])
        #expect(status == 200 && answer == body)
        var counted: UInt64?
        (status, counted, answer) = try hop.open[1].end(3)
        #expect(status == 200 && counted == 3 && answer.isEmpty)
        // Phase 2: a third connection, and an altered body on A: answered 400, counted corrupted;
        // the client's count (3) against the server's (2) is a mismatch.
        try hop.connect()
        (status, _, _) = try hop.open[2].echo(body)
        #expect(status == 200)
        (status, _, _) = try hop.open[0].echo(body)
        #expect(status == 200)
        var altered = body
        altered[10] ^= 1
        (status, _, _) = try hop.open[0].echo(altered)
        #expect(status == 400)
        (status, counted, _) = try hop.open[0].end(3)
        #expect(status == 200 && counted == 2)
        // Phase 3: a request podbench does not answer ends the phase with it named.
        try Array("PUT /elsewhere HTTP/1.1\r\nHost: podbench\r\nContent-Length: 0\r\n\r\n".utf8).withUnsafeBytes {
            try hop.open[2].reader.channel.sendAll($0)
        }
        try hop.wait()
        #expect(hop.counts.count == 3)
        #expect(hop.counts[0].received == 3 && !hop.counts[0].hasErrors, "\(hop.counts)")
        #expect(hop.counts[1].received == 2 && hop.counts[1].corrupted == 1, "\(hop.counts)")
        #expect(hop.counts[1].firstError?.contains("altered") == true, "\(hop.counts)")
        #expect(hop.errors.count == 1 && hop.errors[0].message.contains("PUT /elsewhere"), "\(hop.errors)")
    }

    @Test(
        "through an HTTP/1.1 hop, a connection that trickles its request or never reads its answer holds up no other, and a connection per request keeps the phase alive"
    )
    func hopOverHTTP1SlowPeers() throws {
        // A timeout shorter than the test: each phase must see requests complete within it.
        let hop = try HopServer(bodyLength: 256 << 10, timeoutNanoseconds: 2_000_000_000, phases: 3)
        defer { hop.finish() }
        let body = Self.pattern(256 << 10)
        // Phase 1. The first connection sends half a request and stops; the second asks for 80
        // answers of 256 KiB at once and reads none of them for now (20 MiB, more than loopback's
        // socket buffers hold: the server's sends stop at a full socket, and its turns at their
        // share); the third is served meanwhile.
        try hop.connect()
        let half =
            Array("POST /podbench/echo HTTP/1.1\r\nHost: podbench\r\nContent-Length: 262144\r\n\r\n".utf8)
            + body[..<1000]
        try half.withUnsafeBytes { try hop.open[0].reader.channel.sendAll($0) }
        try hop.connect()
        let gets = Array(repeating: Array("GET / HTTP/1.1\r\nHost: podbench\r\n\r\n".utf8), count: 80).flatMap { $0 }
        try gets.withUnsafeBytes { try hop.open[1].reader.channel.sendAll($0) }
        try hop.connect()
        var (status, _, answer) = try hop.open[2].echo(body)
        #expect(status == 200 && answer == body)
        // The first connection's request completes, late: answered, counted.
        try Array(body[1000...]).withUnsafeBytes { try hop.open[0].reader.channel.sendAll($0) }
        let channel = hop.open[0].reader.channel
        let head = try hop.open[0].reader.nextHTTPHead(from: channel, response: true)
        #expect(head.status == 200)
        _ = try hop.open[0].reader.takeHTTP(head.length + (head.contentLength ?? 0), from: channel)
        // The GETs' answers, all whole (health checks: not counted).
        let slow = hop.open[1].reader.channel
        for _ in 0..<80 {
            let answer = try hop.open[1].reader.nextHTTPHead(from: slow, response: true)
            let message = try hop.open[1].reader.takeHTTP(answer.length + (answer.contentLength ?? 0), from: slow)
            #expect(answer.status == 200 && Array(message[answer.length...]) == body)
        }
        // 150 idle connections, past the 144 at most (the quietest go), taken in bursts, and the
        // third connection's echoes between them (each keeps the phase alive).
        var idle: [SocketChannel] = []
        defer { idle.forEach { $0.close() } }
        for k in 0..<150 {
            if k % 25 == 0 {
                (status, _, answer) = try hop.open[2].echo(body)
                #expect(status == 200 && answer == body)
            }
            idle.append(
                try SocketTransport.connect(
                    to: hop.listener.endpoint, kind: .tcp, options: TransportOptions(),
                    timeoutNanoseconds: 10_000_000_000))
        }
        var counted: UInt64?
        (status, counted, _) = try hop.open[2].end(8)
        #expect(status == 200 && counted == 8)
        // Phase 2: each request on a connection of its own, closed after its answer (HTTP/1.0, or
        // Connection: close), slower in all than the timeout: requests keep completing, so it holds.
        let started = MonotonicClock.now()
        for _ in 0..<4 {
            var one = try Upstream(hop.listener)
            defer { one.close() }
            (status, _, _) = try one.ask(
                ["POST /podbench/echo HTTP/1.0", "Host: podbench", "Content-Length: \(body.count)"], body: body)
            #expect(status == 200)
            usleep(600_000)
        }
        #expect(MonotonicClock.now() - started > 2_000_000_000)
        var last = try Upstream(hop.listener)
        hop.open.append(last)
        (status, counted, _) = try last.end(4)
        #expect(status == 200 && counted == 4)
        // Phase 3: an HTTP/2 connection in a case begun over HTTP/1.1 is named so.
        last = try Upstream(hop.listener)
        hop.open.append(last)
        try Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8).withUnsafeBytes { try last.reader.channel.sendAll($0) }
        try hop.wait()
        #expect(
            hop.errors.count == 1 && hop.errors[0].message.contains("an HTTP/2 connection came"),
            "\(hop.errors)")
        #expect(
            hop.counts.map(\.received) == [8, 4, 0] && hop.counts.allSatisfy { !$0.hasErrors },
            "\(hop.counts)")
    }

    @Test(
        "a connection's first bytes tell HTTP/2 from HTTP/1.1 as soon as they differ; part of the preface and a close is neither"
    )
    func prefacePeek() throws {
        for (sent, closes, expected) in [
            ("PRI * HTTP/2.0\r\n", false, true as Bool?), ("POST /", false, false), ("G", false, false),
            ("PR", true, nil), ("", true, nil),
        ] {
            let (a, b) = try socketPair()
            defer {
                a.close()
                b.close()
            }
            if !sent.isEmpty { try Array(sent.utf8).withUnsafeBytes { try b.sendAll($0) } }
            if closes { b.shutdown() }
            let started = MonotonicClock.now()
            let got = try HTTP1FanIn.startsWithPreface(a.descriptor, deadline: started + 5_000_000_000)
            #expect(got == expected, "\(sent)")
            #expect(MonotonicClock.now() - started < 2_000_000_000, "\(sent): decided at once, not at the deadline")
            // Peeked: the bytes are still there for the reader.
            if !sent.isEmpty {
                var buffer = [UInt8](repeating: 0, count: 64)
                let n = buffer.withUnsafeMutableBytes { recv(a.descriptor.rawValue, $0.baseAddress, 64, 0) }
                #expect(n == sent.utf8.count)
            }
        }
        // Nothing by the deadline: a timeout.
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        #expect(throws: PodBenchError.self) {
            _ = try HTTP1FanIn.startsWithPreface(a.descriptor, deadline: MonotonicClock.now() + 50_000_000)
        }
    }
}
