import PodBenchCore
import PodBenchRing

/// Options of a transport that change what is measured, so they are part of a case's key.
public struct TransportOptions: Codable, Hashable, Sendable {
    /// SO_SNDBUF and SO_RCVBUF in bytes on both sides, nil for the kernel's default (socket transports).
    public var socketBufferBytes: Int?
    /// Bytes in each of the two rings (`shm`).
    public var ringBytes: Int?
    /// How a side waits on an empty or full ring (`shm`): spin, futex, spin-futex[:DURATION].
    public var wait: String?
    /// How a `file` reader follows the writer: inotify, poll[:DURATION].
    public var follow: String?
    /// When a `file` writer syncs: none, each, every:N.
    public var fsync: String?
    /// Size at which a `file` writer starts the next segment.
    public var segmentBytes: Int?

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
    public func fileSettings() throws -> FileTransport.Settings {
        let segment = segmentBytes ?? FileLogLayout.defaultSegmentBytes
        guard segment >= 1024, segment <= 1 << 40 else {
            throw PodBenchError(.invalidConfiguration, "a file segment of \(segment) bytes is outside 1KiB to 1TiB")
        }
        return FileTransport.Settings(
            follow: try FileFollowMode(parsing: follow ?? "inotify"), sync: try FileSyncMode(parsing: fsync ?? "none"),
            segmentBytes: segment)
    }

    /// The wait strategy (`spin-futex` when not set).
    public func waitStrategy() throws -> RingWaitStrategy {
        try RingWaitStrategy(parsing: wait ?? "spin-futex")
    }
}
