import PodBenchCore

/// Where everything lives in a ring file. One file per connection holds a header and two rings,
/// one each way:
///
/// ```
/// offset                 size       what
/// 0                      4096       FileHeader (magic, layout version, ring capacity, state word,
///                                   the server's wait strategy)
/// 4096                   1024       ring 0 control block: client → server
/// 5120                   capacity   ring 0 data
/// 5120 + capacity        1024       ring 1 control block: server → client
/// 6144 + capacity        capacity   ring 1 data
/// ```
///
/// A control block puts each word on its own 128-byte stretch (two cache lines, so that the
/// adjacent-line prefetcher cannot couple them) because each is written by one side only. The
/// producer publishes through record headers in the data area (see SharedMemoryRing.swift), so
/// it has no counter here:
///
/// ```
/// +0    (reserved)
/// +128  head             UInt64  consumer: bytes consumed so far (a multiple of 64)
/// +256  dataSignal       UInt32  producer: bumped to wake a sleeping consumer (futex word)
/// +384  consumerWaiting  UInt32  consumer: 1 while it is about to sleep or sleeping
/// +512  spaceSignal      UInt32  consumer: bumped to wake a sleeping producer (futex word)
/// +640  producerWaiting  UInt32  producer: 1 while it is about to sleep or sleeping
/// ```
/// Nothing in the file is a process id or a file descriptor: the two sides may live in different
/// PID namespaces and share only the file.
public enum RingLayout {
    /// "PODBRING" as a little-endian UInt64.
    public static let magic: UInt64 = 0x474E_4952_4244_4F50
    /// 3: the header records the server's wait strategy (2 did not; 1 published a tail counter).
    public static let version: UInt32 = 3
    public static let headerSize = 4096
    public static let controlBlockSize = 1024
    public static let headOffset = 128
    public static let dataSignalOffset = 256
    public static let consumerWaitingOffset = 384
    public static let spaceSignalOffset = 512
    public static let producerWaitingOffset = 640

    /// Header fields.
    public static let magicOffset = 0
    public static let versionOffset = 8
    public static let capacityOffset = 16
    public static let stateOffset = 24
    /// The server's wait strategy (`RingWaitStrategy.headerCode`) and, for spin-futex, its spin in
    /// nanoseconds: a side that may sleep needs a peer that checks the waiting flags, so the client
    /// adopts the server's strategy or is refused a mismatched one.
    public static let strategyOffset = 32
    public static let spinNanosecondsOffset = 40

    /// File byte locked by each side for as long as it lives (see `CPodBenchLinux_lock_byte`).
    public static let serverLockByte = 0
    public static let clientLockByte = 1

    /// The smallest and largest ring capacities (each a power of two).
    public static let minimumCapacity = 4096
    public static let maximumCapacity = 1 << 30

    /// Total file size for rings of `capacity` bytes.
    public static func fileSize(capacity: Int) -> Int {
        headerSize + 2 * (controlBlockSize + capacity)
    }

    /// Offset of ring `index`'s control block (0: client → server, 1: server → client).
    public static func ringOffset(_ index: Int, capacity: Int) -> Int {
        headerSize + index * (controlBlockSize + capacity)
    }

    /// Checks a capacity the user asked for.
    public static func validate(capacity: Int) throws {
        guard capacity >= minimumCapacity, capacity <= maximumCapacity, capacity & (capacity - 1) == 0 else {
            throw PodBenchError(
                .invalidConfiguration,
                "a ring of \(capacity) bytes is not possible: use a power of two from 4KiB to 1GiB (e.g. 1MiB)")
        }
    }
}

/// The lifecycle of a ring file, in its state word.
public enum RingState: UInt32, Sendable {
    /// The server is still initialising the file.
    case creating = 0
    /// The server has initialised it and waits for the client.
    case ready = 1
    /// The client has mapped it and locked its byte.
    case attached = 2
    /// A side closed it; the other sees end of stream.
    case closed = 3
}
