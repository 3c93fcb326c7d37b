import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import PodBenchRing
import SystemPackage

/// The `process-vm` transport's connection: cross-memory attach. A message is never copied into
/// anything shared: the sender offers the bytes where they are, in its own memory (an offer record:
/// their address and count), and the receiver copies them straight into its own buffer with
/// process_vm_readv(2), then says how many it took. One copy per message, done by the kernel,
/// where a ring in shared memory makes two (into the ring, out of it).
///
/// The doorbell and the offers go through a pair of pipes the client takes out of the server's
/// process, as `pidfd-pipe` does (records of 24 bytes: kind, address, count). A pipe rather than a
/// futex because a futex word must live in memory both processes map, and a pod that shares only
/// its process namespace has none (a futex in private memory cannot be woken from another process);
/// rather than a signal because the `signal` transport measures that doorbell on its own, and a
/// pipe also carries the offer and end of stream when the peer is gone.
///
/// The receiver reads; the sender never writes into the other process. So a sender that gave up
/// (a timeout) and reused its buffer can only make a late receiver read stale bytes (which the
/// workloads' checks catch), never have its own memory written by the other side; and a hostile
/// peer's offer is checked (count, address range) before any copy, and the copy goes into the
/// receiver's buffer, bounded by its size.
///
/// A rendezvous: `sendAll` returns once the receiver has taken every byte, so both sides sending at
/// once wait for each other until the peer timeout (podbench's workloads take turns or send one
/// way). One thread at a time per side.
///
/// A side waiting for the peer's next record waits as `--shm-wait` says, as a ring's side does:
/// `spin` keeps reading the non-blocking pipe, `futex` sleeps in poll(2) at once, `spin-futex`
/// spins first (50 µs by default), then sleeps. The peer's write wakes a sleeper either way.
public final class ProcessVMChannel: DataChannel, @unchecked Sendable {
    let pipes: FIFOChannel
    /// The peer's process, as the kernel named it (the control socket's peer credentials).
    let peer: Int32
    /// The peer's offer being taken: where its next bytes are and how many are left.
    var offerAddress: UInt64 = 0
    var offerLeft: UInt64 = 0
    /// The record being read, and how many of its bytes have arrived.
    let incoming: UnsafeMutableRawBufferPointer
    var incomingFill = 0
    /// The value the client's hello asks the server to read out of the client's memory.
    let cookie: UnsafeMutablePointer<UInt64>

    /// How long a wait for a record spins before it sleeps; `spinsOnly`: it never sleeps.
    let spinNanoseconds: UInt64
    let spinsOnly: Bool

    init(pipes: FIFOChannel, peer: Int32, strategy: RingWaitStrategy, timeoutNanoseconds: UInt64) {
        self.pipes = pipes
        self.peer = peer
        switch strategy {
        case .spin: (spinNanoseconds, spinsOnly) = (max(timeoutNanoseconds, 1), true)
        case .futex: (spinNanoseconds, spinsOnly) = (0, false)
        case .spinFutex(let nanoseconds): (spinNanoseconds, spinsOnly) = (nanoseconds, false)
        }
        incoming = .allocate(byteCount: Record.size, alignment: 8)
        cookie = .allocate(capacity: 1)
        cookie.initialize(to: 0)
    }

    deinit {
        close()
        incoming.deallocate()
        cookie.deallocate()
    }

    /// One record on the pipes: what it is, an address in its sender's memory, a count.
    struct Record {
        static let size = 24
        /// The client's first record: read 8 bytes at `address` in my process; they are `count`.
        static let hello: UInt64 = 0x5056_0001
        /// The server's answer: it could read them.
        static let welcome: UInt64 = 0x5056_0002
        /// `count` bytes at `address` in the sender's memory, for the receiver to take.
        static let offer: UInt64 = 0x5056_0003
        /// The receiver took `count` more bytes of the offer.
        static let took: UInt64 = 0x5056_0004
        /// The largest offer taken: a message is at most a few MiB; more is a hostile count.
        static let largestOffer: UInt64 = 1 << 40

        var kind: UInt64
        var address: UInt64
        var count: UInt64
    }

    func write(_ kind: UInt64, address: UInt64 = 0, count: UInt64) throws {
        var record = (kind, address, count)
        try withUnsafeBytes(of: &record) { try pipes.sendAll($0) }
    }

    /// Reads the next whole record, spinning and then sleeping as the wait strategy says, at most
    /// the peer timeout.
    func read() throws -> Record {
        var spinUntil: UInt64 = 0
        while incomingFill < Record.size {
            let n = Glibc.read(pipes.input.rawValue, incoming.baseAddress! + incomingFill, Record.size - incomingFill)
            if n > 0 {
                incomingFill += n
                continue
            }
            if n == 0 { throw PodBenchError(.peerClosed, "the peer closed its record pipe (process-vm)") }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN else {
                throw PodBenchError.system("read", Errno(rawValue: e), "reading the peer's record failed (process-vm)")
            }
            if spinNanoseconds > 0 {
                let now = MonotonicClock.now()
                if spinUntil == 0 { spinUntil = now &+ spinNanoseconds }
                if now < spinUntil { continue }
                if spinsOnly {
                    throw PodBenchError(.timeout, "the peer sent no record in time (process-vm, spinning)")
                }
            }
            try pipes.wait(pipes.input, for: Int16(POLLIN), what: "sent")
        }
        incomingFill = 0
        return Record(
            kind: incoming.load(fromByteOffset: 0, as: UInt64.self),
            address: incoming.load(fromByteOffset: 8, as: UInt64.self),
            count: incoming.load(fromByteOffset: 16, as: UInt64.self))
    }

    /// Takes `record` as the peer's next offer, after checking it.
    func hold(_ record: Record) throws {
        guard record.kind == Record.offer else {
            throw PodBenchError(
                .protocolViolation,
                record.kind == Record.took
                    ? "the peer says it took bytes while none were offered (process-vm)"
                    : "the peer sent a record of kind \(record.kind) where an offer belongs (process-vm)")
        }
        guard offerLeft == 0 else {
            throw PodBenchError(.protocolViolation, "the peer offered more bytes before its last offer was taken")
        }
        guard record.count > 0, record.count <= Record.largestOffer, record.address != 0,
            record.address <= UInt64.max - record.count
        else {
            throw PodBenchError(
                .protocolViolation,
                "the peer offered \(record.count) bytes at 0x\(String(record.address, radix: 16)): not a range a message can have"
            )
        }
        offerAddress = record.address
        offerLeft = record.count
    }

    /// Offers `bytes` where they are and waits until the peer has taken all of them.
    public func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        try write(Record.offer, address: UInt64(UInt(bitPattern: base)), count: UInt64(bytes.count))
        var outstanding = UInt64(bytes.count)
        while outstanding > 0 {
            let record = try read()
            if record.kind == Record.took {
                guard record.count > 0, record.count <= outstanding else {
                    throw PodBenchError(
                        .protocolViolation,
                        "the peer says it took \(record.count) bytes of an offer with \(outstanding) left (process-vm)")
                }
                outstanding -= record.count
            } else {
                // The peer is sending too: hold its offer for the next receive.
                try hold(record)
            }
        }
    }

    /// Takes bytes of the peer's offer (waiting for one) straight into `buffer`.
    public func receiveSome(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while offerLeft == 0 { try hold(try read()) }
        let count = Int(min(UInt64(buffer.count), offerLeft))
        var n = CPodBenchLinux_read_process_memory(peer, base, offerAddress, count)
        while n < 0 && errno == EINTR { n = CPodBenchLinux_read_process_memory(peer, base, offerAddress, count) }
        guard n > 0 else { throw Self.readFailure(errno: n < 0 ? errno : EFAULT, pid: peer, what: "the peer's offer") }
        offerAddress &+= UInt64(n)
        offerLeft -= UInt64(n)
        try write(Record.took, count: UInt64(n))
        return n
    }

    /// What a failed process_vm_readv(2) of `pid`'s memory means.
    static func readFailure(errno code: Int32, pid: Int32, what: String) -> PodBenchError {
        let e = Errno(rawValue: code)
        switch e {
        case .noSuchProcess:
            return PodBenchError(.peerClosed, "the peer's process \(pid) is gone")
        case .badAddress:
            return PodBenchError(
                .protocolViolation, "\(what) names memory that process \(pid) does not have (process_vm_readv: \(e))",
                cause: .init(call: "process_vm_readv", errno: e))
        case .notPermitted, .permissionDenied:
            return PodBenchError(
                .unavailable,
                "cannot read the memory of process \(pid) (process_vm_readv): \(e); it needs \(ProcessVMTransport.permission)",
                cause: .init(call: "process_vm_readv", errno: e))
        default:
            return PodBenchError(
                e == .noFunction ? .unavailable : .ioFailure,
                "cannot read the memory of process \(pid) (process_vm_readv): \(e)",
                cause: .init(call: "process_vm_readv", errno: e))
        }
    }

    /// The server's side of the hello: reads the client's cookie out of its memory, which proves
    /// that it may, and answers.
    func welcome() throws {
        let hello = try read()
        guard hello.kind == Record.hello, hello.address != 0 else {
            throw PodBenchError(.protocolViolation, "the client's first record is not a process-vm hello")
        }
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) {
            CPodBenchLinux_read_process_memory(peer, $0.baseAddress!, hello.address, 8)
        }
        guard n == 8 else {
            let failure = Self.readFailure(errno: n < 0 ? errno : EFAULT, pid: peer, what: "the client's hello")
            throw failure.code == .unavailable
                ? PodBenchError(
                    .unavailable,
                    "the server cannot read the client's memory: \(failure.message)", cause: failure.cause)
                : failure
        }
        guard value == hello.count else {
            throw PodBenchError(
                .protocolViolation,
                "the client's hello names memory that does not hold its value: is the client the process it claims?")
        }
        try write(Record.welcome, count: 0)
    }

    /// The client's side of the hello: asks the server to read a fresh value out of this process
    /// and waits for its answer.
    func hello() throws {
        var value: UInt64 = 0
        while value == 0 { value = UInt64.random(in: 1...UInt64.max) }
        cookie.pointee = value
        try write(Record.hello, address: UInt64(UInt(bitPattern: cookie)), count: value)
        let answer = try read()
        guard answer.kind == Record.welcome else {
            throw PodBenchError(
                .protocolViolation, "the server's answer to the process-vm hello is of kind \(answer.kind)")
        }
    }

    /// Closes the writing pipe, so that the peer reads end of stream.
    public func shutdown() { pipes.shutdown() }

    public func close() { pipes.close() }
}

/// Sets up `process-vm`: the server makes the record pipes (as `pidfd-pipe` does); the client takes
/// them out of the server's process and says hello; the server proves it can read the client's
/// memory by reading the value the hello names.
public enum ProcessVMTransport {
    /// The server's pipes, waiting for the client to take its ends and say hello.
    public final class Listener: DataListener, @unchecked Sendable {
        let pipes: PidfdPipeTransport.Listener
        let client: Int32
        let strategy: RingWaitStrategy

        init(pipes: PidfdPipeTransport.Listener, client: Int32, strategy: RingWaitStrategy) {
            self.strategy = strategy
            self.pipes = pipes
            self.client = client
        }

        public var endpoint: Endpoint { pipes.endpoint }

        public func accept(timeoutNanoseconds: UInt64) throws -> ProcessVMChannel {
            let channel = ProcessVMChannel(
                pipes: try pipes.accept(timeoutNanoseconds: timeoutNanoseconds), peer: client, strategy: strategy,
                timeoutNanoseconds: timeoutNanoseconds)
            do {
                try channel.welcome()
            } catch {
                channel.close()
                throw error
            }
            return channel
        }

        public func close() { pipes.close() }
    }

    /// The wait when none is given: as `shm`'s.
    public static let defaultWait = RingWaitStrategy.spinFutex(nanoseconds: RingWaitStrategy.defaultSpinNanoseconds)

    /// What each side needs to read the other's memory.
    static let permission =
        "ptrace access to the other process (PTRACE_MODE_ATTACH): the same user and no capability it has that this one lacks, or CAP_SYS_PTRACE (securityContext.capabilities.add [SYS_PTRACE], podman --cap-add SYS_PTRACE); Yama's ptrace_scope 0, or 1 with CAP_SYS_PTRACE; a seccomp profile that allows process_vm_readv, pidfd_open and pidfd_getfd (podman's default allows them)"

    /// The record pipes for a client whose process is `client`.
    public static func listen(client: Int32, strategy: RingWaitStrategy = defaultWait) throws -> Listener {
        Listener(pipes: try PidfdPipeTransport.listen(), client: client, strategy: strategy)
    }

    /// Takes the record pipes out of the server's process `pid`, says hello, waits for the answer.
    public static func connect(
        pid: Int32, descriptors: [Int32], strategy: RingWaitStrategy = defaultWait, timeoutNanoseconds: UInt64
    ) throws -> ProcessVMChannel {
        let pipes = try PidfdPipeTransport.connect(
            pid: pid, descriptors: descriptors, timeoutNanoseconds: timeoutNanoseconds)
        let channel = ProcessVMChannel(
            pipes: pipes, peer: pid, strategy: strategy, timeoutNanoseconds: timeoutNanoseconds)
        do {
            try channel.hello()
        } catch {
            channel.close()
            throw error
        }
        return channel
    }
}

extension ProcessVMTransport: Transport {
    public static let kind = TransportKind.processVM
    public static let needs =
        "a shared process namespace (shareProcessNamespace: true; podman pod create --share +pid), a Unix control socket, and ptrace access to each other's process"
    public static let optionGroups: TransportOptions.Groups = .wait
    public static let needsProcessNamespace = true

    /// Each wait strategy (`--shm-wait`) a case of its own.
    public static func variants(of options: TransportOptions, lists: VariantLists) -> [TransportOptions] {
        options.waitVariants(lists)
    }

    public static func validate(_ options: TransportOptions) throws {
        _ = try options.waitStrategy()
    }

    public static func keyOptions(_ options: TransportOptions) throws -> [String: String] {
        ["wait": try options.waitStrategy().description]
    }

    /// Two pipes in the server's process; the client's process from the control socket.
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try place.refuseHop(for: kind, because: "the relays do not read another process's memory")
        guard let client = place.peerProcess, client > 0 else {
            throw PodBenchError(
                .unavailable,
                "the client's process is not visible from the server: process-vm needs both sides in one PID namespace (shareProcessNamespace: true; podman pod create --share +pid) and a Unix control socket"
            )
        }
        return try listen(client: client, strategy: try options.waitStrategy())
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> ProcessVMChannel
    {
        guard case .process(let pid, let descriptors) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(
            pid: pid, descriptors: descriptors, strategy: try options.waitStrategy(),
            timeoutNanoseconds: timeoutNanoseconds)
    }

    /// A message each way between two threads of this process (the system calls and the seccomp
    /// profile); another container's process also needs the namespace shared and ptrace access.
    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        do {
            let listener = try listen(client: Int32(getpid()))
            defer { listener.close() }
            guard case .process(let pid, let descriptors) = listener.endpoint else { return (false, "no endpoint") }
            nonisolated(unsafe) var outcome: (Bool, String) = (false, "the probe's thread did not report")
            let done = DispatchSemaphore(value: 0)
            Thread {
                defer { done.signal() }
                do {
                    let client = try connect(pid: pid, descriptors: descriptors, timeoutNanoseconds: 2_000_000_000)
                    defer { client.close() }
                    var byte: UInt8 = 0x5A
                    try withUnsafeBytes(of: &byte) { try client.sendAll($0) }
                    outcome = (true, "")
                } catch {
                    outcome = (false, "\(error)")
                }
            }.start()
            var byte: UInt8 = 0
            do {
                let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
                defer { server.close() }
                _ = try withUnsafeMutableBytes(of: &byte) { try server.receiveSome(into: $0) }
            } catch {
                listener.close()
                done.wait()
                return outcome.0 ? (false, "\(error)") : outcome
            }
            done.wait()
            guard outcome.0 else { return outcome }
            guard byte == 0x5A else { return (false, "process_vm_readv carried \(byte), not 0x5A") }
            return (
                true, "read a message out of this process with process_vm_readv; across containers it needs \(needs)"
            )
        } catch {
            return (false, "\(error)")
        }
    }
}
