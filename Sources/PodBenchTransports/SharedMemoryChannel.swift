import CPodBenchLinux
import Glibc
import PodBenchCore
import PodBenchRing
import Synchronization
import SystemPackage

/// The `shm` transport's connection: two rings in one mapped file, one each way. No system call
/// on the data path while both sides are awake.
public final class SharedMemoryChannel: DataChannel, @unchecked Sendable {
    /// Which end of the file this is.
    public enum Role: Sendable {
        case server
        case client
    }

    let descriptor: FileDescriptor
    let region: MappedRegion
    let state: UnsafeMutablePointer<Atomic<UInt32>>
    // The two ends' positions live in memory this object owns rather than in stored `var`s: a
    // class's `var` is checked for exclusive access at run time on every use (two runtime calls
    // and a thread-local lookup per send and per receive), a pointer's pointee is not. Only the
    // thread that drives the channel touches them.
    let producer: UnsafeMutablePointer<RingProducer>
    let consumer: UnsafeMutablePointer<RingConsumer>
    public let strategy: RingWaitStrategy
    let monitor: Monitor
    private var closed = false

    /// Checks, while a side waits, that the peer is alive and the wait is not too long.
    struct Monitor: RingPeerMonitor {
        let descriptor: FileDescriptor
        let state: UnsafeMutablePointer<Atomic<UInt32>>
        let peerLockByte: Int
        let timeoutNanoseconds: UInt64

        func check(waitingSince: UInt64) throws {
            if state.pointee.load(ordering: .acquiring) == RingState.closed.rawValue {
                throw PodBenchError(.peerClosed, "the peer closed the shared-memory ring")
            }
            if CPodBenchLinux_byte_locked(descriptor.rawValue, peerLockByte) == 0 {
                throw PodBenchError(
                    .peerClosed, "the peer process died (its lock on the ring file is gone)")
            }
            if MonotonicClock.now() &- waitingSince > timeoutNanoseconds {
                throw PodBenchError(.timeout, "the peer moved no data through the shared-memory ring in time")
            }
        }
    }

    init(
        descriptor: FileDescriptor, region: consuming MappedRegion, capacity: Int, role: Role,
        strategy: RingWaitStrategy, timeoutNanoseconds: UInt64
    ) {
        let base = region.base
        let toServer = RingPointers(block: base + RingLayout.ringOffset(0, capacity: capacity), capacity: capacity)
        let toClient = RingPointers(block: base + RingLayout.ringOffset(1, capacity: capacity), capacity: capacity)
        let sleeps = strategy.sleeps
        producer = .allocate(capacity: 1)
        consumer = .allocate(capacity: 1)
        switch role {
        case .server:
            producer.initialize(to: RingProducer(ring: toClient, consumerSleeps: sleeps))
            consumer.initialize(to: RingConsumer(ring: toServer, producerSleeps: sleeps))
        case .client:
            producer.initialize(to: RingProducer(ring: toServer, consumerSleeps: sleeps))
            consumer.initialize(to: RingConsumer(ring: toClient, producerSleeps: sleeps))
        }
        state = (base + RingLayout.stateOffset).assumingMemoryBound(to: Atomic<UInt32>.self)
        monitor = Monitor(
            descriptor: descriptor, state: state,
            peerLockByte: role == .server ? RingLayout.clientLockByte : RingLayout.serverLockByte,
            timeoutNanoseconds: timeoutNanoseconds)
        self.descriptor = descriptor
        self.region = region
        self.strategy = strategy
    }

    deinit {
        close()
        producer.deinitialize(count: 1).deallocate()
        consumer.deinitialize(count: 1).deallocate()
    }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = producer.pointee.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            if n == 0 {
                if let head = producer.pointee.forgedHead {
                    throw forged(head: head, position: producer.pointee.position)
                }
                try producer.pointee.waitForSpace(strategy, monitor: monitor)
            }
            offset += n
        }
    }

    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = consumer.pointee.read(into: buffer)
            if n > 0 { return n }
            if let record = consumer.pointee.forgedRecord { throw forged(record: record) }
            do {
                try consumer.pointee.waitForData(strategy, monitor: monitor)
            } catch let error as PodBenchError where error.code == .peerClosed {
                // Bytes the peer published before it closed are still data.
                let last = consumer.pointee.read(into: buffer)
                if last > 0 { return last }
                if let record = consumer.pointee.forgedRecord { throw forged(record: record) }
                throw error
            }
        }
    }

    /// The peer's ring end published a record no producer could have written.
    func forged(record: (header: UInt64, position: UInt64)) -> PodBenchError {
        PodBenchError(
            .integrityFailure,
            "the shared-memory ring from the peer holds a record of \(record.header & 0xFFFF_FFFF) bytes at ring offset \(record.position) (a record holds 1 to \(consumer.pointee.ring.capacity - 8)): something other than podbench wrote into the ring; reading stopped there"
        )
    }

    /// The peer's consumer position (`head`) in the ring this side writes is impossible.
    func forged(head: UInt64, position: UInt64) -> PodBenchError {
        PodBenchError(
            .integrityFailure,
            "the shared-memory ring to the peer says the peer has read up to offset \(head), but this side has written only up to \(position) (or more than a ring's \(producer.pointee.ring.capacity) bytes beyond it): something other than podbench wrote into the ring; writing stopped there"
        )
    }

    /// Marks the ring closed and wakes a sleeping peer, which then sees end of stream.
    public func shutdown() {
        state.pointee.store(RingState.closed.rawValue, ordering: .releasing)
        producer.pointee.wakeConsumer()
        consumer.pointee.wakeProducer()
    }

    /// Shuts down and closes the file (the mapping goes with this object).
    public func close() {
        guard !closed else { return }
        closed = true
        shutdown()
        try? descriptor.close()
    }
}
