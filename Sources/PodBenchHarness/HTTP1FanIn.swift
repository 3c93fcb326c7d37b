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
/// One thread polls the listener and every connection, and nothing blocks: each connection is a
/// state machine that reads what has come (a head, then the body compared with the pattern as it
/// arrives, never held whole) and writes its answer as the socket takes it, and yields after
/// `turnRequests` requests or `turnBytes` bytes so that a peer that keeps sending cannot keep the
/// others waiting. So a connection that trickles a request, or reads its answer slowly, delays no
/// other; the phase fails only when no echo or end completes within the timeout (a health check's
/// GET does not keep it alive). Connections are kept from phase to phase, as the proxy keeps them;
/// past `maximumConnections` the one quiet longest is closed for the new one.
final class HTTP1FanIn {
    /// The most connections at once: one for each stream a case may have outstanding, and room for
    /// a proxy's idle ones and health checks.
    static let maximumConnections = HTTP2Workload.maximumStreams + 16
    /// A connection's receive buffer: a whole head (at most `HTTP1.maximumHeadLength`) and some body.
    static let bufferSize = 64 << 10
    /// What one connection's turn takes at most before the others have theirs.
    static let turnRequests = 32
    static let turnBytes = 1 << 20

    struct Connection {
        let channel: SocketChannel
        let buffer: UnsafeMutableRawBufferPointer
        var start = 0
        var end = 0
        /// The request whose body is coming (its head taken).
        var request: HTTP1.Head?
        var bodyCompared = 0
        var altered = false
        /// The answer being written, and how much of it went.
        var answer: UnsafeRawBufferPointer?
        var sent = 0
        /// Closed once its answer is out (`Connection: close`, HTTP/1.0).
        var closesAfter = false
        /// The phase's end is answered once its answer is out.
        var endsPhase = false
        /// Its turn ended at its share, not at EAGAIN: more may be buffered or waiting, which poll
        /// would not tell.
        var ready = false
        /// When a byte last moved either way (the longest quiet is closed first when full).
        var lastActive: UInt64 = 0
    }

    let bodyLength: Int
    let timeoutNanoseconds: UInt64
    /// `200 OK` and the body: every echo's answer. Its body is the pattern requests must carry.
    let answer: UnsafeMutableRawBufferPointer
    let answerHead: Int
    /// The echo answer with one body bit flipped (`--inject-corruption`).
    let spoiled: UnsafeMutableRawBufferPointer
    /// The end's answer, the count's 16 digits at `endIDOffset`.
    let endAnswer: UnsafeMutableRawBufferPointer
    let endIDOffset: Int
    let refusal: UnsafeMutableRawBufferPointer
    var connections: [Connection] = []
    /// Receive buffers of closed connections, for the next (a proxy that opens a connection per
    /// request allocates nothing per request).
    var spare: [UnsafeMutableRawBufferPointer] = []
    /// An end of the trial was taken and its answer is not out yet.
    var endPending = false
    let polled: UnsafeMutableBufferPointer<pollfd>
    /// Connections closed because there were too many (a note for the timeout's error).
    private(set) var refused = 0
    private var closed = false

    init(bodyLength: Int, seed: UInt64, timeoutNanoseconds: UInt64) {
        self.bodyLength = bodyLength
        self.timeoutNanoseconds = timeoutNanoseconds
        func bytes(_ text: String) -> UnsafeMutableRawBufferPointer {
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: text.utf8.count, alignment: 64)
            b.copyBytes(from: text.utf8)
            return b
        }
        let head = Array("HTTP/1.1 200 OK\r\nServer: podbench\r\nContent-Length: \(bodyLength)\r\n\r\n".utf8)
        answerHead = head.count
        answer = .allocate(byteCount: head.count + bodyLength, alignment: 64)
        answer.copyBytes(from: head)
        let body = HTTP2ServerSession.makeBody(length: bodyLength, seed: seed)
        UnsafeMutableRawBufferPointer(rebasing: answer[head.count...]).copyMemory(
            from: UnsafeRawBufferPointer(rebasing: body[..<bodyLength]))
        body.deallocate()
        spoiled = .allocate(byteCount: answer.count, alignment: 64)
        spoiled.copyMemory(from: UnsafeRawBufferPointer(answer))
        if bodyLength > 0 { spoiled[head.count + bodyLength / 2] ^= 0x10 }
        let end = "HTTP/1.1 200 OK\r\nServer: podbench\r\nContent-Length: 0\r\nX-Podbench-Request: "
        endIDOffset = end.utf8.count
        endAnswer = bytes(end + "0000000000000000\r\n\r\n")
        refusal = bytes(
            "HTTP/1.1 400 Bad Request\r\nServer: podbench\r\nContent-Length: 0\r\nX-Podbench-Error: altered body\r\n\r\n"
        )
        polled = .allocate(capacity: Self.maximumConnections + 1)
        connections.reserveCapacity(Self.maximumConnections)
        spare.reserveCapacity(Self.maximumConnections)
    }

    /// Takes a connection the case accepted. Past `maximumConnections` the one quiet longest goes
    /// (idle ones of the proxy's, or a stranger's that stopped): the new one is the proxy's next
    /// request more likely than not.
    func adopt(_ channel: SocketChannel) {
        if connections.count >= Self.maximumConnections,
            let oldest = connections.indices.min(by: { connections[$0].lastActive < connections[$1].lastActive })
        {
            drop(oldest)
            refused += 1
        }
        let buffer = spare.popLast() ?? .allocate(byteCount: Self.bufferSize, alignment: 64)
        connections.append(Connection(channel: channel, buffer: buffer, lastActive: MonotonicClock.now()))
    }

    /// What a connection waits for after its turn (`ended`: the phase's end is answered;
    /// `endedClosing`: and the connection is to close).
    enum Wait {
        case read, write, closed, ended, endedClosing
    }

    /// One phase: the requests on every connection (and on new ones) until the client's end, which
    /// is answered with the phase's count.
    /// - Throws: `.timeout` when no request completes within the timeout, `.protocolViolation` for
    ///   a request podbench's server does not answer.
    func serve<Listener: DataListener>(
        listener: Listener, descriptor: Int32, checker: inout IntegrityChecker, corruptSequence: UInt64?,
        since: UInt64
    ) throws {
        var lastRequest = since
        var echoed: UInt64 = 0
        endPending = false
        // Its accept never waits: poll does.
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 && flags & O_NONBLOCK == 0 { _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) }
        // What came before this phase (a proxy's request read with the last phase's end) first.
        for i in connections.indices { connections[i].ready = true }
        while true {
            let now = MonotonicClock.now()
            let deadline = lastRequest &+ timeoutNanoseconds
            guard now < deadline else {
                throw PodBenchError(
                    .timeout,
                    "no request came from the hop in \(DurationText.format(nanoseconds: timeoutNanoseconds)) (--timeout), on any of its \(connections.count) connections\(refused > 0 ? " (\(refused) more were closed: at most \(Self.maximumConnections) at once)" : "")"
                )
            }
            polled[0] = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            for (i, connection) in connections.enumerated() {
                let writing = connection.answer != nil
                polled[i + 1] = pollfd(
                    fd: connection.channel.descriptor.rawValue, events: Int16(writing ? POLLOUT : POLLIN), revents: 0)
            }
            // A connection whose turn stopped at its share goes on at once, after the others' turns.
            let anyReady = connections.contains { $0.ready }
            let wait = anyReady ? 0 : Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            let ready = poll(polled.baseAddress, nfds_t(connections.count + 1), wait)
            if ready < 0 {
                if errno == EINTR { continue }
                throw PodBenchError(
                    .ioFailure, "poll on the hop's connections failed",
                    cause: .init(call: "poll", errno: Errno(rawValue: errno)))
            }
            if ready == 0 && !anyReady { continue }
            // From the last, so that a connection removed leaves the others' places as polled.
            for i in stride(from: connections.count - 1, through: 0, by: -1)
            where polled[i + 1].revents != 0 || connections[i].ready {
                let (wait, served) = try turn(i, checker: &checker, corruptSequence: corruptSequence, echoed: &echoed)
                if served { lastRequest = MonotonicClock.now() }
                switch wait {
                case .ended: return
                case .endedClosing:
                    drop(i)
                    return
                case .closed: drop(i)
                case .read, .write: break
                }
            }
            // Every connection waiting, at once: a proxy opens one for each stream of a burst, and
            // a full backlog would drop the next one's SYN for a second.
            var accepted = 0
            while polled[0].revents != 0 && accepted < Self.maximumConnections {
                let channel: Listener.Channel
                do {
                    channel = try listener.accept(timeoutNanoseconds: timeoutNanoseconds)
                } catch let error as PodBenchError where error.code == .timeout || HTTP1Server.isTransient(error) {
                    // None left (the listener does not block here), gone before it was taken
                    // (ECONNABORTED, EPROTO, …), or out of descriptors for a moment: the
                    // connections there are go on.
                    break
                }
                guard let socket = channel as? SocketChannel else {
                    channel.close()
                    throw PodBenchError(.invalidConfiguration, "an http2 case through a hop runs on a socket")
                }
                adopt(socket)
                accepted += 1
            }
        }
    }

    /// Takes what connection `index` has for this side, and answers what it can, without blocking.
    /// - Returns: what it waits for now, and whether a request completed.
    private func turn(_ index: Int, checker: inout IntegrityChecker, corruptSequence: UInt64?, echoed: inout UInt64)
        throws -> (Wait, Bool)
    {
        var c = connections[index]
        defer { connections[index] = c }
        let fd = c.channel.descriptor.rawValue
        var served = false
        var requests = 0
        var bytes = 0
        c.ready = false
        while true {
            // Its share taken: the others have their turns before this one goes on.
            if requests >= Self.turnRequests || bytes >= Self.turnBytes {
                c.ready = true
                c.lastActive = MonotonicClock.now()
                return (c.answer != nil ? .write : .read, served)
            }
            // The answer under way first: nothing more is read until it is out.
            if let out = c.answer {
                while c.sent < out.count {
                    let n = send(fd, out.baseAddress! + c.sent, out.count - c.sent, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
                    if n > 0 {
                        c.sent += n
                        bytes += n
                        c.lastActive = MonotonicClock.now()
                    } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                        if errno == EINTR { continue }
                        return (.write, served)
                    } else {
                        return (.closed, served)
                    }
                }
                c.answer = nil
                c.sent = 0
                requests += 1
                if c.endsPhase {
                    c.endsPhase = false
                    endPending = false
                    return (c.closesAfter ? .endedClosing : .ended, served)
                }
                if c.closesAfter { return (.closed, served) }
            }
            if let request = c.request {
                // The body: compared with the pattern as it comes, then dropped.
                let length = request.contentLength ?? 0
                let take = min(c.end - c.start, length - c.bodyCompared)
                if take > 0 {
                    if memcmp(c.buffer.baseAddress! + c.start, answer.baseAddress! + answerHead + c.bodyCompared, take)
                        != 0
                    {
                        c.altered = true
                    }
                    c.bodyCompared += take
                    c.start += take
                }
                if c.bodyCompared == length {
                    c.request = nil
                    c.closesAfter = request.closes
                    served = true  // an echo, or a refusal: the proxy's request either way
                    if c.altered {
                        checker.recordCorrupted("a request body arrived altered (answered 400)")
                        c.answer = UnsafeRawBufferPointer(refusal)
                    } else {
                        c.answer = UnsafeRawBufferPointer(echoed == corruptSequence ? spoiled : answer)
                        checker.recordVerified(1)
                        echoed &+= 1
                    }
                    continue
                }
            } else if c.end > c.start {
                let pending = UnsafeRawBufferPointer(start: c.buffer.baseAddress! + c.start, count: c.end - c.start)
                // HTTP/2's preface (no method is "PRI"), said so before the HTTP/1.1 parser says it
                // is not a request line; while only part of it is in, more is read.
                let preface = pending.starts(with: Self.preface.prefix(pending.count))
                if preface && pending.count >= Self.preface.count {
                    throw PodBenchError(
                        .protocolViolation,
                        "an HTTP/2 connection came to an http2 case that the hop began over HTTP/1.1 (another client's HTTP/1.1 request on the server's address first?)"
                    )
                }
                if !preface, let head = try HTTP1.parseHead(pending, response: false) {
                    try take(head, pending, &c, checker: &checker)
                    // An end is the phase's; a GET (a health check) keeps no phase alive.
                    if c.endsPhase { served = true }
                    continue
                }
            }
            if let wait = try more(&c, fd, served, &bytes) { return wait }
        }
    }

    /// HTTP/2's client preface, whose first bytes no HTTP/1.1 request has.
    static let preface = Array("PRI * HTTP/2.0\r\n".utf8)

    /// Receives more of connection `c` into its buffer's tail (or its front, what is left moved
    /// there). Nil when bytes came; else what the connection waits for.
    private func more(_ c: inout Connection, _ fd: Int32, _ served: Bool, _ bytes: inout Int) throws -> (Wait, Bool)? {
        if c.start == c.end {
            c.start = 0
            c.end = 0
        } else if c.end == c.buffer.count {
            let left = c.end - c.start
            memmove(c.buffer.baseAddress!, c.buffer.baseAddress! + c.start, left)
            c.start = 0
            c.end = left
        }
        while true {
            let n = recv(fd, c.buffer.baseAddress! + c.end, c.buffer.count - c.end, Int32(MSG_DONTWAIT))
            if n > 0 {
                c.end += n
                bytes += n
                c.lastActive = MonotonicClock.now()
                return nil
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return (.read, served) }
            // Closed (or reset): between requests as a proxy retires a connection, or in the
            // middle of one, whose loss the end's count shows.
            return (.closed, served)
        }
    }

    /// A request's head has come: takes it, and sets up its answer or its body.
    private func take(
        _ head: HTTP1.Head, _ pending: UnsafeRawBufferPointer, _ c: inout Connection, checker: inout IntegrityChecker
    ) throws {
        let length = head.contentLength ?? 0
        switch (head.method, head.target) {
        case (.post, .echo):
            guard length == bodyLength else {
                throw PodBenchError(
                    .protocolViolation,
                    "an echo request from the hop has \(head.contentLength.map { "\($0) body bytes" } ?? "no Content-Length"), this case's bodies are \(bodyLength) bytes"
                )
            }
            c.start += head.length
            c.request = head
            c.bodyCompared = 0
            c.altered = false
        case (.post, .end):
            guard length == 0, let count = head.requestID else {
                throw PodBenchError(.protocolViolation, "an end of the trial without its count or with a body")
            }
            guard !endPending else {
                throw PodBenchError(.protocolViolation, "a second end of the trial came while the first was answered")
            }
            endPending = true
            c.start += head.length
            checker.checkEnd(sentCount: count)
            HTTP1MessageWriter.writeHex(checker.counts.received, to: endAnswer.baseAddress! + endIDOffset)
            c.answer = UnsafeRawBufferPointer(endAnswer)
            c.endsPhase = true
            c.closesAfter = head.closes
        case (.get, _) where length == 0:
            c.start += head.length
            c.answer = UnsafeRawBufferPointer(answer)
            c.closesAfter = head.closes
        default:
            throw PodBenchError(
                .protocolViolation,
                "a request podbench's server does not answer in an http2 case (POST /podbench/echo, POST /podbench/end, GET without a body): \(HTTP1.quote(pending, head.startLine))"
            )
        }
    }

    private func drop(_ index: Int) {
        connections[index].channel.close()
        if connections[index].endsPhase { endPending = false }
        spare.append(connections[index].buffer)
        connections.remove(at: index)
    }

    func close() {
        guard !closed else { return }
        closed = true
        while !connections.isEmpty { drop(connections.count - 1) }
        spare.forEach { $0.deallocate() }
        spare = []
        answer.deallocate()
        spoiled.deallocate()
        endAnswer.deallocate()
        refusal.deallocate()
        polled.deallocate()
    }

    deinit { close() }

    /// Whether a connection to an http2 case speaks HTTP/2 (its first bytes are the client preface,
    /// `PRI * HTTP/2.0`) or HTTP/1.1 (anything else): peeked, so the bytes stay for the one that
    /// reads them, and decided as soon as a byte differs from the preface's. Nil when it closed
    /// before that.
    /// - Throws: `.timeout` at `deadline`.
    static func startsWithPreface(_ descriptor: FileDescriptor, deadline: UInt64) throws -> Bool? {
        let preface: [UInt8] = Array("PRI ".utf8)
        var bytes: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        var hungUp = false
        while true {
            let n = withUnsafeMutableBytes(of: &bytes) {
                recv(descriptor.rawValue, $0.baseAddress, 4, Int32(MSG_PEEK | MSG_DONTWAIT))
            }
            if n > 0 {
                let got = withUnsafeBytes(of: &bytes) { Array($0.prefix(n)) }
                if got != Array(preface.prefix(n)) { return false }
                if n == 4 { return true }
                if hungUp { return nil }
            } else if n == 0 {
                return nil
            } else if errno == ECONNRESET {
                return nil
            } else if errno != EAGAIN && errno != EINTR {
                throw PodBenchError(
                    .ioFailure, "reading a connection from the hop failed",
                    cause: .init(call: "recv", errno: Errno(rawValue: errno)))
            }
            let now = MonotonicClock.now()
            guard now < deadline else {
                throw PodBenchError(.timeout, "a connection from the hop sent no request within --timeout")
            }
            // Wait for bytes, or for its end. Part of the preface stays readable (poll would say so
            // at once): then a millisecond, or its hang-up (POLLRDHUP: a peer that sent "PR" and
            // closed is seen so, the bytes before its FIN still there).
            let rdhup = Int16(0x2000)
            var one = pollfd(fd: descriptor.rawValue, events: n > 0 ? rdhup : Int16(POLLIN) | rdhup, revents: 0)
            _ = poll(&one, 1, n > 0 ? 1 : Int32(clamping: (deadline - now + 999_999) / 1_000_000))
            hungUp = one.revents & (Int16(0x2000) | Int16(POLLHUP) | Int16(POLLERR)) != 0
        }
    }
}
