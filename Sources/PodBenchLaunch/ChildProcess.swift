import CPodBenchLinux
import Foundation
import Glibc
import PodBenchCore
import Subprocess
import Synchronization
import SystemPackage

/// The children the launchers run to their end (podman, the client's container, ldd, the sides
/// of an A/B comparison), through swift-subprocess: each in a process group of its own (a
/// terminal's Ctrl-C reaches only podbench, which passes it on once), every signal at its default
/// action and none blocked (podbench ignores SIGINT and SIGTERM while it watches them: see
/// `InterruptWatch`), standard input from /dev/null. The wait is on a pidfd, not a SIGCHLD
/// handler, so the processes Foundation's `Process` starts beside them (the server, the relay,
/// the calibration peer: docs/design-notes.md says why those stay) keep their exit statuses.
public enum ChildProcess {
    /// Runs `executable` to its end, its output into the descriptors given (podbench's own when
    /// nil); `forwarder`, when given, passes signals to it while it runs. `ownProcessGroup: false`
    /// leaves it in podbench's, where a terminal's Ctrl-C reaches it directly.
    /// - Returns: its exit status, or 128 + the signal that ended it.
    public static func run(
        executable: String, arguments: [String], environment: [String: String], standardOutput: Int32? = nil,
        standardError: Int32? = nil, forwarder: SignalForwarder? = nil, ownProcessGroup: Bool = true
    ) async throws -> Int32 {
        defer { forwarder?.detach() }
        let result: ExecutionResult<Void, FileDescriptorOutput, FileDescriptorOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments),
                environment: Self.environment(environment), platformOptions: Self.options(ownProcessGroup),
                input: .none,
                output: .fileDescriptor(
                    FileDescriptor(rawValue: standardOutput ?? STDOUT_FILENO), closeAfterSpawningProcess: false),
                error: .fileDescriptor(
                    FileDescriptor(rawValue: standardError ?? STDERR_FILENO), closeAfterSpawningProcess: false)
            ) { execution in
                // A pidfd of the forwarder's own (the execution's closes when `run` returns): a
                // signal sent after the child has ended goes nowhere, whoever has its PID by then.
                forwarder?.attach(
                    pidfd: fcntl(execution.processIdentifier.processDescriptor, F_DUPFD_CLOEXEC, 0),
                    pid: execution.processIdentifier.value)
            }
        } catch {
            throw PodBenchError(.ioFailure, "cannot start \(executable): \(error)")
        }
        return status(result.terminationStatus)
    }

    /// Runs `executable` to its end with both its streams captured whole, into unlinked temporary
    /// files rather than pipes: a pipe's reader waits for every writer, and a child may leave one
    /// behind that outlives it (the conmon of `podman run --detach`).
    public static func runCapturing(
        executable: String, arguments: [String], environment: [String: String], forwarder: SignalForwarder? = nil,
        ownProcessGroup: Bool = true
    ) async throws -> (status: Int32, standardOutput: String, standardError: String) {
        let out = try temporaryFile()
        defer { close(out) }
        let err = try temporaryFile()
        defer { close(err) }
        let status = try await run(
            executable: executable, arguments: arguments, environment: environment, standardOutput: out,
            standardError: err, forwarder: forwarder, ownProcessGroup: ownProcessGroup)
        return (status, contents(of: out), contents(of: err))
    }

    /// A new file in /tmp with no name (unlinked at once), close-on-exec.
    static func temporaryFile() throws -> Int32 {
        var template = Array("/tmp/podbench-output-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw PodBenchError(
                .ioFailure,
                "cannot make a temporary file in /tmp to read a child's output: \(String(cString: strerror(errno)))")
        }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// Everything in the file `fd`, from its start.
    static func contents(of fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count <= 0 { break }
            bytes += buffer[0..<count]
            offset += off_t(count)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Runs `executable` to its end and returns what it wrote on standard output (at most
    /// `limit` bytes), whatever its exit status; its standard error is discarded.
    public static func capture(
        executable: String, arguments: [String], environment: [String: String], limit: Int = 1 << 20,
        doing: String
    ) async throws -> (status: Int32, output: String) {
        do {
            let result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments),
                environment: Self.environment(environment), platformOptions: Self.options(true), input: .none,
                output: .string(limit: limit), error: .discarded)
            return (status(result.terminationStatus), result.standardOutput)
        } catch {
            throw PodBenchError(.unavailable, "cannot run \(executable) \(doing): \(error)")
        }
    }

    /// A process group of its own, or podbench's; everything else at swift-subprocess's defaults
    /// (every signal's action reset, none blocked).
    static func options(_ ownProcessGroup: Bool) -> PlatformOptions {
        var options = PlatformOptions()
        if ownProcessGroup { options.processGroupID = 0 }
        return options
    }

    static func environment(_ values: [String: String]) -> Subprocess.Environment {
        .custom(Dictionary(uniqueKeysWithValues: values.map { (Environment.Key(stringLiteral: $0.key), $0.value) }))
    }

    /// An exit status as a shell shows it: the code, or 128 + the signal.
    static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case .exited(let code): code
        case .signaled(let number): 128 + number
        }
    }
}

/// Passes signals to the child a `ChildProcess.run` is running, from any thread (an
/// `InterruptWatch` handler). A signal that comes while no child runs is kept and delivered the
/// moment one starts (between the last check before starting it and its start, a Ctrl-C is
/// otherwise lost); one that comes after the child has ended goes nowhere.
public final class SignalForwarder: Sendable {
    private struct State {
        var pidfd: Int32 = -1
        var pid: pid_t = 0
        var pending: Int32?
    }

    private let state = Mutex(State())

    public init() {}

    func attach(pidfd: Int32, pid: pid_t) {
        state.withLock { state in
            state.pidfd = pidfd
            state.pid = pid
            if let pending = state.pending {
                state.pending = nil
                Self.send(pending, to: state)
            }
        }
    }

    func detach() {
        state.withLock { state in
            if state.pidfd >= 0 { close(state.pidfd) }
            state = State()
        }
    }

    /// Whether a child is running with this forwarder.
    public var isAttached: Bool { state.withLock { $0.pid != 0 } }

    /// Sends `number` to the running child; whether one was running (if not, it goes to the next
    /// child this forwarder runs).
    @discardableResult
    public func signal(_ number: Int32) -> Bool {
        state.withLock { state in
            guard state.pid != 0 else {
                state.pending = number
                return false
            }
            Self.send(number, to: state)
            return true
        }
    }

    private static func send(_ number: Int32, to state: State) {
        // Without a pidfd of its own (the dup refused), the PID.
        if state.pidfd >= 0 {
            _ = CPodBenchLinux_pidfd_send_signal(state.pidfd, number)
        } else {
            kill(state.pid, number)
        }
    }
}
