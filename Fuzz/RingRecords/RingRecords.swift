import FuzzSupport
import PodBenchCore
import PodBenchRing

/// libFuzzer entry: any bytes as the memory of a ring that a hostile peer wrote. The first 8
/// bytes are the consumer's `head` as the producer finds it, the next 8 the producer's position as
/// the consumer starts from, the rest the data area (4 KiB, repeated to fill it). Both ends must
/// refuse what no podbench peer writes, never copy outside the ring or the caller's buffer, and
/// never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRingRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 16 else { return 0 }
    let capacity = 4096
    let block = UnsafeMutableRawPointer.allocate(byteCount: RingLayout.controlBlockSize + capacity, alignment: 4096)
    defer { block.deallocate() }
    block.initializeMemory(as: UInt8.self, repeating: 0, count: RingLayout.controlBlockSize + capacity)
    let ring = RingPointers(block: block, capacity: capacity)
    ring.reset()
    let input = UnsafeRawPointer(data)
    let start = input.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    ring.head.pointee.store(start, ordering: .relaxed)
    if size > 16 {
        for offset in 0..<capacity {
            ring.data.storeBytes(of: data[16 + offset % (size - 16)], toByteOffset: offset, as: UInt8.self)
        }
    }

    // The consumer reads whatever the "peer" published, through a small and a large buffer.
    var consumer = RingConsumer(ring: ring, producerSleeps: false)
    var buffer = [UInt8](repeating: 0, count: 2 * capacity)
    for readSize in [7, 2 * capacity] {
        for _ in 0..<64 {
            let n = buffer.withUnsafeMutableBytes {
                consumer.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<readSize]))
            }
            precondition(n >= 0 && n <= readSize)
            if n == 0 { break }
        }
    }

    // The producer writes while the "peer" claims to have read up to `head`.
    var producer = RingProducer(ring: ring, consumerSleeps: false)
    ring.head.pointee.store(input.loadUnaligned(as: UInt64.self), ordering: .relaxed)
    let message = [UInt8](repeating: 0xA5, count: 3 * capacity)
    for length in [1, 100, capacity - 8, capacity, 3 * capacity] {
        let n = message.withUnsafeBytes { producer.write(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
        precondition(n >= 0 && n <= min(length, capacity - 8))
    }
    return 0
}

// SwiftPM links this executable's entry point as `RingRecords_main` (FuzzSupport says why).
@_cdecl("RingRecords_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzRingRecords(data, size) }
}
