import Foundation
import PodBenchCore
import PodBenchRing
import PodBenchTransports

/// Connections made in a fixed directory: where a side that cannot be told an exact endpoint (the
/// client of a relay, a relay forwarding to a server) finds the connection waiting for it. The
/// maker names them so the newest sorts last; a ring file and a FIFO pair keep their names only
/// until they are opened, a file connection counts as fresh while nobody has written it
/// (`FileTransport.freshConnection`).
public enum FreshConnection {
    /// Opens the FIFO pair waiting in `directory` (`fifo:DIR`).
    public static func fifo(in directory: String, timeoutNanoseconds: UInt64) throws -> FIFOChannel {
        try first(in: directory, kind: "fifo", timeoutNanoseconds: timeoutNanoseconds) {
            let pairs = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
                $0.hasSuffix(".s2c")
            }
            return pairs.sorted(by: >).map { directory + "/" + $0.dropLast(4) }
        } connect: {
            try FIFOTransport.connect(base: $0, timeoutNanoseconds: timeoutNanoseconds)
        }
    }

    /// Attaches to the ring file waiting in `directory` (`shm:DIR`).
    /// - Parameter strategy: how this side waits; nil adopts the ring's maker's.
    public static func ring(in directory: String, strategy: RingWaitStrategy?, timeoutNanoseconds: UInt64) throws
        -> SharedMemoryChannel
    {
        try first(in: directory, kind: "shm", timeoutNanoseconds: timeoutNanoseconds) {
            let rings = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
                $0.hasSuffix(".ring") && !$0.hasPrefix(".")
            }
            return rings.sorted(by: >).map { directory + "/" + $0 }
        } connect: {
            try SharedMemoryTransport.connect(path: $0, strategy: strategy, timeoutNanoseconds: timeoutNanoseconds)
        }
    }

    /// Opens the fresh file connection waiting in `directory` (`file:DIR`).
    public static func file(in directory: String, settings: FileTransport.Settings, timeoutNanoseconds: UInt64)
        throws -> FileChannel
    {
        try first(in: directory, kind: "file", timeoutNanoseconds: timeoutNanoseconds) {
            FileTransport.freshConnection(in: directory).map { [$0] } ?? []
        } connect: {
            try FileTransport.connect(path: $0, settings: settings, timeoutNanoseconds: timeoutNanoseconds)
        }
    }

    /// Connects to a connection waiting in `directory`, newest first, waiting while its maker is
    /// still making it (after the previous case); a candidate taken or removed meanwhile is skipped
    /// and the directory looked at again. A refusal that no retry can cure (a ring whose wait
    /// strategy disagrees with ours) ends the wait at once.
    static func first<Channel>(
        in directory: String, kind: String, timeoutNanoseconds: UInt64, candidates: () -> [String],
        connect: (String) throws -> Channel
    ) throws -> Channel {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        while true {
            for candidate in candidates() {
                do {
                    return try connect(candidate)
                } catch let error as PodBenchError
                    where error.code != .invalidConfiguration && MonotonicClock.now() < deadline
                {
                    _ = error
                }
            }
            guard MonotonicClock.now() < deadline else {
                throw PodBenchError(
                    .timeout,
                    "no \(kind) connection appeared in \(directory) in time: is the other side (a `podbench relay`, or the server) making its connections there?"
                )
            }
            usleep(200)
        }
    }
}
