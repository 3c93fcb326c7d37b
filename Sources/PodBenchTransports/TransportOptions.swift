import PodBenchRing

/// Options of a transport that change what is measured, so they are part of a case's key.
public struct TransportOptions: Codable, Hashable, Sendable {
    /// SO_SNDBUF and SO_RCVBUF in bytes on both sides, nil for the kernel's default (socket transports).
    public var socketBufferBytes: Int?
    /// Bytes in each of the two rings (`shm`).
    public var ringBytes: Int?
    /// How a side waits on an empty or full ring (`shm`): spin, futex, spin-futex[:DURATION].
    public var wait: String?

    public static let defaultRingBytes = 1 << 20

    public init(socketBufferBytes: Int? = nil, ringBytes: Int? = nil, wait: String? = nil) {
        self.socketBufferBytes = socketBufferBytes
        self.ringBytes = ringBytes
        self.wait = wait
    }

    /// The wait strategy (`spin-futex` when not set).
    public func waitStrategy() throws -> RingWaitStrategy {
        try RingWaitStrategy(parsing: wait ?? "spin-futex")
    }
}
