import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// `pidfd-pipe`: a pair of pipes the server makes, which the client takes out of the server's
/// process with pidfd_open(2) + pidfd_getfd(2), then uses as the `fifo` transport uses its FIFOs.
/// Nothing is shared but the process namespace: no volume, no socket, no IPC namespace. The
/// client finds the server's process from the kernel (the control socket's peer credentials,
/// `BenchmarkClient`), never from the server's word, and checks what it took: two pipes, its
/// writing end and its reading end, distinct.
public enum PidfdPipeTransport {
    /// The server's two pipes, waiting for the client to take its ends.
    public final class Listener: DataListener, @unchecked Sendable {
        /// The server's ends: it reads client-to-server and writes server-to-client.
        let input: FileDescriptor
        let output: FileDescriptor
        /// The client's ends, held until the client has taken its copies.
        let clientWrites: FileDescriptor
        let clientReads: FileDescriptor
        private var state: State = .waiting

        enum State { case waiting, handedOut, closed }

        public var endpoint: Endpoint {
            .process(pid: Int32(getpid()), descriptors: [clientWrites.rawValue, clientReads.rawValue])
        }

        init(input: FileDescriptor, output: FileDescriptor, clientWrites: FileDescriptor, clientReads: FileDescriptor) {
            self.input = input
            self.output = output
            self.clientWrites = clientWrites
            self.clientReads = clientReads
        }

        /// Waits for the client's first byte, `PidfdPipeTransport.taken`, which it writes once it
        /// holds both of its ends; then closes this process's copies of them, so that either side
        /// reads end of stream when the other is gone.
        public func accept(timeoutNanoseconds: UInt64) throws -> FIFOChannel {
            guard state == .waiting else {
                throw PodBenchError(.protocolViolation, "the pipes were already handed out")
            }
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            var byte: UInt8 = 0
            while true {
                let n = Glibc.read(input.rawValue, &byte, 1)
                if n == 1 { break }
                do {
                    try waitToRead(
                        input, after: n, until: deadline, reading: "the client's first byte",
                        late: "the client did not take the pipes (pidfd-pipe) in time")
                } catch {
                    close()
                    throw error
                }
            }
            guard byte == PidfdPipeTransport.taken else {
                close()
                throw PodBenchError(
                    .protocolViolation,
                    "the client's first byte on the pipe is \(byte), not \(PidfdPipeTransport.taken)")
            }
            state = .handedOut
            try? clientWrites.close()
            try? clientReads.close()
            return FIFOChannel(input: input, output: output, timeoutNanoseconds: timeoutNanoseconds)
        }

        /// Closes all four ends if the case ends before the client took the pipes.
        public func close() {
            guard state == .waiting else { return }
            state = .closed
            for fd in [input, output, clientWrites, clientReads] { try? fd.close() }
        }

        deinit { close() }
    }

    /// The byte the client writes first, once it holds both of its ends.
    public static let taken: UInt8 = 0x50

    /// Makes the two pipes, non-blocking (the flag lives in the open file description, so the
    /// client's copies have it too).
    public static func listen() throws -> Listener {
        var clientToServer: [Int32] = [-1, -1]
        var serverToClient: [Int32] = [-1, -1]
        guard CPodBenchLinux_pipe(&clientToServer) == 0 else {
            throw PodBenchError.system("pipe2", Errno(rawValue: errno), "cannot make a pipe")
        }
        guard CPodBenchLinux_pipe(&serverToClient) == 0 else {
            let e = Errno(rawValue: errno)
            Glibc.close(clientToServer[0])
            Glibc.close(clientToServer[1])
            throw PodBenchError.system("pipe2", e, "cannot make a pipe")
        }
        return Listener(
            input: FileDescriptor(rawValue: clientToServer[0]), output: FileDescriptor(rawValue: serverToClient[1]),
            clientWrites: FileDescriptor(rawValue: clientToServer[1]),
            clientReads: FileDescriptor(rawValue: serverToClient[0]))
    }

    /// What a pod must allow for the client to take another process's descriptors.
    static let permission =
        "ptrace access to the server's process: the same user and no capability the server has that the client lacks, or CAP_SYS_PTRACE (securityContext.capabilities.add [SYS_PTRACE], podman --cap-add SYS_PTRACE); Yama's ptrace_scope 0, or 1 with CAP_SYS_PTRACE; a seccomp profile that allows pidfd_open and pidfd_getfd (podman's default does)"

    /// Takes the client's two ends out of the process `pid` (the server's, as the kernel named
    /// it), checks them, and announces that it holds them.
    /// - Throws: `.unavailable` when the process cannot be reached or its descriptors taken here
    ///   (with what it needs), `.protocolViolation` when what the server named is not its pipes.
    public static func connect(pid: Int32, descriptors: [Int32], timeoutNanoseconds: UInt64) throws -> FIFOChannel {
        guard pid > 0, descriptors.count == 2, descriptors.allSatisfy({ $0 >= 0 }), descriptors[0] != descriptors[1]
        else {
            throw PodBenchError(
                .protocolViolation,
                "the server named \(descriptors.count) descriptors (\(descriptors)); pidfd-pipe takes two distinct ones"
            )
        }
        let pidfd = CPodBenchLinux_pidfd_open(pid)
        guard pidfd >= 0 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError(
                e == .noSuchProcess ? .peerClosed : .unavailable,
                "cannot open the server's process \(pid) (pidfd_open): \(e)\(e == .noSuchProcess ? "" : "; pidfd-pipe needs Linux 5.6 or later and a seccomp profile that allows pidfd_open")",
                cause: .init(call: "pidfd_open", errno: e))
        }
        defer { Glibc.close(pidfd) }
        var taken: [FileDescriptor] = []
        do {
            for target in descriptors {
                let fd = CPodBenchLinux_pidfd_getfd(pidfd, target)
                guard fd >= 0 else {
                    let e = Errno(rawValue: errno)
                    switch e {
                    case .badFileDescriptor:
                        throw PodBenchError(
                            .protocolViolation, "the server's process \(pid) has no descriptor \(target)",
                            cause: .init(call: "pidfd_getfd", errno: e))
                    case .noSuchProcess:
                        throw PodBenchError(.peerClosed, "the server's process \(pid) is gone")
                    default:
                        throw PodBenchError(
                            .unavailable,
                            "cannot take descriptor \(target) of the server's process \(pid) (pidfd_getfd): \(e); it needs \(permission)",
                            cause: .init(call: "pidfd_getfd", errno: e))
                    }
                }
                taken.append(FileDescriptor(rawValue: fd))
            }
            return try channel(
                writes: taken[0], reads: taken[1], timeoutNanoseconds: timeoutNanoseconds,
                naming: { "descriptor \(descriptors[$0 ? 0 : 1]) of the server's process \(pid)" })
        } catch {
            for fd in taken { try? fd.close() }
            throw error
        }
    }

    /// The client's channel over the two ends it was given (taken, or passed over a socket):
    /// checks them (its writing end and its reading end of two distinct pipes) and announces that it
    /// holds them. The caller closes both when this throws.
    static func channel(
        writes: FileDescriptor, reads: FileDescriptor, timeoutNanoseconds: UInt64, naming: (Bool) -> String
    ) throws -> FIFOChannel {
        try check(writes, writes: true, naming: naming)
        try check(reads, writes: false, naming: naming)
        var first = stat()
        var second = stat()
        guard fstat(writes.rawValue, &first) == 0, fstat(reads.rawValue, &second) == 0,
            first.st_ino != second.st_ino || first.st_dev != second.st_dev
        else {
            throw PodBenchError(.protocolViolation, "the server gave two ends of one pipe")
        }
        var announce = Self.taken
        guard Glibc.write(writes.rawValue, &announce, 1) == 1 else {
            let e = Errno(rawValue: errno)
            throw PodBenchError.system("write", e, "cannot announce to the server that the pipes are taken")
        }
        return FIFOChannel(input: reads, output: writes, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Checks that `fd` is a pipe open for writing (`writes`) or reading, and non-blocking.
    static func check(_ fd: FileDescriptor, writes: Bool, naming: (Bool) -> String) throws {
        var status = stat()
        let flags = fcntl(fd.rawValue, F_GETFL)
        guard fstat(fd.rawValue, &status) == 0, flags >= 0, status.st_mode & S_IFMT == S_IFIFO,
            flags & O_ACCMODE == (writes ? O_WRONLY : O_RDONLY)
        else {
            throw PodBenchError(
                .protocolViolation,
                "\(naming(writes)) is not the \(writes ? "writing" : "reading") end of a pipe"
            )
        }
        if flags & O_NONBLOCK == 0, fcntl(fd.rawValue, F_SETFL, flags | O_NONBLOCK) != 0 {
            throw PodBenchError.system("fcntl", Errno(rawValue: errno), "cannot make the taken pipe non-blocking")
        }
    }
}

extension PidfdPipeTransport: Transport {
    public static let kind = TransportKind.pidfdPipe
    public static let needs =
        "a shared process namespace (shareProcessNamespace: true; podman pod create --share +pid), a Unix control socket, and ptrace access to the server's process"
    public static let optionGroups: TransportOptions.Groups = []
    public static let needsProcessNamespace = true

    /// Two pipes in the server's process; no place on disk.
    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try place.refuseHop(for: kind, because: "the relays do not take descriptors out of a process")
        return try listen()
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> FIFOChannel
    {
        guard case .process(let pid, let descriptors) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(pid: pid, descriptors: descriptors, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Takes a pipe out of this very process (the system calls and the seccomp profile); another
    /// container's process also needs the process namespace shared and ptrace access to it.
    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        if let scope = SystemFiles.read("/proc/sys/kernel/yama/ptrace_scope").flatMap({ Int($0.trimmingSpaces()) }),
            scope >= 2
        {
            return (
                false,
                "Yama's ptrace_scope is \(scope) (kernel.yama.ptrace_scope): \(scope == 2 ? "only a process with CAP_SYS_PTRACE" : "no process") may take another's descriptors"
            )
        }
        do {
            let listener = try listen()
            defer { listener.close() }
            guard case .process(let pid, let descriptors) = listener.endpoint else { return (false, "no endpoint") }
            let client = try connect(pid: pid, descriptors: descriptors, timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            server.close()
            return (
                true,
                "took a pipe out of this process with pidfd_getfd; across containers it needs \(needs)"
            )
        } catch {
            return (false, "\(error)")
        }
    }
}
