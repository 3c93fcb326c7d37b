import Foundation
import Glibc
import PodBenchCore
import PodBenchResults
import PodBenchTestSupport
import PodBenchTransports
import Testing

@testable import PodBenchHarness

/// `http-load`'s loop and `http-serve`'s server: against each other, against a server written
/// here that answers wrongly, and a server held to its limits.
@Suite("HTTP/1.1 load and serve")
struct HTTP1LoadTests {
    static func text(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test("the request is wrk's GET; a target or host that could smuggle a field is refused")
    func request() throws {
        let bytes = try HTTP1Load.request(path: "/body?x=1", host: "127.0.0.1:80")
        let head = try #require(try bytes.withUnsafeBytes { try HTTP1.parseHead($0, response: false) })
        #expect(head.method == .get && head.length == bytes.count && head.contentLength == nil)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("GET /body?x=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"))
        for path in ["", "body", "/a b", "/a\r\nX-Evil: 1", "/\u{7F}", "/é", "/" + String(repeating: "a", count: 4096)]
        {
            #expect(throws: PodBenchError.self) { try HTTP1Load.request(path: path, host: "h") }
        }
        for host in ["", "a b", "h\r\nX: 1", "h/x"] {
            #expect(throws: PodBenchError.self) { try HTTP1Load.request(path: "/", host: host) }
        }
        let plan = try HTTP1Load.Plan(
            target: .ipv6(host: "::1", port: 8080), path: "/", durationNanoseconds: 1, warmupNanoseconds: 0)
        #expect(plan.host == "[::1]:8080")
    }

    /// A server written here on its own thread: it reads requests as they come (pipelined ones
    /// too) and answers request n with `answer(n)` after `stall(n)` microseconds, once `ahead(n)`
    /// more requests have come; nil shuts its side.
    static func scriptedServer(
        on b: SocketChannel, stall: @escaping @Sendable (UInt64) -> UInt32 = { _ in 0 },
        ahead: @escaping @Sendable (UInt64) -> UInt64 = { _ in 0 }, answer: @escaping @Sendable (UInt64) -> [UInt8]?
    ) -> Background {
        Background {
            var reader = FrameReader(channel: b, maximumPayload: 64)
            defer { reader.deallocate() }
            var n: UInt64 = 0
            var received: UInt64 = 0
            while true {
                while received < n + 1 + ahead(n) {
                    let head = try reader.nextHTTPHead(from: b, response: false)
                    _ = try reader.takeHTTP(head.length, from: b)
                    received += 1
                }
                let pause = stall(n)
                if pause > 0 { usleep(pause) }
                guard let bytes = answer(n) else {
                    b.shutdown()
                    return
                }
                try bytes.withUnsafeBytes { try b.sendAll($0) }
                n += 1
            }
        }
    }

    /// The loop for `count` GETs against `answer(n)`, the bytes a server written here sends for
    /// request n; the error it ends with, or nil, the requests done and how it ended.
    static func againstServer(
        count: UInt64, maximumBody: Int = 1 << 20, answer: @escaping @Sendable (UInt64) -> [UInt8]
    )
        throws -> (error: PodBenchError?, sequence: UInt64, ending: HTTP1Load.Ending?)
    {
        let (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let server = Self.scriptedServer(on: b, answer: answer)
        var reader = FrameReader(channel: a, maximumPayload: maximumBody + HTTP1.maximumHeadLength)
        defer { reader.deallocate() }
        let request = try HTTP1Load.request(path: "/", host: "x")
        var expectation = HTTP1Load.Expectation(bodyLength: nil)
        var histogram = EncodedHistogram.makeLatencyHistogram()
        var sequence: UInt64 = 0
        var failure: PodBenchError?
        var ending: HTTP1Load.Ending?
        do {
            ending = try request.withUnsafeBytes {
                try HTTP1Load.loop(
                    reader: &reader, request: $0, expectation: &expectation, histogram: &histogram, record: true,
                    deadline: .max, limit: count, maximumBody: maximumBody, sequence: &sequence)
            }
        } catch let error as PodBenchError {
            failure = error
        }
        a.shutdown()
        b.shutdown()
        try? server.wait()
        return (failure, sequence, ending)
    }

    static func response(_ body: String, extra: String = "") -> [UInt8] {
        text("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\(extra)\r\n\(body)")
    }

    @Test("a server that answers each GET with the same body: every request done")
    func fixedBody() throws {
        let (error, sequence, ending) = try Self.againstServer(count: 50) { _ in Self.response("hello, world") }
        #expect(error == nil && sequence == 50 && ending == .done)
    }

    static let wrongAnswers: [(String, @Sendable (UInt64) -> [UInt8], String)] = [
        (
            "a 404", { n in n == 3 ? text("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n") : response("abc") },
            "request 3 (GET): the answer is 'HTTP/1.1 404 Not Found', not 200 OK"
        ),
        (
            "a chunked body",
            { _ in text("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n") },
            "Transfer-Encoding"
        ),
        ("no length", { _ in text("HTTP/1.1 200 OK\r\n\r\nabc") }, "no Content-Length"),
        (
            "another body", { n in response(n == 5 ? "abd" : "abc") },
            "the response to request 5 has another body than the first response's"
        ),
        (
            "another length", { n in response(n == 2 ? "abcd" : "abc") },
            "the response to request 2 has a 4-byte body, the first response's had 3"
        ),
        (
            "bytes after", { n in response("abc") + (n == 1 ? text("x") : []) },
            "1 bytes arrived after the response to request 1"
        ),
        (
            "a body over --max-body", { _ in text("HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n") },
            "more than --max-body (1048576)"
        ),
        (
            "an escape sequence", { _ in text("HTTP/1.1 500 \u{1B}[2J\r\nContent-Length: 0\r\n\r\n") },
            "malformed reason"
        ),
    ]

    @Test("a server that answers wrongly fails the run, the request named", arguments: wrongAnswers.indices)
    func wrongAnswer(index: Int) throws {
        let (name, answer, phrase) = Self.wrongAnswers[index]
        let (error, _, _) = try Self.againstServer(count: 10, answer: answer)
        let message = try #require(error?.message, "\(name): no error")
        #expect(message.contains(phrase), "\(name): \(message)")
        #expect(!message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }, "\(name): \(message)")
    }

    @Test("a response that closes the connection ends the loop to reconnect")
    func closes() throws {
        let (error, sequence, ending) = try Self.againstServer(count: 10) { n in
            Self.response("abc", extra: n == 4 ? "Connection: close\r\n" : "")
        }
        #expect(error == nil && sequence == 5 && ending == .closed)
    }

    // MARK: - http-serve

    static func server(bodyLength: Int = 64, maximumConnections: Int = 64, idle: UInt64 = 60_000_000_000) throws
        -> HTTP1Server
    {
        let server = try HTTP1Server(
            .init(
                listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: bodyLength,
                maximumConnections: maximumConnections, idleTimeoutNanoseconds: idle), log: { _ in })
        Thread { try? server.run() }.start()
        return server
    }

    @Test("--rate against http-serve: every request due in the phase answered, one at a time and pipelined")
    func openLoopAgainstServe() throws {
        let server = try Self.server(bodyLength: 1000)
        // Request k is due at k × 0.5 ms: those due in the 200 ms are the phase's 400. No warm-up:
        // request 0 is the phase's, so a machine that falls behind still has it answered.
        for depth in [1, 1024] {
            let result = try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: server.address, path: "/x", durationNanoseconds: 200_000_000, warmupNanoseconds: 0,
                    expectedBodyLength: 1000, requestsPerSecond: 2000, pipelineDepth: depth))
            #expect(result.latency.totalCount == result.requests && result.bodyLength == 1000)
            #expect(result.reconnects == 0)
            if depth == 1 {
                // One at a time: a request waits for the answer before it, however late; the
                // phase's requests are answered or, when the phase ended first, missed.
                #expect(result.peakOutstanding == 1)
                #expect(result.requests + result.missed == 400, "\(result.requests) answered, \(result.missed) missed")
            } else {
                // Pipelined up to 1024: nothing due can find the pipeline full, so all 400 go.
                #expect(result.requests == 400 && result.missed == 0, "\(result.requests), \(result.missed) missed")
            }
        }
        for (rate, depth) in [(0.0, 1), (1000.0, 0), (1000.0, 1025)] {
            #expect(throws: PodBenchError.self) {
                try HTTP1Load.Plan(
                    target: server.address, path: "/", durationNanoseconds: 1, warmupNanoseconds: 0,
                    requestsPerSecond: rate, pipelineDepth: depth)
            }
        }
    }

    /// The open loop over a socket pair against `scriptedServer` (no reconnecting).
    static func openLoopAgainst(
        rate: Double, durationNanoseconds: UInt64, depth: Int = 1,
        stall: @escaping @Sendable (UInt64) -> UInt32 = { _ in 0 },
        ahead: @escaping @Sendable (UInt64) -> UInt64 = { _ in 0 }, answer: @escaping @Sendable (UInt64) -> [UInt8]?
    ) throws -> Result<HTTP1Load.Result, PodBenchError> {
        var (a, b) = try socketPair()
        defer {
            a.close()
            b.close()
        }
        let server = Self.scriptedServer(on: b, stall: stall, ahead: ahead, answer: answer)
        let plan = try HTTP1Load.Plan(
            target: .ipv4(host: "127.0.0.1", port: 1), path: "/", host: "x", durationNanoseconds: durationNanoseconds,
            warmupNanoseconds: 0, timeoutNanoseconds: 10_000_000_000, requestsPerSecond: rate, pipelineDepth: depth)
        let result = Result { try HTTP1Load.runOpenLoop(plan, rate: rate, channel: &a) }
            .mapError { $0 as? PodBenchError ?? PodBenchError(.ioFailure, "\($0)") }
        a.shutdown()
        b.shutdown()
        try? server.wait()
        return result
    }

    @Test(
        "--rate: a stalled answer delays every request behind it, and each counts the wait from its own time",
        arguments: [1, 1024])
    func openLoopHeadOfLine(depth: Int) throws {
        // The first answer comes 100 ms late; requests are due every 1 ms from 0. Each of the 50
        // due before 50 ms is answered after 100 ms: at least 50 ms late, however the machine runs,
        // whether it waited to be written (one at a time) or was written and waited for its answer.
        let result = try Self.openLoopAgainst(
            rate: 1000, durationNanoseconds: 300_000_000, depth: depth, stall: { $0 == 0 ? 100_000 : 0 },
            answer: { _ in Self.response("hello") }
        ).get()
        #expect(result.latency.count(within: 49_000_000...UInt64.max) >= 50, "\(LatencySummary(result.latency))")
        if depth == 1 {
            #expect(result.peakOutstanding == 1)
        } else {
            // The 100 due while the first answer stalled were written behind it.
            #expect(result.peakOutstanding >= 50 && result.requests == 300 && result.missed == 0)
        }
    }

    @Test(
        "--rate: a wrong answer, a close under written requests or an answer nobody asked for fails the run, named",
        arguments: [
            ("a 404", 1, "request 3 (GET): the answer is 'HTTP/1.1 404 Not Found', not 200 OK"),
            ("Connection: close", 1, "the server closed the connection after request 4"),
            ("Connection: close, pipelined", 1024, "closes the connection (Connection: close) with"),
            ("another body", 1, "the response to request 5 has another body than the first response's"),
            ("closed", 1, "the server closed the connection with 1 requests written and unanswered"),
            ("two answers", 1, "a response arrived that no request written asked for"),
        ])
    func openLoopWrongAnswers(name: String, depth: Int, phrase: String) throws {
        // Pipelined, the first answer waits until request 1 has come: it is written behind it.
        let result = try Self.openLoopAgainst(
            rate: 5000, durationNanoseconds: 200_000_000, depth: depth,
            ahead: { n in name == "Connection: close, pipelined" && n == 0 ? 1 : 0 }
        ) { n in
            switch name {
            case "a 404" where n == 3: Self.text("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            case "Connection: close" where n == 4: Self.response("abc", extra: "Connection: close\r\n")
            case "Connection: close, pipelined" where n == 0: Self.response("abc", extra: "Connection: close\r\n")
            case "another body" where n == 5: Self.response("abd")
            case "closed" where n == 6: nil
            case "two answers" where n == 2: Self.response("abc") + Self.response("abc")
            default: Self.response("abc")
            }
        }
        guard case .failure(let error) = result else {
            Issue.record("\(name): the run passed")
            return
        }
        #expect(error.message.contains(phrase), "\(name): \(error.message)")
    }

    @Test("--rate does not reopen, again and again, connections the server closes before answering")
    func openLoopNoReconnectStorm() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        final class Count: @unchecked Sendable { var value = 0 }
        let accepted = Count()
        // Every connection closed as it is accepted, until none comes for a second.
        let server = Background {
            while let channel = try? listener.accept(timeoutNanoseconds: 1_000_000_000) {
                accepted.value += 1
                channel.close()
            }
        }
        #expect {
            try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: listener.address, path: "/", durationNanoseconds: 2_000_000_000, warmupNanoseconds: 0,
                    timeoutNanoseconds: 1_000_000_000, requestsPerSecond: 100))
        } throws: { error in
            (error as? PodBenchError)?.code == .peerClosed
        }
        try server.wait()
        #expect(accepted.value == 1, "\(accepted.value) connections")
    }

    @Test("--rate reopens a connection the server closes between requests, as wrk does")
    func openLoopReconnects() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Self.closingServer(listener, connections: 5)
        // The run ends at --timeout once the server stops accepting; by then it has reconnected
        // each time the server closed (its answers were all taken: the server's thread ends well).
        #expect {
            try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: listener.address, path: "/", durationNanoseconds: 5_000_000_000, warmupNanoseconds: 0,
                    timeoutNanoseconds: 1_000_000_000, requestsPerSecond: 1000))
        } throws: { error in
            (error as? PodBenchError)?.code == .timeout
        }
        try server.wait()
    }

    @Test("http-load against http-serve: requests measured, the fixed body checked, nothing reopened")
    func loadAgainstServe() throws {
        let server = try Self.server(bodyLength: 1000)
        let result = try HTTP1Load.run(
            try HTTP1Load.Plan(
                target: server.address, path: "/anything", durationNanoseconds: 200_000_000,
                warmupNanoseconds: 50_000_000, expectedBodyLength: 1000))
        #expect(result.requests > 0 && result.latency.totalCount == result.requests)
        #expect(result.bodyLength == 1000 && result.reconnects == 0)
        #expect(result.requestsPerSecond > 0)
        // A length the server does not send fails at its first answer.
        #expect(throws: PodBenchError.self) {
            try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: server.address, path: "/", durationNanoseconds: 50_000_000, warmupNanoseconds: 0,
                    expectedBodyLength: 999))
        }
    }

    /// A server that takes `connections` connections one after another and answers two requests
    /// on each, the second with `Connection: close`, then closes it.
    static func closingServer(_ listener: SocketTransport.Listener, connections: Int) -> Background {
        Background {
            for _ in 0..<connections {
                let channel = try listener.accept(timeoutNanoseconds: 10_000_000_000)
                var reader = FrameReader(channel: channel, maximumPayload: 64)
                defer {
                    reader.deallocate()
                    channel.close()
                }
                for close in [false, true] {
                    let head = try reader.nextHTTPHead(from: channel, response: false)
                    _ = try reader.takeHTTP(head.length, from: channel)
                    try Self.response("abc", extra: close ? "Connection: close\r\n" : "").withUnsafeBytes {
                        try channel.sendAll($0)
                    }
                }
            }
        }
    }

    @Test("http-load reopens a connection the server closes (HTTP/1.0 answers), as wrk does")
    func reconnects() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Self.closingServer(listener, connections: 5)
        // The run fails once the server stops accepting; by then it has reconnected each time.
        #expect(throws: PodBenchError.self) {
            try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: listener.address, path: "/", durationNanoseconds: 5_000_000_000, warmupNanoseconds: 0,
                    timeoutNanoseconds: 2_000_000_000))
        }
        try server.wait()
    }

    @Test("a server that trickles its answer a byte at a time ends the run at --timeout, the request named")
    func trickle() throws {
        let listener = try SocketTransport.listen(
            kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: .ipv4(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        let server = Background {
            let channel = try listener.accept(timeoutNanoseconds: 10_000_000_000)
            defer { channel.close() }
            var reader = FrameReader(channel: channel, maximumPayload: 64)
            defer { reader.deallocate() }
            let head = try reader.nextHTTPHead(from: channel, response: false)
            _ = try reader.takeHTTP(head.length, from: channel)
            // A byte every 50 ms: each receive is well within any per-call timeout.
            for byte in Self.response("abc") {
                try [byte].withUnsafeBytes { try channel.sendAll($0) }
                usleep(50_000)
            }
        }
        // Without the watchdog the answer would complete (each byte well within the socket's
        // timeout) and the run fail otherwise: the message tells the two apart.
        do {
            _ = try HTTP1Load.run(
                try HTTP1Load.Plan(
                    target: listener.address, path: "/", durationNanoseconds: 5_000_000_000, warmupNanoseconds: 0,
                    timeoutNanoseconds: 300_000_000))
            Issue.record("the run did not end at its timeout")
        } catch let error as PodBenchError {
            #expect(error.code == .timeout)
            #expect(error.message.hasPrefix("request 0 took longer than --timeout (300ms)"), "\(error.message)")
        }
        try? server.wait()
    }

    @Test("http-serve's connections together hold at most 2 GiB: a configuration that could hold more is refused")
    func memoryBound() throws {
        _ = try HTTP1Server.Configuration(listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: 64)
        #expect(throws: PodBenchError.self) {
            try HTTP1Server.Configuration(listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: 256 << 20)
        }
        do {
            _ = try HTTP1Server.Configuration(
                listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: 16 << 20, maximumConnections: 64)
        } catch let error as PodBenchError {
            #expect(error.message.contains("give --max-connections 21 or less"), "\(error.message)")
        }
        _ = try HTTP1Server.Configuration(
            listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: 16 << 20, maximumConnections: 21)
        // A body no single connection can hold names the largest that can, which one connection serves.
        do {
            _ = try HTTP1Server.Configuration(
                listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: 512 << 20, maximumConnections: 1)
            Issue.record("a 512 MiB body was taken")
        } catch let error as PodBenchError {
            #expect(
                error.message.contains("give at most \(ByteSize.format(HTTP1Server.largestBody))"), "\(error.message)")
        }
        _ = try HTTP1Server.Configuration(
            listen: .ipv4(host: "127.0.0.1", port: 0), bodyLength: HTTP1Server.largestBody, maximumConnections: 1)
    }

    @Test("http-serve closes connections past --max-connections and the idle ones")
    func serveLimits() throws {
        // Idle for 1.5 s: long enough that a sanitized build connects all three before the first
        // two could be closed for it.
        let server = try Self.server(maximumConnections: 2, idle: 1_500_000_000)
        func connect() throws -> SocketChannel {
            try SocketTransport.connect(
                to: server.address, kind: .tcp, options: TransportOptions(), timeoutNanoseconds: 10_000_000_000)
        }
        let first = try connect()
        let beforeSecond = MonotonicClock.now()
        let second = try connect()
        let third = try connect()
        defer {
            for c in [first, second, third] { c.close() }
        }
        var byte = [UInt8](repeating: 0, count: 1)
        // The third is closed at once: it reads the end of the stream.
        #expect(throws: PodBenchError.self) { try byte.withUnsafeMutableBytes { try third.receiveSome(into: $0) } }
        // The first two are served, then closed after 1.5 s of silence, never sooner.
        let request = try HTTP1Load.request(path: "/", host: "x")
        try request.withUnsafeBytes { try first.sendAll($0) }
        var reader = FrameReader(channel: first, maximumPayload: 64)
        defer { reader.deallocate() }
        let head = try reader.nextHTTPHead(from: first, response: true)
        #expect(head.status == 200 && head.contentLength == 64)
        _ = try reader.takeHTTP(head.length + 64, from: first)
        #expect(throws: PodBenchError.self) { try byte.withUnsafeMutableBytes { try second.receiveSome(into: $0) } }
        #expect(MonotonicClock.now() - beforeSecond >= 1_500_000_000)
    }

    @Test("a hostile client gets its connection closed, and the server goes on serving")
    func hostileClient() throws {
        let server = try Self.server()
        for attack in [
            Self.text("DELETE / HTTP/1.1\r\n\r\n"), Self.text("GET / HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
            Self.text("GET / HTTP/1.1\r\nX: ") + [UInt8](repeating: 0x61, count: 40_000),
            Self.text(
                "POST /podbench/echo HTTP/1.1\r\nContent-Length: 5000000\r\nX-Podbench-Request: 0000000000000000\r\n\r\n"
            ),
            [UInt8](repeating: 0, count: 100) + Self.text("\r\n\r\n"),
        ] {
            let channel = try SocketTransport.connect(
                to: server.address, kind: .tcp, options: TransportOptions(), timeoutNanoseconds: 10_000_000_000)
            defer { channel.close() }
            try? attack.withUnsafeBytes { try channel.sendAll($0) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            var total = 0
            while true {
                let n = (try? buffer.withUnsafeMutableBytes { try channel.receiveSome(into: $0) }) ?? 0
                if n == 0 { break }
                total += n
            }
            #expect(total == 0, "answered \(String(decoding: attack.prefix(30), as: UTF8.self))")
        }
        let result = try HTTP1Load.run(
            try HTTP1Load.Plan(
                target: server.address, path: "/", durationNanoseconds: 50_000_000, warmupNanoseconds: 0))
        #expect(result.requests > 0)
    }
}
