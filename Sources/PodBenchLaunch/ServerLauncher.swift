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
    /// The private folders of earlier runs that were killed (their owner is gone), removed on the way.
    public let removedLeftovers: [String]

    /// Makes private directories under `parent` and `sharedMemoryParent`; `start` then runs the
    /// server with them: whatever it leaves there, even when it is killed, goes with them (the
    /// server's control token too, made there readable by this user only).
    public init(parent: String, sharedMemoryParent: String) throws {
        removedLeftovers = Self.removeLeftovers(in: parent) + Self.removeLeftovers(in: sharedMemoryParent)
        directory = try Self.makePrivateDirectory(in: parent, option: "--shared-dir")
        do {
            sharedMemoryDirectory = try Self.makePrivateDirectory(in: sharedMemoryParent, option: "--shm-dir")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        control = .unixPath(directory + "/control.sock")
    }

    /// Starts the server with `arguments` (a `serve` command line whose directories and control
    /// endpoint are these). `wrapper`, when given, is a command the server is started through
    /// (`unshare … --`).
    public func start(executable: String, arguments: [String], wrapper: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: wrapper.first ?? executable)
        process.arguments = wrapper.dropFirst() + (wrapper.isEmpty ? [] : [executable]) + arguments
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

    /// Makes `parent/podbench-XXXXXX` (mkdtemp: mode 0700, a name nobody can guess) with an `owner`
    /// file naming this process (PID and start time), by which a later run knows it for a
    /// leftover once this process is gone.
    public static func makePrivateDirectory(in parent: String, option: String) throws -> String {
        var template = Array((parent + "/podbench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw PodBenchError(
                .ioFailure,
                "cannot create a working directory in \(parent): check that it exists and is writable (\(option))")
        }
        let directory = String(cString: made)
        let fd = open(directory + "/" + ownerFileName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            let line = Array((PodmanPod.owner(of: getpid()) ?? "\(getpid()):0").utf8)
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        return directory
    }

    static let ownerFileName = "owner"

    /// Removes the private folders in `parent` that runs killed outright (SIGKILL, a power cut)
    /// left: `podbench-XXXXXX` folders of this user, not symlinks, whose `owner` names a process
    /// that no longer runs (its PID gone, or reused by a process of another start time). A folder
    /// without a readable owner is left alone: nothing proves it is a leftover.
    /// - Returns: the folders removed.
    public static func removeLeftovers(in parent: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix("podbench-") && name.utf8.count == "podbench-XXXXXX".utf8.count {
            let path = parent + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() else { continue }
            let fd = open(path + "/" + ownerFileName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var bytes = [UInt8](repeating: 0, count: 64)
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard n > 0 else { continue }
            let owner = String(decoding: bytes[0..<n], as: UTF8.self)
            guard let pid = pid_t(owner.split(separator: ":").first ?? ""), pid > 0 else { continue }
            if PodmanPod.owner(of: pid) == owner { continue }  // its run is still going
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }
}
