import FuzzSupport
import Glibc
import PodBenchCore
import PodBenchTransports

/// libFuzzer entry: any bytes as a `file` connection's segments, as another container could
/// write them on a shared volume. The first 4 bytes (little-endian) say how many of the rest go to
/// segment 0; what is left goes to segment 1. The reader must hand out only bodies of whole, checked records, and end
/// in an error (integrity, end of stream, writer gone, timeout), never a trap, a hang or a read
/// outside its buffers.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFileRecords(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 4 else { return 0 }
    let directory = FuzzFolder.next()
    defer { FuzzFolder.remove(directory) }
    guard (try? FileLogLayout.create(directory)) != nil else { return 0 }
    let rest = size - 4
    let split = min(rest, Int(UInt32(littleEndian: UnsafeRawPointer(data).loadUnaligned(as: UInt32.self))))
    write(directory + "/" + FileLogLayout.segmentName(0), data + 4, split)
    if split < rest { write(directory + "/" + FileLogLayout.segmentName(1), data + 4 + split, rest - split) }
    // No writer holds the lock: once the reader runs dry it finds the writer gone (within 20 ms).
    guard
        let reader = try? FileLogReader(
            directory: directory, follow: .poll(intervalNanoseconds: 1_000_000), timeoutNanoseconds: 100_000_000)
    else { return 0 }
    defer { reader.close() }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    defer { buffer.deallocate() }
    var handedOut = 0
    for _ in 0..<10_000 {
        guard let n = try? reader.receiveSome(into: buffer) else { break }
        precondition(n > 0 && n <= buffer.count)
        handedOut += n
        precondition(handedOut <= rest, "the reader handed out more bytes than the segments hold")
    }
    return 0
}

private func write(_ path: String, _ bytes: UnsafePointer<UInt8>, _ count: Int) {
    let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
    guard fd >= 0 else { return }
    _ = Glibc.write(fd, bytes, count)
    close(fd)
}

/// A fresh folder per input under /dev/shm (tmpfs: the fuzzer's speed is its I/O).
enum FuzzFolder {
    nonisolated(unsafe) static var counter = 0
    static let base: String = {
        let path = "/dev/shm/podbench-fuzz-file-\(getpid())"
        mkdir(path, 0o700)
        return path
    }()

    static func next() -> String {
        counter += 1
        return base + "/\(counter)"
    }

    static func remove(_ directory: String) {
        for index in 0..<3 { unlink(directory + "/" + FileLogLayout.segmentName(index)) }
        unlink(directory + "/" + FileLogLayout.lockFileName)
        rmdir(directory)
    }
}

// SwiftPM links this executable's entry point as `FileRecords_main` (FuzzSupport says why).
@_cdecl("FileRecords_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzFileRecords(data, size) }
}
