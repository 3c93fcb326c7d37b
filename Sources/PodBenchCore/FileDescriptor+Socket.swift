import SystemPackage

#if canImport(Glibc)
    import Glibc
    @usableFromInline let podbenchSockStream = Int32(SOCK_STREAM.rawValue)
    @usableFromInline let podbenchSockDatagram = Int32(SOCK_DGRAM.rawValue)
    @usableFromInline let podbenchTruncated = Int32(MSG_TRUNC)
    @usableFromInline let podbenchSockCloexec = Int32(SOCK_CLOEXEC.rawValue)
    @usableFromInline let podbenchNoSignal = Int32(MSG_NOSIGNAL)
#elseif canImport(Darwin)
    import Darwin
    @usableFromInline let podbenchSockStream = SOCK_STREAM
    @usableFromInline let podbenchSockDatagram = SOCK_DGRAM
    @usableFromInline let podbenchTruncated = MSG_TRUNC
    @usableFromInline let podbenchSockCloexec: Int32 = 0
    @usableFromInline let podbenchNoSignal: Int32 = 0
#endif

// One thin wrapper per socket call, as swift-system wraps read/write: retries EINTR, reads errno
// at once and throws a typed error naming the call.
extension FileDescriptor {
    /// A new stream socket (`socket(2)` with SOCK_CLOEXEC).
    public static func streamSocket(family: Int32) throws -> FileDescriptor {
        let fd = Glibc.socket(family, podbenchSockStream | podbenchSockCloexec, 0)
        guard fd >= 0 else { throw PodBenchError.system("socket", Errno(rawValue: errno), "cannot create a socket") }
        return FileDescriptor(rawValue: fd)
    }

    /// A new datagram socket (`socket(2)` SOCK_DGRAM with SOCK_CLOEXEC).
    public static func datagramSocket(family: Int32) throws -> FileDescriptor {
        let fd = Glibc.socket(family, podbenchSockDatagram | podbenchSockCloexec, 0)
        guard fd >= 0 else {
            throw PodBenchError.system("socket", Errno(rawValue: errno), "cannot create a datagram socket")
        }
        return FileDescriptor(rawValue: fd)
    }

    /// Reads an integer socket option (`getsockopt(2)`).
    public func socketOption(level: Int32, name: Int32, what: String) throws -> Int32 {
        var v: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(rawValue, level, name, &v, &length) == 0 else {
            throw PodBenchError.system("getsockopt", Errno(rawValue: errno), "cannot read \(what)")
        }
        return v
    }

    /// Sets an integer socket option (`setsockopt(2)`).
    public func setSocketOption(level: Int32, name: Int32, value: Int32, what: String) throws {
        var v = value
        let rc = setsockopt(rawValue, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        guard rc == 0 else { throw PodBenchError.system("setsockopt", Errno(rawValue: errno), "cannot set \(what)") }
    }

    /// Makes blocking sends and receives give up after `nanoseconds` (SO_RCVTIMEO, SO_SNDTIMEO);
    /// this is how a silent peer ends in bounded time without costing the fast path anything.
    public func setIOTimeout(nanoseconds: UInt64) throws {
        try setIOTimeout(receiveNanoseconds: nanoseconds, sendNanoseconds: nanoseconds)
    }

    /// `setIOTimeout(nanoseconds:)` with a receive and a send timeout of their own.
    public func setIOTimeout(receiveNanoseconds: UInt64, sendNanoseconds: UInt64) throws {
        for (name, nanoseconds) in [(SO_RCVTIMEO, receiveNanoseconds), (SO_SNDTIMEO, sendNanoseconds)] {
            var tv = timeval(
                tv_sec: Int(nanoseconds / 1_000_000_000), tv_usec: Int((nanoseconds % 1_000_000_000) / 1000))
            guard setsockopt(rawValue, SOL_SOCKET, name, &tv, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw PodBenchError.system("setsockopt", Errno(rawValue: errno), "cannot set the socket timeout")
            }
        }
    }

    /// Binds the socket (`bind(2)`).
    public func bind(to address: SocketAddress) throws {
        let rc = address.withSockAddr { Glibc.bind(rawValue, $0, $1) }
        guard rc == 0 else {
            let e = Errno(rawValue: errno)
            let hint =
                switch e {
                case .addressInUse: "\(address) is in use: pick another port or path, or remove a stale socket file"
                case .permissionDenied:
                    "no permission to bind \(address): pick a writable directory or a port above 1023"
                case .noSuchFileOrDirectory: "the directory of \(address) does not exist: create it or pick another"
                default: "cannot bind \(address)"
                }
            throw PodBenchError.system("bind", e, hint)
        }
    }

    /// Starts listening (`listen(2)`).
    public func listen(backlog: Int32 = 16) throws {
        guard Glibc.listen(rawValue, backlog) == 0 else {
            throw PodBenchError.system("listen", Errno(rawValue: errno), "cannot listen")
        }
    }

    /// Accepts one connection (`accept4(2)` with SOCK_CLOEXEC), retrying EINTR.
    public func accept() throws -> FileDescriptor {
        while true {
            let fd = Glibc.accept(rawValue, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return FileDescriptor(rawValue: fd)
            }
            let e = Errno(rawValue: errno)
            if e == .interrupted { continue }
            if e == .resourceTemporarilyUnavailable {
                throw PodBenchError.system("accept", e, "no peer connected in time")
            }
            throw PodBenchError.system("accept", e, "cannot accept a connection")
        }
    }

    /// Connects (`connect(2)`), retrying EINTR.
    public func connect(to address: SocketAddress) throws {
        while true {
            let rc = address.withSockAddr { Glibc.connect(rawValue, $0, $1) }
            if rc == 0 { return }
            let e = Errno(rawValue: errno)
            if e == .interrupted { continue }
            throw PodBenchError.system("connect", e, "cannot connect to \(address)")
        }
    }

    /// The port the socket is bound to (`getsockname(2)`); 0 for Unix sockets.
    public func boundPort() throws -> UInt16 {
        var storage = try socketName(what: "the bound port")
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        default: return 0
        }
    }

    /// The socket's own address (`getsockname(2)`).
    private func socketName(what: String) throws -> sockaddr_storage {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(rawValue, $0, &len) }
        }
        guard rc == 0 else {
            throw PodBenchError.system("getsockname", Errno(rawValue: errno), "cannot read \(what)")
        }
        return storage
    }

    /// The local address of a connected Internet socket without its port (`getsockname(2)`), as an
    /// address to bind another socket to; nil for a Unix socket.
    public func localInternetAddress() throws -> SocketAddress? {
        var storage = try socketName(what: "the local address")
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(storage.ss_family) {
        case AF_INET:
            var address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            }
            guard inet_ntop(AF_INET, &address, &text, socklen_t(text.count)) != nil else { return nil }
            return .ipv4(host: Self.text(text), port: 0)
        case AF_INET6:
            var address = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
            }
            guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return nil }
            return .ipv6(host: Self.text(text), port: 0)
        default: return nil
        }
    }

    /// The text of a NUL-terminated C buffer.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sends some of `bytes` (`send(2)` with MSG_NOSIGNAL), retrying EINTR; returns how many went.
    /// - Throws: `.timeout` when SO_SNDTIMEO expires, `.peerClosed` on EPIPE/ECONNRESET.
    @inlinable
    public func send(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.send(rawValue, bytes.baseAddress, bytes.count, podbenchNoSignal)
            if n >= 0 { return n }
            let e = Errno(rawValue: errno)
            if e == .interrupted { continue }
            throw PodBenchError.system("send", e, "sending to the peer failed")
        }
    }

    /// Receives up to `buffer.count` bytes (`recv(2)` with `flags`), retrying EINTR; 0 means the
    /// peer closed.
    /// - Throws: `.timeout` when SO_RCVTIMEO expires, `.peerClosed` on ECONNRESET.
    @inlinable
    public func receive(into buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws -> Int {
        while true {
            let n = Glibc.recv(rawValue, buffer.baseAddress, buffer.count, flags)
            if n >= 0 { return n }
            let e = Errno(rawValue: errno)
            if e == .interrupted { continue }
            throw PodBenchError.system("recv", e, "receiving from the peer failed")
        }
    }

    /// Receives one datagram into `buffer` (`recv(2)` with MSG_TRUNC), retrying EINTR; returns the
    /// datagram's whole length, which is more than `buffer.count` when it did not fit (the rest is
    /// gone: the caller refuses it).
    /// - Throws: `.timeout` when SO_RCVTIMEO expires.
    @inlinable
    public func receiveDatagram(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try receive(into: buffer, flags: podbenchTruncated)
    }

    /// Shuts down both directions (`shutdown(2)`), ignoring errors: used to wake a blocked peer.
    public func shutdownBoth() {
        _ = Glibc.shutdown(rawValue, Int32(SHUT_RDWR))
    }
}
