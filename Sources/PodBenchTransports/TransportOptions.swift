import PodBenchCore
import PodBenchRing

/// Options of a transport that change what is measured, so they are part of a case's key.
public struct TransportOptions: Codable, Hashable, Sendable {
    /// An io_uring transport's settings, checked: sends per submission, ring setup, registered buffers.
    public typealias URingSettings = (batch: Int, setup: URingSetupMode, registeredBuffers: Bool)

    /// SO_SNDBUF and SO_RCVBUF in bytes on both sides, nil for the kernel's default (socket transports).
    public var socketBufferBytes: Int?
    /// Bytes in each of the two rings (`shm`).
    public var ringBytes: Int?
    /// How a side waits on an empty or full ring (`shm`), or for its peer's record (`process-vm`):
    /// spin, futex, spin-futex[:DURATION].
    public var wait: String?
    /// How a `file` reader follows the writer, or a `sync-*` follower the published versions:
    /// inotify, poll[:DURATION].
    public var follow: String?
    /// When a `file` writer syncs: none, each, every:N.
    public var fsync: String?
    /// Size at which a `file` writer starts the next segment.
    public var segmentBytes: Int?
    /// io_uring transports: sends queued per submission (`stream`), at least 1.
    public var uringBatch: Int?
    /// io_uring transports: how the ring is set up: default, defer-taskrun, sqpoll.
    public var uringSetup: String?
    /// io_uring transports: where staged sends come from: copy (plain sends), registered
    /// (zero-copy sends from buffers registered with the ring).
    public var uringBuffers: String?
    /// A hop between the sides (`--via`): the endpoint the client connects to instead of the
    /// server's (a relay or a proxy that forwards to `listen`), e.g. tcp:127.0.0.1:9000.
    public var via: HopEndpoint?
    /// The endpoint the server listens on instead of one of its choosing: where the hop forwards
    /// (one of the server's `--via-target`s).
    public var listen: HopEndpoint?
    /// The hop's name in the key: relay (podbench's), or the proxy's (haproxy, socat, …).
    public var hop: String?

    public static let defaultRingBytes = 1 << 20

    public init(
        socketBufferBytes: Int? = nil, ringBytes: Int? = nil, wait: String? = nil, follow: String? = nil,
        fsync: String? = nil, segmentBytes: Int? = nil
    ) {
        self.socketBufferBytes = socketBufferBytes
        self.ringBytes = ringBytes
        self.wait = wait
        self.follow = follow
        self.fsync = fsync
        self.segmentBytes = segmentBytes
    }

    /// The `file` transport's settings (inotify, no fsync, 64 MiB segments when not set).
    /// How a reader follows the shared volume (`inotify` when not set).
    public func followMode() throws -> FileFollowMode {
        try FileFollowMode(parsing: follow ?? "inotify")
    }

    public func fileSettings() throws -> FileTransport.Settings {
        let segment = segmentBytes ?? FileLogLayout.defaultSegmentBytes
        guard segment >= 1024, segment <= 1 << 40 else {
            throw PodBenchError(.invalidConfiguration, "a file segment of \(segment) bytes is outside 1KiB to 1TiB")
        }
        let followMode = try FileFollowMode(parsing: follow ?? "inotify")
        guard followMode != .signal else {
            throw PodBenchError(
                .invalidConfiguration,
                "--file-follow signal is for the content-sync transports (sync-symlink, sync-rename); a file log's reader follows appends by inotify or poll"
            )
        }
        return FileTransport.Settings(
            follow: followMode, sync: try FileSyncMode(parsing: fsync ?? "none"), segmentBytes: segment)
    }

    /// The wait strategy (`spin-futex` when not set).
    public func waitStrategy() throws -> RingWaitStrategy {
        try RingWaitStrategy(parsing: wait ?? "spin-futex")
    }
}

/// How an io_uring transport sets up its ring (`--uring-setup`).
public enum URingSetupMode: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// No setup flags: completions run as task work when the kernel gets to them.
    case standard = "default"
    /// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (Linux 6.1): completion work runs
    /// only when the one submitting thread waits, with no interrupts of its work.
    case deferTaskrun = "defer-taskrun"
    /// IORING_SETUP_SQPOLL: a kernel thread polls the submission queue, so submitting needs no
    /// system call (the thread costs a CPU while busy).
    case sqpoll

    public var description: String { rawValue }

    /// Parses a mode name.
    public init(parsing text: String) throws {
        guard let mode = URingSetupMode(rawValue: text) else {
            throw PodBenchError(
                .invalidConfiguration,
                "unknown io_uring setup '\(text)': use \(Self.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self = mode
    }
}

extension TransportOptions {
    public static let defaultURingBatch = 16

    /// The io_uring settings (batch 16, default setup, copied buffers when not set).
    public func uringSettings() throws -> URingSettings {
        let batch = uringBatch ?? Self.defaultURingBatch
        guard (1...256).contains(batch) else {
            throw PodBenchError(.invalidConfiguration, "an io_uring batch of \(batch) is outside 1 to 256")
        }
        let buffers = uringBuffers ?? "copy"
        guard buffers == "copy" || buffers == "registered" else {
            throw PodBenchError(.invalidConfiguration, "unknown io_uring buffers '\(buffers)': use copy or registered")
        }
        return (batch, try URingSetupMode(parsing: uringSetup ?? "default"), buffers == "registered")
    }
}
