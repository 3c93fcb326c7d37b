import Glibc
import PodBenchCore
import SystemPackage

/// A connected datagram socket (UDP or Unix) as a `DataChannel`: each frame one datagram, sent with
/// one `send` and received whole with one `recv`. A datagram larger than the receiver's room is
/// refused (MSG_TRUNC tells its real length), never half-read.
public struct DatagramChannel: DataChannel, Sendable {
    public let descriptor: FileDescriptor

    @inlinable
    public static var isDatagram: Bool { true }

    /// How long a side waits for a datagram it expects before counting it lost: an echo or an
    /// acknowledgement later than this is a loss, never a hang (docs/datagrams.md).
    public static let lossDeadlineNanoseconds: UInt64 = 200_000_000

    /// The loss deadline with a peer timeout of `peerTimeoutNanoseconds`: 200 ms, or half the
    /// timeout when that is shorter (so that one loss never uses up the whole timeout).
    public static func lossDeadline(peerTimeoutNanoseconds: UInt64) -> UInt64 {
        max(1_000_000, min(lossDeadlineNanoseconds, peerTimeoutNanoseconds / 2))
    }

    // The handshake and the goodbye are header-only frames of kind `endAcknowledged` with these
    // words in the checksum field and a zero timestamp. Hello and welcome carry the case's nonce in
    // the sequence field, and a side that meets one late (a retried hello) drops it as older than its
    // phase; the goodbye (sequence 0) is taken whenever it comes, on the connected socket only.
    /// The client's first datagram: "connect me".
    public static let hello: UInt64 = 0x504244_47_48454C4F  // "PBDGHELO"
    /// The server's answer to `hello`: the client may send.
    public static let welcome: UInt64 = 0x504244_47_57454C43  // "PBDGWELC"
    /// A side that gives up on the phase says so, as a stream socket's shutdown would.
    public static let goodbye: UInt64 = 0x504244_47_42594521  // "PBDGBYE!"

    public init(descriptor: FileDescriptor) {
        self.descriptor = descriptor
    }

    @inlinable
    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        let sent: Int
        do {
            sent = try descriptor.send(bytes)
        } catch let error as PodBenchError {
            throw Self.translated(error)
        }
        if sent != bytes.count {
            throw PodBenchError(.ioFailure, "a datagram of \(bytes.count) bytes went out as \(sent)")
        }
    }

    /// Receives one whole datagram.
    /// - Throws: `.protocolViolation` for a datagram larger than `buffer`, `.peerClosed` when the
    ///   peer's socket is gone (UDP: ICMP port unreachable) or this side was shut down.
    @inlinable
    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let n: Int
        do {
            n = try descriptor.receiveDatagram(into: buffer)
        } catch let error as PodBenchError {
            throw Self.translated(error)
        }
        if n > buffer.count {
            throw PodBenchError(
                .protocolViolation,
                "a datagram of \(n) bytes is larger than the \(buffer.count) bytes of room for it (more than any frame of this case)"
            )
        }
        return n
    }

    /// Sends the goodbye datagram, so that a peer waiting for the next message stops at once (a
    /// datagram socket has no end of stream to send), and wakes this side's own blocked receive.
    /// Never blocks: a peer whose queue is full is not waited for (it times out instead).
    public func shutdown() {
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &bytes) { raw in
            FrameHeader(payloadLength: 0, kind: .endAcknowledged, sequence: 0, checksum: Self.goodbye, timestamp: 0)
                .write(to: raw.baseAddress!)
            _ = Glibc.send(descriptor.rawValue, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        descriptor.shutdownBoth()
    }

    public func close() {
        try? descriptor.close()
    }

    /// A refused or reset connected datagram socket means the peer's socket is gone.
    @usableFromInline
    static func translated(_ error: PodBenchError) -> PodBenchError {
        if error.cause?.errno == .connectionRefused || error.cause?.errno == .connectionReset {
            return PodBenchError(.peerClosed, "the peer's datagram socket is gone", cause: error.cause)
        }
        return error
    }

    /// Whether `bytes` is the header-only control datagram `word` (hello, welcome) of the
    /// connection `nonce` (the case's secret from the control connection, in the sequence field).
    public static func isMarker(_ bytes: UnsafeRawBufferPointer, _ word: UInt64, nonce: UInt64) -> Bool {
        guard bytes.count == FrameHeader.size, let header = FrameHeader.read(from: bytes.baseAddress!) else {
            return false
        }
        return header.kind == .endAcknowledged && header.payloadLength == 0 && header.checksum == word
            && header.sequence == nonce
    }

    /// Sends a header-only marker datagram on `descriptor`.
    static func sendMarker(_ word: UInt64, nonce: UInt64, on descriptor: FileDescriptor) throws {
        var bytes = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        try withUnsafeMutableBytes(of: &bytes) { raw in
            FrameHeader(payloadLength: 0, kind: .endAcknowledged, sequence: nonce, checksum: word, timestamp: 0)
                .write(to: raw.baseAddress!)
            _ = try descriptor.send(UnsafeRawBufferPointer(raw))
        }
    }

    /// Throws away whatever waits in `descriptor`'s receive queue: datagrams that came before it
    /// was connected, from anyone.
    static func drain(_ descriptor: FileDescriptor) {
        var byte: UInt8 = 0
        while Glibc.recv(descriptor.rawValue, &byte, 1, Int32(MSG_DONTWAIT | MSG_TRUNC)) >= 0 {}
    }
}

/// Sets up the data connection of the datagram transports (`udp`, `udp6`, `uds-dgram`). The server
/// binds a socket and advertises it with a random nonce (on the authenticated control connection);
/// the client connects its own socket there, drops whatever waited in its queue, and sends `hello`
/// with the nonce every 20 ms until the server answers `welcome` with it. The server takes the first
/// hello with the nonce from a sender its transport accepts (127.0.0.1 or ::1 for UDP; the one
/// client path next to its own for Unix), connects its socket to that sender, so the kernel drops
/// datagrams from anyone else, drops what waited in its queue, and answers. Both ends then hold
/// one connected socket each (docs/datagrams.md).
public enum DatagramSocket {
    /// A bound datagram socket waiting for its client's hello.
    public final class Listener: DataListener, @unchecked Sendable {
        public let descriptor: FileDescriptor
        public let address: SocketAddress
        let accepts: (UnsafePointer<sockaddr>, socklen_t) -> Bool
        /// The case's secret: only a hello that carries it is the client's.
        public let nonce = UInt64.random(in: 1...UInt64.max)
        private var handedOver = false
        private var closed = false

        public var endpoint: Endpoint { .datagram(address: address, nonce: nonce) }

        init(
            descriptor: FileDescriptor, address: SocketAddress,
            accepts: @escaping (UnsafePointer<sockaddr>, socklen_t) -> Bool
        ) {
            self.descriptor = descriptor
            self.address = address
            self.accepts = accepts
        }

        /// Waits at most `timeoutNanoseconds` for a hello from an accepted sender (anything else is
        /// dropped), connects to it and answers. The socket becomes the channel's.
        public func accept(timeoutNanoseconds: UInt64) throws -> DatagramChannel {
            let deadline = MonotonicClock.now() &+ timeoutNanoseconds
            var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            var from = sockaddr_storage()
            while true {
                // What is left of the wait, however many strangers' datagrams came first.
                let now = MonotonicClock.now()
                guard now < deadline else { break }
                try descriptor.setIOTimeout(nanoseconds: max(1000, deadline - now))
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = withUnsafeMutableBytes(of: &buffer) { raw in
                    withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(descriptor.rawValue, raw.baseAddress, raw.count, Int32(MSG_TRUNC), $0, &length)
                        }
                    }
                }
                if n < 0 {
                    let e = Errno(rawValue: errno)
                    if e == .interrupted { continue }
                    if e == .resourceTemporarilyUnavailable { break }
                    throw PodBenchError.system("recvfrom", e, "cannot receive the client's hello")
                }
                let isHello = withUnsafeBytes(of: &buffer) {
                    n == FrameHeader.size
                        && DatagramChannel.isMarker(
                            UnsafeRawBufferPointer(rebasing: $0[..<n]), DatagramChannel.hello, nonce: nonce)
                }
                let acceptable = withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accepts($0, length) }
                }
                // Anything but a hello with the nonce from the expected sender is another process's.
                guard isHello, acceptable else { continue }
                let rc = withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        Glibc.connect(descriptor.rawValue, $0, length)
                    }
                }
                guard rc == 0 else {
                    throw PodBenchError.system(
                        "connect", Errno(rawValue: errno), "cannot connect to the client's socket")
                }
                DatagramChannel.drain(descriptor)
                try descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds)
                try DatagramChannel.sendMarker(DatagramChannel.welcome, nonce: nonce, on: descriptor)
                handedOver = true
                return DatagramChannel(descriptor: descriptor)
            }
            throw PodBenchError(.timeout, "the client did not open the data connection to \(endpoint) in time")
        }

        /// Removes the socket file, if any; closes the socket unless a channel holds it.
        public func close() {
            guard !closed else { return }
            closed = true
            if !handedOver { try? descriptor.close() }
            if case .unixPath(let path) = address { _ = SystemFiles.removeSocketFile(path) }
        }

        deinit { close() }
    }

    /// Binds a datagram socket at `address` (port 0: the kernel's choice) for one case.
    /// - Parameter accepts: whether a hello from this sender is the client's.
    public static func listen(
        kind: TransportKind, address: SocketAddress, options: TransportOptions,
        accepts: @escaping (UnsafePointer<sockaddr>, socklen_t) -> Bool
    ) throws -> Listener {
        // sun_path holds 108 bytes with the NUL; the client's path is this one and ".c".
        if case .unixPath(let path) = address, path.utf8.count > 107 - 2 {
            throw PodBenchError(
                .invalidConfiguration, "the socket path \(path) is too long for \(kind): pass a shorter --shared-dir")
        }
        let fd = try socket(kind: kind, family: address.family, options: options)
        do {
            do {
                try fd.bind(to: address)
            } catch let error as PodBenchError
                where error.cause?.errno == .addressNotAvailable || error.cause?.errno == .addressFamilyNotSupported
            {
                throw PodBenchError(
                    .unavailable, "\(kind) needs \(address.datagramDescription) and this host does not offer it",
                    cause: error.cause)
            }
            let bound = address.family == AF_UNIX ? address : address.withPort(try fd.boundPort())
            return Listener(descriptor: fd, address: bound, accepts: accepts)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Connects to a server's datagram endpoint and says hello until it answers.
    /// - Parameters:
    ///   - local: where the client's socket is bound (Unix: a path the server sends to), nil for
    ///     the kernel's choice (UDP).
    public static func connect(
        to address: SocketAddress, nonce: UInt64, local: SocketAddress?, kind: TransportKind,
        options: TransportOptions, timeoutNanoseconds: UInt64
    ) throws -> DatagramChannel {
        let fd = try open(to: address, local: local, kind: kind, options: options)
        defer { if case .unixPath(let path) = local { _ = SystemFiles.removeSocketFile(path) } }
        do {
            try handshake(fd, address: address, nonce: nonce, timeoutNanoseconds: timeoutNanoseconds)
            return DatagramChannel(descriptor: fd)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// The client's socket, bound to `local` and connected to `address`.
    static func open(to address: SocketAddress, local: SocketAddress?, kind: TransportKind, options: TransportOptions)
        throws -> FileDescriptor
    {
        let fd = try socket(kind: kind, family: address.family, options: options)
        do {
            if let local {
                if case .unixPath(let path) = local { _ = SystemFiles.removeSocketFile(path) }
                try fd.bind(to: local)
            }
            try fd.connect(to: address)
            DatagramChannel.drain(fd)
            return fd
        } catch {
            try? fd.close()
            if case .unixPath(let path) = local { _ = SystemFiles.removeSocketFile(path) }
            throw error
        }
    }

    /// Says hello every 20 ms until the server answers welcome, for at most `timeoutNanoseconds`;
    /// then sets the channel's timeouts: a receive waits the loss deadline, a send the whole timeout.
    static func handshake(_ fd: FileDescriptor, address: SocketAddress, nonce: UInt64, timeoutNanoseconds: UInt64)
        throws
    {
        try fd.setIOTimeout(nanoseconds: 20_000_000)
        let deadline = MonotonicClock.now() &+ timeoutNanoseconds
        var buffer = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var answered = false
        while !answered {
            guard MonotonicClock.now() < deadline else {
                throw PodBenchError(.timeout, "no podbench server answered at \(address.datagramDescription) in time")
            }
            do {
                try DatagramChannel.sendMarker(DatagramChannel.hello, nonce: nonce, on: fd)
                let n = try withUnsafeMutableBytes(of: &buffer) { try fd.receiveDatagram(into: $0) }
                answered = withUnsafeBytes(of: &buffer) {
                    n == FrameHeader.size
                        && DatagramChannel.isMarker(
                            UnsafeRawBufferPointer(rebasing: $0[..<n]), DatagramChannel.welcome, nonce: nonce)
                }
            } catch let error as PodBenchError where error.code == .timeout {
                continue
            } catch let error as PodBenchError {
                throw DatagramChannel.translated(error)
            }
        }
        try fd.setIOTimeout(
            receiveNanoseconds: DatagramChannel.lossDeadline(peerTimeoutNanoseconds: timeoutNanoseconds),
            sendNanoseconds: timeoutNanoseconds)
    }

    /// A datagram socket of `family` with the case's socket buffers.
    static func socket(kind: TransportKind, family: Int32, options: TransportOptions) throws -> FileDescriptor {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.datagramSocket(family: family)
        } catch let error as PodBenchError where error.cause?.errno == .addressFamilyNotSupported {
            throw PodBenchError(.unavailable, "\(kind): this host has no such sockets", cause: error.cause)
        }
        do {
            try options.applySocketBuffers(to: fd)
            return fd
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// The payload bytes one frame may carry on a socket of `family` with these options: the
    /// largest datagram less the frame's header. UDP: 65,507 (IPv4) or 65,527 (IPv6) bytes; Unix:
    /// the send buffer less 32 bytes, as Linux allows (read from a socket made with the options).
    public static func maximumPayload(kind: TransportKind, family: Int32, options: TransportOptions) -> Int? {
        switch family {
        case AF_INET: return 65_507 - FrameHeader.size
        case AF_INET6: return 65_527 - FrameHeader.size
        default:
            guard let fd = try? socket(kind: kind, family: family, options: options) else { return nil }
            defer { try? fd.close() }
            guard let buffer = try? fd.socketOption(level: SOL_SOCKET, name: SO_SNDBUF, what: "SO_SNDBUF") else {
                return nil
            }
            return Int(buffer) - 32 - FrameHeader.size
        }
    }

    /// Tries a datagram transport for real: binds, connects, and completes the handshake (the
    /// client's first hello waits in the server's queue while the server accepts).
    static func probe(
        kind: TransportKind, needs: String, listener: Listener, local: SocketAddress?
    ) -> (available: Bool, reason: String) {
        defer { listener.close() }
        do {
            let fd = try open(to: listener.address, local: local, kind: kind, options: TransportOptions())
            defer {
                try? fd.close()
                if case .unixPath(let path) = local { _ = SystemFiles.removeSocketFile(path) }
            }
            try DatagramChannel.sendMarker(DatagramChannel.hello, nonce: listener.nonce, on: fd)
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            defer { server.close() }
            try handshake(fd, address: listener.address, nonce: listener.nonce, timeoutNanoseconds: 2_000_000_000)
            return (true, "exchanged datagrams over \(listener.endpoint) (needs \(needs))")
        } catch let error as PodBenchError {
            return (false, error.description)
        } catch {
            return (false, "\(error)")
        }
    }
}
