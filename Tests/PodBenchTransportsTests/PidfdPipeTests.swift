import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import SystemPackage
import Testing

/// `pidfd-pipe`: pipes taken out of the server's process with pidfd_getfd. In one process the
/// client takes them out of its own (the same system calls); across processes and containers the
/// end-to-end tests run it.
@Suite("pidfd-pipe transport")
struct PidfdPipeTests {
    static func place() -> ListenPlace {
        ListenPlace(
            name: "podbench-pidfd", sharedDirectory: NSTemporaryDirectory(),
            sharedMemoryDirectory: NSTemporaryDirectory(), timeoutNanoseconds: 5_000_000_000)
    }

    /// A connected pair, the client having taken its ends out of this process.
    static func pair() throws -> (client: FIFOChannel, server: FIFOChannel) {
        let listener = try PidfdPipeTransport.listen(TransportOptions(), at: place())
        let client = try PidfdPipeTransport.connect(
            to: listener.endpoint, options: TransportOptions(), timeoutNanoseconds: 5_000_000_000)
        let server = try listener.accept(timeoutNanoseconds: 5_000_000_000)
        return (client, server)
    }

    /// Sends `count` bytes from `from` while `to` reads them on this thread; checks every byte.
    static func move(_ count: Int, from: FIFOChannel, to: FIFOChannel, seed: UInt8) throws {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed }
        let sending = Background { try bytes.withUnsafeBytes { try from.sendAll($0) } }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 8)
        defer { buffer.deallocate() }
        var received = 0
        while received < count {
            received += try to.receiveSome(into: UnsafeMutableRawBufferPointer(rebasing: buffer[received...]))
        }
        try sending.wait()
        #expect(Array(buffer) == bytes, "\(count) bytes")
    }

    @Test("1 byte to 4 MiB each way intact, through the pipes the client took")
    func sizes() throws {
        let (client, server) = try Self.pair()
        defer {
            client.close()
            server.close()
        }
        for count in [1, 63, 4096, 65_537, 1 << 20, 4 << 20] {
            try Self.move(count, from: client, to: server, seed: 1)
            try Self.move(count, from: server, to: client, seed: 2)
        }
    }

    @Test("either side gone is end of stream for the other: the server dropped its copies of the client's ends")
    func endOfStream() throws {
        var (client, server) = try Self.pair()
        client.close()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 8)
        defer { buffer.deallocate() }
        #expect(throws: PodBenchError.self) { _ = try server.receiveSome(into: buffer) }
        server.close()
        (client, server) = try Self.pair()
        server.close()
        #expect { _ = try client.receiveSome(into: buffer) } throws: {
            ($0 as? PodBenchError)?.code == .peerClosed
        }
        client.close()
    }

    @Test("a client that never takes the pipes times out, and everything is closed")
    func silentClient() throws {
        let listener = try PidfdPipeTransport.listen(TransportOptions(), at: Self.place())
        let pipes = try Self.pipes(of: listener)
        #expect(Self.descriptors(onto: pipes) == 4)
        #expect { _ = try listener.accept(timeoutNanoseconds: 50_000_000) } throws: {
            ($0 as? PodBenchError)?.code == .timeout
        }
        listener.close()
        #expect(Self.descriptors(onto: pipes) == 0)
    }

    /// A hostile server names descriptors that are not its pipes: refused, nothing kept.
    @Test("descriptors that are not the client's two pipe ends are refused, and none is kept")
    func hostileDescriptors() throws {
        let listener = try PidfdPipeTransport.listen(TransportOptions(), at: Self.place())
        defer { listener.close() }
        guard case .process(let pid, let ends) = listener.endpoint else {
            Issue.record("not a process endpoint")
            return
        }
        let socket = try FileDescriptor.open("/dev/null", .readWrite)
        defer { try? socket.close() }
        let pipes = try Self.pipes(of: listener)
        for (descriptors, code) in [
            ([ends[1], ends[0]], PodBenchError.Code.protocolViolation),  // the wrong way round
            ([ends[0], ends[0]], .protocolViolation),  // one end twice
            ([ends[0]], .protocolViolation),  // one only
            ([ends[0], socket.rawValue], .protocolViolation),  // not a pipe
            ([ends[0], 999_999], .protocolViolation),  // not held
            ([ends[0], -1], .protocolViolation),
        ] {
            #expect("\(descriptors)") {
                _ = try PidfdPipeTransport.connect(
                    pid: pid, descriptors: descriptors, timeoutNanoseconds: 1_000_000_000)
            } throws: { ($0 as? PodBenchError)?.code == code }
        }
        // A process that is gone.
        #expect {
            _ = try PidfdPipeTransport.connect(pid: Int32.max, descriptors: ends, timeoutNanoseconds: 1_000_000_000)
        } throws: { ($0 as? PodBenchError)?.code == .peerClosed }
        #expect(Self.descriptors(onto: pipes) == 4, "a refused connect kept a descriptor it took")
        // An endpoint of another kind.
        #expect(throws: PodBenchError.self) {
            _ = try PidfdPipeTransport.connect(
                to: .fifo(base: "/tmp/x"), options: TransportOptions(), timeoutNanoseconds: 1_000_000_000)
        }
    }

    @Test("no hop: a relay cannot take descriptors out of a process")
    func noHop() {
        var place = Self.place()
        place.hopTarget = .socket(address: .unixPath("/tmp/relay.sock"))
        #expect { _ = try PidfdPipeTransport.listen(TransportOptions(), at: place) } throws: {
            ($0 as? PodBenchError)?.code == .unavailable
        }
    }

    @Test("probe takes a pipe out of this process and says what another container needs")
    func probe() {
        let (available, reason) = PidfdPipeTransport.probe(
            ProbePlaces(sharedDirectory: NSTemporaryDirectory(), sharedMemoryDirectory: "/dev/shm"))
        #expect(available, "\(reason)")
        #expect(reason.contains("shareProcessNamespace"))
    }

    /// The two pipes a listener made, as (device, inode).
    static func pipes(of listener: PidfdPipeTransport.Listener) throws -> Set<[UInt64]> {
        guard case .process(_, let ends) = listener.endpoint else { throw PodBenchError(.protocolViolation, "no") }
        return Set(ends.map { identity(of: "/proc/self/fd/\($0)") }.compactMap { $0 })
    }

    static func identity(of path: String) -> [UInt64]? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return [UInt64(status.st_dev), UInt64(status.st_ino)]
    }

    /// How many of this process's descriptors refer to `pipes` (by inode: other tests running
    /// beside this one open and close descriptors of their own).
    static func descriptors(onto pipes: Set<[UInt64]>) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.filter { identity(of: "/proc/self/fd/" + $0).map(pipes.contains) ?? false }.count
    }
}
