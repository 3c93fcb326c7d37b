import PodBenchCore
import PodBenchTransports

/// The io_uring transports' options: the setup always, the sends' batching and buffers for sockets.
extension TransportOptions {
    func uringKeyOptions(sends: Bool) throws -> [String: String] {
        let settings = try uringSettings()
        var out = ["setup": settings.setup.rawValue]
        if sends {
            out["batch"] = String(settings.batch)
            out["buffers"] = settings.registeredBuffers ? "registered" : "copy"
        }
        return out
    }
}

private let needsIOURing = "io_uring allowed (seccomp, kernel.io_uring_disabled)"

/// A socket transport whose sends and receives go through an io_uring: its socket buffers, ring
/// setup, batching and buffers are its options, and each listed setup is a case of its own.
public protocol URingSocketTransport: Transport {}

extension URingSocketTransport {
    public static var optionGroups: TransportOptions.Groups { [.socket, .uringSetup, .uringSends] }

    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.setupVariants(lists)
    }

    public static func validate(_ options: TransportOptions) throws {
        try options.validateSocketBuffers()
        _ = try options.uringSettings()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        try options.uringKeyOptions(sends: true).merging(options.socketKeyOptions()) { $1 }
    }

    /// The socket's listener, with the ring the accepted connection will use made first: a
    /// refusal (io_uring disabled, seccomp) is the case's answer, before the client is told
    /// where to connect.
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> URingSocketListener {
        let settings = try options.uringSettings()
        if settings.registeredBuffers && kind.socketKind == .uds {
            throw PodBenchError(
                .unavailable,
                "registered buffers go out as zero-copy sends, which Unix sockets do not take: use --uring-buffers copy for \(kind.rawValue)"
            )
        }
        let uring = try URing(entries: settings.batch + 8, setup: settings.setup)
        do {
            let socket = try SocketTransport.listen(
                kind: kind, options: options, sharedDirectory: place.sharedDirectory, name: place.name,
                fixed: place.socketAddress(for: kind))
            return URingSocketListener(socket: socket, uring: uring, settings: settings)
        } catch {
            uring.close()
            throw error
        }
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> URingSocketChannel
    {
        let settings = try options.uringSettings()
        let uring = try URing(entries: settings.batch + 8, setup: settings.setup)
        let socket: SocketChannel
        do {
            socket = try SocketTransport.connect(
                to: endpoint, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds)
        } catch {
            uring.close()
            throw error
        }
        return try URingSocketChannel.taking(
            socket, uring: uring, settings: settings, timeoutNanoseconds: timeoutNanoseconds)
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        URingProbe.probe(kind: kind, needs: needs, sharedDirectory: places.sharedDirectory)
    }
}

/// The listener of an io_uring socket transport: a listening socket and the ring its connection
/// will use, until `accept` hands both to the channel.
public final class URingSocketListener: DataListener, @unchecked Sendable {
    let socket: SocketTransport.Listener
    var uring: URing?
    let settings: TransportOptions.URingSettings

    init(
        socket: SocketTransport.Listener, uring: URing,
        settings: TransportOptions.URingSettings
    ) {
        self.socket = socket
        self.uring = uring
        self.settings = settings
    }

    public var endpoint: Endpoint { socket.endpoint }

    public func accept(timeoutNanoseconds: UInt64) throws -> URingSocketChannel {
        guard let uring else { throw PodBenchError(.protocolViolation, "the connection was already handed out") }
        let connection = try socket.accept(timeoutNanoseconds: timeoutNanoseconds)
        self.uring = nil
        return try URingSocketChannel.taking(
            connection, uring: uring, settings: settings, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Closes the listening socket (removing its file), and the ring if no connection took it.
    public func close() {
        socket.close()
        uring?.close()
        uring = nil
    }
}

/// `tcp` with every send and receive submitted through an io_uring.
public enum URingTCPTransport: URingSocketTransport {
    public static let kind = TransportKind.uringTCP
    public static let needs = "the network namespace, and " + needsIOURing
}

/// `uds` with every send and receive submitted through an io_uring.
public enum URingUnixStreamTransport: URingSocketTransport {
    public static let kind = TransportKind.uringUDS
    public static let needs = "a shared volume (directory), and " + needsIOURing
}

/// `file` with its writes, fsyncs and reads submitted through an io_uring. Its writes are one
/// record each: batching and registered buffers belong to the socket channels.
public enum URingFileTransport: Transport {
    public static let kind = TransportKind.uringFile
    public static let needs = "a shared volume (directory), and " + needsIOURing
    public static let optionGroups: TransportOptions.Groups = [.fileLog, .follow, .uringSetup]

    /// Each fsync mode in each setup.
    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.fsyncVariants(lists).flatMap { $0.setupVariants(lists) }
    }

    public static func validate(_ options: TransportOptions) throws {
        _ = try options.fileSettings()
        _ = try options.uringSettings()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        try options.fileLogKeyOptions().merging(try options.uringKeyOptions(sends: false)) { $1 }
    }

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> FileTransport.Listener {
        try FileTransport.listen(
            directory: try place.directory(for: kind, otherwise: place.sharedDirectory), name: place.name,
            settings: try options.fileSettings(), timeoutNanoseconds: place.timeoutNanoseconds,
            io: try fileIO(options, timeoutNanoseconds: place.timeoutNanoseconds))
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> FileChannel
    {
        // Checked before a ring is made for it.
        guard case .file = endpoint else { throw endpoint.refused(for: kind) }
        return try FileTransport.connect(
            to: endpoint, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds,
            io: try fileIO(options, timeoutNanoseconds: timeoutNanoseconds))
    }

    /// The ring a side's files go through (8 entries: a write, its fsync, a read in flight).
    static func fileIO(_ options: TransportOptions, timeoutNanoseconds: UInt64) throws -> URingFileIO {
        URingFileIO(
            uring: try URing(entries: 8, setup: try options.uringSettings().setup),
            timeoutNanoseconds: timeoutNanoseconds)
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        URingProbe.probeFile(sharedDirectory: places.sharedDirectory)
    }
}

extension URingSocketChannel {
    /// A channel over a connected socket and a ring, which it then owns; when it cannot be made
    /// (buffers that cannot be registered), both are closed here.
    static func taking(
        _ socket: SocketChannel, uring: URing, settings: TransportOptions.URingSettings,
        timeoutNanoseconds: UInt64
    ) throws -> URingSocketChannel {
        do {
            return try URingSocketChannel(
                descriptor: socket.descriptor, uring: uring, batch: settings.batch,
                timeoutNanoseconds: timeoutNanoseconds, registeredBuffers: settings.registeredBuffers)
        } catch {
            socket.close()
            uring.close()
            throw error
        }
    }
}
