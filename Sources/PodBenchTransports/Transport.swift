import Glibc
import PodBenchCore
import PodBenchRing
import SystemPackage

/// One transport, in one place: what it is, what a pod must share for it, which options are its
/// own, how they become cases and a case's key, how the server listens and the client connects,
/// and how `probe` tries it. Each transport is one type conforming to this protocol, listed once in
/// `TransportCatalog` (Harness, the lowest module that sees the io_uring ones). The client, the
/// server and `probe` reach it through the catalog's visitor, so the measured loops are
/// specialised for its concrete `Channel` (static dispatch, docs/design-notes.md).
public protocol Transport {
    /// The connected channel the workloads run over (and a relay pumps, a thread per direction).
    associatedtype Channel: DataChannel & Sendable
    /// What the server holds for one case until the client has connected.
    associatedtype Listener: DataListener<Channel>
    /// The command-line name this type answers to.
    static var kind: TransportKind { get }
    /// What a pod must share for it, as `probe` says it.
    static var needs: String { get }
    /// Whether it needs the two sides in one PID namespace (a pod then shares its process
    /// namespace: `run --isolation podman` asks podman for it).
    static var needsProcessNamespace: Bool { get }
    /// Whether these options need the two sides in one PID namespace (the transport's own
    /// `needsProcessNamespace` unless an option changes it, e.g. content sync followed by signal).
    static func needsProcessNamespace(_ options: TransportOptions) -> Bool
    /// The groups of `TransportOptions` it reads; the others are cleared from its cases.
    static var optionGroups: TransportOptions.Groups { get }
    /// The cases one transport, workload and size make: each shm wait strategy, file fsync mode or
    /// io_uring setup the command line lists is a case of its own. `options` holds only its groups.
    static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions]
    /// Checks its options as a server must: nothing from a client is trusted blindly.
    static func validate(_ options: TransportOptions) throws
    /// The largest payload one message may carry with these options, for a transport that has
    /// such a limit (a datagram); nil for none. The server answers a larger case `unavailable`.
    static func maximumPayload(_ options: TransportOptions) -> Int?
    /// Its options as a case's key records them (the defaults spelt out).
    /// - Throws: `.invalidConfiguration` when an option does not parse.
    static func keyOptions(_ options: TransportOptions) throws -> [String: String]
    /// The server's side: makes one case's listener at the place the server chose (`options` are
    /// validated).
    /// - Throws: `.unavailable` when this host or pod cannot offer it, with the reason.
    static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener
    /// The client's side: connects to the endpoint the server advertised.
    /// - Throws: `.protocolViolation` for an endpoint of another kind.
    static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> Channel
    /// The connections waiting for a client in a directory of connections (one side of a hop,
    /// `KIND:DIR`), newest first; none for the kinds that have no such form (sockets).
    static func waitingEndpoints(in directory: String) -> [Endpoint]
    /// Tries it for real here: a listener, a connection, a message where it can.
    static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String)
}

extension Transport {
    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        [options]
    }
    public static func validate(_ options: TransportOptions) throws {}
    public static func maximumPayload(_ options: TransportOptions) -> Int? { nil }
    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] { [:] }
    public static func waitingEndpoints(in directory: String) -> [Endpoint] { [] }
    public static var needsProcessNamespace: Bool { false }
    public static func needsProcessNamespace(_ options: TransportOptions) -> Bool { needsProcessNamespace }

    /// `options` with every group this transport does not read cleared.
    public static func own(_ options: TransportOptions) -> TransportOptions {
        options.keeping(optionGroups)
    }
}

extension Transport {
    /// Where `probe` listens: the probe's own name in the shared directories.
    static func probePlace(_ places: ProbePlaces) -> ListenPlace {
        ListenPlace(
            name: "podbench-probe-\(getpid())", sharedDirectory: places.sharedDirectory,
            sharedMemoryDirectory: places.sharedMemoryDirectory, timeoutNanoseconds: 2_000_000_000)
    }
}

/// The lists on the command line that make several cases of one transport.
public struct VariantLists: Sendable {
    public var shmWaits: [String]
    public var fileFsyncs: [String]
    public var uringSetups: [String]

    public init(
        shmWaits: [String] = ["spin-futex"], fileFsyncs: [String] = ["none"], uringSetups: [String] = ["default"]
    ) {
        self.shmWaits = shmWaits
        self.fileFsyncs = fileFsyncs
        self.uringSetups = uringSetups
    }
}

/// Where `probe` tries the transports.
public struct ProbePlaces: Sendable {
    /// The shared directory (a volume both sides mount).
    public var sharedDirectory: String
    /// The memory-backed shared directory (shm's rings).
    public var sharedMemoryDirectory: String

    public init(sharedDirectory: String, sharedMemoryDirectory: String) {
        self.sharedDirectory = sharedDirectory
        self.sharedMemoryDirectory = sharedMemoryDirectory
    }
}

extension TransportOptions {
    /// Groups of options, each read by some transports only.
    public struct Groups: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// SO_SNDBUF/SO_RCVBUF (`socketBufferBytes`).
        public static let socket = Groups(rawValue: 1 << 0)
        /// The rings' size (`ringBytes`).
        public static let ring = Groups(rawValue: 1 << 1)
        /// The record log's writing (`fsync`, `segmentBytes`).
        public static let fileLog = Groups(rawValue: 1 << 2)
        /// How an io_uring is set up (`uringSetup`).
        public static let uringSetup = Groups(rawValue: 1 << 3)
        /// io_uring sends: batching and registered buffers (`uringBatch`, `uringBuffers`).
        public static let uringSends = Groups(rawValue: 1 << 4)
        /// How a side waits for its peer: spinning, sleeping, or both (`wait`; shm, process-vm).
        public static let wait = Groups(rawValue: 1 << 5)
        /// How a reader learns of what was written in the shared volume (`follow`; file, sync).
        public static let follow = Groups(rawValue: 1 << 6)
    }

    /// These options with every group not in `groups` cleared (the hop's settings stay).
    public func keeping(_ groups: Groups) -> TransportOptions {
        var out = self
        if !groups.contains(.socket) { out.socketBufferBytes = nil }
        if !groups.contains(.ring) { out.ringBytes = nil }
        if !groups.contains(.wait) { out.wait = nil }
        if !groups.contains(.follow) { out.follow = nil }
        if !groups.contains(.fileLog) {
            out.fsync = nil
            out.segmentBytes = nil
        }
        if !groups.contains(.uringSetup) { out.uringSetup = nil }
        if !groups.contains(.uringSends) {
            out.uringBatch = nil
            out.uringBuffers = nil
        }
        return out
    }

    /// The socket buffers as a key records them (every socket transport).
    public func socketKeyOptions() -> [String: String] {
        socketBufferBytes.map { ["socket-buffer": String($0)] } ?? [:]
    }

    /// Sets SO_RCVBUF and SO_SNDBUF on `fd` when the socket buffers are given (every socket
    /// transport, stream or datagram).
    public func applySocketBuffers(to fd: FileDescriptor) throws {
        guard let bytes = socketBufferBytes else { return }
        try fd.setSocketOption(level: SOL_SOCKET, name: SO_RCVBUF, value: Int32(bytes), what: "SO_RCVBUF")
        try fd.setSocketOption(level: SOL_SOCKET, name: SO_SNDBUF, value: Int32(bytes), what: "SO_SNDBUF")
    }

    /// Checks the socket buffers (every socket transport): 1 KiB to 1 GiB.
    public func validateSocketBuffers() throws {
        if let bytes = socketBufferBytes, bytes < 1024 || bytes > 1 << 30 {
            throw PodBenchError(.invalidConfiguration, "socket buffer \(bytes) is outside 1KiB to 1GiB")
        }
    }

    /// The record log's options as a key records them (`file`, `uring-file`).
    /// One case per wait strategy `--shm-wait` lists (shm, process-vm).
    public func waitVariants(_ lists: VariantLists) -> [TransportOptions] {
        lists.shmWaits.map {
            var variant = self
            variant.wait = $0
            return variant
        }
    }

    public func fileLogKeyOptions() throws -> [String: String] {
        let settings = try fileSettings()
        return [
            "follow": settings.follow.description, "fsync": settings.sync.description,
            "segment": ByteSize.format(settings.segmentBytes),
        ]
    }

    /// Each fsync mode of `lists` a case of its own (`file`, `uring-file`).
    public func fsyncVariants(_ lists: VariantLists) -> [TransportOptions] {
        lists.fileFsyncs.map {
            var variant = self
            variant.fsync = $0
            return variant
        }
    }

    /// Each io_uring setup of `lists` a case of its own.
    public func setupVariants(_ lists: VariantLists) -> [TransportOptions] {
        lists.uringSetups.map {
            var variant = self
            variant.uringSetup = $0
            return variant
        }
    }
}
