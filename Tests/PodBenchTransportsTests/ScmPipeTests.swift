import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import SystemPackage
import Testing

/// `scm-pipe`: `pidfd-pipe`'s pipes passed to the client over a Unix socket with SCM_RIGHTS.
@Suite("scm-pipe transport")
struct ScmPipeTests {
    init() { signal(SIGPIPE, SIG_IGN) }

    static func directory() throws -> String {
        let directory = NSTemporaryDirectory() + "podbench-scm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    static func place(_ directory: String, timeout: UInt64 = 5_000_000_000) -> ListenPlace {
        ListenPlace(
            name: "podbench-scm", sharedDirectory: directory, sharedMemoryDirectory: directory,
            timeoutNanoseconds: timeout)
    }

    /// A connected pair: the server hands over on a thread of its own while the client connects.
    static func pair(in directory: String) throws -> (client: FIFOChannel, server: FIFOChannel) {
        let listener = try ScmPipeTransport.listen(TransportOptions(), at: place(directory))
        nonisolated(unsafe) var server: FIFOChannel?
        let accepting = Background { server = try listener.accept(timeoutNanoseconds: 5_000_000_000) }
        let client = try ScmPipeTransport.connect(
            to: listener.endpoint, options: TransportOptions(), timeoutNanoseconds: 5_000_000_000)
        try accepting.wait()
        return (client, try #require(server))
    }

    @Test("1 byte to 4 MiB each way intact through the passed pipes; the socket is gone once used")
    func sizes() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (client, server) = try Self.pair(in: directory)
        defer {
            client.close()
            server.close()
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
        for count in [1, 63, 4096, 65_537, 1 << 20, 4 << 20] {
            try PidfdPipeTests.move(count, from: client, to: server, seed: 1)
            try PidfdPipeTests.move(count, from: server, to: client, seed: 2)
        }
    }

    @Test("a client that connects and never announces is a timeout; nothing is left in the directory")
    func silentClient() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try ScmPipeTransport.listen(TransportOptions(), at: Self.place(directory))
        let socket = try FileDescriptor.streamSocket(family: AF_UNIX)
        defer { try? socket.close() }
        guard case .socket(let address) = listener.endpoint else {
            Issue.record("not a socket endpoint: \(listener.endpoint)")
            return
        }
        try socket.connect(to: address)
        #expect { _ = try listener.accept(timeoutNanoseconds: 200_000_000) } throws: {
            ($0 as? PodBenchError)?.code == .timeout
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    /// The other container's server, written here: it answers the client's connection with
    /// whatever it likes. Each is refused with a protocol violation and no descriptor it sent stays
    /// open in the client.
    @Test("a hostile server's hand-over is refused and leaks nothing")
    func hostileServer() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var good: [Int32] = [-1, -1]
        var other: [Int32] = [-1, -1]
        #expect(pipe(&good) == 0 && pipe(&other) == 0)
        let file = open(directory + "/plain", O_RDWR | O_CREAT, 0o600)
        defer { for fd in good + other + [file] { Glibc.close(fd) } }
        // Counted by inode: other tests running beside this one open and close descriptors.
        let sent = Set((good + other + [file]).compactMap { PidfdPipeTests.identity(of: "/proc/self/fd/\($0)") })
        let cases: [(String, [Int32], UInt8)] = [
            ("no descriptor, a byte only", [], 0x53),
            ("one descriptor", [good[1]], 0x53),
            ("three descriptors", [good[1], good[0], other[0]], 0x53),
            ("the two ends swapped", [good[0], good[1]], 0x53),
            ("two ends of one pipe's writing side", [good[1], good[1]], 0x53),
            ("a file where a pipe belongs", [file, good[0]], 0x53),
            ("the wrong byte", [good[1], other[0]], 0x01),
        ]
        let before = PidfdPipeTests.descriptors(onto: sent)
        for (index, (name, fds, byte)) in cases.enumerated() {
            let path = directory + "/hostile-\(index).scm"
            let listening = try FileDescriptor.streamSocket(family: AF_UNIX)
            defer { try? listening.close() }
            try listening.bind(to: .unixPath(path))
            try listening.listen(backlog: 1)
            let serving = Background {
                let connection = try listening.accept()
                defer { try? connection.close() }
                if fds.isEmpty {
                    var one = byte
                    _ = Glibc.send(connection.rawValue, &one, 1, 0)
                } else {
                    #expect(CPodBenchLinux_send_descriptors(connection.rawValue, fds, Int32(fds.count), byte) == 0)
                }
                var rest: UInt8 = 0
                _ = Glibc.recv(connection.rawValue, &rest, 1, 0)  // until the client is done
            }
            #expect(Comment(rawValue: name)) {
                _ = try ScmPipeTransport.connect(path: path, timeoutNanoseconds: 2_000_000_000)
            } throws: { ($0 as? PodBenchError)?.code == .protocolViolation }
            try serving.wait()
        }
        let after = PidfdPipeTests.descriptors(onto: sent)
        #expect(after == before, "descriptors open: \(before) before, \(after) after")
        // A server that closes without passing anything is the peer gone, not a hang.
        let path = directory + "/closing.scm"
        let listening = try FileDescriptor.streamSocket(family: AF_UNIX)
        defer { try? listening.close() }
        try listening.bind(to: .unixPath(path))
        try listening.listen(backlog: 1)
        let closing = Background { try listening.accept().close() }
        #expect { _ = try ScmPipeTransport.connect(path: path, timeoutNanoseconds: 2_000_000_000) } throws: {
            ($0 as? PodBenchError)?.code == .peerClosed
        }
        try closing.wait()
    }

    @Test("no hop: the relays do not pass descriptors")
    func noHop() throws {
        var place = Self.place(NSTemporaryDirectory())
        place.hopTarget = .socket(address: .unixPath("/tmp/x.sock"))
        #expect { _ = try ScmPipeTransport.listen(TransportOptions(), at: place) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable
        }
    }

    @Test("probe passes a pipe pair and times it against pidfd-pipe's taking")
    func probe() {
        let (available, reason) = ScmPipeTransport.probe(
            ProbePlaces(sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: "/dev/shm"))
        #expect(available, "\(reason)")
        #expect(reason.contains("µs (median)") && reason.contains("pidfd-pipe took one in"), "\(reason)")
    }
}
