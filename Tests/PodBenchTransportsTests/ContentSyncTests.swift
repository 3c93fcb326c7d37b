import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Testing

/// `sync-symlink` and `sync-rename`: content published into a shared directory as content-sync
/// sidecars do it, followed and read whole by the other side.
@Suite("content-sync transports")
struct ContentSyncTests {
    static let methods: [ContentPublishing] = [.symlink, .rename]

    /// A connected pair in a fresh directory: the client publishes into `c2s`, the server follows it.
    static func pair(
        _ publishing: ContentPublishing, follow: FileFollowMode = .inotify, timeoutNanoseconds: UInt64 = 5_000_000_000
    ) throws -> (client: ContentSyncChannel, server: ContentSyncChannel, path: String) {
        let directory = NSTemporaryDirectory() + "podbench-sync-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let listener = try ContentSyncTransport.listen(
            directory: directory, name: "podbench-case", publishing: publishing, follow: follow,
            timeoutNanoseconds: timeoutNanoseconds)
        let client = try ContentSyncTransport.connect(
            path: listener.path, publishing: publishing, follow: follow, timeoutNanoseconds: timeoutNanoseconds)
        let server = try listener.accept(timeoutNanoseconds: timeoutNanoseconds)
        return (client, server, listener.path)
    }

    /// A listener in a fresh directory, for a client the test connects itself (following by
    /// signal, the server's side must stay on the thread that listened, and the client's hello
    /// waits for its accept: the two run on two threads).
    static func listener(
        _ publishing: ContentPublishing, follow: FileFollowMode, timeoutNanoseconds: UInt64 = 5_000_000_000,
        clientID: Int32? = getpid()
    ) throws -> ContentSyncTransport.Listener {
        let directory = NSTemporaryDirectory() + "podbench-sync-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return try ContentSyncTransport.listen(
            directory: directory, name: "podbench-case", publishing: publishing, follow: follow,
            timeoutNanoseconds: timeoutNanoseconds, clientID: clientID)
    }

    static func message(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// Version `number`'s message: its number, then a byte that differs from the next version's.
    static func version(_ number: UInt64, count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: number &* 31 | 1), count: count)
        withUnsafeBytes(of: number.littleEndian) { bytes.replaceSubrange(0..<8, with: $0) }
        return bytes
    }

    static func receive(_ channel: ContentSyncChannel, capacity: Int = 2 << 20) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let count = try buffer.withUnsafeMutableBytes { try channel.receiveSome(into: $0) }
        return Array(buffer.prefix(count))
    }

    @Test("1 byte to 1 MiB each way, each version read whole", arguments: methods)
    func sizes(publishing: ContentPublishing) throws {
        let (client, server, _) = try Self.pair(publishing)
        defer {
            client.close()
            server.close()
        }
        for (index, count) in [1, 3, 4, 5, 63, 4096, 65_537, 1 << 20].enumerated() {
            let out = Self.message(count, seed: UInt64(index))
            try out.withUnsafeBytes { try client.sendAll($0) }
            #expect(try Self.receive(server) == out, "\(count) bytes to the server")
            let back = Self.message(count, seed: UInt64(index) + 100)
            try back.withUnsafeBytes { try server.sendAll($0) }
            #expect(try Self.receive(client) == back, "\(count) bytes to the client")
        }
    }

    @Test("a follower sees the newest version only: the ones before it are superseded", arguments: methods)
    func superseded(publishing: ContentPublishing) throws {
        let (client, server, _) = try Self.pair(
            publishing, follow: .poll(intervalNanoseconds: 100_000), timeoutNanoseconds: 1_000_000_000)
        defer {
            client.close()
            server.close()
        }
        for seed in 1...5 { try Self.message(100, seed: UInt64(seed)).withUnsafeBytes { try client.sendAll($0) } }
        #expect(try Self.receive(server) == Self.message(100, seed: 5))
        #expect { _ = try Self.receive(server) } throws: { ($0 as? PodBenchError)?.code == .timeout }
    }

    /// The check: thousands of versions published as fast as the publisher can while the
    /// follower reads; every read is whole and of one version (the channel checks each file's
    /// header and checksum; here each message's bytes are also checked against its number), and
    /// the numbers read only grow.
    @Test(
        "thousands of versions published while the follower reads: every read whole, never mixed",
        arguments: [
            (ContentPublishing.symlink, "inotify"), (.rename, "inotify"), (.symlink, "poll"), (.rename, "poll"),
            (.symlink, "signal"), (.rename, "signal"),
        ])
    func thousandsOfVersions(publishing: ContentPublishing, follow: String) throws {
        let follow = try FileFollowMode(parsing: follow)
        let listener = try Self.listener(publishing, follow: follow)
        defer { listener.close() }
        let versions = 3000
        let path = listener.path
        let publishing = Background {
            let client = try ContentSyncTransport.connect(
                path: path, publishing: publishing, follow: follow, timeoutNanoseconds: 5_000_000_000)
            defer { client.close() }
            for number in 1...versions {
                // Sizes from 8 bytes to 64 KiB + 7, so files of a version differ in length.
                let count = 8 + (number &* 7919) % 65_536
                let bytes = Self.version(UInt64(number), count: count)
                try bytes.withUnsafeBytes { try client.sendAll($0) }
            }
        }
        let server = try listener.accept(timeoutNanoseconds: 5_000_000_000)
        defer { server.close() }
        var last: UInt64 = 0
        var reads = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        while last < UInt64(versions) {
            let count = try buffer.withUnsafeMutableBytes { try server.receiveSome(into: $0) }
            let number = buffer.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            #expect(number > last, "version \(number) after \(last)")
            #expect(
                Array(buffer.prefix(count)) == Self.version(number, count: count),
                "version \(number) is not what was published")
            last = number
            reads += 1
        }
        try publishing.wait()
        #expect(reads > 1)
    }

    /// A publisher killed at any step of a publication leaves the last whole version visible: what
    /// it leaves is the versions it finished and one it had not swapped in (a directory with some
    /// files, one of them half written, and the temporary symlink; or the temporary file).
    @Test("a publisher killed mid-publication leaves the last whole version visible", arguments: methods)
    func killedPublisher(publishing: ContentPublishing) throws {
        let (client, server, path) = try Self.pair(publishing)
        defer { server.close() }
        for seed in 1...4 { try Self.message(5000, seed: UInt64(seed)).withUnsafeBytes { try client.sendAll($0) } }
        client.close()
        let inbox = path + "/c2s"
        switch publishing {
        case .symlink:
            let unfinished = inbox + "/..v00000000000000000005"
            try FileManager.default.createDirectory(atPath: unfinished, withIntermediateDirectories: false)
            try Data(Self.message(48 + 1250, seed: 5)).write(to: URL(fileURLWithPath: unfinished + "/f0"))
            try Data(Self.message(700, seed: 6)).write(to: URL(fileURLWithPath: unfinished + "/f1"))  // half written
            #expect(symlink("..v00000000000000000005", inbox + "/..data_tmp") == 0)
        case .rename:
            try Data(Self.message(3000, seed: 5)).write(to: URL(fileURLWithPath: inbox + "/.current.tmp"))
        }
        #expect(try Self.receive(server) == Self.message(5000, seed: 4))
    }

    @Test("a silent publisher is a timeout after the loss deadline, not a hang", arguments: methods)
    func silence(publishing: ContentPublishing) throws {
        let (client, server, _) = try Self.pair(publishing, timeoutNanoseconds: 100_000_000)
        defer {
            client.close()
            server.close()
        }
        #expect { _ = try Self.receive(server) } throws: { ($0 as? PodBenchError)?.code == .timeout }
    }

    /// Writes a file of the published format by hand: a hostile or broken publisher.
    static func header(
        index: UInt16, files: UInt16, version: UInt64, length: UInt64, checksum: UInt64, total: UInt64
    ) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: UInt32(0x5343_4250).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: index.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: files.littleEndian) { bytes += $0 }
        for word in [version, length, checksum, total, 0] { withUnsafeBytes(of: word.littleEndian) { bytes += $0 } }
        return bytes
    }

    static func file(version: UInt64, part: [UInt8], total: Int, index: UInt16 = 0, files: UInt16 = 1) -> [UInt8] {
        let sum = part.withUnsafeBytes { PayloadChecksum.checksum($0) }
        return header(
            index: index, files: files, version: version, length: UInt64(part.count), checksum: sum,
            total: UInt64(total)) + part
    }

    @Test(
        "hostile or broken content is refused: a torn file, a mixed version, lengths past the buffer, links out, special files"
    )
    func hostileContent() throws {
        let part = Self.message(100, seed: 9)
        let good = Self.file(version: 1, part: part, total: 100)
        var torn = good
        torn[60] ^= 0xFF
        let cases: [(String, PodBenchError.Code, (String) throws -> Void)] = [
            (
                "a torn file (checksum)", .integrityFailure,
                { try Data(torn).write(to: URL(fileURLWithPath: $0 + "/current")) }
            ),
            (
                "a file shorter than its header says", .integrityFailure,
                {
                    try Data(good.dropLast(10)).write(to: URL(fileURLWithPath: $0 + "/current"))
                }
            ),
            (
                "a file longer than its header says", .integrityFailure,
                {
                    try Data(good + [1]).write(to: URL(fileURLWithPath: $0 + "/current"))
                }
            ),
            (
                "a length past the reader's buffer", .protocolViolation,
                {
                    let big = Self.header(index: 0, files: 1, version: 1, length: 1 << 40, checksum: 0, total: 1 << 40)
                    try Data(big + part).write(to: URL(fileURLWithPath: $0 + "/current"))
                }
            ),
            (
                "not podbench's format", .protocolViolation,
                {
                    try Data(Self.message(200, seed: 1)).write(to: URL(fileURLWithPath: $0 + "/current"))
                }
            ),
            ("a symlink where the file belongs", .protocolViolation, { _ = symlink("/etc/passwd", $0 + "/current") }),
            ("a FIFO where the file belongs", .protocolViolation, { _ = mkfifo($0 + "/current", 0o600) }),
        ]
        for (name, code, plant) in cases {
            let (client, server, path) = try Self.pair(.rename, timeoutNanoseconds: 400_000_000)
            defer {
                client.close()
                server.close()
            }
            try plant(path + "/c2s")
            #expect(Comment(rawValue: name)) { _ = try Self.receive(server, capacity: 4096) } throws: {
                ($0 as? PodBenchError)?.code == code
            }
        }
        // The symlink form: ..data pointing out of the directory, and a version of mixed files.
        let symlinkCases: [(String, PodBenchError.Code, (String) throws -> Void)] = [
            ("..data pointing out of the directory", .protocolViolation, { _ = symlink("../../etc", $0 + "/..data") }),
            (
                "a mixed version", .integrityFailure,
                { inbox in
                    let directory = inbox + "/..v00000000000000000001"
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
                    for index in 0..<4 {
                        let slice = Array(part[(index * 25)..<(index * 25 + 25)])
                        let version: UInt64 = index == 2 ? 7 : 1
                        try Data(Self.file(version: version, part: slice, total: 100, index: UInt16(index), files: 4))
                            .write(to: URL(fileURLWithPath: directory + "/f\(index)"))
                    }
                    _ = symlink("..v00000000000000000001", inbox + "/..data")
                }
            ),
        ]
        for (name, code, plant) in symlinkCases {
            let (client, server, path) = try Self.pair(.symlink, timeoutNanoseconds: 400_000_000)
            defer {
                client.close()
                server.close()
            }
            try plant(path + "/c2s")
            #expect(Comment(rawValue: name)) { _ = try Self.receive(server, capacity: 4096) } throws: {
                ($0 as? PodBenchError)?.code == code
            }
        }
    }

    /// Following by signal, the follower reads when the publisher signals, not when the volume
    /// changes: a version put there without a signal stays unread until the next signal.
    @Test("followed by signal: a version is read when the publisher signals, not before")
    func readsWhenTold() throws {
        let listener = try Self.listener(.rename, follow: .signal, timeoutNanoseconds: 400_000_000)
        defer { listener.close() }
        let path = listener.path
        let next = DispatchSemaphore(value: 0)
        let publisher = Background {
            let client = try ContentSyncTransport.connect(
                path: path, publishing: .rename, follow: .signal, timeoutNanoseconds: 5_000_000_000)
            defer { client.close() }
            try Self.message(300, seed: 1).withUnsafeBytes { try client.sendAll($0) }
            next.wait()
            try Self.message(300, seed: 3).withUnsafeBytes { try client.sendAll($0) }
        }
        let server = try listener.accept(timeoutNanoseconds: 5_000_000_000)
        defer { server.close() }
        #expect(try Self.receive(server) == Self.message(300, seed: 1))
        // Version 2 appears with no signal: a follower by signal does not look.
        let part = Self.message(300, seed: 2)
        try Data(Self.file(version: 2, part: part, total: 300)).write(to: URL(fileURLWithPath: path + "/c2s/.tmp"))
        #expect(rename(path + "/c2s/.tmp", path + "/c2s/current") == 0)
        #expect { _ = try Self.receive(server) } throws: { ($0 as? PodBenchError)?.code == .timeout }
        // The publisher's next version comes with its signal and is what the follower reads.
        next.signal()
        #expect(try Self.receive(server) == Self.message(300, seed: 3))
        try publisher.wait()
    }

    @Test("followed by signal: refused without the client's process; a stranger's hello is dropped")
    func signalRefusals() throws {
        #expect {
            _ = try Self.listener(.rename, follow: .signal, clientID: nil)
        } throws: { error in
            let error = error as? PodBenchError
            return error?.code == .unavailable && error?.message.contains("shareProcessNamespace") == true
        }
        // The server expects another process (its parent): this one's hello is not taken.
        let listener = try Self.listener(
            .symlink, follow: .signal, timeoutNanoseconds: 300_000_000, clientID: getppid())
        defer { listener.close() }
        let path = listener.path
        let stranger = Background {
            #expect {
                _ = try ContentSyncTransport.connect(
                    path: path, publishing: .symlink, follow: .signal, timeoutNanoseconds: 5_000_000_000)
            } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        }
        #expect { _ = try listener.accept(timeoutNanoseconds: 300_000_000) } throws: {
            ($0 as? PodBenchError)?.code == .timeout
        }
        try stranger.wait()
        // A file log is not followed by signal.
        #expect { _ = try TransportOptions(follow: "signal").fileSettings() } throws: {
            ($0 as? PodBenchError)?.message.contains("content-sync") == true
        }
    }

    @Test("probe publishes and reads back a version in the shared directory")
    func probe() {
        for transport in [ContentSyncSymlinkTransport.probe, ContentSyncRenameTransport.probe] {
            let (available, reason) = transport(
                ProbePlaces(sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: "/dev/shm"))
            #expect(available, "\(reason)")
        }
    }
}
