import Foundation
import PodBenchCore
import PodBenchRing
import Testing

/// A ring in ordinary memory: the same code as in a shared mapping.
final class TestRing: @unchecked Sendable {
    let block: UnsafeMutableRawPointer
    let ring: RingPointers

    init(capacity: Int) {
        block = UnsafeMutableRawPointer.allocate(byteCount: RingLayout.controlBlockSize + capacity, alignment: 4096)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.controlBlockSize + capacity)
        ring = RingPointers(block: block, capacity: capacity)
        ring.reset()
    }

    deinit { block.deallocate() }
}

/// The peer is a thread of the test: it never goes, so this only turns a hang into a failure. Its
/// limit is for a stuck test, not a speed check: one wait of 10 s happened under the thread
/// sanitizer with the end-to-end suite beside it (CI, 2026-12-03), so it is 2 minutes.
struct NeverGone: RingPeerMonitor {
    func check(waitingSince: UInt64) throws {
        if MonotonicClock.now() - waitingSince > 120_000_000_000 {
            throw PodBenchError(.timeout, "test ring wait took too long")
        }
    }
}

func pattern(_ count: Int, seed: Int) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ seed &* 7 &+ ($0 >> 8)) }
}

@Suite("Shared-memory ring, one thread")
struct RingSingleThreadTests {
    /// Pushes all of `data` (record after record, reading whenever the ring is full) and returns
    /// what came out, read through a buffer of `readSize` bytes.
    static func roundTrip(
        _ data: [UInt8], producer: inout RingProducer, consumer: inout RingConsumer, readSize: Int
    ) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: readSize)
        var sent = 0
        while sent < data.count {
            let n = data.withUnsafeBytes { producer.write(UnsafeRawBufferPointer(rebasing: $0[sent...])) }
            sent += n
            if n == 0 || sent == data.count {
                while true {
                    let got = buffer.withUnsafeMutableBytes { consumer.read(into: $0) }
                    if got == 0 { break }
                    out += buffer[0..<got]
                }
            }
        }
        return out
    }

    @Test(
        "bytes come out as they went in, records wrapping at every offset class",
        arguments: [0, 1, 7, 8, 55, 56, 57, 63, 64, 65, 2047, 2048, 4031, 4032, 4087, 4088])
    func wrapAround(startOffset: Int) {
        let capacity = 4096
        let t = TestRing(capacity: capacity)
        var producer = RingProducer(ring: t.ring, consumerSleeps: false)
        var consumer = RingConsumer(ring: t.ring, producerSleeps: false)
        // A first record of `startOffset` bytes moves the next record's place around the ring.
        if startOffset > 0 {
            let filler = pattern(startOffset, seed: 0)
            let back = Self.roundTrip(filler, producer: &producer, consumer: &consumer, readSize: 8192)
            #expect(back == filler)
        }
        for size in [1, 8, 56, 57, 100, capacity - 9, capacity - 8, capacity, 3 * capacity + 5] {
            for readSize in [1, 7, 4096, 65536] {
                let data = pattern(size, seed: size &+ readSize)
                let out = Self.roundTrip(data, producer: &producer, consumer: &consumer, readSize: readSize)
                let same = out == data
                #expect(same, "size \(size), reads of \(readSize), from offset \(startOffset)")
            }
        }
    }

    @Test("an empty ring reads nothing; a full ring takes nothing; space returns once a record is read whole")
    func emptyAndFull() {
        let t = TestRing(capacity: 4096)
        var producer = RingProducer(ring: t.ring, consumerSleeps: false)
        var consumer = RingConsumer(ring: t.ring, producerSleeps: false)
        var out = [UInt8](repeating: 0, count: 8192)
        #expect(out.withUnsafeMutableBytes { consumer.read(into: $0) } == 0)
        let big = pattern(6000, seed: 1)
        // One record takes the whole ring but its 8-byte header.
        #expect(big.withUnsafeBytes { producer.write($0) } == 4088)
        #expect(big.withUnsafeBytes { producer.write($0) } == 0)
        #expect(
            out.withUnsafeMutableBytes { consumer.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<1000])) }
                == 1000)
        #expect(big.withUnsafeBytes { producer.write($0) } == 0)  // the record is not read whole yet
        #expect(
            out.withUnsafeMutableBytes { consumer.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[1000...])) }
                == 3088)
        let same = Array(out[0..<4088]) == Array(big[0..<4088])
        #expect(same)
        #expect(big.withUnsafeBytes { producer.write(UnsafeRawBufferPointer(rebasing: $0[4088...])) } == 1912)
        #expect(out.withUnsafeMutableBytes { consumer.read(into: $0) } == 1912)
        let restSame = Array(out[0..<1912]) == Array(big[4088...])
        #expect(restSame)
    }

    @Test("small records each take whole lines, and many fit")
    func smallRecords() {
        let t = TestRing(capacity: 4096)
        var producer = RingProducer(ring: t.ring, consumerSleeps: false)
        var consumer = RingConsumer(ring: t.ring, producerSleeps: false)
        let one: [UInt8] = [42]
        var written = 0
        while one.withUnsafeBytes({ producer.write($0) }) == 1 { written += 1 }
        #expect(written == 4096 / 64)
        var out = [UInt8](repeating: 0, count: 1000)
        #expect(out.withUnsafeMutableBytes { consumer.read(into: $0) } == written)
        #expect(out[0..<written].allSatisfy { $0 == 42 })
    }

    @Test("layout constants fit together and capacities are checked")
    func layout() throws {
        #expect(RingLayout.fileSize(capacity: 4096) == 4096 + 2 * (1024 + 4096))
        #expect(RingLayout.ringOffset(1, capacity: 4096) == 4096 + 1024 + 4096)
        #expect(RingLayout.producerWaitingOffset + 4 <= RingLayout.controlBlockSize)
        #expect(RingLayout.version == 3)
        #expect(RingLayout.spinNanosecondsOffset + 8 <= RingLayout.headerSize)
        try RingLayout.validate(capacity: 1 << 20)
        for bad in [0, 1000, 4095, 6000, 1 << 31] {
            #expect(throws: PodBenchError.self) { try RingLayout.validate(capacity: bad) }
        }
    }

    @Test("wait strategies parse and print", arguments: ["spin", "futex", "spin-futex", "spin-futex:2000ns"])
    func strategies(text: String) throws {
        #expect(try RingWaitStrategy(parsing: text).description == text)
    }

    @Test("unknown wait strategies are refused")
    func badStrategy() {
        #expect(throws: PodBenchError.self) { try RingWaitStrategy(parsing: "nap") }
        #expect(throws: PodBenchError.self) { try RingWaitStrategy(parsing: "spin-futex:soon") }
    }
}

@Suite("Shared-memory ring, two threads")
struct RingTwoThreadTests {
    /// Streams `messages` of random sizes (up to `maxSize`) through a ring of `capacity`, the
    /// consumer on another thread, and checks every byte.
    static func stream(capacity: Int, maxSize: Int, messages: Int, strategy: RingWaitStrategy) throws {
        let t = TestRing(capacity: capacity)
        let sizes: [Int] = {
            var state: UInt64 = 12345
            return (0..<messages).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1
                return 1 + Int(state >> 33) % maxSize
            }
        }()
        let total = sizes.reduce(0, +)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let received = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: total)
        defer { received.deallocate() }
        nonisolated(unsafe) var consumerError: (any Error)?
        Thread {
            var consumer = RingConsumer(ring: t.ring, producerSleeps: strategy.sleeps)
            var offset = 0
            do {
                while offset < total {
                    let n = consumer.read(
                        into: UnsafeMutableRawBufferPointer(
                            rebasing: UnsafeMutableRawBufferPointer(received)[offset..<min(total, offset + 65536)]))
                    if n == 0 { try consumer.waitForData(strategy, monitor: NeverGone()) }
                    offset += n
                }
            } catch { consumerError = error }
            done.signal()
        }.start()
        var producer = RingProducer(ring: t.ring, consumerSleeps: strategy.sleeps)
        var expected = [UInt8]()
        expected.reserveCapacity(total)
        for (i, size) in sizes.enumerated() {
            let message = pattern(size, seed: i)
            expected += message
            try message.withUnsafeBytes { bytes in
                var sent = 0
                while sent < size {
                    let n = producer.write(UnsafeRawBufferPointer(rebasing: bytes[sent...]))
                    if n == 0 { try producer.waitForSpace(strategy, monitor: NeverGone()) }
                    sent += n
                }
            }
        }
        done.wait()
        if let consumerError { throw consumerError }
        let same = Array(received) == expected
        #expect(same, "the bytes received differ from the bytes sent")
    }

    @Test(
        "random sizes through a small ring arrive intact, with each wait strategy",
        arguments: [RingWaitStrategy.spin, .futex, .spinFutex(nanoseconds: 2000)])
    func randomSizes(strategy: RingWaitStrategy) throws {
        try Self.stream(capacity: 4096, maxSize: 10_000, messages: 2000, strategy: strategy)
    }

    @Test("messages of 1 byte to 4 MiB move in chunks through a 4 KiB ring")
    func chunking() throws {
        try Self.stream(capacity: 4096, maxSize: 4 << 20, messages: 6, strategy: .futex)
    }

    @Test(
        "long stress (PODBENCH_LONG_TESTS=1)",
        .enabled(if: ProcessInfo.processInfo.environment["PODBENCH_LONG_TESTS"] != nil))
    func longStress() throws {
        for strategy in [RingWaitStrategy.spin, .futex, .spinFutex(nanoseconds: 1000)] {
            try Self.stream(capacity: 4096, maxSize: 20_000, messages: 20_000, strategy: strategy)
        }
    }
}

@Suite("Shared-memory ring, forged by the peer")
struct RingForgeryTests {
    @Test(
        "a record header whose length no producer writes is refused, not copied",
        arguments: [0, 4096 - 7, 0xFFFF_FFF0, 0xFFFF_FFFF] as [UInt64])
    func forgedRecordLength(length: UInt64) {
        let test = TestRing(capacity: 4096)
        var producer = RingProducer(ring: test.ring, consumerSleeps: false)
        var consumer = RingConsumer(ring: test.ring, producerSleeps: false)
        let first = pattern(100, seed: 1)
        #expect(first.withUnsafeBytes { producer.write($0) } == 100)
        // The next record's header, as the peer could write it: the right sequence, a bad length.
        let position = UInt64(128)
        let header = (test.ring.data + Int(position)).assumingMemoryBound(to: UInt64.self)
        header.pointee = 1 << 63 | ((position >> 6) << 32) | length
        var buffer = [UInt8](repeating: 0, count: 8192)
        let got = buffer.withUnsafeMutableBytes { consumer.read(into: $0) }
        #expect(got == 100, "the record before the forged one is read whole")
        #expect(Array(buffer[0..<100]) == first)
        #expect(consumer.forgedRecord?.position == position)
        #expect(buffer.withUnsafeMutableBytes { consumer.read(into: $0) } == 0)
    }

    @Test("the largest record a producer writes is still accepted")
    func largestRecord() {
        let test = TestRing(capacity: 4096)
        var producer = RingProducer(ring: test.ring, consumerSleeps: false)
        var consumer = RingConsumer(ring: test.ring, producerSleeps: false)
        let data = pattern(4096, seed: 3)
        #expect(data.withUnsafeBytes { producer.write($0) } == 4096 - 8)
        var buffer = [UInt8](repeating: 0, count: 4096)
        #expect(buffer.withUnsafeMutableBytes { consumer.read(into: $0) } == 4096 - 8)
        #expect(consumer.forgedRecord == nil)
    }

    @Test(
        "a consumer head ahead of the producer or a ring behind it stops the producer",
        arguments: [64 * 1000, 1 << 62, 1 << 63] as [UInt64])
    func forgedHead(head: UInt64) {
        let test = TestRing(capacity: 4096)
        var producer = RingProducer(ring: test.ring, consumerSleeps: false)
        let data = pattern(4000, seed: 2)
        #expect(data.withUnsafeBytes { producer.write($0) } > 0)
        test.ring.head.pointee.store(head, ordering: .releasing)
        // Asks for more than the cached head can fit, so the forged one is loaded.
        #expect(data.withUnsafeBytes { producer.write($0) } == 0)
        #expect(producer.forgedHead == head)
    }
}
