import Foundation
import Glibc
import Histogram
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// The http1 workload's parser, messages and both loops, against each other and against a
/// server and a client written here that speak HTTP/1.1 with bad intent.
@Suite("HTTP/1.1")
struct HTTP1Tests {
    static func parse(_ text: String, response: Bool) throws -> HTTP1.Head? {
        try Array(text.utf8).withUnsafeBytes { try HTTP1.parseHead($0, response: response) }
    }

    static func parse(_ bytes: [UInt8], response: Bool) throws -> HTTP1.Head? {
        try bytes.withUnsafeBytes { try HTTP1.parseHead($0, response: response) }
    }

    /// The error `parse` throws, as text; nil when it parses or waits for more.
    static func refusal(_ text: String, response: Bool) -> String? {
        do {
            _ = try parse(text, response: response)
            return nil
        } catch let error as PodBenchError {
            #expect(error.code == .protocolViolation)
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test(
        "the messages podbench writes parse back: method, target, length, number, checksum",
        arguments: [1, 7, 8, 64, 65536, 4 << 20])
    func messagesRoundTrip(size: Int) throws {
        for response in [false, true] {
            let writer =
                response ? HTTP1MessageWriter.response(bodyLength: size, seed: 9) : .request(bodyLength: size, seed: 9)
            defer { writer.deallocate() }
            for sequence: UInt64 in [0, 1, 0xfedc_ba98_7654_3210] {
                let (message, checksum) = writer.prepare(sequence: sequence)
                let head = try #require(try HTTP1.parseHead(message, response: response))
                #expect(head.contentLength == size)
                #expect(head.requestID == sequence)
                #expect(head.length + size == message.count)
                #expect(PayloadChecksum.checksum(UnsafeRawBufferPointer(rebasing: message[head.length...])) == checksum)
                #expect(writer.template.checksum(sequence: sequence) == checksum)
                if response {
                    #expect(head.status == 200)
                } else {
                    #expect(head.method == .post && head.target == .echo)
                }
                #expect(!head.closes)
            }
            let end = try #require(try HTTP1.parseHead(writer.end(count: 42), response: response))
            #expect(end.length == writer.end(count: 42).count)
            #expect(end.requestID == 42 && end.contentLength == 0)
            if !response { #expect(end.method == .post && end.target == .end) }
        }
    }

    @Test("the heads are as docs/http.md shows them: 413 bytes of request and 160 of response for a 64-byte body")
    func documentedHeads() throws {
        let request = HTTP1MessageWriter.request(bodyLength: 64, seed: 1)
        let response = HTTP1MessageWriter.response(bodyLength: 64, seed: 1)
        defer {
            request.deallocate()
            response.deallocate()
        }
        #expect(request.headLength == 413 && response.headLength == 160)
        let docs = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/http.md"), encoding: .utf8)
        for writer in [request, response] {
            let head = String(
                decoding: UnsafeRawBufferPointer(rebasing: writer.prepare(sequence: 42).message[..<writer.headLength]),
                as: UTF8.self)
            for line in head.split(separator: "\r\n") where !line.contains("User-Agent") {
                #expect(docs.contains("\n\(line)\n"), "docs/http.md lacks \(line)")
            }
        }
    }

    @Test("a head that has not all arrived waits for the rest")
    func incomplete() throws {
        let writer = HTTP1MessageWriter.response(bodyLength: 10, seed: 1)
        defer { writer.deallocate() }
        let bytes = Array(UnsafeRawBufferPointer(rebasing: writer.prepare(sequence: 3).message[..<writer.headLength]))
        for cut in 0..<bytes.count {
            #expect(try Self.parse(Array(bytes[..<cut]), response: true) == nil, "cut at \(cut)")
        }
        #expect(try Self.parse(bytes, response: true)?.length == bytes.count)
    }

    static let malformed: [(String, Bool, String)] = [
        ("HTTP/1.0 200 OK\r\n\r\n", true, "not HTTP/1.1"),
        ("HTTP/2 200\r\n\r\n", true, "not an HTTP/1.1 status line"),
        ("SSH-2.0-OpenSSH_9.2\r\n\r\n", true, "not an HTTP/1.1 status line"),
        ("HTTP/1.1 2x0 OK\r\n\r\n", true, "three digits"),
        ("HTTP/1.1 099 Low\r\n\r\n", true, "below 100"),
        ("HTTP/1.1 200OK\r\n\r\n", true, "malformed reason"),
        ("HTTP/1.1 200 \u{1B}[31mred\r\n\r\n", true, "malformed reason"),
        ("HTTP/1.1 200 OK\n\r\n", true, "bare LF"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n", true, "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true, "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", true, "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", true, "malformed Content-Length"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n", true, "over 1024 MiB"),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-length: 6\r\n\r\n", true, "disagree"),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, "Transfer-Encoding"),
        ("HTTP/1.1 200 OK\r\nX-Podbench-Request: 12\r\n\r\n", true, "16 hex digits"),
        ("HTTP/1.1 200 OK\r\nx-podbench-request: 000000000000000g\r\n\r\n", true, "16 hex digits"),
        (
            "HTTP/1.1 200 OK\r\nX-Podbench-Request: 0000000000000001\r\nX-Podbench-Request: 0000000000000002\r\n\r\n",
            true, "disagree"
        ),
        ("HTTP/1.1 200 OK\r\nServer: a\r\n  folded\r\n\r\n", true, "folded"),
        ("HTTP/1.1 200 OK\r\nBad Field: 1\r\n\r\n", true, "not an HTTP field"),
        ("HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\n", true, "not an HTTP field"),
        ("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", true, "not an HTTP field"),
        ("HTTP/1.1 200 OK\r\nServer: a\u{01}b\r\n\r\n", true, "control character"),
        ("HTTP/1.1 200 OK\r\nServer: a\rb\r\n\r\n", true, "control character"),
        ("GET / HTTP/1.2\r\n\r\n", false, "not an HTTP/1.1 request line"),
        ("GET / HTTP/2.0\r\n\r\n", false, "not an HTTP/1.1 request line"),
        ("GET  / HTTP/1.1\r\n\r\n", false, "not an HTTP/1.1 request line"),
        ("GET /\r\n\r\n", false, "not an HTTP/1.1 request line"),
        ("\r\n\r\n", false, "not an HTTP request line"),
        ("G@T / HTTP/1.1\r\n\r\n", false, "not an HTTP request line"),
        ("GET /a\u{7F}b HTTP/1.1\r\n\r\n", false, "not an HTTP/1.1 request line"),
        (
            "POST /podbench/echo HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false,
            "Transfer-Encoding"
        ),
    ]

    @Test("malformed heads are refused, each with its reason and no control character", arguments: 0..<malformed.count)
    func refused(index: Int) throws {
        let (text, response, phrase) = Self.malformed[index]
        let message = try #require(Self.refusal(text, response: response), "\(text.debugDescription) parsed")
        #expect(message.contains(phrase), "\(message)")
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(message)")
    }

    @Test("a head longer than 16 KiB is refused, not buffered")
    func overlong() throws {
        let long = "HTTP/1.1 200 OK\r\nX-Pad: " + String(repeating: "a", count: 20_000)
        #expect(Self.refusal(long, response: true)?.contains("longer than 16 KiB") == true)
        // Just under the limit with no end yet: still waiting.
        let under = "HTTP/1.1 200 OK\r\nX-Pad: " + String(repeating: "a", count: 16_000)
        #expect(try Self.parse(under, response: true) == nil)
    }

    @Test("mutations of a valid head parse or are refused; none crashes or reads past the bytes")
    func mutations() throws {
        let writer = HTTP1MessageWriter.response(bodyLength: 64, seed: 5)
        defer { writer.deallocate() }
        let valid = Array(UnsafeRawBufferPointer(rebasing: writer.prepare(sequence: 77).message[..<writer.headLength]))
        var rng = SeededGenerator(seed: 2026)
        var parsed = 0
        var refused = 0
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng))
                default:
                    bytes.insert(
                        [0x0D, 0x0A, 0x20, 0x3A, 0x30][Int.random(in: 0..<5, using: &rng)],
                        at: Int.random(in: 0...bytes.count, using: &rng))
                }
                if bytes.isEmpty { bytes = valid }
            }
            do {
                if let head = try Self.parse(bytes, response: true) {
                    #expect(head.length <= bytes.count)
                    #expect(head.startLine.upperBound <= head.length)
                    parsed += 1
                }
            } catch let error as PodBenchError {
                #expect(error.code == .protocolViolation)
                refused += 1
            }
        }
        #expect(parsed > 0 && refused > 0)
    }

    @Test("the matrix makes http1 cases only on the stream sockets; the server refuses one elsewhere")
    func matrix() throws {
        let specs = MatrixRunner.cases(
            transports: [.tcp, .shm, .uds, .file, .uringUDS, .udp], workloads: [.pingpong, .http1], sizes: [64],
            options: TransportOptions(), verifyEvery: 1, corruptSequence: nil)
        let made = specs.map { "\($0.transport) \($0.workload)" }
        #expect(
            made == [
                "tcp pingpong", "tcp http1", "shm pingpong", "uds pingpong", "uds http1", "file pingpong",
                "uring-uds pingpong", "uring-uds http1", "udp pingpong",
            ])
        #expect(throws: PodBenchError.self) {
            try CaseSpec(transport: .shm, workload: .http1, messageSize: 64).validate()
        }
        try CaseSpec(transport: .udsAbstract, workload: .http1, messageSize: 64).validate()
    }

    // MARK: - Both loops over a socket

    /// podbench's client for `count` requests of `size` on `channel`: requests answered, what it
    /// counted, round trips recorded.
    static func runClient(on channel: SocketChannel, size: Int, count: UInt64) throws -> (
        messages: UInt64, counts: IntegrityCounts, recorded: UInt64
    ) {
        let run = try runLoop(
            on: channel, size: size, rate: nil, plan: PhasePlan(durationNanoseconds: 0, messageLimit: count))
        return (run.messages, run.counts, run.histogram.totalCount)
    }

    /// podbench's client on `channel` for `plan`: the closed loop, or the open loop at `rate`
    /// requests/s.
    static func runLoop(on channel: SocketChannel, size: Int, rate: Double?, plan: PhasePlan) throws -> (
        messages: UInt64, elapsed: UInt64, counts: IntegrityCounts, histogram: Histogram<UInt64>
    ) {
        var reader = FrameReader(channel: channel, maximumPayload: size)
        let writer = HTTP1MessageWriter.request(bodyLength: size, seed: 3)
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        var outcome: (messages: UInt64, elapsed: UInt64) = (0, 0)
        if let rate {
            let open = try HTTP1Workload.openLoopClient(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan,
                requestsPerSecond: rate)
            outcome = (open.messages, open.elapsed)
        } else {
            outcome = try HTTP1Workload.client(
                reader: &reader, writer: writer, checker: &checker, histogram: &histogram, plan: plan)
        }
        return (outcome.messages, outcome.elapsed, checker.counts, histogram)
    }

    /// `body` on a thread of its own with a reader of `channel` and the case's response writer,
    /// both freed after it: the servers below.
    static func responder(
        on channel: SocketChannel, size: Int,
        _ body: @escaping @Sendable (inout FrameReader<SocketChannel>, HTTP1MessageWriter) throws -> Void
    ) -> Background {
        Background {
            var reader = FrameReader(channel: channel, maximumPayload: size)
            let writer = HTTP1MessageWriter.response(bodyLength: size, seed: 3)
            defer {
                reader.deallocate()
                writer.deallocate()
            }
            try body(&reader, writer)
        }
    }

    /// podbench's server for one phase on `channel`, on a thread of its own; `check` sees its counts.
    static func serve(
        on channel: SocketChannel, size: Int, corruptSequence: UInt64? = nil,
        check: @escaping @Sendable (IntegrityCounts) throws -> Void = { _ in }
    ) -> Background {
        responder(on: channel, size: size) { reader, writer in
            var checker = IntegrityChecker(payloadLength: size, verifyEvery: 1)
            _ = try HTTP1Workload.server(
                reader: &reader, writer: writer, checker: &checker, corruptSequence: corruptSequence)
            try check(checker.counts)
        }
    }

    @Test("client and server over a socket: every request answered and checked", arguments: [1, 64, 65536, 4 << 20])
    func bothSides(size: Int) throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let count: UInt64 = size >= 1 << 20 ? 6 : 300
        let server = Self.serve(on: b, size: size) { counts in
            guard counts.received == count, counts.verified == count, !counts.hasErrors else {
                throw PodBenchError(.integrityFailure, "server counts: \(counts)")
            }
        }
        let (messages, counts, recorded) = try Self.runClient(on: a, size: size, count: count)
        try server.wait()
        #expect(messages == count)
        #expect(recorded == count)
        #expect(counts.received == count && counts.verified == count)
        #expect(!counts.hasErrors)
    }

    @Test("a server that spoils one response body is caught by the client's checksum")
    func corruptedResponse() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let server = Self.serve(on: b, size: 256, corruptSequence: 4)
        let (_, counts, _) = try Self.runClient(on: a, size: 256, count: 10)
        try server.wait()
        #expect(counts.corrupted == 1)
        #expect(counts.firstError == "the response to request 4 failed its payload checksum")
    }

    // MARK: - The open loop (http1-rate)

    /// podbench's server, answering request k after `delay(k)` microseconds, and the end with its
    /// count, on a thread of its own.
    static func slowServer(on channel: SocketChannel, size: Int, delay: @escaping @Sendable (UInt64) -> UInt32)
        -> Background
    {
        responder(on: channel, size: size) { reader, writer in
            var answered: UInt64 = 0
            while true {
                let head = try reader.nextHTTPHead(from: channel, response: false)
                _ = try reader.takeHTTP(head.length + (head.contentLength ?? 0), from: channel)
                if head.target == .end {
                    try channel.sendAll(writer.end(count: answered))
                    return
                }
                guard let id = head.requestID else { throw PodBenchError(.protocolViolation, "no request number") }
                usleep(delay(id))
                try channel.sendAll(writer.prepare(sequence: id).message)
                answered += 1
            }
        }
    }

    @Test("http1-rate against podbench's server: every request answered, checked and timed", arguments: [64, 65536])
    func openLoopBothSides(size: Int) throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let count: UInt64 = 200
        let server = Self.serve(on: b, size: size) { counts in
            guard counts.received == count, counts.verified == count, !counts.hasErrors else {
                throw PodBenchError(.integrityFailure, "server counts: \(counts)")
            }
        }
        let run = try Self.runLoop(
            on: a, size: size, rate: 20_000, plan: PhasePlan(durationNanoseconds: 0, messageLimit: count))
        try server.wait()
        #expect(run.messages == count && run.histogram.totalCount == count)
        #expect(run.counts.received == count && run.counts.verified == count && !run.counts.hasErrors)
        // 200 requests due 50 µs apart: the last is due 9.95 ms after the start, and goes no sooner.
        #expect(run.elapsed >= 9_950_000)
    }

    @Test("http1-rate times each request from when it was due: a stalled answer counts in every request behind it")
    func openLoopCountsTheQueue() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // Request 5 answered after 30 ms; the others at once. At 1000/s, requests 6 to 34 fall due
        // during the stall and wait behind it: request k (due at k ms) goes after 35 ms at the
        // earliest, so at least 20 of them (6 to 25) wait 10 ms or more, however fast or slow this
        // machine is. Timed from their sends instead (a closed loop's clock), one request would.
        let server = Self.slowServer(on: b, size: 64) { $0 == 5 ? 30_000 : 0 }
        let run = try Self.runLoop(
            on: a, size: 64, rate: 1000, plan: PhasePlan(durationNanoseconds: 0, messageLimit: 40))
        try server.wait()
        #expect(run.messages == 40 && run.histogram.totalCount == 40 && !run.counts.hasErrors)
        let waited = run.histogram.count(within: 10_000_000...UInt64.max)
        #expect(waited >= 20, "\(waited) requests took 10 ms or more")
    }

    @Test("http1-rate stops sending when the phase's time is up: a slow server's backlog is not sent late")
    func openLoopStopsAtTheDeadline() throws {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        // Every answer takes 1 ms or more; 10,000/s offered for 100 ms is 1,000 due. The loop
        // sends nothing once the 100 ms are up, so at most 101 requests go (one per answer, and
        // one that went just before the end), whatever the machine's speed.
        let server = Self.slowServer(on: b, size: 64) { _ in 1000 }
        let run = try Self.runLoop(
            on: a, size: 64, rate: 10_000, plan: PhasePlan(durationNanoseconds: 100_000_000, messageLimit: nil))
        try server.wait()
        #expect(run.messages >= 1 && run.messages <= 101, "\(run.messages) requests")
        #expect(run.histogram.totalCount == run.messages && !run.counts.hasErrors)
    }

    // MARK: - A hostile server

    /// Runs the client for `count` requests of `size` against a server that answers each echo
    /// request with `answer(sequence, correct response)` and the end with `endCount(sent)`.
    static func againstServer(
        size: Int = 64, count: UInt64 = 3, endCount: @escaping @Sendable (UInt64) -> UInt64 = { $0 },
        answer: @escaping @Sendable (UInt64, [UInt8]) -> Answer
    ) throws -> (error: PodBenchError?, counts: IntegrityCounts) {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let server = Background {
            var reader = FrameReader(channel: b, maximumPayload: size)
            let writer = HTTP1MessageWriter.response(bodyLength: size, seed: 3)
            defer {
                reader.deallocate()
                writer.deallocate()
            }
            while true {
                let head = try reader.nextHTTPHead(from: b, response: false)
                _ = try reader.takeHTTP(head.length + (head.contentLength ?? 0), from: b)
                let id = head.requestID ?? 0
                if head.target == .end {
                    try b.sendAll(writer.end(count: endCount(id)))
                    return
                }
                let reply = answer(id, Array(writer.prepare(sequence: id).message))
                try reply.bytes.withUnsafeBytes { try b.sendAll($0) }
                if reply.close {
                    b.shutdown()
                    return
                }
            }
        }
        var failure: PodBenchError?
        var counts = IntegrityCounts()
        do {
            counts = try Self.runClient(on: a, size: size, count: count).counts
        } catch let error as PodBenchError {
            failure = error
            a.shutdown()
        }
        try? server.wait()
        return (failure, counts)
    }

    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// What the hostile server sends for one request, and whether it then hangs up.
    struct Answer {
        var bytes: [UInt8]
        var close = false
    }

    static let badAnswers: [(String, @Sendable (UInt64, [UInt8]) -> Answer, String)] = [
        (
            "502 with a page",
            { _, _ in Answer(bytes: text("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n\r\nbad gateway")) },
            "request 0 (POST /podbench/echo): the answer is 'HTTP/1.1 502 Bad Gateway', not 200 OK"
        ),
        (
            "a short length",
            { id, good in
                Answer(
                    bytes: text(
                        "HTTP/1.1 200 OK\r\nContent-Length: 63\r\nX-Podbench-Request: \(String(format: "%016llx", id))\r\n\r\n"
                    )
                        + good.suffix(63))
            },
            "request 0 (POST /podbench/echo): the response says 63 body bytes, this case's bodies are 64 bytes"
        ),
        (
            "no length",
            { _, good in Answer(bytes: text("HTTP/1.1 200 OK\r\n\r\n") + good.suffix(64)) },
            "the response says no Content-Length"
        ),
        (
            "chunked",
            { _, _ in Answer(bytes: text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n")) },
            "Transfer-Encoding"
        ),
        (
            "bytes after the response", { _, good in Answer(bytes: good + text("HTTP/1.1 200 OK\r\n")) },
            "arrived after the response to request 0"
        ),
        (
            "Connection: close",
            { _, good in
                Answer(bytes: text("HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n") + good.dropFirst(17))
            },
            "closes the connection"
        ),
        (
            "closed mid-body", { _, good in Answer(bytes: Array(good.dropLast(10)), close: true) },
            "closed the data connection"
        ),
        ("garbage", { _, _ in Answer(bytes: text("SSH-2.0-OpenSSH_9.2\r\n\r\n")) }, "not an HTTP/1.1 status line"),
        (
            "an endless head",
            { _, _ in Answer(bytes: text("HTTP/1.1 200 OK\r\nX-Pad: ") + [UInt8](repeating: 0x61, count: 40_000)) },
            "longer than 16 KiB"
        ),
        (
            "an escape sequence in the reason",
            { _, _ in Answer(bytes: text("HTTP/1.1 500 \u{1B}]0;owned\u{07}\r\n\r\n")) },
            "malformed reason"
        ),
    ]

    @Test(
        "a hostile server's answers fail the case with the request named, never a crash",
        arguments: 0..<badAnswers.count)
    func hostileServer(index: Int) throws {
        let (name, answer, phrase) = Self.badAnswers[index]
        let (error, _) = try Self.againstServer(count: 3, answer: answer)
        let failure = try #require(error, "\(name): the client took it")
        #expect(failure.description.contains(phrase), "\(name): \(failure.description)")
        #expect(!failure.description.unicodeScalars.contains { $0.value < 0x20 }, "\(name)")
    }

    @Test("a server that answers one request with another's number or body is counted, not trusted")
    func mixedUp() throws {
        // The answer to request 1 is the answer to request 0: right length, wrong number and body.
        let (error, counts) = try Self.againstServer(count: 3) { id, good in
            guard id == 1 else { return Answer(bytes: good) }
            let writer = HTTP1MessageWriter.response(bodyLength: 64, seed: 3)
            defer { writer.deallocate() }
            return Answer(bytes: Array(writer.prepare(sequence: 0).message))
        }
        #expect(error == nil)
        #expect(counts.received == 3)
        #expect(counts.outOfSequence == 1)
        #expect(counts.corrupted == 1)
        #expect(counts.firstError == "the response to request 1 carries X-Podbench-Request 0, another request's")
    }

    @Test("a hop that reflects each request back as its response is caught: responses have a pattern of their own")
    func reflected() throws {
        let (error, counts) = try Self.againstServer(count: 3) { id, _ in
            // The request as the client sent it, its request line made a status line.
            var request = Self.request(id)
            let line = Array("POST /podbench/echo HTTP/1.1".utf8)
            request.replaceSubrange(0..<line.count, with: Array("HTTP/1.1 200 OK".utf8))
            return Answer(bytes: request)
        }
        #expect(error == nil)
        #expect(counts.corrupted == 3, "\(counts)")
        #expect(counts.firstError == "the response to request 0 failed its payload checksum")
    }

    @Test("the end of a trial is answered with the server's own count; a different one is an integrity error")
    func endCount() throws {
        // A server that answers both requests and then says it answered one.
        let (error, counts) = try Self.againstServer(count: 2, endCount: { _ in 1 }) { _, good in Answer(bytes: good) }
        #expect(error == nil)
        #expect(counts.outOfSequence == 1)
        #expect(counts.firstError == "2 requests were sent, the server counted 1")
    }

    // MARK: - A hostile client

    /// Sends `bytes` to podbench's server loop (case size 64) and returns how the loop ended and
    /// what it sent back.
    static func againstClient(_ bytes: [UInt8]) throws -> (
        error: PodBenchError?, counts: IntegrityCounts, answer: [UInt8]
    ) {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        var reader = FrameReader(channel: b, maximumPayload: 64)
        let writer = HTTP1MessageWriter.response(bodyLength: 64, seed: 3)
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        let sender = Background {
            try bytes.withUnsafeBytes { try a.sendAll($0) }
            _ = Glibc.shutdown(a.descriptor.rawValue, Int32(SHUT_WR))
        }
        var checker = IntegrityChecker(payloadLength: 64, verifyEvery: 1)
        var failure: PodBenchError?
        do {
            _ = try HTTP1Workload.server(reader: &reader, writer: writer, checker: &checker, corruptSequence: nil)
        } catch let error as PodBenchError {
            failure = error
        }
        try sender.wait()
        b.shutdown()
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while let n = try? chunk.withUnsafeMutableBytes({ try a.receiveSome(into: $0) }), n > 0 {
            answer += chunk[..<n]
        }
        return (failure, checker.counts, answer)
    }

    static func request(_ sequence: UInt64, size: Int = 64, seed: UInt64 = 3) -> [UInt8] {
        let writer = HTTP1MessageWriter.request(bodyLength: size, seed: seed)
        defer { writer.deallocate() }
        return Array(writer.prepare(sequence: sequence).message)
    }

    static func end(_ count: UInt64) -> [UInt8] {
        let writer = HTTP1MessageWriter.request(bodyLength: 1, seed: 3)
        defer { writer.deallocate() }
        return Array(writer.end(count: count))
    }

    static let badRequests: [(String, [UInt8], String)] = [
        ("a GET with a body", text("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"), "does not answer"),
        ("DELETE", text("DELETE /podbench/echo HTTP/1.1\r\n\r\n"), "does not answer"),
        ("a body of another size", request(0, size: 65), "65 body bytes, this case's are 64"),
        (
            "no request number",
            text("POST /podbench/echo HTTP/1.1\r\nContent-Length: 64\r\n\r\n") + [UInt8](repeating: 1, count: 64),
            "no X-Podbench-Request"
        ),
        ("an end without its count", text("POST /podbench/end HTTP/1.1\r\n\r\n"), "without its count"),
        (
            "a huge length",
            text(
                "POST /podbench/echo HTTP/1.1\r\nContent-Length: 1073741824\r\nX-Podbench-Request: 0000000000000000\r\n\r\n"
            ), "1073741824 body bytes"
        ),
        ("garbage", [UInt8](repeating: 0xFF, count: 100) + text("\r\n\r\n"), "not an HTTP request line"),
        (
            "an endless head", text("GET / HTTP/1.1\r\nX: ") + [UInt8](repeating: 0x61, count: 40_000),
            "longer than 16 KiB"
        ),
        ("a request cut short", Array(request(0).dropLast(3)), "closed the data connection"),
    ]

    @Test("a hostile client's requests end the phase as a violation, never a crash", arguments: 0..<badRequests.count)
    func hostileClient(index: Int) throws {
        let (name, bytes, phrase) = Self.badRequests[index]
        let (error, _, _) = try Self.againstClient(bytes)
        let failure = try #require(error, "\(name): the server took it")
        #expect(failure.description.contains(phrase), "\(name): \(failure.description)")
    }

    @Test("HTTP/1.0 and Connection: close are answered, then the connection is done (a hop's next one goes on)")
    func connectionDone() throws {
        for request in [
            "GET /x HTTP/1.0\r\nHost: x\r\n\r\n", "GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        ] {
            let (a, b) = try socketPair()
            defer {
                a.close()
                b.close()
            }
            try Self.text(request + "GET /never HTTP/1.1\r\n\r\n").withUnsafeBytes { try a.sendAll($0) }
            var reader = FrameReader(channel: b, maximumPayload: 64)
            let writer = HTTP1MessageWriter.response(bodyLength: 64, seed: 3)
            defer {
                reader.deallocate()
                writer.deallocate()
            }
            var checker = IntegrityChecker(payloadLength: 64, verifyEvery: 1)
            let outcome = try HTTP1Workload.server(
                reader: &reader, writer: writer, checker: &checker, corruptSequence: nil)
            #expect(outcome == .connectionDone, "\(request)")
            var answer = [UInt8](repeating: 0, count: 4096)
            let n = try answer.withUnsafeMutableBytes { try a.receiveSome(into: $0) }
            let head = try #require(try Self.parse(Array(answer[..<n]), response: true))
            #expect(head.status == 200 && head.length + 64 == n, "one answer, not two")
        }
        // A peer that closes between requests: done too (mid-request is an error: badRequests).
        let (error, counts, _) = try Self.againstClient(Self.request(0))
        #expect(error == nil && counts.received == 1)
    }

    @Test("a client's spoiled body is counted; pipelined requests and GETs are answered in order")
    func serverChecks() throws {
        var spoiled = Self.request(1)
        spoiled[spoiled.count - 10] ^= 0x40
        let get = Self.text("GET /anything HTTP/1.1\r\nHost: x\r\n\r\n")
        let (error, counts, answer) = try Self.againstClient(
            Self.request(0) + spoiled + Self.request(2) + get + Self.end(3))
        #expect(error == nil)
        #expect(counts.received == 3 && counts.corrupted == 1)
        #expect(counts.firstError == "request 1 failed its payload checksum")
        // Four responses and the end's, each parsed in turn.
        var offset = 0
        var ids: [UInt64?] = []
        try answer.withUnsafeBytes { raw in
            while offset < raw.count {
                let head = try #require(
                    try HTTP1.parseHead(UnsafeRawBufferPointer(rebasing: raw[offset...]), response: true))
                #expect(head.status == 200)
                ids.append(head.requestID)
                offset += head.length + (head.contentLength ?? 0)
            }
        }
        #expect(ids == [0, 1, 2, 0, 3])  // a GET's answer is the fixed resource, number 0
        #expect(offset == answer.count)
    }
}

/// xorshift64*, for repeatable random inputs.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}
