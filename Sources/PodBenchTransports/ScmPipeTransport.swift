import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import SystemPackage

/// `scm-pipe`: `pidfd-pipe`'s two pipes, handed to the client the classic way instead: passed over
/// a Unix socket in the shared volume with SCM_RIGHTS. Once passed, the channel is the same pipes
/// as `pidfd-pipe`'s, so the two side by side show what taking a descriptor out of another process
/// changes (nothing per message; what the pod must allow: a shared process namespace and ptrace
/// access against a shared volume) and what it costs to set up (`probe` times both).
///
/// The server's socket takes one connection and is removed at once; the client checks what it was
/// given exactly as `pidfd-pipe` checks what it took (two pipes, its writing end and its reading
/// end, distinct) and closes anything else that arrived with them.
public enum ScmPipeTransport {
    /// The two pipes and the socket they are handed over on.
    public final class Listener: DataListener, @unchecked Sendable {
        let pipes: PidfdPipeTransport.Listener
        let socket: FileDescriptor
        public let path: String
        private var socketOpen = true

        public var endpoint: Endpoint { .socket(address: .unixPath(path)) }

        init(pipes: PidfdPipeTransport.Listener, socket: FileDescriptor, path: String) {
            self.pipes = pipes
            self.socket = socket
            self.path = path
        }

        /// Takes the first connection, sends it the client's two ends, then waits for the client's
        /// first byte on the pipe as `pidfd-pipe` does.
        public func accept(timeoutNanoseconds: UInt64) throws -> FIFOChannel {
            let deadline = MonotonicClock.now() + timeoutNanoseconds
            do {
                try pass(until: deadline)
                let now = MonotonicClock.now()
                return try pipes.accept(timeoutNanoseconds: deadline > now ? deadline - now : 1)
            } catch {
                close()
                throw error
            }
        }

        /// Takes the first connection on the socket (then removes it) and sends the client's ends.
        func pass(until deadline: UInt64) throws {
            guard socketOpen else {
                throw PodBenchError(.protocolViolation, "the pipes were already handed out")
            }
            try waitForConnection(on: socket, until: deadline, late: "the client did not connect to \(path) in time")
            let connection = try socket.accept()
            defer { try? connection.close() }
            closeSocket()
            let ends = [pipes.clientWrites.rawValue, pipes.clientReads.rawValue]
            guard CPodBenchLinux_send_descriptors(connection.rawValue, ends, 2, ScmPipeTransport.handed) == 0 else {
                throw PodBenchError.system(
                    "sendmsg", Errno(rawValue: errno), "cannot pass the pipes to the client (SCM_RIGHTS)")
            }
        }

        func closeSocket() {
            guard socketOpen else { return }
            socketOpen = false
            try? socket.close()
            unlink(path)
        }

        public func close() {
            closeSocket()
            pipes.close()
        }

        deinit { close() }
    }

    /// The byte that carries the descriptors.
    static let handed: UInt8 = 0x53

    /// Makes the pipes and a Unix socket `NAME.scm` in `directory` for the client to fetch them.
    public static func listen(directory: String, name: String) throws -> Listener {
        let path = directory + "/" + name + ".scm"
        guard path.utf8.count <= 107 else {
            throw PodBenchError(
                .invalidConfiguration,
                "\(path) is longer than a Unix socket's 107 bytes: give a shorter --shared-dir")
        }
        let pipes = try PidfdPipeTransport.listen()
        do {
            let socket = try FileDescriptor.streamSocket(family: AF_UNIX)
            do {
                _ = fcntl(socket.rawValue, F_SETFL, fcntl(socket.rawValue, F_GETFL) | O_NONBLOCK)
                try socket.bind(to: .unixPath(path))
                try socket.listen(backlog: 1)
            } catch {
                try? socket.close()
                throw error
            }
            return Listener(pipes: pipes, socket: socket, path: path)
        } catch {
            pipes.close()
            throw error
        }
    }

    /// Connects to the server's socket at `path`, receives the two ends, checks them and announces
    /// that it holds them.
    public static func connect(path: String, timeoutNanoseconds: UInt64) throws -> FIFOChannel {
        let socket = try connectSocket(path: path, timeoutNanoseconds: timeoutNanoseconds)
        defer { try? socket.close() }
        return try receive(on: socket, path: path, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// The client's connection to the server's socket.
    static func connectSocket(path: String, timeoutNanoseconds: UInt64) throws -> FileDescriptor {
        let socket = try FileDescriptor.streamSocket(family: AF_UNIX)
        do {
            try socket.setIOTimeout(nanoseconds: timeoutNanoseconds)
            try socket.connect(to: .unixPath(path))
        } catch let error as PodBenchError {
            try? socket.close()
            throw PodBenchError(
                error.code == .ioFailure ? .unavailable : error.code,
                "\(error.message): scm-pipe needs the server's socket in a volume both sides mount",
                cause: error.cause)
        }
        return socket
    }

    /// Receives the two ends on `socket`, checks them and announces that it holds them.
    static func receive(on socket: FileDescriptor, path: String, timeoutNanoseconds: UInt64) throws -> FIFOChannel {
        var fds: [Int32] = [-1, -1]
        var byte: UInt8 = 0
        let count = CPodBenchLinux_receive_descriptors(socket.rawValue, &fds, 2, &byte)
        guard count >= 0 else {
            let e = Errno(rawValue: errno)
            if e == .protocolError {
                throw PodBenchError(
                    .protocolViolation,
                    "the server's message on \(path) is not one byte with the two pipe ends (SCM_RIGHTS)")
            }
            throw PodBenchError.system("recvmsg", e, "cannot receive the pipes from the server")
        }
        let taken = fds.prefix(Int(count)).map { FileDescriptor(rawValue: $0) }
        do {
            guard count == 2, byte == handed else {
                throw PodBenchError(
                    count == 0 ? .peerClosed : .protocolViolation,
                    count == 0
                        ? "the server closed \(path) without passing the pipes"
                        : "the server passed \(count) descriptors with byte \(byte); scm-pipe takes two with \(handed)")
            }
            return try PidfdPipeTransport.channel(
                writes: taken[0], reads: taken[1], timeoutNanoseconds: timeoutNanoseconds,
                naming: { "the \($0 ? "first" : "second") descriptor passed on \(path)" })
        } catch {
            for fd in taken { try? fd.close() }
            throw error
        }
    }
}

extension ScmPipeTransport: Transport {
    public static let kind = TransportKind.scmPipe
    public static let needs =
        "a shared volume (directory) for the Unix socket the pipes are passed on; nothing of the process namespace"
    public static let optionGroups: TransportOptions.Groups = []

    public static func listen(_ options: TransportOptions, at place: ListenPlace) throws -> Listener {
        try place.refuseHop(for: kind, because: "the relays do not pass descriptors")
        return try listen(directory: place.sharedDirectory, name: place.name)
    }

    public static func connect(to endpoint: Endpoint, options: TransportOptions, timeoutNanoseconds: UInt64) throws
        -> FIFOChannel
    {
        guard case .socket(.unixPath(let path)) = endpoint else { throw endpoint.refused(for: kind) }
        return try connect(path: path, timeoutNanoseconds: timeoutNanoseconds)
    }

    /// Passes the pipes inside this process, through the shared directory, and times the hand-over
    /// against taking them with pidfd_getfd (each the median of 200, set-up and checks included).
    public static func probe(_ places: ProbePlaces) -> (available: Bool, reason: String) {
        do {
            let passed = try DescriptorPassing.time(.scmRights, in: places.sharedDirectory, rounds: 200)
            let taken = try? DescriptorPassing.time(.pidfdGetfd, in: places.sharedDirectory, rounds: 200)
            return (
                true,
                "passed a pipe pair over a Unix socket in \(places.sharedDirectory) in \(micro(passed)) (median)"
                    + (taken.map { "; pidfd-pipe took one in \(micro($0))" } ?? "")
            )
        } catch {
            return (false, "\(error)")
        }
    }

    static func micro(_ nanoseconds: Double) -> String { String(format: "%.1f µs", nanoseconds / 1000) }
}

/// How long it takes to hand a client its two pipe ends, one way or the other: for `probe`, and
/// the figure docs/process-namespace.md compares.
public enum DescriptorPassing {
    public enum Method: Sendable { case scmRights, pidfdGetfd }

    /// The median over `rounds` of one whole hand-over in this process: the server's pipes (and its
    /// socket), the client's connection and checks, its first byte read, everything closed.
    public static func time(_ method: Method, in directory: String, rounds: Int) throws -> Double {
        var samples: [UInt64] = []
        samples.reserveCapacity(rounds)
        let name = "podbench-probe-\(getpid())"
        for _ in 0..<max(rounds, 1) {
            let start = MonotonicClock.now()
            switch method {
            case .scmRights:
                // The steps of `connect` and `accept` in the order two processes take them.
                let listener = try ScmPipeTransport.listen(directory: directory, name: name)
                defer { listener.close() }
                let socket = try ScmPipeTransport.connectSocket(path: listener.path, timeoutNanoseconds: 2_000_000_000)
                defer { try? socket.close() }
                try listener.pass(until: MonotonicClock.now() + 2_000_000_000)
                let client = try ScmPipeTransport.receive(
                    on: socket, path: listener.path, timeoutNanoseconds: 2_000_000_000)
                let channel = try listener.pipes.accept(timeoutNanoseconds: 2_000_000_000)
                client.close()
                channel.close()
            case .pidfdGetfd:
                let listener = try PidfdPipeTransport.listen()
                defer { listener.close() }
                guard case .process(let pid, let descriptors) = listener.endpoint else { continue }
                let client = try PidfdPipeTransport.connect(
                    pid: pid, descriptors: descriptors, timeoutNanoseconds: 2_000_000_000)
                let channel = try listener.accept(timeoutNanoseconds: 2_000_000_000)
                client.close()
                channel.close()
            }
            samples.append(MonotonicClock.now() &- start)
        }
        samples.sort()
        return Double(samples[samples.count / 2])
    }
}
