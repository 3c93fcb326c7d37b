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

    /// Makes private directories under `parent` and `sharedMemoryParent` and starts the server
    /// with them: whatever it leaves there, even when it is killed, goes with them. `wrapper`, when
    /// given, is a command the server is started through (`unshare … --`).
    public init(
        executable: String, parent: String, sharedMemoryParent: String, peerTimeout: String,
        extraArguments: [String] = [], wrapper: [String] = []
    ) throws {
        directory = try Self.makePrivateDirectory(in: parent, option: "--shared-dir")
        do {
            sharedMemoryDirectory = try Self.makePrivateDirectory(in: sharedMemoryParent, option: "--shm-dir")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        control = .unixPath(directory + "/control.sock")
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? executable)
        process.arguments =
            wrapper.dropFirst() + (wrapper.isEmpty ? [] : [executable])
            + [
                "serve", "--control", control.description, "--shared-dir", directory, "--shm-dir",
                sharedMemoryDirectory, "--timeout", peerTimeout, "--exit-with-parent", "--quiet",
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
