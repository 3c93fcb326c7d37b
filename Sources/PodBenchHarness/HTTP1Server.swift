import Foundation
import Glibc
import PodBenchCore
import PodBenchTransports
import Synchronization
import SystemPackage

/// `podbench http-serve`: the http1 workload's server on its own, for HTTP peers nobody here wrote
/// (wrk, h2load's HTTP/1.1 mode, curl) and for a proxy's health checks. It answers `GET` of any path
/// with `200 OK` and a fixed body of the configured size, and `POST /podbench/echo` as in a case
/// (docs/http.md); anything else closes the connection with the reason logged. A thread per
/// connection, at most `maximumConnections` at once (more are closed at once), each ended by
/// `idleTimeoutNanoseconds` without a byte. With `wire` `.h2c` it speaks HTTP/2 over cleartext with
/// prior knowledge instead (`HTTP2ServerSession`: any request answered 200 with the body).
public final class HTTP1Server: Sendable {
    /// What a connection speaks.
    public enum Wire: String, Sendable, CaseIterable {
        case http1
        /// HTTP/2 over cleartext with prior knowledge (h2load's default for http:// URIs).
        case h2c
    }

    public struct Configuration: Sendable {
        public var listen: SocketAddress
        public var wire: Wire
        public var bodyLength: Int
        public var maximumConnections: Int
        public var idleTimeoutNanoseconds: UInt64
        public var seed: UInt64

        public init(
            listen: SocketAddress, bodyLength: Int, maximumConnections: Int = 64,
            idleTimeoutNanoseconds: UInt64 = 60_000_000_000, seed: UInt64 = 0x504F_4442_454E_4348, wire: Wire = .http1
        ) throws {
            guard (0...HTTP1.maximumContentLength).contains(bodyLength) else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--body-size: \(bodyLength) bytes is more than the 1 GiB an HTTP body may have here")
            }
            guard wire == .http1 || bodyLength <= HTTP1Server.largestBody else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--body-size: \(ByteSize.format(bodyLength)) is more than the \(ByteSize.format(HTTP1Server.largestBody)) an HTTP/2 answer may have here"
                )
            }
            guard maximumConnections >= 1 else {
                throw PodBenchError(.invalidConfiguration, "--max-connections: at least 1")
            }
            // Each connection holds its buffers from the moment it is accepted: the whole server's
            // memory is bounded before any client comes.
            let each = HTTP1Server.bytesPerConnection(bodyLength: bodyLength, wire: wire)
            // HTTP/2's connections share one body: it counts once.
            let most = (HTTP1Server.memoryBudget - (wire == .h2c ? bodyLength : 0)) / each
            guard most >= 1 else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--body-size \(ByteSize.format(bodyLength)): one connection would hold \(ByteSize.format(each)), more than the \(ByteSize.format(HTTP1Server.memoryBudget)) all connections may hold: give at most \(ByteSize.format(HTTP1Server.largestBody))"
                )
            }
            guard maximumConnections <= most else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "--max-connections \(maximumConnections) with --body-size \(ByteSize.format(bodyLength)): each connection holds \(ByteSize.format(each)), and all of them at once may hold at most \(ByteSize.format(HTTP1Server.memoryBudget)): give --max-connections \(max(most, 1)) or less, or a smaller --body-size"
                )
            }
            self.listen = listen
            self.wire = wire
            self.bodyLength = bodyLength
            self.maximumConnections = maximumConnections
            self.idleTimeoutNanoseconds = idleTimeoutNanoseconds
            self.seed = seed
        }
    }

    /// What all connections together may hold.
    public static let memoryBudget = 2 << 30
    /// The largest body one connection can serve within the budget (a round 256 MiB).
    public static let largestBody = 256 << 20

    /// A connection's receive buffer (FrameReader's), its response and the other side's scratch pattern.
    /// Over HTTP/2: the session's receive, send and header-block buffers, its HPACK table, the body.
    static func bytesPerConnection(bodyLength: Int, wire: Wire = .http1) -> Int {
        if wire == .h2c { return HTTP2ServerSession.bytesHeld(bodyLength: bodyLength, sharedBody: true) }
        return max(4 * (FrameHeader.size + bodyLength + HTTP1.maximumHeadLength), 256 << 10) + 2 * bodyLength + 1024
    }

    public let configuration: Configuration
    let listener: SocketTransport.Listener
    /// HTTP/2's body, made once and read by every connection (never freed: the server runs until the
    /// process ends).
    nonisolated(unsafe) let sharedBody: UnsafeRawBufferPointer?
    let log: @Sendable (String) -> Void
    let open = Atomic<Int>(0)
    let served = Atomic<UInt64>(0)

    /// Where it listens (the port filled in when 0 was asked).
    public var address: SocketAddress { listener.address }

    /// Binds and listens (errors here end the command before it serves).
    public init(_ configuration: Configuration, log: @escaping @Sendable (String) -> Void) throws {
        self.configuration = configuration
        self.log = log
        listener = try SocketTransport.listen(
            kind: configuration.listen.transport, options: TransportOptions(), sharedDirectory: "", name: "",
            fixed: configuration.listen)
        sharedBody =
            configuration.wire == .h2c
            ? UnsafeRawBufferPointer(
                HTTP2ServerSession.makeBody(length: configuration.bodyLength, seed: configuration.seed)) : nil
    }

    /// An accept error that concerns one connection (ECONNABORTED, EPROTO, …), not the socket.
    static func isTransient(_ error: PodBenchError) -> Bool {
        guard let errno = error.cause?.errno else { return false }
        return ![.badFileDescriptor, .invalidArgument, .notSocket].contains(errno)
    }

    /// Accepts until the process ends.
    public func run() throws -> Never {
        while true {
            let fd: FileDescriptor
            do {
                fd = try listener.descriptor.accept()
            } catch let error as PodBenchError
                where [.tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory].contains(
                    error.cause?.errno)
            {
                // Out of descriptors or memory: wait a moment for connections to end rather than
                // spin, and go on serving the connections there are.
                log("podbench http-serve: \(error.message); waiting 100 ms")
                usleep(100_000)
                continue
            } catch let error as PodBenchError where Self.isTransient(error) {
                // A connection that ended before it was taken (ECONNABORTED, EPROTO, …): the next.
                continue
            }
            if open.add(1, ordering: .relaxed).newValue > configuration.maximumConnections {
                open.subtract(1, ordering: .relaxed)
                try? fd.close()
                log(
                    "podbench http-serve: \(configuration.maximumConnections) connections open (--max-connections): closed a new one"
                )
                continue
            }
            Thread { [self] in
                serve(fd)
                open.subtract(1, ordering: .relaxed)
            }.start()
        }
    }

    /// Answers one connection's requests until it ends; the reason it ended is logged unless the
    /// client closed it between requests.
    func serve(_ fd: FileDescriptor) {
        if configuration.wire == .h2c { return serveHTTP2(fd) }
        let channel = SocketChannel(descriptor: fd)
        defer { channel.close() }
        let length = configuration.bodyLength
        var reader = FrameReader<SocketChannel>(channel: channel, maximumPayload: length + HTTP1.maximumHeadLength)
        let writer = HTTP1MessageWriter.response(bodyLength: length, seed: configuration.seed)
        defer {
            reader.deallocate()
            writer.deallocate()
        }
        do {
            if configuration.listen.family != AF_UNIX {
                try fd.setSocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, what: "TCP_NODELAY")
            }
            try fd.setIOTimeout(nanoseconds: configuration.idleTimeoutNanoseconds)
            while true {
                var checker = IntegrityChecker(payloadLength: length, verifyEvery: 1)
                let outcome = try HTTP1Workload.server(
                    reader: &reader, writer: writer, checker: &checker, corruptSequence: nil)
                if let error = checker.counts.firstError {
                    log("podbench http-serve: a client's request failed its check: \(error)")
                }
                if outcome == .connectionDone { return }
            }
        } catch let error as PodBenchError {
            let why = error.code == .timeout ? "idle for longer than --idle-timeout" : error.message
            log("podbench http-serve: closed a connection: \(why)")
        } catch {
            log("podbench http-serve: closed a connection: \(error)")
        }
    }

    /// Answers one HTTP/2 connection until the client closes it, idles past --idle-timeout or breaks
    /// the protocol. A GOAWAY goes first (NO_ERROR when idle; else the error's code and text, the
    /// reason logged), then the sending side is shut and what the client had sent is read away, so
    /// that the close does not turn into a reset that could lose the GOAWAY.
    func serveHTTP2(_ fd: FileDescriptor) {
        let channel = SocketChannel(descriptor: fd)
        defer { channel.close() }
        let session: HTTP2ServerSession
        do {
            session = try HTTP2ServerSession(
                .init(bodyLength: configuration.bodyLength, seed: configuration.seed), sharedBody: sharedBody)
        } catch {
            log("podbench http-serve: \(error)")
            return
        }
        /// Echo requests counted by the ends of trials answered so far.
        var echoedBefore: UInt64 = 0
        /// Set while a send is under way: one that failed (a client that stopped reading, past the
        /// send timeout) left part of `pendingSend` on the wire, so nothing more may be written.
        var sendBroken = false
        func flush() throws {
            if session.sendCount > 0 {
                sendBroken = true
                try channel.sendAll(session.pendingSend)
                sendBroken = false
                session.sent()
            }
        }
        /// A GOAWAY (unless a send broke), then the sending side shut and what the client sent read
        /// away for at most a second and 4 MiB, so that the close is no reset that loses the GOAWAY.
        func goodbye(_ message: String) {
            guard !sendBroken else { return }
            try? fd.setIOTimeout(nanoseconds: min(configuration.idleTimeoutNanoseconds, 1_000_000_000))
            try? flush()
            guard !sendBroken else { return }
            session.goAwayFrame(message).withUnsafeBytes { try? channel.sendAll($0) }
            _ = shutdown(fd.rawValue, Int32(SHUT_WR))
            let until = MonotonicClock.now() &+ 1_000_000_000
            var drained = 0
            while drained < 4 << 20 && MonotonicClock.now() < until {
                let n = recv(fd.rawValue, session.receive.baseAddress, session.receive.count, 0)
                if n <= 0 { break }
                drained += n
            }
        }
        /// Processes what arrived; a workload's end of a trial is answered at once, with the echo
        /// requests taken since the last one.
        func process() throws {
            try session.process()
            if session.endRequested != nil {
                session.answerEnd(count: session.echoed &- echoedBefore)
                echoedBefore = session.echoed
            }
        }
        /// Takes the frames that have arrived, then answers while the windows and the socket allow,
        /// reading what came meanwhile (window updates, PINGs, resets) between writes.
        func pump() throws {
            repeat {
                try process()
                try flush()
                while session.produce() {
                    try flush()
                    let space = session.receiveSpace()
                    guard space.count >= HTTP2.frameHeaderLength + HTTP2.defaultMaximumFrameSize else { continue }
                    let n = recv(fd.rawValue, space.baseAddress, space.count, Int32(MSG_DONTWAIT))
                    if n > 0 {
                        session.received(n)
                        try process()
                        try flush()
                    }
                }
                try flush()
            } while session.backlogged
        }
        do {
            if configuration.listen.family != AF_UNIX {
                try fd.setSocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, what: "TCP_NODELAY")
            }
            try fd.setIOTimeout(nanoseconds: configuration.idleTimeoutNanoseconds)
            try flush()
            while true {
                let count = try channel.receiveSome(into: session.receiveSpace())
                session.received(count)
                do {
                    try pump()
                } catch let error as PodBenchError where error.code == .protocolViolation {
                    goodbye(error.message)
                    throw error
                }
            }
        } catch let error as PodBenchError {
            if error.code == .peerClosed && session.idle { return }
            if error.code == .timeout { goodbye("idle for longer than the server's --idle-timeout") }
            let why =
                error.code != .timeout
                ? error.message
                : sendBroken
                    ? "the client read nothing for longer than --idle-timeout" : "idle for longer than --idle-timeout"
            log("podbench http-serve: closed an HTTP/2 connection: \(TextEscaping.terminal(why))")
        } catch {
            log("podbench http-serve: closed an HTTP/2 connection: \(error)")
        }
    }
}
