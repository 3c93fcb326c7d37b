import Foundation
import Glibc
import NIOCore
import NIOHPACK
import PodBenchCore
import PodBenchHarness

// nginx 1.22.1's answer to a GET of a 64-byte file over h2c, as it sends it every time (captured
// 2026-12-04): :status 200 indexed; server (indexed into the table again each time, Huffman),
// date, content-type, content-length, last-modified, etag, accept-ranges.
let nginxBlock: [UInt8] = {
    let hex =
        "887689aa6355e580ae212e1f6196c361be94034a5f29141004e28266e342b8c894c5a37f5f901d75d0620d263d4c1c892a56426c28e95c0236346c96c361be94034a5f29141004e28266e09eb8db8a62d1bf00832a47378bfe5c8c2cb448de59a07f3f008919085ad2b583aa62a3848fd24a8f"
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0...$0 + 1], as: UTF8.self), radix: 16)!
    }
}()

/// What the client needs of a block: the status and the content-length.
struct Found {
    var status = 0
    var length = -1
}

@inline(never)
func podbenchRound(_ decoder: HPACK.Decoder, _ block: UnsafeRawBufferPointer, _ count: Int) throws -> Found {
    var found = Found()
    for _ in 0..<count {
        try decoder.decode(block) { name, value in
            if name.count == 7 && memcmp(name.baseAddress!, ":status", 7) == 0 {
                found.status = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            } else if name.count == 14 && memcmp(name.baseAddress!, "content-length", 14) == 0 {
                found.length = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            }
        }
    }
    return found
}

@inline(never)
func nioRound(_ decoder: inout HPACKDecoder, _ buffer: ByteBuffer, _ count: Int) throws -> Found {
    var found = Found()
    for _ in 0..<count {
        var copy = buffer
        let headers = try decoder.decodeHeaders(from: &copy)
        found.status = Int(headers.first(name: ":status") ?? "") ?? 0
        found.length = Int(headers.first(name: "content-length") ?? "") ?? -1
    }
    return found
}

var rounds = 8
var perRound = 200_000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--rounds": rounds = Int(arguments.next() ?? "") ?? rounds
    case "--blocks": perRound = Int(arguments.next() ?? "") ?? perRound
    case "--cpu":
        if let cpu = Int(arguments.next() ?? "") { _ = try CPUPinning.pinCurrentThread(to: cpu) }
    default:
        FileHandle.standardError.write(Data("usage: HPACKDecode [--rounds N] [--blocks N] [--cpu C]\n".utf8))
        exit(2)
    }
}

let ours = HPACK.Decoder(sizeLimit: 4096, maximumBlock: 64 << 10)
var theirs = HPACKDecoder(allocator: ByteBufferAllocator())
let buffer = ByteBuffer(bytes: nginxBlock)
var oursNs: [Double] = []
var theirsNs: [Double] = []
try nginxBlock.withUnsafeBytes { block in
    for _ in 0..<rounds {
        var start = MonotonicClock.now()
        let a = try podbenchRound(ours, block, perRound)
        oursNs.append(Double(MonotonicClock.now() - start) / Double(perRound))
        start = MonotonicClock.now()
        let b = try nioRound(&theirs, buffer, perRound)
        theirsNs.append(Double(MonotonicClock.now() - start) / Double(perRound))
        precondition(a.status == 200 && a.length == 64 && b.status == 200 && b.length == 64, "\(a) \(b)")
        print(String(format: "round: podbench %.1f ns a block, NIOHPACK %.1f ns", oursNs.last!, theirsNs.last!))
    }
}
let medianOurs = oursNs.sorted()[oursNs.count / 2]
let medianTheirs = theirsNs.sorted()[theirsNs.count / 2]
print(
    String(
        format:
            "median of %d rounds of %d blocks (%d bytes each): podbench %.1f ns a block, NIOHPACK %.1f ns: NIOHPACK costs %.2fx",
        rounds, perRound, nginxBlock.count, medianOurs, medianTheirs, medianTheirs / medianOurs))
