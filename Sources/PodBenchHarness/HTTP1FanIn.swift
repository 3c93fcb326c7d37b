import Glibc
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// The server's side of an http2 case through a proxy that passes HTTP/2 on as HTTP/1.1 (nginx:
/// its `proxy_pass` speaks HTTP/1.1 upstream). The client's streams arrive as requests on as many
/// keep-alive connections as the proxy has requests at once, and each is answered as the HTTP/2
/// server answers a stream:
/// - `POST /podbench/echo` with a body of the case's size, which must be podbench's pattern byte
///   for byte, is answered `200` with the same body. A body that differs is counted corrupted and
///   answered `400`, so that the client fails the case with the request named.
/// - `POST /podbench/end` with the client's count (`X-Podbench-Request`) ends the phase. It is
///   answered with the echoes this phase took on all connections, which the client holds against
///   its own.
/// - `GET` of any path (a health check) is answered with the body, and not counted.
///
/// One thread polls the listener and every connection. A readable connection has its request read
/// and answered whole, blocking within the case's timeout, so a proxy that takes a large answer
/// slowly delays the others' (nginx reads its upstream connections as it can, so nothing waits on
/// this side for long). Connections are kept from phase to phase, as the proxy keeps them.
final class HTTP1FanIn {
    /// The most connections at once: one for each stream a case may have outstanding, and room for
    /// a proxy's idle ones and health checks.
    static let maximumConnections = HTTP2Workload.maximumStreams + 16

    let bodyLength: Int
    let timeoutNanoseconds: UInt64
    /// `200 OK` and the body: every echo's answer. Its body is the pattern requests must carry.
    let answer: UnsafeMutableRawBufferPointer
    let answerHead: Int
    /// The end's answer, the count's 16 digits at `endIDOffset`.
    let endAnswer: UnsafeMutableRawBufferPointer
    let endIDOffset: Int
    let refusal: [UInt8]
    var connections: [FrameReader<SocketChannel>] = []
    let polled: UnsafeMutableBufferPointer<pollfd>
    private var closed = false

    init(bodyLength: Int, seed: UInt64, timeoutNanoseconds: UInt64) {
        self.bodyLength = bodyLength
        self.timeoutNanoseconds = timeoutNanoseconds
        let head = Array("HTTP/1.1 200 OK\r\nServer: podbench\r\nContent-Length: \(bodyLength)\r\n\r\n".utf8)
        answerHead = head.count
        answer = .allocate(byteCount: head.count + bodyLength, alignment: 64)
        answer.copyBytes(from: head)
        let body = HTTP2ServerSession.makeBody(length: bodyLength, seed: seed)
        UnsafeMutableRawBufferPointer(rebasing: answer[head.count...]).copyMemory(
            from: UnsafeRawBufferPointer(rebasing: body[..<bodyLength]))
        body.deallocate()
        let end = Array("HTTP/1.1 200 OK\r\nServer: podbench\r\nContent-Length: 0\r\nX-Podbench-Request: ".utf8)
        endIDOffset = end.count
        endAnswer = .allocate(byteCount: end.count + 16 + 4, alignment: 64)
        endAnswer.copyBytes(from: end + Array("0000000000000000\r\n\r\n".utf8))
        refusal = Array(
            "HTTP/1.1 400 Bad Request\r\nServer: podbench\r\nContent-Length: 0\r\nX-Podbench-Error: altered body\r\n\r\n"
                .utf8)
        polled = .allocate(capacity: Self.maximumConnections + 1)
    }

    /// Takes a connection the case accepted (its first bytes are HTTP/1.1).
    func adopt(_ channel: SocketChannel) throws {
        guard connections.count < Self.maximumConnections else {
            channel.close()
            throw PodBenchError(
                .protocolViolation,
                "the hop opened more than \(Self.maximumConnections) connections at once to the server (one for each of at most \(HTTP2Workload.maximumStreams) streams, and room for idle ones)"
            )
        }
        try? channel.descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds)
        // A buffer for one request, head and body, not a stream's four frames: a connection holds
        // one request at a time, and a proxy may open a hundred of them.
        connections.append(
            FrameReader(
                channel: channel, maximumPayload: bodyLength,
                capacity: max(bodyLength + HTTP1.maximumHeadLength + 1, 64 << 10)))
    }

    /// How a connection's turn ended.
    enum Turn {
        case served, closed, ended
    }

    /// One phase: the requests on every connection (and on new ones) until the client's end, which
    /// is answered with the phase's count.
    /// - Throws: `.timeout` when no request comes within the timeout, `.protocolViolation` for a
    ///   request podbench's server does not answer.
    func serve<Listener: DataListener>(
        listener: Listener, descriptor: Int32, checker: inout IntegrityChecker, corruptSequence: UInt64?,
        since: UInt64
    ) throws {
        var lastRequest = since
        var echoed: UInt64 = 0
        while true {
            let now = MonotonicClock.now()
            let deadline = lastRequest &+ timeoutNanoseconds
            guard now < deadline else {
                throw PodBenchError(
                    .timeout,
                    "no request came from the hop in \(DurationText.format(nanoseconds: timeoutNanoseconds)) (--timeout), on any of its \(connections.count) connections"
                )
            }
            polled[0] = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            for (i, connection) in connections.enumerated() {
                polled[i + 1] = pollfd(fd: connection.channel.descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            }
            let wait = Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(polled.baseAddress, nfds_t(connections.count + 1), wait)
            if ready < 0 {
                if errno == EINTR { continue }
                throw PodBenchError(
                    .ioFailure, "poll on the hop's connections failed",
                    cause: .init(call: "poll", errno: Errno(rawValue: errno)))
            }
            if ready == 0 { continue }
            // From the last, so that a connection removed leaves the others' places as polled.
            for i in stride(from: connections.count - 1, through: 0, by: -1) where polled[i + 1].revents != 0 {
                switch try turn(i, checker: &checker, corruptSequence: corruptSequence, echoed: &echoed) {
                case .ended: return
                case .served: lastRequest = MonotonicClock.now()
                case .closed: drop(i)
                }
            }
            if polled[0].revents != 0 {
                try adopt(try accepted(listener))
            }
        }
    }

    private func accepted<Listener: DataListener>(_ listener: Listener) throws -> SocketChannel {
        let channel = try listener.accept(timeoutNanoseconds: timeoutNanoseconds)
        guard let socket = channel as? SocketChannel else {
            channel.close()
            throw PodBenchError(.invalidConfiguration, "an http2 case through a hop runs on a socket")
        }
        return socket
    }

    /// Serves the requests that have come on connection `index`, all of them (a proxy may have
    /// sent the next behind an answer's, and poll does not tell of bytes already read).
    private func turn(_ index: Int, checker: inout IntegrityChecker, corruptSequence: UInt64?, echoed: inout UInt64)
        throws -> Turn
    {
        var reader = connections[index]
        defer { connections[index] = reader }
        let channel = reader.channel
        repeat {
            let head: HTTP1.Head
            do {
                head = try reader.nextHTTPHead(from: channel, response: false)
            } catch let error as PodBenchError where error.code == .peerClosed && reader.pendingCount == 0 {
                return .closed
            }
            let length = head.contentLength ?? 0
            switch (head.method, head.target) {
            case (.post, .echo):
                guard length == bodyLength else {
                    throw PodBenchError(
                        .protocolViolation,
                        "an echo request from the hop has \(head.contentLength.map { "\($0) body bytes" } ?? "no Content-Length"), this case's bodies are \(bodyLength) bytes"
                    )
                }
                let message = try reader.takeHTTP(head.length + length, from: channel)
                if length > 0
                    && memcmp(message.baseAddress! + head.length, answer.baseAddress! + answerHead, length) != 0
                {
                    checker.recordCorrupted("a request body arrived altered (answered 400)")
                    try refusal.withUnsafeBytes { try channel.sendAll($0) }
                } else {
                    let spoil = echoed == corruptSequence && bodyLength > 0
                    if spoil { flipAnswerByte() }
                    defer { if spoil { flipAnswerByte() } }
                    try channel.sendAll(UnsafeRawBufferPointer(answer))
                    checker.recordVerified(1)
                }
                echoed &+= 1
            case (.post, .end):
                guard length == 0, let count = head.requestID else {
                    throw PodBenchError(.protocolViolation, "an end of the trial without its count or with a body")
                }
                _ = try reader.takeHTTP(head.length, from: channel)
                checker.checkEnd(sentCount: count)
                HTTP1MessageWriter.writeHex(checker.counts.received, to: endAnswer.baseAddress! + endIDOffset)
                try channel.sendAll(UnsafeRawBufferPointer(endAnswer))
                try channel.flush()
                return .ended
            case (.get, _) where length == 0:
                _ = try reader.takeHTTP(head.length, from: channel)
                try channel.sendAll(UnsafeRawBufferPointer(answer))
            default:
                throw PodBenchError(
                    .protocolViolation,
                    "a request podbench's server does not answer in an http2 case (POST /podbench/echo, POST /podbench/end, GET without a body): \(HTTP1.quote(reader.pendingBytes(head.length), head.startLine))"
                )
            }
            if head.closes {
                try channel.flush()
                return .closed
            }
        } while reader.pendingCount > 0
        return .served
    }

    /// Flips one body bit of the echo answer (`--inject-corruption`); again to undo.
    private func flipAnswerByte() {
        let p = answer.baseAddress! + answerHead + bodyLength / 2
        p.storeBytes(of: p.load(as: UInt8.self) ^ 0x10, as: UInt8.self)
    }

    private func drop(_ index: Int) {
        connections[index].channel.close()
        connections[index].deallocate()
        connections.remove(at: index)
    }

    func close() {
        guard !closed else { return }
        closed = true
        while !connections.isEmpty { drop(connections.count - 1) }
        answer.deallocate()
        endAnswer.deallocate()
        polled.deallocate()
    }

    deinit { close() }

    /// Whether a connection to an http2 case speaks HTTP/2 (its first bytes are the client preface,
    /// `PRI * HTTP/2.0`) or HTTP/1.1 (a request line): peeked, so the bytes stay for the one that
    /// reads them. Nil when it closed before its fourth byte.
    static func startsWithPreface(_ descriptor: FileDescriptor, deadline: UInt64) throws -> Bool? {
        var bytes: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        while true {
            let n = withUnsafeMutableBytes(of: &bytes) { recv(descriptor.rawValue, $0.baseAddress, 4, Int32(MSG_PEEK)) }
            if n == 4 { return bytes == (0x50, 0x52, 0x49, 0x20) }  // "PRI "
            if n == 0 { return nil }
            if n < 0 && errno != EINTR && errno != EAGAIN {
                if errno == ECONNRESET { return nil }
                throw PodBenchError(
                    .ioFailure, "reading a connection from the hop failed",
                    cause: .init(call: "recv", errno: Errno(rawValue: errno)))
            }
            let now = MonotonicClock.now()
            guard now < deadline else {
                throw PodBenchError(.timeout, "a connection from the hop sent no request within --timeout")
            }
            // Nothing yet (the receive timeout ran out), or a part: wait for more, or a moment.
            var one = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
            if n > 0 {
                usleep(1000)
            } else {
                _ = poll(&one, 1, Int32(clamping: (deadline - now + 999_999) / 1_000_000))
            }
        }
    }
}
