import Foundation
import Glibc
import PodBenchCore
import PodBenchRing

/// How `probe` tries the shared-memory, file and FIFO transports (their `Transport.probe`).
enum TransportProbe {
    /// Tries shm for real: room for a ring file, a listener, a connection, an accept.
    static func probeSharedMemory(sharedMemoryDirectory: String) -> (available: Bool, reason: String) {
        var fs = statvfs()
        guard statvfs(sharedMemoryDirectory, &fs) == 0 else {
            return (false, "\(sharedMemoryDirectory) is not there: mount a memory-backed volume or pass --shm-dir")
        }
        let size = UInt64(fs.f_blocks) * UInt64(fs.f_frsize)
        let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
        let room = "\(sharedMemoryDirectory): \(size >> 20) MiB, \(free >> 20) MiB free"
        let ring = TransportOptions.defaultRingBytes
        let needed = UInt64(RingLayout.fileSize(capacity: ring))
        guard free >= needed else {
            return (
                false,
                "\(room): a default ring file needs \(needed >> 10) KiB; give the pod a larger /dev/shm or pick a smaller --shm-ring"
            )
        }
        do {
            let listener = try SharedMemoryTransport.listen(
                directory: sharedMemoryDirectory, name: "podbench-probe-\(getpid())",
                capacity: RingLayout.minimumCapacity,
                strategy: .futex)
            defer { listener.close() }
            let client = try SharedMemoryTransport.connect(
                path: listener.path, strategy: .futex, timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            server.close()
            return (true, "mapped a ring file in \(room) (default rings need \(needed >> 10) KiB per connection)")
        } catch {
            return (false, "\(room): \(error)")
        }
    }

    static func probeFile(sharedDirectory: String) -> (available: Bool, reason: String) {
        let filesystem = FilesystemType.name(of: sharedDirectory) ?? "unknown filesystem"
        do {
            let settings = try TransportOptions().fileSettings()
            let listener = try FileTransport.listen(
                directory: sharedDirectory, name: "podbench-probe-\(getpid())", settings: settings,
                timeoutNanoseconds: 2_000_000_000)
            defer { listener.close() }
            let client = try FileTransport.connect(
                path: listener.path, settings: settings, timeoutNanoseconds: 2_000_000_000)
            defer { client.close() }
            let server = try listener.accept(timeoutNanoseconds: 2_000_000_000)
            server.close()
            return (true, "appended and followed a record log in \(sharedDirectory) (\(filesystem), inotify)")
        } catch {
            return (false, "\(sharedDirectory) (\(filesystem)): \(error)")
        }
    }

    static func probeFIFO(sharedDirectory: String) -> (available: Bool, reason: String) {
        do {
            let listener = try FIFOTransport.listen(directory: sharedDirectory, name: "podbench-probe-\(getpid())")
            defer { listener.close() }
            // The client's connect returns once the server has taken the pair: accept beside it,
            // and wait for that thread before the listener goes.
            let done = DispatchSemaphore(value: 0)
            Thread {
                (try? listener.accept(timeoutNanoseconds: 2_000_000_000))?.close()
                done.signal()
            }.start()
            defer { done.wait() }
            let client = try FIFOTransport.connect(base: listener.base, timeoutNanoseconds: 2_000_000_000)
            client.close()
            return (true, "opened two FIFOs in \(sharedDirectory) (needs \(FIFOTransport.needs))")
        } catch {
            return (false, "\(error)")
        }
    }
}
