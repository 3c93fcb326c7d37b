import CPodBenchLinux
import Glibc
import PodBenchCore
import Synchronization

// # The ring
//
// A single-producer single-consumer byte ring in shared memory, one per direction. `tail` and
// `head` count bytes since the start and never wrap (2^64 bytes is centuries at any speed); a
// byte's place in the data area is its count modulo the capacity (a power of two). The ring holds
// `tail - head` bytes; the producer may write while `tail - head < capacity`. Messages are framed
// by the layer above (PodBenchCore's frames), so a message of any size moves in as many chunks as
// the ring needs, and a chunk may wrap around the end of the data area (copied in two pieces).
//
// ## Why each ordering suffices
//
// - Producer, publishing: it copies the bytes in with plain stores, then stores `tail` with
//   *release*. The consumer loads `tail` with *acquire*; reading a `tail` value therefore makes
//   every byte written before it visible (release/acquire synchronises-with).
// - Consumer, freeing: it copies bytes out with plain loads, then stores `head` with *release*.
//   The producer loads `head` with *acquire* before it reuses the space, so the consumer's reads
//   happen before the producer's next writes to those bytes (no torn reads).
// - Each side caches the other's counter (`cachedHead`, `cachedTail`) and reloads it only when the
//   cached value cannot satisfy the request at hand: a producer with room to spare never touches
//   the consumer's cache line.
// - Sleeping (futex strategies) is a Dekker handshake: the consumer stores `consumerWaiting = 1`
//   then loads `tail`; the producer stores `tail` then loads `consumerWaiting`. Both pairs are
//   *sequentially consistent*, so at least one side sees the other's store: either the consumer
//   sees the new data and does not sleep, or the producer sees the flag and wakes it. The futex
//   word `dataSignal` is read (acquire) *before* the flag is set and bumped (release) before the
//   wake, so a wake that lands between the consumer's check and its `futex_wait` makes that wait
//   return at once (the word no longer holds the value it expects). The same handshake, mirrored,
//   guards a producer sleeping on a full ring (`producerWaiting`, `spaceSignal`).
// - With the `spin` strategy nobody sleeps, so the sequentially consistent store/load pair (an
//   `xchg` and a fence on x86) is skipped and the fast path is a release store and an acquire
//   load. With the futex strategies, the fast path still makes no system call while the peer is
//   awake: the wake is only issued when the flag is set.

/// Pointers to one ring in a mapping. Does not own the mapping.
public struct RingPointers: @unchecked Sendable {
    public let tail: UnsafeMutablePointer<Atomic<UInt64>>
    public let head: UnsafeMutablePointer<Atomic<UInt64>>
    public let dataSignal: UnsafeMutablePointer<Atomic<UInt32>>
    public let consumerWaiting: UnsafeMutablePointer<Atomic<UInt32>>
    public let spaceSignal: UnsafeMutablePointer<Atomic<UInt32>>
    public let producerWaiting: UnsafeMutablePointer<Atomic<UInt32>>
    public let data: UnsafeMutableRawPointer
    public let capacity: Int

    /// The ring whose control block starts at `block` and whose data follows it.
    public init(block: UnsafeMutableRawPointer, capacity: Int) {
        func word<T: ~Copyable>(_ offset: Int, _ type: T.Type) -> UnsafeMutablePointer<T> {
            (block + offset).assumingMemoryBound(to: T.self)
        }
        tail = word(RingLayout.tailOffset, Atomic<UInt64>.self)
        head = word(RingLayout.headOffset, Atomic<UInt64>.self)
        dataSignal = word(RingLayout.dataSignalOffset, Atomic<UInt32>.self)
        consumerWaiting = word(RingLayout.consumerWaitingOffset, Atomic<UInt32>.self)
        spaceSignal = word(RingLayout.spaceSignalOffset, Atomic<UInt32>.self)
        producerWaiting = word(RingLayout.producerWaitingOffset, Atomic<UInt32>.self)
        data = block + RingLayout.controlBlockSize
        self.capacity = capacity
    }

    /// Zeroes the control block (the server does this once, before anyone attaches).
    public func reset() {
        tail.pointee.store(0, ordering: .relaxed)
        head.pointee.store(0, ordering: .relaxed)
        dataSignal.pointee.store(0, ordering: .relaxed)
        consumerWaiting.pointee.store(0, ordering: .relaxed)
        spaceSignal.pointee.store(0, ordering: .relaxed)
        producerWaiting.pointee.store(0, ordering: .relaxed)
    }

    /// The futex word behind an atomic, for the futex system call.
    @inline(__always)
    static func futexWord(_ p: UnsafeMutablePointer<Atomic<UInt32>>) -> UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt32.self)
    }
}

/// How a side waits when the ring is empty (receiving) or full (sending).
public enum RingWaitStrategy: Hashable, Sendable, CustomStringConvertible {
    /// Spin with the CPU's pause hint; never sleeps. Lowest latency, burns a core while waiting.
    case spin
    /// Sleep on a futex at once; the peer wakes it (a system call only when someone sleeps).
    case futex
    /// Spin for up to the given nanoseconds, then sleep on the futex.
    case spinFutex(nanoseconds: UInt64)

    public static let defaultSpinNanoseconds: UInt64 = 50_000

    /// Parses `spin`, `futex`, `spin-futex` or `spin-futex:DURATION`.
    public init(parsing text: String) throws {
        switch text {
        case "spin": self = .spin
        case "futex": self = .futex
        case "spin-futex": self = .spinFutex(nanoseconds: Self.defaultSpinNanoseconds)
        default:
            if text.hasPrefix("spin-futex:") {
                let ns = try DurationText.parse(String(text.dropFirst(11)), option: "--shm-wait")
                self = .spinFutex(nanoseconds: ns)
            } else {
                throw PodBenchError(
                    .invalidConfiguration, "unknown wait strategy '\(text)': use spin, futex or spin-futex[:DURATION]")
            }
        }
    }

    public var description: String {
        switch self {
        case .spin: "spin"
        case .futex: "futex"
        case .spinFutex(let ns): ns == Self.defaultSpinNanoseconds ? "spin-futex" : "spin-futex:\(ns)ns"
        }
    }

    /// Whether a side using this strategy may sleep (so its peer must check the waiting flags).
    public var sleeps: Bool { self != .spin }
}

/// What a waiting side checks now and then: the deadline, and whether the peer is still there.
public protocol RingPeerMonitor {
    /// Throws when the peer is gone or the wait has lasted too long.
    /// - Parameter waitingSince: when this wait began (monotonic nanoseconds).
    func check(waitingSince: UInt64) throws
}

/// The writing end of a ring.
public struct RingProducer: @unchecked Sendable {
    public let ring: RingPointers
    /// Whether the consumer may sleep: then every publish checks its waiting flag.
    public let consumerSleeps: Bool
    var localTail: UInt64
    var cachedHead: UInt64

    public init(ring: RingPointers, consumerSleeps: Bool) {
        self.ring = ring
        self.consumerSleeps = consumerSleeps
        localTail = ring.tail.pointee.load(ordering: .relaxed)
        cachedHead = ring.head.pointee.load(ordering: .acquiring)
    }

    /// Free bytes now, up to `wanted` (reloads the consumer's head only when the cached one
    /// cannot satisfy the request).
    @inline(__always)
    mutating func freeSpace(wanted: Int) -> Int {
        var free = ring.capacity - Int(localTail &- cachedHead)
        if free < wanted {
            cachedHead = ring.head.pointee.load(ordering: .acquiring)
            free = ring.capacity - Int(localTail &- cachedHead)
        }
        return free
    }

    /// Copies as much of `bytes` as fits and publishes it; returns how many bytes went (0 when full).
    @inline(__always)
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let n = min(bytes.count, freeSpace(wanted: bytes.count))
        guard n > 0, let source = bytes.baseAddress else { return 0 }
        let start = Int(localTail) & (ring.capacity - 1)
        let first = min(n, ring.capacity - start)
        (ring.data + start).copyMemory(from: source, byteCount: first)
        if first < n { ring.data.copyMemory(from: source + first, byteCount: n - first) }
        localTail &+= UInt64(n)
        if consumerSleeps {
            ring.tail.pointee.store(localTail, ordering: .sequentiallyConsistent)
            if ring.consumerWaiting.pointee.load(ordering: .sequentiallyConsistent) != 0 {
                ring.dataSignal.pointee.wrappingAdd(1, ordering: .releasing)
                _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.dataSignal), 1)
            }
        } else {
            ring.tail.pointee.store(localTail, ordering: .releasing)
        }
        return n
    }

    /// Waits until the ring has free space, by `strategy`.
    public mutating func waitForSpace<Monitor: RingPeerMonitor>(
        _ strategy: RingWaitStrategy, monitor: Monitor
    ) throws {
        let ring = self.ring
        let tail = localTail
        try RingWaiter.wait(
            strategy, monitor: monitor,
            ready: { ring.capacity - Int(tail &- ring.head.pointee.load(ordering: .acquiring)) > 0 },
            signal: ring.spaceSignal, waiting: ring.producerWaiting)
    }

    /// Wakes a consumer that may be sleeping (used when closing).
    public func wakeConsumer() {
        ring.dataSignal.pointee.wrappingAdd(1, ordering: .releasing)
        _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.dataSignal), Int32.max)
    }
}

/// The reading end of a ring.
public struct RingConsumer: @unchecked Sendable {
    public let ring: RingPointers
    /// Whether the producer may sleep: then every release of space checks its waiting flag.
    public let producerSleeps: Bool
    var localHead: UInt64
    var cachedTail: UInt64

    public init(ring: RingPointers, producerSleeps: Bool) {
        self.ring = ring
        self.producerSleeps = producerSleeps
        localHead = ring.head.pointee.load(ordering: .relaxed)
        cachedTail = ring.tail.pointee.load(ordering: .acquiring)
    }

    /// Bytes ready now, up to `wanted` (reloads the producer's tail only when the cached one
    /// cannot satisfy the request).
    @inline(__always)
    mutating func available(wanted: Int) -> Int {
        var ready = Int(cachedTail &- localHead)
        if ready < wanted {
            cachedTail = ring.tail.pointee.load(ordering: .acquiring)
            ready = Int(cachedTail &- localHead)
        }
        return ready
    }

    /// Copies up to `buffer.count` ready bytes out and frees their space; returns how many (0 when empty).
    @inline(__always)
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(buffer.count, available(wanted: buffer.count))
        guard n > 0, let target = buffer.baseAddress else { return 0 }
        let start = Int(localHead) & (ring.capacity - 1)
        let first = min(n, ring.capacity - start)
        target.copyMemory(from: ring.data + start, byteCount: first)
        if first < n { (target + first).copyMemory(from: ring.data, byteCount: n - first) }
        localHead &+= UInt64(n)
        if producerSleeps {
            ring.head.pointee.store(localHead, ordering: .sequentiallyConsistent)
            if ring.producerWaiting.pointee.load(ordering: .sequentiallyConsistent) != 0 {
                ring.spaceSignal.pointee.wrappingAdd(1, ordering: .releasing)
                _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.spaceSignal), 1)
            }
        } else {
            ring.head.pointee.store(localHead, ordering: .releasing)
        }
        return n
    }

    /// Waits until the ring has bytes to read, by `strategy`.
    public mutating func waitForData<Monitor: RingPeerMonitor>(_ strategy: RingWaitStrategy, monitor: Monitor) throws {
        let ring = self.ring
        let head = localHead
        try RingWaiter.wait(
            strategy, monitor: monitor, ready: { ring.tail.pointee.load(ordering: .acquiring) != head },
            signal: ring.dataSignal, waiting: ring.consumerWaiting)
    }

    /// Wakes a producer that may be sleeping (used when closing).
    public func wakeProducer() {
        ring.spaceSignal.pointee.wrappingAdd(1, ordering: .releasing)
        _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.spaceSignal), Int32.max)
    }
}

/// The waiting half of both ends: spin, sleep, or spin then sleep, checking the peer now and then.
enum RingWaiter {
    /// How often a spinning side looks at the clock (iterations) and at the peer (nanoseconds).
    static let spinsPerClockRead = 256
    static let monitorInterval: UInt64 = 1_000_000
    /// How long one futex sleep lasts before the peer is checked again.
    static let sleepSlice: UInt64 = 10_000_000

    @inline(__always)
    static func wait<Monitor: RingPeerMonitor>(
        _ strategy: RingWaitStrategy, monitor: Monitor, ready: () -> Bool,
        signal: UnsafeMutablePointer<Atomic<UInt32>>, waiting: UnsafeMutablePointer<Atomic<UInt32>>
    ) throws {
        if ready() { return }
        let started = MonotonicClock.now()
        let spinBudget: UInt64? =
            switch strategy {
            case .spin: nil
            case .futex: 0
            case .spinFutex(let ns): ns
            }
        if spinBudget != 0 {
            var lastCheck = started
            while true {
                for _ in 0..<spinsPerClockRead {
                    if ready() { return }
                    CPodBenchLinux_cpu_relax()
                }
                let now = MonotonicClock.now()
                if let budget = spinBudget {
                    if now &- started >= budget { break }
                    // A bounded spin gives the CPU away now and then: a peer that shares this core
                    // (unpinned sides on a busy machine) gets to run instead of waiting out the budget.
                    sched_yield()
                }
                if now &- lastCheck >= monitorInterval {
                    try monitor.check(waitingSince: started)
                    lastCheck = now
                }
            }
        }
        let word = RingPointers.futexWord(signal)
        while true {
            let expected = signal.pointee.load(ordering: .acquiring)
            waiting.pointee.store(1, ordering: .sequentiallyConsistent)
            if ready() {
                waiting.pointee.store(0, ordering: .relaxed)
                return
            }
            _ = CPodBenchLinux_futex_wait(word, expected, sleepSlice)
            waiting.pointee.store(0, ordering: .relaxed)
            if ready() { return }
            try monitor.check(waitingSince: started)
        }
    }
}
