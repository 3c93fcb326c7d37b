import CPodBenchLinux
import Glibc
import PodBenchCore
import SystemPackage

/// One socket's wait in the event loops that never block on it (the http2 workload's client, the
/// HTTP/1.1 open loop): ppoll for `events` for at most `nanoseconds` (`fd` -1: the clock alone).
enum SocketWait {
    /// The events that came (POLLIN, POLLOUT, POLLHUP, POLLERR), or 0 when none did before the
    /// time was up or a signal came: the caller looks at its clock and waits again.
    /// - Throws: `.ioFailure` when ppoll fails or the descriptor is not open (POLLNVAL).
    @inline(__always)
    static func poll(_ fd: Int32, _ events: Int16, nanoseconds: Int64) throws -> Int32 {
        let ready = CPodBenchLinux_poll_one(fd, events, nanoseconds)
        if ready < 0 {
            let error = errno
            if error == EINTR { return 0 }
            throw PodBenchError(
                .ioFailure, "waiting for the server failed", cause: .init(call: "ppoll", errno: Errno(rawValue: error)))
        }
        if ready & Int32(POLLNVAL) != 0 {
            throw PodBenchError(.ioFailure, "the connection's socket is closed (POLLNVAL)")
        }
        return ready
    }
}
