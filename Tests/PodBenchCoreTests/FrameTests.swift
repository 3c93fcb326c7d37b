import PodBenchCore
import Testing

@Suite("Frames and payload checksums")
struct FrameTests {
    @Test("a header survives write and read")
    func headerRoundTrip() throws {
        let header = FrameHeader(
            payloadLength: 4 << 20, kind: .endOfTrial, sequence: 0x0123_4567_89AB_CDEF, checksum: ~0, timestamp: 42)
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes { header.write(to: $0.baseAddress!) }
        #expect(bytes[0..<4] == [0, 0, 0x40, 0])  // little-endian length
        let read = bytes.withUnsafeBytes { FrameHeader.read(from: $0.baseAddress!) }
        #expect(read == header)
    }

    @Test("an unknown kind is refused")
    func unknownKind() {
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes[4] = 7
        #expect(bytes.withUnsafeBytes { FrameHeader.read(from: $0.baseAddress!) } == nil)
    }

    @Test(
        "the O(1) tagged checksum equals a full checksum of the tagged payload",
        arguments: [1, 2, 7, 8, 9, 63, 64, 65, 1000, 4096, 65536, 1 << 20, 4 << 20])
    func taggedChecksum(size: Int) {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        let template = PayloadTemplate(filling: payload, seed: 99)
        for sequence: UInt64 in [0, 1, 2, 255, 256, 1 << 40, ~0] {
            let tagged = template.tag(payload.baseAddress!, sequence: sequence)
            #expect(tagged == PayloadChecksum.checksum(UnsafeRawBufferPointer(payload)))
        }
    }

    @Test("consecutive messages have different payloads and checksums", arguments: [1, 8, 1024])
    func messagesDiffer(size: Int) {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        let template = PayloadTemplate(filling: payload, seed: 5)
        let a = template.tag(payload.baseAddress!, sequence: 10)
        let first = Array(payload)
        let b = template.tag(payload.baseAddress!, sequence: 11)
        #expect(a != b)
        #expect(first != Array(payload))
    }

    @Test("a flipped bit anywhere changes the checksum", arguments: [1, 9, 64, 4097])
    func detectsFlips(size: Int) {
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 8)
        defer { payload.deallocate() }
        let template = PayloadTemplate(filling: payload, seed: 3)
        let good = template.tag(payload.baseAddress!, sequence: 1)
        for position in Set([0, size / 2, size - 1]) {
            payload[position] ^= 0x01
            #expect(PayloadChecksum.checksum(UnsafeRawBufferPointer(payload)) != good)
            payload[position] ^= 0x01
        }
    }

    @Test("swapped words change the checksum")
    func detectsSwaps() {
        var words: [UInt64] = [1, 2, 3, 4]
        let before = words.withUnsafeBytes { PayloadChecksum.checksum($0) }
        words.swapAt(1, 2)
        #expect(words.withUnsafeBytes { PayloadChecksum.checksum($0) } != before)
    }
}
