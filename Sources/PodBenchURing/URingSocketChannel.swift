import CPodBenchURing
import Glibc
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// An io_uring, set up as a case asks, or the reason it cannot be had here.
public final class URing: @unchecked Sendable {
    let ring: OpaquePointer
    public let setup: URingSetupMode
    private var closed = false

    /// Sets up a ring of at least `entries` submission entries.
    /// - Throws: `.unavailable` saying why when the kernel, a seccomp profile or the sysctl
    ///   refuses (or the kernel lacks the setup flags asked for).
    public init(entries: Int, setup: URingSetupMode) throws {
        let mode: Int32 =
            switch setup {
            case .standard: Int32(CPodBenchURing_standard)
            case .deferTaskrun: Int32(CPodBenchURing_defer_taskrun)
            case .sqpoll: Int32(CPodBenchURing_sqpoll)
            }
        var error: Int32 = 0
        guard let ring = CPodBenchURing_create(UInt32(entries), mode, &error) else {
            throw Self.refusal(Errno(rawValue: error), setup: setup)
        }
        self.ring = ring
        self.setup = setup
    }

    /// Why io_uring_setup failed, in words a user can act on.
    static func refusal(_ e: Errno, setup: URingSetupMode) -> PodBenchError {
        let probe = HostEnvironment.probeIOURing()
        if probe.available {
            let hint =
                switch setup {
                case .deferTaskrun: "; defer-taskrun needs Linux 6.1 or later"
                case .sqpoll: "; SQPOLL needs root before Linux 5.11"
                case .standard: ""
                }
            return PodBenchError(
                .unavailable, "io_uring works here, but not with the \(setup) setup (\(e))\(hint)",
                cause: .init(call: "io_uring_setup", errno: e))
        }
        return PodBenchError(.unavailable, probe.reason, cause: .init(call: "io_uring_setup", errno: e))
    }

    /// Tears the ring down (pending requests are cancelled). Once.
    public func close() {
        guard !closed else { return }
        closed = true
        CPodBenchURing_destroy(ring)
    }

    deinit { close() }
}

/// The `uring-tcp` and `uring-uds` connection: the same connected socket as `tcp` and `uds`, with
/// every send and receive submitted through an io_uring.
///
/// Sends are copied into one of `batch` staging slots and queued as linked SEND requests
/// (IOSQE_IO_LINK keeps their order on the stream; MSG_MORE on all but the last lets TCP fill its
/// segments). The queue is submitted when it holds `batch` sends, or together with the next
/// receive, in one `io_uring_enter`: a ping-pong round trip costs each side one system call where
/// plain sockets take two. Messages larger than a slot go out at once from the caller's buffer.
public final class URingSocketChannel: DataChannel, @unchecked Sendable {
    public let descriptor: FileDescriptor
    let uring: URing
    let batch: Int
    let timeoutNanoseconds: UInt64
    /// Staged sends go out as zero-copy sends from the registered staging area.
    public let registeredBuffers: Bool

    public static let slotBytes = 64 << 10
    let staging: UnsafeMutableRawPointer
    let slotLengths: UnsafeMutablePointer<Int>
    let slotResults: UnsafeMutablePointer<Int32>
    /// Sends queued and not yet submitted, in slots 0..<queued.
    var queued = 0
    var receiveResult: Int32 = 0
    private var closed = false

    static let receiveTag: UInt64 = 1 << 32
    static let directTag: UInt64 = 1 << 33

    /// Takes over `descriptor`, a connected and configured stream socket.
    /// - Parameter registeredBuffers: register the staging slots with the ring and send from them
    ///   with zero-copy sends (IORING_OP_SEND_ZC, fixed buffer). TCP only.
    /// - Throws: `.unavailable` when the kernel refuses to register the buffers (RLIMIT_MEMLOCK).
    public init(
        descriptor: FileDescriptor, uring: URing, batch: Int, timeoutNanoseconds: UInt64,
        registeredBuffers: Bool = false
    ) throws {
        let batch = max(1, batch)
        // The one step that can fail comes before any stored property is set: a throw then runs
        // no deinit, so the staging is freed once, here, and the descriptor and the ring stay the
        // caller's to close (they are the channel's only once it exists).
        let staging = UnsafeMutableRawPointer.allocate(byteCount: batch * Self.slotBytes, alignment: 4096)
        if registeredBuffers {
            let rc = CPodBenchURing_register_buffer(uring.ring, staging, batch * Self.slotBytes)
            if rc != 0 {
                staging.deallocate()
                let e = Errno(rawValue: -rc)
                throw PodBenchError(
                    .unavailable,
                    "io_uring: cannot register \(batch * Self.slotBytes >> 10) KiB of buffers (\(e)); raise RLIMIT_MEMLOCK (ulimit -l) or use --uring-buffers copy",
                    cause: .init(call: "io_uring_register", errno: e))
            }
        }
        // A registered file spares the kernel a descriptor lookup per request; without it the
        // requests name the descriptor itself.
        _ = CPodBenchURing_register_file(uring.ring, descriptor.rawValue)
        self.descriptor = descriptor
        self.uring = uring
        self.batch = batch
        self.timeoutNanoseconds = timeoutNanoseconds
        self.registeredBuffers = registeredBuffers
        self.staging = staging
        slotLengths = .allocate(capacity: batch)
        slotResults = .allocate(capacity: batch)
    }

    deinit {
        close()
        staging.deallocate()
        slotLengths.deallocate()
        slotResults.deallocate()
    }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        guard bytes.count <= Self.slotBytes else {
            try flush(receiving: nil)
            try sendDirect(bytes)
            return
        }
        let slot = queued
        let copy = staging + slot * Self.slotBytes
        copy.copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        slotLengths[slot] = bytes.count
        if CPodBenchURing_queue_send(
            uring.ring, descriptor.rawValue, copy, bytes.count, 1, registeredBuffers ? 1 : 0, UInt64(slot)) != 0
        {
            try flush(receiving: nil)
            return try sendAll(bytes)
        }
        queued += 1
        if queued == batch { try flush(receiving: nil) }
    }

    /// Sends a large message (or the rest of a cut one) from its buffer, one request at a time.
    func sendDirect(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            guard
                CPodBenchURing_queue_send(
                    uring.ring, descriptor.rawValue, bytes.baseAddress! + offset, bytes.count - offset, 0, 0,
                    Self.directTag)
                    == 0
            else { throw PodBenchError(.ioFailure, "io_uring: no submission entry free for a send") }
            var sent: Int32 = 0
            var completed = false
            try submitAndReap(
                { tag, res, _ in
                    if tag == Self.directTag {
                        sent = res
                        completed = true
                    }
                }, until: { completed })
            guard sent > 0 else { throw Self.error(sent, sending: true) }
            offset += Int(sent)
        }
    }

    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try flush(receiving: buffer)
        guard receiveResult > 0 else {
            if receiveResult == 0 { throw PodBenchError(.peerClosed, "the peer closed the data connection") }
            throw Self.error(receiveResult, sending: false)
        }
        return Int(receiveResult)
    }

    /// Submits the queued sends (and a receive into `buffer`) in one `io_uring_enter` and waits
    /// for all of them. A send the kernel cut short, or cancelled behind one, goes again from its
    /// first unsent byte, in order.
    func flush(receiving buffer: UnsafeMutableRawBufferPointer?) throws {
        let sends = queued
        if let buffer {
            // A receive that goes out with the sends it answers (ping-pong) cannot find data yet:
            // let the kernel wait for it instead of trying once in vain.
            let pollFirst: Int32 = sends > 0 ? 1 : 0
            if CPodBenchURing_queue_recv(
                uring.ring, descriptor.rawValue, buffer.baseAddress, buffer.count, pollFirst, Self.receiveTag) != 0
            {
                try flush(receiving: nil)
                return try flush(receiving: buffer)
            }
        } else if sends == 0 {
            return
        }
        queued = 0
        for i in 0..<sends { slotResults[i] = Int32.min }
        var reaped = 0
        // Zero-copy sends complete twice: the result (flagged "more"), then the notification
        // that the kernel let go of the slot; a slot is reused only after both.
        var notificationsDue = 0
        var received = buffer == nil
        try submitAndReap(
            { tag, res, flags in
                if tag == Self.receiveTag {
                    self.receiveResult = res
                    received = true
                } else if tag < UInt64(sends) {
                    if flags & UInt32(CPodBenchURing_notification) != 0 {
                        notificationsDue -= 1
                    } else {
                        self.slotResults[Int(tag)] = res
                        reaped += 1
                        if flags & UInt32(CPodBenchURing_more) != 0 { notificationsDue += 1 }
                    }
                }
            }, until: { reaped == sends && received && notificationsDue == 0 })
        var i = 0
        while i < sends {
            let res = slotResults[i]
            if res == Int32(slotLengths[i]) {
                i += 1
                continue
            }
            if res < 0 && res != -ECANCELED && res != -EINTR && res != -EAGAIN {
                throw Self.error(res, sending: true)
            }
            let done = res > 0 ? Int(res) : 0
            for j in i..<sends {
                let skip = j == i ? done : 0
                try sendDirect(
                    UnsafeRawBufferPointer(start: staging + j * Self.slotBytes + skip, count: slotLengths[j] - skip))
            }
            break
        }
    }

    /// Submits what is queued and hands each completion to `handle` until `done` says so, waiting
    /// at most the peer timeout for each.
    func submitAndReap(_ handle: (UInt64, Int32, UInt32) -> Void, until done: () -> Bool) throws {
        var tag: UInt64 = 0
        var res: Int32 = 0
        var flags: UInt32 = 0
        while true {
            let rc = CPodBenchURing_submit_and_wait(uring.ring, timeoutNanoseconds)
            if rc < 0 {
                if rc == -EINTR { continue }
                if rc == -ETIME {
                    throw PodBenchError(.timeout, "the peer moved no data through the io_uring socket in time")
                }
                throw PodBenchError.system("io_uring_enter", Errno(rawValue: -rc), "waiting on the io_uring failed")
            }
            while CPodBenchURing_next_completion(uring.ring, &tag, &res, &flags) == 1 { handle(tag, res, flags) }
            if done() { return }
        }
    }

    static func error(_ res: Int32, sending: Bool) -> PodBenchError {
        let e = Errno(rawValue: -res)
        switch e {
        case .brokenPipe, .connectionReset, .socketNotConnected:
            return PodBenchError(.peerClosed, "the peer closed the data connection (\(e))")
        default:
            return PodBenchError.system(
                sending ? "send (io_uring)" : "recv (io_uring)", e, "\(sending ? "sending" : "receiving") failed")
        }
    }

    /// Submits the queued sends and waits for them.
    public func flush() throws {
        try flush(receiving: nil)
    }

    /// Sends what is queued, then shuts the socket down both ways (the peer sees end of stream).
    public func shutdown() {
        try? flush(receiving: nil)
        descriptor.shutdownBoth()
    }

    public func close() {
        guard !closed else { return }
        closed = true
        uring.close()
        try? descriptor.close()
    }
}

/// `podbench probe` for the io_uring transports: the socket underneath, then a ring, then one
/// message through it.
public enum URingProbe {
    static func probe(kind: TransportKind, needs: String, sharedDirectory: String) -> (available: Bool, reason: String)
    {
        let ioURing = HostEnvironment.probeIOURing()
        guard ioURing.available else { return (false, ioURing.reason) }
        do {
            let listener = try SocketTransport.listen(
                kind: kind, options: TransportOptions(), sharedDirectory: sharedDirectory,
                name: "podbench-probe-\(getpid())")
            defer { listener.close() }
            let client = try SocketTransport.connect(
                to: listener.endpoint, kind: kind, options: TransportOptions(), timeoutNanoseconds: 2_000_000_000)
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            defer { server.close() }
            let channel = try URingSocketChannel(
                descriptor: client.descriptor, uring: try URing(entries: 8, setup: .standard), batch: 1,
                timeoutNanoseconds: 2_000_000_000)
            defer { channel.close() }
            var byte: UInt8 = 42
            try withUnsafeBytes(of: &byte) { try channel.sendAll($0) }
            try channel.flush()
            var echo: UInt8 = 0
            _ = try withUnsafeMutableBytes(of: &echo) { try server.receiveSome(into: $0) }
            guard echo == 42 else { return (false, "a byte sent through io_uring arrived wrong") }
            var modes: [String] = []
            for setup in [URingSetupMode.deferTaskrun, .sqpoll] {
                if let ring = try? URing(entries: 8, setup: setup) {
                    ring.close()
                    modes.append(setup.rawValue)
                }
            }
            return (
                true,
                "sent through io_uring over \(listener.endpoint) (needs \(needs)); setups here: default\(modes.map { ", " + $0 }.joined())"
            )
        } catch let error as PodBenchError {
            return (false, error.description)
        } catch {
            return (false, "\(error)")
        }
    }
}

extension URingProbe {
    /// A record written, synced and read back through io_uring in the shared directory, where
    /// io_uring is allowed.
    static func probeFile(sharedDirectory: String) -> (available: Bool, reason: String) {
        let ioURing = HostEnvironment.probeIOURing()
        guard ioURing.available else { return (false, ioURing.reason) }
        let filesystem = FilesystemType.name(of: sharedDirectory) ?? "unknown filesystem"
        do {
            let settings = FileTransport.Settings(follow: .inotify, sync: .each, segmentBytes: 1 << 20)
            let io = URingFileIO(uring: try URing(entries: 8, setup: .standard), timeoutNanoseconds: 2_000_000_000)
            let listener = try FileTransport.listen(
                directory: sharedDirectory, name: "podbench-probe-\(getpid())", settings: settings,
                timeoutNanoseconds: 2_000_000_000, io: io)
            defer { listener.close() }
            let client = try FileTransport.connect(
                path: listener.path, settings: settings, timeoutNanoseconds: 2_000_000_000, io: io)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            defer { server.close() }
            var byte: UInt8 = 42
            try withUnsafeBytes(of: &byte) { try client.sendAll($0) }
            var echo: UInt8 = 0
            _ = try withUnsafeMutableBytes(of: &echo) { try server.receiveSome(into: $0) }
            guard echo == 42 else { return (false, "a record written through io_uring read back wrong") }
            return (true, "wrote, synced and read a record through io_uring in \(sharedDirectory) (\(filesystem))")
        } catch {
            return (false, "\(sharedDirectory) (\(filesystem)): \(error)")
        }
    }
}

/// The `uring-file` transport's system calls: each write (with its fsync linked behind it when
/// the mode syncs every record), fsync and read is one submission through the ring, waited for
/// at once. The waits for the writer (inotify or polling) stay as in `file`.
public final class URingFileIO: FileIOEngine, @unchecked Sendable {
    let uring: URing
    let timeoutNanoseconds: UInt64
    static let writeTag: UInt64 = 1
    static let syncTag: UInt64 = 2
    static let readTag: UInt64 = 3

    public init(uring: URing, timeoutNanoseconds: UInt64) {
        self.uring = uring
        self.timeoutNanoseconds = timeoutNanoseconds
    }

    /// Submits what is queued and waits for `expected` completions; results by tag.
    func complete(_ expected: Int, _ first: inout Int32, _ second: inout Int32) -> Int32 {
        var seen = 0
        var tag: UInt64 = 0
        var res: Int32 = 0
        var flags: UInt32 = 0
        while seen < expected {
            let rc = CPodBenchURing_submit_and_wait(uring.ring, timeoutNanoseconds)
            if rc < 0 && rc != -EINTR { return rc }
            while CPodBenchURing_next_completion(uring.ring, &tag, &res, &flags) == 1 {
                if tag == Self.syncTag { second = res } else { first = res }
                seen += 1
            }
        }
        return 0
    }

    public func writev(
        _ fd: Int32, _ vectors: UnsafePointer<iovec>, _ count: Int32, thenSync: Bool, syncResult: inout Int32
    ) -> Int {
        guard
            CPodBenchURing_queue_writev(uring.ring, fd, vectors, UInt32(count), thenSync ? 1 : 0, Self.writeTag) == 0
        else { return -Int(EBUSY) }
        if thenSync, CPodBenchURing_queue_fsync(uring.ring, fd, Self.syncTag) != 0 { return -Int(EBUSY) }
        var written: Int32 = 0
        var synced: Int32 = 0
        let rc = complete(thenSync ? 2 : 1, &written, &synced)
        if rc < 0 { return Int(rc) }
        if thenSync { syncResult = synced }
        return Int(written)
    }

    public func fsync(_ fd: Int32) -> Int32 {
        guard CPodBenchURing_queue_fsync(uring.ring, fd, Self.syncTag) == 0 else { return -EBUSY }
        var unused: Int32 = 0
        var synced: Int32 = 0
        let rc = complete(1, &unused, &synced)
        return rc < 0 ? rc : synced
    }

    public func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        guard CPodBenchURing_queue_read(uring.ring, fd, buffer, UInt32(min(count, Int(Int32.max))), Self.readTag) == 0
        else { return -Int(EBUSY) }
        var got: Int32 = 0
        var unused: Int32 = 0
        let rc = complete(1, &got, &unused)
        return rc < 0 ? Int(rc) : Int(got)
    }
}
