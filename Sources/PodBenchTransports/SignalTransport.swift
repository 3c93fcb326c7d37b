import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// The `signal` transport's connection: every message travels as queued real-time signals, eight
/// bytes in each one's value, sent to one thread of the peer process with rt_tgsigqueueinfo(2) and
/// read by a signalfd(2) on that thread. It measures what "signal the other container" costs, with
/// the signal as the doorbell and as the message. A queued signal's code says how many of its value's
/// bytes count (1 to 8; none: the peer's goodbye); signals of one number to one thread arrive in the
/// order sent and are never merged, so the channel is an ordered byte stream. A sender whose peer's
/// queue is full (RLIMIT_SIGPENDING) waits, at most the peer timeout.
///
/// Thread-bound: the signal is blocked in the thread that made the channel, and only that thread
/// may use it (signals go to it by its thread id). It stays blocked there afterwards: a signal
/// arriving late stays pending instead of ending the process (a real-time signal's default action),
/// and the next channel made on that thread drops it.
public final class SignalChannel: DataChannel, @unchecked Sendable {
    let signals: FileDescriptor
    /// A pidfd of the peer's process: readable once it has ended.
    let peerProcess: FileDescriptor
    let peerID: Int32
    let peerThread: Int32
    let signalNumber: Int32
    let timeoutNanoseconds: UInt64
    /// Signals read but not yet handed out: their codes, values and senders.
    let codes: UnsafeMutablePointer<Int32>
    let values: UnsafeMutablePointer<UInt64>
    let senders: UnsafeMutablePointer<Int32>
    var batchCount = 0
    var batchIndex = 0
    /// The value of the signal being handed out, how many of its bytes count, and how many of
    /// them were handed out.
    var current: UInt64 = 0
    var currentCount = 0
    var currentOffset = 0
    var goodbyeSent = false
    var peerSaidGoodbye = false
    private var closed = false

    /// Signals read at once.
    static let batch = 64

    init(
        signals: FileDescriptor, peerProcess: FileDescriptor, peerID: Int32, peerThread: Int32,
        timeoutNanoseconds: UInt64
    ) {
        self.signals = signals
        self.peerProcess = peerProcess
        self.peerID = peerID
        self.peerThread = peerThread
        self.signalNumber = CPodBenchLinux_message_signal()
        self.timeoutNanoseconds = timeoutNanoseconds
        codes = .allocate(capacity: Self.batch)
        values = .allocate(capacity: Self.batch)
        senders = .allocate(capacity: Self.batch)
    }

    deinit {
        close()
        codes.deallocate()
        values.deallocate()
        senders.deallocate()
    }

    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let count = min(8, left)
            var value: UInt64 = 0
            withUnsafeMutableBytes(of: &value) { $0.baseAddress!.copyMemory(from: base, byteCount: count) }
            try send(code: SignalTransport.dataCode(count), value: value)
            base += count
            left -= count
        }
    }

    /// Queues one signal to the peer's thread, waiting while its queue is full.
    func send(code: Int32, value: UInt64) throws {
        var deadline: UInt64 = 0
        while try !SignalTransport.queue(process: peerID, thread: peerThread, code: code, value: value, who: "the peer")
        {
            // The peer's queue is full: it has not read what came before.
            let now = MonotonicClock.now()
            if deadline == 0 { deadline = now + timeoutNanoseconds }
            guard now < deadline else {
                throw PodBenchError(.timeout, "the peer took no signal in time (its queue stayed full)")
            }
            sched_yield()
        }
    }

    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let out = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var filled = 0
        while filled < buffer.count {
            if currentOffset < currentCount {
                // The value's bytes as they lay in the sender's memory: the first `currentCount`.
                let count = min(currentCount - currentOffset, buffer.count - filled)
                let offset = currentOffset
                withUnsafeBytes(of: &current) {
                    (out + filled).copyMemory(from: $0.baseAddress! + offset, byteCount: count)
                }
                currentOffset += count
                filled += count
                continue
            }
            if batchIndex < batchCount {
                let code = codes[batchIndex]
                let sender = senders[batchIndex]
                current = values[batchIndex]
                batchIndex += 1
                // Another process's signal (a stranger, or a late one from an earlier peer): dropped.
                guard sender == peerID else { continue }
                if code == SignalTransport.goodbyeCode {
                    peerSaidGoodbye = true
                    batchIndex = batchCount
                    break
                }
                guard let count = SignalTransport.dataCount(code) else {
                    throw PodBenchError(.protocolViolation, "a signal with code \(code) is not a message's")
                }
                currentCount = count
                currentOffset = 0
                continue
            }
            if filled > 0 || peerSaidGoodbye { break }
            try readBatch()
        }
        if filled == 0 { throw PodBenchError(.peerClosed, "the peer said goodbye") }
        return filled
    }

    /// Reads the signals pending for this thread, waiting for the first at most the peer timeout.
    func readBatch() throws {
        while true {
            let n = CPodBenchLinux_read_signals(signals.rawValue, codes, values, senders, Int32(Self.batch))
            if n > 0 {
                batchCount = Int(n)
                batchIndex = 0
                return
            }
            let e = Errno(rawValue: errno)
            guard n < 0, e == .resourceTemporarilyUnavailable || e == .interrupted else {
                throw PodBenchError.system("read", e, "reading the signalfd failed")
            }
            var entries = (
                pollfd(fd: signals.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: peerProcess.rawValue, events: Int16(POLLIN), revents: 0)
            )
            let ready = withUnsafeMutablePointer(to: &entries) {
                $0.withMemoryRebound(to: pollfd.self, capacity: 2) {
                    poll($0, 2, Int32(min(timeoutNanoseconds / 1_000_000, UInt64(Int32.max))))
                }
            }
            if ready == 0 { throw PodBenchError(.timeout, "the peer sent no signal in time") }
            if ready < 0 {
                let e = Errno(rawValue: errno)
                if e == .interrupted { continue }
                throw PodBenchError.system("poll", e, "waiting on the signalfd failed")
            }
            if entries.0.revents == 0 && entries.1.revents != 0 {
                throw PodBenchError(.peerClosed, "the peer's process has ended")
            }
        }
    }

    /// Says goodbye: the peer reads end of stream once it has read what came before.
    public func shutdown() {
        guard !goodbyeSent else { return }
        goodbyeSent = true
        _ = CPodBenchLinux_queue_signal(peerID, peerThread, signalNumber, SignalTransport.goodbyeCode, 0)
    }

    public func close() {
        guard !closed else { return }
        closed = true
        shutdown()
        SignalTransport.drain(signals)
        try? signals.close()
        try? peerProcess.close()
    }
}

/// Sets up the `signal` transport. Each side blocks the signal in the thread that will use the
/// channel, opens a signalfd for it there and drops whatever was pending; the server advertises
/// its thread, the client sends a hello (its own thread id) to it, and from then on each sends to
/// the other's thread. Both processes are found from the kernel (the control socket's peer
/// credentials), never from the other side's word (docs/process-namespace.md).
public enum SignalTransport {
    /// A data signal's code for `count` (1 to 8) bytes, the goodbye's, the client's hello's. Codes
    /// of queued signals must be negative; these avoid the ones the kernel gives meaning to
    /// (SI_QUEUE -1, SI_TIMER -2, SI_MESGQ -3, SI_ASYNCIO -4, SI_SIGIO -5, SI_TKILL -6).
    static func dataCode(_ count: Int) -> Int32 { -64 - Int32(count) }
    static let goodbyeCode: Int32 = -64
    static let helloCode: Int32 = -80

    static func dataCount(_ code: Int32) -> Int? {
        let count = -64 - Int(code)
        return (1...8).contains(count) ? count : nil
    }

    /// The server's end, waiting for the client's hello on the thread that made it.
    public final class Listener: DataListener, @unchecked Sendable {
        let signals: FileDescriptor
        let clientID: Int32
        let thread: Int32
        private var handedOut = false

        public var endpoint: Endpoint { .signal(pid: Int32(getpid()), thread: thread) }

        init(signals: FileDescriptor, clientID: Int32, thread: Int32) {
            self.signals = signals
            self.clientID = clientID
            self.thread = thread
        }

        /// Waits for the client's hello (its thread); on the thread that listened.
        public func accept(timeoutNanoseconds: UInt64) throws -> SignalChannel {
            guard !handedOut else { throw PodBenchError(.protocolViolation, "the channel was already handed out") }
            guard CPodBenchLinux_thread_id() == thread else {
                throw PodBenchError(.ioFailure, "a signal channel is accepted on the thread that listened")
            }
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            var code: Int32 = 0
            var value: UInt64 = 0
            var sender: Int32 = 0
            while true {
                let n = CPodBenchLinux_read_signals(signals.rawValue, &code, &value, &sender, 1)
                if n == 1 {
                    // Only the client's hello: anything else (a stranger's signal) is dropped.
                    if code == helloCode && sender == clientID && value > 0 && value <= UInt64(Int32.max) {
                        break
                    }
                    continue
                }
                do {
                    try waitToRead(
                        signals, after: Int(n), until: deadline, reading: "the signalfd",
                        late: "the client sent no hello signal in time")
                } catch {
                    close()
                    throw error
                }
            }
            let process = try SignalTransport.open(process: clientID, who: "the client")
            handedOut = true
            return SignalChannel(
                signals: signals, peerProcess: process, peerID: clientID, peerThread: Int32(value),
                timeoutNanoseconds: timeoutNanoseconds)
        }

        public func close() {
            guard !handedOut else { return }
            handedOut = true
            SignalTransport.drain(signals)
            try? signals.close()
        }

        deinit { close() }
    }

    /// Blocks the signal in this thread and opens a signalfd for it, with nothing pending.
    static func signalDescriptor() throws -> FileDescriptor {
        let number = CPodBenchLinux_message_signal()
        guard number > 0, CPodBenchLinux_block_signal_in_thread(number) == 0 else {
            throw PodBenchError.system("pthread_sigmask", Errno(rawValue: errno), "cannot block the message signal")
        }
        let fd = CPodBenchLinux_signalfd(number)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                .unavailable, "cannot open a signalfd: \(e)", cause: .init(call: "signalfd", errno: e))
        }
        let descriptor = FileDescriptor(rawValue: fd)
        drain(descriptor)
        return descriptor
    }

    /// Queues the message signal with `code` and `value` to `thread` of `process` (the `signal`
    /// transport's data, a content-sync reload); false when that thread's queue is full, which
    /// each caller treats its own way. `who` names the receiver in the errors.
    static func queue(process: Int32, thread: Int32, code: Int32, value: UInt64, who: String) throws -> Bool {
        while CPodBenchLinux_queue_signal(process, thread, CPodBenchLinux_message_signal(), code, value) != 0 {
            let e = Errno(rawValue: errno)
            switch e {
            case .interrupted: continue
            case .resourceTemporarilyUnavailable: return false
            case .noSuchProcess: throw PodBenchError(.peerClosed, "\(who)'s thread is gone")
            case .notPermitted:
                throw PodBenchError(
                    .unavailable, "not permitted to signal \(who)'s process \(process); it needs \(permission)",
                    cause: .init(call: "rt_tgsigqueueinfo", errno: e))
            default: throw PodBenchError.system("rt_tgsigqueueinfo", e, "signalling \(who) failed")
            }
        }
        return true
    }

    /// Reads and drops every signal pending (a late one from an earlier case).
    static func drain(_ signals: FileDescriptor) {
        var code: Int32 = 0
        var value: UInt64 = 0
        var sender: Int32 = 0
        while CPodBenchLinux_read_signals(signals.rawValue, &code, &value, &sender, 1) == 1 {}
    }

    /// A pidfd for `process`, to see it end.
    static func open(process: Int32, who: String) throws -> FileDescriptor {
        let fd = CPodBenchLinux_pidfd_open(process)
        guard fd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                e == .noSuchProcess ? .peerClosed : .unavailable,
                "cannot open \(who)'s process \(process) (pidfd_open): \(e)",
                cause: .init(call: "pidfd_open", errno: e))
        }
        return FileDescriptor(rawValue: fd)
    }

    /// The server's side on the calling thread, for the client `clientID` (its process as this
    /// process's PID namespace numbers it).
    public static func listen(clientID: Int32) throws -> Listener {
        Listener(signals: try signalDescriptor(), clientID: clientID, thread: CPodBenchLinux_thread_id())
    }

    /// What a pod must allow for one container to signal another's process.
    static let permission =
        "permission to signal the other process: the same user, or CAP_KILL (both containers' processes visible to each other: a shared process namespace)"

    /// The client's side on the calling thread: says hello to the server's thread `thread` of the
    /// process `serverID` (the kernel's word for it).
    public static func connect(serverID: Int32, thread: Int32, timeoutNanoseconds: UInt64) throws -> SignalChannel {
        guard serverID > 0, thread > 0 else {
            throw PodBenchError(.protocolViolation, "the server named thread \(thread) of process \(serverID)")
        }
        let signals = try signalDescriptor()
        let process: FileDescriptor
        do {
            process = try open(process: serverID, who: "the server")
        } catch {
            try? signals.close()
            throw error
        }
        let channel = SignalChannel(
            signals: signals, peerProcess: process, peerID: serverID, peerThread: thread,
            timeoutNanoseconds: timeoutNanoseconds)
        do {
            try channel.send(code: helloCode, value: UInt64(CPodBenchLinux_thread_id()))
        } catch {
            // No goodbye to a server that never heard a hello.
            channel.goodbyeSent = true
            channel.close()
            throw error
        }
        return channel
    }
}

extension SignalTransport: Transport {
    public static let kind = TransportKind.signal
    public static let needs =
        "a shared process namespace (shareProcessNamespace: true; podman pod create --share +pid), a Unix control socket, and permission to signal each other's process (the same user, or CAP_KILL)"
    public static let optionGroups: TransportOptions.Groups = []
    public static let needsProcessNamespace = true

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try place.refuseHop(for: kind, because: "the relays forward streams, not signals")
        guard let client = place.peerProcess, client > 0 else {
            throw PodBenchError(
                .unavailable,
                "the client's process is not visible from the server: signals need both sides in one PID namespace (shareProcessNamespace: true; podman pod create --share +pid) and a Unix control socket"
            )
        }
        return try listen(clientID: client)
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> SignalChannel
    {
        guard case .signal(let pid, let thread) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(serverID: pid, thread: thread, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Signals between two threads of this process (the system calls, the signal's queue);
    /// another container's process also needs the process namespace shared and permission.
    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        nonisolated(unsafe) var outcome: (Bool, String) = (false, "the probe's thread did not report")
        let done = DispatchSemaphore(value: 0)
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var endpoint: Endpoint?
        Thread {
            defer { done.signal() }
            do {
                let listener = try listen(clientID: Int32(getpid()))
                defer { listener.close() }
                endpoint = listener.endpoint
                ready.signal()
                let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
                defer { server.close() }
                var byte: UInt8 = 0
                _ = try withUnsafeMutableBytes(of: &byte) { try server.receiveSome(into: $0) }
                outcome = (byte == 0x5A, byte == 0x5A ? "" : "a signal carried \(byte), not 0x5A")
            } catch {
                outcome = (false, "\(error)")
                ready.signal()
            }
        }.start()
        ready.wait()
        guard case .signal(let pid, let thread)? = endpoint else {
            done.wait()
            return outcome
        }
        do {
            let client = try connect(serverID: pid, thread: thread, timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            var byte: UInt8 = 0x5A
            try withUnsafeBytes(of: &byte) { try client.sendAll($0) }
        } catch {
            done.wait()
            return (false, "\(error)")
        }
        done.wait()
        guard outcome.0 else { return outcome }
        return (true, "queued signals between two threads of this process; across containers it needs \(needs)")
    }
}
