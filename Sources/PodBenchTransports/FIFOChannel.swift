import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// The `fifo` transport's connection: two named pipes in the shared directory, one each way.
/// Pipes have no SO_RCVTIMEO, so the descriptors are non-blocking and a side that would block
/// waits in `poll(2)` with the peer timeout: no cost while data flows, bounded when it stops.
public final class FIFOChannel: DataChannel, @unchecked Sendable {
    let input: FileDescriptor
    let output: FileDescriptor
    let timeoutMilliseconds: Int32
    private var closed = false

    init(input: FileDescriptor, output: FileDescriptor, timeoutNanoseconds: UInt64) {
        self.input = input
        self.output = output
        timeoutMilliseconds = Int32(min(timeoutNanoseconds / 1_000_000, UInt64(Int32.max)))
    }

    deinit { close() }

    /// Waits until `fd` is ready for `events` (`poll(2)`), at most the peer timeout.
    func wait(_ fd: FileDescriptor, for events: Int16, what: String) throws {
        var entry = pollfd(fd: fd.rawValue, events: events, revents: 0)
        while true {
            let n = poll(&entry, 1, timeoutMilliseconds)
            if n > 0 { return }
            if n == 0 { throw PodBenchError(.timeout, "the peer \(what) nothing through its FIFO in time") }
            let e = Errno(rawValue: errno)
            if e != .interrupted { throw PodBenchError.system("poll", e, "waiting on a FIFO failed") }
        }
    }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(output.rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
                continue
            }
            let e = Errno(rawValue: errno)
            switch e {
            case .resourceTemporarilyUnavailable: try wait(output, for: Int16(POLLOUT), what: "took")
            case .interrupted: continue
            case .brokenPipe: throw PodBenchError(.peerClosed, "the peer closed its end of the FIFO")
            default: throw PodBenchError.system("write", e, "writing to the FIFO failed")
            }
        }
    }

    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.read(input.rawValue, buffer.baseAddress, buffer.count)
            if n > 0 { return n }
            if n == 0 { throw PodBenchError(.peerClosed, "the peer closed its end of the FIFO") }
            let e = Errno(rawValue: errno)
            switch e {
            case .resourceTemporarilyUnavailable: try wait(input, for: Int16(POLLIN), what: "sent")
            case .interrupted: continue
            default: throw PodBenchError.system("read", e, "reading from the FIFO failed")
            }
        }
    }

    /// Closes the writing end, so that the peer reads end of stream.
    public func shutdown() {
        closeOutput()
    }

    private var outputClosed = false
    private func closeOutput() {
        guard !outputClosed else { return }
        outputClosed = true
        try? output.close()
    }

    public func close() {
        guard !closed else { return }
        closed = true
        closeOutput()
        try? input.close()
    }
}

/// Waits until a listening socket has a connection to accept, at most until `deadline`.
/// - Throws: `.timeout` with `late` once the deadline has passed.
func waitForConnection(on socket: FileDescriptor, until deadline: UInt64, late: String) throws {
    while true {
        let now = MonotonicClock.now()
        guard now < deadline else { throw PodBenchError(.timeout, late) }
        var entry = pollfd(fd: socket.rawValue, events: Int16(POLLIN), revents: 0)
        let ready = poll(&entry, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
        if ready > 0 { return }
        if ready < 0 && errno != EINTR {
            throw PodBenchError.system("poll", Errno(rawValue: errno), "waiting for a connection failed")
        }
    }
}

/// For a set-up step that reads a non-blocking `fd` until something arrives (a listener's first
/// byte or hello): after a read that returned `n` (0 or less: errno tells why), throws the read's
/// error unless it would block or was interrupted, throws `.timeout` with `late` past `deadline`,
/// and otherwise waits in poll(2) for more, a second at a time at most.
func waitToRead(_ fd: FileDescriptor, after n: Int, until deadline: UInt64, reading what: String, late: String)
    throws
{
    let e = Errno(rawValue: errno)
    guard n < 0, e == .resourceTemporarilyUnavailable || e == .interrupted else {
        throw PodBenchError.system("read", e, "reading \(what) failed")
    }
    let now = MonotonicClock.now()
    guard now < deadline else { throw PodBenchError(.timeout, late) }
    var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
    _ = poll(&entry, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1000)))
}

/// Sets up the `fifo` transport: the server makes two named pipes in the shared directory
/// (`NAME.c2s`, `NAME.s2c`), the client opens them; the names go as soon as both ends are open.
public enum FIFOTransport {
    /// The server's pair of FIFOs, waiting for the client.
    public final class Listener: DataListener, @unchecked Sendable {
        public let base: String
        public var endpoint: Endpoint { .fifo(base: base) }
        let input: FileDescriptor
        private var handedOut = false

        init(base: String, input: FileDescriptor) {
            self.base = base
            self.input = input
        }

        /// Waits until the client has opened both FIFOs, then removes their names.
        public func accept(timeoutNanoseconds: UInt64) throws -> FIFOChannel {
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            // The client opens its writing end (c2s) and then its reading end (s2c), so once
            // opening the writing end of s2c succeeds, both of its ends are open and a first read
            // of c2s waits for data; ENXIO means no reader yet.
            var output: FileDescriptor?
            while output == nil {
                let fd = open(base + ".s2c", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
                if fd >= 0 {
                    output = FileDescriptor(rawValue: fd)
                } else if errno == ENXIO && MonotonicClock.now() < deadline {
                    usleep(200)
                } else {
                    let e = Errno(rawValue: errno)
                    close()
                    throw e.rawValue == ENXIO
                        ? PodBenchError(.timeout, "the client did not open the FIFO \(base).s2c in time")
                        : PodBenchError.system("open", e, "cannot open the FIFO \(base).s2c")
                }
            }
            removeNames()
            handedOut = true
            return FIFOChannel(input: input, output: output!, timeoutNanoseconds: timeoutNanoseconds)
        }

        func removeNames() {
            _ = unlink(base + ".c2s")
            _ = unlink(base + ".s2c")
        }

        /// Removes the FIFOs if the case ends before the client came.
        public func close() {
            removeNames()
            if !handedOut {
                handedOut = true
                try? input.close()
            }
        }

        deinit { close() }
    }

    /// Makes the two FIFOs and opens the server's reading end.
    public static func listen(directory: String, name: String) throws -> Listener {
        let base = directory + "/" + name
        for suffix in [".c2s", ".s2c"] {
            guard mkfifo(base + suffix, 0o660) == 0 else {
                let e = Errno(rawValue: errno)
                _ = unlink(base + ".c2s")
                throw PodBenchError.system(
                    "mkfifo", e, "cannot make the FIFO \(base + suffix): check that --shared-dir is writable")
            }
        }
        let fd = open(base + ".c2s", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            _ = unlink(base + ".c2s")
            _ = unlink(base + ".s2c")
            throw PodBenchError.system("open", e, "cannot open the FIFO \(base).c2s")
        }
        return Listener(base: base, input: FileDescriptor(rawValue: fd))
    }

    /// Opens the server's FIFOs from the client's side; returns once the server has both ends.
    public static func connect(base: String, timeoutNanoseconds: UInt64) throws -> FIFOChannel {
        // The writing end first: the server takes the pair once the reading end (s2c) is open
        // (`Listener.accept`), and its first read of c2s must find a writer there, or it reads end
        // of stream. The server holds the reading end of c2s open already, so this does not block.
        let output = open(base + ".c2s", O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard output >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                e == .noSuchFileOrDirectory || e.rawValue == ENXIO ? .unavailable : .ioFailure,
                "cannot open the FIFO \(base).c2s: \(e); both sides must see the same shared directory",
                cause: .init(call: "open", errno: e))
        }
        let input = open(base + ".s2c", O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard input >= 0 else {
            let e = Errno(rawValue: errno)
            Glibc.close(output)
            throw PodBenchError(
                e == .noSuchFileOrDirectory ? .unavailable : .ioFailure,
                "cannot open the FIFO \(base).s2c: \(e)", cause: .init(call: "open", errno: e))
        }
        // Reading a FIFO that no writer has opened yet is end of stream, the same as one whose
        // writer closed: wait until the server has opened its writing end, which it shows by
        // removing the names (`Listener.accept`), so that a first read right away (a relay's)
        // waits for data instead.
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while access(base + ".s2c", F_OK) == 0 {
            guard MonotonicClock.now() < deadline else {
                Glibc.close(input)
                Glibc.close(output)
                throw PodBenchError(.timeout, "the server did not take the FIFO pair \(base) in time")
            }
            usleep(50)
        }
        return FIFOChannel(
            input: FileDescriptor(rawValue: input), output: FileDescriptor(rawValue: output),
            timeoutNanoseconds: timeoutNanoseconds)
    }
}

extension FIFOTransport: Transport {
    public static let kind = TransportKind.fifo
    public static let needs = "a shared volume (directory)"
    public static let optionGroups: TransportOptions.Groups = []

    /// The FIFO pair in `--shared-dir` (or the hop's `fifo:DIR`).
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try listen(directory: try place.directory(for: kind, otherwise: place.sharedDirectory), name: place.name)
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> FIFOChannel
    {
        guard case .fifo(let base) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(base: base, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// The FIFO pairs in `directory` (`fifo:DIR`), newest name first.
    public static func waitingEndpoints(in directory: String) -> [Endpoint] {
        let pairs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            $0.hasSuffix(".s2c")
        }
        return pairs.sorted(by: >).map { .fifo(base: directory + "/" + $0.dropLast(4)) }
    }

    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        TransportProbe.probeFIFO(sharedDirectory: places.sharedDirectory)
    }
}
