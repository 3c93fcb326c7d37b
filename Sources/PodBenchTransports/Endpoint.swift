import Foundation
import PodBenchCore

/// Where one case's data connection is: what a transport's listener makes and advertises (the
/// control protocol's `caseReady`) and what the client connects to. Typed on the wire (control
/// protocol 3; the datagram endpoint since 4): a client of one kind given another kind's endpoint is told so, never guesses.
public enum Endpoint: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A listening socket (tcp, tcp6, uds, uds-abstract and the io_uring socket transports).
    case socket(address: SocketAddress)
    /// A bound datagram socket (udp, udp6, uds-dgram) and the case's nonce, which the client's
    /// hello must carry (docs/datagrams.md).
    case datagram(address: SocketAddress, nonce: UInt64)
    /// A ring file both sides map (`shm`).
    case ring(path: String)
    /// A connection directory of two record logs (`file`, `uring-file`).
    case file(path: String)
    /// A pair of FIFOs, `BASE.c2s` and `BASE.s2c` (`fifo`).
    case fifo(base: String)
    /// Descriptors held by the server's process, which the client takes with pidfd_getfd
    /// (`pidfd-pipe`: its writing end, then its reading end). `pid` is the server's own word for
    /// its process; the client uses the kernel's (the control socket's peer) instead.
    case process(pid: Int32, descriptors: [Int32])
    /// A thread of the server's process that takes queued signals (`signal`). `pid` is the
    /// server's word, replaced by the kernel's as for `process`.
    case signal(pid: Int32, thread: Int32)

    /// As results files and messages write it (`unix:PATH`, `tcp:HOST:PORT`, `udp:HOST:PORT`,
    /// `unixgram:PATH`, `shm:PATH`,
    /// `file:PATH`, `fifo:BASE`).
    public var description: String {
        switch self {
        case .socket(let address): address.description
        case .datagram(let address, _): address.datagramDescription
        case .ring(let path): "shm:" + path
        case .file(let path): "file:" + path
        case .fifo(let base): "fifo:" + base
        case .process(let pid, let descriptors):
            "process:\(pid)/fd:" + descriptors.prefix(8).map(String.init).joined(separator: ",")
        case .signal(let pid, let thread): "signal:\(pid)/thread:\(thread)"
        }
    }

    /// A file that lives where the connection does, to name its filesystem in the results; nil for
    /// the network and the abstract namespace.
    public var filesystemPath: String? {
        switch self {
        case .socket(.unixPath(let path)), .datagram(.unixPath(let path), _), .ring(let path), .file(let path): path
        case .socket, .datagram, .process, .signal: nil
        case .fifo(let base): base + ".s2c"
        }
    }

    /// This endpoint with its process named by `pid` (the kernel's word for the server's process),
    /// for the kinds that name a process; nil for the others.
    public func naming(process pid: Int32) -> Endpoint? {
        switch self {
        case .process(_, let descriptors): .process(pid: pid, descriptors: descriptors)
        case .signal(_, let thread): .signal(pid: pid, thread: thread)
        default: nil
        }
    }

    /// The error for an endpoint the server gave that is not of the case's kind.
    public func refused(for kind: TransportKind) -> PodBenchError {
        PodBenchError(
            .protocolViolation,
            "the server gave '\(TextEscaping.terminal(String(description.prefix(120))))' for a \(kind.rawValue) case")
    }
}

/// One side of a hop (`--via`, `serve --via-target`, `relay --listen/--forward`): a socket, or a
/// directory of connections. In a directory the side that listens makes each connection and the
/// other opens the fresh one (`file:DIR`: a log-shipping sidecar follows what the app appends;
/// `shm:DIR`: rings; `fifo:DIR`: FIFO pairs).
public enum HopEndpoint: Hashable, Sendable, Codable, CustomStringConvertible {
    case socket(address: SocketAddress)
    case file(directory: String)
    case sharedMemory(directory: String)
    case fifo(directory: String)

    /// Parses the command line's form: `tcp:HOST:PORT`, `tcp6:[HOST]:PORT`, `unix:PATH`,
    /// `unix:@NAME`, `file:DIR`, `shm:DIR`, `fifo:DIR` (absolute directories).
    public init(parsing text: String) throws {
        if text.hasPrefix("fifo:") {
            self = .fifo(directory: String(text.dropFirst(5)))
        } else if text.hasPrefix("file:") {
            self = .file(directory: String(text.dropFirst(5)))
        } else if text.hasPrefix("shm:") {
            self = .sharedMemory(directory: String(text.dropFirst(4)))
        } else {
            self = .socket(address: try SocketAddress(parsing: text))
        }
        try checkDirectory(text)
    }

    public init(from decoder: any Decoder) throws {
        // Every key counted, the unknown ones too: `{"file":"/x","door":1}` is not a file endpoint.
        let all = try decoder.container(keyedBy: AnyKey.self).allKeys
        let container = try decoder.container(keyedBy: Keys.self)
        guard all.count == 1, container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a hop endpoint has exactly one of socket, file, shm, fifo"))
        }
        if key == .socket {
            let address = try container.decode(SocketAddress.self, forKey: .socket)
            self = .socket(address: address)
            return
        }
        let directory = try container.decode(String.self, forKey: key)
        switch key {
        case .file: self = .file(directory: directory)
        case .shm: self = .sharedMemory(directory: directory)
        default: self = .fifo(directory: directory)
        }
        do {
            try checkDirectory(directory)
        } catch let error as PodBenchError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        switch self {
        case .socket(let address): try container.encode(address, forKey: .socket)
        case .file(let directory): try container.encode(directory, forKey: .file)
        case .sharedMemory(let directory): try container.encode(directory, forKey: .shm)
        case .fifo(let directory): try container.encode(directory, forKey: .fifo)
        }
    }

    private enum Keys: String, CodingKey {
        case socket, file, shm, fifo
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    private func checkDirectory(_ text: String) throws {
        if let directory, directory.isEmpty || !directory.hasPrefix("/") {
            throw PodBenchError(
                .invalidConfiguration,
                "'\(TextEscaping.terminal(String(text.prefix(120))))': give the directory as an absolute path, e.g. file:/shared/relay"
            )
        }
    }

    /// Where this side lives on a filesystem (a Unix socket's file, a directory of connections),
    /// to name it in the results; nil for the network and the abstract namespace.
    public var filesystemPath: String? {
        switch self {
        case .socket(.unixPath(let path)): path
        case .socket: nil
        case .file(let directory), .sharedMemory(let directory), .fifo(let directory): directory
        }
    }

    /// The address of a socket endpoint.
    public var socketAddress: SocketAddress? {
        if case .socket(let address) = self { return address }
        return nil
    }

    /// The directory of a file, shm or fifo endpoint.
    public var directory: String? {
        switch self {
        case .socket: nil
        case .file(let directory), .sharedMemory(let directory), .fifo(let directory): directory
        }
    }

    /// The transport a side speaks to this endpoint.
    public var transport: TransportKind {
        switch self {
        case .socket(let address): address.transport
        case .file: .file
        case .sharedMemory: .shm
        case .fifo: .fifo
        }
    }

    public var description: String {
        switch self {
        case .socket(let address): address.description
        case .file(let directory): "file:" + directory
        case .sharedMemory(let directory): "shm:" + directory
        case .fifo(let directory): "fifo:" + directory
        }
    }
}

extension SocketAddress {
    /// As a datagram endpoint is written: `udp:HOST:PORT`, `udp:[HOST]:PORT`, `unixgram:PATH`,
    /// `unixgram:@NAME`.
    public var datagramDescription: String {
        switch self {
        case .ipv4(let host, let port): "udp:\(host):\(port)"
        case .ipv6(let host, let port): "udp:[\(host)]:\(port)"
        case .unixPath(let path): "unixgram:\(path)"
        case .unixAbstract(let name): "unixgram:@\(name)"
        }
    }

    /// The plain socket transport that speaks to this address.
    public var transport: TransportKind {
        switch self {
        case .ipv4: .tcp
        case .ipv6: .tcp6
        case .unixPath: .uds
        case .unixAbstract: .udsAbstract
        }
    }
}

/// Where a server's listener for one case goes, as the server decides it: a client names a case,
/// never a place (docs/control-protocol.md).
public struct ListenPlace: Sendable {
    /// Unique to this server and case: the stem of socket files, ring files, connection directories.
    public var name: String
    /// The shared volume (`--shared-dir`).
    public var sharedDirectory: String
    /// The memory-backed shared directory (`--shm-dir`, shm's rings).
    public var sharedMemoryDirectory: String
    /// The address the client reached the control endpoint by: a TCP data socket listens there
    /// when it is of the transport's family.
    public var controlAddress: SocketAddress?
    /// Where a hop forwards (`--via-target`), already checked to be one the server was started for.
    public var hopTarget: HopEndpoint?
    /// How long to wait for the client.
    public var timeoutNanoseconds: UInt64
    /// The client's process as the kernel names it in this process's PID namespace (the control
    /// socket's peer credentials); nil where it names none (a TCP control connection, or a client
    /// in a namespace this one cannot see).
    public var peerProcess: Int32?

    public init(
        name: String, sharedDirectory: String, sharedMemoryDirectory: String, controlAddress: SocketAddress? = nil,
        hopTarget: HopEndpoint? = nil, timeoutNanoseconds: UInt64, peerProcess: Int32? = nil
    ) {
        self.peerProcess = peerProcess
        self.name = name
        self.sharedDirectory = sharedDirectory
        self.sharedMemoryDirectory = sharedMemoryDirectory
        self.controlAddress = controlAddress
        self.hopTarget = hopTarget
        self.timeoutNanoseconds = timeoutNanoseconds
    }

    /// The directory a directory transport (`kind`: shm, file, fifo) makes its connection in: the
    /// hop target's when a hop forwards from there (made if missing, cleared of connections left by
    /// a killed server, so the hop never opens one of them), else `otherwise`.
    /// - Throws: `.invalidConfiguration` when the hop target is a directory of another kind.
    public func directory(for kind: TransportKind, otherwise: String) throws -> String {
        guard let hopTarget else { return otherwise }
        guard hopTarget.transport == kind, let directory = hopTarget.directory else {
            throw PodBenchError(
                .invalidConfiguration,
                "--via-target \(hopTarget) is not a \(kind.rawValue) endpoint (\(kind.rawValue):DIR)")
        }
        try HopEndpoint.makeDirectory(directory, option: "--via-target \(hopTarget)")
        SharedMemoryTransport.removeStaleRingFiles(in: directory)
        FileTransport.removeStaleConnections(in: directory)
        return directory
    }

    /// Refuses a hop for a transport no relay forwards (the datagram ones: a relay pumps streams).
    public func refuseHop(for kind: TransportKind, because reason: String = "the relays forward streams") throws {
        if let hopTarget {
            throw PodBenchError(.unavailable, "\(kind.rawValue) cannot go through a hop (\(hopTarget)): \(reason)")
        }
    }

    /// Where a socket transport of `kind` listens: the hop target's address when a hop forwards
    /// to a socket; for TCP the address the client reached the control endpoint by when it is of
    /// the transport's family, else the loopback address; nil for the Unix kinds (their own choice).
    public func socketAddress(for kind: TransportKind) -> SocketAddress? {
        if let address = hopTarget?.socketAddress { return address }
        switch kind.socketKind {
        case .tcp:
            if case .ipv4(let host, _) = controlAddress { return .ipv4(host: host, port: 0) }
            return .ipv4(host: "127.0.0.1", port: 0)
        case .tcp6:
            if case .ipv6(let host, _) = controlAddress { return .ipv6(host: host, port: 0) }
            return .ipv6(host: "::1", port: 0)
        default: return nil
        }
    }
}

extension HopEndpoint {
    /// Makes `directory` (and its parents) unless it is one already.
    /// - Throws: `.invalidConfiguration` naming `option` when it is not and cannot be made one.
    public static func makeDirectory(_ directory: String, option: String) throws {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw PodBenchError(.invalidConfiguration, "\(option): not a directory, and cannot be made one")
        }
    }
}

/// A transport's listener for one case: made before the client is told where to connect, it
/// accepts that one client. The server holds it until the case ends.
public protocol DataListener<Channel>: AnyObject {
    associatedtype Channel: DataChannel
    /// Where the client connects.
    var endpoint: Endpoint { get }
    /// Waits at most `timeoutNanoseconds` for the client's connection.
    func accept(timeoutNanoseconds: UInt64) throws -> Channel
    /// Closes it and removes what it made that no connection holds; safe to call twice, and after
    /// `accept` (the connection then lives on).
    func close()
}
