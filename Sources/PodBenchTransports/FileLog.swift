import CPodBenchLinux
import Glibc
import PodBenchCore
import SystemPackage

/// When a `file` writer makes its records durable (`--file-fsync`).
public enum FileSyncMode: Hashable, Sendable, CustomStringConvertible {
    /// Never: records reach the page cache only (what most log writers do).
    case none
    /// `fsync(2)` after every record.
    case each
    /// `fsync(2)` after every N records (and at each segment's end).
    case every(Int)

    /// Parses `none`, `each` or `every:N`.
    public init(parsing text: String) throws {
        switch text {
        case "none": self = .none
        case "each": self = .each
        default:
            guard text.hasPrefix("every:"), let n = Int(text.dropFirst(6)), n >= 1 else {
                throw PodBenchError(
                    .invalidConfiguration, "unknown fsync mode '\(text)': use none, each or every:N (N at least 1)")
            }
            self = n == 1 ? .each : .every(n)
        }
    }

    public var description: String {
        switch self {
        case .none: "none"
        case .each: "each"
        case .every(let n): "every:\(n)"
        }
    }
}

/// How a reader in the shared volume learns that the other side wrote (`--file-follow`): a `file`
/// reader that the writer appended, a content-sync follower that a version was published.
public enum FileFollowMode: Hashable, Sendable, CustomStringConvertible {
    /// Sleep in `poll(2)` on an inotify descriptor watching the segment directory.
    case inotify
    /// Sleep this long between reads that found nothing (what `tail -f` without inotify does).
    case poll(intervalNanoseconds: UInt64)
    /// Wait to be told: the publisher signals the follower's process after each version, and the
    /// follower reads only then (an app that reloads on a signal). The content-sync transports only;
    /// it needs a shared process namespace.
    case signal

    public static let defaultPollNanoseconds: UInt64 = 100_000

    /// Parses `inotify`, `poll` or `poll:DURATION`.
    public init(parsing text: String) throws {
        switch text {
        case "inotify": self = .inotify
        case "poll": self = .poll(intervalNanoseconds: Self.defaultPollNanoseconds)
        case "signal": self = .signal
        default:
            guard text.hasPrefix("poll:") else {
                throw PodBenchError(
                    .invalidConfiguration,
                    "unknown follow mode '\(TextEscaping.terminal(String(text.prefix(60))))': use inotify, poll[:DURATION] or signal (content sync only)"
                )
            }
            let ns = try DurationText.parse(String(text.dropFirst(5)), option: "--file-follow")
            guard ns >= 1000, ns <= 1_000_000_000 else {
                throw PodBenchError(.invalidConfiguration, "--file-follow: the poll interval must be 1us to 1s")
            }
            self = .poll(intervalNanoseconds: ns)
        }
    }

    public var description: String {
        switch self {
        case .inotify: "inotify"
        case .signal: "signal"
        case .poll(let ns):
            ns % 1_000_000 == 0 ? "poll:\(ns / 1_000_000)ms" : ns % 1000 == 0 ? "poll:\(ns / 1000)us" : "poll:\(ns)ns"
        }
    }
}

/// The record every `file` writer appends, little-endian:
///
/// ```
/// offset  size  field
///      0     4  magic "PBRC"
///      4     4  kind (0 data, 1 end of stream)
///      8     4  body length in bytes
///     12     4  check of the other header fields (a torn or overwritten header fails it)
///     16     8  record sequence number, from 0 in each direction, across segments
///     24     8  checksum of the body (`PayloadChecksum`)
///     32     8  writer's CLOCK_MONOTONIC at the append, in nanoseconds
///     40     …  body
/// ```
public enum FileRecord {
    public static let headerSize = 40
    public static let magic: UInt32 = 0x4352_4250  // "PBRC" read as little-endian bytes
    /// Largest body a reader accepts: a frame of the largest message, with room to spare.
    public static let maximumBody = ByteSize.maximum + 4096

    public enum Kind: UInt32, Sendable {
        case data = 0
        case endOfStream = 1
    }

    /// The 32-bit check of a header's fields.
    static func headerCheck(kind: UInt32, length: UInt32, sequence: UInt64, body: UInt64, timestamp: UInt64) -> UInt32 {
        var h = (UInt64(kind) << 32 | UInt64(length)) &* 0x9E37_79B9_7F4A_7C15
        h = (h ^ sequence ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ body ^ (h >> 31)) &* 0x94D0_49BB_1331_11EB
        h = (h ^ timestamp ^ (h >> 30)) &* 0x9E37_79B9_7F4A_7C15
        return UInt32(truncatingIfNeeded: h >> 32)
    }

    static func writeHeader(
        to p: UnsafeMutableRawPointer, kind: Kind, length: Int, sequence: UInt64, body: UInt64, timestamp: UInt64
    ) {
        let check = headerCheck(
            kind: kind.rawValue, length: UInt32(length), sequence: sequence, body: body, timestamp: timestamp)
        p.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 8, as: UInt32.self)
        p.storeBytes(of: check.littleEndian, toByteOffset: 12, as: UInt32.self)
        p.storeBytes(of: sequence.littleEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: body.littleEndian, toByteOffset: 24, as: UInt64.self)
        p.storeBytes(of: timestamp.littleEndian, toByteOffset: 32, as: UInt64.self)
    }

    /// A parsed header.
    public struct Header: Equatable, Sendable {
        public var kind: Kind
        public var length: Int
        public var sequence: UInt64
        public var bodyChecksum: UInt64
        public var timestamp: UInt64
    }

    /// Parses a header; nil when its magic, kind or check is wrong.
    static func readHeader(_ p: UnsafeRawPointer) -> Header? {
        guard UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == magic else { return nil }
        let rawKind = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let length = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let check = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        let sequence = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let body = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        let timestamp = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        guard let kind = Kind(rawValue: rawKind),
            check == headerCheck(kind: rawKind, length: length, sequence: sequence, body: body, timestamp: timestamp)
        else { return nil }
        return Header(kind: kind, length: Int(length), sequence: sequence, bodyChecksum: body, timestamp: timestamp)
    }
}

/// One direction of a `file` connection on disk: a directory holding a `lock` file (the writer
/// holds an OFD lock on byte 0, the reader on byte 1, so each sees the other die whatever its PID
/// namespace) and numbered segments `0000000000.log`, `0000000001.log`, … The writer starts the
/// next segment when a record would take the current one past the size limit; the reader
/// removes each segment once it has read it to the end and the next one exists.
public enum FileLogLayout {
    public static let lockFileName = "lock"
    static let writerLockByte = 0
    static let readerLockByte = 1
    /// Segments the writer may run ahead of the reader before it waits: without a bound, a reader
    /// slower than the writer fills the volume.
    public static let segmentsAhead = 4
    public static let defaultSegmentBytes = 4 << 20
    static let nameDigits = 10

    /// The file name of segment `index`.
    public static func segmentName(_ index: Int) -> String {
        let digits = String(index)
        return String(repeating: "0", count: max(0, nameDigits - digits.count)) + digits + ".log"
    }

    /// Makes an empty direction in `directory`: the directory, its lock file and segment 0.
    public static func create(_ directory: String) throws {
        guard mkdir(directory, 0o770) == 0 else {
            throw PodBenchError.system(
                "mkdir", Errno(rawValue: errno), "cannot make \(directory): check that --shared-dir is writable")
        }
        for name in [lockFileName, segmentName(0)] {
            let fd = open(directory + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o660)
            guard fd >= 0 else {
                throw PodBenchError.system("open", Errno(rawValue: errno), "cannot create \(directory)/\(name)")
            }
            Glibc.close(fd)
        }
    }

    /// Opens a direction's lock file and takes one side's byte.
    static func lock(_ directory: String, byte: Int, role: String) throws -> Int32 {
        let fd = open(directory + "/" + lockFileName, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                e == .noSuchFileOrDirectory ? .unavailable : .ioFailure,
                "cannot open \(directory)/\(lockFileName): \(e); both sides must see the same shared directory",
                cause: .init(call: "open", errno: e))
        }
        guard CPodBenchLinux_lock_byte(fd, byte) == 0 else {
            let e = Errno(rawValue: errno)
            Glibc.close(fd)
            throw PodBenchError(
                .protocolViolation, "another \(role) already holds \(directory): \(e)",
                cause: .init(call: "fcntl", errno: e))
        }
        return fd
    }

    /// A segment name kept in a C buffer and advanced in place: the reader checks for the next
    /// segment each time it runs dry, which must not allocate.
    struct SegmentName: ~Copyable {
        let bytes: UnsafeMutablePointer<CChar>

        init(_ index: Int) {
            bytes = .allocate(capacity: 32)
            set(index)
        }

        func set(_ index: Int) {
            var value = index
            for i in stride(from: nameDigits - 1, through: 0, by: -1) {
                bytes[i] = CChar(48 + value % 10)
                value /= 10
            }
            for (i, c) in ".log".utf8.enumerated() { bytes[nameDigits + i] = CChar(c) }
            bytes[nameDigits + 4] = 0
        }

        deinit { bytes.deallocate() }
    }
}

/// The system calls of the `file` transport's data path, so that `uring-file` can route them
/// through an io_uring. Each returns what the system call returns, but errors as -errno.
public protocol FileIOEngine: AnyObject {
    /// writev(2) at the file's position; with `thenSync`, an fsync(2) ordered after it, whose
    /// result goes to `syncResult` (0 or -errno; untouched without `thenSync`).
    func writev(
        _ fd: Int32, _ vectors: UnsafePointer<iovec>, _ count: Int32, thenSync: Bool, syncResult: inout Int32
    ) -> Int
    /// fsync(2): 0 or -errno.
    func fsync(_ fd: Int32) -> Int32
    /// read(2) at the file's position.
    func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int
}

/// Appends records to one direction of a `file` connection.
public final class FileLogWriter: @unchecked Sendable {
    public let directory: String
    let directoryFD: Int32
    let lockFD: Int32
    var segmentFD: Int32
    public private(set) var segmentIndex = 0
    /// Bytes in the current segment.
    public private(set) var segmentBytes = 0
    let segmentLimit: Int
    let sync: FileSyncMode
    var sinceSync = 0
    public private(set) var sequence: UInt64 = 0
    let timeoutNanoseconds: UInt64
    let header: UnsafeMutableRawPointer
    let vectors: UnsafeMutablePointer<iovec>
    let names = FileLogLayout.SegmentName(0)
    /// The io_uring the writes go through (`uring-file`), nil for plain system calls.
    let io: (any FileIOEngine)?
    private var closed = false
    private var ended = false

    /// Opens the direction at `directory` (made by `FileLogLayout.create`) for writing.
    public init(
        directory: String, segmentLimit: Int, sync: FileSyncMode, timeoutNanoseconds: UInt64,
        io: (any FileIOEngine)? = nil
    ) throws {
        self.io = io
        self.directory = directory
        self.segmentLimit = max(1, segmentLimit)
        self.sync = sync
        self.timeoutNanoseconds = timeoutNanoseconds
        lockFD = try FileLogLayout.lock(directory, byte: FileLogLayout.writerLockByte, role: "writer")
        directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        segmentFD = directoryFD < 0 ? -1 : openat(directoryFD, names.bytes, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard directoryFD >= 0, segmentFD >= 0 else {
            let e = Errno(rawValue: errno)
            if directoryFD >= 0 { Glibc.close(directoryFD) }
            Glibc.close(lockFD)
            throw PodBenchError.system("open", e, "cannot open the first segment in \(directory)")
        }
        header = .allocate(byteCount: FileRecord.headerSize, alignment: 8)
        vectors = .allocate(capacity: 2)
    }

    deinit {
        close()
        header.deallocate()
        vectors.deallocate()
    }

    /// Appends one record holding `body`; rotates first when it would take the segment past the
    /// limit, and syncs as the mode says.
    /// - Throws: `.ioFailure` for a full volume (saying so) or another write error; `.peerClosed`
    ///   or `.timeout` when waiting on a reader that is gone or stuck.
    public func append(_ body: UnsafeRawBufferPointer, kind: FileRecord.Kind = .data) throws {
        let size = FileRecord.headerSize + body.count
        if segmentBytes > 0 && segmentBytes + size > segmentLimit { try rotate() }
        FileRecord.writeHeader(
            to: header, kind: kind, length: body.count, sequence: sequence,
            body: PayloadChecksum.checksum(body), timestamp: MonotonicClock.now())
        let synced = try writeRecord(body, thenSync: sync == .each)
        sequence &+= 1
        segmentBytes += size
        switch sync {
        case .none: break
        case .each: if !synced { try syncSegment() }
        case .every(let n):
            sinceSync += 1
            if sinceSync >= n {
                sinceSync = 0
                try syncSegment()
            }
        }
    }

    /// Appends the end-of-stream record, after which the reader sees end of stream. Once.
    public func finish() throws {
        guard !ended, !closed else { return }
        ended = true
        try append(UnsafeRawBufferPointer(start: nil, count: 0), kind: .endOfStream)
    }

    /// Writes the record; with `thenSync` and an io_uring, the fsync goes in the same submission,
    /// linked behind the write. Returns whether it synced.
    func writeRecord(_ body: UnsafeRawBufferPointer, thenSync: Bool) throws -> Bool {
        let total = FileRecord.headerSize + body.count
        var done = 0
        var synced = false
        while done < total {
            var count: Int32 = 0
            if done < FileRecord.headerSize {
                vectors[0] = iovec(iov_base: header + done, iov_len: FileRecord.headerSize - done)
                count = 1
                if body.count > 0 {
                    vectors[1] = iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count)
                    count = 2
                }
            } else {
                let offset = done - FileRecord.headerSize
                vectors[0] = iovec(
                    iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + offset),
                    iov_len: body.count - offset)
                count = 1
            }
            let n: Int
            let e: Errno
            if let io {
                var syncResult: Int32 = 0
                // Only a write that may finish the record carries the fsync.
                let linkSync = thenSync && done == 0
                let r = io.writev(segmentFD, vectors, count, thenSync: linkSync, syncResult: &syncResult)
                n = r < 0 ? -1 : r
                e = Errno(rawValue: r < 0 ? Int32(-r) : 0)
                if linkSync && r == total {
                    guard syncResult == 0 else {
                        throw PodBenchError.system("fsync", Errno(rawValue: -syncResult), "syncing \(directory) failed")
                    }
                    synced = true
                }
            } else {
                n = writev(segmentFD, vectors, count)
                e = Errno(rawValue: n < 0 ? errno : 0)
            }
            if n > 0 {
                done += n
                continue
            }
            if e == .interrupted { continue }
            if e == .noSpace || e == .diskQuotaExceeded {
                throw PodBenchError(
                    .ioFailure,
                    "the shared volume holding \(directory) is full (\(e)) at byte \(segmentBytes + done) of segment \(segmentIndex): free space, give the volume more, or pick a smaller --file-segment",
                    cause: .init(call: "writev", errno: e))
            }
            throw PodBenchError.system("writev", e, "appending to \(directory) failed")
        }
        return synced
    }

    func syncSegment() throws {
        while true {
            let rc = io.map { $0.fsync(segmentFD) } ?? (fsync(segmentFD) == 0 ? 0 : -errno)
            if rc == 0 { return }
            let e = Errno(rawValue: -rc)
            if e != .interrupted { throw PodBenchError.system("fsync", e, "syncing \(directory) failed") }
        }
    }

    /// Starts the next segment, waiting while the reader is `segmentsAhead` segments behind.
    func rotate() throws {
        if sync != .none { try syncSegment() }
        let next = segmentIndex + 1
        if next >= FileLogLayout.segmentsAhead {
            names.set(next - FileLogLayout.segmentsAhead)
            let since = MonotonicClock.now()
            while faccessat(directoryFD, names.bytes, F_OK, 0) == 0 {
                if CPodBenchLinux_byte_locked(lockFD, FileLogLayout.readerLockByte) == 0 {
                    throw PodBenchError(.peerClosed, "the reader of \(directory) is gone (its lock is free)")
                }
                if MonotonicClock.now() &- since > timeoutNanoseconds {
                    throw PodBenchError(
                        .timeout,
                        "the reader of \(directory) fell \(FileLogLayout.segmentsAhead) segments behind and stayed there"
                    )
                }
                usleep(100)
            }
        }
        names.set(next)
        let fd = openat(directoryFD, names.bytes, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o660)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                .ioFailure,
                "cannot start segment \(next) in \(directory): \(e)\(e == .noSpace ? "; the shared volume is full" : "")",
                cause: .init(call: "openat", errno: e))
        }
        Glibc.close(segmentFD)
        segmentFD = fd
        segmentIndex = next
        segmentBytes = 0
    }

    /// Closes the segment and releases the writer's lock (a reader waiting for more then sees the
    /// writer gone). Does not write the end-of-stream record: `finish` does.
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(segmentFD)
        Glibc.close(directoryFD)
        Glibc.close(lockFD)
    }
}

/// Follows one direction of a `file` connection: reads records in order across segments, checks
/// each, hands their bodies out as a byte stream, and removes each segment it finished.
public final class FileLogReader: @unchecked Sendable {
    public let directory: String
    let directoryFD: Int32
    let lockFD: Int32
    var segmentFD: Int32
    public private(set) var segmentIndex = 0
    let follow: FileFollowMode
    let notifyFD: Int32
    let timeoutNanoseconds: UInt64

    let buffer: UnsafeMutableRawPointer
    static let bufferCapacity = 256 << 10
    /// Body reads at least this large go straight into the caller's buffer.
    static let directReadBytes = 16 << 10
    let events: UnsafeMutableRawPointer
    static let eventBytes = 4096
    /// Unread bytes of the segment in `buffer[start..<end]`.
    var start = 0
    var end = 0
    /// Offset in the segment of the next byte not yet read into `buffer` or handed out.
    var segmentOffset = 0

    /// The record being handed out: body bytes still to come, where it starts, its checks.
    var remaining = 0
    var recordOffset = 0
    var recordLength = 0
    var expectedChecksum: UInt64 = 0
    var accumulator = PayloadChecksum.Accumulator()
    public private(set) var expectedSequence: UInt64 = 0
    /// The writer's timestamp of the last record started.
    public private(set) var lastTimestamp: UInt64 = 0

    var waitingSince: UInt64 = 0
    var lastLivenessCheck: UInt64 = 0
    var writerGone = false
    var endOfStream = false
    let nextName = FileLogLayout.SegmentName(1)
    let currentName = FileLogLayout.SegmentName(0)
    /// The io_uring the reads go through (`uring-file`), nil for plain system calls.
    let io: (any FileIOEngine)?
    private var closed = false

    /// Opens the direction at `directory` for reading.
    public init(
        directory: String, follow: FileFollowMode, timeoutNanoseconds: UInt64, io: (any FileIOEngine)? = nil
    ) throws {
        self.io = io
        self.directory = directory
        self.follow = follow
        self.timeoutNanoseconds = timeoutNanoseconds
        lockFD = try FileLogLayout.lock(directory, byte: FileLogLayout.readerLockByte, role: "reader")
        directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        segmentFD = directoryFD < 0 ? -1 : Self.openSegment(directoryFD, currentName.bytes)
        var notify: Int32 = -1
        if segmentFD >= 0, follow == .inotify {
            notify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            // Watching the directory sees appends to every segment and the creation of the next.
            if notify >= 0, inotify_add_watch(notify, directory, UInt32(IN_MODIFY | IN_CREATE)) < 0 {
                Glibc.close(notify)
                notify = -1
            }
        }
        guard directoryFD >= 0, segmentFD >= 0, follow != .inotify || notify >= 0 else {
            let e = Errno(rawValue: errno)
            if segmentFD >= 0 { Glibc.close(segmentFD) }
            if directoryFD >= 0 { Glibc.close(directoryFD) }
            Glibc.close(lockFD)
            throw PodBenchError.system(
                segmentFD < 0 ? "open" : "inotify_add_watch", e,
                segmentFD < 0
                    ? "cannot open the first segment in \(directory)"
                    : "cannot watch \(directory) with inotify (fs.inotify.max_user_watches/instances?); --file-follow poll works without it"
            )
        }
        notifyFD = notify
        buffer = .allocate(byteCount: Self.bufferCapacity, alignment: 64)
        events = .allocate(byteCount: Self.eventBytes, alignment: 8)
    }

    deinit {
        close()
        buffer.deallocate()
        events.deallocate()
    }

    /// Hands out at least one byte of record bodies, at most `out.count`, waiting for the writer
    /// when it has nothing new.
    /// - Throws: `.peerClosed` at the end-of-stream record or when the writer died (saying so when
    ///   it died mid-record: that record is not data); `.integrityFailure` naming the segment and
    ///   offset of a corrupted, cut or out-of-order record; `.timeout`.
    public func receiveSome(into out: UnsafeMutableRawBufferPointer) throws -> Int {
        guard out.count > 0 else { return 0 }
        while true {
            if remaining > 0 {
                let want = min(remaining, out.count)
                var n: Int
                if end > start {
                    n = min(want, end - start)
                    out.baseAddress!.copyMemory(from: buffer + start, byteCount: n)
                    start += n
                } else if want >= Self.directReadBytes {
                    n = readSegment(out.baseAddress!, want)
                    if n < 0 {
                        try readFailed()
                        continue
                    }
                    if n == 0 {
                        try runDry()
                        continue
                    }
                    segmentOffset += n
                } else {
                    if try fill() == 0 { try runDry() }
                    continue
                }
                waitingSince = 0
                accumulator.add(UnsafeRawBufferPointer(start: out.baseAddress, count: n))
                remaining -= n
                if remaining == 0, accumulator.value != expectedChecksum {
                    throw PodBenchError(
                        .integrityFailure,
                        "the record at offset \(recordOffset) of \(segmentPath) (\(recordLength) bytes, sequence \(expectedSequence &- 1)) is corrupted: its body checksum does not match"
                    )
                }
                return n
            }
            if endOfStream { throw PodBenchError(.peerClosed, "the peer ended its stream in \(directory)") }
            if end - start < FileRecord.headerSize {
                if try fill(needing: FileRecord.headerSize) == 0 { try runDry() }
                continue
            }
            let offset = segmentOffset - (end - start)
            guard let header = FileRecord.readHeader(buffer + start) else {
                throw PodBenchError(
                    .integrityFailure, "the record header at offset \(offset) of \(segmentPath) is corrupted")
            }
            guard header.sequence == expectedSequence else {
                throw PodBenchError(
                    .integrityFailure,
                    "the record at offset \(offset) of \(segmentPath) has sequence \(header.sequence), expected \(expectedSequence): a record was \(header.sequence > expectedSequence ? "lost" : "repeated")"
                )
            }
            guard header.length <= FileRecord.maximumBody else {
                throw PodBenchError(
                    .integrityFailure, "the record at offset \(offset) of \(segmentPath) claims \(header.length) bytes")
            }
            // A body is handed out only once the whole record is in the file: what a writer that
            // died mid-record left is never read as data.
            let total = FileRecord.headerSize + header.length
            if total <= Self.bufferCapacity {
                if end - start < total {
                    if try fill(needing: total) == 0 { try runDry() }
                    continue
                }
            } else if try segmentSize() - offset < total {
                try waitForRestOfRecord(at: offset, total: total)
                continue
            }
            start += FileRecord.headerSize
            expectedSequence &+= 1
            lastTimestamp = header.timestamp
            if header.kind == .endOfStream {
                endOfStream = true
                continue
            }
            recordOffset = offset
            recordLength = header.length
            remaining = header.length
            expectedChecksum = header.bodyChecksum
            accumulator = PayloadChecksum.Accumulator()
        }
    }

    var segmentPath: String { directory + "/" + FileLogLayout.segmentName(segmentIndex) }

    /// Reads more of the segment into the buffer. Returns the bytes read (0 at its end for now).
    func fill(needing: Int = FileRecord.headerSize) throws -> Int {
        if start == end {
            start = 0
            end = 0
        } else if Self.bufferCapacity - start < needing || Self.bufferCapacity == end {
            (buffer).copyMemory(from: buffer + start, byteCount: end - start)
            end -= start
            start = 0
        }
        while true {
            let n = readSegment(buffer + end, Self.bufferCapacity - end)
            if n >= 0 {
                end += n
                segmentOffset += n
                if n > 0 { waitingSince = 0 }
                return n
            }
            try readFailed()
        }
    }

    /// read(2) of the segment, through the io_uring when there is one; -1 with errno on failure.
    @inline(__always)
    func readSegment(_ into: UnsafeMutableRawPointer, _ count: Int) -> Int {
        guard let io else { return Glibc.read(segmentFD, into, count) }
        let n = io.read(segmentFD, into, count)
        if n < 0 {
            errno = Int32(-n)
            return -1
        }
        return n
    }

    func readFailed() throws {
        let e = Errno(rawValue: errno)
        if e != .interrupted { throw PodBenchError.system("read", e, "reading \(segmentPath) failed") }
    }

    /// The segment has nothing more for now: move to the next segment if the writer started one,
    /// else wait for the writer.
    func runDry() throws {
        if faccessat(directoryFD, nextName.bytes, F_OK, 0) == 0 {
            // The writer finished this segment before it made the next: one more read sees all.
            if try fill() > 0 { return }
            guard remaining == 0, end == start else {
                throw PodBenchError(
                    .integrityFailure,
                    "the record at offset \(remaining > 0 ? recordOffset : segmentOffset - (end - start)) of \(segmentPath) is cut short, yet the writer moved on to the next segment"
                )
            }
            try nextSegment()
            return
        }
        try waitForWriter()
    }

    /// Opens a segment for reading without access-time updates where the kernel allows it (the
    /// file's owner): under relatime every read after an append dirties the inode, so each of
    /// the writer's fsyncs would commit the journal for the reader's sake.
    static let noAccessTime: Int32 = 0o1_000_000  // O_NOATIME (behind _GNU_SOURCE; the same on every Linux ABI)

    static func openSegment(_ directory: Int32, _ name: UnsafePointer<CChar>) -> Int32 {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC | noAccessTime)
        if fd < 0 && errno == EPERM { return openat(directory, name, O_RDONLY | O_CLOEXEC) }
        return fd
    }

    /// The current segment's size now.
    func segmentSize() throws -> Int {
        var st = stat()
        guard fstat(segmentFD, &st) == 0 else {
            throw PodBenchError.system("fstat", Errno(rawValue: errno), "cannot examine \(segmentPath)")
        }
        return Int(st.st_size)
    }

    /// A record larger than the buffer is not all in the file yet: wait for the writer, unless it
    /// moved on to the next segment (then the record is cut short).
    func waitForRestOfRecord(at offset: Int, total: Int) throws {
        if faccessat(directoryFD, nextName.bytes, F_OK, 0) == 0, try segmentSize() - offset < total {
            throw PodBenchError(
                .integrityFailure,
                "the record at offset \(offset) of \(segmentPath) is cut short, yet the writer moved on to the next segment"
            )
        }
        try waitForWriter()
    }

    func nextSegment() throws {
        let fd = Self.openSegment(directoryFD, nextName.bytes)
        guard fd >= 0 else {
            throw PodBenchError.system("openat", Errno(rawValue: errno), "cannot open the next segment in \(directory)")
        }
        Glibc.close(segmentFD)
        _ = unlinkat(directoryFD, currentName.bytes, 0)
        segmentFD = fd
        segmentIndex += 1
        segmentOffset = 0
        currentName.set(segmentIndex)
        nextName.set(segmentIndex + 1)
    }

    /// Sleeps until the writer may have appended (an inotify event, or the poll interval), checking
    /// now and then that the writer is alive and the wait not too long.
    func waitForWriter() throws {
        let now = MonotonicClock.now()
        if writerGone { throw writerGoneError() }
        if waitingSince == 0 {
            waitingSince = now
            lastLivenessCheck = now
        }
        if now &- lastLivenessCheck > 20_000_000 {
            lastLivenessCheck = now
            if CPodBenchLinux_byte_locked(lockFD, FileLogLayout.writerLockByte) == 0 {
                // One more look: what it wrote before it died is data.
                writerGone = true
                return
            }
            if now &- waitingSince > timeoutNanoseconds {
                throw PodBenchError(.timeout, "the peer appended nothing to \(directory) in time")
            }
        }
        switch follow {
        case .inotify:
            var entry = pollfd(fd: notifyFD, events: Int16(POLLIN), revents: 0)
            let n = poll(&entry, 1, 20)
            if n > 0 {
                while Glibc.read(notifyFD, events, Self.eventBytes) > 0 {}
            } else if n == 0 {
                lastLivenessCheck = 0  // a quiet slice: check the writer before sleeping again
            }
        case .poll(let ns):
            var request = timespec(tv_sec: Int(ns / 1_000_000_000), tv_nsec: Int(ns % 1_000_000_000))
            _ = nanosleep(&request, nil)
        case .signal:
            // Refused by `fileSettings()`: a log's writer signals nobody.
            throw PodBenchError(.invalidConfiguration, "a file log is not followed by signal")
        }
    }

    func writerGoneError() -> PodBenchError {
        if remaining > 0 {
            return PodBenchError(
                .peerClosed,
                "the writer died mid-record: the record at offset \(recordOffset) of \(segmentPath) has \(recordLength - remaining) of its \(recordLength) body bytes and is not data"
            )
        }
        if end > start {
            let offset = segmentOffset - (end - start)
            let present = ((try? segmentSize()) ?? segmentOffset) - offset
            return PodBenchError(
                .peerClosed,
                "the writer died mid-record: the record at offset \(offset) of \(segmentPath) is incomplete (\(present) bytes of it are there) and is not data"
            )
        }
        return PodBenchError(.peerClosed, "the writer of \(directory) is gone (it exited without ending its stream)")
    }

    /// Closes the segment and the watch, releasing the reader's lock.
    public func close() {
        guard !closed else { return }
        closed = true
        Glibc.close(segmentFD)
        if notifyFD >= 0 { Glibc.close(notifyFD) }
        Glibc.close(directoryFD)
        Glibc.close(lockFD)
    }
}

/// Whether another open file description holds a byte lock.
enum CPodBenchLinuxLocks {
    static func held(_ fd: Int32, byte: Int) -> Bool {
        CPodBenchLinux_byte_locked(fd, byte) == 1
    }
}
