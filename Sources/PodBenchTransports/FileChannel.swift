import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// The `file` transport's connection: each side appends records to its own direction's files in
/// the shared directory and follows the other's, as a log-shipping sidecar follows an app's log.
public final class FileChannel: DataChannel, @unchecked Sendable {
    let writer: FileLogWriter
    let reader: FileLogReader
    /// The connection's directory, removed on close by the side that made it.
    let ownedDirectory: String?
    private var closed = false

    init(writer: FileLogWriter, reader: FileLogReader, ownedDirectory: String?) {
        self.writer = writer
        self.reader = reader
        self.ownedDirectory = ownedDirectory
    }

    deinit { close() }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        try writer.append(bytes)
    }

    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try reader.receiveSome(into: buffer)
    }

    /// Appends the end-of-stream record: the peer sees end of stream at its next read.
    public func shutdown() {
        try? writer.finish()
    }

    public func close() {
        guard !closed else { return }
        closed = true
        shutdown()
        writer.close()
        reader.close()
        if let ownedDirectory { FileTransport.removeConnectionDirectory(ownedDirectory) }
    }
}

/// Sets up the `file` transport: the server makes a directory `NAME.file` in the shared directory
/// with one subdirectory per direction (`c2s`, `s2c`), each with its lock file and first segment;
/// the client opens them; the server removes the whole directory when the case ends.
public enum FileTransport {
    /// What both sides need to know about a `file` case.
    public struct Settings: Hashable, Sendable {
        public var follow: FileFollowMode
        public var sync: FileSyncMode
        public var segmentBytes: Int

        public init(follow: FileFollowMode, sync: FileSyncMode, segmentBytes: Int) {
            self.follow = follow
            self.sync = sync
            self.segmentBytes = segmentBytes
        }
    }

    /// A connection directory waiting for its client.
    public final class Listener: DataListener, @unchecked Sendable {
        public let path: String
        public var endpoint: Endpoint { .file(path: path) }
        var channel: FileChannel?

        init(path: String, channel: FileChannel) {
            self.path = path
            self.channel = channel
        }

        /// Waits until the client holds both its locks (it opened its writer and its reader).
        public func accept(timeoutNanoseconds: UInt64) throws -> FileChannel {
            guard let channel else {
                throw PodBenchError(.protocolViolation, "the file connection was already handed out")
            }
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            while !channel.clientAttached() {
                guard MonotonicClock.now() < deadline else {
                    close()
                    throw PodBenchError(.timeout, "the client did not open the files in \(path) in time")
                }
                usleep(200)
            }
            self.channel = nil
            return channel
        }

        /// Removes the directory if the case ends before the client came.
        public func close() {
            channel?.close()
            channel = nil
        }

        deinit { close() }
    }

    /// Makes the connection directory and opens the server's reader (c2s) and writer (s2c).
    public static func listen(
        directory: String, name: String, settings: Settings, timeoutNanoseconds: UInt64,
        io: (any FileIOEngine)? = nil
    ) throws -> Listener {
        let path = directory + "/" + name + ".file"
        guard mkdir(path, 0o770) == 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError.system("mkdir", e, "cannot make \(path): check that --shared-dir is writable")
        }
        do {
            try FileLogLayout.create(path + "/c2s")
            try FileLogLayout.create(path + "/s2c")
            let reader = try FileLogReader(
                directory: path + "/c2s", follow: settings.follow, timeoutNanoseconds: timeoutNanoseconds, io: io)
            let writer: FileLogWriter
            do {
                writer = try FileLogWriter(
                    directory: path + "/s2c", segmentLimit: settings.segmentBytes, sync: settings.sync,
                    timeoutNanoseconds: timeoutNanoseconds, io: io)
            } catch {
                reader.close()
                throw error
            }
            return Listener(path: path, channel: FileChannel(writer: writer, reader: reader, ownedDirectory: path))
        } catch {
            removeConnectionDirectory(path)
            throw error
        }
    }

    /// Opens the server's connection directory from the client's side.
    public static func connect(
        path: String, settings: Settings, timeoutNanoseconds: UInt64, io: (any FileIOEngine)? = nil
    ) throws -> FileChannel {
        let reader = try FileLogReader(
            directory: path + "/s2c", follow: settings.follow, timeoutNanoseconds: timeoutNanoseconds, io: io)
        do {
            let writer = try FileLogWriter(
                directory: path + "/c2s", segmentLimit: settings.segmentBytes, sync: settings.sync,
                timeoutNanoseconds: timeoutNanoseconds, io: io)
            return FileChannel(writer: writer, reader: reader, ownedDirectory: nil)
        } catch {
            reader.close()
            throw error
        }
    }

    /// The newest connection directory in `directory` that no client has opened or written yet and
    /// whose maker is alive:
    /// where a client of a relay that makes its connections in one fixed directory connects (the
    /// previous case's directory may still be there, written and being removed).
    public static func freshConnection(in directory: String) -> String? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        for name in names.filter({ $0.hasSuffix(".file") }).sorted(by: >) {
            let c2s = directory + "/" + name + "/c2s"
            guard let files = try? FileManager.default.contentsOfDirectory(atPath: c2s),
                files.filter({ $0 != FileLogLayout.lockFileName }) == [FileLogLayout.segmentName(0)]
            else { continue }
            var info = stat()
            guard stat(c2s + "/" + FileLogLayout.segmentName(0), &info) == 0, info.st_size == 0 else { continue }
            let fd = open(c2s + "/" + FileLogLayout.lockFileName, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { Glibc.close(fd) }
            // No client writes it yet, and its maker still reads it (not left by a killed one).
            if CPodBenchLinux_byte_locked(fd, FileLogLayout.writerLockByte) == 0,
                CPodBenchLinux_byte_locked(fd, FileLogLayout.readerLockByte) != 0
            {
                return directory + "/" + name
            }
        }
        return nil
    }

    /// Removes connection directories in `directory` that no live server holds (left by a server
    /// that was killed): one whose server-side locks (reader of c2s, writer of s2c) are both free,
    /// and that has not changed for `minimumAgeSeconds`. Another server sharing the directory may
    /// be making one right now: between creating its lock files and taking its locks, a directory
    /// is unheld, and a clean-up at that moment would delete a live connection (seen with two
    /// servers on one /tmp). A leftover is old; the next start removes it.
    /// - Returns: the paths removed.
    @discardableResult
    public static func removeStaleConnections(
        in directory: String, prefix: String = "podbench-", minimumAgeSeconds: Int = 60
    ) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var removed: [String] = []
        let now = time(nil)
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".file") {
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { continue }
            if Int(now - max(info.st_mtim.tv_sec, info.st_ctim.tv_sec)) < minimumAgeSeconds { continue }
            let held = [("c2s", FileLogLayout.readerLockByte), ("s2c", FileLogLayout.writerLockByte)].contains {
                let fd = open(path + "/" + $0.0 + "/" + FileLogLayout.lockFileName, O_RDONLY | O_CLOEXEC)
                // A directory without its lock files yet is being made right now: leave it.
                guard fd >= 0 else { return errno == ENOENT }
                defer { Glibc.close(fd) }
                return CPodBenchLinux_byte_locked(fd, $0.1) != 0
            }
            if !held {
                removeConnectionDirectory(path)
                removed.append(path)
            }
        }
        return removed
    }

    /// Removes a connection directory and everything in it.
    static func removeConnectionDirectory(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}

extension FileChannel {
    /// Whether the client side holds its writer's lock (c2s) and its reader's lock (s2c).
    func clientAttached() -> Bool {
        CPodBenchLinuxLocks.held(reader.lockFD, byte: FileLogLayout.writerLockByte)
            && CPodBenchLinuxLocks.held(writer.lockFD, byte: FileLogLayout.readerLockByte)
    }
}

extension FileTransport: Transport {
    public static let kind = TransportKind.file
    public static let needs = "a shared volume (directory)"
    public static let optionGroups: TransportOptions.Groups = [.fileLog, .follow]

    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.fsyncVariants(lists)
    }

    public static func validate(_ options: TransportOptions) throws { _ = try options.fileSettings() }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        try options.fileLogKeyOptions()
    }

    /// The connection directory in `--shared-dir` (or the hop's `file:DIR`).
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try listen(
            directory: try place.directory(for: kind, otherwise: place.sharedDirectory), name: place.name,
            settings: try options.fileSettings(), timeoutNanoseconds: place.timeoutNanoseconds)
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> FileChannel
    {
        try connect(to: endpoint, kind: kind, options: options, timeoutNanoseconds: timeoutNanoseconds, io: nil)
    }

    /// Opens the connection directory `endpoint` names, its files through `io` when given.
    public static func connect(
        to endpoint: Endpoint, kind: TransportKind, options: TransportOptions, timeoutNanoseconds: UInt64,
        io: (any FileIOEngine)?
    ) throws -> FileChannel {
        guard case .file(let path) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(
            path: path, settings: try options.fileSettings(), timeoutNanoseconds: timeoutNanoseconds, io: io)
    }

    /// The fresh connection directory in `directory` (`file:DIR`): nobody has opened or written it.
    public static func waitingEndpoints(in directory: String) -> [Endpoint] {
        freshConnection(in: directory).map { [.file(path: $0)] } ?? []
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        TransportProbe.probeFile(sharedDirectory: places.sharedDirectory)
    }
}
