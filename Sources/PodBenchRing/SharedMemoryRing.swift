import CPodBenchLinux
import Glibc
import PodBenchCore
import Synchronization

// # The ring
//
// A single-producer single-consumer ring in shared memory, one per direction, that carries a byte
// stream as a sequence of *records*. Each `write` publishes one record: an 8-byte header word at
// a 64-byte-aligned place in the data area, then the bytes. The header word is
// `1 << 63 | sequence << 32 | length`, where the sequence is the record's line number since the
// start (31 bits); a record takes `roundUp(8 + length, 64)` bytes, and its bytes
// may wrap around the end of the data area (copied in two pieces). Messages are framed by the
// layer above (PodBenchCore's frames), so a message of any size moves in as many records as the
// ring needs.
//
// Why records and not a `tail` counter: the consumer waits on the header word of the next record,
// which shares its cache line with the record's first 56 bytes, so a small message crosses one
// or two cache lines per direction instead of the tail's line plus the data's (the idea of
// Aeron's term buffers and of FastForward). `head` (bytes consumed, a multiple of 64) is still
// published by the consumer, for the producer's flow control only.
//
// ## Why each ordering suffices
//
// - Producer, publishing: it copies the bytes in with plain stores, then stores the header word
//   with *release*. The consumer loads the header word with *acquire*; seeing the valid bit makes
//   every byte of the record visible (release/acquire synchronises-with).
// - The consumer accepts a header only if it carries exactly the sequence expected at its place.
//   A header left from an earlier lap carries another sequence (capacity / 64 lines back, never a
//   multiple of 2^31); bytes of an earlier record's body could pass only by holding those exact 63
//   bits, and podbench's payloads are its own sequence-tagged pseudo-random bytes. (Should it ever
//   happen, the frame checks above the ring fail the case loudly; nothing passes silently.) So the
//   consumer never has to clean the lines it read.
// - Consumer, freeing: it copies the record out with plain loads, then stores `head` with
//   *release*. The producer loads `head` with *acquire* before it reuses the space, so the
//   consumer's reads happen before the producer's next writes there.
// - The producer caches `head` and reloads it only when the cached value cannot fit the record at
//   hand: a producer with room to spare never touches the consumer's cache line.
// - Sleeping (futex strategies) is a Dekker handshake: the consumer stores `consumerWaiting = 1`
//   then loads the next header word; the producer stores the header word then loads
//   `consumerWaiting`. Both pairs are *sequentially consistent*, so at least one side sees the
//   other's store: either the consumer sees the record and does not sleep, or the producer sees
//   the flag and wakes it. The futex word `dataSignal` is read (acquire) *before* the flag is set
//   and bumped (release) before the wake, so a wake that lands between the consumer's check and
//   its `futex_wait` makes that wait return at once (the word no longer holds the value it
//   expects). The same handshake, mirrored on `head`, guards a producer sleeping on a full ring
//   (`producerWaiting`, `spaceSignal`).
// - With the `spin` strategy nobody sleeps, so the sequentially consistent store/load pair (an
//   `xchg` and a fence on x86) is skipped and the fast path is a release store and an acquire
//   load. With the futex strategies, the fast path still makes no system call while the peer is
//   awake: the wake is only issued when the flag is set.

/// Pointers to one ring in a mapping. Does not own the mapping.
public struct RingPointers: @unchecked Sendable {
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
        head = word(RingLayout.headOffset, Atomic<UInt64>.self)
        dataSignal = word(RingLayout.dataSignalOffset, Atomic<UInt32>.self)
        consumerWaiting = word(RingLayout.consumerWaitingOffset, Atomic<UInt32>.self)
        spaceSignal = word(RingLayout.spaceSignalOffset, Atomic<UInt32>.self)
        producerWaiting = word(RingLayout.producerWaitingOffset, Atomic<UInt32>.self)
        data = block + RingLayout.controlBlockSize
        self.capacity = capacity
    }

    /// Zeroes the control block and the data area (the server does this once, before anyone
    /// attaches).
    public func reset() {
        data.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
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

    /// The strategy as stored in a ring file's header: a code, and the spin of spin-futex.
    public var headerCode: (code: UInt32, spinNanoseconds: UInt64) {
        switch self {
        case .spin: (1, 0)
        case .futex: (2, 0)
        case .spinFutex(let ns): (3, ns)
        }
    }

    /// The strategy a ring file's header records; nil for a code this version does not know.
    public init?(headerCode code: UInt32, spinNanoseconds: UInt64) {
        switch code {
        case 1: self = .spin
        case 2: self = .futex
        case 3: self = .spinFutex(nanoseconds: spinNanoseconds)
        default: return nil
        }
    }
}

/// What a waiting side checks now and then: the deadline, and whether the peer is still there.
public protocol RingPeerMonitor {
    /// Throws when the peer is gone or the wait has lasted too long.
    /// - Parameter waitingSince: when this wait began (monotonic nanoseconds).
    func check(waitingSince: UInt64) throws
}

/// The header word of a record: the valid bit, the sequence and the length.
enum RecordHeader {
    static let valid: UInt64 = 1 << 63
    static let size = 8
    static let line = 64

    /// The header word a record of `length` bytes at `position` carries.
    @inline(__always)
    static func word(position: UInt64, length: Int) -> UInt64 {
        valid | (((position >> 6) & 0x7FFF_FFFF) << 32) | UInt64(length)
    }

    /// Whether `word` is the header expected at `position`.
    @inline(__always)
    static func matches(_ header: UInt64, position: UInt64) -> Bool {
        header & 0xFFFF_FFFF_0000_0000 == word(position: position, length: 0)
    }

    /// Bytes a record of `length` takes in the data area.
    @inline(__always)
    static func footprint(_ length: Int) -> Int { (size + length + line - 1) & ~(line - 1) }
}

extension RingPointers {
    /// The header word at byte `position` (a multiple of 64) of the data area.
    @inline(__always)
    func header(at position: UInt64) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (data + (Int(truncatingIfNeeded: position) & (capacity - 1))).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Copies `count` bytes in at byte `position` of the data area, wrapping at its end.
    @inline(__always)
    func copyIn(_ source: UnsafeRawPointer, count: Int, at position: UInt64) {
        let start = Int(truncatingIfNeeded: position) & (capacity - 1)
        let first = min(count, capacity - start)
        (data + start).copyMemory(from: source, byteCount: first)
        if first < count { data.copyMemory(from: source + first, byteCount: count - first) }
    }

    /// Copies `count` bytes out from byte `position` of the data area, wrapping at its end.
    @inline(__always)
    func copyOut(_ target: UnsafeMutableRawPointer, count: Int, at position: UInt64) {
        let start = Int(truncatingIfNeeded: position) & (capacity - 1)
        let first = min(count, capacity - start)
        target.copyMemory(from: data + start, byteCount: first)
        if first < count { (target + first).copyMemory(from: data, byteCount: count - first) }
    }
}

/// The writing end of a ring.
public struct RingProducer: @unchecked Sendable {
    public let ring: RingPointers
    /// Whether the consumer may sleep: then every publish checks its waiting flag.
    public let consumerSleeps: Bool
    /// Where the next record goes (bytes since the start, a multiple of 64).
    public internal(set) var position: UInt64
    var cachedHead: UInt64
    /// The consumer's `head` when it made no sense (ahead of this side, or more than a ring
    /// behind): the peer, or something else, wrote into the ring. Nothing is written after that.
    public private(set) var forgedHead: UInt64?

    public init(ring: RingPointers, consumerSleeps: Bool) {
        self.ring = ring
        self.consumerSleeps = consumerSleeps
        // Records start on 64-byte lines; a head that does not cannot be the consumer's.
        cachedHead = ring.head.pointee.load(ordering: .acquiring) & ~UInt64(RecordHeader.line - 1)
        position = cachedHead
    }

    /// Free bytes now (reloads the consumer's head only when the cached one cannot fit `wanted`);
    /// 0 once the head read from shared memory is impossible (`forgedHead`).
    @inline(__always)
    mutating func freeSpace(wanted: Int) -> Int {
        var used = position &- cachedHead
        if ring.capacity &- Int(truncatingIfNeeded: used) < wanted {
            cachedHead = ring.head.pointee.load(ordering: .acquiring)
            used = position &- cachedHead
            // One compare on a value already loaded: the bytes in flight can never exceed the
            // ring, so a head that says so is forged (and would make the copy below overrun).
            guard used <= UInt64(ring.capacity) else {
                forgedHead = cachedHead
                cachedHead = position &- UInt64(ring.capacity)
                return 0
            }
        }
        return ring.capacity - Int(used)
    }

    /// Publishes as much of `bytes` as fits as one record; returns how many bytes went (0 when full).
    @inline(__always)
    public mutating func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let free = freeSpace(wanted: RecordHeader.footprint(bytes.count))
        guard free >= RecordHeader.line, bytes.count > 0, let source = bytes.baseAddress else { return 0 }
        let n = min(bytes.count, free - RecordHeader.size)
        ring.copyIn(source, count: n, at: position &+ UInt64(RecordHeader.size))
        let word = RecordHeader.word(position: position, length: n)
        let header = ring.header(at: position)
        position &+= UInt64(RecordHeader.footprint(n))
        if consumerSleeps {
            header.pointee.store(word, ordering: .sequentiallyConsistent)
            if ring.consumerWaiting.pointee.load(ordering: .sequentiallyConsistent) != 0 {
                ring.dataSignal.pointee.wrappingAdd(1, ordering: .releasing)
                _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.dataSignal), 1)
            }
        } else {
            header.pointee.store(word, ordering: .releasing)
        }
        return n
    }

    /// Waits until the ring has room for a record, by `strategy`.
    public mutating func waitForSpace<Monitor: RingPeerMonitor>(
        _ strategy: RingWaitStrategy, monitor: Monitor
    ) throws {
        let ring = self.ring
        let position = self.position
        try RingWaiter.wait(
            strategy, monitor: monitor,
            ready: {
                // A forged head (more than a ring in flight) ends the wait too: `write` then refuses.
                let used = position &- ring.head.pointee.load(ordering: .acquiring)
                return used > UInt64(ring.capacity) || ring.capacity - Int(used) >= RecordHeader.line
            },
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
    /// Where the next record's header is (bytes since the start, a multiple of 64).
    var position: UInt64
    /// The record being read when a reader's buffer took only part of it.
    var recordLength = 0
    var recordOffset = 0
    /// A header word whose length no producer could have written (0, or more than the ring
    /// holds), and where it was: the ring was written by something else. Nothing is read after it.
    public private(set) var forgedRecord: (header: UInt64, position: UInt64)?

    public init(ring: RingPointers, producerSleeps: Bool) {
        self.ring = ring
        self.producerSleeps = producerSleeps
        position = ring.head.pointee.load(ordering: .relaxed) & ~UInt64(RecordHeader.line - 1)
    }

    /// Whether bytes are ready to read now.
    @inline(__always)
    func ready() -> Bool {
        recordLength > 0
            || RecordHeader.matches(ring.header(at: position).pointee.load(ordering: .acquiring), position: position)
    }

    /// Copies up to `buffer.count` ready bytes out, record after record, and frees the records
    /// read whole; returns how many bytes (0 when nothing is ready).
    @inline(__always)
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard let target = buffer.baseAddress else { return 0 }
        var copied = 0
        let start = position
        while copied < buffer.count {
            if recordLength == 0 {
                let word = ring.header(at: position).pointee.load(ordering: .acquiring)
                guard RecordHeader.matches(word, position: position) else { break }
                let length = Int(word & 0xFFFF_FFFF)
                // One compare on the word just loaded: a producer writes 1 to capacity − 8 bytes
                // per record; any other length would copy past the ring (and the caller's buffer).
                guard UInt(bitPattern: length &- 1) < UInt(ring.capacity - RecordHeader.size) else {
                    forgedRecord = (word, position)
                    break
                }
                recordLength = length
                recordOffset = 0
            }
            let n = min(recordLength - recordOffset, buffer.count - copied)
            ring.copyOut(
                target + copied, count: n, at: position &+ UInt64(RecordHeader.size + recordOffset))
            copied += n
            recordOffset += n
            if recordOffset == recordLength {
                position &+= UInt64(RecordHeader.footprint(recordLength))
                recordLength = 0
                recordOffset = 0
            }
        }
        if position != start {
            if producerSleeps {
                ring.head.pointee.store(position, ordering: .sequentiallyConsistent)
                if ring.producerWaiting.pointee.load(ordering: .sequentiallyConsistent) != 0 {
                    ring.spaceSignal.pointee.wrappingAdd(1, ordering: .releasing)
                    _ = CPodBenchLinux_futex_wake(RingPointers.futexWord(ring.spaceSignal), 1)
                }
            } else {
                ring.head.pointee.store(position, ordering: .releasing)
            }
        }
        return copied
    }

    /// Waits until the ring has bytes to read, by `strategy`.
    public mutating func waitForData<Monitor: RingPeerMonitor>(_ strategy: RingWaitStrategy, monitor: Monitor) throws {
        if recordLength > 0 { return }
        let header = ring.header(at: position)
        let expected = position
        // A record of more than 56 bytes goes on into the next line. Asking for that line on every
        // look brings it in together with the header's line once the producer has written both,
        // instead of one cache miss after the other (a prefetch is not a load: it reads nothing
        // the producer is writing, and costs nothing while the line is already here).
        let second = UnsafeRawPointer(ring.header(at: position &+ UInt64(RecordHeader.line)))
        try RingWaiter.wait(
            strategy, monitor: monitor,
            ready: {
                CPodBenchLinux_prefetch(second)
                return RecordHeader.matches(header.pointee.load(ordering: .acquiring), position: expected)
            },
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
