// Helpers of the test targets (a library only tests depend on).
import Foundation
import Glibc
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// Two connected Unix stream sockets.
public func socketPair() throws -> (SocketChannel, SocketChannel) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else {
        throw PodBenchError.system("socketpair", Errno(rawValue: errno), "socketpair failed")
    }
    for fd in fds { try FileDescriptor(rawValue: fd).setIOTimeout(nanoseconds: 5_000_000_000) }
    return (
        SocketChannel(descriptor: FileDescriptor(rawValue: fds[0])),
        SocketChannel(descriptor: FileDescriptor(rawValue: fds[1]))
    )
}

/// Two connected Unix datagram sockets as datagram channels (each receive waits `timeout`).
public func datagramPair(timeoutNanoseconds: UInt64 = 5_000_000_000) throws -> (DatagramChannel, DatagramChannel) {
    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0, &fds) == 0 else {
        throw PodBenchError.system("socketpair", Errno(rawValue: errno), "socketpair failed")
    }
    for fd in fds { try FileDescriptor(rawValue: fd).setIOTimeout(nanoseconds: timeoutNanoseconds) }
    return (
        DatagramChannel(descriptor: FileDescriptor(rawValue: fds[0])),
        DatagramChannel(descriptor: FileDescriptor(rawValue: fds[1]))
    )
}

/// Runs `body` on its own thread (blocking socket work off the test's thread) and waits for it.
public final class Background: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: (any Error)?

    public init(_ body: @escaping @Sendable () throws -> Void) {
        let thread = Thread { [self] in
            do { try body() } catch { self.error = error }
            done.signal()
        }
        thread.start()
    }

    public func wait() throws {
        done.wait()
        if let error { throw error }
    }
}
