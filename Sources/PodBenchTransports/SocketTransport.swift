import Glibc
import PodBenchCore
import SystemPackage

/// Sets up the data connection of the socket transports (`tcp`, `tcp6`, `uds`, `uds-abstract`):
/// the server listens and advertises an endpoint, the client connects to it.
public enum SocketTransport {
    /// A listening socket and the endpoint a client connects to.
    public final class Listener: DataListener, @unchecked Sendable {
        public let descriptor: FileDescriptor
        /// The address it is bound to (the port filled in).
        public let address: SocketAddress
        let kind: TransportKind
        let options: TransportOptions
        private var closed = false

        public var endpoint: Endpoint { .socket(address: address) }

        init(descriptor: FileDescriptor, address: SocketAddress, kind: TransportKind, options: TransportOptions) {
            self.descriptor = descriptor
            self.address = address
            self.kind = kind
            self.options = options
        }

        /// Accepts the client's data connection, waiting at most `timeoutNanoseconds`.
        public func accept(timeoutNanoseconds: UInt64) throws -> SocketChannel {
            try descriptor.setIOTimeout(nanoseconds: timeoutNanoseconds)
            let fd: FileDescriptor
            do {
                fd = try descriptor.accept()
            } catch let error as PodBenchError where error.code == .timeout {
                throw PodBenchError(
                    .timeout, "the client did not open the data connection to \(address) in time",
                    cause: error.cause)
            }
            do {
                try SocketTransport.configure(fd, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
            } catch {
                try? fd.close()
                throw error
            }
            return SocketChannel(descriptor: fd)
        }

        /// Closes the listening socket and removes its socket file, if any.
        public func close() {
            guard !closed else { return }
            closed = true
            try? descriptor.close()
            if case .unixPath(let path) = address { _ = unlink(path) }
        }

        deinit { close() }
    }

    /// Listens for one case's data connection.
    /// - Parameters:
    ///   - kind: the transport.
    ///   - sharedDirectory: where `uds` creates its socket file (the shared volume).
    ///   - name: a name unique to this server and case, for socket files and abstract names.
    public static func listen(
        kind: TransportKind, options: TransportOptions, sharedDirectory: String, name: String,
        fixed: SocketAddress? = nil
    ) throws -> Listener {
        if case .unixPath(let path) = fixed {
            // The previous case's socket on a fixed path (a hop's target); never anything else.
            SystemFiles.removeSocketFile(path)
        }
        let address: SocketAddress =
            fixed
            ?? {
                switch kind.socketKind {
                case .tcp: .ipv4(host: "127.0.0.1", port: 0)
                case .tcp6: .ipv6(host: "::1", port: 0)
                case .uds: .unixPath(sharedDirectory + "/" + name + ".sock")
                case .udsAbstract: .unixAbstract(name)
                case .shm, .fifo, .file, .uringTCP, .uringUDS, .uringFile, .udp, .udp6, .udsDgram, .pidfdPipe, .scmPipe,
                    .signal,
                    .processVM, .syncSymlink, .syncRename:
                    preconditionFailure("\(kind) is not a socket transport")
                }
            }()
        if case .unixPath(let path) = address, path.utf8.count > 107 {
            throw PodBenchError(
                .invalidConfiguration,
                "the socket path \(path) is longer than 107 bytes: pass a shorter --shared-dir")
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.streamSocket(family: address.family)
        } catch let error as PodBenchError where error.cause?.errno == .addressFamilyNotSupported {
            throw PodBenchError(
                .unavailable, "\(kind): this host has no \(address.family == AF_INET6 ? "IPv6" : "such") sockets",
                cause: error.cause)
        }
        do {
            if address.family != AF_UNIX {
                try fd.setSocketOption(level: SOL_SOCKET, name: SO_REUSEADDR, value: 1, what: "SO_REUSEADDR")
            }
            // Set before listen so that accepted sockets inherit them and TCP's window scale fits.
            try options.applySocketBuffers(to: fd)
            do {
                try fd.bind(to: address)
            } catch let error as PodBenchError
                where error.cause?.errno == .addressNotAvailable || error.cause?.errno == .addressFamilyNotSupported
            {
                throw PodBenchError(
                    .unavailable, "\(kind) needs \(address) and this host does not offer it (no IPv6 loopback?)",
                    cause: error.cause)
            }
            try fd.listen()
            let bound = address.family == AF_UNIX ? address : address.withPort(try fd.boundPort())
            return Listener(descriptor: fd, address: bound, kind: kind, options: options)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Connects to a server's data endpoint, an address of `kind`'s family.
    /// - Throws: `.protocolViolation` for an endpoint that is not a socket of `kind`'s family.
    public static func connect(
        to endpoint: Endpoint, kind: TransportKind, options: TransportOptions, timeoutNanoseconds: UInt64
    ) throws -> SocketChannel {
        guard case .socket(let address) = endpoint, address.transport == kind.socketKind else {
            throw endpoint.refused(for: kind)
        }
        return try connect(to: address, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Connects to a socket at `endpoint`.
    public static func connect(
        to endpoint: SocketAddress, kind: TransportKind, options: TransportOptions, timeoutNanoseconds: UInt64
    ) throws -> SocketChannel {
        let fd = try FileDescriptor.streamSocket(family: endpoint.family)
        do {
            try options.applySocketBuffers(to: fd)
            try fd.connect(to: endpoint)
            try configure(fd, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
            return SocketChannel(descriptor: fd)
        } catch {
            try? fd.close()
            throw error
        }
    }

    static func configure(
        _ fd: FileDescriptor, kind: TransportKind, options: TransportOptions, timeoutNanoseconds: UInt64
    ) throws {
        if kind.socketKind == .tcp || kind.socketKind == .tcp6 {
            try fd.setSocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY, value: 1, what: "TCP_NODELAY")
        }
        try fd.setIOTimeout(nanoseconds: timeoutNanoseconds)
    }

    /// Whether the socket transport `kind` works here: opens a listener and connects to it once.
    static func probe(kind: TransportKind, needs: String, sharedDirectory: String) -> (available: Bool, reason: String)
    {
        do {
            let listener = try listen(
                kind: kind, options: TransportOptions(), sharedDirectory: sharedDirectory,
                name: "podbench-probe-\(getpid())")
            defer { listener.close() }
            let client = try connect(
                to: listener.address, kind: kind, options: TransportOptions(), timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            server.close()
            return (true, "connected over \(listener.endpoint) (needs \(needs))")
        } catch let error as PodBenchError {
            return (false, error.description)
        } catch {
            return (false, "\(error)")
        }
    }
}

/// A plain socket transport: its socket buffers are its options, and probe connects once.
public protocol PlainSocketTransport: Transport {}

extension PlainSocketTransport {
    public static var optionGroups: TransportOptions.Groups { .socket }

    public static func validate(_ options: TransportOptions) throws { try options.validateSocketBuffers() }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        options.socketKeyOptions()
    }

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> SocketTransport.Listener {
        try SocketTransport.listen(
            kind: kind, options: options, sharedDirectory: place.sharedDirectory, name: place.name,
            fixed: place.socketAddress(for: kind))
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> SocketChannel
    {
        try SocketTransport.connect(to: endpoint, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        SocketTransport.probe(kind: kind, needs: needs, sharedDirectory: places.sharedDirectory)
    }
}

/// TCP over 127.0.0.1 with TCP_NODELAY: what a pod's shared network namespace gives.
public enum TCPTransport: PlainSocketTransport {
    public static let kind = TransportKind.tcp
    public static let needs = "the network namespace"
}

/// TCP over ::1 with TCP_NODELAY.
public enum TCP6Transport: PlainSocketTransport {
    public static let kind = TransportKind.tcp6
    public static let needs = "the network namespace"
}

/// A Unix stream socket at a path in the shared directory (a volume both containers mount).
public enum UnixStreamTransport: PlainSocketTransport {
    public static let kind = TransportKind.uds
    public static let needs = "a shared volume (directory)"
}

/// A Unix stream socket in the abstract namespace (shared with the network namespace).
public enum AbstractUnixStreamTransport: PlainSocketTransport {
    public static let kind = TransportKind.udsAbstract
    public static let needs = "the network namespace"
}
