import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

@Suite("file transport: records, segments, followers")
struct FileLogTests {

    @Test("the streaming checksum equals the one-shot checksum however the bytes are split")
    func accumulator() {
        var rng = SystemRandomNumberGenerator()
        for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let whole = bytes.withUnsafeBytes { PayloadChecksum.checksum($0) }
            for _ in 0..<20 {
                var acc = PayloadChecksum.Accumulator()
                var i = 0
                while i < length {
                    let n = min(length - i, Int.random(in: 1...17, using: &rng))
                    bytes.withUnsafeBytes { acc.add(UnsafeRawBufferPointer(rebasing: $0[i..<(i + n)])) }
                    i += n
                }
                #expect(acc.value == whole, "length \(length)")
            }
        }
    }

    /// Record sizes (header included) of 100 bytes: body 60.
    static let body60 = 60

    @Test(
        "rotation at every record boundary class loses and repeats nothing, and read segments go",
        arguments: [
            // segment limit in records of 100 bytes: exactly 3, one byte short, one over, smaller
            // than one record (each record alone), and a prime that cuts records anywhere.
            300, 299, 301, 99, 50, 1, 1009,
        ])
    func rotation(limit: Int) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: limit, sync: .none, timeoutNanoseconds: 2_000_000_000)
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
        defer {
            writer.close()
            reader.close()
        }
        var n = 0
        for batch in [1, 2, 3, 1, 3, 2, 1, 1, 3, 3] {
            var expected: [UInt8] = []
            for _ in 0..<batch {
                let bytes = FileLogFixture.body(n, count: Self.body60)
                try bytes.withUnsafeBytes { try writer.append($0) }
                expected += bytes
                n += 1
            }
            let got = try FileLogFixture.read(reader, count: expected.count, chunk: [1, 7, 60, 4096][n % 4])
            #expect(got == expected, "limit \(limit), after record \(n)")
        }
        #expect(reader.expectedSequence == UInt64(n))
        // The reader removes a segment when it finds the next: at most the last two remain.
        #expect(FileLogFixture.segments(in: dir).count <= 2, "\(FileLogFixture.segments(in: dir))")
        if limit < 100 { #expect(writer.segmentIndex == n - 1) }
        if limit == 300 { #expect(writer.segmentIndex == (n - 1) / 3) }
        if limit == 299 { #expect(writer.segmentIndex == (n - 1) / 2) }
    }

    @Test(
        "records of 1 byte to 4 MiB arrive intact through large and direct reads",
        arguments: [1, 16 << 10, 1 << 20, 4 << 20])
    func sizes(size: Int) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 3 << 20, sync: .none, timeoutNanoseconds: 2_000_000_000)
        let reader = try FileLogReader(
            directory: dir, follow: .poll(intervalNanoseconds: 50_000), timeoutNanoseconds: 2_000_000_000)
        defer {
            writer.close()
            reader.close()
        }
        for n in 0..<3 {
            let bytes = FileLogFixture.body(n, count: size)
            try bytes.withUnsafeBytes { try writer.append($0) }
            #expect(try FileLogFixture.read(reader, count: size, chunk: 1 << 20) == bytes)
        }
    }

    @Test(
        "a follower wakes for records a writer on another thread appends slowly",
        arguments: [FileFollowMode.inotify, .poll(intervalNanoseconds: 100_000)])
    func follow(mode: FileFollowMode) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let reader = try FileLogReader(directory: dir, follow: mode, timeoutNanoseconds: 5_000_000_000)
        defer { reader.close() }
        let writing = Background {
            let writer = try FileLogWriter(
                directory: dir, segmentLimit: 1000, sync: .every(2), timeoutNanoseconds: 5_000_000_000)
            defer { writer.close() }
            for n in 0..<40 {
                try FileLogFixture.body(n, count: 100).withUnsafeBytes { try writer.append($0) }
                if n % 5 == 0 { usleep(3000) }
            }
            try writer.finish()
        }
        var expected: [UInt8] = []
        for n in 0..<40 { expected += FileLogFixture.body(n, count: 100) }
        #expect(try FileLogFixture.read(reader, count: expected.count, chunk: 333) == expected)
        #expect {
            try FileLogFixture.read(reader, count: 1, chunk: 1)
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed && "\($0)".contains("ended its stream") }
        try writing.wait()
    }

    @Test("every fsync mode writes the same records", arguments: [FileSyncMode.none, .each, .every(3)])
    func syncModes(mode: FileSyncMode) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let writer = try FileLogWriter(directory: dir, segmentLimit: 512, sync: mode, timeoutNanoseconds: 2_000_000_000)
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
        defer {
            writer.close()
            reader.close()
        }
        for n in 0..<10 {
            let bytes = FileLogFixture.body(n, count: 200)
            try bytes.withUnsafeBytes { try writer.append($0) }
            #expect(try FileLogFixture.read(reader, count: 200, chunk: 200) == bytes)
        }
        #expect(try FileSyncMode(parsing: mode.description) == mode)
    }

    /// Appends raw bytes to segment `index`, as a writer that died halfway would leave them.
    static func appendRaw(_ bytes: [UInt8], to dir: String, segment index: Int = 0) throws {
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + FileLogLayout.segmentName(index)))
        handle.seekToEndOfFile()
        handle.write(Data(bytes))
        try handle.close()
    }

    /// One whole record as the writer lays it out, from a scratch direction.
    static func recordBytes(body: [UInt8], sequence: Int) throws -> [UInt8] {
        let scratch = try FileLogFixture.direction()
        defer { FileLogFixture.remove(scratch) }
        let writer = try FileLogWriter(
            directory: scratch, segmentLimit: 1 << 20, sync: .none, timeoutNanoseconds: 1_000_000_000)
        for n in 0...sequence {
            try (n == sequence ? body : [0]).withUnsafeBytes { try writer.append($0) }
        }
        writer.close()
        let all = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch + "/" + FileLogLayout.segmentName(0))))
        return Array(all.suffix(FileRecord.headerSize + body.count))
    }

    @Test(
        "a writer that died mid-record leaves a record that is reported with its offset, never read as data",
        arguments: [10, FileRecord.headerSize + 50])
    func tornRecord(cut: Int) throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 5_000_000_000)
        defer { reader.close() }
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 1 << 20, sync: .none, timeoutNanoseconds: 1_000_000_000)
        let first = FileLogFixture.body(0, count: 100)
        try first.withUnsafeBytes { try writer.append($0) }
        let second = try Self.recordBytes(body: FileLogFixture.body(1, count: 100), sequence: 1)
        try Self.appendRaw(Array(second.prefix(cut)), to: dir)
        writer.close()  // the lock goes as it would with the process
        #expect(try FileLogFixture.read(reader, count: 100, chunk: 4096) == first)
        #expect {
            try FileLogFixture.read(reader, count: 100, chunk: 4096)
        } throws: { error in
            let text = "\(error)"
            return (error as? PodBenchError)?.code == .peerClosed && text.contains("died mid-record")
                && text.contains("offset 140")
        }
    }

    @Test("a corrupted body or header fails with the record's offset")
    func corrupted() throws {
        for (index, what) in [(FileRecord.headerSize + 30, "body checksum"), (20, "header at offset 140")] {
            let dir = try FileLogFixture.direction()
            defer { FileLogFixture.remove(dir) }
            let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
            defer { reader.close() }
            let writer = try FileLogWriter(
                directory: dir, segmentLimit: 1 << 20, sync: .none, timeoutNanoseconds: 1_000_000_000)
            defer { writer.close() }
            try FileLogFixture.body(0, count: 100).withUnsafeBytes { try writer.append($0) }
            var second = try Self.recordBytes(body: FileLogFixture.body(1, count: 100), sequence: 1)
            second[index] ^= 0x40
            try Self.appendRaw(second, to: dir)
            _ = try FileLogFixture.read(reader, count: 100, chunk: 4096)
            #expect {
                try FileLogFixture.read(reader, count: 100, chunk: 4096)
            } throws: { error in
                (error as? PodBenchError)?.code == .integrityFailure && "\(error)".contains(what)
                    && "\(error)".contains("offset 140")
            }
        }
    }

    @Test("a lost or repeated record is named as such")
    func sequenceGap() throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
        defer { reader.close() }
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 1 << 20, sync: .none, timeoutNanoseconds: 1_000_000_000)
        defer { writer.close() }
        try [UInt8(1)].withUnsafeBytes { try writer.append($0) }
        try Self.appendRaw(try Self.recordBytes(body: [2], sequence: 2), to: dir)
        _ = try FileLogFixture.read(reader, count: 1, chunk: 1)
        #expect {
            try FileLogFixture.read(reader, count: 1, chunk: 1)
        } throws: { "\($0)".contains("sequence 2, expected 1") && "\($0)".contains("lost") }
    }

    @Test("a writer whose reader is gone stops at the segment window instead of filling the volume")
    func readerGone() throws {
        let dir = try FileLogFixture.direction()
        defer { FileLogFixture.remove(dir) }
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 1024, sync: .none, timeoutNanoseconds: 2_000_000_000)
        defer { writer.close() }
        reader.close()
        let body = FileLogFixture.body(0, count: 1000)
        #expect {
            for _ in 0..<(FileLogLayout.segmentsAhead + 2) { try body.withUnsafeBytes { try writer.append($0) } }
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed && "\($0)".contains("reader") }
        #expect(FileLogFixture.segments(in: dir).count == FileLogLayout.segmentsAhead)
    }

    @Test("a full volume is a clear error, not a crash")
    func fullVolume() throws {
        let parent = NSTemporaryDirectory() + "/podbench-full-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer {
            _ = umount(parent)
            try? FileManager.default.removeItem(atPath: parent)
        }
        try #require(mount("tmpfs", parent, "tmpfs", 0, "size=64k") == 0, "mounting a small tmpfs needs root")
        let dir = try FileLogFixture.direction(in: parent)
        let reader = try FileLogReader(directory: dir, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
        defer { reader.close() }
        let writer = try FileLogWriter(
            directory: dir, segmentLimit: 1 << 20, sync: .none, timeoutNanoseconds: 2_000_000_000)
        defer { writer.close() }
        let body = FileLogFixture.body(0, count: 16 << 10)
        #expect {
            for _ in 0..<8 { try body.withUnsafeBytes { try writer.append($0) } }
        } throws: { ($0 as? PodBenchError)?.code == .ioFailure && "\($0)".contains("is full") }
    }

    @Test("serve's clean-up removes connection directories of dead servers only")
    func staleConnections() throws {
        let parent = NSTemporaryDirectory() + "/podbench-stale-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let settings = FileTransport.Settings(follow: .inotify, sync: .none, segmentBytes: 1 << 20)
        let live = try FileTransport.listen(
            directory: parent, name: "podbench-live", settings: settings, timeoutNanoseconds: 1_000_000_000)
        defer { live.close() }
        try FileManager.default.createDirectory(
            atPath: parent + "/podbench-dead.file", withIntermediateDirectories: false)
        try FileLogLayout.create(parent + "/podbench-dead.file/c2s")
        try FileLogLayout.create(parent + "/podbench-dead.file/s2c")
        try FileManager.default.createDirectory(
            atPath: parent + "/podbench-new.file", withIntermediateDirectories: false)
        // Made a moment ago: it could be another server's connection between its lock files and
        // its locks, so the default clean-up leaves it; past the age it goes.
        #expect(FileTransport.removeStaleConnections(in: parent).isEmpty)
        #expect(
            FileTransport.removeStaleConnections(in: parent, minimumAgeSeconds: 0) == [parent + "/podbench-dead.file"])
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: parent).sorted() == [
                "podbench-live.file", "podbench-new.file",
            ])
    }

    @Test("option texts parse and print back; bad ones are refused")
    func parsing() throws {
        #expect(try FileSyncMode(parsing: "every:1") == .each)
        #expect(try FileSyncMode(parsing: "every:8").description == "every:8")
        #expect(try FileFollowMode(parsing: "poll").description == "poll:100us")
        #expect(try FileFollowMode(parsing: "poll:2ms").description == "poll:2ms")
        for bad in ["every:0", "always", "every:x"] {
            #expect(throws: PodBenchError.self) { try FileSyncMode(parsing: bad) }
        }
        for bad in ["poll:0", "poll:5s", "fanotify"] {
            #expect(throws: PodBenchError.self) { try FileFollowMode(parsing: bad) }
        }
    }
}
