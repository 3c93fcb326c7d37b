import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// How a content-sync publisher makes a new version visible in the shared volume.
public enum ContentPublishing: Sendable {
    /// A new directory per version, then a symlink swapped over the old one with rename(2): what
    /// git-sync and the kubelet's ConfigMap and Secret volumes (`..data`) do. A version is a set of
    /// files, all visible at once.
    case symlink
    /// A temporary file renamed over the published one: one file per version.
    case rename

    /// Files in one version: a message is split across them.
    var files: Int { self == .symlink ? ContentSyncChannel.filesPerVersion : 1 }
}

/// The `sync-symlink` and `sync-rename` transports' connection: a content-sync sidecar and the
/// container it feeds. Each message is a new version of published content in the shared volume;
/// the other side follows the volume (inotify, or polling as `--file-follow` says) and reads the
/// newest version whole. A follower sees the newest version only, as a real one does: versions
/// published before it looked are superseded, and the workloads count them as lost (a datagram
/// channel, `isDatagram`).
///
/// Every file of a version starts with a header (its version, its index and the version's file
/// count, its length, the checksum of its bytes, the version's length): the follower checks every
/// file of every version it reads against it, so that a torn file (a reader that saw a file while
/// it was being written) or a mixed version (files of two versions) is an integrity failure,
/// never taken as data. The names it opens are its own (the version directory's name is checked
/// to be one the publisher makes; no path from the volume is followed out of it), files are opened
/// without following symlinks and must be regular, and each length is checked against the room in
/// the reader's buffer before a byte is read.
public final class ContentSyncChannel: DataChannel, @unchecked Sendable {
    public static var isDatagram: Bool { true }

    /// Files in a version published by directory and symlink.
    public static let filesPerVersion = 4
    /// Versions a publisher keeps (the newest and two before it); older ones are removed after
    /// each publication, as the kubelet removes the previous version directory.
    static let keptVersions: UInt64 = 3
    static let headerSize = 48
    static let magic: UInt32 = 0x5343_4250  // "PBCS"

    let publishing: ContentPublishing
    let outbox: Int32
    let inbox: Int32
    let follow: FileFollowMode
    /// An inotify descriptor watching `inbox`, or -1 when polling.
    let notify: Int32
    /// How long a receive waits for a new version before it says `.timeout`: the loss deadline on
    /// the client's side, the peer timeout on the server's (`ContentSyncTransport.listen`).
    let receiveNanoseconds: UInt64
    var published: UInt64 = 0
    var seen: UInt64 = 0
    /// The directory this side owns and removes at close (the server's connection directory).
    let ownedDirectory: String?
    private var closed = false

    /// Following by signal (`--file-follow signal`): this thread's signalfd for the message signal
    /// (blocked in this thread), and the peer's process (the kernel's word: the reload socket's
    /// credentials) and the thread of it that follows. -1 and 0 otherwise.
    var signals: Int32 = -1
    var peerID: Int32 = 0
    var peerThread: Int32 = 0
    /// A reload signal from the peer came since the last read.
    var told = false
    let signalCodes: UnsafeMutablePointer<Int32>
    let signalValues: UnsafeMutablePointer<UInt64>
    let signalSenders: UnsafeMutablePointer<Int32>
    static let signalBatch = 16
    /// The code of a reload signal (queued codes are negative; the signal transport's are -64 to -80).
    static let reloadCode: Int32 = -96

    /// Names and buffers made once: nothing is allocated per message.
    let versionName: UnsafeMutablePointer<CChar>
    let linkTarget: UnsafeMutablePointer<CChar>
    let header: UnsafeMutableRawPointer
    let events: UnsafeMutableRawPointer
    let fileNames: [UnsafeMutablePointer<CChar>]
    static let nameCapacity = 64
    static let eventBytes = 4096

    init(
        publishing: ContentPublishing, outbox: Int32, inbox: Int32, follow: FileFollowMode, receiveNanoseconds: UInt64,
        ownedDirectory: String?
    ) throws {
        self.publishing = publishing
        self.outbox = outbox
        self.inbox = inbox
        self.follow = follow
        self.receiveNanoseconds = receiveNanoseconds
        self.ownedDirectory = ownedDirectory
        versionName = .allocate(capacity: Self.nameCapacity)
        linkTarget = .allocate(capacity: Self.nameCapacity)
        header = .allocate(byteCount: Self.headerSize, alignment: 8)
        events = .allocate(byteCount: Self.eventBytes, alignment: 8)
        signalCodes = .allocate(capacity: Self.signalBatch)
        signalValues = .allocate(capacity: Self.signalBatch)
        signalSenders = .allocate(capacity: Self.signalBatch)
        fileNames = (0..<max(Self.filesPerVersion, 1)).map { index in
            let name = "f\(index)"
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: name.utf8.count + 1)
            name.withCString { pointer.initialize(from: $0, count: name.utf8.count + 1) }
            return pointer
        }
        if follow == .inotify {
            let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
            guard fd >= 0 else {
                let e = Errno(rawValue: errno)
                notify = -1
                throw PodBenchError.system("inotify_init1", e, "cannot watch the shared volume")
            }
            // A publication ends with a rename into the directory (of the symlink or the file).
            guard inotify_add_watch(fd, "/proc/self/fd/\(inbox)", UInt32(IN_MOVED_TO)) >= 0 else {
                let e = Errno(rawValue: errno)
                Glibc.close(fd)
                notify = -1
                throw PodBenchError.system("inotify_add_watch", e, "cannot watch the shared volume")
            }
            notify = fd
        } else {
            notify = -1
        }
        if follow == .signal { signals = try SignalTransport.signalDescriptor().rawValue }
    }

    deinit {
        close()
        versionName.deallocate()
        linkTarget.deallocate()
        header.deallocate()
        events.deallocate()
        signalCodes.deallocate()
        signalValues.deallocate()
        signalSenders.deallocate()
        for name in fileNames { name.deallocate() }
    }

    // MARK: Publishing

    /// Publishes `bytes` as the next version and returns once it is visible.
    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        published &+= 1
        switch publishing {
        case .symlink: try publishDirectory(bytes, version: published)
        case .rename: try publishFile(bytes, version: published)
        }
        // Told as soon as the version is visible; the old version's removal is housekeeping after.
        if follow == .signal { try signalReload() }
        if publishing == .symlink, published > Self.keptVersions { removeVersion(published - Self.keptVersions) }
    }

    /// Tells the follower's thread that a version is out (a queued signal carrying its number).
    /// A full queue is left as it is: the follower has reloads pending and reads the newest.
    func signalReload() throws {
        _ = try SignalTransport.queue(
            process: peerID, thread: peerThread, code: Self.reloadCode, value: published, who: "the follower")
    }

    /// Writes `..vNNN/f0…f3` (the message split across them), then swaps `..data` to it (the
    /// caller then removes the version that is now `keptVersions` old).
    func publishDirectory(_ bytes: UnsafeRawBufferPointer, version: UInt64) throws {
        Self.formatVersionName(version, into: versionName)
        guard mkdirat(outbox, versionName, 0o750) == 0 else { throw Self.publishFailure("mkdir", errno) }
        let directory = openat(outbox, versionName, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directory >= 0 else { throw Self.publishFailure("open", errno) }
        defer { Glibc.close(directory) }
        let files = publishing.files
        let chunk = (bytes.count + files - 1) / files
        for index in 0..<files {
            let start = min(index * chunk, bytes.count)
            let end = min(start + chunk, bytes.count)
            try writeFile(
                in: directory, name: fileNames[index], index: index, files: files, version: version,
                part: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), total: bytes.count)
        }
        _ = unlinkat(outbox, "..data_tmp", 0)
        guard symlinkat(versionName, outbox, "..data_tmp") == 0 else { throw Self.publishFailure("symlink", errno) }
        guard renameat(outbox, "..data_tmp", outbox, "..data") == 0 else { throw Self.publishFailure("rename", errno) }
    }

    /// Writes `.current.tmp` and renames it over `current`.
    func publishFile(_ bytes: UnsafeRawBufferPointer, version: UInt64) throws {
        try writeFile(
            in: outbox, name: nil, index: 0, files: 1, version: version, part: bytes, total: bytes.count)
        guard renameat(outbox, ".current.tmp", outbox, "current") == 0 else {
            throw Self.publishFailure("rename", errno)
        }
    }

    /// One file of a version: its header, then its part of the message.
    func writeFile(
        in directory: Int32, name: UnsafeMutablePointer<CChar>?, index: Int, files: Int, version: UInt64,
        part: UnsafeRawBufferPointer, total: Int
    ) throws {
        let fd =
            name.map { openat(directory, $0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640) }
            ?? openat(directory, ".current.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Self.publishFailure("open", errno) }
        defer { Glibc.close(fd) }
        header.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: UInt16(index).littleEndian, toByteOffset: 4, as: UInt16.self)
        header.storeBytes(of: UInt16(files).littleEndian, toByteOffset: 6, as: UInt16.self)
        header.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt64.self)
        header.storeBytes(of: UInt64(part.count).littleEndian, toByteOffset: 16, as: UInt64.self)
        header.storeBytes(of: PayloadChecksum.checksum(part).littleEndian, toByteOffset: 24, as: UInt64.self)
        header.storeBytes(of: UInt64(total).littleEndian, toByteOffset: 32, as: UInt64.self)
        header.storeBytes(of: UInt64(0), toByteOffset: 40, as: UInt64.self)
        try Self.writeAll(fd, UnsafeRawBufferPointer(start: header, count: Self.headerSize))
        if part.count > 0 { try Self.writeAll(fd, part) }
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                throw publishFailure("write", n < 0 ? errno : ENOSPC)
            }
        }
    }

    /// Removes a version's directory and files (already superseded; a follower reading it then
    /// finds it gone and reads the newest instead).
    func removeVersion(_ version: UInt64) {
        Self.formatVersionName(version, into: versionName)
        let directory = openat(outbox, versionName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if directory >= 0 {
            for name in fileNames.prefix(publishing.files) { _ = unlinkat(directory, name, 0) }
            Glibc.close(directory)
        }
        _ = unlinkat(outbox, versionName, AT_REMOVEDIR)
    }

    static func publishFailure(_ call: String, _ code: Int32) -> PodBenchError {
        let e = Errno(rawValue: code)
        return PodBenchError(
            .ioFailure,
            e == .noSpace
                ? "the shared volume is full: publishing a version failed (\(call)): free space or shorten the matrix"
                : "publishing a version in the shared volume failed (\(call)): \(e)",
            cause: .init(call: call, errno: e))
    }

    /// `..v` and the version in 20 decimal digits, NUL-terminated, without allocating.
    static func formatVersionName(_ version: UInt64, into name: UnsafeMutablePointer<CChar>) {
        name[0] = 0x2E
        name[1] = 0x2E
        name[2] = 0x76
        var rest = version
        for position in stride(from: 22, through: 3, by: -1) {
            name[position] = CChar(0x30 + rest % 10)
            rest /= 10
        }
        name[23] = 0
    }

    /// The version a published directory's name stands for, or nil when it is not one.
    static func parseVersionName(_ name: UnsafeMutablePointer<CChar>, length: Int) -> UInt64? {
        guard length == 23, name[0] == 0x2E, name[1] == 0x2E, name[2] == 0x76 else { return nil }
        var value: UInt64 = 0
        for position in 3..<23 {
            let digit = Int(name[position]) - 0x30
            guard digit >= 0, digit <= 9 else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = times &+ UInt64(digit)
        }
        return value
    }

    // MARK: Following

    /// Waits for a version newer than the last one read, at most the loss deadline, and reads it
    /// whole into `buffer`.
    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let deadline = MonotonicClock.now() &+ receiveNanoseconds
        while true {
            // Followed by signal, the follower reads only when told (as an app reloads on SIGHUP).
            if follow != .signal || told {
                told = false
                if let count = try readNewest(into: buffer) { return count }
            }
            let now = MonotonicClock.now()
            guard now < deadline else {
                throw PodBenchError(.timeout, "no new version was published in time")
            }
            try waitForChange(until: deadline, now: now)
        }
    }

    /// Sleeps until the followed directory changes (inotify) or for one poll interval.
    func waitForChange(until deadline: UInt64, now: UInt64) throws {
        let left = deadline - now
        switch follow {
        case .inotify:
            var entry = pollfd(fd: notify, events: Int16(POLLIN), revents: 0)
            let n = poll(&entry, 1, Int32(min(left / 1_000_000 + 1, 1000)))
            if n < 0 && errno != EINTR {
                throw PodBenchError.system("poll", Errno(rawValue: errno), "waiting for the shared volume failed")
            }
            // Drain what came: the next look at the directory says what changed.
            while Glibc.read(notify, events, Self.eventBytes) > 0 {}
        case .poll(let interval):
            let sleep = min(interval, left)
            var request = timespec(tv_sec: Int(sleep / 1_000_000_000), tv_nsec: Int(sleep % 1_000_000_000))
            _ = nanosleep(&request, nil)
        case .signal:
            var entry = pollfd(fd: signals, events: Int16(POLLIN), revents: 0)
            let n = poll(&entry, 1, Int32(min(left / 1_000_000 + 1, 1000)))
            if n < 0 && errno != EINTR {
                throw PodBenchError.system("poll", Errno(rawValue: errno), "waiting for a reload signal failed")
            }
            takeSignals()
        }
    }

    /// Reads every pending signal; a reload from the peer's process sets `told`, the rest (a
    /// stranger's, or a late one from an earlier peer) are dropped.
    func takeSignals() {
        while true {
            let n = Int(
                CPodBenchLinux_read_signals(signals, signalCodes, signalValues, signalSenders, Int32(Self.signalBatch)))
            guard n > 0 else { return }
            for index in 0..<n where signalSenders[index] == peerID && signalCodes[index] == Self.reloadCode {
                told = true
            }
        }
    }

    /// Reads the newest version if it is newer than the last one read; nil when there is none.
    func readNewest(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        switch publishing {
        case .rename:
            let fd = openat(inbox, "current", O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw Self.readFailure("open", errno, "current")
            }
            defer { Glibc.close(fd) }
            return try readVersion(from: fd, index: 0, expecting: nil, into: buffer, at: 0)
        case .symlink:
            // A version removed while it was being read was superseded twice over: look again.
            for _ in 0..<8 {
                let length = readlinkat(inbox, "..data", linkTarget, Self.nameCapacity - 1)
                guard length >= 0 else {
                    if errno == ENOENT { return nil }
                    throw Self.readFailure("readlink", errno, "..data")
                }
                linkTarget[length] = 0
                guard let version = Self.parseVersionName(linkTarget, length: length) else {
                    throw PodBenchError(
                        .protocolViolation,
                        "..data in the shared volume points to something that is not a published version directory (\(length) bytes)"
                    )
                }
                if version <= seen { return nil }
                let directory = openat(inbox, linkTarget, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard directory >= 0 else {
                    if errno == ENOENT { continue }
                    throw Self.readFailure("open", errno, "the version directory")
                }
                defer { Glibc.close(directory) }
                if let count = try readDirectory(directory, version: version, into: buffer) { return count }
            }
            return nil
        }
    }

    /// Reads every file of version `version` in `directory`, in order, into `buffer`; nil when a
    /// file is gone (removed as superseded).
    func readDirectory(_ directory: Int32, version: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        var offset = 0
        var total = -1
        for index in 0..<publishing.files {
            let fd = openat(directory, fileNames[index], O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT { return nil }
                throw Self.readFailure("open", errno, "a version's file")
            }
            defer { Glibc.close(fd) }
            guard let count = try readVersion(from: fd, index: index, expecting: version, into: buffer, at: offset)
            else { return nil }
            if total < 0 {
                total = count
            } else if count != total {
                throw Self.torn(
                    "version \(version)'s file \(index) says the version holds \(count) bytes, file 0 says \(total)")
            }
            offset = lastEnd
            if index == publishing.files - 1 {
                guard offset == total else {
                    throw Self.torn("version \(version)'s files hold \(offset) bytes, its headers say \(total)")
                }
            }
        }
        seen = version
        return total
    }

    /// Where the last file read ended in the reader's buffer.
    var lastEnd = 0

    /// Reads one file of a version: checks its header (the version when `expecting` is given,
    /// else newer than the last one read; its index, the version's file count, lengths within the
    /// buffer), then its bytes at `offset` in `buffer`, then that nothing follows them and that
    /// their checksum matches. Returns the version's total length (nil: not newer, for `current`).
    func readVersion(
        from fd: Int32, index: Int, expecting: UInt64?, into buffer: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws -> Int? {
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw PodBenchError(.protocolViolation, "a published file in the shared volume is not a regular file")
        }
        let got = try Self.readFully(fd, into: UnsafeMutableRawBufferPointer(start: header, count: Self.headerSize))
        guard got == Self.headerSize else {
            throw Self.torn("a published file holds \(got) bytes, less than its header")
        }
        let magic = UInt32(littleEndian: header.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        let fileIndex = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 4, as: UInt16.self)))
        let files = Int(UInt16(littleEndian: header.loadUnaligned(fromByteOffset: 6, as: UInt16.self)))
        let version = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let length = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        let checksum = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        let total = UInt64(littleEndian: header.loadUnaligned(fromByteOffset: 32, as: UInt64.self))
        guard magic == Self.magic else {
            throw PodBenchError(.protocolViolation, "a published file in the shared volume is not podbench's")
        }
        if let expecting {
            guard version == expecting else {
                throw Self.torn(
                    "a mixed version: \(String(cString: fileNames[index])) of version \(expecting) holds version \(version)"
                )
            }
        } else if version <= seen {
            return nil
        }
        guard fileIndex == index, files == publishing.files else {
            throw Self.torn("version \(version)'s file \(index) says it is file \(fileIndex) of \(files)")
        }
        guard total <= UInt64(buffer.count), length <= total, UInt64(offset) + length <= total else {
            throw PodBenchError(
                .protocolViolation,
                "version \(version) says it holds \(total) bytes (this part \(length)); the reader takes at most \(buffer.count)"
            )
        }
        let part = UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<offset + Int(length)])
        let read = try Self.readFully(fd, into: part)
        guard read == Int(length) else {
            throw Self.torn("version \(version)'s file \(index) holds \(read) of the \(length) bytes its header says")
        }
        var extra: UInt8 = 0
        guard Glibc.read(fd, &extra, 1) == 0 else {
            throw Self.torn("version \(version)'s file \(index) holds more than the \(length) bytes its header says")
        }
        guard PayloadChecksum.checksum(UnsafeRawBufferPointer(part)) == checksum else {
            throw Self.torn("version \(version)'s file \(index) does not match its checksum")
        }
        lastEnd = offset + Int(length)
        if expecting == nil {
            guard lastEnd == Int(total) else {
                throw Self.torn("version \(version) holds \(lastEnd) bytes, its header says \(total)")
            }
            seen = version
        }
        return Int(total)
    }

    /// Reads until `buffer` is full or the file ends; returns how much it read.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n > 0 {
                offset += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw readFailure("read", errno, "a published file")
            }
        }
        return offset
    }

    static func torn(_ what: String) -> PodBenchError {
        PodBenchError(.integrityFailure, "a torn or mixed read of published content: \(what)")
    }

    static func readFailure(_ call: String, _ code: Int32, _ what: String) -> PodBenchError {
        let e = Errno(rawValue: code)
        return PodBenchError(
            e == .tooManySymbolicLinkLevels ? .protocolViolation : .ioFailure,
            e == .tooManySymbolicLinkLevels
                ? "\(what) in the shared volume is a symlink where a published file belongs"
                : "reading \(what) in the shared volume failed (\(call)): \(e)",
            cause: .init(call: call, errno: e))
    }

    /// The follower has nothing to tell the publisher: a peer that is gone shows as silence.
    public func shutdown() {}

    public func close() {
        guard !closed else { return }
        closed = true
        if notify >= 0 { Glibc.close(notify) }
        if signals >= 0 {
            SignalTransport.drain(FileDescriptor(rawValue: signals))
            Glibc.close(signals)
        }
        Glibc.close(outbox)
        Glibc.close(inbox)
        if let ownedDirectory { try? FileManager.default.removeItem(atPath: ownedDirectory) }
    }
}

/// Sets up `sync-symlink` and `sync-rename`: the server makes a connection directory `NAME.sync`
/// in the shared directory with one directory per direction (`c2s`, `s2c`); the client opens
/// them and marks that it has (`attached`); the server removes the whole directory at the end.
public enum ContentSyncTransport {
    /// A connection directory waiting for its client.
    public final class Listener: DataListener, @unchecked Sendable {
        public let path: String
        public var endpoint: Endpoint { .file(path: path) }
        var channel: ContentSyncChannel?
        /// Following by signal: the socket the client says hello on (`reload.sock` in the
        /// connection directory), the client's process as the control connection named it, and
        /// the thread that listened (the one that follows).
        var reload: FileDescriptor?
        let clientID: Int32
        let thread: Int32

        init(path: String, channel: ContentSyncChannel, reload: FileDescriptor? = nil, clientID: Int32 = 0) {
            self.path = path
            self.channel = channel
            self.reload = reload
            self.clientID = clientID
            thread = CPodBenchLinux_thread_id()
        }

        /// Waits until the client has opened both directions (its `attached` mark); following by
        /// signal, first for its hello on the reload socket.
        public func accept(timeoutNanoseconds: UInt64) throws -> ContentSyncChannel {
            guard let channel else {
                throw PodBenchError(.protocolViolation, "the connection directory was already handed out")
            }
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            if let reload {
                do {
                    try acceptReload(reload, for: channel, until: deadline)
                } catch {
                    close()
                    throw error
                }
            }
            while access(path + "/attached", F_OK) != 0 {
                guard MonotonicClock.now() < deadline else {
                    close()
                    throw PodBenchError(.timeout, "the client did not open \(path) in time")
                }
                usleep(200)
            }
            self.channel = nil
            return channel
        }

        /// Takes the client's hello on the reload socket: only from the process the control
        /// connection named (a stranger's connection is dropped), its following thread for ours.
        func acceptReload(_ socket: FileDescriptor, for channel: ContentSyncChannel, until deadline: UInt64) throws {
            guard CPodBenchLinux_thread_id() == thread else {
                throw PodBenchError(.ioFailure, "a channel followed by signal is accepted on the thread that listened")
            }
            while true {
                try waitForConnection(
                    on: socket, until: deadline, late: "the client did not say hello on \(path)/reload.sock in time")
                let connection = try socket.accept()
                defer { try? connection.close() }
                var pid: Int32 = 0
                guard CPodBenchLinux_peer_pid(connection.rawValue, &pid) == 0, pid == clientID else { continue }
                try connection.setIOTimeout(nanoseconds: max(deadline - min(MonotonicClock.now(), deadline), 1_000_000))
                channel.peerThread = try ContentSyncTransport.exchangeThreads(on: connection, who: "the client")
                channel.peerID = pid
                try? reload?.close()
                reload = nil
                unlink(path + "/reload.sock")
                return
            }
        }

        public func close() {
            channel?.close()
            channel = nil
            try? reload?.close()
            reload = nil
        }

        deinit { close() }
    }

    /// Sends this thread's id on a reload socket and reads the peer's (4 bytes each way, the
    /// sender's byte order: both sides are on one machine). The thread is the peer's word, checked
    /// by the kernel: a signal reaches it only when it is a thread of the process named.
    static func exchangeThreads(on socket: FileDescriptor, who: String) throws -> Int32 {
        var mine = CPodBenchLinux_thread_id()
        var sent = 0
        while sent < 4 {
            let n = try withUnsafeBytes(of: &mine) {
                try socket.send(UnsafeRawBufferPointer(rebasing: $0[sent...]))
            }
            guard n > 0 else { throw PodBenchError(.peerClosed, "\(who) closed the reload socket") }
            sent += n
        }
        var theirs: Int32 = 0
        var got = 0
        while got < 4 {
            let n: Int
            do {
                n = try withUnsafeMutableBytes(of: &theirs) {
                    try socket.receive(into: UnsafeMutableRawBufferPointer(rebasing: $0[got...]))
                }
            } catch let error as PodBenchError where error.code == .timeout {
                throw PodBenchError(.timeout, "\(who) said no hello on the reload socket in time")
            }
            guard n > 0 else { throw PodBenchError(.peerClosed, "\(who) closed the reload socket before its hello") }
            got += n
        }
        guard theirs > 0 else {
            throw PodBenchError(.protocolViolation, "\(who) named thread \(theirs) on the reload socket")
        }
        return theirs
    }

    static func openDirectory(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                e == .noSuchFileOrDirectory ? .unavailable : .ioFailure,
                "cannot open \(path): \(e); both sides must see the same shared directory",
                cause: .init(call: "open", errno: e))
        }
        return fd
    }

    /// Makes the connection directory; the server publishes into `s2c` and follows `c2s`.
    /// Following by signal, the client's process `clientID` (the kernel's word, from the control
    /// connection) must be visible here, and the client says hello on `reload.sock`.
    public static func listen(
        directory: String, name: String, publishing: ContentPublishing, follow: FileFollowMode,
        timeoutNanoseconds: UInt64, clientID: Int32? = nil
    ) throws -> Listener {
        if follow == .signal {
            guard let clientID, clientID > 0 else {
                throw PodBenchError(
                    .unavailable,
                    "the client's process is not visible from the server: following by signal needs both sides in one PID namespace (shareProcessNamespace: true; podman pod create --share +pid) and a Unix control socket"
                )
            }
        }
        let path = directory + "/" + name + ".sync"
        guard mkdir(path, 0o770) == 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError.system("mkdir", e, "cannot make \(path): check that --shared-dir is writable")
        }
        do {
            for side in ["c2s", "s2c"] {
                guard mkdir(path + "/" + side, 0o770) == 0 else {
                    throw PodBenchError.system("mkdir", Errno(rawValue: errno), "cannot make \(path)/\(side)")
                }
            }
            let inbox = try openDirectory(path + "/c2s")
            let outbox: Int32
            do { outbox = try openDirectory(path + "/s2c") } catch {
                Glibc.close(inbox)
                throw error
            }
            let channel: ContentSyncChannel
            do {
                // The server waits for the client's next version the whole peer timeout: a
                // publisher may take longer than the loss deadline to publish a large version (a
                // MiB, four files, checksummed: 100 ms and more under a sanitizer beside other
                // work). The client keeps the loss deadline: it is what a pingpong echo and an
                // end-of-trial acknowledgement wait before they count as lost or are sent again.
                channel = try ContentSyncChannel(
                    publishing: publishing, outbox: outbox, inbox: inbox, follow: follow,
                    receiveNanoseconds: timeoutNanoseconds, ownedDirectory: path)
            } catch {
                Glibc.close(inbox)
                Glibc.close(outbox)
                throw error
            }
            guard follow == .signal, let clientID else { return Listener(path: path, channel: channel) }
            do {
                let reload = try reloadSocket(in: path)
                return Listener(path: path, channel: channel, reload: reload, clientID: clientID)
            } catch {
                channel.close()
                throw error
            }
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Where a side of `path` reaches `reload.sock`: through its open directory, so that no path
    /// is too long for a socket address.
    static func reloadAddress(directory: Int32) -> SocketAddress { .unixPath("/proc/self/fd/\(directory)/reload.sock") }

    /// The server's listening socket for the client's hello, in the connection directory.
    static func reloadSocket(in path: String) throws -> FileDescriptor {
        let directory = try openDirectory(path)
        defer { Glibc.close(directory) }
        let socket = try FileDescriptor.streamSocket(family: AF_UNIX)
        do {
            try socket.bind(to: reloadAddress(directory: directory))
            try socket.listen(backlog: 4)
        } catch {
            try? socket.close()
            throw error
        }
        return socket
    }

    /// The client's hello on `reload.sock`: learns the server's process from the kernel (the
    /// socket's credentials) and swaps following threads with it.
    static func sayReloadHello(path: String, channel: ContentSyncChannel, timeoutNanoseconds: UInt64) throws {
        let directory = try openDirectory(path)
        defer { Glibc.close(directory) }
        let socket = try FileDescriptor.streamSocket(family: AF_UNIX)
        defer { try? socket.close() }
        try socket.setIOTimeout(nanoseconds: timeoutNanoseconds)
        try socket.connect(to: reloadAddress(directory: directory))
        var pid: Int32 = 0
        guard CPodBenchLinux_peer_pid(socket.rawValue, &pid) == 0, pid > 0 else {
            throw PodBenchError(
                .unavailable,
                "the server's process is not visible from the client: following by signal needs both sides in one PID namespace (shareProcessNamespace: true; podman pod create --share +pid)"
            )
        }
        channel.peerThread = try exchangeThreads(on: socket, who: "the server")
        channel.peerID = pid
    }

    /// Opens the server's connection directory `path` from the client's side and marks it taken.
    public static func connect(
        path: String, publishing: ContentPublishing, follow: FileFollowMode, timeoutNanoseconds: UInt64
    ) throws -> ContentSyncChannel {
        let inbox = try openDirectory(path + "/s2c")
        let outbox: Int32
        do { outbox = try openDirectory(path + "/c2s") } catch {
            Glibc.close(inbox)
            throw error
        }
        let channel: ContentSyncChannel
        do {
            channel = try ContentSyncChannel(
                publishing: publishing, outbox: outbox, inbox: inbox, follow: follow,
                receiveNanoseconds: DatagramChannel.lossDeadline(peerTimeoutNanoseconds: timeoutNanoseconds),
                ownedDirectory: nil)
        } catch {
            Glibc.close(inbox)
            Glibc.close(outbox)
            throw error
        }
        if follow == .signal {
            do { try sayReloadHello(path: path, channel: channel, timeoutNanoseconds: timeoutNanoseconds) } catch {
                channel.close()
                throw error
            }
        }
        let mark = open(path + "/attached", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o640)
        guard mark >= 0 else {
            let e = Errno(rawValue: errno)
            channel.close()
            throw PodBenchError(
                e == .fileExists ? .protocolViolation : .ioFailure,
                e == .fileExists ? "\(path) was already taken by another client" : "cannot mark \(path) taken: \(e)",
                cause: .init(call: "open", errno: e))
        }
        Glibc.close(mark)
        return channel
    }
}

/// What `sync-symlink` and `sync-rename` share: everything but their kind and how they publish.
public protocol ContentSyncTransportKind: Transport
where Channel == ContentSyncChannel, Listener == ContentSyncTransport.Listener {
    static var publishing: ContentPublishing { get }
}

extension ContentSyncTransportKind {
    public static var needs: String {
        "a shared volume (directory); following by signal (--file-follow signal) also a shared process namespace and a Unix control socket"
    }
    public static var optionGroups: TransportOptions.Groups { .follow }

    public static func needsProcessNamespace(_ options: TransportOptions) -> Bool {
        (try? options.followMode()) == .signal
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        ["follow": try options.followMode().description]
    }

    public static func validate(_ options: TransportOptions) throws { _ = try options.followMode() }

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws
        -> ContentSyncTransport.Listener
    {
        try place.refuseHop(for: kind, because: "the relays forward streams, not published versions")
        return try ContentSyncTransport.listen(
            directory: place.sharedDirectory, name: place.name, publishing: publishing,
            follow: try options.followMode(), timeoutNanoseconds: place.timeoutNanoseconds,
            clientID: place.peerProcess)
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> ContentSyncChannel
    {
        guard case .file(let path) = endpoint else { throw endpoint.refused(for: kind) }
        return try ContentSyncTransport.connect(
            path: path, publishing: publishing, follow: try options.followMode(),
            timeoutNanoseconds: timeoutNanoseconds)
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        ContentSyncTransport.probe(publishing, in: places.sharedDirectory)
    }
}

/// `sync-symlink`: versions published as directories behind a swapped symlink.
public enum ContentSyncSymlinkTransport: ContentSyncTransportKind {
    public typealias Channel = ContentSyncChannel
    public typealias Listener = ContentSyncTransport.Listener
    public static let kind = TransportKind.syncSymlink
    public static let publishing = ContentPublishing.symlink
}

/// `sync-rename`: each version a file renamed over the published one.
public enum ContentSyncRenameTransport: ContentSyncTransportKind {
    public typealias Channel = ContentSyncChannel
    public typealias Listener = ContentSyncTransport.Listener
    public static let kind = TransportKind.syncRename
    public static let publishing = ContentPublishing.rename
}

extension ContentSyncTransport {
    /// Publishes a version each way in the shared directory and reads it back.
    static func probe(_ publishing: ContentPublishing, in directory: String) -> (available: Bool, reason: String) {
        do {
            let listener = try listen(
                directory: directory, name: "podbench-probe-\(getpid())-sync", publishing: publishing,
                follow: .inotify, timeoutNanoseconds: 2_000_000_000)
            defer { listener.close() }
            let client = try connect(
                path: listener.path, publishing: publishing, follow: .inotify, timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            defer { server.close() }
            var message: [UInt8] = Array(repeating: 0x5A, count: 64)
            try message.withUnsafeBytes { try client.sendAll($0) }
            let count = try message.withUnsafeMutableBytes { buffer in
                buffer.initializeMemory(as: UInt8.self, repeating: 0)
                return try server.receiveSome(into: buffer)
            }
            guard count == 64, message.allSatisfy({ $0 == 0x5A }) else {
                return (false, "a published version read back as \(count) bytes, not the 64 published")
            }
            return (
                true,
                "published a version in \(directory) (\(publishing == .symlink ? "directory and symlink swap" : "rename")) and read it back, followed by inotify"
            )
        } catch {
            return (false, "\(error)")
        }
    }
}
