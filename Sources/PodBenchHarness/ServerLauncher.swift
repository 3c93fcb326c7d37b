import Foundation
import Glibc
import PodBenchCore

/// Starts `podbench serve` as a child process for `podbench run`: a separate process always, so
/// that the two sides pay what two containers pay. The child dies with its parent.
public final class ServerLauncher: @unchecked Sendable {
    public let process = Process()
    /// The private directory holding the control socket and the `uds` and `fifo` endpoints.
    public let directory: String
    /// The private directory in the memory-backed directory, for `shm` ring files.
    public let sharedMemoryDirectory: String
    public let control: SocketAddress

    /// Makes private directories under `parent` and `sharedMemoryParent`; `start` then runs the
    /// server with them: whatever it leaves there, even when it is killed, goes with them. The
    /// server makes its control token in the private directory (`tokenFile`), readable by this user only.
    public init(parent: String, sharedMemoryParent: String) throws {
        directory = try Self.makePrivateDirectory(in: parent, option: "--shared-dir")
        do {
            sharedMemoryDirectory = try Self.makePrivateDirectory(in: sharedMemoryParent, option: "--shm-dir")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        control = .unixPath(directory + "/control.sock")
    }

    /// The control token the server makes at start, which the client presents.
    public var tokenFile: String { directory + "/" + Self.tokenFileName }

    /// The token file's name in a server's shared directory (`serve --token-file`'s default).
    public static let tokenFileName = "podbench.token"

    /// Starts the server. `wrapper`, when given, is a command the server is started through
    /// (`unshare … --`); `extraArguments` go to `serve` (a hop's `--via-target`).
    public func start(
        executable: String, peerTimeout: String, extraArguments: [String] = [], wrapper: [String] = []
    ) throws {
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? executable)
        process.arguments =
            wrapper.dropFirst() + (wrapper.isEmpty ? [] : [executable])
            + [
                "serve", "--control", control.description, "--shared-dir", directory, "--shm-dir",
                sharedMemoryDirectory, "--token-file", tokenFile, "--timeout", peerTimeout, "--exit-with-parent",
                "--quiet",
            ] + extraArguments
        do {
            try process.run()
        } catch {
            removeDirectory()
            throw PodBenchError(
                .ioFailure,
                "cannot start the server process \((wrapper + [executable]).joined(separator: " ")): \(error.localizedDescription)"
            )
        }
    }

    /// Whether the child still runs.
    public var isRunning: Bool { process.isRunning }

    /// Whether the child was started.
    public var wasStarted: Bool { process.processIdentifier != 0 }

    /// Waits up to `timeoutNanoseconds` for the child to exit, then kills it; removes the directory.
    public func stop(timeoutNanoseconds: UInt64 = 2_000_000_000) {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while process.isRunning && MonotonicClock.now() < deadline { usleep(10_000) }
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        removeDirectory()
    }

    /// Kills the child at once (interrupts), waits briefly until it is gone, removes the directory.
    public func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            let deadline = MonotonicClock.now() + 1_000_000_000
            while process.isRunning && MonotonicClock.now() < deadline { usleep(1000) }
        }
        removeDirectory()
    }

    private func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: sharedMemoryDirectory)
    }

    public static func makePrivateDirectory(in parent: String, option: String) throws -> String {
        var template = Array((parent + "/podbench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PodBenchError(
                .ioFailure,
                "cannot create a working directory in \(parent): check that it exists and is writable (\(option))")
        }
        return String(cString: made)
    }
}
